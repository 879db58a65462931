//! Attachment blobs over HTTPS: opaque ciphertext, created over the
//! authenticated WebSocket (`CreateBlob`, which checks size and quota),
//! then uploaded, resumably, and downloaded by id.
//!
//! The blob id is 128 random bits chosen by the relay: knowing it is what
//! allows an upload (to a blob created by an authenticated device, up to
//! its declared length) or a download (of ciphertext whose key travels only
//! inside Megolm messages).
//!
//! - `PUT /v1/blobs/{id}` with header `belfry-offset: N` (default 0) appends
//!   the body at N, which must be what the relay already has;
//! - `HEAD /v1/blobs/{id}` answers `belfry-received: N` for resuming;
//! - `GET /v1/blobs/{id}` returns a complete blob; with `Range: bytes=N-`
//!   it returns the bytes from N on (206), so a broken download resumes.

use crate::server::{ConnInfo, Shared};
use crate::storage::Storage;
use axum::body::Body;
use axum::extract::{Extension, Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use belfry_protocol::BlobId;
use futures_util::StreamExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

/// Header: where an upload continues.
pub const OFFSET_HEADER: &str = "belfry-offset";
/// Header: how many bytes the relay has.
pub const RECEIVED_HEADER: &str = "belfry-received";

fn file_of(dir: &Path, id: &[u8; 16]) -> PathBuf {
    dir.join(BlobId(*id).to_string())
}

/// Deletes a blob's file.
pub fn remove_files(dir: &Path, id: &[u8; 16]) {
    let _ = std::fs::remove_file(file_of(dir, id));
}

/// Nothing to do at start-up today: partial uploads are kept for resuming
/// and expire with their blob record.
pub fn remove_partial_orphans(_dir: &Path) {}

fn plain(status: StatusCode, msg: &'static str) -> Response {
    (status, msg).into_response()
}

fn parse_id(id: &str) -> Option<[u8; 16]> {
    BlobId::from_hex(id).ok().map(|b| b.0)
}

fn received_header(n: u64) -> [(&'static str, HeaderValue); 1] {
    [(RECEIVED_HEADER, HeaderValue::from(n))]
}

/// Removes the upload mark when the upload ends, however it ends.
struct UploadGuard<'a, S> {
    shared: &'a Shared<S>,
    id: [u8; 16],
}

impl<S> Drop for UploadGuard<'_, S> {
    fn drop(&mut self) {
        if let Ok(mut u) = self.shared.uploading.lock() {
            u.remove(&self.id);
        }
    }
}

/// `PUT /v1/blobs/{id}`.
pub async fn upload<S: Storage>(
    State(shared): State<Arc<Shared<S>>>,
    Extension(info): Extension<ConnInfo>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(id) = parse_id(&id) else { return plain(StatusCode::NOT_FOUND, "no such blob") };
    let offset = match headers.get(OFFSET_HEADER).map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok())) {
        None => 0,
        Some(Some(n)) => n,
        Some(None) => return plain(StatusCode::BAD_REQUEST, "belfry-offset must be a number"),
    };
    let row = match shared.storage.blob(id).await {
        Ok(Some(row)) => {
            info.pre_auth.release();
            row
        }
        Ok(None) => return plain(StatusCode::NOT_FOUND, "no such blob"),
        Err(_) => return plain(StatusCode::SERVICE_UNAVAILABLE, "storage failed; retry"),
    };
    if row.complete {
        return (StatusCode::CONFLICT, received_header(row.received), "this blob is complete").into_response();
    }
    if offset != row.received {
        return (StatusCode::CONFLICT, received_header(row.received), "resume from belfry-received").into_response();
    }
    {
        let Ok(mut up) = shared.uploading.lock() else {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "retry");
        };
        if !up.insert(id) {
            return plain(StatusCode::CONFLICT, "an upload of this blob is in progress");
        }
    }
    let _guard = UploadGuard { shared: &shared, id };
    let path = file_of(&shared.blob_dir, &id);
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = match options.open(&path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot open a blob file");
            return plain(StatusCode::SERVICE_UNAVAILABLE, "storage failed; retry");
        }
    };
    // Bytes past what was recorded are from an upload that broke off.
    if file.set_len(offset).await.is_err() || file.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "storage failed; retry");
    }
    let mut received = offset;
    let mut stream = body.into_data_stream();
    let mut broke_off = false;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            broke_off = true;
            break;
        };
        let len = chunk.len() as u64;
        if received.saturating_add(len) > row.len {
            let _ = file.set_len(offset).await;
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "more bytes than the blob's declared length");
        }
        if file.write_all(&chunk).await.is_err() {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "storage failed; retry");
        }
        received += len;
    }
    if file.sync_all().await.is_err() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "storage failed; retry");
    }
    let complete = received == row.len;
    if shared.storage.blob_progress(id, received, complete).await.is_err() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "storage failed; retry");
    }
    let status = if complete {
        StatusCode::OK
    } else if broke_off {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::ACCEPTED
    };
    (status, received_header(received)).into_response()
}

/// `HEAD /v1/blobs/{id}`.
pub async fn status<S: Storage>(
    State(shared): State<Arc<Shared<S>>>,
    Extension(info): Extension<ConnInfo>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let Some(id) = parse_id(&id) else { return StatusCode::NOT_FOUND.into_response() };
    match shared.storage.blob(id).await {
        Ok(Some(row)) => {
            info.pre_auth.release();
            (StatusCode::OK, received_header(row.received)).into_response()
        }
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// The start of a `Range: bytes=N-` request header: the only form a
/// resuming download needs. `Err` for any other form.
fn range_start(headers: &HeaderMap) -> Result<Option<u64>, ()> {
    let Some(v) = headers.get(axum::http::header::RANGE) else { return Ok(None) };
    let v = v.to_str().map_err(|_| ())?;
    let n = v.strip_prefix("bytes=").and_then(|r| r.strip_suffix('-')).ok_or(())?;
    n.parse::<u64>().map(Some).map_err(|_| ())
}

/// `GET /v1/blobs/{id}`, optionally with `Range: bytes=N-`.
pub async fn download<S: Storage>(
    State(shared): State<Arc<Shared<S>>>,
    Extension(info): Extension<ConnInfo>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let Some(id) = parse_id(&id) else { return plain(StatusCode::NOT_FOUND, "no such blob") };
    let Ok(start) = range_start(&headers) else {
        return plain(StatusCode::RANGE_NOT_SATISFIABLE, "only Range: bytes=N- is supported");
    };
    let len = match shared.storage.blob(id).await {
        Ok(Some(row)) if row.complete => {
            info.pre_auth.release();
            row.len
        }
        Ok(_) => return plain(StatusCode::NOT_FOUND, "no such blob, or not completely uploaded"),
        Err(_) => return plain(StatusCode::SERVICE_UNAVAILABLE, "storage failed; retry"),
    };
    let mut file = match tokio::fs::File::open(file_of(&shared.blob_dir, &id)).await {
        Ok(file) => file,
        Err(_) => return plain(StatusCode::NOT_FOUND, "no such blob"),
    };
    let Some(start) = start else {
        let stream = tokio_util::io::ReaderStream::new(file);
        return (StatusCode::OK, Body::from_stream(stream)).into_response();
    };
    if start >= len {
        let range = HeaderValue::from_str(&format!("bytes */{len}")).unwrap_or(HeaderValue::from_static("bytes */0"));
        return (StatusCode::RANGE_NOT_SATISFIABLE, [(axum::http::header::CONTENT_RANGE, range)]).into_response();
    }
    if file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "storage failed; retry");
    }
    let Ok(range) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", len - 1)) else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "retry");
    };
    let stream = tokio_util::io::ReaderStream::new(file);
    (StatusCode::PARTIAL_CONTENT, [(axum::http::header::CONTENT_RANGE, range)], Body::from_stream(stream))
        .into_response()
}
