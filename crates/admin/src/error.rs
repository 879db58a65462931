//! Every way belfry-admin can fail, each with a message that tells IT what
//! went wrong and, where there is one, what to do. All of them exit with 1.

use belfry_crypto::CryptoError;
use belfry_protocol::armor::ArmorError;
use std::io;
use std::path::PathBuf;

/// Where the passphrase can come from, for the message when none is available.
const PASSPHRASE_OPTIONS: &str = "give it with --passphrase-file PATH (first line of the file), \
     or in the environment variable BELFRY_ORG_PASSPHRASE, or run belfry-admin in a terminal to be prompted";

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no organisation in {}: run `belfry-admin org init` first", dir.display())]
    NoOrg { dir: PathBuf },

    #[error(
        "{} already exists: refusing to overwrite an organisation key \
         (every device trusts the old key; move the directory away only if you mean to replace the organisation)",
        path.display()
    )]
    OrgExists { path: PathBuf },

    #[error("{} is corrupted: {reason}", path.display())]
    OrgCorrupt { path: PathBuf, reason: String },

    #[error("wrong passphrase for {} (or its encrypted key was altered)", path.display())]
    WrongPassphrase { path: PathBuf },

    #[error("no passphrase available and no terminal to ask for one: {PASSPHRASE_OPTIONS}")]
    NoPassphraseSource,

    #[error("could not read the passphrase from the terminal ({source}): {PASSPHRASE_OPTIONS}")]
    PassphrasePrompt { source: io::Error },

    #[error("the two passphrases do not match")]
    PassphraseMismatch,

    #[error("the passphrase must be at least {min} characters long (got {len})")]
    PassphraseTooShort { min: usize, len: usize },

    #[error("cannot read passphrase file {}: {source}", path.display())]
    PassphraseFile { path: PathBuf, source: io::Error },

    #[error("passphrase file {} {reason}", path.display())]
    PassphraseFileContent { path: PathBuf, reason: &'static str },

    #[error("environment variable BELFRY_ORG_PASSPHRASE is not valid UTF-8")]
    PassphraseEnv,

    #[error("cannot read relay CA file {}: {source}", path.display())]
    CaRead { path: PathBuf, source: io::Error },

    #[error("relay CA file {} {reason}", path.display())]
    CaFormat { path: PathBuf, reason: String },

    #[error("cannot {action} {}: {source}", path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },

    #[error("{} already exists: refusing to overwrite it (choose another --out)", path.display())]
    OutExists { path: PathBuf },

    #[error("{} is not a Belfry invitation or statement file: {reason}", path.display())]
    NotBelfryFile { path: PathBuf, reason: String },

    #[error("{}: {source}", path.display())]
    Armor { path: PathBuf, source: ArmorError },

    #[error("{} does not verify: {reason}", path.display())]
    Verify { path: PathBuf, reason: String },

    #[error("{0}")]
    Crypto(#[from] CryptoError),

    #[error("key derivation failed: {0}")]
    Kdf(String),

    #[error("encryption failed")]
    Encrypt,

    #[error("the system clock reads a time before 1970; fix the clock first")]
    Clock,

    #[error("{0}")]
    Usage(&'static str),
}

impl AdminError {
    /// An I/O error on `path` while doing `action` ("read", "write", "create").
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { action, path, source }
    }
}

pub type Result<T, E = AdminError> = std::result::Result<T, E>;
