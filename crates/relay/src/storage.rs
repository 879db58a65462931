//! Durable relay state behind one trait, so a PostgreSQL backend can follow
//! the embedded SQLite one.
//!
//! Writes go through one writer thread that commits whatever is queued in
//! one transaction (group commit): a publish is answered only after the
//! transaction holding it is durable (`synchronous=FULL`). Each request runs
//! in its own savepoint, so one refused request never undoes another.

use crate::error::{RelayError, Result, refuse};
use belfry_protocol::codec::decode;
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::{
    DeviceId, Ed25519Public, ErrorCode, InvitationId, MessageId, ProtocolError, RevocationTarget, Statement, UserId,
    limits,
};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use tokio::sync::oneshot;

/// The storage's handle for an enrolled device.
pub type DeviceKey = i64;

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    /// Storage handle.
    pub key: DeviceKey,
    /// Owner.
    pub user: UserId,
    /// Device id.
    pub device: DeviceId,
    /// The key its connections authenticate with.
    pub ed25519: Ed25519Public,
    /// Revoked by an org or own-device statement: it may not publish,
    /// receives nothing new, and a new login is refused with the statements
    /// against it (which may hold a wipe order).
    pub revoked: bool,
}

/// Why a storage call did not do what was asked.
#[derive(Debug)]
pub enum OpError {
    /// The request is refused; the device is told why.
    Refused(ProtocolError),
    /// Storage failed; nothing of the request was stored.
    Failed(RelayError),
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Failed(e.into())
    }
}
impl From<RelayError> for OpError {
    fn from(e: RelayError) -> Self {
        Self::Failed(e)
    }
}
impl From<ProtocolError> for OpError {
    fn from(e: ProtocolError) -> Self {
        Self::Refused(e)
    }
}

/// Result of a storage call.
pub type Op<T> = std::result::Result<T, OpError>;

/// A queued write: resolves once it is durable.
pub type Committed<T> = std::pin::Pin<Box<dyn Future<Output = Op<T>> + Send>>;

/// A registered invitation, as enrollment checks it.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    /// Its id.
    pub id: InvitationId,
    /// For whom.
    pub user: UserId,
    /// The enrollment public key.
    pub enrollment_key: Ed25519Public,
    /// Deadline for the device certificate.
    pub expires_at: u64,
    /// The signed certificate bytes.
    pub cert: Vec<u8>,
}

/// A device enrolling from an invitation.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// The invitation it redeems.
    pub invitation: InvitationId,
    /// The signed enrollment certificate it presents (must be the one IT
    /// registered, byte for byte).
    pub cert: Vec<u8>,
    /// Owner.
    pub user: UserId,
    /// Device id.
    pub device: DeviceId,
    /// Its Ed25519 identity key.
    pub ed25519: Ed25519Public,
    /// The enrollment key that certified it (from its chain): revoking
    /// that key revokes the device.
    pub enrollment_key: Ed25519Public,
    /// The encoded chain, served to other devices.
    pub chain: Vec<u8>,
}

/// One thing to deliver: an encoded inbox item and the devices it goes to.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The encoded `InboxItem`.
    pub item: Vec<u8>,
    /// Recipients.
    pub to: Vec<DeviceAddress>,
}

/// How full an inbox may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxLimits {
    /// Undelivered entries in one inbox, at most.
    pub depth: u64,
    /// Undelivered entries from one sender in one inbox, at most.
    pub per_sender_entries: u64,
    /// Undelivered bytes from one sender in one inbox, at most.
    pub per_sender_bytes: u64,
}

impl InboxLimits {
    /// No limit (statements from the organisation).
    pub const NONE: Self = Self { depth: u64::MAX, per_sender_entries: u64::MAX, per_sender_bytes: u64::MAX };
}

/// A publish as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Stored now; these devices have new inbox entries.
    Stored(Vec<DeviceKey>),
    /// The same publish id was stored before: nothing new.
    Duplicate,
}

/// A user's directory entry, as stored (encoded signed blobs).
#[derive(Debug, Clone, Default)]
pub struct DirectoryRows {
    /// Device chains.
    pub chains: Vec<Vec<u8>>,
    /// Statements.
    pub statements: Vec<Vec<u8>>,
}

/// A statement to store and deliver.
#[derive(Debug, Clone)]
pub struct NewStatement {
    /// The user it concerns, if it is about a device.
    pub user: Option<UserId>,
    /// The device it revokes (or orders wiped), if any.
    pub device: Option<DeviceId>,
    /// It revokes that device.
    pub revokes: bool,
    /// The enrollment key it revokes, with every device it certified.
    pub enrollment_key: Option<Ed25519Public>,
    /// Content hash, to store each statement once.
    pub hash: [u8; 32],
    /// The encoded `Statement` (directory) and `InboxItem` (inboxes).
    pub statement: Vec<u8>,
    /// The inbox item.
    pub item: Vec<u8>,
}

/// An attachment blob's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRow {
    /// The uploading device.
    pub owner: DeviceKey,
    /// Declared length.
    pub len: u64,
    /// Bytes received so far.
    pub received: u64,
    /// Upload finished.
    pub complete: bool,
}

/// What a retention sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Inbox entries older than the retention period.
    pub inbox_entries: u64,
    /// Publish ids forgotten.
    pub publish_ids: u64,
    /// Blobs expired (their files are for the caller to delete).
    pub blobs: u64,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Enrolled devices.
    pub devices: u64,
    /// Entries waiting in all inboxes.
    pub inbox_entries: u64,
    /// The deepest inbox.
    pub max_inbox_depth: u64,
}

/// Everything the relay keeps. A PostgreSQL backend implements the same.
pub trait Storage: Send + Sync + 'static {
    /// Records an org-signed invitation. Registering the same one again is
    /// not an error; a different certificate under the same id is.
    fn register_invitation(&self, inv: NewInvitation, now: u64) -> impl Future<Output = Op<()>> + Send;
    /// Redeems an invitation for a device, once.
    /// `true` with the row when the device is new; `false` when the same
    /// device enrolled before (a repeat, answered the same way).
    fn enroll(&self, dev: NewDevice, now: u64) -> impl Future<Output = Op<(DeviceRow, bool)>> + Send;
    /// An enrolled device.
    fn device(&self, user: UserId, device: DeviceId) -> impl Future<Output = Op<Option<DeviceRow>>> + Send;
    /// Adds one-time keys (`(public key, signed bytes)`) and replaces the
    /// fallback key. Returns how many one-time keys the device has.
    fn upload_prekeys(
        &self,
        dev: DeviceKey,
        one_time: Vec<([u8; 32], Vec<u8>)>,
        fallback: Option<Vec<u8>>,
    ) -> impl Future<Output = Op<u64>> + Send;
    /// Hands out one one-time key of each device, deleting it, or else its
    /// fallback key; only the fallback key where `one_time[i]` is false.
    /// `None` for a device with neither, or unknown.
    fn claim_prekeys(
        &self,
        devices: Vec<DeviceAddress>,
        one_time: Vec<bool>,
    ) -> impl Future<Output = Op<Vec<Option<Vec<u8>>>>> + Send;
    /// The stored statements that revoke `user`'s `device` (by id or by its
    /// enrollment key), order it wiped, or refuse it as a copy of a
    /// confirmed invitation, encoded, oldest first, within
    /// [`limits::MAX_REFUSAL_STATEMENTS`] and [`limits::MAX_REFUSAL_BYTES`].
    fn statements_against(&self, user: UserId, device: DeviceId) -> impl Future<Output = Op<Vec<Vec<u8>>>> + Send;
    /// Device chains and statements of these users.
    fn directory(&self, users: Vec<UserId>) -> impl Future<Output = Op<Vec<DirectoryRows>>> + Send;
    /// Users with an enrolled device (revoked or not), in id order, after
    /// `after` (exclusive), at most `limit`.
    fn directory_users(&self, after: Option<UserId>, limit: usize) -> impl Future<Output = Op<Vec<UserId>>> + Send;
    /// Stores deliveries in the recipients' inboxes, once per `(sender, id)`.
    /// Revoked recipients are skipped; an unknown one, a full inbox, or a
    /// recipient holding the sender's whole share refuses the whole publish.
    fn publish(
        &self,
        sender: DeviceKey,
        id: MessageId,
        deliveries: Vec<Delivery>,
        now: u64,
        limits: InboxLimits,
    ) -> impl Future<Output = Op<Published>> + Send;
    /// [`publish`](Self::publish), returning as soon as the write is queued
    /// (writes apply in queue order), with a future for its durable outcome:
    /// a connection can queue its next publish while this one commits.
    fn publish_queued(
        &self,
        sender: DeviceKey,
        id: MessageId,
        deliveries: Vec<Delivery>,
        now: u64,
        limits: InboxLimits,
    ) -> impl Future<Output = Op<Committed<Published>>> + Send;
    /// Stores a statement once and delivers it to every enrolled device.
    fn publish_statement(&self, st: NewStatement, now: u64) -> impl Future<Output = Op<Published>> + Send;
    /// Inbox entries after `after`, at most `limit`.
    fn inbox(&self, dev: DeviceKey, after: u64, limit: usize) -> impl Future<Output = Op<Vec<(u64, Vec<u8>)>>> + Send;
    /// The first sequence number still in the inbox (or the next one).
    fn first_unacked(&self, dev: DeviceKey) -> impl Future<Output = Op<u64>> + Send;
    /// Deletes inbox entries up to and including `seq`.
    fn ack(&self, dev: DeviceKey, seq: u64) -> impl Future<Output = Op<()>> + Send;
    /// Records a new blob, within the owner's quota.
    fn create_blob(
        &self,
        owner: DeviceKey,
        id: [u8; 16],
        len: u64,
        quota: u64,
        now: u64,
    ) -> impl Future<Output = Op<()>> + Send;
    /// A blob's record.
    fn blob(&self, id: [u8; 16]) -> impl Future<Output = Op<Option<BlobRow>>> + Send;
    /// Records upload progress (after the bytes are durable on disk).
    fn blob_progress(&self, id: [u8; 16], received: u64, complete: bool) -> impl Future<Output = Op<()>> + Send;
    /// Drops what is older than its retention; returns expired blob ids.
    fn sweep(
        &self,
        inbox_before: u64,
        publish_ids_before: u64,
        blobs_before: u64,
    ) -> impl Future<Output = Op<(Swept, Vec<[u8; 16]>)>> + Send;
    /// Figures for monitoring.
    fn stats(&self) -> impl Future<Output = Op<Stats>> + Send;
}

const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/001_initial.sql"),
    include_str!("../migrations/002_inbox_by_payload.sql"),
    include_str!("../migrations/003_enrollment_keys.sql"),
    include_str!("../migrations/004_pending_by_sender.sql"),
];

type Reply = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;
type Job = Box<dyn FnOnce(&Transaction<'_>) -> Reply + Send>;

/// The embedded SQLite storage.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    jobs: mpsc::SyncSender<Job>,
    reader: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn open_connection(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(conn)
}

impl SqliteStorage {
    /// Opens (or creates) the database at `path`, applies migrations, and
    /// starts the writer thread. The thread ends when every handle is
    /// dropped, after committing what is queued.
    pub fn open(path: &Path) -> Result<Self> {
        let mut writer = open_connection(path)?;
        migrate(&mut writer)?;
        let reader = open_connection(path)?;
        let (jobs, queue) = mpsc::sync_channel::<Job>(4096);
        std::thread::Builder::new()
            .name("relay-writer".into())
            .spawn(move || write_loop(writer, queue))
            .map_err(|e| RelayError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs, reader: Arc::new(Mutex::new(reader)), path: path.to_owned() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in the next group commit; answers after the commit.
    async fn write<T: Send + 'static>(&self, f: impl FnOnce(&Transaction<'_>) -> Op<T> + Send + 'static) -> Op<T> {
        self.enqueue(f).await?.await
    }

    /// Queues `f` for the next group commit; the returned future resolves
    /// once that commit is durable. Writes are applied in the order they
    /// were queued.
    async fn enqueue<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Op<T> + Send + 'static,
    ) -> Op<Committed<T>> {
        let (tx, rx) = oneshot::channel::<Op<T>>();
        let job: Job = Box::new(move |t: &Transaction<'_>| {
            let out = in_savepoint(t, f);
            Box::new(move |committed: std::result::Result<(), String>| {
                let out = match committed {
                    Ok(()) => out,
                    Err(e) => Err(OpError::Failed(RelayError::Storage(format!("commit failed: {e}")))),
                };
                let _ = tx.send(out);
            })
        });
        let stopped = || RelayError::Storage("the writer thread has stopped".into());
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Disconnected(_)) => return Err(stopped().into()),
            // The queue is bounded: when the disk falls behind, writers wait
            // here, on a blocking thread so the async workers keep running.
            // (Only then: that thread hop costs more than a small write.)
            Err(mpsc::TrySendError::Full(job)) => {
                let jobs = self.jobs.clone();
                tokio::task::spawn_blocking(move || jobs.send(job))
                    .await
                    .map_err(|e| RelayError::Internal(format!("writer queue: {e}")))?
                    .map_err(|_| stopped())?;
            }
        }
        Ok(Box::pin(async move {
            rx.await.map_err(|_| OpError::Failed(RelayError::Storage("the writer thread has stopped".into())))?
        }))
    }

    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Connection) -> Op<T> + Send + 'static) -> Op<T> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().map_err(|_| RelayError::Internal("reader lock poisoned".into()))?;
            f(&conn)
        })
        .await
        .map_err(|e| RelayError::Internal(format!("reader task: {e}")))?
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if found > supported {
        return Err(RelayError::Storage(format!(
            "the database is at schema version {found}, newer than this relay ({supported}): run the newer relay"
        )));
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

fn in_savepoint<T>(t: &Transaction<'_>, f: impl FnOnce(&Transaction<'_>) -> Op<T>) -> Op<T> {
    // Cached statements: `execute_batch` would parse these for every job.
    t.prepare_cached("SAVEPOINT job")?.execute([])?;
    let out = f(t);
    if out.is_err() {
        t.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    t.prepare_cached("RELEASE job")?.execute([])?;
    out
}

/// Takes every queued job, runs them in one transaction, commits, answers.
/// Transactions are IMMEDIATE: the write lock is taken at BEGIN, where
/// SQLite's busy timeout applies, so `belfry-relay register` or
/// `statement` writing beside a running relay waits instead of failing.
fn write_loop(mut conn: Connection, queue: mpsc::Receiver<Job>) {
    const MAX_GROUP: usize = 512;
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let replies: Vec<Reply>;
        let committed = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => {
                replies = group.into_iter().map(|job| job(&tx)).collect();
                tx.commit().map_err(|e| e.to_string())
            }
            Err(e) => {
                let reason = e.to_string();
                // No transaction: run nothing, fail everyone.
                for job in group {
                    drop(job);
                }
                tracing::error!(error = %reason, "cannot begin a transaction");
                continue;
            }
        };
        if let Err(e) = &committed {
            tracing::error!(error = %e, "group commit failed; its requests are refused");
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}

fn i64_of(v: u64) -> Op<i64> {
    i64::try_from(v).map_err(|_| OpError::Refused(refuse(ErrorCode::Malformed, "a number is out of range")))
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, String, Vec<u8>, bool)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_device_row(raw: (i64, String, String, Vec<u8>, bool)) -> Op<DeviceRow> {
    let corrupt = |what: &str| OpError::Failed(RelayError::Storage(format!("stored device has an invalid {what}")));
    let ed25519: [u8; 32] = raw.3.try_into().map_err(|_| corrupt("key"))?;
    Ok(DeviceRow {
        key: raw.0,
        user: UserId::new(raw.1).map_err(|_| corrupt("user id"))?,
        device: DeviceId::new(raw.2).map_err(|_| corrupt("device id"))?,
        ed25519: Ed25519Public(ed25519),
        revoked: raw.4,
    })
}

fn find_device(conn: &Connection, user: &str, device: &str) -> Op<Option<DeviceRow>> {
    conn.prepare_cached("SELECT id, user, device, ed25519, revoked FROM devices WHERE user = ?1 AND device = ?2")?
        .query_row(params![user, device], device_row)
        .optional()?
        .map(to_device_row)
        .transpose()
}

/// Whether `statement` takes trust from `user`'s `device`, enrolled under
/// `enrollment_key` (read without checking signatures: the device checks).
fn against(statement: &Statement, user: &UserId, device: &DeviceId, enrollment_key: Option<&[u8]>) -> bool {
    let key_is = |k: &Ed25519Public| enrollment_key == Some(k.as_bytes().as_slice());
    match statement {
        Statement::Revocation(signed) => signed.peek_unverified().is_ok_and(|r| match r.target {
            RevocationTarget::Device { user: u, device: d } => u == *user && d == *device,
            RevocationTarget::Enrollment { key } => key_is(&key),
        }),
        Statement::Wipe(signed) => signed.peek_unverified().is_ok_and(|w| w.user == *user && w.device == *device),
        Statement::Confirmation(signed) => {
            signed.peek_unverified().is_ok_and(|c| key_is(&c.enrollment_key) && c.device != *device)
        }
    }
}

/// Whether an enrollment key was revoked by the org or burnt.
fn enrollment_key_revoked(conn: &Connection, key: &Ed25519Public) -> Op<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM revoked_enrollment_keys WHERE key = ?1")?
        .query_row(params![key.as_bytes()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Records an enrollment key as revoked and revokes every device it
/// certified: they may still collect their inbox, never publish again.
fn revoke_enrollment_key(t: &Transaction<'_>, key: &Ed25519Public, now: i64) -> Op<()> {
    t.prepare_cached("INSERT OR IGNORE INTO revoked_enrollment_keys (key, at) VALUES (?1, ?2)")?
        .execute(params![key.as_bytes(), now])?;
    t.prepare_cached("UPDATE devices SET revoked = 1 WHERE enrollment_key = ?1")?.execute(params![key.as_bytes()])?;
    Ok(())
}

/// Appends one payload to the inboxes of `to` (device keys), checking the
/// depth of each and, for a payload from a device, that device's share.
fn deliver(
    t: &Transaction<'_>,
    item: &[u8],
    to: &[DeviceKey],
    now: i64,
    sender: Option<DeviceKey>,
    limits: InboxLimits,
) -> Op<()> {
    if to.is_empty() {
        return Ok(());
    }
    let refs = i64::try_from(to.len()).unwrap_or(i64::MAX);
    t.prepare_cached("INSERT INTO payloads (item, refs, stored, sender) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![item, refs, now, sender])?;
    let payload = t.last_insert_rowid();
    let len = i64::try_from(item.len()).unwrap_or(i64::MAX);
    for dev in to {
        let (seq, depth): (i64, i64) = t
            .prepare_cached(
                "UPDATE devices SET next_seq = next_seq + 1, depth = depth + 1 WHERE id = ?1 \
                 RETURNING next_seq - 1, depth",
            )?
            .query_row(params![dev], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if u64::try_from(depth).unwrap_or(u64::MAX) > limits.depth {
            return Err(OpError::Refused(refuse(
                ErrorCode::InboxFull,
                format!("a recipient's inbox is full ({} undelivered entries); nothing was stored", limits.depth),
            )));
        }
        if let Some(sender) = sender {
            let (entries, bytes): (i64, i64) = t
                .prepare_cached(
                    "INSERT INTO pending (device, sender, entries, bytes) VALUES (?1, ?2, 1, ?3) \
                     ON CONFLICT (device, sender) DO UPDATE SET entries = entries + 1, bytes = bytes + ?3 \
                     RETURNING entries, bytes",
                )?
                .query_row(params![dev, sender, len], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if u64::try_from(entries).unwrap_or(u64::MAX) > limits.per_sender_entries
                || u64::try_from(bytes).unwrap_or(u64::MAX) > limits.per_sender_bytes
            {
                return Err(OpError::Refused(refuse(
                    ErrorCode::InboxFull,
                    format!(
                        "a recipient already holds as much from this device as one sender may leave waiting \
                         ({} entries, {} bytes); nothing was stored",
                        limits.per_sender_entries, limits.per_sender_bytes
                    ),
                )));
            }
        }
        t.prepare_cached("INSERT INTO inbox (device, seq, payload) VALUES (?1, ?2, ?3)")?
            .execute(params![dev, seq, payload])?;
    }
    Ok(())
}

/// Gives back the shares of inbox entries leaving `dev`'s inbox:
/// `(sender, bytes)` of each.
fn release_pending(t: &Transaction<'_>, dev: DeviceKey, left: &[(i64, i64)]) -> Op<()> {
    let mut by_sender: std::collections::BTreeMap<i64, (i64, i64)> = std::collections::BTreeMap::new();
    for (sender, bytes) in left {
        let e = by_sender.entry(*sender).or_default();
        e.0 += 1;
        e.1 += bytes;
    }
    for (sender, (entries, bytes)) in by_sender {
        t.prepare_cached(
            "UPDATE pending SET entries = max(entries - ?3, 0), bytes = max(bytes - ?4, 0) \
             WHERE device = ?1 AND sender = ?2",
        )?
        .execute(params![dev, sender, entries, bytes])?;
        t.prepare_cached("DELETE FROM pending WHERE device = ?1 AND sender = ?2 AND entries = 0")?
            .execute(params![dev, sender])?;
    }
    Ok(())
}

impl Storage for SqliteStorage {
    async fn register_invitation(&self, inv: NewInvitation, now: u64) -> Op<()> {
        let now = i64_of(now)?;
        let expires = i64_of(inv.expires_at)?;
        self.write(move |t| {
            let existing: Option<Vec<u8>> = t
                .prepare_cached("SELECT cert FROM invitations WHERE id = ?1")?
                .query_row(params![inv.id.as_bytes()], |r| r.get(0))
                .optional()?;
            match existing {
                Some(cert) if cert == inv.cert => Ok(()),
                Some(_) => Err(OpError::Refused(refuse(
                    ErrorCode::Forbidden,
                    "another invitation with this id is already registered",
                ))),
                None => {
                    t.prepare_cached(
                        "INSERT INTO invitations (id, user, enrollment_key, expires_at, cert, registered_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![
                        inv.id.as_bytes(),
                        inv.user.as_str(),
                        inv.enrollment_key.as_bytes(),
                        expires,
                        inv.cert,
                        now
                    ])?;
                    Ok(())
                }
            }
        })
        .await
    }

    async fn enroll(&self, dev: NewDevice, now: u64) -> Op<(DeviceRow, bool)> {
        let now = i64_of(now)?;
        // A refusal that must still commit (a burnt key) comes back as the
        // inner error, outside the savepoint's rollback.
        self.write(move |t| {
            let row: Option<(Vec<u8>, i64, Option<i64>)> = t
                .prepare_cached("SELECT cert, expires_at, redeemed_device FROM invitations WHERE id = ?1")?
                .query_row(params![dev.invitation.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((cert, expires_at, redeemed)) = row else {
                return Err(refuse(ErrorCode::NotFound, "this invitation is not registered with the relay").into());
            };
            if cert != dev.cert {
                return Err(
                    refuse(ErrorCode::Forbidden, "the enrollment certificate differs from the registered one").into()
                );
            }
            if let Some(key) = redeemed {
                // The same device asking again (its answer was lost on the
                // way): the same chain, byte for byte, gets the same answer.
                // Anyone else finds the invitation used.
                let chain: Option<Vec<u8>> = t
                    .prepare_cached("SELECT chain FROM devices WHERE id = ?1")?
                    .query_row(params![key], |r| r.get(0))
                    .optional()?;
                if chain.as_deref() == Some(dev.chain.as_slice())
                    && let Some(row) = find_device(t, dev.user.as_str(), dev.device.as_str())?
                {
                    return Ok(Ok((row, false)));
                }
                return Err(refuse(ErrorCode::InvitationUsed, "this invitation was already used").into());
            }
            if now > expires_at {
                return Err(refuse(ErrorCode::InvitationExpired, "this invitation has expired").into());
            }
            if enrollment_key_revoked(t, &dev.enrollment_key)? {
                return Err(refuse(ErrorCode::Forbidden, "this invitation's enrollment key is revoked").into());
            }
            if find_device(t, dev.user.as_str(), dev.device.as_str())?.is_some() {
                return Err(refuse(ErrorCode::Forbidden, "a device with this id is already enrolled").into());
            }
            let earlier: Option<i64> = t
                .prepare_cached("SELECT id FROM devices WHERE enrollment_key = ?1 LIMIT 1")?
                .query_row(params![dev.enrollment_key.as_bytes()], |r| r.get(0))
                .optional()?;
            if earlier.is_some() {
                // One enrollment key certifies one device (clients burn a key
                // that certified two): the key is burnt here too, and the
                // device it certified is treated as revoked.
                revoke_enrollment_key(t, &dev.enrollment_key, now)?;
                return Ok(Err(refuse(
                    ErrorCode::Forbidden,
                    "this enrollment key already certified another device: both are now refused",
                )));
            }
            t.prepare_cached(
                "INSERT INTO devices (user, device, ed25519, chain, enrolled_at, enrollment_key) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                dev.user.as_str(),
                dev.device.as_str(),
                dev.ed25519.as_bytes(),
                dev.chain,
                now,
                dev.enrollment_key.as_bytes()
            ])?;
            let key = t.last_insert_rowid();
            t.prepare_cached("UPDATE invitations SET redeemed_device = ?2, redeemed_at = ?3 WHERE id = ?1")?
                .execute(params![dev.invitation.as_bytes(), key, now])?;
            Ok(Ok((DeviceRow { key, user: dev.user, device: dev.device, ed25519: dev.ed25519, revoked: false }, true)))
        })
        .await?
        .map_err(OpError::Refused)
    }

    async fn device(&self, user: UserId, device: DeviceId) -> Op<Option<DeviceRow>> {
        self.read(move |c| find_device(c, user.as_str(), device.as_str())).await
    }

    async fn upload_prekeys(
        &self,
        dev: DeviceKey,
        one_time: Vec<([u8; 32], Vec<u8>)>,
        fallback: Option<Vec<u8>>,
    ) -> Op<u64> {
        self.write(move |t| {
            for (key, signed) in &one_time {
                t.prepare_cached("INSERT OR IGNORE INTO one_time_keys (device, key, signed) VALUES (?1, ?2, ?3)")?
                    .execute(params![dev, key.as_slice(), signed])?;
            }
            if let Some(signed) = fallback {
                t.prepare_cached("INSERT OR REPLACE INTO fallback_keys (device, signed) VALUES (?1, ?2)")?
                    .execute(params![dev, signed])?;
            }
            let n: i64 = t
                .prepare_cached("SELECT count(*) FROM one_time_keys WHERE device = ?1")?
                .query_row(params![dev], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn claim_prekeys(&self, devices: Vec<DeviceAddress>, one_time: Vec<bool>) -> Op<Vec<Option<Vec<u8>>>> {
        self.write(move |t| {
            let mut out = Vec::with_capacity(devices.len());
            for (i, addr) in devices.iter().enumerate() {
                let Some(dev) = find_device(t, addr.user.as_str(), addr.device.as_str())? else {
                    out.push(None);
                    continue;
                };
                if dev.revoked {
                    out.push(None);
                    continue;
                }
                let one: Option<(Vec<u8>, Vec<u8>)> = if one_time.get(i).copied().unwrap_or(false) {
                    t.prepare_cached("SELECT key, signed FROM one_time_keys WHERE device = ?1 LIMIT 1")?
                        .query_row(params![dev.key], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?
                } else {
                    None
                };
                if let Some((key, signed)) = one {
                    t.prepare_cached("DELETE FROM one_time_keys WHERE device = ?1 AND key = ?2")?
                        .execute(params![dev.key, key])?;
                    out.push(Some(signed));
                    continue;
                }
                let fallback: Option<Vec<u8>> = t
                    .prepare_cached("SELECT signed FROM fallback_keys WHERE device = ?1")?
                    .query_row(params![dev.key], |r| r.get(0))
                    .optional()?;
                out.push(fallback);
            }
            Ok(out)
        })
        .await
    }

    async fn statements_against(&self, user: UserId, device: DeviceId) -> Op<Vec<Vec<u8>>> {
        self.read(move |c| {
            let key: Option<Option<Vec<u8>>> = c
                .prepare_cached("SELECT enrollment_key FROM devices WHERE user = ?1 AND device = ?2")?
                .query_row(params![user.as_str(), device.as_str()], |r| r.get(0))
                .optional()?;
            let key = key.flatten();
            let rows = c
                .prepare_cached("SELECT item FROM statements WHERE user = ?1 OR user IS NULL ORDER BY id")?
                .query_map(params![user.as_str()], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<Vec<u8>>>>()?;
            let mut out = Vec::new();
            let mut bytes = 0;
            for item in rows {
                let Ok(statement) = decode::<Statement>(&item) else { continue };
                if !against(&statement, &user, &device, key.as_deref()) {
                    continue;
                }
                if out.len() >= limits::MAX_REFUSAL_STATEMENTS || bytes + item.len() > limits::MAX_REFUSAL_BYTES {
                    break;
                }
                bytes += item.len();
                out.push(item);
            }
            Ok(out)
        })
        .await
    }

    async fn directory_users(&self, after: Option<UserId>, limit: usize) -> Op<Vec<UserId>> {
        self.read(move |c| {
            let after = after.as_ref().map(UserId::as_str).unwrap_or("");
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let names = c
                .prepare_cached("SELECT DISTINCT user FROM devices WHERE user > ?1 ORDER BY user LIMIT ?2")?
                .query_map(params![after, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            names
                .into_iter()
                .map(|u| {
                    UserId::new(u).map_err(|_| {
                        OpError::Failed(RelayError::Storage("stored device has an invalid user id".into()))
                    })
                })
                .collect()
        })
        .await
    }

    async fn directory(&self, users: Vec<UserId>) -> Op<Vec<DirectoryRows>> {
        self.read(move |c| {
            let mut out = Vec::with_capacity(users.len());
            for user in &users {
                let chains = c
                    .prepare_cached("SELECT chain FROM devices WHERE user = ?1 ORDER BY id")?
                    .query_map(params![user.as_str()], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<Vec<u8>>>>()?;
                let statements = c
                    .prepare_cached("SELECT item FROM statements WHERE user = ?1 OR user IS NULL ORDER BY id")?
                    .query_map(params![user.as_str()], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<Vec<u8>>>>()?;
                out.push(DirectoryRows { chains, statements });
            }
            Ok(out)
        })
        .await
    }

    async fn publish(
        &self,
        sender: DeviceKey,
        id: MessageId,
        deliveries: Vec<Delivery>,
        now: u64,
        limits: InboxLimits,
    ) -> Op<Published> {
        self.publish_queued(sender, id, deliveries, now, limits).await?.await
    }

    async fn publish_queued(
        &self,
        sender: DeviceKey,
        id: MessageId,
        deliveries: Vec<Delivery>,
        now: u64,
        limits: InboxLimits,
    ) -> Op<Committed<Published>> {
        let now = i64_of(now)?;
        self.enqueue(move |t| {
            let revoked: bool = t
                .prepare_cached("SELECT revoked FROM devices WHERE id = ?1")?
                .query_row(params![sender], |r| r.get(0))?;
            if revoked {
                return Err(refuse(ErrorCode::Forbidden, "this device is revoked").into());
            }
            let fresh = t
                .prepare_cached("INSERT OR IGNORE INTO published (device, id, at) VALUES (?1, ?2, ?3)")?
                .execute(params![sender, id.as_bytes(), now])?;
            if fresh == 0 {
                return Ok(Published::Duplicate);
            }
            let mut touched = Vec::new();
            for d in &deliveries {
                let mut to = Vec::with_capacity(d.to.len());
                for addr in &d.to {
                    match find_device(t, addr.user.as_str(), addr.device.as_str())? {
                        Some(dev) if dev.revoked => {}
                        Some(dev) => to.push(dev.key),
                        None => {
                            return Err(refuse(
                                ErrorCode::NotFound,
                                format!("no enrolled device {} of {}; nothing was stored", addr.device, addr.user),
                            )
                            .into());
                        }
                    }
                }
                to.sort_unstable();
                to.dedup();
                deliver(t, &d.item, &to, now, Some(sender), limits)?;
                touched.extend(to);
            }
            touched.sort_unstable();
            touched.dedup();
            Ok(Published::Stored(touched))
        })
        .await
    }

    async fn publish_statement(&self, st: NewStatement, now: u64) -> Op<Published> {
        let now = i64_of(now)?;
        self.write(move |t| {
            let fresh = t
                .prepare_cached("INSERT OR IGNORE INTO statements (user, hash, item) VALUES (?1, ?2, ?3)")?
                .execute(params![st.user.as_ref().map(UserId::as_str), st.hash.as_slice(), st.statement])?;
            if fresh == 0 {
                return Ok(Published::Duplicate);
            }
            if let (true, Some(user), Some(device)) = (st.revokes, &st.user, &st.device) {
                t.prepare_cached("UPDATE devices SET revoked = 1 WHERE user = ?1 AND device = ?2")?
                    .execute(params![user.as_str(), device.as_str()])?;
            }
            if let Some(key) = &st.enrollment_key {
                revoke_enrollment_key(t, key, now)?;
            }
            // Every device learns of it: the revoked device too (it may be
            // ordered to wipe), so it is delivered before revocation applies.
            let all = t
                .prepare_cached("SELECT id FROM devices ORDER BY id")?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<DeviceKey>>>()?;
            deliver(t, &st.item, &all, now, None, InboxLimits::NONE)?;
            Ok(Published::Stored(all))
        })
        .await
    }

    async fn inbox(&self, dev: DeviceKey, after: u64, limit: usize) -> Op<Vec<(u64, Vec<u8>)>> {
        let after = i64_of(after)?;
        self.read(move |c| {
            // No `LIMIT ?`: SQLite prepares a statement with a bound LIMIT
            // again each time it is bound. The primary key gives the order,
            // so reading stops after `limit` rows without sorting.
            let rows = c
                .prepare_cached(
                    "SELECT inbox.seq, payloads.item FROM inbox JOIN payloads ON payloads.id = inbox.payload \
                     WHERE inbox.device = ?1 AND inbox.seq > ?2 ORDER BY inbox.seq",
                )?
                .query_map(params![dev, after], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))?
                .take(limit)
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows.into_iter().map(|(s, i)| (u64::try_from(s).unwrap_or(0), i)).collect())
        })
        .await
    }

    async fn first_unacked(&self, dev: DeviceKey) -> Op<u64> {
        self.read(move |c| {
            let first: Option<i64> = c
                .prepare_cached("SELECT min(seq) FROM inbox WHERE device = ?1")?
                .query_row(params![dev], |r| r.get(0))?;
            let next: i64 = c
                .prepare_cached("SELECT next_seq FROM devices WHERE id = ?1")?
                .query_row(params![dev], |r| r.get(0))?;
            Ok(u64::try_from(first.unwrap_or(next)).unwrap_or(1))
        })
        .await
    }

    async fn ack(&self, dev: DeviceKey, seq: u64) -> Op<()> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.write(move |t| {
            let payloads = t
                .prepare_cached("DELETE FROM inbox WHERE device = ?1 AND seq <= ?2 RETURNING payload")?
                .query_map(params![dev, seq], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if payloads.is_empty() {
                return Ok(());
            }
            let n = i64::try_from(payloads.len()).unwrap_or(i64::MAX);
            t.prepare_cached("UPDATE devices SET depth = max(depth - ?2, 0) WHERE id = ?1")?
                .execute(params![dev, n])?;
            let mut shares = Vec::new();
            for p in payloads {
                let (left, sender, len): (i64, Option<i64>, i64) = t
                    .prepare_cached(
                        "UPDATE payloads SET refs = refs - 1 WHERE id = ?1 RETURNING refs, sender, length(item)",
                    )?
                    .query_row(params![p], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                if let Some(sender) = sender {
                    shares.push((sender, len));
                }
                if left <= 0 {
                    t.prepare_cached("DELETE FROM payloads WHERE id = ?1")?.execute(params![p])?;
                }
            }
            release_pending(t, dev, &shares)?;
            Ok(())
        })
        .await
    }

    async fn create_blob(&self, owner: DeviceKey, id: [u8; 16], len: u64, quota: u64, now: u64) -> Op<()> {
        let len_i = i64_of(len)?;
        let now = i64_of(now)?;
        self.write(move |t| {
            let used: i64 = t
                .prepare_cached("SELECT blob_bytes FROM devices WHERE id = ?1")?
                .query_row(params![owner], |r| r.get(0))?;
            if u64::try_from(used).unwrap_or(u64::MAX).saturating_add(len) > quota {
                return Err(refuse(
                    ErrorCode::QuotaExceeded,
                    format!("this device's blob quota of {quota} bytes would be exceeded"),
                )
                .into());
            }
            t.prepare_cached("INSERT INTO blobs (id, owner, len, created) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![id.as_slice(), owner, len_i, now])?;
            t.prepare_cached("UPDATE devices SET blob_bytes = blob_bytes + ?2 WHERE id = ?1")?
                .execute(params![owner, len_i])?;
            Ok(())
        })
        .await
    }

    async fn blob(&self, id: [u8; 16]) -> Op<Option<BlobRow>> {
        self.read(move |c| {
            let row: Option<(i64, i64, i64, bool)> = c
                .prepare_cached("SELECT owner, len, received, complete FROM blobs WHERE id = ?1")?
                .query_row(params![id.as_slice()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            Ok(row.map(|(owner, len, received, complete)| BlobRow {
                owner,
                len: u64::try_from(len).unwrap_or(0),
                received: u64::try_from(received).unwrap_or(0),
                complete,
            }))
        })
        .await
    }

    async fn blob_progress(&self, id: [u8; 16], received: u64, complete: bool) -> Op<()> {
        let received = i64_of(received)?;
        self.write(move |t| {
            t.prepare_cached("UPDATE blobs SET received = ?2, complete = ?3 WHERE id = ?1")?.execute(params![
                id.as_slice(),
                received,
                complete
            ])?;
            Ok(())
        })
        .await
    }

    async fn sweep(&self, inbox_before: u64, publish_ids_before: u64, blobs_before: u64) -> Op<(Swept, Vec<[u8; 16]>)> {
        let (inbox_before, publish_before, blobs_before) =
            (i64_of(inbox_before)?, i64_of(publish_ids_before)?, i64_of(blobs_before)?);
        self.write(move |t| {
            let mut swept = Swept::default();
            let old = t
                .prepare_cached(
                    "DELETE FROM inbox WHERE payload IN (SELECT id FROM payloads WHERE stored < ?1) \
                     RETURNING device",
                )?
                .query_map(params![inbox_before], |r| r.get::<_, i64>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            swept.inbox_entries = old.len() as u64;
            for dev in old {
                t.prepare_cached("UPDATE devices SET depth = max(depth - 1, 0) WHERE id = ?1")?
                    .execute(params![dev])?;
            }
            t.prepare_cached("DELETE FROM payloads WHERE stored < ?1")?.execute(params![inbox_before])?;
            if swept.inbox_entries > 0 {
                // Shares of what the sweep dropped: counted again from what
                // is left (hourly, and only after a sweep removed entries).
                t.prepare_cached("DELETE FROM pending")?.execute([])?;
                t.prepare_cached(
                    "INSERT INTO pending (device, sender, entries, bytes) \
                     SELECT inbox.device, payloads.sender, count(*), sum(length(payloads.item)) \
                     FROM inbox JOIN payloads ON payloads.id = inbox.payload \
                     WHERE payloads.sender IS NOT NULL GROUP BY inbox.device, payloads.sender",
                )?
                .execute([])?;
            }
            swept.publish_ids =
                t.prepare_cached("DELETE FROM published WHERE at < ?1")?.execute(params![publish_before])? as u64;
            let blobs = t
                .prepare_cached("DELETE FROM blobs WHERE created < ?1 RETURNING id, owner, len")?
                .query_map(params![blobs_before], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut ids = Vec::with_capacity(blobs.len());
            for (id, owner, len) in blobs {
                t.prepare_cached("UPDATE devices SET blob_bytes = max(blob_bytes - ?2, 0) WHERE id = ?1")?
                    .execute(params![owner, len])?;
                if let Ok(id) = <[u8; 16]>::try_from(id) {
                    ids.push(id);
                }
            }
            swept.blobs = ids.len() as u64;
            Ok((swept, ids))
        })
        .await
    }

    async fn stats(&self) -> Op<Stats> {
        self.read(|c| {
            let (devices, entries, max): (i64, i64, i64) = c
                .prepare_cached("SELECT count(*), coalesce(sum(depth), 0), coalesce(max(depth), 0) FROM devices")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let n = |v: i64| u64::try_from(v).unwrap_or(0);
            Ok(Stats { devices: n(devices), inbox_entries: n(entries), max_inbox_depth: n(max) })
        })
        .await
    }
}
