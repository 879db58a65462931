//! Passphrase mode: for users and policies that demand it, the store key is
//! wrapped with a key derived from a passphrase (Argon2id) and kept, wrapped,
//! in a file next to the database. Changing the passphrase, or moving between
//! the keychain and a passphrase, re-wraps the key: history is not
//! re-encrypted.

use crate::error::{Result, StoreError};
use crate::key::{Keychain, StoreKey};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use std::path::Path;
use zeroize::Zeroizing;

/// File name of the wrapped key, next to the database.
pub const WRAPPED_KEY_FILE: &str = "key.wrapped";
const AAD: &[u8] = b"belfry-store-key-v1";

/// Argon2id cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfCost {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfCost {
    /// 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: Self = Self { m_kib: 64 * 1024, t: 3, p: 1 };
}

/// The store key wrapped under a passphrase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    version: u32,
    cost: KdfCost,
    salt: String,
    nonce: String,
    ciphertext: String,
}

fn kek(passphrase: &str, salt: &[u8], cost: KdfCost) -> Result<Zeroizing<[u8; 32]>> {
    if cost.m_kib > 4 * 1024 * 1024 || cost.t > 64 || cost.p > 64 {
        return Err(StoreError::Corrupt("wrapped key: Argon2 parameters out of range".into()));
    }
    let params = Params::new(cost.m_kib, cost.t, cost.p, Some(32))
        .map_err(|e| StoreError::Corrupt(format!("wrapped key: Argon2 parameters: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, out.as_mut())
        .map_err(|e| StoreError::Corrupt(format!("wrapped key: Argon2: {e}")))?;
    Ok(out)
}

impl WrappedKey {
    /// Wraps `key` under `passphrase`.
    pub fn wrap(key: &StoreKey, passphrase: &str, cost: KdfCost) -> Result<Self> {
        let mut salt = [0u8; 16];
        rand::fill(&mut salt[..]);
        let mut nonce = [0u8; 24];
        rand::fill(&mut nonce[..]);
        let kek = kek(passphrase, &salt, cost)?;
        let cipher = XChaCha20Poly1305::new((&*kek).into());
        let ct = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: key.bytes(), aad: AAD })
            .map_err(|_| StoreError::Corrupt("wrapping the key failed".into()))?;
        Ok(Self { version: 1, cost, salt: B64.encode(salt), nonce: B64.encode(nonce), ciphertext: B64.encode(ct) })
    }

    /// Unwraps the key; a wrong passphrase is [`StoreError::WrongPassphrase`].
    pub fn unwrap_key(&self, passphrase: &str) -> Result<StoreKey> {
        let corrupt = || StoreError::Corrupt("wrapped key file is damaged".into());
        if self.version != 1 {
            return Err(StoreError::Corrupt(format!("wrapped key version {} is not supported", self.version)));
        }
        let salt = B64.decode(&self.salt).map_err(|_| corrupt())?;
        let nonce = B64.decode(&self.nonce).map_err(|_| corrupt())?;
        let ct = B64.decode(&self.ciphertext).map_err(|_| corrupt())?;
        let kek = kek(passphrase, &salt, self.cost)?;
        let cipher = XChaCha20Poly1305::new((&*kek).into());
        let nonce = XNonce::try_from(nonce.as_slice()).map_err(|_| corrupt())?;
        let plain = Zeroizing::new(
            cipher.decrypt(&nonce, Payload { msg: &ct, aad: AAD }).map_err(|_| StoreError::WrongPassphrase)?,
        );
        let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| corrupt())?;
        Ok(StoreKey::from_bytes(bytes))
    }

    /// Reads the wrapped key kept in `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(dir.join(WRAPPED_KEY_FILE))?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("wrapped key file: {e}")))
    }

    /// Writes it to `dir` atomically (temporary file, fsync, rename).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tmp = dir.join(format!("{WRAPPED_KEY_FILE}.tmp"));
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, dir.join(WRAPPED_KEY_FILE))?;
        Ok(())
    }
}

/// Changes the passphrase of the store in `dir`. History is not touched.
pub fn change_passphrase(dir: &Path, old: &str, new: &str, cost: KdfCost) -> Result<()> {
    let key = WrappedKey::load(dir)?.unwrap_key(old)?;
    WrappedKey::wrap(&key, new, cost)?.save(dir)
}

/// Moves the key from passphrase mode into the OS keychain.
pub fn move_to_keychain(dir: &Path, passphrase: &str, keychain: &Keychain) -> Result<()> {
    let key = WrappedKey::load(dir)?.unwrap_key(passphrase)?;
    keychain.store(&key)?;
    std::fs::remove_file(dir.join(WRAPPED_KEY_FILE))?;
    Ok(())
}

/// Moves the key from the OS keychain into passphrase mode.
pub fn move_to_passphrase(dir: &Path, keychain: &Keychain, passphrase: &str, cost: KdfCost) -> Result<()> {
    let key = keychain.load()?;
    WrappedKey::wrap(&key, passphrase, cost)?.save(dir)?;
    keychain.delete()
}
