//! A profile: one enrolled device's data in one directory, and how its
//! store key is kept (the OS keychain, or a passphrase).

use crate::error::{ClientError, Result};
use belfry_store::passphrase::KdfCost;
use belfry_store::{Keychain, KeychainBackend, OsKeychain, SqlStore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
    /// Where a keychain-mode profile's key is kept.
    keychain: Arc<dyn KeychainBackend>,
}

const PROFILE_FILE: &str = "profile.json";
const DATABASE: &str = "belfry.db";
/// Written when a wipe starts and removed only when it has erased
/// everything: while it exists, opening the profile finishes the wipe
/// first (a keychain that was locked, a file that could not be removed).
/// It holds a copy of the profile file, so the keychain entry can still
/// be found once the profile file is gone.
const WIPE_MARKER: &str = "wipe.pending";

impl Profile {
    /// The profile in `dir`, its key (in keychain mode) in the OS keychain.
    pub fn new(dir: &Path) -> Self {
        Self::with_keychain(dir, Arc::new(OsKeychain))
    }

    /// The profile in `dir`, its key (in keychain mode) in `keychain`.
    pub fn with_keychain(dir: &Path, keychain: Arc<dyn KeychainBackend>) -> Self {
        Self { dir: dir.to_owned(), keychain }
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
    /// [`ClientError::NotHardened`] before [`crate::hardening::harden_process`].
    pub fn create(&self, source: &KeySource) -> Result<SqlStore> {
        crate::hardening::require()?;
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

    /// Opens the store of an existing profile
    /// ([`ClientError::NotHardened`] before [`crate::hardening::harden_process`]). A wipe that did not
    /// complete is finished first, and nothing is opened:
    /// [`ClientError::Wiped`] once it is complete,
    /// [`ClientError::WipeIncomplete`] while it still is not.
    pub fn open(&self, source: &KeySource) -> Result<SqlStore> {
        crate::hardening::require()?;
        if self.wipe_pending() {
            tracing::warn!(profile = %self.dir.display(), "an earlier wipe did not complete; finishing it");
            self.erase()?;
            return Err(ClientError::Wiped);
        }
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
                Ok(SqlStore::open_with_keychain(&self.database(), &self.keychain_of(file))?)
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

    fn keychain_of(&self, file: &ProfileFile) -> Keychain {
        Keychain::in_backend(&file.keychain_id, self.keychain.clone())
    }

    /// Whether a wipe started here and has not completed.
    pub fn wipe_pending(&self) -> bool {
        self.dir.join(WIPE_MARKER).exists()
    }

    /// Erases the profile: every slot of its key first (keychain entries,
    /// each checked gone afterwards; wrapped key files, each overwritten
    /// and synced before it is unlinked), then the database, attachments
    /// and profile file. Used for a wipe order and `wipe-self`.
    ///
    /// A wipe that cannot complete is [`ClientError::WipeIncomplete`],
    /// naming what may remain; it leaves a marker that makes the next
    /// [`open`](Self::open) finish it before anything else.
    pub fn erase(&self) -> Result<()> {
        if !self.dir.exists() {
            return Ok(());
        }
        let file = self.read().ok().or_else(|| self.read_marker());
        let mut failed = Vec::new();
        if let Err(e) = self.write_marker(file.as_ref()) {
            failed.push(format!("the marker that retries the wipe: {e}"));
        }
        // The key first: without it, what is left on disk is ciphertext.
        if let Some(file) = &file
            && file.key == "keychain"
            && let Err(e) = self.keychain_of(file).erase_all()
        {
            failed.push(e.to_string());
        }
        if let Err(e) = belfry_store::passphrase::erase_wrapped_keys(&self.dir) {
            failed.push(e.to_string());
        }
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                // Only what Belfry writes here: the database and its WAL,
                // journal and attachments, the profile file. The wrapped
                // key files were erased above (one that could not be is
                // left for the retry).
                let ours = name == PROFILE_FILE || name.starts_with(DATABASE);
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
            match std::fs::remove_file(self.dir.join(WIPE_MARKER)).and_then(|()| sync_dir(&self.dir)) {
                Ok(()) => return Ok(()),
                Err(e) => failed.push(format!("the wipe marker: {e}")),
            }
        }
        Err(ClientError::WipeIncomplete(failed.join("; ")))
    }

    fn read_marker(&self) -> Option<ProfileFile> {
        let text = std::fs::read_to_string(self.dir.join(WIPE_MARKER)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the wipe marker durably (a copy of the profile file, or
    /// `{}` for a profile whose file is unreadable).
    fn write_marker(&self, file: Option<&ProfileFile>) -> std::io::Result<()> {
        use std::io::Write as _;
        let text = match file {
            Some(f) => serde_json::to_string(f).map_err(std::io::Error::other)?,
            None => "{}".into(),
        };
        let mut f = std::fs::File::create(self.dir.join(WIPE_MARKER))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        sync_dir(&self.dir)
    }
}

/// fsync of a directory, so a file created or removed in it stays so.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
