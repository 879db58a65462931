//! Accepting connections: TLS 1.3, then HTTP/1.1 with a WebSocket upgrade
//! for frames and plain requests for blobs; metrics on their own listener;
//! graceful shutdown.

use crate::blobs;
use crate::config::{Config, Paths};
use crate::error::{RelayError, Result};
use crate::gate::{Budgeted, Gate, PreAuth};
use crate::metrics::Metrics;
use crate::session;
use crate::storage::{DeviceKey, SqliteStorage, Storage};
use crate::tls::{self, EXPORTER_LABEL};
use axum::Router;
use axum::extract::{Extension, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::{Ed25519Public, UserId};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// What one TLS connection tells its requests.
#[derive(Clone)]
pub struct ConnInfo {
    /// The TLS exporter value: a signature over it is only good on this
    /// connection.
    pub exporter: [u8; 32],
    /// The peer, for logs.
    pub peer: SocketAddr,
    /// The connection's slot until it signs in (released by device
    /// authentication or a request naming an existing blob).
    pub pre_auth: Arc<PreAuth>,
    /// When the connection must have signed in.
    pub sign_in_by: Instant,
}

impl std::fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnInfo").field("peer", &self.peer).finish_non_exhaustive()
    }
}

/// The open connections of one device: (connection id, its wake-up).
type Seats = Vec<(u64, Arc<Notify>)>;

/// Wakes the connections of a device when its inbox grows.
#[derive(Debug, Default)]
pub struct Hub {
    devices: Mutex<HashMap<DeviceKey, Seats>>,
    next: AtomicU64,
}

/// A device connection's place in the [`Hub`]; leaves it on drop.
#[derive(Debug)]
pub struct HubSeat {
    hub: Arc<Hub>,
    device: DeviceKey,
    id: u64,
    /// Notified when the inbox has new entries.
    pub notify: Arc<Notify>,
}

impl Hub {
    /// Joins `device`, unless it already has `max` connections.
    pub fn join(self: &Arc<Self>, device: DeviceKey, max: usize) -> Option<HubSeat> {
        let mut devices = self.devices.lock().ok()?;
        let seats = devices.entry(device).or_default();
        if seats.len() >= max {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        seats.push((id, notify.clone()));
        Some(HubSeat { hub: self.clone(), device, id, notify })
    }

    /// Wakes every connection of these devices.
    pub fn wake(&self, devices: &[DeviceKey]) {
        let Ok(map) = self.devices.lock() else { return };
        for d in devices {
            for (_, n) in map.get(d).into_iter().flatten() {
                n.notify_one();
            }
        }
    }
}

impl Drop for HubSeat {
    fn drop(&mut self) {
        if let Ok(mut map) = self.hub.devices.lock()
            && let Some(seats) = map.get_mut(&self.device)
        {
            seats.retain(|(id, _)| *id != self.id);
            if seats.is_empty() {
                map.remove(&self.device);
            }
        }
    }
}

/// Counts per key in fixed windows (key claims per device per minute,
/// one-time keys per claimer and target, statements per device).
#[derive(Debug)]
pub struct RateLimiter<K> {
    windows: Mutex<HashMap<K, (Instant, u32)>>,
    window: Duration,
}

impl<K: std::hash::Hash + Eq> RateLimiter<K> {
    /// Windows of `window`.
    pub fn new(window: Duration) -> Self {
        Self { windows: Mutex::new(HashMap::new()), window }
    }

    /// Counts `n` for `key`; false (and nothing counted) when that would
    /// make more than `max` in the current window.
    pub fn allow(&self, key: K, n: u32, max: u32) -> bool {
        let Ok(mut w) = self.windows.lock() else { return false };
        let now = Instant::now();
        // Keep the map small: forget windows that are over.
        if w.len() >= 65_536 {
            w.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = w.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1.saturating_add(n) > max {
            return false;
        }
        entry.1 += n;
        true
    }
}

/// State shared by every connection.
#[derive(Debug)]
pub struct Shared<S> {
    /// Durable state.
    pub storage: S,
    /// Configuration.
    pub config: Config,
    /// The org root key.
    pub org: Ed25519Public,
    /// Metrics.
    pub metrics: Metrics,
    /// Inbox wake-ups.
    pub hub: Arc<Hub>,
    /// Device-list changes, for every authenticated connection.
    pub device_changes: broadcast::Sender<Vec<UserId>>,
    /// Key claims per device per minute.
    pub claims: RateLimiter<DeviceKey>,
    /// One-time keys handed to one claimer per target device per hour.
    pub one_time_claims: RateLimiter<(DeviceKey, DeviceAddress)>,
    /// Statements signed by a device (not the org), per publishing device
    /// per hour.
    pub device_statements: RateLimiter<DeviceKey>,
    /// Set when the relay is shutting down.
    pub stopping: watch::Receiver<bool>,
    /// Where blob files live.
    pub blob_dir: PathBuf,
    /// Blobs being uploaded right now (one upload per blob at a time).
    pub uploading: Mutex<std::collections::HashSet<[u8; 16]>>,
    /// WebSocket sessions (they outlive their HTTP connection's task).
    pub sessions: tokio_util::task::TaskTracker,
    /// Connections not signed in yet.
    pub gate: Arc<Gate>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Runs the relay in `dir` until `shutdown` completes, then stops accepting,
/// lets every connection finish the request it is handling, and returns.
/// Prints the listening address on stdout (tests and scripts read it).
pub async fn serve(dir: &Path, shutdown: impl Future<Output = ()>) -> Result<()> {
    let paths = Paths::new(dir);
    let config = Config::load(dir)?;
    let org = config.org_key().map_err(|reason| RelayError::Config { path: paths.config(), reason })?;
    if config.allow_classical_key_exchange {
        let warning = "allow_classical_key_exchange = true in relay.toml: clients WITHOUT post-quantum key \
                       exchange are accepted, and their recorded traffic could be decrypted by a future \
                       quantum computer. Every Belfry client offers X25519MLKEM768; remove the setting.";
        eprintln!("WARNING: {warning}");
        tracing::warn!("{warning}");
    }
    let tls = tls::server_config(&paths, config.allow_classical_key_exchange)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let storage = SqliteStorage::open(&paths.database())?;
    let blob_dir = paths.blobs();
    std::fs::create_dir_all(&blob_dir).map_err(|source| RelayError::Write { path: blob_dir.clone(), source })?;
    blobs::remove_partial_orphans(&blob_dir);

    let listener = TcpListener::bind(config.listen).await?;
    let local = listener.local_addr()?;
    let (stop_tx, stopping) = watch::channel(false);
    let (device_changes, _) = broadcast::channel(256);
    let limits = config.limits.clone();
    let shared = Arc::new(Shared {
        storage,
        config,
        org,
        metrics: Metrics::default(),
        hub: Arc::new(Hub::default()),
        device_changes,
        claims: RateLimiter::new(Duration::from_secs(60)),
        one_time_claims: RateLimiter::new(Duration::from_secs(3600)),
        device_statements: RateLimiter::new(Duration::from_secs(3600)),
        stopping: stopping.clone(),
        blob_dir,
        uploading: Mutex::new(Default::default()),
        sessions: tokio_util::task::TaskTracker::new(),
        gate: Gate::new(limits.pre_auth_per_address, limits.pre_auth_connections),
    });

    let mut background = JoinSet::new();
    if let Some(addr) = shared.config.metrics_listen {
        let metrics_listener = TcpListener::bind(addr).await?;
        println!("belfry-relay metrics on http://{}/metrics", metrics_listener.local_addr()?);
        background.spawn(serve_metrics(metrics_listener, shared.clone()));
    }
    background.spawn(sweep_loop(shared.clone()));
    println!("belfry-relay listening on wss://{local}/v1/ws");
    tracing::info!(%local, "listening");

    let router = router(shared.clone());
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if connections.len() >= shared.config.limits.max_connections {
                    drop(tcp);
                    continue;
                }
                // Turned away before any TLS work: too many connections
                // from this address, or in all, have not signed in yet.
                let slot = match shared.gate.admit(peer.ip()) {
                    Ok(slot) => slot,
                    Err(why) => {
                        shared.metrics.pre_auth_refused.inc();
                        tracing::debug!(%peer, ?why, "connection refused before sign-in");
                        drop(tcp);
                        continue;
                    }
                };
                connections.spawn(connection(shared.clone(), acceptor.clone(), router.clone(), tcp, peer, slot));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    tracing::info!(open = connections.len(), "shutting down: no new connections");
    drop(listener);
    let _ = stop_tx.send(true);
    shared.sessions.close();
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while connections.join_next().await.is_some() {}
        shared.sessions.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(open = connections.len(), "connections still open after 10 s; closing them");
        connections.abort_all();
    }
    background.abort_all();
    drop(router);
    drop(shared);
    tracing::info!("stopped");
    Ok(())
}

fn router<S: Storage>(shared: Arc<Shared<S>>) -> Router {
    Router::new()
        .route("/v1/ws", get(ws_handler::<S>))
        .route(
            "/v1/blobs/{id}",
            axum::routing::put(blobs::upload::<S>).get(blobs::download::<S>).head(blobs::status::<S>),
        )
        .route("/healthz", get(|| async { "ok" }))
        .with_state(shared)
}

/// The WebSocket read buffer of a connection. tungstenite's default, 128 KiB,
/// is zero-filled on the first read and then stays resident: 128 KiB for
/// every idle connection. Frames larger than this still arrive whole (the
/// buffer grows to the frame); they are just read in smaller steps.
pub const WS_READ_BUFFER_BYTES: usize = 8 * 1024;

async fn ws_handler<S: Storage>(
    State(shared): State<Arc<Shared<S>>>,
    Extension(info): Extension<ConnInfo>,
    ws: WebSocketUpgrade,
) -> Response {
    let max = shared.config.limits.max_frame_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let sessions = shared.sessions.clone();
            sessions.track_future(session::run(socket, shared, info))
        })
        .into_response()
}

async fn connection<S: Storage>(
    shared: Arc<Shared<S>>,
    acceptor: tokio_rustls::TlsAcceptor,
    router: Router,
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Arc<PreAuth>,
) {
    let _ = tcp.set_nodelay(true);
    let limits = &shared.config.limits;
    let sign_in_by = Instant::now() + Duration::from_secs(limits.auth_timeout_secs.max(1));
    let tcp = Budgeted::new(tcp, slot.clone(), limits.pre_auth_bytes);
    let handshake = tokio::time::timeout_at(sign_in_by.into(), acceptor.accept(tcp));
    let stream = match handshake.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.metrics.tls_failures.inc();
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            shared.metrics.tls_failures.inc();
            return;
        }
    };
    let mut exporter = [0u8; 32];
    if stream.get_ref().1.export_keying_material(&mut exporter, EXPORTER_LABEL, None).is_err() {
        return;
    }
    shared.metrics.connections.inc();
    shared.metrics.connections_total.inc();
    let info = ConnInfo { exporter, peer, pre_auth: slot.clone(), sign_in_by };
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(info.clone());
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.auth_timeout_secs.clamp(1, 30)))
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let mut stopping = shared.stopping.clone();
    tokio::select! {
        r = conn.as_mut() => { if let Err(e) = r { tracing::debug!(%peer, error = %e, "connection ended"); } }
        () = async { let _ = stopping.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
        // Not signed in (no authenticated device, no existing blob named)
        // in time: closed. A WebSocket session keeps the same deadline.
        () = async {
            tokio::time::sleep_until(sign_in_by.into()).await;
            if slot.released() { std::future::pending::<()>().await }
        } => {
            tracing::debug!(%peer, "closed: not signed in in time");
        }
    }
    shared.metrics.connections.dec();
}

async fn serve_metrics<S: Storage>(listener: TcpListener, shared: Arc<Shared<S>>) {
    let app = Router::new().route("/metrics", get(metrics_handler::<S>)).with_state(shared);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics listener failed");
    }
}

async fn metrics_handler<S: Storage>(State(shared): State<Arc<Shared<S>>>) -> Response {
    if let Ok(stats) = shared.storage.stats().await {
        shared.metrics.devices.set(stats.devices);
        shared.metrics.inbox_entries.set(stats.inbox_entries);
        shared.metrics.max_inbox_depth.set(stats.max_inbox_depth);
    }
    let mut body = String::new();
    if prometheus_client::encoding::text::encode(&mut body, &shared.metrics.registry()).is_err() {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed").into_response();
    }
    ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body)
        .into_response()
}

/// Drops what has outlived its retention, hourly.
async fn sweep_loop<S: Storage>(shared: Arc<Shared<S>>) {
    const DAY_MS: u64 = 86_400_000;
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let r = &shared.config.retention;
        let now = now_ms();
        let before = |days: u32| now.saturating_sub(u64::from(days) * DAY_MS);
        match shared.storage.sweep(before(r.inbox_days), before(r.publish_id_days), before(r.blob_days)).await {
            Ok((swept, expired)) => {
                for id in &expired {
                    blobs::remove_files(&shared.blob_dir, id);
                }
                if swept != Default::default() {
                    tracing::info!(?swept, "retention sweep");
                }
            }
            Err(e) => tracing::warn!(error = ?e, "retention sweep failed"),
        }
    }
}
