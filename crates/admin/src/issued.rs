//! `issued.log`: one JSON line per invitation issued, so IT can find and
//! revoke an invitation that was never used.

use crate::error::{AdminError, Result};
use crate::files;
use belfry_protocol::Ed25519Public;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One line of the log. Holds nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// Invitation id, 32 hex digits.
    pub invitation: String,
    /// The user id.
    pub user: String,
    /// The display name.
    pub display_name: String,
    /// The enrollment public key, unpadded base64: what `revoke --invitation` takes.
    pub enrollment_key: String,
    /// When it was issued (UTC).
    pub issued_at: String,
    /// When it expires (UTC).
    pub expires_at: String,
    /// Where the invitation file was written.
    pub file: String,
}

/// Appends `entry` to the log at `path`.
pub fn append(path: &Path, entry: &Issued) -> Result<()> {
    let line = serde_json::to_string(entry).map_err(|e| AdminError::Io {
        action: "append to",
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    files::append_line(path, &line, files::SECRET_MODE)
}

/// The entry for enrollment key `key`, if the log at `path` has one. A
/// missing log means no invitation was issued here; lines that do not
/// parse are skipped (the log is for people and may have been edited).
pub fn find(path: &Path, key: &Ed25519Public) -> Result<Option<Issued>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AdminError::Io { action: "read", path: path.to_owned(), source }),
    };
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<Issued>(line).ok())
        .find(|entry| Ed25519Public::from_base64(&entry.enrollment_key).as_ref() == Some(key)))
}
