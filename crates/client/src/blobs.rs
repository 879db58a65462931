//! Attachment blobs over HTTPS (`/v1/blobs/{id}` on the relay): hyper's
//! HTTP/1.1 client on a TLS 1.3 connection made exactly like the
//! WebSocket's (the relay's private CA only, the same rustls settings).
//! One connection per request; blobs are ciphertext, and the blob id is
//! the only capability.
//!
//! - `HEAD` answers how many bytes the relay holds (`belfry-received`);
//! - `PUT` with `belfry-offset: N` appends from N (N must be what the relay
//!   holds), so an upload resumes after any interruption;
//! - `GET` with `Range: bytes=N-` continues a broken download.
//!
//! A transfer may take as long as it needs: what is timed is the absence
//! of progress. Connecting and TLS each get the idle timeout; after that a
//! request is dropped (and resumed by the caller) only when its connection
//! moved no byte either way, and an upload's body took no new piece, for
//! that long: a stalled network, or a relay that does not answer once the
//! body is sent.

use crate::error::{ClientError, Result};
use crate::net::RelayTarget;
use belfry_protocol::BlobId;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Header: where an upload continues.
const OFFSET_HEADER: &str = "belfry-offset";
/// Header: how many bytes the relay has.
const RECEIVED_HEADER: &str = "belfry-received";
/// Longest a transfer may go without progress, unless the host sets another
/// ([`BlobClient::set_idle_timeout`]).
pub(crate) const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// How a `PUT` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PutOutcome {
    /// The blob is complete on the relay.
    Complete,
    /// The relay holds this many bytes (the upload broke off, or the offset
    /// was not the relay's): continue from there.
    Partial(u64),
    /// Another upload of this blob is still running at the relay (an
    /// interrupted one the relay has not noticed yet): try again shortly.
    Busy,
}

/// The relay's blob endpoint.
pub(crate) struct BlobClient {
    host: String,
    port: u16,
    config: Arc<rustls::ClientConfig>,
    /// The idle timeout, in milliseconds.
    idle_ms: AtomicU64,
}

/// When a request last made progress: a byte moved on its connection, or
/// its body handed over a piece.
#[derive(Debug)]
struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
}

impl Activity {
    fn new() -> Arc<Self> {
        Arc::new(Self { start: Instant::now(), last: AtomicU64::new(0) })
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(now, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last.load(Ordering::Relaxed))
    }
}

/// A connection that records in an [`Activity`] every byte it moves.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl std::fmt::Debug for BlobClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobClient").field("host", &self.host).field("port", &self.port).finish_non_exhaustive()
    }
}

fn offline(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Offline(format!("{what}: {e}"))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn received(headers: &hyper::HeaderMap) -> Option<u64> {
    headers.get(RECEIVED_HEADER)?.to_str().ok()?.parse().ok()
}

impl BlobClient {
    /// The blob endpoint of `target`, with its TLS configuration.
    pub(crate) fn new(target: &RelayTarget) -> Result<Self> {
        let (host, port) = target.host_port()?;
        Ok(Self {
            host,
            port,
            config: Arc::new(target.tls_config()?),
            idle_ms: AtomicU64::new(millis(DEFAULT_IDLE_TIMEOUT)),
        })
    }

    /// How long a transfer may make no progress before its connection is
    /// dropped.
    pub(crate) fn idle_timeout(&self) -> Duration {
        Duration::from_millis(self.idle_ms.load(Ordering::Relaxed))
    }

    /// Sets [`idle_timeout`](Self::idle_timeout) (between a millisecond
    /// and a day) for the requests that start from now on.
    pub(crate) fn set_idle_timeout(&self, idle: Duration) {
        self.idle_ms.store(millis(idle).clamp(1, 24 * 3600 * 1000), Ordering::Relaxed);
    }

    /// Sends `request` on a new connection and waits for the answer's head
    /// while the request makes progress (see the module documentation);
    /// `activity` also hears of the body's pieces.
    async fn send(&self, request: hyper::Request<Body>, activity: Arc<Activity>) -> Result<hyper::Response<Incoming>> {
        let idle = self.idle_timeout();
        let tcp = tokio::time::timeout(idle, TcpStream::connect((self.host.as_str(), self.port)))
            .await
            .map_err(|_| ClientError::Offline("connecting to the relay timed out".into()))?
            .map_err(|e| offline("cannot reach the relay", e))?;
        let _ = tcp.set_nodelay(true);
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|_| ClientError::Config(format!("{:?} is not a valid relay host name", self.host)))?;
        let tls = tokio::time::timeout(idle, tokio_rustls::TlsConnector::from(self.config.clone()).connect(name, tcp))
            .await
            .map_err(|_| ClientError::Offline("TLS with the relay timed out".into()))?
            .map_err(|e| offline("TLS with the relay failed", e))?;
        activity.touch();
        let io = hyper_util::rt::TokioIo::new(Watched { inner: tls, activity: activity.clone() });
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(io).await.map_err(|e| offline("HTTP with the relay failed", e))?;
        // The connection task ends with the request (one request each), or
        // with the body of a download when its reader drops it.
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        let response = sender.send_request(request);
        tokio::pin!(response);
        loop {
            tokio::select! {
                answer = &mut response => return answer.map_err(|e| offline("the blob transfer broke off", e)),
                () = tokio::time::sleep_until(activity.last() + idle) => {
                    if activity.last() + idle <= Instant::now() {
                        conn.abort();
                        return Err(ClientError::Offline(format!(
                            "the blob transfer made no progress for {} s",
                            idle.as_secs_f32()
                        )));
                    }
                }
            }
        }
    }

    fn request(&self, method: hyper::Method, blob: &BlobId) -> hyper::http::request::Builder {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        hyper::Request::builder()
            .method(method)
            .uri(format!("/v1/blobs/{blob}"))
            .header("host", format!("{host}:{}", self.port))
    }

    fn empty() -> Body {
        Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync()
    }

    /// How many bytes of `blob` the relay holds; `None` if it has no such
    /// blob (never created, or expired).
    pub(crate) async fn received(&self, blob: &BlobId) -> Result<Option<u64>> {
        let request = self
            .request(hyper::Method::HEAD, blob)
            .body(Self::empty())
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let response = self.send(request, Activity::new()).await?;
        match response.status().as_u16() {
            200 => received(response.headers())
                .map(Some)
                .ok_or_else(|| ClientError::Relay("a blob status without belfry-received".into())),
            404 => Ok(None),
            s if s >= 500 => Err(ClientError::Offline(format!("the relay answered {s}; retrying later"))),
            s => Err(ClientError::Relay(format!("unexpected answer {s} to a blob status request"))),
        }
    }

    /// Uploads `len` bytes of `blob` from `offset` on, taken from `chunks`
    /// (the sender ends the stream early with an error to abort).
    pub(crate) async fn put(
        &self,
        blob: &BlobId,
        offset: u64,
        len: u64,
        chunks: mpsc::Receiver<std::io::Result<Bytes>>,
    ) -> Result<PutOutcome> {
        let activity = Activity::new();
        let pieces = activity.clone();
        let stream = futures_util::stream::unfold(chunks, move |mut rx| {
            let pieces = pieces.clone();
            async move {
                let chunk = rx.recv().await?;
                pieces.touch();
                Some((chunk.map(Frame::data), rx))
            }
        });
        let body = StreamBody::new(stream).boxed_unsync();
        let request = self
            .request(hyper::Method::PUT, blob)
            .header(OFFSET_HEADER, offset.to_string())
            .header(hyper::header::CONTENT_LENGTH, len.to_string())
            .body(body)
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let response = self.send(request, activity).await?;
        let status = response.status().as_u16();
        let got = received(response.headers());
        match (status, got) {
            (200, _) => Ok(PutOutcome::Complete),
            (202 | 400, Some(n)) => Ok(PutOutcome::Partial(n)),
            (409, Some(n)) => Ok(PutOutcome::Partial(n)),
            (409, None) => Ok(PutOutcome::Busy),
            (404, _) => Err(ClientError::NotFound("the relay no longer has this upload".into())),
            (413, _) => Err(ClientError::Relay("the relay refused more bytes than the blob's declared length".into())),
            (s, _) if s >= 500 => Err(ClientError::Offline(format!("the relay answered {s}; retrying later"))),
            (s, _) => Err(ClientError::Relay(format!("unexpected answer {s} to a blob upload"))),
        }
    }

    /// Starts downloading `blob` from byte `start` on; the caller reads
    /// the body (and, if it breaks off, asks again from where it stopped).
    pub(crate) async fn get(&self, blob: &BlobId, start: u64) -> Result<Incoming> {
        let mut builder = self.request(hyper::Method::GET, blob);
        if start > 0 {
            builder = builder.header(hyper::header::RANGE, format!("bytes={start}-"));
        }
        let request = builder.body(Self::empty()).map_err(|e| ClientError::Config(e.to_string()))?;
        let response = self.send(request, Activity::new()).await?;
        match (response.status().as_u16(), start) {
            (200, 0) | (206, _) => Ok(response.into_body()),
            (404, _) => Err(ClientError::NotFound("the relay has no such file (expired or never uploaded)".into())),
            (s, _) if s >= 500 => Err(ClientError::Offline(format!("the relay answered {s}; retrying later"))),
            (s, _) => Err(ClientError::Relay(format!("unexpected answer {s} to a blob download"))),
        }
    }
}
