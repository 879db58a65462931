//! Public keys, signatures, hashes and secret byte holders as they appear on
//! the wire. Verification lives here so the relay, which depends on this
//! crate only, checks signatures exactly as clients do.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// A signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The public key is not a valid, strong Ed25519 point.
    #[error("the public key is not a valid Ed25519 key")]
    InvalidKey,
    /// The signature does not match the key and message.
    #[error("the signature does not verify")]
    Invalid,
}

macro_rules! key_type {
    ($(#[$doc:meta])* $name:ident, $len:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(#[serde(with = "crate::codec::fixed_bytes")] pub [u8; $len]);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Unpadded standard base64, the form people copy around.
            pub fn to_base64(&self) -> String {
                B64.encode(self.0)
            }

            /// Parses the unpadded (or padded) base64 form.
            pub fn from_base64(s: &str) -> Option<Self> {
                let bytes = B64.decode(s.trim().trim_end_matches('=')).ok()?;
                Some(Self(<[u8; $len]>::try_from(bytes.as_slice()).ok()?))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_base64())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_base64())
            }
        }
    };
}

key_type!(
    /// An Ed25519 public key: the org root, an enrollment key, a device key.
    Ed25519Public,
    32
);
key_type!(
    /// A Curve25519 public key: a device identity key or a one-time key.
    Curve25519Public,
    32
);
key_type!(
    /// An Ed25519 signature.
    Signature,
    64
);
key_type!(
    /// A SHA-256 digest.
    Hash256,
    32
);

impl Ed25519Public {
    /// Verifies `signature` over `message` with strict checks: weak
    /// (small-order) keys and non-canonical signatures are refused.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let key = ed25519_dalek::VerifyingKey::from_bytes(&self.0).map_err(|_| SignatureError::InvalidKey)?;
        if key.is_weak() {
            return Err(SignatureError::InvalidKey);
        }
        let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
        key.verify_strict(message, &sig).map_err(|_| SignatureError::Invalid)
    }

    /// A short fingerprint for people to compare: SHA-256 of the key,
    /// first 16 bytes, as groups of four hex digits.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }
}

/// SHA-256 of `data`, first 16 bytes, in groups of four hex digits.
pub fn fingerprint(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let hex: Vec<String> = digest
        .iter()
        .take(16)
        .collect::<Vec<_>>()
        .chunks(2)
        .map(|pair| pair.iter().map(|b| format!("{b:02X}")).collect())
        .collect();
    hex.join(" ")
}

impl Hash256 {
    /// SHA-256 over a domain label and data, so hashes of different kinds
    /// of object can never be confused.
    pub fn of(label: &str, data: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"belfry-hash-v1\0");
        h.update(label.as_bytes());
        h.update([0]);
        h.update(data);
        Self(h.finalize().into())
    }
}

/// 32 secret bytes: a private key or a symmetric key in transit (inside an
/// invitation or an encrypted payload). Wiped on drop; never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SecretKey32(#[serde(with = "crate::codec::fixed_bytes")] [u8; 32]);

impl SecretKey32 {
    /// Wraps secret bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The secret bytes. Keep the borrow short.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretKey32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey32(<redacted>)")
    }
}

/// Secret bytes of variable length (a Megolm session key, an exported room
/// key). Wiped on drop; never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(#[serde(with = "crate::codec::byte_vec")] Vec<u8>);

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The secret bytes. Keep the borrow short.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        let k = Ed25519Public([7; 32]);
        assert_eq!(Ed25519Public::from_base64(&k.to_base64()), Some(k));
        assert_eq!(Ed25519Public::from_base64("short"), None);
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point is a small-order key that verifies crafted
        // signatures for any message under non-strict verification.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let sig = Signature([0; 64]);
        assert_eq!(Ed25519Public(identity).verify(b"m", &sig), Err(SignatureError::InvalidKey));
    }

    #[test]
    fn secrets_do_not_print() {
        let s = format!("{:?} {:?}", SecretKey32::new([9; 32]), SecretBytes::new(vec![9; 4]));
        assert!(!s.contains('9'), "{s}");
    }

    #[test]
    fn hash_labels_separate_domains() {
        assert_ne!(Hash256::of("a", b"x"), Hash256::of("b", b"x"));
    }
}

#[cfg(test)]
mod serde_tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_are_base64_text_in_json_and_can_be_map_keys() {
        let mut m = BTreeMap::new();
        m.insert(Ed25519Public([1; 32]), 5u8);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, format!("{{\"{}\":5}}", Ed25519Public([1; 32]).to_base64()));
        assert_eq!(serde_json::from_str::<BTreeMap<Ed25519Public, u8>>(&json).unwrap(), m);
    }
}
