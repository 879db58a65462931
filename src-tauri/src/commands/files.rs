//! Files: send one the person picked, save one received (never over an
//! existing file), the size limit. Image previews go through the
//! `belfry-preview` scheme (see `preview.rs`).

use crate::error::{ErrorCode, UiError, UiResult};
use crate::host::Host;
use crate::input;
use crate::views::MessageView;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tauri::State;
use ts_rs::TS;

/// `send_file`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SendFileArgs {
    /// Room id.
    pub room: String,
    /// The file the person picked (absolute path).
    pub path: String,
}

/// `save_attachment`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SaveAttachmentArgs {
    /// The message with the file.
    pub message: String,
    /// Where the person chose to save it (absolute; never overwritten).
    pub path: String,
}

/// The largest file Belfry sends: the protocol's blob limit, less the
/// encryption's overhead (the relay may set a lower one: it answers
/// `tooLarge` before anything is uploaded).
pub fn max_plaintext() -> u64 {
    let max = belfry_protocol::limits::MAX_BLOB_LEN;
    let (mut lo, mut hi) = (0u64, max);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if belfry_crypto::attachment::ciphertext_len(mid).is_some_and(|c| c <= max) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// `send_file`: encrypts the file into the store and queues its upload;
/// the message's view (pending). A file over the limit is refused before
/// anything is stored or sent.
#[tauri::command]
pub async fn send_file(host: State<'_, Arc<Host>>, args: SendFileArgs) -> UiResult<MessageView> {
    let room = input::room(&args.room)?;
    let path = input::path("path", &args.path)?;
    let meta = std::fs::metadata(&path).map_err(|e| UiError::new(ErrorCode::NotFound, format!("{e}")))?;
    if !meta.is_file() {
        return Err(UiError::input("path: not a regular file"));
    }
    if meta.len() > max_plaintext() {
        return Err(UiError::new(ErrorCode::TooLarge, format!("{} bytes; at most {}", meta.len(), max_plaintext())));
    }
    let engine = host.engine().await?;
    let id = engine.send_file(room, &path).await?;
    crate::commands::messages::fresh_view(&host, &engine, &room, id).await
}

/// `save_attachment`: downloads, checks and decrypts the file to `path`.
#[tauri::command]
pub async fn save_attachment(host: State<'_, Arc<Host>>, args: SaveAttachmentArgs) -> UiResult<()> {
    let message = input::message(&args.message)?;
    let path = input::path("path", &args.path)?;
    if path.symlink_metadata().is_ok() {
        return Err(UiError::new(ErrorCode::FileExists, format!("{} exists; choose another name", path.display())));
    }
    host.engine().await?.download_file(message, &path).await?;
    Ok(())
}

/// `max_file_size`: the largest file that can be sent, bytes.
#[tauri::command]
pub async fn max_file_size() -> UiResult<u64> {
    Ok(max_plaintext())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_limit_fits_the_blob_limit() {
        let max = super::max_plaintext();
        let blob = belfry_protocol::limits::MAX_BLOB_LEN;
        assert!(belfry_crypto::attachment::ciphertext_len(max).is_some_and(|c| c <= blob));
        assert!(belfry_crypto::attachment::ciphertext_len(max + 1).is_none_or(|c| c > blob));
        assert!(max > blob - blob / 100);
    }
}
