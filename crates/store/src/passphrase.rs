//! Passphrase mode: for users and policies that demand it, the store key is
//! wrapped with a key derived from a passphrase (Argon2id) and kept, wrapped,
//! in a file next to the database. Changing the passphrase, or moving between
//! the keychain and a passphrase, re-wraps the key: history is not
//! re-encrypted.

use crate::error::{Result, StoreError};
use crate::key::{KeyHome, Keychain, Slot, StoreKey};
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
/// File name of a wrapped key being rotated to.
const PENDING_KEY_FILE: &str = "key.wrapped.rotating";
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
        Self::load_file(&dir.join(WRAPPED_KEY_FILE))
    }

    fn load_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("wrapped key file: {e}")))
    }

    /// Writes it to `dir` atomically (temporary file, fsync, rename, fsync
    /// of the directory, so the rename itself survives a crash).
    pub fn save(&self, dir: &Path) -> Result<()> {
        self.save_as(dir, WRAPPED_KEY_FILE)
    }

    fn save_as(&self, dir: &Path, name: &str) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let tmp = dir.join(format!("{name}.tmp"));
        {
            use std::io::Write as _;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    }
}

/// fsync of a directory, so a rename or unlink in it is durable.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn remove_durably(dir: &Path, name: &str) -> Result<()> {
    match std::fs::remove_file(dir.join(name)) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Passphrase mode as a place that keeps the key: `key.wrapped` (and
/// `key.wrapped.rotating` during a rotation) next to the database.
pub(crate) struct PassphraseHome<'a> {
    dir: std::path::PathBuf,
    passphrase: &'a str,
    cost: KdfCost,
}

impl<'a> PassphraseHome<'a> {
    pub(crate) fn next_to(db: &Path, passphrase: &'a str, cost: KdfCost) -> Self {
        let dir = match db.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        Self { dir, passphrase, cost }
    }

    fn file(slot: Slot) -> &'static str {
        if slot == Slot::Current { WRAPPED_KEY_FILE } else { PENDING_KEY_FILE }
    }
}

impl KeyHome for PassphraseHome<'_> {
    fn load(&self, slot: Slot) -> Result<Option<StoreKey>> {
        match WrappedKey::load_file(&self.dir.join(Self::file(slot))) {
            Ok(wrapped) => wrapped.unwrap_key(self.passphrase).map(Some),
            Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn save(&self, slot: Slot, key: &StoreKey) -> Result<()> {
        WrappedKey::wrap(key, self.passphrase, self.cost)?.save_as(&self.dir, Self::file(slot))
    }

    fn delete(&self, slot: Slot) -> Result<()> {
        remove_durably(&self.dir, Self::file(slot))
    }
}

/// Changes the passphrase of the store in `dir`. History is not touched.
pub fn change_passphrase(dir: &Path, old: &str, new: &str, cost: KdfCost) -> Result<()> {
    let key = WrappedKey::load(dir)?.unwrap_key(old)?;
    WrappedKey::wrap(&key, new, cost)?.save(dir)
}

/// Moves the key from passphrase mode into the OS keychain. The wrapped
/// file is removed only once the keychain has the key (read back).
pub fn move_to_keychain(dir: &Path, passphrase: &str, keychain: &Keychain) -> Result<()> {
    let key = WrappedKey::load(dir)?.unwrap_key(passphrase)?;
    KeyHome::save(keychain, Slot::Current, &key)?;
    remove_durably(dir, WRAPPED_KEY_FILE)
}

/// Moves the key from the OS keychain into passphrase mode. The keychain
/// entry is deleted only once the wrapped file is durable and unwraps.
pub fn move_to_passphrase(dir: &Path, keychain: &Keychain, passphrase: &str, cost: KdfCost) -> Result<()> {
    let key = keychain.load()?;
    WrappedKey::wrap(&key, passphrase, cost)?.save(dir)?;
    if WrappedKey::load(dir)?.unwrap_key(passphrase)? != key {
        return Err(StoreError::Corrupt("the wrapped key did not read back".into()));
    }
    keychain.delete()
}
