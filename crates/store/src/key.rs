//! The store key: 32 random bytes used as SQLCipher's raw key, kept in the
//! OS keychain (Secret Service, macOS Keychain, Windows Credential Manager)
//! through the `keyring` crate. There is no plaintext fallback: without a
//! keychain the caller gets [`StoreError::NoKeychain`].

use crate::error::{Result, StoreError};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Keychain service name of every Belfry store key.
pub const KEYCHAIN_SERVICE: &str = "belfry-store";

/// A store key. Wiped on drop; never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct StoreKey([u8; 32]);

impl StoreKey {
    /// A fresh random key.
    pub fn random() -> Self {
        let mut k = [0u8; 32];
        rand::fill(&mut k[..]);
        Self(k)
    }

    /// Wraps key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `x'<64 hex digits>'`, the raw-key form SQLCipher takes (no PBKDF2).
    pub(crate) fn sqlcipher_literal(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(67));
        s.push_str("x'");
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s.push('\'');
        s
    }

    /// `PRAGMA <name> = "x'…'";` in memory that is wiped on drop (never a
    /// plain `format!`, which would leave the key in freed memory).
    pub(crate) fn pragma(&self, name: &str) -> Zeroizing<String> {
        let lit = self.sqlcipher_literal();
        let mut sql = Zeroizing::new(String::with_capacity(name.len() + lit.len() + 16));
        sql.push_str("PRAGMA ");
        sql.push_str(name);
        sql.push_str(" = \"");
        sql.push_str(&lit);
        sql.push_str("\";");
        sql
    }

    fn to_hex(&self) -> Zeroizing<String> {
        let lit = self.sqlcipher_literal();
        Zeroizing::new(lit[2..66].to_owned())
    }

    fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(out))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(<redacted>)")
    }
}

/// The OS keychain entry of one profile's store key.
#[derive(Debug, Clone)]
pub struct Keychain {
    profile: String,
}

impl Keychain {
    /// The entry for `profile` (a stable id of the local profile).
    pub fn new(profile: impl Into<String>) -> Self {
        Self { profile: profile.into() }
    }

    fn entry(&self) -> Result<keyring::Entry> {
        keyring::Entry::new(KEYCHAIN_SERVICE, &self.profile).map_err(no_keychain)
    }

    /// The entry of a key being rotated to (see [`crate::SqlStore::rotate_key_in_keychain`]).
    fn pending(&self) -> Self {
        Self { profile: format!("{}.rotating", self.profile) }
    }

    /// Stores `key`, replacing any previous one.
    pub fn store(&self, key: &StoreKey) -> Result<()> {
        self.entry()?.set_password(&key.to_hex()).map_err(no_keychain)
    }

    /// Reads the key back.
    pub fn load(&self) -> Result<StoreKey> {
        let hex = Zeroizing::new(self.entry()?.get_password().map_err(|e| match e {
            keyring::Error::NoEntry => StoreError::KeyMissing(self.profile.clone()),
            other => no_keychain(other),
        })?);
        StoreKey::from_hex(&hex).ok_or_else(|| StoreError::KeyCorrupt(self.profile.clone()))
    }

    /// Removes the key (after a wipe, the database is unreadable for good).
    pub fn delete(&self) -> Result<()> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(no_keychain(e)),
        }
    }
}

fn no_keychain(e: keyring::Error) -> StoreError {
    StoreError::NoKeychain(e.to_string())
}

/// The two slots of a place that keeps the store key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The key that opens the database.
    Current,
    /// A key being rotated to: written before `PRAGMA rekey`, promoted
    /// after it, so a crash at any point leaves a key that opens the
    /// database.
    Pending,
}

/// Where the store key is kept: the OS keychain, or a passphrase-wrapped
/// file.
pub(crate) trait KeyHome {
    /// The key in `slot`, if there is one.
    fn load(&self, slot: Slot) -> Result<Option<StoreKey>>;
    /// Stores `key` in `slot` durably (read back to check).
    fn save(&self, slot: Slot, key: &StoreKey) -> Result<()>;
    /// Empties `slot` (an empty slot is not an error).
    fn delete(&self, slot: Slot) -> Result<()>;
}

impl KeyHome for Keychain {
    fn load(&self, slot: Slot) -> Result<Option<StoreKey>> {
        let entry = if slot == Slot::Current { self.clone() } else { self.pending() };
        match Keychain::load(&entry) {
            Ok(key) => Ok(Some(key)),
            Err(StoreError::KeyMissing(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn save(&self, slot: Slot, key: &StoreKey) -> Result<()> {
        let entry = if slot == Slot::Current { self.clone() } else { self.pending() };
        entry.store(key)?;
        // Read it back: a keychain that silently drops a write must not be
        // the only home of a key.
        if Keychain::load(&entry)? != *key {
            return Err(StoreError::KeyCorrupt(entry.profile));
        }
        Ok(())
    }

    fn delete(&self, slot: Slot) -> Result<()> {
        if slot == Slot::Current { Keychain::delete(self) } else { Keychain::delete(&self.pending()) }
    }
}
