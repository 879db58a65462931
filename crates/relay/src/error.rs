//! Errors of running the relay (its files, TLS, storage). Errors answered
//! to a device are [`belfry_protocol::ProtocolError`]s with a stable code.

use belfry_protocol::{ErrorCode, ProtocolError};
use std::path::PathBuf;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration is invalid.
    #[error("invalid configuration in {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `init` refuses to overwrite an existing relay.
    #[error("{0} already exists: refusing to overwrite a relay's keys (use a new directory)")]
    Exists(PathBuf),
    /// Certificates or TLS set-up failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The database failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A socket failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// A bug or an impossible state, reported instead of a panic.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for RelayError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

/// Result alias.
pub type Result<T, E = RelayError> = std::result::Result<T, E>;

/// A protocol error with `code` and a message for people.
pub fn refuse(code: ErrorCode, message: impl Into<String>) -> ProtocolError {
    ProtocolError { code, message: message.into() }
}

/// What a device is told when storage fails: retry, nothing was stored.
pub fn internal(e: &RelayError) -> ProtocolError {
    tracing::error!(error = %e, "storage failure");
    refuse(ErrorCode::Internal, "the relay could not store this; nothing was stored, retry later")
}
