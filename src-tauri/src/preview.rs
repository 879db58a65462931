//! The `belfry-preview` scheme: image previews for the web view, decoded
//! and re-encoded as PNG by the engine in memory (the web view never
//! parses an image from the network), served only to the main window,
//! size-capped, never cached. Anything else is 404.
//!
//! `belfry-preview://localhost/<message id>` (Linux, macOS) or
//! `http://belfry-preview.localhost/<message id>` (Windows).

use crate::host::Host;
use belfry_protocol::MessageId;
use std::sync::Arc;
use tauri::http::{Request, Response, StatusCode, header};
use tauri::{Manager, Runtime, UriSchemeContext, UriSchemeResponder};

/// The scheme's name.
pub const SCHEME: &str = "belfry-preview";
/// Longest side of a preview, pixels.
pub const MAX_SIDE: u32 = 1280;
/// Largest preview served, bytes.
pub const MAX_BYTES: usize = 8 << 20;

/// The message a preview URL names, if it is one.
pub fn message_of(uri: &tauri::http::Uri) -> Option<MessageId> {
    let ok_origin = match (uri.scheme_str(), uri.host()) {
        (Some(SCHEME), Some("localhost")) => true,
        (Some("http" | "https"), Some(h)) => h == format!("{SCHEME}.localhost"),
        _ => false,
    };
    if !ok_origin || uri.query().is_some() || uri.port().is_some() {
        return None;
    }
    let id = uri.path().strip_prefix('/')?;
    let parsed = MessageId::from_hex(id).ok()?;
    (parsed.to_string() == id).then_some(parsed)
}

fn not_found() -> Response<Vec<u8>> {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

fn png(bytes: Vec<u8>) -> Response<Vec<u8>> {
    let mut r = Response::new(bytes);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("image/png"));
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, header::HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, header::HeaderValue::from_static("default-src 'none'"));
    r
}

/// The preview of `message`'s image, re-encoded by the engine.
pub async fn preview(host: &Host, message: MessageId) -> Option<Vec<u8>> {
    let engine = host.engine().await.ok()?;
    let preview = engine.attachment_preview(message, MAX_SIDE).await.ok()??;
    (preview.png.len() <= MAX_BYTES).then_some(preview.png)
}

/// The scheme's handler.
pub fn handle<R: Runtime>(ctx: UriSchemeContext<'_, R>, request: Request<Vec<u8>>, responder: UriSchemeResponder) {
    let message = (ctx.webview_label() == crate::app::MAIN && request.method() == tauri::http::Method::GET)
        .then(|| message_of(request.uri()))
        .flatten();
    let Some(message) = message else {
        responder.respond(not_found());
        return;
    };
    let host = ctx.app_handle().state::<Arc<Host>>().inner().clone();
    tauri::async_runtime::spawn(async move {
        let response = match preview(&host, message).await {
            Some(bytes) => png(bytes),
            None => not_found(),
        };
        responder.respond(response);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_preview_urls_name_a_message() {
        let id = "00112233445566778899aabbccddeeff";
        for ok in [format!("belfry-preview://localhost/{id}"), format!("http://belfry-preview.localhost/{id}")] {
            assert!(message_of(&ok.parse().unwrap()).is_some(), "{ok}");
        }
        for bad in [
            format!("belfry-preview://evil/{id}"),
            format!("belfry-preview://localhost/{id}?x=1"),
            format!("belfry-preview://localhost/{id}/more"),
            format!("belfry-preview://localhost/{}", id.to_uppercase()),
            "belfry-preview://localhost/../../etc/passwd".to_owned(),
            format!("http://evil.localhost/{id}"),
            format!("http://belfry-preview.localhost:8080/{id}"),
            format!("https://example.org/{id}"),
        ] {
            assert!(message_of(&bad.parse().unwrap()).is_none(), "{bad}");
        }
    }
}
