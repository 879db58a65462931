//! The store's one error type.

/// Why a store operation failed. Every variant says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key does not open this database. Nothing was written.
    #[error("the key does not open {path}: wrong key, or not a Belfry database (the file was not changed)")]
    WrongKey {
        /// The database file.
        path: String,
    },
    /// The passphrase does not unwrap the store key. Nothing was changed.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// Reading or writing a file failed.
    #[error("store file: {0}")]
    Io(#[from] std::io::Error),
    /// No OS keychain is reachable, and no passphrase was given.
    #[error("no OS keychain is available ({0}); unlock the session keyring or use passphrase mode")]
    NoKeychain(String),
    /// The keychain holds no key for this profile.
    #[error("the OS keychain holds no key for profile {0:?}")]
    KeyMissing(String),
    /// The keychain entry is not a Belfry store key.
    #[error("the keychain entry for profile {0:?} is not a store key")]
    KeyCorrupt(String),
    /// The database was written by a newer Belfry.
    #[error("the database has schema version {found}; this build understands up to {supported}: update Belfry")]
    NewerSchema {
        /// Version found.
        found: i64,
        /// Newest known.
        supported: i64,
    },
    /// SQLite or SQLCipher failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value could not be read back.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    /// A batch contradicts what is stored (an attachment of a message that
    /// does not exist, or of a file that was never written). Nothing in the
    /// batch was written.
    #[error("batch refused, nothing was written: {0}")]
    Conflict(String),
    /// A wipe could not erase a key slot (keychain entry or wrapped key
    /// file): the key may survive. The wipe is not complete.
    #[error("the store key could not be erased: {0}")]
    KeyNotErased(String),
    /// The store was closed (before its profile is erased); nothing more
    /// is read or written.
    #[error("the store is closed")]
    Closed,
}

impl StoreError {
    /// A stable code for this kind of error, for the UI and logs (messages
    /// may change; codes do not).
    pub fn code(&self) -> &'static str {
        match self {
            Self::WrongKey { .. } => "store.wrong-key",
            Self::WrongPassphrase => "store.wrong-passphrase",
            Self::Io(_) => "store.io",
            Self::NoKeychain(_) => "store.no-keychain",
            Self::KeyMissing(_) => "store.key-missing",
            Self::KeyCorrupt(_) => "store.key-corrupt",
            Self::NewerSchema { .. } => "store.newer-schema",
            Self::Sqlite(_) => "store.sqlite",
            Self::Corrupt(_) => "store.corrupt",
            Self::Conflict(_) => "store.conflict",
            Self::KeyNotErased(_) => "store.key-not-erased",
            Self::Closed => "store.closed",
        }
    }
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
