//! A real relay process on loopback, an org that signs what IT signs, and a
//! device client speaking the frame protocol over real TLS.

#![allow(dead_code)]

use belfry_protocol::cert::POSSESSION_LABEL;
use belfry_protocol::codec::{decode, encode};
use belfry_protocol::frames::{AuthProof, ClaimedPrekey, DeviceAddress, InboxEntry};
use belfry_protocol::signed::labelled_message;
use belfry_protocol::{
    ClientFrame, Curve25519Public, DeviceCert, DeviceChain, DeviceId, DisplayName, Ed25519Public, EnrollmentCert,
    InvitationId, Issuer, MessageId, Prekey, ProtocolError, RelayInfo, Request, Response, Revocation, RevocationTarget,
    RoomId, RoomMessage, ServerFrame, Signature, Signed, SignedBody, Statement, Timestamp, UserId, WipeOrder,
};
use ed25519_dalek::{Signer as _, SigningKey};
use futures_util::{SinkExt as _, StreamExt as _};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

pub const BIN: &str = env!("CARGO_BIN_EXE_belfry-relay");

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::fill(&mut b[..]);
    b
}

pub fn sign_with(key: &SigningKey) -> impl Fn(&[u8]) -> Signature + '_ {
    move |m| Signature(key.sign(m).to_bytes())
}

pub fn signed<T: SignedBody>(value: &T, key: &SigningKey) -> Signed<T> {
    Signed::sign(value, sign_with(key))
}

pub fn public(key: &SigningKey) -> Ed25519Public {
    Ed25519Public(key.verifying_key().to_bytes())
}

/// The organisation: its root key, as `belfry-admin` holds it.
pub struct Org {
    pub key: SigningKey,
}

impl Org {
    pub fn new() -> Self {
        Self { key: SigningKey::from_bytes(&random()) }
    }

    pub fn public(&self) -> Ed25519Public {
        public(&self.key)
    }

    /// An invitation for `user`, valid for an hour.
    pub fn invitation(&self, user: &str) -> (Signed<EnrollmentCert>, SigningKey) {
        let enrollment = SigningKey::from_bytes(&random());
        let now = now_ms();
        let cert = EnrollmentCert {
            org: self.public(),
            invitation: InvitationId(random()),
            user: UserId::new(user).unwrap(),
            display_name: DisplayName::new(user).unwrap(),
            enrollment_key: public(&enrollment),
            relay: RelayInfo { url: "wss://localhost:7443".into(), ca_sha256: belfry_protocol::Hash256([0; 32]) },
            not_before: Timestamp(now - 60_000),
            expires_at: Timestamp(now + 3_600_000),
        };
        (signed(&cert, &self.key), enrollment)
    }

    pub fn revoke_device(&self, user: &UserId, device: &DeviceId) -> Statement {
        Statement::Revocation(signed(
            &Revocation {
                org: self.public(),
                target: RevocationTarget::Device { user: user.clone(), device: device.clone() },
                issuer: Issuer::Org,
                reason: DisplayName::new("lost").unwrap(),
                issued_at: Timestamp(now_ms()),
            },
            &self.key,
        ))
    }

    /// Revokes an enrollment key (a stolen invitation) and every device it
    /// certified.
    pub fn revoke_enrollment(&self, key: &Ed25519Public) -> Statement {
        Statement::Revocation(signed(
            &Revocation {
                org: self.public(),
                target: RevocationTarget::Enrollment { key: *key },
                issuer: Issuer::Org,
                reason: DisplayName::new("invitation stolen").unwrap(),
                issued_at: Timestamp(now_ms()),
            },
            &self.key,
        ))
    }

    pub fn wipe(&self, user: &UserId, device: &DeviceId) -> Statement {
        Statement::Wipe(signed(
            &WipeOrder {
                org: self.public(),
                user: user.clone(),
                device: device.clone(),
                issuer: Issuer::Org,
                issued_at: Timestamp(now_ms()),
            },
            &self.key,
        ))
    }
}

/// A device's identity: keys and its certificate chain.
pub struct Identity {
    pub user: UserId,
    pub device: DeviceId,
    pub key: SigningKey,
    pub chain: DeviceChain,
    pub invitation: Signed<EnrollmentCert>,
}

impl Identity {
    pub fn new(org: &Org, user: &str, device: &str) -> Self {
        let (invitation, enrollment) = org.invitation(user);
        Self::from_invitation(org, invitation, &enrollment, device)
    }

    pub fn from_invitation(
        org: &Org,
        invitation: Signed<EnrollmentCert>,
        enrollment: &SigningKey,
        device: &str,
    ) -> Self {
        let key = SigningKey::from_bytes(&random());
        let user = invitation.peek_unverified().unwrap().user;
        let cert = DeviceCert {
            org: org.public(),
            user: user.clone(),
            device: DeviceId::new(device).unwrap(),
            device_name: DisplayName::new("Test laptop").unwrap(),
            ed25519: public(&key),
            curve25519: Curve25519Public(random()),
            enrollment_key: public(enrollment),
            issued_at: Timestamp(now_ms()),
        };
        let device_signed = signed(&cert, enrollment);
        let possession = Signature(key.sign(&labelled_message(POSSESSION_LABEL, device_signed.body())).to_bytes());
        let chain = DeviceChain { enrollment: invitation.clone(), device: device_signed, possession };
        Self { user, device: cert.device, key, chain, invitation }
    }

    pub fn address(&self) -> DeviceAddress {
        DeviceAddress { user: self.user.clone(), device: self.device.clone() }
    }

    pub fn prekey(&self, fallback: bool) -> Signed<Prekey> {
        signed(
            &Prekey { user: self.user.clone(), device: self.device.clone(), key: Curve25519Public(random()), fallback },
            &self.key,
        )
    }

    /// A room message "from" this device (opaque bytes: the relay never
    /// decrypts).
    pub fn room_message(&self, room: RoomId, body: &[u8]) -> RoomMessage {
        RoomMessage {
            room,
            sender: self.user.clone(),
            sender_device: self.device.clone(),
            session: public(&self.key),
            ciphertext: body.to_vec(),
        }
    }
}

/// A relay directory and, while running, its process.
pub struct Relay {
    pub dir: tempfile::TempDir,
    pub org: Org,
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when relay.toml sets `metrics_listen`.
    pub metrics_addr: Option<SocketAddr>,
    child: Option<Child>,
}

impl Relay {
    /// `belfry-relay init` in a new directory, then `serve`.
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// As [`start`], editing relay.toml first.
    pub fn start_with(edit: impl FnOnce(&mut String)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let org = Org::new();
        let relay_dir = dir.path().join("relay");
        let out = Command::new(BIN)
            .args(["init", "--dir"])
            .arg(&relay_dir)
            .args(["--name", "relay.test", "--listen", "127.0.0.1:0", "--org-key", &org.public().to_base64()])
            .output()
            .unwrap();
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        let config = relay_dir.join("relay.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        edit(&mut text);
        std::fs::write(&config, text).unwrap();
        let mut relay = Self { dir, org, addr: "127.0.0.1:1".parse().unwrap(), metrics_addr: None, child: None };
        relay.spawn();
        relay
    }

    pub fn relay_dir(&self) -> PathBuf {
        self.dir.path().join("relay")
    }

    /// Starts `serve` and waits for its "listening" line.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none());
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("relay.log")).unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--dir"])
            .arg(self.relay_dir())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().expect("relay exited before listening").unwrap();
            if let Some(rest) = line.strip_prefix("belfry-relay metrics on http://") {
                self.metrics_addr = Some(rest.trim_end_matches("/metrics").parse().unwrap());
            }
            if let Some(rest) = line.strip_prefix("belfry-relay listening on wss://") {
                break rest.trim_end_matches("/v1/ws").parse().unwrap();
            }
        };
        // Keep draining stdout so the relay never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        self.addr = addr;
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit; returns the exit status.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        c.wait().unwrap()
    }

    /// Waits for a relay stopped by a signal sent elsewhere.
    pub fn terminate_wait(&mut self) -> std::process::ExitStatus {
        self.child.take().unwrap().wait().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("relay.log")).unwrap_or_default()
    }

    pub fn ca(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.relay_dir().join("ca.pem")).unwrap()
    }

    /// A TLS 1.3 client config trusting this relay's CA.
    pub fn tls_config(&self) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca()).unwrap();
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_protocol_versions(&[&rustls::version::TLS13])
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }

    pub async fn tls(&self, config: rustls::ClientConfig) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
    }

    /// The operator distributes an org statement: `belfry-relay statement`.
    pub fn distribute(&self, statement: &Statement) {
        use belfry_protocol::Wire as _;
        use belfry_protocol::armor::{STATEMENT_LABEL, armor};
        let file = self.dir.path().join(format!("s{}.belfry-statement", u32::from_le_bytes(random())));
        std::fs::write(&file, armor(STATEMENT_LABEL, &statement.encode())).unwrap();
        let out = Command::new(BIN).args(["statement", "--dir"]).arg(self.relay_dir()).arg(&file).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// TLS from a given loopback source address (127.0.0.x), as if from
    /// another host.
    pub async fn tls_from(&self, source: std::net::Ipv4Addr) -> std::io::Result<TlsStream<TcpStream>> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source.into(), 0))?;
        let tcp = socket.connect(self.addr).await?;
        tokio_rustls::TlsConnector::from(Arc::new(self.tls_config()))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
    }

    /// A connected, unauthenticated client from `source` (127.0.0.x), or
    /// None when the relay turned the connection away.
    pub async fn connect_from(&self, source: std::net::Ipv4Addr) -> Option<Client> {
        let tls = tokio::time::timeout(Duration::from_secs(10), self.tls_from(source)).await.ok()?.ok()?;
        let exporter = exporter_of(&tls);
        let (ws, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::client_async("wss://localhost/v1/ws", tls),
        )
        .await
        .ok()?
        .ok()?;
        let mut c = Client::from_ws(ws, exporter);
        match c.frame().await {
            Some(ServerFrame::Challenge { nonce }) => c.nonce = nonce,
            _ => return None,
        }
        Some(c)
    }

    /// A connected, unauthenticated client.
    pub async fn connect(&self) -> Client {
        Client::connect(self.tls(self.tls_config()).await.unwrap()).await
    }

    /// Registers an invitation and enrolls `id` on a fresh connection, then
    /// authenticates; uploads `prekeys` one-time keys and a fallback key.
    pub async fn enroll(&self, id: &Identity, prekeys: usize) -> Client {
        let mut c = self.connect().await;
        c.ok(Request::RegisterInvitation(id.invitation.clone())).await;
        c.ok(Request::Enroll(id.chain.clone())).await;
        c.authenticate(id).await.unwrap();
        if prekeys > 0 {
            let one_time = (0..prekeys).map(|_| id.prekey(false)).collect();
            c.ok(Request::UploadPrekeys { one_time, fallback: Some(id.prekey(true)) }).await;
        }
        c
    }

    /// A new authenticated connection for an enrolled device.
    pub async fn login(&self, id: &Identity) -> Client {
        let mut c = self.connect().await;
        c.authenticate(id).await.unwrap();
        c
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub type Ws = WebSocketStream<TlsStream<TcpStream>>;

/// One device connection.
pub struct Client {
    pub ws: Ws,
    pub nonce: [u8; 32],
    pub exporter: [u8; 32],
    next_id: u64,
    pub inbox: VecDeque<InboxEntry>,
    pub device_changes: Vec<Vec<UserId>>,
    pub closing: Option<ProtocolError>,
    pub next_seq: u64,
    /// Empty Inbox frames received ("you have everything").
    pub caught_up: u32,
    /// Statements given with a refused login.
    pub revoked: Vec<belfry_protocol::Statement>,
}

pub fn exporter_of(tls: &TlsStream<TcpStream>) -> [u8; 32] {
    let mut out = [0u8; 32];
    tls.get_ref().1.export_keying_material(&mut out, b"EXPORTER-belfry-auth", None).unwrap();
    out
}

impl Client {
    fn from_ws(ws: Ws, exporter: [u8; 32]) -> Self {
        Self {
            ws,
            nonce: [0; 32],
            exporter,
            next_id: 1,
            inbox: VecDeque::new(),
            device_changes: Vec::new(),
            closing: None,
            next_seq: 0,
            caught_up: 0,
            revoked: Vec::new(),
        }
    }

    pub async fn connect(tls: TlsStream<TcpStream>) -> Self {
        let exporter = exporter_of(&tls);
        let (ws, _) = tokio_tungstenite::client_async("wss://localhost/v1/ws", tls).await.unwrap();
        let mut c = Self::from_ws(ws, exporter);
        match c.frame().await {
            Some(ServerFrame::Challenge { nonce }) => c.nonce = nonce,
            other => panic!("expected a challenge, got {other:?}"),
        }
        c
    }

    pub fn proof(&self, id: &Identity) -> Signed<AuthProof> {
        signed(
            &AuthProof {
                challenge: self.nonce,
                tls_exporter: self.exporter,
                user: id.user.clone(),
                device: id.device.clone(),
            },
            &id.key,
        )
    }

    pub async fn authenticate(&mut self, id: &Identity) -> Result<u64, ProtocolError> {
        let proof = self.proof(id);
        match self.request(Request::Authenticate(proof)).await? {
            Response::Authenticated { next_seq } => {
                self.next_seq = next_seq;
                Ok(next_seq)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Next server frame (None when the connection ends).
    pub async fn frame(&mut self) -> Option<ServerFrame> {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(20), self.ws.next()).await.ok()??.ok()?;
            match msg {
                Message::Binary(b) => return Some(decode(&b).unwrap()),
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    pub async fn send_raw(&mut self, msg: Message) {
        let _ = self.ws.send(msg).await;
    }

    pub async fn send(&mut self, request: Request) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let _ = self.ws.send(Message::Binary(encode(&ClientFrame { id, request }).into())).await;
        id
    }

    /// Sends a request and waits for its answer, keeping pushed frames.
    pub async fn request(&mut self, request: Request) -> Result<Response, ProtocolError> {
        let id = self.send(request).await;
        loop {
            match self.frame().await {
                Some(ServerFrame::Response { id: got, result }) if got == id => return result,
                Some(f) => self.keep(f),
                None => panic!("connection closed while waiting for an answer: {:?}", self.closing),
            }
        }
    }

    fn keep(&mut self, f: ServerFrame) {
        match f {
            ServerFrame::Inbox(entries) => {
                if entries.is_empty() {
                    self.caught_up += 1;
                }
                self.inbox.extend(entries)
            }
            ServerFrame::DevicesChanged(users) => self.device_changes.push(users),
            ServerFrame::Closing(e) => self.closing = Some(e),
            ServerFrame::Revoked(statements) => self.revoked.extend(statements),
            other => panic!("unexpected frame {other:?}"),
        }
    }

    pub async fn ok(&mut self, request: Request) {
        let r = self.request(request).await;
        assert_eq!(r, Ok(Response::Ok));
    }

    /// Waits until at least `n` inbox entries are buffered.
    pub async fn wait_inbox(&mut self, n: usize) {
        while self.inbox.len() < n {
            match self.frame().await {
                Some(f) => self.keep(f),
                None => panic!("connection closed with {} of {n} entries: {:?}", self.inbox.len(), self.closing),
            }
        }
    }

    /// Waits for the relay's "caught up" marker (an empty Inbox frame).
    pub async fn wait_caught_up(&mut self) {
        let seen = self.caught_up;
        while self.caught_up == seen {
            match self.frame().await {
                Some(f) => self.keep(f),
                None => panic!("connection closed before catching up"),
            }
        }
    }

    /// Waits for a device-list change naming `user`.
    pub async fn wait_device_change(&mut self, user: &UserId) {
        while !self.device_changes.iter().any(|u| u.contains(user)) {
            match self.frame().await {
                Some(f) => self.keep(f),
                None => panic!("connection closed before a device change for {user}"),
            }
        }
    }

    /// Reads until the connection closes; returns the closing reason.
    pub async fn closed(&mut self) -> Option<ProtocolError> {
        while let Some(f) = self.frame().await {
            match f {
                ServerFrame::Closing(e) => self.closing = Some(e),
                ServerFrame::Response { .. } => {}
                other => self.keep(other),
            }
        }
        self.closing.clone()
    }

    pub async fn publish_room(&mut self, from: &Identity, room: RoomId, body: &[u8], to: &[&Identity]) -> MessageId {
        let id = MessageId(random());
        let r = self
            .request(Request::PublishRoom {
                id,
                recipients: to.iter().map(|i| i.address()).collect(),
                message: from.room_message(room, body),
            })
            .await;
        assert_eq!(r, Ok(Response::Published { id }));
        id
    }

    pub async fn claim(&mut self, who: &[&Identity]) -> Vec<ClaimedPrekey> {
        match self.request(Request::ClaimPrekeys(who.iter().map(|i| i.address()).collect())).await {
            Ok(Response::Prekeys(p)) => p,
            other => panic!("claim failed: {other:?}"),
        }
    }
}

pub fn room() -> RoomId {
    RoomId(random())
}

pub fn body_of(entry: &InboxEntry) -> Vec<u8> {
    match &entry.item {
        belfry_protocol::frames::InboxItem::Room(m) => m.ciphertext.clone(),
        belfry_protocol::frames::InboxItem::ToDevice(m) => m.ciphertext.clone(),
        belfry_protocol::frames::InboxItem::Statement(_) => b"<statement>".to_vec(),
    }
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}

/// Connects to a relay at `addr` (which may be down or restarting) and reads
/// its challenge: `None` instead of a panic when anything fails.
pub async fn try_connect_to(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Option<Client> {
    let attempt = async {
        let tcp = TcpStream::connect(addr).await.ok()?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(ServerName::try_from("localhost").ok()?, tcp)
            .await
            .ok()?;
        let exporter = exporter_of(&tls);
        let (ws, _) = tokio_tungstenite::client_async("wss://localhost/v1/ws", tls).await.ok()?;
        let mut c = Client::from_ws(ws, exporter);
        match c.frame().await? {
            ServerFrame::Challenge { nonce } => c.nonce = nonce,
            _ => return None,
        }
        Some(c)
    };
    tokio::time::timeout(Duration::from_secs(10), attempt).await.ok()?
}

/// As [`try_connect_to`], then authenticates as `id`: `None` when the
/// connection fails or authentication is refused.
pub async fn try_login_to(addr: SocketAddr, config: Arc<rustls::ClientConfig>, id: &Identity) -> Option<Client> {
    let mut c = try_connect_to(addr, config).await?;
    let next_seq = tokio::time::timeout(Duration::from_secs(10), c.try_authenticate(id)).await.ok()??;
    c.next_seq = next_seq;
    Some(c)
}

impl Client {
    /// As [`Client::request`], but `None` when the connection ends first.
    pub async fn try_request(&mut self, request: Request) -> Option<Result<Response, ProtocolError>> {
        let id = self.send(request).await;
        loop {
            match self.frame().await? {
                ServerFrame::Response { id: got, result } if got == id => return Some(result),
                f => self.keep(f),
            }
        }
    }

    /// As [`Client::authenticate`], but `None` when the connection ends or
    /// authentication is refused.
    pub async fn try_authenticate(&mut self, id: &Identity) -> Option<u64> {
        let proof = self.proof(id);
        match self.try_request(Request::Authenticate(proof)).await? {
            Ok(Response::Authenticated { next_seq }) => {
                self.next_seq = next_seq;
                Some(next_seq)
            }
            _ => None,
        }
    }
}
