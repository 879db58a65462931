//! Identifiers. Each is validated when it is built and when it is decoded,
//! so a malformed id never reaches the code that routes or displays it.

use crate::text::is_invisible;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Empty or longer than the limit.
    #[error("{kind} must be 1 to {max} characters, got {len}")]
    Length {
        /// Which id.
        kind: &'static str,
        /// Its limit.
        max: usize,
        /// The length found.
        len: usize,
    },
    /// A character outside the allowed set.
    #[error("{kind} may only contain {allowed}; found {found:?}")]
    Character {
        /// Which id.
        kind: &'static str,
        /// The allowed characters, for the message.
        allowed: &'static str,
        /// The first offending character.
        found: char,
    },
    /// Not the expected number of hex digits.
    #[error("{kind} must be {len} hexadecimal digits")]
    Hex {
        /// Which id.
        kind: &'static str,
        /// Expected number of digits.
        len: usize,
    },
}

fn check(
    kind: &'static str,
    s: &str,
    max: usize,
    allowed: &'static str,
    ok: impl Fn(char) -> bool,
) -> Result<(), IdError> {
    let len = s.chars().count();
    if len == 0 || len > max {
        return Err(IdError::Length { kind, max, len });
    }
    if let Some(found) = s.chars().find(|c| !ok(*c)) {
        return Err(IdError::Character { kind, allowed, found });
    }
    Ok(())
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $allowed:literal, $ok:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Longest accepted id, in characters.
            pub const MAX_LEN: usize = $max;

            /// Validates and wraps an id.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($kind, &s, $max, $allowed, $ok)?;
                Ok(Self(s))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s).inspect_err(|e| crate::codec::note_field_error(e.clone()))
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

string_id!(
    /// A user within the organisation, such as `alice.martin`.
    UserId,
    "user id",
    64,
    "lowercase letters, digits, '.', '_' and '-'",
    |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
);

string_id!(
    /// One device of a user, such as `KQJXWBNRTA`.
    DeviceId,
    "device id",
    32,
    "ASCII letters, digits, '_' and '-'",
    |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
);

string_id!(
    /// A name people read: a user's display name, a device name, a room
    /// name, a classification label, a reason. Any text up to 128
    /// characters without controls, bidi marks, overrides or isolates,
    /// zero-width or other invisible characters ([`is_invisible`]): what a
    /// reader sees is what the name is.
    DisplayName,
    "display name",
    128,
    "visible characters (no control, bidi, zero-width or other invisible characters)",
    |c: char| !is_invisible(c)
);

macro_rules! bytes_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(#[serde(with = "crate::codec::fixed_bytes")] pub [u8; 16]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// Parses the 32-hex-digit form printed by `Display`.
            pub fn from_hex(s: &str) -> Result<Self, IdError> {
                let err = IdError::Hex { kind: $kind, len: 32 };
                if s.len() != 32 || !s.is_ascii() {
                    return Err(err);
                }
                let mut out = [0u8; 16];
                for (i, slot) in out.iter_mut().enumerate() {
                    let pair = s.get(2 * i..2 * i + 2).ok_or_else(|| err.clone())?;
                    *slot = u8::from_str_radix(pair, 16).map_err(|_| err.clone())?;
                }
                Ok(Self(out))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for b in self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

bytes_id!(
    /// A room, random 128 bits chosen by its creator.
    RoomId,
    "room id"
);
bytes_id!(
    /// A message, chosen by the sending client; also the relay's
    /// idempotency key, so a re-sent publish gets the original ack.
    MessageId,
    "message id"
);
bytes_id!(
    /// An invitation issued by IT.
    InvitationId,
    "invitation id"
);
bytes_id!(
    /// An encrypted attachment blob stored on the relay.
    BlobId,
    "blob id"
);
bytes_id!(
    /// A person-to-person verification between two devices, random 128
    /// bits chosen by the device that asks.
    FlowId,
    "verification flow id"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_validated() {
        assert!(UserId::new("alice.martin").is_ok());
        assert!(matches!(UserId::new(""), Err(IdError::Length { .. })));
        assert!(matches!(UserId::new("Alice"), Err(IdError::Character { found: 'A', .. })));
        assert!(matches!(UserId::new("a".repeat(65)), Err(IdError::Length { len: 65, .. })));
        assert!(matches!(DeviceId::new("AB/CD"), Err(IdError::Character { found: '/', .. })));
    }

    #[test]
    fn display_names_refuse_bidi_and_invisible_characters() {
        assert!(DisplayName::new("Alice's laptop").is_ok());
        assert!(DisplayName::new("Ministère des Affaires étrangères").is_ok());
        for (name, found) in [
            ("Alice\u{202E}potpal", '\u{202E}'),
            ("\u{2067}Room", '\u{2067}'),
            ("Bo\u{200D}b", '\u{200D}'),
            ("tab\there", '\t'),
            ("\u{FEFF}Carol", '\u{FEFF}'),
        ] {
            assert_eq!(
                DisplayName::new(name),
                Err(IdError::Character {
                    kind: "display name",
                    allowed: "visible characters (no control, bidi, zero-width or other invisible characters)",
                    found
                }),
                "{name:?}"
            );
        }
    }

    #[test]
    fn hex_ids_round_trip() {
        let id = RoomId([0xab; 16]);
        assert_eq!(RoomId::from_hex(&id.to_string()), Ok(id));
        assert!(RoomId::from_hex("zz").is_err());
        assert!(RoomId::from_hex(&"é".repeat(16)).is_err());
    }
}
