//! A profile: one enrolled device's data in one directory, and how its
//! store key is kept (the OS keychain, or a passphrase).

use crate::error::{ClientError, Result};
use belfry_store::passphrase::KdfCost;
use belfry_store::{Keychain, SqlStore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How the store key is kept.
#[derive(Clone)]
pub enum KeySource {
    /// In the OS keychain (Secret Service, macOS Keychain, Windows
    /// Credential Manager).
    Keychain,
    /// Wrapped with Argon2id under a passphrase, next to the database.
    Passphrase {
        /// The passphrase.
        passphrase: zeroize::Zeroizing<String>,
        /// Argon2id cost for a new key.
        cost: KdfCost,
    },
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keychain => f.write_str("Keychain"),
            Self::Passphrase { cost, .. } => write!(f, "Passphrase({cost:?})"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProfileFile {
    version: u32,
    /// The keychain entry's name for this profile.
    keychain_id: String,
    /// `keychain` or `passphrase`.
    key: String,
}

/// One device's directory.
#[derive(Debug, Clone)]
pub struct Profile {
    dir: PathBuf,
}

const PROFILE_FILE: &str = "profile.json";
const DATABASE: &str = "belfry.db";

impl Profile {
    /// The profile in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a device is enrolled here.
    pub fn exists(&self) -> bool {
        self.dir.join(PROFILE_FILE).exists()
    }

    fn database(&self) -> PathBuf {
        self.dir.join(DATABASE)
    }

    fn read(&self) -> Result<ProfileFile> {
        let path = self.dir.join(PROFILE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            ClientError::Config(format!("no Belfry profile in {}: enroll first (belfry enroll)", self.dir.display()))
        })?;
        serde_json::from_str(&text).map_err(|e| ClientError::Config(format!("{} is damaged: {e}", path.display())))
    }

    /// Creates the profile directory (0700) and its store.
    pub fn create(&self, source: &KeySource) -> Result<SqlStore> {
        if self.exists() {
            return Err(ClientError::Config(format!(
                "{} already holds a Belfry profile; use another --profile directory",
                self.dir.display()
            )));
        }
        // A profile gets a directory of its own: erasing it (a wipe) must
        // never touch anything else.
        if std::fs::read_dir(&self.dir).is_ok_and(|mut entries| entries.next().is_some()) {
            return Err(ClientError::Config(format!(
                "{} is not empty; give Belfry a new directory of its own",
                self.dir.display()
            )));
        }
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| ClientError::Config(format!("cannot create {}: {e}", self.dir.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| ClientError::Config(format!("cannot protect {}: {e}", self.dir.display())))?;
        }
        let id: [u8; 16] = rand::random();
        let file = ProfileFile {
            version: 1,
            keychain_id: id.iter().map(|b| format!("{b:02x}")).collect(),
            key: match source {
                KeySource::Keychain => "keychain".into(),
                KeySource::Passphrase { .. } => "passphrase".into(),
            },
        };
        let store = self.open_with(&file, source)?;
        let text = serde_json::to_string_pretty(&file).map_err(|e| ClientError::Config(e.to_string()))?;
        std::fs::write(self.dir.join(PROFILE_FILE), text)
            .map_err(|e| ClientError::Config(format!("cannot write the profile file: {e}")))?;
        Ok(store)
    }

    /// Opens the store of an existing profile.
    pub fn open(&self, source: &KeySource) -> Result<SqlStore> {
        let file = self.read()?;
        self.open_with(&file, source)
    }

    /// Whether this profile's key is passphrase-wrapped.
    pub fn needs_passphrase(&self) -> Result<bool> {
        Ok(self.read()?.key == "passphrase")
    }

    fn open_with(&self, file: &ProfileFile, source: &KeySource) -> Result<SqlStore> {
        match (file.key.as_str(), source) {
            ("keychain", KeySource::Keychain) => {
                Ok(SqlStore::open_with_keychain(&self.database(), &Keychain::new(&file.keychain_id))?)
            }
            ("passphrase", KeySource::Passphrase { passphrase, cost }) => {
                Ok(SqlStore::open_with_passphrase(&self.database(), passphrase, *cost)?)
            }
            ("passphrase", KeySource::Keychain) => {
                Err(ClientError::Config("this profile is protected by a passphrase: give it".into()))
            }
            _ => {
                Err(ClientError::Config("this profile keeps its key in the OS keychain, not under a passphrase".into()))
            }
        }
    }

    /// Erases the profile: database, attachments, wrapped key, keychain
    /// entry and profile file. Used for a wipe order and `wipe-self`.
    pub fn erase(&self) -> Result<()> {
        if let Ok(file) = self.read()
            && file.key == "keychain"
        {
            let _ = Keychain::new(&file.keychain_id).delete();
        }
        let mut failed = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // Only what Belfry writes here: the database and its WAL,
                // journal and attachments, the wrapped key, the profile file.
                let ours = name == PROFILE_FILE || name.starts_with(DATABASE) || name.starts_with("key.wrapped");
                if !ours {
                    continue;
                }
                let path = entry.path();
                let r = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                if let Err(e) = r {
                    failed.push(format!("{}: {e}", path.display()));
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Config(format!("could not erase everything: {}", failed.join("; "))))
        }
    }
}
