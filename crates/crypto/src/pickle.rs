//! Encrypted pickles: how crypto state leaves this crate for the store.
//! XChaCha20-Poly1305 under a caller-provided 32-byte key, with the kind of
//! object as associated data so one pickle cannot be restored as another.

use crate::error::{CryptoError, Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// The 32-byte key that encrypts pickles. Wiped on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PickleKey([u8; 32]);

impl PickleKey {
    /// Wraps key bytes (from the store's key hierarchy).
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    pub fn random() -> Self {
        Self(crate::random_bytes())
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PickleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PickleKey(<redacted>)")
    }
}

const NONCE_LEN: usize = 24;

pub(crate) fn seal<T: Serialize>(what: &'static str, value: &T, key: &PickleKey) -> Result<Vec<u8>> {
    let plain = to_json(value).map_err(|e| CryptoError::KeyMaterial(format!("pickling {what}: {e}")))?;
    let nonce: [u8; NONCE_LEN] = crate::random_bytes();
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let ct = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: &plain, aad: what.as_bytes() })
        .map_err(|_| CryptoError::KeyMaterial(format!("encrypting {what} pickle")))?;
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

pub(crate) fn open<T: DeserializeOwned>(what: &'static str, bytes: &[u8], key: &PickleKey) -> Result<T> {
    let (nonce, ct) = bytes.split_at_checked(NONCE_LEN).ok_or(CryptoError::Unpickle { what })?;
    let cipher = XChaCha20Poly1305::new(key.bytes().into());
    let plain = Zeroizing::new(
        cipher
            .decrypt(
                &XNonce::try_from(nonce).map_err(|_| CryptoError::Unpickle { what })?,
                Payload { msg: ct, aad: what.as_bytes() },
            )
            .map_err(|_| CryptoError::Unpickle { what })?,
    );
    serde_json::from_slice(&plain).map_err(|_| CryptoError::Unpickle { what })
}

/// SHA-256 over the serialized state, for "unchanged" checks.
pub(crate) fn digest<T: Serialize>(what: &'static str, value: &T) -> belfry_protocol::Hash256 {
    let plain = to_json(value).unwrap_or_default();
    belfry_protocol::Hash256::of(what, &plain)
}

/// Counts bytes without keeping them.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// JSON into a buffer sized exactly first, so it never reallocates (which
/// would leave copies of secrets in freed memory) and is wiped on drop.
fn to_json<T: Serialize>(value: &T) -> serde_json::Result<Zeroizing<Vec<u8>>> {
    let mut counter = Counter(0);
    serde_json::to_writer(&mut counter, value)?;
    let mut out = Zeroizing::new(Vec::with_capacity(counter.0));
    serde_json::to_writer(&mut *out, value)?;
    Ok(out)
}
