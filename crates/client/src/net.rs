//! The relay connection: TLS 1.3 to the organisation's relay, trusting only
//! the CA certificate from the signed invitation; WebSocket frames; device
//! authentication bound to the TLS session; requests answered by id;
//! reconnection with backoff and jitter.

use crate::error::{ClientError, Result};
use belfry_protocol::codec::{decode, encode};
use belfry_protocol::frames::{AuthProof, ClaimedPrekey, DeviceAddress, DirectoryEntry, InboxEntry};
use belfry_protocol::limits::{
    MAX_CLAIMS_PER_REQUEST, MAX_DIRECTORY_PAGE, MAX_FRAME_LEN, MAX_RECIPIENTS, MAX_REFUSAL_STATEMENTS,
};
use belfry_protocol::{
    ClientFrame, DeviceId, ProtocolError, Request, Response, ServerFrame, Signed, Statement, UserId,
};
use belfry_protocol::{ToDeviceEnvelope, Wire as _};
use futures_util::{SinkExt as _, StreamExt as _};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// How long a request waits for the relay's answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The TLS exporter label both ends use for device authentication.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-belfry-auth";

/// The only key exchange group the client offers: hybrid X25519 +
/// ML-KEM-768 (the relay requires it too, unless told otherwise).
pub const KEY_EXCHANGE_GROUP: rustls::NamedGroup = rustls::NamedGroup::X25519MLKEM768;

/// Where the relay is and how to recognise it.
#[derive(Clone)]
pub struct RelayTarget {
    /// `wss://host[:port]`.
    pub url: String,
    /// DER of the relay's CA certificate (from the invitation, whose
    /// signed certificate carries its hash).
    pub ca_der: Vec<u8>,
}

impl std::fmt::Debug for RelayTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayTarget").field("url", &self.url).finish_non_exhaustive()
    }
}

impl RelayTarget {
    /// The relay's host and port, from its `wss://` address.
    pub(crate) fn host_port(&self) -> Result<(String, u16)> {
        let bad = || ClientError::Config(format!("relay address {:?} is not wss://host[:port]", self.url));
        let rest = self.url.strip_prefix("wss://").ok_or_else(bad)?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
            (addr.to_owned(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (authority.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad())?,
            None => 443,
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok((host, port))
    }

    /// TLS 1.3 only, trusting only the relay's CA, offering only the hybrid
    /// post-quantum key exchange (no classical fallback a network attacker
    /// could steer the handshake to): the WebSocket and the blob transfers
    /// use the same configuration.
    pub fn tls_config(&self) -> Result<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(self.ca_der.clone()))
            .map_err(|e| ClientError::Config(format!("the relay CA certificate is unusable: {e}")))?;
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        provider.kx_groups.retain(|g| g.name() == KEY_EXCHANGE_GROUP);
        if provider.kx_groups.is_empty() {
            return Err(ClientError::Config("the TLS library lacks X25519MLKEM768".into()));
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| ClientError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// An open, not yet authenticated connection.
struct Conn {
    ws: Ws,
    nonce: [u8; 32],
    exporter: [u8; 32],
}

async fn open(target: &RelayTarget) -> Result<Conn> {
    let (host, port) = target.host_port()?;
    let config = target.tls_config()?;
    let tcp = tokio::time::timeout(Duration::from_secs(15), TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| ClientError::Offline(format!("connecting to {} timed out", target.url)))?
        .map_err(|e| ClientError::Offline(format!("cannot reach {}: {e}", target.url)))?;
    let _ = tcp.set_nodelay(true);
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|_| ClientError::Config(format!("{host:?} is not a valid relay host name")))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Offline(format!("TLS with {} failed: {e}", target.url)))?;
    let mut exporter = [0u8; 32];
    tls.get_ref()
        .1
        .export_keying_material(&mut exporter, EXPORTER_LABEL, None)
        .map_err(|e| ClientError::Offline(format!("TLS exporter: {e}")))?;
    let mut ws_config = WebSocketConfig::default();
    ws_config.max_message_size = Some(belfry_protocol::limits::MAX_FRAME_LEN);
    ws_config.max_frame_size = Some(belfry_protocol::limits::MAX_FRAME_LEN);
    let url = format!("wss://{}/v1/ws", target.url.trim_start_matches("wss://").trim_end_matches('/'));
    let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tls, Some(ws_config))
        .await
        .map_err(|e| ClientError::Offline(format!("WebSocket with {} failed: {e}", target.url)))?;
    let nonce = match next_frame(&mut ws).await? {
        ServerFrame::Challenge { nonce } => nonce,
        other => return Err(ClientError::Relay(format!("expected a challenge, got {}", frame_name(&other)))),
    };
    Ok(Conn { ws, nonce, exporter })
}

fn frame_name(f: &ServerFrame) -> &'static str {
    match f {
        ServerFrame::Challenge { .. } => "a challenge",
        ServerFrame::Response { .. } => "a response",
        ServerFrame::Inbox(_) => "inbox entries",
        ServerFrame::DevicesChanged(_) => "a device change",
        ServerFrame::Closing(_) => "a close",
        ServerFrame::Revoked(_) => "a refusal",
    }
}

async fn next_frame(ws: &mut Ws) -> Result<ServerFrame> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .map_err(|_| ClientError::Offline("the relay stopped answering".into()))?
            .ok_or_else(|| ClientError::Offline("the relay closed the connection".into()))?
            .map_err(|e| ClientError::Offline(format!("connection lost: {e}")))?;
        match msg {
            Message::Binary(b) => {
                return decode(&b).map_err(|e| ClientError::Relay(format!("undecodable frame from the relay: {e}")));
            }
            Message::Close(_) => return Err(ClientError::Offline("the relay closed the connection".into())),
            _ => {}
        }
    }
}

async fn call(conn: &mut Conn, id: u64, request: Request) -> Result<std::result::Result<Response, ProtocolError>> {
    conn.ws
        .send(Message::Binary(encode(&ClientFrame { id, request }).into()))
        .await
        .map_err(|e| ClientError::Offline(format!("connection lost: {e}")))?;
    loop {
        match next_frame(&mut conn.ws).await? {
            ServerFrame::Response { id: got, result } if got == id => return Ok(result),
            ServerFrame::Closing(e) => return Err(ClientError::Refused(e)),
            _ => {}
        }
    }
}

/// Enrolls a device on a fresh connection, then, authenticated on that
/// same connection, uploads its first one-time keys and fallback key.
pub async fn enroll(
    target: &RelayTarget,
    chain: belfry_protocol::DeviceChain,
    sign: &Signer,
    one_time: Vec<Signed<belfry_protocol::Prekey>>,
    fallback: Option<Signed<belfry_protocol::Prekey>>,
) -> std::result::Result<(), EnrollFailure> {
    let not_yet = |error| EnrollFailure { enrolled: false, error };
    let mut conn = open(target).await.map_err(not_yet)?;
    let (user, device) = {
        let cert = chain.device.peek_unverified().map_err(|e| not_yet(ClientError::Input(e.to_string())))?;
        (cert.user, cert.device)
    };
    call(&mut conn, 1, Request::Enroll(chain)).await.map_err(not_yet)?.map_err(|e| not_yet(ClientError::Refused(e)))?;
    let enrolled = |error| EnrollFailure { enrolled: true, error };
    let proof = AuthProof { challenge: conn.nonce, tls_exporter: conn.exporter, user, device };
    call(&mut conn, 2, Request::Authenticate(sign(&proof).map_err(enrolled)?))
        .await
        .map_err(enrolled)?
        .map_err(|e| enrolled(ClientError::Refused(e)))?;
    call(&mut conn, 3, Request::UploadPrekeys { one_time, fallback })
        .await
        .map_err(enrolled)?
        .map_err(|e| enrolled(ClientError::Refused(e)))?;
    let _ = conn.ws.close(None).await;
    Ok(())
}

/// Why [`enroll`] failed, and whether the relay had enrolled the device by
/// then (the invitation is spent; the device exists).
#[derive(Debug)]
pub struct EnrollFailure {
    /// The relay confirmed the enrollment before the failure.
    pub enrolled: bool,
    /// What failed.
    pub error: ClientError,
}

/// Signs a relay's authentication challenge as this device.
/// Fails with [`ClientError::Locked`] once the engine is locked (its key is gone).
pub type Signer = Arc<dyn Fn(&AuthProof) -> Result<Signed<AuthProof>> + Send + Sync>;

/// What the connection tells the engine.
#[derive(Debug, Clone)]
pub enum Push {
    /// Authenticated; the inbox follows.
    Connected {
        /// The first inbox sequence number still held by the relay.
        next_seq: u64,
    },
    /// Inbox entries, in order.
    Inbox(Vec<InboxEntry>),
    /// Users whose devices changed.
    DevicesChanged(Vec<UserId>),
    /// The relay refused this device's login and gave these statements as
    /// the reason (unverified: the engine checks each). At most
    /// [`MAX_REFUSAL_STATEMENTS`].
    Revoked(Vec<Statement>),
    /// The connection is down; it will be retried.
    Disconnected {
        /// Why, for people.
        reason: String,
    },
}

struct Pending {
    request: Request,
    reply: oneshot::Sender<Result<Response>>,
}

/// A handle to the connection task. Requests fail with
/// [`ClientError::Offline`] while it is down; the engine's outbox retries.
#[derive(Clone, Debug)]
pub struct Link {
    calls: mpsc::Sender<Pending>,
    stop: watch::Sender<bool>,
    /// Bumped to drop the connection (and have it opened again).
    reconnect: watch::Sender<u64>,
    task: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

impl Link {
    /// Starts the connection task for device `(user, device)`.
    pub fn spawn(
        target: RelayTarget,
        user: UserId,
        device: DeviceId,
        sign: Signer,
        pushes: mpsc::Sender<Push>,
    ) -> Self {
        let (calls, rx) = mpsc::channel(256);
        let (stop, stopped) = watch::channel(false);
        let (reconnect, kicked) = watch::channel(0);
        let task = tokio::spawn(drive(target, user, device, sign, pushes, rx, stopped, kicked));
        Self { calls, stop, reconnect, task: Arc::new(std::sync::Mutex::new(Some(task))) }
    }

    /// Drops the connection and opens a new one: the relay then delivers
    /// again everything not acknowledged (after a frame could not be
    /// stored).
    pub fn reconnect(&self) {
        self.reconnect.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Sends a request and waits for its answer.
    pub async fn request(&self, request: Request) -> Result<Response> {
        self.submit(request).await?.await
    }

    /// Queues a request on the connection and returns its answer to await:
    /// requests submitted one after another reach the relay in that order,
    /// however their answers are awaited.
    pub async fn submit(&self, request: Request) -> Result<impl std::future::Future<Output = Result<Response>>> {
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(Pending { request, reply })
            .await
            .map_err(|_| ClientError::Offline("the connection task has stopped".into()))?;
        Ok(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
                Ok(answer) => answer.map_err(|_| ClientError::Offline("the connection task has stopped".into()))?,
                Err(_) => Err(ClientError::Offline("the relay did not answer in time".into())),
            }
        })
    }

    /// The device lists of `users`, in requests within the relay's limits
    /// (at most [`MAX_CLAIMS_PER_REQUEST`] users each). The relay answers a
    /// request in order and may answer only the first users, to keep its
    /// answer within the frame limit; the others are asked again.
    pub async fn fetch_devices(&self, users: &[UserId]) -> Result<Vec<DirectoryEntry>> {
        let mut out = Vec::with_capacity(users.len());
        let mut rest = users;
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(MAX_CLAIMS_PER_REQUEST)];
            let Response::Devices(entries) = self.request(Request::FetchDevices(chunk.to_vec())).await? else {
                return Err(ClientError::Relay("unexpected answer to a device fetch".into()));
            };
            if entries.is_empty() || entries.len() > chunk.len() {
                return Err(ClientError::Relay(format!(
                    "the relay answered a fetch of {} users with {} entries",
                    chunk.len(),
                    entries.len()
                )));
            }
            rest = &rest[entries.len()..];
            out.extend(entries);
        }
        Ok(out)
    }

    /// One page of the organisation's directory: the entries of the users
    /// after `after`, in id order, at most [`MAX_DIRECTORY_PAGE`]. Empty at
    /// the end. Entries are signed blobs still to verify; a page out of
    /// order (which could keep a walk from ending) is refused.
    pub async fn list_directory(&self, after: Option<&UserId>) -> Result<Vec<DirectoryEntry>> {
        let request = Request::ListDirectory { after: after.cloned(), limit: MAX_DIRECTORY_PAGE };
        let Response::Devices(entries) = self.request(request).await? else {
            return Err(ClientError::Relay("unexpected answer to a directory listing".into()));
        };
        let mut last = after;
        for entry in &entries {
            if last.is_some_and(|l| entry.user <= *l) {
                return Err(ClientError::Relay("the relay listed the directory out of order".into()));
            }
            last = Some(&entry.user);
        }
        if entries.len() > MAX_DIRECTORY_PAGE as usize {
            return Err(ClientError::Relay(format!("the relay listed {} users in one page", entries.len())));
        }
        Ok(entries)
    }

    /// Claims a prekey of each device, in requests within the relay's limit
    /// (at most [`MAX_CLAIMS_PER_REQUEST`] devices each), sent together.
    pub async fn claim_prekeys(&self, devices: Vec<DeviceAddress>) -> Result<Vec<ClaimedPrekey>> {
        let mut answers = Vec::new();
        for chunk in devices.chunks(MAX_CLAIMS_PER_REQUEST) {
            answers.push(self.submit(Request::ClaimPrekeys(chunk.to_vec())).await?);
        }
        let mut out = Vec::with_capacity(devices.len());
        for answer in answers {
            match answer.await? {
                Response::Prekeys(p) => out.extend(p),
                _ => return Err(ClientError::Relay("unexpected answer to a key claim".into())),
            }
        }
        Ok(out)
    }

    /// Stops the connection task.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Changes to the stop flag, for tasks that must end with the link.
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Stops the connection task and waits until the connection is closed.
    pub async fn stop_and_wait(&self) {
        self.stop();
        let task = match self.task.lock() {
            Ok(mut t) => t.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    target: RelayTarget,
    user: UserId,
    device: DeviceId,
    sign: Signer,
    pushes: mpsc::Sender<Push>,
    mut calls: mpsc::Receiver<Pending>,
    mut stopped: watch::Receiver<bool>,
    mut kicked: watch::Receiver<u64>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if *stopped.borrow() {
            return;
        }
        let reason = match connect_and_authenticate(&target, &user, &device, &sign, &pushes).await {
            Ok((conn, next_seq)) => {
                backoff = Duration::from_millis(200);
                // A reconnection asked for before this connection opened
                // is done already.
                kicked.borrow_and_update();
                if pushes.send(Push::Connected { next_seq }).await.is_err() {
                    return;
                }
                match serve(conn, &pushes, &mut calls, &mut stopped, &mut kicked).await {
                    Ended::Stopped => return,
                    Ended::Lost(reason) => reason,
                }
            }
            Err(e) => e.to_string(),
        };
        tracing::info!(%reason, %user, %device, "relay connection down");
        if pushes.send(Push::Disconnected { reason }).await.is_err() {
            return;
        }
        // Back off with jitter, refusing requests meanwhile.
        let jitter = u64::from(rand::random::<u16>()) % (backoff.as_millis() as u64 / 2 + 1);
        let wait = tokio::time::sleep(backoff + Duration::from_millis(jitter));
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                _ = stopped.changed() => return,
                call = calls.recv() => match call {
                    Some(p) => { let _ = p.reply.send(Err(ClientError::Offline("not connected to the relay".into()))); }
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

async fn connect_and_authenticate(
    target: &RelayTarget,
    user: &UserId,
    device: &DeviceId,
    sign: &Signer,
    pushes: &mpsc::Sender<Push>,
) -> Result<(Conn, u64)> {
    let mut conn = open(target).await?;
    let proof =
        AuthProof { challenge: conn.nonce, tls_exporter: conn.exporter, user: user.clone(), device: device.clone() };
    conn.ws
        .send(Message::Binary(encode(&ClientFrame { id: 0, request: Request::Authenticate(sign(&proof)?) }).into()))
        .await
        .map_err(|e| ClientError::Offline(format!("connection lost: {e}")))?;
    // Statements the relay gives with a refusal: only what it says, until
    // the engine has checked each signature against the org key.
    let mut statements = Vec::new();
    let answer = loop {
        match next_frame(&mut conn.ws).await? {
            ServerFrame::Response { id: 0, result } => break result,
            ServerFrame::Closing(e) => break Err(e),
            ServerFrame::Revoked(given) => {
                let room = MAX_REFUSAL_STATEMENTS.saturating_sub(statements.len());
                statements.extend(given.into_iter().take(room));
            }
            _ => {}
        }
    };
    match answer {
        Ok(Response::Authenticated { next_seq }) => Ok((conn, next_seq)),
        Ok(_) => Err(ClientError::Relay("unexpected answer to authentication".into())),
        Err(e) => {
            if !statements.is_empty() {
                // The engine may be gone already; the refusal stands.
                let _ = pushes.send(Push::Revoked(statements)).await;
            }
            Err(ClientError::Refused(e))
        }
    }
}

enum Ended {
    Stopped,
    Lost(String),
}

async fn serve(
    mut conn: Conn,
    pushes: &mpsc::Sender<Push>,
    calls: &mut mpsc::Receiver<Pending>,
    stopped: &mut watch::Receiver<bool>,
    kicked: &mut watch::Receiver<u64>,
) -> Ended {
    let mut next_id: u64 = 1;
    let mut waiting: HashMap<u64, oneshot::Sender<Result<Response>>> = HashMap::new();
    let ended = loop {
        tokio::select! {
            _ = stopped.changed() => {
                let _ = conn.ws.close(None).await;
                break Ended::Stopped;
            }
            Ok(()) = kicked.changed() => {
                let _ = conn.ws.close(None).await;
                break Ended::Lost("reconnecting, to have the inbox delivered again".into());
            }
            call = calls.recv() => {
                let Some(Pending { request, reply }) = call else { break Ended::Stopped };
                let id = next_id;
                next_id += 1;
                if let Err(e) = conn.ws.send(Message::Binary(encode(&ClientFrame { id, request }).into())).await {
                    let _ = reply.send(Err(ClientError::Offline(format!("connection lost: {e}"))));
                    break Ended::Lost(format!("connection lost: {e}"));
                }
                waiting.insert(id, reply);
            }
            msg = conn.ws.next() => {
                let frame = match msg {
                    Some(Ok(Message::Binary(b))) => match decode::<ServerFrame>(&b) {
                        Ok(f) => f,
                        Err(e) => break Ended::Lost(format!("undecodable frame from the relay: {e}")),
                    },
                    Some(Ok(Message::Close(_))) | None => break Ended::Lost("the relay closed the connection".into()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break Ended::Lost(format!("connection lost: {e}")),
                };
                match frame {
                    ServerFrame::Response { id, result } => {
                        if let Some(reply) = waiting.remove(&id) {
                            let _ = reply.send(result.map_err(ClientError::Refused));
                        }
                    }
                    // Never wait on the engine here: it may be waiting on
                    // an answer this loop has to read. An engine far behind
                    // drops the connection; the relay redelivers what was
                    // not acknowledged.
                    ServerFrame::Inbox(entries) => match pushes.try_send(Push::Inbox(entries)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            break Ended::Lost("the engine is behind; reconnecting".into())
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => break Ended::Stopped,
                    },
                    ServerFrame::DevicesChanged(users) => match pushes.try_send(Push::DevicesChanged(users)) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            break Ended::Lost("the engine is behind; reconnecting".into())
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => break Ended::Stopped,
                    },
                    ServerFrame::Closing(e) => break Ended::Lost(format!("the relay closed the connection: {}", e.message)),
                    ServerFrame::Challenge { .. } => break Ended::Lost("unexpected challenge".into()),
                    // Only ever sent with a refused login.
                    ServerFrame::Revoked(_) => break Ended::Lost("unexpected refusal after login".into()),
                }
            }
        }
    };
    for (_, reply) in waiting {
        let _ = reply.send(Err(ClientError::Offline("the connection was lost before the relay answered".into())));
    }
    ended
}

/// Bytes of envelopes one to-device publish carries, at most: the frame
/// limit less room for the rest of the frame.
const TO_DEVICE_BYTES_PER_PUBLISH: usize = MAX_FRAME_LEN - 64 * 1024;

/// Splits to-device messages into publishes the relay accepts: at most
/// [`MAX_RECIPIENTS`] messages and well under the frame limit each (a room
/// key for hundreds of devices, each sealed with ML-KEM too, is more than
/// one frame).
pub fn to_device_batches(messages: Vec<ToDeviceEnvelope>) -> Vec<Vec<ToDeviceEnvelope>> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for m in messages {
        let len = m.encode().len() + 16;
        if !batch.is_empty() && (batch.len() >= MAX_RECIPIENTS || bytes + len > TO_DEVICE_BYTES_PER_PUBLISH) {
            out.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += len;
        batch.push(m);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}
