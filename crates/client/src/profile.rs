//! A profile: one enrolled device's data in one directory, and how its
//! store key is kept (the OS keychain, or a passphrase).

use crate::error::{ClientError, Result};
use belfry_store::passphrase::KdfCost;
use belfry_store::{Keychain, KeychainBackend, OsKeychain, SqlStore};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

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

/// What a person gives to open a profile: the passphrase in passphrase
/// mode; in keychain mode the app passcode, if one was set at enrollment
/// (a keychain profile with a passcode does not open without it).
#[derive(Clone)]
pub enum Unlock {
    /// The passphrase that wraps the store key.
    Passphrase(Zeroizing<String>),
    /// The key is in the OS keychain; `passcode` is the app passcode.
    Keychain {
        /// The app passcode (`None` for a profile enrolled without one).
        passcode: Option<Zeroizing<String>>,
    },
}

impl std::fmt::Debug for Unlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
            Self::Keychain { passcode } => {
                write!(f, "Keychain {{ passcode: {} }}", passcode.as_ref().map_or("none", |_| "<redacted>"))
            }
        }
    }
}

impl From<&KeySource> for Unlock {
    fn from(source: &KeySource) -> Self {
        match source {
            KeySource::Keychain => Self::Keychain { passcode: None },
            KeySource::Passphrase { passphrase, .. } => Self::Passphrase(passphrase.clone()),
        }
    }
}

/// Wrong secrets allowed before each further try has to wait.
pub const FREE_TRIES: u32 = 5;
/// The wait after the [`FREE_TRIES`]th wrong secret; it doubles with each
/// further one, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait between two tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Wrong secrets given to this profile, kept next to it so that
/// restarting the app does not reset the count.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Attempts {
    /// Wrong secrets since the last right one.
    failures: u32,
    /// When the last wrong one was given (ms since the epoch).
    last_failure_ms: u64,
}

impl Attempts {
    /// How long to wait, counted from the last failure.
    fn backoff(&self) -> Duration {
        if self.failures < FREE_TRIES {
            return Duration::ZERO;
        }
        let doublings = (self.failures - FREE_TRIES).min(16);
        FIRST_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF)
    }

    /// How long until the next try is allowed, at `now` (ms). A clock set
    /// back before the last failure waits the whole back-off again.
    fn retry_after(&self, now: u64) -> Option<Duration> {
        let wait = self.backoff();
        if wait.is_zero() {
            return None;
        }
        let elapsed = Duration::from_millis(now.saturating_sub(self.last_failure_ms));
        wait.checked_sub(elapsed).filter(|d| !d.is_zero())
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Associated data of the passcode verifier: it can never pass for a
/// wrapped store key or an org key.
const PASSCODE_AAD: &[u8] = b"belfry-app-passcode-v1";
/// The store's copy of the verifier: a passcode file deleted or replaced
/// behind the app's back does not open the profile without the passcode.
const K_PASSCODE: &str = "app-passcode-verifier";

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
/// The app passcode's verifier (keychain mode): 32 zero bytes sealed
/// under an Argon2id key of the passcode (parameters and salt inside).
/// Opening it proves the passcode; it holds nothing that opens the store.
const PASSCODE_FILE: &str = "passcode.json";
/// Wrong secrets given so far ([`Attempts`]).
const ATTEMPTS_FILE: &str = "unlock-attempts.json";

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
        self.create_inner(source, None)
    }

    /// [`create`](Self::create) with an app passcode (keychain mode only):
    /// its Argon2id verifier is written before the profile exists, and a
    /// copy is kept in the store, so the profile never opens without it.
    pub fn create_with_passcode(&self, source: &KeySource, passcode: &str, cost: KdfCost) -> Result<SqlStore> {
        if !matches!(source, KeySource::Keychain) {
            return Err(ClientError::Input(
                "an app passcode is for keychain mode; in passphrase mode the passphrase unlocks".into(),
            ));
        }
        if passcode.chars().count() < 4 {
            return Err(ClientError::Input("the passcode must have at least 4 characters".into()));
        }
        self.create_inner(source, Some((passcode, cost)))
    }

    fn create_inner(&self, source: &KeySource, passcode: Option<(&str, KdfCost)>) -> Result<SqlStore> {
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
        if let Some((passcode, cost)) = passcode {
            let sealed = belfry_crypto::seal::seal(&[0; 32], passcode.as_bytes(), cost, PASSCODE_AAD)
                .map_err(|e| ClientError::Config(format!("cannot set the passcode: {e}")))?;
            let text = serde_json::to_vec_pretty(&sealed).map_err(|e| ClientError::Config(e.to_string()))?;
            use belfry_store::Store as _;
            store.commit(
                belfry_store::Batch::new()
                    .with(belfry_store::Op::PutValue { key: K_PASSCODE.into(), value: text.clone() }),
            )?;
            write_durably(&self.dir, PASSCODE_FILE, &text)
                .map_err(|e| ClientError::Config(format!("cannot write the passcode file: {e}")))?;
        }
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
    ///
    /// A keychain profile with an app passcode is
    /// [`ClientError::PasscodeRequired`] here: open it with
    /// [`unlock`](Self::unlock).
    pub fn open(&self, source: &KeySource) -> Result<SqlStore> {
        let cost = match source {
            KeySource::Passphrase { cost, .. } => *cost,
            KeySource::Keychain => KdfCost::DEFAULT,
        };
        self.unlock_with(&Unlock::from(source), cost)
    }

    /// Opens the store with what the person gave. A wrong passphrase or
    /// passcode is [`ClientError::WrongSecret`]; after [`FREE_TRIES`] wrong
    /// ones, each further try waits a growing back-off (kept in the
    /// profile directory, so a restart does not reset it):
    /// [`ClientError::TooManyTries`], checked before anything is tried.
    pub fn unlock(&self, unlock: &Unlock) -> Result<SqlStore> {
        self.unlock_with(unlock, KdfCost::DEFAULT)
    }

    /// `cost`: of a wrapped key written while opening (a key rotation
    /// that crashed is finished by re-wrapping the new key).
    fn unlock_with(&self, unlock: &Unlock, cost: KdfCost) -> Result<SqlStore> {
        crate::hardening::require()?;
        if self.wipe_pending() {
            tracing::warn!(profile = %self.dir.display(), "an earlier wipe did not complete; finishing it");
            self.erase()?;
            return Err(ClientError::Wiped);
        }
        let file = self.read()?;
        match (file.key.as_str(), unlock) {
            ("passphrase", Unlock::Passphrase(passphrase)) => {
                self.throttle()?;
                let source = KeySource::Passphrase { passphrase: passphrase.clone(), cost };
                match self.open_with(&file, &source) {
                    Err(ClientError::Store(belfry_store::StoreError::WrongPassphrase)) => {
                        self.record_failure();
                        Err(ClientError::WrongSecret)
                    }
                    Ok(store) => {
                        self.reset_failures();
                        Ok(store)
                    }
                    Err(e) => Err(e),
                }
            }
            ("keychain", Unlock::Keychain { passcode }) => {
                // A damaged file is as good as a missing one: the store's
                // copy below decides, and is written back.
                let verifier = self.passcode_verifier().unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "the passcode file is damaged; the store's copy is used");
                    None
                });
                if let Some(v) = &verifier {
                    let p = passcode.as_ref().ok_or(ClientError::PasscodeRequired)?;
                    if !self.check_verifier(v, p)? {
                        return Err(ClientError::WrongSecret);
                    }
                }
                let store = self.open_with(&file, &KeySource::Keychain)?;
                // The store's copy decides: a file deleted or replaced
                // behind the app's back opens nothing without the passcode.
                use belfry_store::Store as _;
                let kept: Option<belfry_crypto::seal::SealedKey> = store
                    .value(K_PASSCODE)?
                    .map(|b| serde_json::from_slice(&b))
                    .transpose()
                    .map_err(|e| ClientError::Config(format!("the stored passcode verifier is damaged: {e}")))?;
                match (kept, verifier) {
                    (None, _) => Ok(store),
                    (Some(kept), Some(proven)) if kept == proven => Ok(store),
                    (Some(_), Some(_)) => Err(ClientError::Config(
                        "the passcode file was replaced; this profile opens only with its own passcode".into(),
                    )),
                    // The file is gone or damaged: the passcode is checked
                    // against the store's copy, which is written back.
                    (Some(kept), None) => {
                        let p = passcode.as_ref().ok_or(ClientError::PasscodeRequired)?;
                        if !self.check_verifier(&kept, p)? {
                            return Err(ClientError::WrongSecret);
                        }
                        let text = serde_json::to_vec_pretty(&kept).map_err(|e| ClientError::Config(e.to_string()))?;
                        write_durably(&self.dir, PASSCODE_FILE, &text)
                            .map_err(|e| ClientError::Config(format!("cannot restore the passcode file: {e}")))?;
                        Ok(store)
                    }
                }
            }
            ("passphrase", Unlock::Keychain { .. }) => {
                Err(ClientError::Config("this profile is protected by a passphrase: give it".into()))
            }
            _ => {
                Err(ClientError::Config("this profile keeps its key in the OS keychain, not under a passphrase".into()))
            }
        }
    }

    /// Whether opening this profile needs an app passcode (keychain mode).
    pub fn has_passcode(&self) -> bool {
        self.dir.join(PASSCODE_FILE).exists()
    }

    /// Checks the app passcode without opening anything: `Ok(false)` if it
    /// is wrong (counted, as for [`unlock`](Self::unlock)),
    /// [`ClientError::TooManyTries`] while the back-off runs.
    pub fn check_passcode(&self, passcode: &str) -> Result<bool> {
        let verifier =
            self.passcode_verifier()?.ok_or_else(|| ClientError::Input("this profile has no app passcode".into()))?;
        self.check_verifier(&verifier, passcode)
    }

    /// How long until the next try is allowed, if a back-off is running.
    pub fn retry_after(&self) -> Option<Duration> {
        self.attempts().retry_after(now_ms())
    }

    fn check_verifier(&self, verifier: &belfry_crypto::seal::SealedKey, passcode: &str) -> Result<bool> {
        self.throttle()?;
        match belfry_crypto::seal::open(verifier, passcode.as_bytes(), PASSCODE_AAD) {
            Ok(_) => {
                self.reset_failures();
                Ok(true)
            }
            Err(belfry_crypto::seal::SealError::WrongKey) => {
                self.record_failure();
                Ok(false)
            }
            Err(e) => Err(ClientError::Config(format!("the passcode file is damaged: {e}"))),
        }
    }

    fn passcode_verifier(&self) -> Result<Option<belfry_crypto::seal::SealedKey>> {
        let path = self.dir.join(PASSCODE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ClientError::Config(format!("{} is damaged: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ClientError::Config(format!("cannot read {}: {e}", path.display()))),
        }
    }

    fn attempts(&self) -> Attempts {
        let path = self.dir.join(ATTEMPTS_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                // Damaged: never a fresh start, nor a lock-out for good:
                // the free tries are used up as of when it was written.
                let written = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or_else(now_ms, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                Attempts { failures: FREE_TRIES, last_failure_ms: written }
            }),
            Err(_) => Attempts::default(),
        }
    }

    fn throttle(&self) -> Result<()> {
        match self.attempts().retry_after(now_ms()) {
            Some(retry_after) => Err(ClientError::TooManyTries { retry_after }),
            None => Ok(()),
        }
    }

    fn record_failure(&self) {
        let mut a = self.attempts();
        a.failures = a.failures.saturating_add(1);
        a.last_failure_ms = now_ms();
        let written = serde_json::to_vec(&a)
            .map_err(std::io::Error::other)
            .and_then(|text| write_durably(&self.dir, ATTEMPTS_FILE, &text));
        if let Err(e) = written {
            tracing::warn!(error = %e, "cannot record a wrong secret");
        }
    }

    fn reset_failures(&self) {
        if self.attempts().failures > 0 {
            let _ = std::fs::remove_file(self.dir.join(ATTEMPTS_FILE)).and_then(|()| sync_dir(&self.dir));
        }
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
                let ours = [PROFILE_FILE, PASSCODE_FILE, ATTEMPTS_FILE].contains(&name.as_str())
                    || name.ends_with(".tmp") && (name.starts_with(PASSCODE_FILE) || name.starts_with(ATTEMPTS_FILE))
                    || name.starts_with(DATABASE);
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

/// Writes `name` in `dir` atomically (temporary file, fsync, rename, fsync
/// of the directory), readable by its owner only.
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// fsync of a directory, so a file created or removed in it stays so.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
