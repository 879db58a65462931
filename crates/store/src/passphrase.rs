//! Passphrase mode: for users and policies that demand it, the store key is
//! wrapped with a key derived from a passphrase (Argon2id) and kept, wrapped,
//! in a file next to the database. Changing the passphrase, or moving between
//! the keychain and a passphrase, re-wraps the key: history is not
//! re-encrypted.

use crate::error::{Result, StoreError};
use crate::key::{KeyHome, Keychain, Slot, StoreKey};
use belfry_crypto::seal::{self, SealError, SealedKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use belfry_crypto::seal::KdfCost;

/// File name of the wrapped key, next to the database.
pub const WRAPPED_KEY_FILE: &str = "key.wrapped";
/// File name of a wrapped key being rotated to.
const PENDING_KEY_FILE: &str = "key.wrapped.rotating";
/// Associated data: a sealed org key can never pass for a store key.
const AAD: &[u8] = b"belfry-store-key-v1";

/// The store key sealed under a passphrase (the same Argon2id and
/// XChaCha20-Poly1305 sealing `belfry-admin` uses for the org key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WrappedKey(SealedKey);

impl WrappedKey {
    /// Wraps `key` under `passphrase`.
    pub fn wrap(key: &StoreKey, passphrase: &str, cost: KdfCost) -> Result<Self> {
        seal::seal(key.bytes(), passphrase.as_bytes(), cost, AAD).map(Self).map_err(sealing_error)
    }

    /// Unwraps the key; a wrong passphrase is [`StoreError::WrongPassphrase`].
    pub fn unwrap_key(&self, passphrase: &str) -> Result<StoreKey> {
        let secret = seal::open(&self.0, passphrase.as_bytes(), AAD).map_err(sealing_error)?;
        Ok(StoreKey::from_bytes(*secret))
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

fn sealing_error(e: SealError) -> StoreError {
    match e {
        SealError::WrongKey => StoreError::WrongPassphrase,
        other => StoreError::Corrupt(format!("wrapped key file: {other}")),
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

/// Erases every wrapped key file in `dir` (the current key, one being
/// rotated to, and their temporary files): each is overwritten with zeros
/// to its full length and synced before it is unlinked, so the wrapped key
/// is not left in the file's old blocks for an offline attacker who later
/// learns the passphrase. Every file is tried even if one fails; the error
/// names what may remain.
pub fn erase_wrapped_keys(dir: &Path) -> Result<()> {
    let mut left = Vec::new();
    for name in [WRAPPED_KEY_FILE, PENDING_KEY_FILE] {
        for name in [name.to_owned(), format!("{name}.tmp")] {
            if let Err(e) = overwrite_and_unlink(&dir.join(&name)) {
                left.push(format!("{name}: {e}"));
            }
        }
    }
    if let Err(e) = sync_dir(dir) {
        left.push(format!("{}: {e}", dir.display()));
    }
    if left.is_empty() { Ok(()) } else { Err(StoreError::KeyNotErased(left.join("; "))) }
}

fn overwrite_and_unlink(path: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    // Only the file itself, never through a link planted in the profile.
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => {}
        Ok(_) => return Err(std::io::Error::other("not a regular file; left in place")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    let mut left = f.metadata()?.len();
    let zeros = [0u8; 4096];
    while left > 0 {
        let n = usize::try_from(left).map_or(zeros.len(), |l| l.min(zeros.len()));
        f.write_all(&zeros[..n])?;
        left = left.saturating_sub(n as u64);
    }
    f.sync_all()?;
    drop(f);
    std::fs::remove_file(path)
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
