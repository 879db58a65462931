//! A real `belfry-relay` process, an organisation that invites people, and
//! engines enrolled from its invitations.

#![allow(dead_code)]

use belfry_client::profile::{KeySource, Profile};
use belfry_client::{Engine, Event};
use belfry_crypto::{InvitationRequest, OrgKey};
use belfry_protocol::armor::{REGISTRATION_LABEL, armor};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::{DisplayName, Invitation, Registration, UserId, Wire as _};
use belfry_store::passphrase::KdfCost;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::sync::broadcast;

/// The relay binary next to this test binary, brought up to date once per
/// test process (a no-op when it is: `cargo nextest run --workspace` has
/// built it already, but `-p belfry-client` alone would otherwise run
/// whatever relay an earlier build left there).
pub fn relay_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().unwrap().parent().unwrap().to_owned();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .args(["build", "--quiet", "-p", "belfry-relay", "--bin", "belfry-relay"])
                .status()
                .unwrap();
            assert!(status.success(), "cannot build belfry-relay");
            dir.join("belfry-relay")
        })
        .clone()
}

pub fn now() -> Timestamp {
    Timestamp(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64)
}

/// A relay process with its directory and the org it serves.
pub struct TestRelay {
    pub dir: tempfile::TempDir,
    pub org: OrgKey,
    pub url: String,
    pub ca_der: Vec<u8>,
    child: Option<Child>,
}

impl TestRelay {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// A relay whose `relay.toml` is first edited by `edit`.
    pub fn start_with(edit: impl FnOnce(&mut String)) -> Self {
        // As every host does first (opening a profile requires it).
        belfry_client::hardening::harden_process();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("belfry_client=debug"))
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let org = OrgKey::generate();
        let out = Command::new(relay_bin())
            .args(["init", "--dir"])
            .arg(dir.path().join("relay"))
            .args(["--name", "localhost", "--listen", "127.0.0.1:0", "--org-key", &org.public().to_base64()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        // Keep-alive pings (a third of the idle timeout) also make the relay
        // look for inbox entries written behind its back (the hostile-relay
        // tests write them straight into its database).
        let config = dir.path().join("relay/relay.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        let mut text = text.replace("idle_timeout_secs = 120", "idle_timeout_secs = 3");
        edit(&mut text);
        std::fs::write(&config, text).unwrap();
        let pem = std::fs::read_to_string(dir.path().join("relay/ca.pem")).unwrap();
        let ca_der = pem_to_der(&pem);
        let mut relay = Self { dir, org, url: String::new(), ca_der, child: None };
        relay.spawn();
        relay
    }

    pub fn relay_dir(&self) -> PathBuf {
        self.dir.path().join("relay")
    }

    pub fn spawn(&mut self) {
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("relay.log")).unwrap();
        let mut child = Command::new(relay_bin())
            .args(["serve", "--dir"])
            .arg(self.relay_dir())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("the relay exited before listening").unwrap();
            if let Some(rest) = line.strip_prefix("belfry-relay listening on wss://") {
                break rest.trim_end_matches("/v1/ws").to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        // The certificate names localhost; the invitation says so too.
        let port = addr.rsplit(':').next().unwrap().to_owned();
        self.url = format!("wss://localhost:{port}");
        self.child = Some(child);
        // Restarts keep the port: clients keep the address from their
        // invitation.
        let config = self.relay_dir().join("relay.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, text.replace("listen = \"127.0.0.1:0\"", &format!("listen = \"127.0.0.1:{port}\"")))
            .unwrap();
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// IT issues and registers an invitation for `user`.
    pub fn invite(&self, user: &str) -> Invitation {
        self.invite_at(user, &self.url.clone())
    }

    /// An invitation that names `url` as the relay's address (a proxy in
    /// front of it; the certificate still names localhost).
    pub fn invite_at(&self, user: &str, url: &str) -> Invitation {
        self.invite_named(user, user, url)
    }

    /// An invitation for `user` under the display name IT gives them.
    pub fn invite_named(&self, user: &str, display_name: &str, url: &str) -> Invitation {
        let invitation = self
            .org
            .invite(
                &InvitationRequest {
                    user: UserId::new(user).unwrap(),
                    display_name: DisplayName::new(display_name).unwrap(),
                    relay_url: url.to_owned(),
                    relay_ca_der: self.ca_der.clone(),
                    valid_for_ms: 3_600_000,
                },
                now(),
            )
            .unwrap();
        let file = self.dir.path().join(format!("{user}-{}.belfry-registration", rand::random::<u32>()));
        let registration = Registration { enrollment: invitation.enrollment.clone() };
        std::fs::write(&file, armor(REGISTRATION_LABEL, &registration.encode())).unwrap();
        let out =
            Command::new(relay_bin()).args(["register", "--dir"]).arg(self.relay_dir()).arg(&file).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        invitation
    }

    /// The hostile relay: every inbox item it still holds that `sender`
    /// published, oldest first (read from its database, as a relay host can).
    pub fn held_items(&self) -> Vec<belfry_protocol::frames::InboxItem> {
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut stmt = db.prepare("SELECT item FROM payloads ORDER BY id").unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0)).unwrap();
        rows.map(|r| belfry_protocol::codec::decode(&r.unwrap()).unwrap()).collect()
    }

    /// Where `user`/`device`'s inbox will continue: its next sequence
    /// number. (Payload ids are no mark: SQLite reuses freed ones.)
    pub fn mark(&self, user: &str, device: &str) -> i64 {
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.query_row(
            "SELECT next_seq FROM devices WHERE user = ?1 AND device = ?2",
            rusqlite::params![user, device],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// Room items in `user`/`device`'s inbox from sequence `since` on,
    /// oldest first, with their payload ids.
    pub fn room_items_since(&self, user: &str, device: &str, since: i64) -> Vec<(i64, belfry_protocol::RoomMessage)> {
        self.inbox_items_since(user, device, since)
            .into_iter()
            .filter_map(|(id, item)| match item {
                belfry_protocol::frames::InboxItem::Room(m) => Some((id, m)),
                _ => None,
            })
            .collect()
    }

    /// Every item `user`/`device`'s inbox holds from sequence `since` on,
    /// in order, with its payload id (read from the relay's database).
    pub fn inbox_items_since(
        &self,
        user: &str,
        device: &str,
        since: i64,
    ) -> Vec<(i64, belfry_protocol::frames::InboxItem)> {
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut stmt = db
            .prepare(
                "SELECT payloads.id, payloads.item FROM inbox JOIN payloads ON payloads.id = inbox.payload \
                 WHERE inbox.device = (SELECT id FROM devices WHERE user = ?1 AND device = ?2) AND inbox.seq >= ?3 \
                 ORDER BY inbox.seq",
            )
            .unwrap();
        let rows = stmt
            .query_map(rusqlite::params![user, device, since], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .unwrap();
        rows.map(|r| {
            let (id, item) = r.unwrap();
            (id, belfry_protocol::codec::decode(&item).unwrap())
        })
        .collect()
    }

    /// The relay's routing tables, for failure messages.
    pub fn debug_state(&self) -> String {
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut out = String::new();
        let mut stmt = db.prepare("SELECT id, user, device, next_seq, depth FROM devices").unwrap();
        for r in stmt
            .query_map([], |r| {
                Ok(format!(
                    "device {}: {}/{} next_seq {} depth {}\n",
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?
                ))
            })
            .unwrap()
        {
            out.push_str(&r.unwrap());
        }
        let mut stmt = db.prepare("SELECT device, seq, payload FROM inbox ORDER BY device, seq").unwrap();
        for r in stmt
            .query_map([], |r| {
                Ok(format!(
                    "inbox {} seq {} payload {}\n",
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?
                ))
            })
            .unwrap()
        {
            out.push_str(&r.unwrap());
        }
        let n: i64 = db.query_row("SELECT count(*) FROM published", [], |r| r.get(0)).unwrap();
        out.push_str(&format!("published ids: {n}\n"));
        out
    }

    /// The relay drops every revocation and wipe order from one device's
    /// inbox (a hostile relay, or one restored from an old backup); its
    /// directory still serves them. Returns how many it dropped.
    pub fn withhold_statements(&self, user: &str, device: &str) -> usize {
        let statements: Vec<i64> = self
            .inbox_items_since(user, device, 0)
            .into_iter()
            .filter(|(_, item)| matches!(item, belfry_protocol::frames::InboxItem::Statement(_)))
            .map(|(payload, _)| payload)
            .collect();
        for payload in &statements {
            self.withhold(user, device, *payload);
        }
        statements.len()
    }

    /// The hostile relay silently drops a stored item from one device's inbox.
    pub fn withhold(&self, user: &str, device: &str, payload: i64) {
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let n = db
            .execute(
                "DELETE FROM inbox WHERE payload = ?1 AND device = (SELECT id FROM devices WHERE user = ?2 AND device = ?3)",
                rusqlite::params![payload, user, device],
            )
            .unwrap();
        assert_eq!(n, 1, "nothing to withhold");
    }

    /// IT hands the relay an org-signed statement file, which it stores
    /// and delivers (`belfry-relay statement`).
    pub fn distribute(&self, statement: &belfry_protocol::Statement) {
        use belfry_protocol::armor::STATEMENT_LABEL;
        let file = self.dir.path().join(format!("{}.belfry-statement", rand::random::<u32>()));
        std::fs::write(&file, armor(STATEMENT_LABEL, &statement.encode())).unwrap();
        let out =
            Command::new(relay_bin()).args(["statement", "--dir"]).arg(self.relay_dir()).arg(&file).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// The hostile relay lists a device of its own making for `user`.
    pub fn plant_device(&self, chain: &belfry_protocol::DeviceChain) {
        let cert = chain.device.peek_unverified().unwrap();
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.execute(
            "INSERT INTO devices (user, device, ed25519, chain, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![
                cert.user.as_str(),
                cert.device.as_str(),
                cert.ed25519.as_bytes().to_vec(),
                belfry_protocol::codec::encode(chain),
                now().0 as i64
            ],
        )
        .unwrap();
    }

    /// The depth of a device's inbox at the relay.
    pub fn inbox_depth(&self, user: &str, device: &str) -> i64 {
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.query_row(
            "SELECT count(*) FROM inbox WHERE device = (SELECT id FROM devices WHERE user = ?1 AND device = ?2)",
            rusqlite::params![user, device],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// The hostile relay puts `item` into the inbox of `user`/`device`, as
    /// modified relay code could.
    pub fn inject(&self, user: &str, device: &str, item: &belfry_protocol::frames::InboxItem) {
        self.inject_all(user, device, std::slice::from_ref(item));
    }

    /// [`inject`](Self::inject) for many items, in order, in one transaction.
    pub fn inject_all(&self, user: &str, device: &str, items: &[belfry_protocol::frames::InboxItem]) {
        let mut db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
        for item in items {
            tx.execute(
                "INSERT INTO payloads (item, refs, stored) VALUES (?1, 1, ?2)",
                rusqlite::params![belfry_protocol::codec::encode(item), now().0 as i64],
            )
            .unwrap();
            let payload = tx.last_insert_rowid();
            let (dev, seq): (i64, i64) = tx
                .query_row(
                    "UPDATE devices SET next_seq = next_seq + 1, depth = depth + 1 WHERE user = ?1 AND device = ?2 \
                     RETURNING id, next_seq - 1",
                    rusqlite::params![user, device],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            tx.execute(
                "INSERT INTO inbox (device, seq, payload) VALUES (?1, ?2, ?3)",
                rusqlite::params![dev, seq, payload],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    /// The blob files on the relay's disk, oldest first (as its host sees them).
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(self.relay_dir().join("blobs"))
            .map(|d| d.flatten().map(|e| (e.metadata().unwrap().modified().unwrap(), e.path())).collect())
            .unwrap_or_default();
        files.sort();
        files.into_iter().map(|(_, p)| p).collect()
    }

    /// How many bytes of a blob the relay has recorded as received.
    pub fn blob_received(&self, blob_file: &Path) -> i64 {
        let id = blob_file.file_name().unwrap().to_str().unwrap();
        let id = belfry_protocol::BlobId::from_hex(id).unwrap();
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.query_row("SELECT received FROM blobs WHERE id = ?1", rusqlite::params![id.0.to_vec()], |r| r.get(0))
            .unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("relay.log")).unwrap_or_default()
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(b64).unwrap()
}

/// Test profiles use passphrase mode with a cheap Argon2 cost (the real
/// keychain is tested in belfry-store; the cost is not what is tested).
pub fn key_source() -> KeySource {
    KeySource::Passphrase {
        passphrase: zeroize::Zeroizing::new("test passphrase".into()),
        cost: KdfCost::INSECURE_FAST,
    }
}

/// A device: its engine, its profile directory, and its events.
pub struct Dev {
    pub engine: Engine,
    pub events: broadcast::Receiver<Event>,
    pub profile: PathBuf,
    _home: Option<tempfile::TempDir>,
}

impl Dev {
    pub async fn enroll(relay: &TestRelay, user: &str, device_name: &str) -> Self {
        Self::enroll_at(relay, user, device_name, &relay.url.clone()).await
    }

    /// Enrolls a device that reaches the relay at `url`.
    pub async fn enroll_at(relay: &TestRelay, user: &str, device_name: &str, url: &str) -> Self {
        Self::enroll_with(relay, &relay.invite_at(user, url), device_name).await
    }

    /// Enrolls a device from an invitation the test holds (a stolen one).
    pub async fn enroll_with(relay: &TestRelay, invitation: &Invitation, device_name: &str) -> Self {
        Self::enroll_from(relay, invitation, device_name, Profile::new, &key_source()).await
    }

    /// Enrolls a device whose store key is kept in keychain mode, in
    /// `keychain` (a test keychain, never the developer's).
    pub async fn enroll_in_keychain(
        relay: &TestRelay,
        user: &str,
        device_name: &str,
        keychain: std::sync::Arc<belfry_store::testing::TestKeychain>,
    ) -> Self {
        let profile = move |dir: &Path| Profile::with_keychain(dir, keychain.clone());
        Self::enroll_from(relay, &relay.invite(user), device_name, profile, &KeySource::Keychain).await
    }

    /// Enrolls a device in keychain mode (in `keychain`, a test keychain)
    /// with an app passcode.
    pub async fn enroll_with_passcode(
        relay: &TestRelay,
        user: &str,
        device_name: &str,
        keychain: std::sync::Arc<belfry_store::testing::TestKeychain>,
        passcode: &str,
    ) -> Self {
        let profile = move |dir: &Path| Profile::with_keychain(dir, keychain.clone());
        let options = belfry_client::EnrollOptions {
            passcode: Some(zeroize::Zeroizing::new(passcode.into())),
            passcode_cost: KdfCost::INSECURE_FAST,
        };
        Self::enroll_options(relay, &relay.invite(user), device_name, profile, &KeySource::Keychain, &options).await
    }

    async fn enroll_from(
        relay: &TestRelay,
        invitation: &Invitation,
        device_name: &str,
        profile_in: impl Fn(&Path) -> Profile,
        source: &KeySource,
    ) -> Self {
        Self::enroll_options(relay, invitation, device_name, profile_in, source, &Default::default()).await
    }

    async fn enroll_options(
        relay: &TestRelay,
        invitation: &Invitation,
        device_name: &str,
        profile_in: impl Fn(&Path) -> Profile,
        source: &KeySource,
        options: &belfry_client::EnrollOptions,
    ) -> Self {
        let home = tempfile::tempdir().unwrap();
        let profile = home.path().join("profile");
        let engine = Engine::enroll_with(
            profile_in(&profile),
            invitation,
            relay.org.public(),
            DisplayName::new(device_name).unwrap(),
            source,
            options,
        )
        .await
        .unwrap();
        let events = engine.subscribe();
        let dev = Self { engine, events, profile, _home: Some(home) };
        assert!(dev.engine.wait_caught_up(Duration::from_secs(30)).await, "never caught up");
        dev
    }

    /// Waits (up to 30 s) for an event matching `f`; returns it.
    pub async fn wait(&mut self, f: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Ok(e)) if f(&e) => return e,
                Ok(Ok(_)) => {}
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(e)) => panic!("event stream ended: {e}"),
                Err(_) => panic!("timed out waiting for an event"),
            }
        }
    }

    /// Opens the profile again without waiting: events from the restart on
    /// stay in `events` for the test to read.
    pub async fn restart(&mut self) {
        self.engine.shutdown().await;
        self.engine = Engine::open_paused(Profile::new(&self.profile), &key_source()).await.unwrap();
        self.events = self.engine.subscribe();
        self.engine.start().await;
    }

    /// Waits until the engine has sent everything queued.
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.engine.pending_count().unwrap() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "the outbox never emptied");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every event received so far (for failure messages).
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            match self.events.try_recv() {
                Ok(e) => out.push(e),
                Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                Err(_) => return out,
            }
        }
    }

    /// Waits until this device holds `room` with its own user as a member.
    pub async fn joined(&self, room: &belfry_protocol::RoomId) {
        let me = self.engine.user().await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !self.engine.room(room).await.is_ok_and(|r| r.members.contains_key(&me)) {
            assert!(tokio::time::Instant::now() < deadline, "never joined room {room}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops this device's engine, as when the laptop is shut.
    pub async fn shut(&mut self) {
        self.engine.shutdown().await;
    }

    /// Opens the same profile again, as after a restart; waits to catch up.
    pub async fn reopen(&mut self) {
        self.restart().await;
        assert!(self.engine.wait_caught_up(Duration::from_secs(30)).await, "never caught up");
    }

    pub fn profile_dir(&self) -> &Path {
        &self.profile
    }
}

impl TestRelay {
    /// To-device items in `user`/`device`'s inbox from sequence `since` on,
    /// oldest first, with their payload ids (for [`TestRelay::withhold`]).
    pub fn to_device_items_since(
        &self,
        user: &str,
        device: &str,
        since: i64,
    ) -> Vec<(i64, belfry_protocol::ToDeviceEnvelope)> {
        self.inbox_items_since(user, device, since)
            .into_iter()
            .filter_map(|(id, item)| match item {
                belfry_protocol::frames::InboxItem::ToDevice(m) => Some((id, m)),
                _ => None,
            })
            .collect()
    }
}

/// A user's own device run by modified client code: it opens its (shut)
/// engine's store with the real keys and seals whatever it likes over its
/// real Olm sessions. Models an insider or a compromised device, which the
/// relay alone could never be (it cannot seal Olm messages).
pub struct Insider {
    store: belfry_store::SqlStore,
    pickle: belfry_crypto::PickleKey,
    pub device: belfry_crypto::Device,
    pub dir: belfry_crypto::Directory,
}

impl Insider {
    /// Opens the profile of a shut engine.
    pub fn open(profile: &Path) -> Self {
        use belfry_store::Store as _;
        let store = Profile::new(profile).open(&key_source()).unwrap();
        let secret: [u8; 32] = store.value("pickle-key").unwrap().unwrap().as_slice().try_into().unwrap();
        let pickle = belfry_crypto::PickleKey::new(secret);
        let device = belfry_crypto::Device::unpickle(&store.account().unwrap().unwrap(), &pickle).unwrap();
        let dir: belfry_crypto::Directory = postcard::from_bytes(&store.value("directory").unwrap().unwrap()).unwrap();
        Self { store, pickle, device, dir }
    }

    /// The room messages this device keeps waiting for a key, oldest first.
    pub fn waiting(&self) -> Vec<belfry_protocol::RoomMessage> {
        use belfry_store::Store as _;
        let rows = self.store.waiting().unwrap();
        rows.iter().map(|(_, bytes)| belfry_protocol::codec::decode(bytes).unwrap()).collect()
    }

    /// Seals `content` for `user`/`device` over the Olm session this device
    /// already has with it, and stores the advanced session (so the real
    /// engine, restarted, does not reuse its keys).
    pub fn seal(
        &mut self,
        user: &belfry_protocol::UserId,
        device: &belfry_protocol::DeviceId,
        content: belfry_protocol::ToDeviceContent,
    ) -> belfry_protocol::ToDeviceEnvelope {
        use belfry_store::Store as _;
        let peer = self.dir.trusted(user, device).unwrap().clone();
        let (id, pickle) = self.store.olm_sessions(user, device).unwrap().into_iter().next().expect("no Olm session");
        let mut channel = belfry_crypto::OlmChannel::unpickle(&pickle, &self.pickle).unwrap();
        let env = self.device.seal_to_device(&mut channel, &peer, content).unwrap();
        self.store
            .commit(belfry_store::Batch::new().with(belfry_store::Op::PutOlmSession {
                peer_user: user.clone(),
                peer_device: device.clone(),
                session_id: id,
                pickle: channel.pickle(&self.pickle).unwrap(),
            }))
            .unwrap();
        env
    }

    /// An inbound Megolm session this device holds.
    pub fn inbound(&self, session: &belfry_protocol::Ed25519Public) -> belfry_crypto::InboundRoomSession {
        use belfry_store::Store as _;
        let pickle = self.store.inbound_sessions(session).unwrap().into_iter().next().expect("session not held");
        belfry_crypto::InboundRoomSession::unpickle(&pickle, &self.pickle).unwrap()
    }
}

impl Insider {
    /// Decrypts a to-device message addressed to this device, as its
    /// modified client would (nothing is stored).
    pub fn read(&mut self, env: &belfry_protocol::ToDeviceEnvelope) -> Option<belfry_protocol::ToDeviceContent> {
        use belfry_store::Store as _;
        let sender = self.dir.trusted(&env.sender, &env.sender_device).ok()?.clone();
        let mut channels: Vec<belfry_crypto::OlmChannel> = self
            .store
            .olm_sessions(&env.sender, &env.sender_device)
            .unwrap()
            .into_iter()
            .map(|(_, p)| belfry_crypto::OlmChannel::unpickle(&p, &self.pickle).unwrap())
            .collect();
        self.device.open_to_device(env, &sender, &mut channels).ok().map(|r| r.content().clone())
    }
}

/// `a` and `b` verify each other in person (SAS) through the engine API,
/// as two people comparing emoji would: both must show the same ones.
pub async fn verify_in_person(a: &mut Dev, b: &mut Dev) {
    use belfry_client::VerificationState as S;
    let (b_user, b_device) = (b.engine.user().await.unwrap(), b.engine.device_id().await.unwrap());
    let flow = a.engine.start_verification(&b_user, &b_device).await.unwrap();
    let at = |flow, want: fn(&S) -> bool| move |e: &Event| matches!(e, Event::Verification { flow: f, state, .. } if *f == flow && want(state));
    b.wait(at(flow, |s| *s == S::Requested)).await;
    b.engine.accept_verification(flow).await.unwrap();
    let shown = |e: Event| match e {
        Event::Verification { state: S::ShowSas { emoji, decimals }, .. } => (emoji, decimals),
        other => panic!("{other:?}"),
    };
    let on_a = shown(a.wait(at(flow, |s| matches!(s, S::ShowSas { .. }))).await);
    let on_b = shown(b.wait(at(flow, |s| matches!(s, S::ShowSas { .. }))).await);
    assert_eq!(on_a, on_b, "the two screens differ");
    a.engine.confirm_sas(flow).await.unwrap();
    b.engine.confirm_sas(flow).await.unwrap();
    a.wait(at(flow, |s| *s == S::Verified)).await;
    b.wait(at(flow, |s| *s == S::Verified)).await;
}

impl Insider {
    /// Encrypts `content` as a new room message from this device, under
    /// the Megolm session it already shares for `room` (its recipients hold
    /// the key), and stores the advanced session. Returns the message id
    /// and what the relay would deliver.
    pub fn room_message(
        &mut self,
        room: belfry_protocol::RoomId,
        state_hash: belfry_protocol::Hash256,
        content: belfry_protocol::RoomContent,
    ) -> (belfry_protocol::MessageId, belfry_protocol::RoomMessage) {
        use belfry_store::Store as _;
        let pickle = self.store.outbound_session(&room).unwrap().expect("no room session to send with");
        let mut session = belfry_crypto::OutboundRoomSession::unpickle(&pickle, &self.pickle).unwrap();
        let id = belfry_protocol::MessageId(rand::random());
        let message = session.encrypt(&self.device, id, state_hash, content, now()).unwrap();
        self.store
            .commit(
                belfry_store::Batch::new()
                    .with(belfry_store::Op::PutOutboundSession { room, pickle: session.pickle(&self.pickle).unwrap() }),
            )
            .unwrap();
        (id, message)
    }
}

impl Insider {
    /// Decrypts a room message with an inbound session this device holds,
    /// as its modified client would (nothing is stored): `None` if it holds
    /// no key that opens it.
    pub fn try_decrypt(&self, msg: &belfry_protocol::RoomMessage) -> Option<belfry_protocol::RoomPayload> {
        use belfry_store::Store as _;
        for pickle in self.store.inbound_sessions(&msg.session).ok()? {
            let Ok(mut session) = belfry_crypto::InboundRoomSession::unpickle(&pickle, &self.pickle) else { continue };
            let mut seen = belfry_crypto::SeenIndices::default();
            if let Ok(d) = session.decrypt(msg, &mut seen) {
                return Some(d.payload);
            }
        }
        None
    }
}

impl Dev {
    /// Waits until this device shows message `id` (stored already, or as it arrives).
    pub async fn has_message(&mut self, room: &belfry_protocol::RoomId, id: belfry_protocol::MessageId) {
        if !self.engine.messages(room, 1000).await.unwrap().iter().any(|m| m.id == id) {
            self.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
        }
    }

    /// Every event that arrives within `quiet` of the previous one.
    pub async fn events_until_quiet(&mut self, quiet: Duration) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            match tokio::time::timeout(quiet, self.events.recv()).await {
                Ok(Ok(e)) => out.push(e),
                Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(_)) | Err(_) => return out,
            }
        }
    }
}

impl Insider {
    /// Each stored Olm session with `user`/`device`, as (session id, digest
    /// of its whole state).
    pub fn olm_digests(
        &self,
        user: &belfry_protocol::UserId,
        device: &belfry_protocol::DeviceId,
    ) -> Vec<(String, belfry_protocol::Hash256)> {
        use belfry_store::Store as _;
        let stored = self.store.olm_sessions(user, device).unwrap();
        stored
            .into_iter()
            .map(|(id, p)| (id, belfry_crypto::OlmChannel::unpickle(&p, &self.pickle).unwrap().state_digest()))
            .collect()
    }
}
