//! Files: send one the person picked, save one received (never over an
//! existing file), the size limit. The file dialogs are the host's: no
//! path crosses from the web view, which is not trusted with the file
//! system. Image previews go through the
//! `belfry-preview` scheme (see `preview.rs`).

use crate::error::{ErrorCode, UiError, UiResult};
use crate::host::Host;
use crate::input;
use crate::views::MessageView;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tauri::State;
use ts_rs::TS;

/// `send_file`: the file is chosen in the native open dialog the host
/// shows; no path comes from the web view.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SendFileArgs {
    /// Room id.
    pub room: String,
}

/// `save_attachment`: where to is chosen in the native save dialog the
/// host shows; no path comes from the web view.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SaveAttachmentArgs {
    /// The message with the file.
    pub message: String,
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

/// `send_file`: asks the person for a file (the native open dialog),
/// encrypts it into the store and queues its upload; the message's view
/// (pending), or `null` when they cancelled. A file over the limit is
/// refused before anything is stored or sent. Locked: no dialog is shown.
#[tauri::command]
pub async fn send_file(host: State<'_, Arc<Host>>, args: SendFileArgs) -> UiResult<Option<MessageView>> {
    let room = input::room(&args.room)?;
    host.engine().await?;
    let Some(path) = host.pick_file().await? else { return Ok(None) };
    let meta = std::fs::metadata(&path).map_err(|e| UiError::new(ErrorCode::NotFound, format!("{e}")))?;
    if !meta.is_file() {
        return Err(UiError::input("not a regular file"));
    }
    if meta.len() > max_plaintext() {
        return Err(UiError::new(ErrorCode::TooLarge, format!("{} bytes; at most {}", meta.len(), max_plaintext())));
    }
    // Fetched again: the app may have locked while the dialog was open.
    let engine = host.engine().await?;
    let id = engine.send_file(room, &path).await?;
    crate::commands::messages::fresh_view(&host, &engine, &room, id).await.map(Some)
}

/// `save_attachment`: asks where to save the message's file (the native
/// save dialog, proposing its name made safe), then downloads, checks and
/// decrypts it there, never over an existing file (`fileExists`). The
/// path written (to show), or `null` when the person cancelled.
#[tauri::command]
pub async fn save_attachment(host: State<'_, Arc<Host>>, args: SaveAttachmentArgs) -> UiResult<Option<String>> {
    let message = input::message(&args.message)?;
    let info = host
        .engine()
        .await?
        .attachment(&message)?
        .ok_or_else(|| UiError::new(ErrorCode::NotFound, "this message has no file"))?;
    let Some(path) = host.pick_save_path(belfry_client::safe_file_name(&info.name)).await? else { return Ok(None) };
    let written = host.engine().await?.download_file(message, &path).await?;
    Ok(Some(written.display().to_string()))
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
