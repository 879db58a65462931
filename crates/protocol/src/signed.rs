//! Signed statements.
//!
//! A [`Signed<T>`] keeps the exact bytes that were signed next to the
//! signature, and the value is decoded from those bytes only after the
//! signature verifies. Nothing is re-encoded before checking, so there is no
//! canonicalisation gap to exploit. The signed message is
//! `"belfry-sig-v1\0" || label || "\0" || body`, with one label per type,
//! so a signature over one kind of statement never verifies as another.

use crate::codec::{DecodeError, Wire, decode};
use crate::keys::{Ed25519Public, Hash256, Signature, SignatureError};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

/// A wire type that is signed, with its domain-separation label.
pub trait SignedBody: Wire {
    /// Unique label mixed into every signature over this type.
    const SIG_LABEL: &'static str;
}

/// A signed statement failed to verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature is not valid for the expected key.
    #[error("signature on {ty} does not verify: {source}")]
    Signature {
        /// The statement type.
        ty: &'static str,
        /// What failed.
        #[source]
        source: SignatureError,
    },
    /// The signature verifies but the body does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// The bytes an Ed25519 signature over a `T` body covers.
pub fn signing_message<T: SignedBody>(body: &[u8]) -> Vec<u8> {
    labelled_message(T::SIG_LABEL, body)
}

/// `"belfry-sig-v1\0" || label || "\0" || body`: what every Belfry
/// signature covers. Labels are unique per kind of signature.
pub fn labelled_message(label: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + label.len() + body.len());
    m.extend_from_slice(b"belfry-sig-v1\0");
    m.extend_from_slice(label.as_bytes());
    m.push(0);
    m.extend_from_slice(body);
    m
}

/// A value of type `T` with an Ed25519 signature over its canonical bytes.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Signed<T> {
    #[serde(with = "crate::codec::byte_vec")]
    body: Vec<u8>,
    signature: Signature,
    #[serde(skip)]
    _type: PhantomData<fn() -> T>,
}

impl<T: SignedBody> Signed<T> {
    /// Encodes `value` and signs it with `sign`, which receives the exact
    /// message to sign (see [`signing_message`]).
    pub fn sign(value: &T, sign: impl FnOnce(&[u8]) -> Signature) -> Self {
        let body = value.encode();
        let signature = sign(&signing_message::<T>(&body));
        Self { body, signature, _type: PhantomData }
    }

    /// Assembles a statement from parts, for tests and tools that sign elsewhere.
    pub fn from_parts(body: Vec<u8>, signature: Signature) -> Self {
        Self { body, signature, _type: PhantomData }
    }

    /// Verifies the signature with `key`, then decodes the body.
    pub fn verify(&self, key: &Ed25519Public) -> Result<T, VerifyError> {
        key.verify(&signing_message::<T>(&self.body), &self.signature)
            .map_err(|source| VerifyError::Signature { ty: T::NAME, source })?;
        Ok(decode(&self.body)?)
    }

    /// Decodes the body without checking the signature, to learn which key
    /// should have signed it. The result must not be trusted.
    pub fn peek_unverified(&self) -> Result<T, DecodeError> {
        decode(&self.body)
    }

    /// The signed bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// A hash that identifies this exact statement (body and signature).
    pub fn hash(&self) -> Hash256 {
        let mut data = Vec::with_capacity(self.body.len() + 64);
        data.extend_from_slice(&self.body);
        data.extend_from_slice(self.signature.as_bytes());
        Hash256::of(T::SIG_LABEL, &data)
    }
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Self { body: self.body.clone(), signature: self.signature, _type: PhantomData }
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, other: &Self) -> bool {
        self.body == other.body && self.signature == other.signature
    }
}

impl<T> Eq for Signed<T> {}

impl<T: SignedBody> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signed<{}>({} bytes, sig {})", T::NAME, self.body.len(), &self.signature.to_base64()[..8])
    }
}
