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

/// Where keychain entries are kept: the OS keychain ([`OsKeychain`]), or,
/// in tests, a stand-in (`testing::TestKeychain`, feature `testing`), so
/// what a failing keychain does to a wipe can be tested without the
/// developer's keychain.
pub trait KeychainBackend: fmt::Debug + Send + Sync {
    /// Stores `secret` under (`service`, `account`), replacing any previous one.
    fn set(&self, service: &str, account: &str, secret: &str) -> Result<()>;
    /// The secret under (`service`, `account`), `None` if there is none.
    fn get(&self, service: &str, account: &str) -> Result<Option<Zeroizing<String>>>;
    /// Deletes the entry; a missing entry is not an error.
    fn delete(&self, service: &str, account: &str) -> Result<()>;
}

/// The OS keychain through `keyring` (Secret Service, macOS Keychain,
/// Windows Credential Manager).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsKeychain;

impl KeychainBackend for OsKeychain {
    fn set(&self, service: &str, account: &str, secret: &str) -> Result<()> {
        os_entry(service, account)?.set_password(secret).map_err(no_keychain)
    }

    fn get(&self, service: &str, account: &str) -> Result<Option<Zeroizing<String>>> {
        match os_entry(service, account)?.get_password() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(no_keychain(e)),
        }
    }

    fn delete(&self, service: &str, account: &str) -> Result<()> {
        match os_entry(service, account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(no_keychain(e)),
        }
    }
}

fn os_entry(service: &str, account: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(service, account).map_err(no_keychain)
}

/// The OS keychain entry of one profile's store key.
#[derive(Debug, Clone)]
pub struct Keychain {
    profile: String,
    backend: std::sync::Arc<dyn KeychainBackend>,
}

impl Keychain {
    /// The entry for `profile` (a stable id of the local profile) in the
    /// OS keychain.
    pub fn new(profile: impl Into<String>) -> Self {
        Self::in_backend(profile, std::sync::Arc::new(OsKeychain))
    }

    /// The entry for `profile` in `backend`.
    pub fn in_backend(profile: impl Into<String>, backend: std::sync::Arc<dyn KeychainBackend>) -> Self {
        Self { profile: profile.into(), backend }
    }

    /// The entry of a key being rotated to (see [`crate::SqlStore::rotate_key_in_keychain`]).
    fn pending(&self) -> Self {
        Self { profile: format!("{}.rotating", self.profile), backend: self.backend.clone() }
    }

    /// Stores `key`, replacing any previous one.
    pub fn store(&self, key: &StoreKey) -> Result<()> {
        self.backend.set(KEYCHAIN_SERVICE, &self.profile, &key.to_hex())
    }

    /// Reads the key back.
    pub fn load(&self) -> Result<StoreKey> {
        let hex = self
            .backend
            .get(KEYCHAIN_SERVICE, &self.profile)?
            .ok_or_else(|| StoreError::KeyMissing(self.profile.clone()))?;
        StoreKey::from_hex(&hex).ok_or_else(|| StoreError::KeyCorrupt(self.profile.clone()))
    }

    /// Removes the key (after a wipe, the database is unreadable for good).
    pub fn delete(&self) -> Result<()> {
        self.backend.delete(KEYCHAIN_SERVICE, &self.profile)
    }

    /// Erases every slot of this profile's key (the current key and one
    /// being rotated to), then checks that each is gone: a keychain that
    /// reports success and keeps the entry is an error too. Every slot is
    /// tried even if one fails; the error names what may remain.
    pub fn erase_all(&self) -> Result<()> {
        let mut left = Vec::new();
        for slot in [self.clone(), self.pending()] {
            let gone = slot.delete().and_then(|()| slot.backend.get(KEYCHAIN_SERVICE, &slot.profile));
            match gone {
                Ok(None) => {}
                Ok(Some(_)) => left.push(format!("{}: still present after deletion", slot.profile)),
                Err(e) => left.push(format!("{}: {e}", slot.profile)),
            }
        }
        if left.is_empty() { Ok(()) } else { Err(StoreError::KeyNotErased(left.join("; "))) }
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
