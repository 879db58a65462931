//! The one canonical binary encoding of every Belfry wire type.
//!
//! An encoded value is `[FORMAT_VERSION, T::TAG, postcard(T)...]`:
//! - the version byte lets a later format be told apart from this one;
//! - the type tag makes a value of one type fail to decode as another,
//!   so a relay cannot present a room payload as a to-device payload;
//! - postcard is compact and deterministic for the types here (no maps).
//!
//! Decoding checks the size limit of the type before parsing, refuses
//! trailing bytes and any encoding but the canonical one, and returns a typed [`DecodeError`]; it never panics.

use serde::{Serialize, de::DeserializeOwned};

/// The encoding version written by this build.
pub const FORMAT_VERSION: u8 = 1;

/// A type that crosses a trust boundary and has a canonical encoding.
pub trait Wire: Serialize + DeserializeOwned {
    /// Human-readable type name, used in errors and signature labels.
    const NAME: &'static str;
    /// One byte that identifies the type in its encoding. Unique per type.
    const TAG: u8;
    /// Largest encoding accepted, header included.
    const MAX_LEN: usize;

    /// Encodes `self` canonically.
    fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a value, refusing anything but the canonical form of this type.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(bytes)
    }
}

/// Why bytes could not be decoded into a wire type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the two-byte header.
    #[error("{ty}: input is {len} bytes, shorter than the header")]
    Truncated {
        /// The type being decoded.
        ty: &'static str,
        /// The input length.
        len: usize,
    },
    /// Input larger than the type's limit; nothing was parsed.
    #[error("{ty}: input is {len} bytes, the limit is {max}")]
    TooLarge {
        /// The type being decoded.
        ty: &'static str,
        /// The input length.
        len: usize,
        /// The limit for this type.
        max: usize,
    },
    /// Written by a format this build does not know.
    #[error("{ty}: format version {found} is not supported (this build reads {FORMAT_VERSION})")]
    UnsupportedVersion {
        /// The type being decoded.
        ty: &'static str,
        /// The version byte found.
        found: u8,
    },
    /// The bytes hold a different type.
    #[error("expected {expected} (tag {expected_tag}), found tag {found}")]
    WrongType {
        /// The type being decoded.
        expected: &'static str,
        /// Its tag.
        expected_tag: u8,
        /// The tag found.
        found: u8,
    },
    /// The body does not parse as this type, or a field is invalid.
    #[error("{ty}: malformed: {reason}")]
    Malformed {
        /// The type being decoded.
        ty: &'static str,
        /// What the parser reported.
        reason: String,
    },
    /// A field holds an identifier or name that fails its own check (a
    /// user id with an upper-case letter, a device name with a bidi
    /// override): refused as it is decoded, never passed on.
    #[error("{ty}: invalid field: {error}")]
    InvalidId {
        /// The type being decoded.
        ty: &'static str,
        /// Which identifier and why.
        #[source]
        error: crate::ids::IdError,
    },
    /// The bytes decode, but are not the canonical encoding of the value
    /// (for example an over-long integer).
    #[error("{ty}: not in canonical form")]
    NotCanonical {
        /// The type being decoded.
        ty: &'static str,
    },
    /// The value ended before the input did.
    #[error("{ty}: {count} unexpected trailing bytes")]
    TrailingBytes {
        /// The type being decoded.
        ty: &'static str,
        /// How many bytes were left over.
        count: usize,
    },
}

/// Encodes a wire value canonically. Infallible for Belfry types: postcard
/// only fails on types it cannot express (maps with unknown length, etc.),
/// which none of ours are; a failure there yields an empty body, which every
/// decoder refuses, rather than a panic.
pub fn encode<T: Wire>(value: &T) -> Vec<u8> {
    postcard::to_extend(value, vec![FORMAT_VERSION, T::TAG]).unwrap_or_else(|_| vec![FORMAT_VERSION, T::TAG])
}

/// Decodes a wire value; see the module documentation for the checks.
pub fn decode<T: Wire>(bytes: &[u8]) -> Result<T, DecodeError> {
    let ty = T::NAME;
    if bytes.len() > T::MAX_LEN {
        return Err(DecodeError::TooLarge { ty, len: bytes.len(), max: T::MAX_LEN });
    }
    let [version, tag, body @ ..] = bytes else {
        return Err(DecodeError::Truncated { ty, len: bytes.len() });
    };
    if *version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion { ty, found: *version });
    }
    if *tag != T::TAG {
        return Err(DecodeError::WrongType { expected: ty, expected_tag: T::TAG, found: *tag });
    }
    FIELD_ERROR.with(|f| f.borrow_mut().take());
    let (value, rest) = postcard::take_from_bytes::<T>(body).map_err(|e| {
        // postcard drops custom serde errors; a field validator that
        // failed left its error here.
        match FIELD_ERROR.with(|f| f.borrow_mut().take()) {
            Some(error) => DecodeError::InvalidId { ty, error },
            None => DecodeError::Malformed { ty, reason: e.to_string() },
        }
    })?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes { ty, count: rest.len() });
    }
    // postcard also accepts over-long varints; only the one canonical
    // encoding of a value is accepted, so every value has exactly one form.
    if encode(&value) != bytes {
        return Err(DecodeError::NotCanonical { ty });
    }
    Ok(value)
}

thread_local! {
    static FIELD_ERROR: std::cell::RefCell<Option<crate::ids::IdError>> = const { std::cell::RefCell::new(None) };
}

/// Records why a field failed validation during decoding, so the
/// [`DecodeError`] can say it (postcard itself keeps only "custom error").
pub(crate) fn note_field_error(error: crate::ids::IdError) {
    FIELD_ERROR.with(|f| *f.borrow_mut() = Some(error));
}

/// Serde helpers for fixed-size byte arrays: a byte string in binary
/// formats (postcard, the wire), unpadded base64 text in human-readable
/// formats (JSON pickles, configuration), so keys can also be map keys there.
pub(crate) mod fixed_bytes {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;
    use std::fmt;

    pub(crate) fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&B64.encode(bytes))
        } else {
            serializer.serialize_bytes(bytes)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(deserializer: D) -> Result<[u8; N], D::Error> {
        struct Fixed<const N: usize>;
        impl<'de, const N: usize> Visitor<'de> for Fixed<N> {
            type Value = [u8; N];
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{N} bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let bytes = B64.decode(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))?;
                self.visit_bytes(&bytes)
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                <[u8; N]>::try_from(v).map_err(|_| E::invalid_length(v.len(), &self))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = [0u8; N];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        if deserializer.is_human_readable() {
            deserializer.deserialize_str(Fixed::<N>)
        } else {
            deserializer.deserialize_bytes(Fixed::<N>)
        }
    }
}

/// Serde helper for `Vec<u8>` fields, written as one byte string.
pub(crate) mod byte_vec {
    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;
    use std::fmt;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Self::Value, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_bytes(Bytes)
    }
}
