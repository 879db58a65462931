//! Files: send one the person picked, save one received (never over an
//! existing file), the size limit. The file dialogs are the host's: no
//! path crosses from the web view, which is not trusted with the file
//! system. Image previews go through the
//! `belfry-preview` scheme (see `preview.rs`).

use crate::error::{ErrorCode, UiError, UiResult};
use crate::host::Host;
use crate::input;
use crate::views::MessageView;
use base64::Engine as _;
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

/// `send_file_bytes`: a file dropped or pasted into the window, read by
/// the page (no path involved).
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SendFileBytesArgs {
    /// Room id.
    pub room: String,
    /// The file's name (a name, not a path).
    pub name: String,
    /// Its content, standard base64 (padded). Base64 rather than a number
    /// array: a third more than the bytes through the IPC, where a JSON
    /// array of numbers costs about 3.6 characters per byte and a large
    /// JavaScript array on both sides.
    pub bytes: String,
}

impl std::fmt::Debug for SendFileBytesArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFileBytesArgs")
            .field("room", &self.room)
            .field("name", &format_args!("<{} bytes>", self.name.len()))
            .field("bytes", &format_args!("<{} base64 characters>", self.bytes.len()))
            .finish()
    }
}

/// `cancel_transfer`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CancelTransferArgs {
    /// The message whose file is being sent or fetched.
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

/// How many base64 characters encode `n` bytes (padded).
fn base64_len(n: u64) -> u64 {
    n.div_ceil(3).saturating_mul(4)
}

/// `send_file_bytes`: sends a file the page read from a drop or a paste,
/// as `send_file` sends one picked in the dialog; the message's view
/// (pending). The name and the size are checked before anything is
/// decoded, stored or sent; the decoded bytes and the base64 text are
/// zeroed once encrypted.
#[tauri::command]
pub async fn send_file_bytes(host: State<'_, Arc<Host>>, args: SendFileBytesArgs) -> UiResult<MessageView> {
    let SendFileBytesArgs { room, name, bytes } = args;
    let encoded = zeroize::Zeroizing::new(bytes);
    let room = input::room(&room)?;
    let name = input::file_name(&name)?;
    let max = max_plaintext();
    if u64::try_from(encoded.len()).unwrap_or(u64::MAX) > base64_len(max) {
        return Err(UiError::new(ErrorCode::TooLarge, format!("more than {max} bytes")));
    }
    let mut decoded = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| UiError::input(format!("bytes: not base64 ({e})")))?,
    );
    drop(encoded);
    if decoded.len() as u64 > max {
        return Err(UiError::new(ErrorCode::TooLarge, format!("{} bytes; at most {max}", decoded.len())));
    }
    let engine = host.engine().await?;
    // The engine takes the bytes and zeroes them when done.
    let id = engine.send_file_bytes(room, name, std::mem::take(&mut *decoded)).await?;
    crate::commands::messages::fresh_view(&host, &engine, &room, id).await
}

/// `cancel_transfer`: stops the upload or download of a message's file
/// now (an upload's message becomes failed, a download keeps nothing);
/// `false` if none was running.
#[tauri::command]
pub async fn cancel_transfer(host: State<'_, Arc<Host>>, args: CancelTransferArgs) -> UiResult<bool> {
    let message = input::message(&args.message)?;
    Ok(host.engine().await?.cancel_transfer(message).await?)
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
    match host.engine().await?.download_file(message, &path).await {
        Ok(written) => Ok(Some(written.display().to_string())),
        // The person cancelled the download (cancel_transfer): as a
        // cancelled dialog, nothing written.
        Err(belfry_client::ClientError::File(belfry_client::FileError::Cancelled(_))) => Ok(None),
        Err(e) => Err(e.into()),
    }
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
