//! The engine: one device's crypto state, store and relay connection.
//!
//! Sending is outbox first: a message is committed as *pending* together
//! with an outbox item; the flusher encrypts it (sharing the room key with
//! the current members' trusted devices first), commits the advanced
//! ratchets and the ciphertext in one batch, and only then publishes. A
//! crash at any point leaves either the plaintext intent or the exact
//! ciphertext queued, so a resend never reuses ratchet state and the relay
//! deduplicates by message id.
//!
//! Receiving processes each inbox entry and moves the inbox cursor in one
//! store transaction, then acknowledges it to the relay.
//!
//! Submodules, by what changes together: `outbox` (sending), `receive`
//! (inbox frames, to-device and room messages), `rooms` (room state logs,
//! conflicts, history for new devices), `directory` and `trust`
//! (statements, device lists, trust per sending device), `channels` (Olm
//! sessions), `rollback` (a frame is all or nothing), [`verify`]
//! (person-to-person SAS verification of a device), [`recovery`] (room keys
//! a device missed, asked of the user's own other devices), `direct`
//! (to-device messages both of them send) and `files` (attachments).

mod alerts;
mod channels;
mod devices;
mod direct;
mod directory;
mod outbox;
mod preview;
mod receive;
mod recovery;
mod refusal;
mod rollback;
mod rooms;
mod timeline;
mod trust;
mod unlock;
mod verify;

pub use alerts::StoredAlert;
pub use devices::{Contact, DeviceTrust, DeviceView, OwnState};
pub use preview::{MAX_PREVIEW_BYTES, MAX_PREVIEW_PIXELS, MAX_PREVIEW_SIDE, Preview};
pub use timeline::{ReactionView, ReceiptView, RoomSummary};
pub use unlock::EnrollOptions;

pub use verify::{DEFAULT_VERIFICATION_TIMEOUT, VerificationState, VerificationView, describe_cancel};

use crate::error::{ClientError, Result};
use crate::net::{self, Link, Push, RelayTarget};
use crate::profile::{KeySource, Profile};
use belfry_crypto::{
    Admission, Device, Directory, InboundRoomSession, OlmChannel, OutboundRoomSession, PickleKey, ReplayGuard, RoomLog,
    RoomState, RotationPolicy, StateError, StatementEffect,
};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::codec::{decode, encode};
use belfry_protocol::frames::{DeviceAddress, InboxEntry, InboxItem};
use belfry_protocol::room::{Role, RoomKind};
use belfry_protocol::{
    ClientFrame, DeviceId, DisplayName, Ed25519Public, FlowId, Hash256, Invitation, MessageId, Request, RoomContent,
    RoomId, RoomMessage, StateContent, Statement, ToDeviceContent, ToDeviceEnvelope, UserId,
};
use belfry_store::{Batch, MessageStatus, Op, SqlStore, Store, StoredMessage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{Mutex, broadcast, mpsc};

mod files;
pub use files::{AttachmentInfo, Direction, FileError, PendingUpload, Transfer};

/// One-time keys uploaded at a time.
const PREKEY_BATCH: usize = 20;

fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0),
    )
}

/// Something the user should know about. Every alert the engine emits is
/// also kept in the store until dismissed ([`Engine::alerts`]); new kinds
/// go at the end (the stored encoding numbers them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Alert {
    /// A device appeared for a contact or for this user.
    NewDevice {
        /// Whose.
        user: UserId,
        /// Which.
        device: DeviceId,
        /// Its name as its owner gave it.
        name: String,
        /// One of this user's own devices.
        own: bool,
    },
    /// A device was revoked or ordered wiped.
    DeviceRevoked {
        /// Whose.
        user: UserId,
        /// Which.
        device: DeviceId,
    },
    /// A room's state history conflicts with what this device holds (a
    /// fork, a gap, an invalid change).
    StateConflict {
        /// The room.
        room: RoomId,
        /// What was found.
        detail: String,
    },
    /// Something from the relay was refused: why, for people.
    Rejected {
        /// What was refused and why.
        detail: String,
    },
    /// Messages are missing or arrived out of order: the relay withheld,
    /// dropped or delayed something (each sender's messages are numbered).
    Delivery {
        /// The room.
        room: RoomId,
        /// The sender whose messages are affected.
        sender: UserId,
        /// What was seen.
        detail: String,
    },
    /// A message could not be decrypted.
    Undecryptable {
        /// The room.
        room: RoomId,
        /// The claimed sender.
        sender: UserId,
        /// Why.
        reason: String,
    },
    /// A person-to-person verification failed a check: the two devices did
    /// not see the same keys (someone may be in between), or the other
    /// device broke the protocol. The device is not marked verified.
    VerificationFailed {
        /// The other device's user.
        user: UserId,
        /// The other device.
        device: DeviceId,
        /// What failed.
        detail: String,
    },
}

/// A message as a front end shows it. `Debug` shows ids and sizes, never
/// the text.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageView {
    /// Its id.
    pub id: MessageId,
    /// Its room.
    pub room: RoomId,
    /// Its sender.
    pub sender: UserId,
    /// Sent at (the sender's clock).
    pub sent_at: Timestamp,
    /// Where it stands.
    pub status: MessageStatus,
    /// The text (a reply's own text: what it answers is `reply_to`).
    pub body: String,
    /// The attached file, if any.
    pub attachment: Option<AttachmentInfo>,
    /// The message it replies to.
    pub reply_to: Option<MessageId>,
    /// Its sender changed the text since it was first sent.
    pub edited: bool,
    /// Reactions, one entry per key (sorted), with who reacted.
    pub reactions: Vec<ReactionView>,
    /// For this user's own messages: each member's receipt (delivered or
    /// read, and when), by member.
    pub receipts: Vec<ReceiptView>,
}

impl std::fmt::Debug for MessageView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageView")
            .field("id", &self.id)
            .field("room", &self.room)
            .field("sender", &self.sender)
            .field("sent_at", &self.sent_at.0)
            .field("status", &self.status)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("attachment", &self.attachment)
            .field("reply_to", &self.reply_to)
            .field("edited", &self.edited)
            .field("reactions", &self.reactions.len())
            .field("receipts", &self.receipts)
            .finish()
    }
}

impl From<StoredMessage> for MessageView {
    fn from(m: StoredMessage) -> Self {
        Self {
            id: m.id,
            room: m.room,
            sender: m.sender,
            sent_at: m.sent_at,
            status: m.status,
            body: m.body,
            attachment: None,
            reply_to: m.reply_to,
            edited: m.edited,
            reactions: Vec::new(),
            receipts: Vec::new(),
        }
    }
}

/// A room as a front end lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    /// Its id.
    pub id: RoomId,
    /// Direct or group.
    pub kind: RoomKind,
    /// Its name.
    pub name: String,
    /// Members and roles.
    pub members: BTreeMap<UserId, Role>,
    /// Disappearing-message timer, seconds.
    pub retention_secs: Option<u64>,
    /// Classification label.
    pub classification: Option<String>,
    /// Why the room does not send now, if it does not: its history is in
    /// conflict (events missing, or members writing under a state this
    /// device does not hold). Messages stay queued until it is resolved.
    pub conflict: Option<String>,
}

/// What the engine reports as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Connected and authenticated.
    Connected,
    /// The relay connection is down (it is retried).
    Disconnected(String),
    /// Everything the relay held has been processed.
    CaughtUp,
    /// A message arrived or changed.
    Message(MessageView),
    /// A message's status changed, or (for this user's own messages) a
    /// member's receipt arrived: read its receipts again.
    Status(MessageId, MessageStatus),
    /// A message was deleted (by its sender, or its time was up).
    Removed(MessageId),
    /// Someone reacted to a message.
    Reaction(MessageId),
    /// A room's state changed.
    Room(RoomId),
    /// Something to tell the user.
    Alert(Alert),
    /// An alert was kept in the store, under this id (follows its
    /// [`Event::Alert`]): what a front end lists and dismisses.
    AlertStored(StoredAlert),
    /// A file upload or download progressed.
    Transfer(Transfer),
    /// A person-to-person verification moved on.
    Verification {
        /// The flow.
        flow: FlowId,
        /// The other device's user.
        user: UserId,
        /// The other device.
        device: DeviceId,
        /// Where it stands now.
        state: VerificationState,
    },
    /// This device was revoked (a statement signed by the organisation or
    /// by another of this user's devices): the relay no longer serves it
    /// and nobody encrypts to it. [`Engine::own_state`] says so from then on.
    Revoked,
    /// This device was wiped by order; the engine has stopped.
    Wiped,
    /// A wipe order was obeyed but could not erase everything (the store
    /// key may survive; the detail says what). The engine has stopped; the
    /// wipe is finished the next time the profile is opened.
    WipeIncomplete(String),
}

/// Where the connection stands; [`Engine::status`] always has the latest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Connected and authenticated.
    pub online: bool,
    /// Online, and everything the relay held has been processed.
    pub caught_up: bool,
}

/// A queued unit of outgoing work. No `Debug`: its content is plaintext.
#[derive(Clone, Serialize, Deserialize)]
enum OutboxItem {
    /// Encrypt and send `content` in `room` (as message `id`); `history_to`
    /// also get the room's earlier state events (new members). `members`
    /// are the room's members when it was composed: someone added before
    /// it is encrypted (it may wait offline for days) does not get it.
    Compose { id: MessageId, room: RoomId, content: RoomContent, history_to: Vec<UserId>, members: Vec<UserId> },
    /// Publish this request as it is. `keys_for` are the rooms whose
    /// session keys it carries: if the relay refuses it for good, those
    /// sessions are replaced, so no device is left marked as holding a key
    /// it never got.
    Publish { frame: Vec<u8>, keys_for: Vec<RoomId> },
    /// Send `room`'s state history to `to` (new devices of this user).
    History { room: RoomId, to: Vec<DeviceAddress> },
}

struct State {
    device: Device,
    pickle: PickleKey,
    dir: Directory,
    channels: Vec<OlmChannel>,
    outbound: HashMap<RoomId, OutboundRoomSession>,
    /// Inbound Megolm sessions by (creator user, creator device, id): a
    /// claim to someone else's session id never hides theirs.
    inbound: HashMap<InboundKey, InboundRoomSession>,
    /// Every room this device holds a log for; a room whose Create is not
    /// placed yet has no state and is not shown.
    rooms: BTreeMap<RoomId, RoomLog>,
    /// Signers of held state events whose devices must be fetched.
    room_fetch: BTreeSet<UserId>,
    /// Users whose device lists must be fetched before encrypting to them.
    stale: HashSet<UserId>,
    /// Room messages waiting for their key, oldest first.
    waiting: Vec<Waiting>,
    /// One-time keys consumed since the last upload.
    prekeys_used: usize,
    /// Verifications in progress (in memory: a restart ends them).
    flows: verify::Flows,
    /// Room keys asked of this user's other devices, and answers given.
    recovery: recovery::Recovery,
    /// Refused statements already announced.
    refused: trust::Refused,
}

struct Inner {
    store: Arc<SqlStore>,
    /// `None` once locked: the device, pickle key and sessions are dropped.
    state: Mutex<Option<State>>,
    /// The link's copy of the device, for authenticating; `None` once locked.
    signer: Arc<std::sync::Mutex<Option<Device>>>,
    /// Set by [`Engine::lock`]: calls that only read the store answer
    /// [`ClientError::Locked`] too, not "store closed".
    locked: std::sync::atomic::AtomicBool,
    link: Link,
    events: broadcast::Sender<Event>,
    profile: Profile,
    flushing: Mutex<()>,
    target: RelayTarget,
    /// Group commit for messages being written: concurrent sends share one
    /// transaction (one fsync).
    committer: mpsc::Sender<(Batch, tokio::sync::oneshot::Sender<std::result::Result<(), String>>)>,
    /// Wakes the outbox flusher (coalesced: many sends, one flush pass).
    flush_wanted: tokio::sync::Notify,
    /// What the connection has delivered, until [`Engine::start`].
    paused: Mutex<Option<mpsc::Receiver<Push>>>,
    /// The connection's state, for late subscribers.
    status: tokio::sync::watch::Sender<SyncStatus>,
    /// Last outbox timestamp handed out: the outbox is ordered by it, so
    /// every item gets a later one than the item before.
    clock: std::sync::Mutex<u64>,
    /// Attachment uploads and downloads.
    files: files::Files,
    /// Rooms whose messages could not be prepared the last time, and why
    /// (the user is told once per room and reason; see `outbox`).
    failing_rooms: std::sync::Mutex<BTreeMap<RoomId, String>>,
}

/// The engine. Cheap to clone; every clone drives the same device.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("profile", &self.inner.profile.dir()).finish_non_exhaustive()
    }
}

// Keys of named values in the store.
const K_ORG: &str = "org";
const K_RELAY_URL: &str = "relay-url";
const K_RELAY_CA: &str = "relay-ca";
const K_PICKLE: &str = "pickle-key";
const K_DIRECTORY: &str = "directory";
const K_PREKEYS_USED: &str = "prekeys-used";
/// The format of what the engine keeps in the store (its values, outbox
/// items, room and waiting rows), checked on open.
const K_FORMAT: &str = "engine-format";
/// This build's format. Pre-release profiles have none.
/// 2: room ids are the hash of the Create event, rooms are fork-aware
/// logs, the directory dates revocations.
const FORMAT: u32 = 2;

/// Room messages kept waiting for a key that has not arrived, at most.
const MAX_WAITING: usize = 1000;
/// ... and at most this many bytes of ciphertext.
const MAX_WAITING_BYTES: usize = 16 << 20;
const K_KEY_REQUESTS: &str = "key-requests";

fn ser<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(v).map_err(|e| ClientError::Config(format!("cannot encode local state: {e}")))
}

fn de<T: for<'a> Deserialize<'a>>(bytes: &[u8], what: &str) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| ClientError::Config(format!("local {what} is damaged: {e}")))
}

/// A new outbound session for `room`, kept as an inbound session too, so
/// this device can forward it from the first message to its user's other
/// devices (key recovery).
fn fresh_outbound(st: &mut State, room: RoomId, t: Timestamp, batch: &mut Batch) -> Result<OutboundRoomSession> {
    let session = OutboundRoomSession::new(&st.device, room, RotationPolicy::default(), t)?;
    let own = session.inbound_copy()?;
    batch.push(put_inbound(&own, &st.pickle)?);
    st.inbound.insert(inbound_key(&own), own);
    Ok(session)
}

/// An inbound Megolm session's key: the user and device that created it
/// (from its signed claim), and its id.
type InboundKey = (UserId, DeviceId, Ed25519Public);

fn inbound_key(s: &InboundRoomSession) -> InboundKey {
    (s.sender().clone(), s.sender_device().clone(), *s.session_id())
}

/// The session a room message names, by its envelope.
fn inbound_key_of(msg: &RoomMessage) -> InboundKey {
    (msg.sender.clone(), msg.sender_device.clone(), msg.session)
}

fn put_inbound(s: &InboundRoomSession, pickle: &PickleKey) -> Result<Op> {
    Ok(Op::PutInboundSession {
        sender: s.sender().clone(),
        sender_device: s.sender_device().clone(),
        session: *s.session_id(),
        room: *s.room(),
        pickle: s.pickle(pickle)?,
    })
}

/// One room's record, as the store keeps it.
fn room_op(room: RoomId, record: &RoomLog) -> Result<Op> {
    Ok(Op::PutRoom { room, record: ser(record)? })
}

fn value(key: &str, v: Vec<u8>) -> Op {
    Op::PutValue { key: key.into(), value: v }
}

/// (session, index) pairs decrypted in the batch being built.
type Pending = HashSet<(Ed25519Public, u32)>;

/// A replay guard over the store plus the batch being built.
struct StoreGuard<'a> {
    store: &'a SqlStore,
    pending: &'a Pending,
    new: Vec<(Ed25519Public, u32)>,
}

impl StoreGuard<'_> {
    fn was_seen(&self, session: &Ed25519Public, index: u32) -> bool {
        self.new.contains(&(*session, index))
            || self.pending.contains(&(*session, index))
            || self.store.seen(session, index).unwrap_or(true)
    }
}

impl ReplayGuard for StoreGuard<'_> {
    fn seen(&self, session: &Ed25519Public, index: u32) -> bool {
        self.was_seen(session, index)
    }
    fn record(&mut self, session: &Ed25519Public, index: u32) {
        self.new.push((*session, index));
    }
}

fn address(d: &belfry_crypto::VerifiedDevice) -> DeviceAddress {
    DeviceAddress { user: d.user.clone(), device: d.device.clone() }
}

impl Engine {
    /// Enrolls a new device from `invitation` into a new profile: checks
    /// the invitation against `org` (the organisation key this build
    /// trusts), creates the device, stores it, and registers it with the
    /// relay.
    pub async fn enroll(
        profile: Profile,
        invitation: &Invitation,
        org: Ed25519Public,
        device_name: DisplayName,
        source: &KeySource,
    ) -> Result<Self> {
        Self::enroll_with(profile, invitation, org, device_name, source, &EnrollOptions::default()).await
    }

    /// [`enroll`](Self::enroll) with options (an app passcode).
    pub async fn enroll_with(
        profile: Profile,
        invitation: &Invitation,
        org: Ed25519Public,
        device_name: DisplayName,
        source: &KeySource,
        options: &EnrollOptions,
    ) -> Result<Self> {
        let mut device = Device::enroll(invitation, &org, device_name, now())?;
        let cert = invitation.enrollment.peek_unverified().map_err(|e| ClientError::Input(e.to_string()))?;
        let target = RelayTarget { url: cert.relay.url.clone(), ca_der: invitation.relay_ca_der.clone() };
        let pickle_secret = zeroize::Zeroizing::new(rand::random::<[u8; 32]>());
        let pickle = PickleKey::new(*pickle_secret);
        let mut dir = Directory::new(org);
        dir.admit_own(&device, now())?;
        // The keys' secret halves are stored before the public halves leave.
        let one_time = device.generate_prekeys(PREKEY_BATCH);
        let fallback = device.generate_fallback_prekey();
        let store = match &options.passcode {
            Some(passcode) => profile.create_with_passcode(source, passcode, options.passcode_cost)?,
            None => profile.create(source)?,
        };
        let batch = Batch::new()
            .with(Op::PutAccount(device.pickle(&pickle)?))
            .with(value(K_ORG, org.as_bytes().to_vec()))
            .with(value(K_RELAY_URL, target.url.clone().into_bytes()))
            .with(value(K_RELAY_CA, target.ca_der.clone()))
            .with(value(K_PICKLE, pickle_secret.to_vec()))
            .with(value(K_DIRECTORY, ser(&dir)?))
            .with(value(K_PREKEYS_USED, ser(&0usize)?))
            .with(value(K_FORMAT, ser(&FORMAT)?));
        store.commit(batch)?;
        let signer = Arc::new(std::sync::Mutex::new(Device::unpickle(&device.pickle(&pickle)?, &pickle)?));
        let sign: net::Signer = Arc::new(move |proof| match signer.lock() {
            Ok(d) => Ok(d.sign(proof)),
            Err(poisoned) => Ok(poisoned.into_inner().sign(proof)),
        });
        // A dropped connection is retried: the relay answers a repeated
        // enrollment of the same device as the first time, so an answer
        // lost on the way does not spend the invitation for nothing.
        // Once the relay has confirmed the device, nothing is sent again
        // here (the same one-time keys must not be offered twice): the
        // engine's first connection authenticates and uploads fresh ones.
        let mut attempt = 0u64;
        let mut enrolled = false;
        let outcome = loop {
            attempt += 1;
            let sent = net::enroll(&target, device.chain().clone(), &sign, one_time.clone(), fallback.clone()).await;
            match sent {
                Err(f) if !f.enrolled && !matches!(f.error, ClientError::Refused(_)) && attempt < 3 => {
                    tracing::info!(error = %f.error, attempt, "enrollment interrupted; trying again");
                    tokio::time::sleep(std::time::Duration::from_millis(500 * attempt)).await;
                }
                Err(f) => {
                    enrolled |= f.enrolled;
                    break Err(f);
                }
                Ok(()) => break Ok(()),
            }
        };
        match outcome {
            Ok(()) => {
                device.mark_prekeys_published();
                store.commit(Batch::new().with(Op::PutAccount(device.pickle(&pickle)?)))?;
            }
            // The relay has this device: keep it. Its first connection
            // uploads fresh keys (the counter says they are used up).
            Err(f) if enrolled => {
                tracing::warn!(error = %f.error, "enrolled, but the first keys did not reach the relay; they follow");
                store.commit(Batch::new().with(value(K_PREKEYS_USED, ser(&PREKEY_BATCH)?)))?;
            }
            Err(f) => {
                drop(store);
                let _ = profile.erase();
                return Err(match f.error {
                    refused @ ClientError::Refused(_) => refused,
                    other => ClientError::Relay(format!(
                        "enrollment did not complete ({other}); if the relay received it before the connection \
                         broke, this invitation is used: try again, and ask IT for a new invitation if the relay \
                         says so"
                    )),
                });
            }
        }
        let engine = Self::from_store(profile, Arc::new(store)).await?;
        engine.start().await;
        Ok(engine)
    }

    /// Opens an enrolled profile; nothing is processed until
    /// [`start`](Self::start).
    pub async fn open_paused(profile: Profile, source: &KeySource) -> Result<Self> {
        let store = Arc::new(profile.open(source)?);
        Self::from_store(profile, store).await
    }

    /// The engine on an opened store.
    async fn from_store(profile: Profile, store: Arc<SqlStore>) -> Result<Self> {
        let need = |key: &str| -> Result<Vec<u8>> {
            store.value(key)?.ok_or_else(|| ClientError::Config(format!("the profile lacks its {key}")))
        };
        // What this build writes is what it reads: a profile in another
        // format is refused, never half-read (rooms or queued messages
        // silently missing).
        let format: Option<u32> = store.value(K_FORMAT)?.map(|b| de(&b, "format")).transpose()?;
        match format {
            Some(FORMAT) => {}
            Some(newer) if newer > FORMAT => {
                return Err(ClientError::Config(format!(
                    "this profile was written by a newer Belfry (format {newer}; this build reads {FORMAT}): update Belfry"
                )));
            }
            Some(older) if older > 0 => {
                return Err(ClientError::Config(format!(
                    "this profile was written by an earlier Belfry (format {older}; this build reads {FORMAT}) whose \
                     rooms this build does not read; enroll this device again (IT issues a new invitation)"
                )));
            }
            _ => {
                return Err(ClientError::Config(
                    "this profile was written by a pre-release build of Belfry whose format this build does not \
                     read; enroll this device again (IT issues a new invitation)"
                        .into(),
                ));
            }
        }
        let secret = zeroize::Zeroizing::new(need(K_PICKLE)?);
        let pickle = PickleKey::new(
            secret
                .as_slice()
                .try_into()
                .map_err(|_| ClientError::Config("the profile's pickle key is damaged".into()))?,
        );
        let account = store.account()?.ok_or_else(|| ClientError::Config("the profile has no device".into()))?;
        let device = Device::unpickle(&account, &pickle)?;
        let dir: Directory = de(&need(K_DIRECTORY)?, "directory")?;
        timeline::move_legacy_reactions(&store)?;
        let rooms = rollback::stored_rooms(&store)?;
        let waiting = rollback::stored_waiting(&store)?;
        let prekeys_used = match store.value(K_PREKEYS_USED)? {
            Some(b) => de(&b, "key counter")?,
            None => PREKEY_BATCH,
        };
        let recovery = recovery::Recovery::load(&store)?;
        let refused = trust::Refused::load(&store)?;
        let mut channels = Vec::new();
        let mut users: BTreeSet<UserId> =
            rooms.values().filter_map(RoomLog::state).flat_map(|s| s.members().keys().cloned()).collect();
        users.insert(device.user().clone());
        for user in &users {
            for peer in dir.trusted_devices(user) {
                for (_, p) in store.olm_sessions(&peer.user, &peer.device)? {
                    channels.push(OlmChannel::unpickle(&p, &pickle)?);
                }
            }
        }
        let target = RelayTarget {
            url: String::from_utf8(need(K_RELAY_URL)?).map_err(|_| ClientError::Config("bad relay url".into()))?,
            ca_der: need(K_RELAY_CA)?,
        };
        let (pushes_tx, pushes) = mpsc::channel(64);
        // The link's own copy of the device (signing needs only the
        // identity key, which never changes); taken out and dropped on lock.
        let signer = Arc::new(std::sync::Mutex::new(Some(Device::unpickle(&account, &pickle)?)));
        let signer_device = signer.clone();
        let sign: net::Signer = Arc::new(move |proof| {
            let d = signer_device.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            d.as_ref().map(|d| d.sign(proof)).ok_or(ClientError::Locked)
        });
        let link = Link::spawn(target.clone(), device.user().clone(), device.device_id().clone(), sign, pushes_tx);
        let (events, _) = broadcast::channel(4096);
        let (committer, commits) = mpsc::channel(1024);
        tokio::spawn(group_commit(store.clone(), commits));
        let state = State {
            device,
            pickle,
            dir,
            channels,
            outbound: HashMap::new(),
            inbound: HashMap::new(),
            stale: users.into_iter().collect(),
            rooms,
            room_fetch: BTreeSet::new(),
            waiting,
            prekeys_used,
            flows: verify::Flows::default(),
            recovery,
            refused,
        };
        let files = files::Files::new(&target)?;
        let engine = Self {
            inner: Arc::new(Inner {
                locked: std::sync::atomic::AtomicBool::new(false),
                store,
                state: Mutex::new(Some(state)),
                signer,
                link,
                events,
                profile,
                flushing: Mutex::new(()),
                target,
                clock: std::sync::Mutex::new(now().0),
                status: tokio::sync::watch::channel(SyncStatus::default()).0,
                paused: Mutex::new(None),
                committer,
                flush_wanted: tokio::sync::Notify::new(),
                files,
                failing_rooms: std::sync::Mutex::new(BTreeMap::new()),
            }),
        };
        *engine.inner.paused.lock().await = Some(pushes);
        Ok(engine)
    }

    /// Opens an enrolled profile and starts syncing: [`open_paused`](Self::open_paused)
    /// then [`start`](Self::start).
    pub async fn open(profile: Profile, source: &KeySource) -> Result<Self> {
        let engine = Self::open_paused(profile, source).await?;
        engine.start().await;
        Ok(engine)
    }

    /// Starts processing what the relay sends (once). Subscribe first to
    /// see every event from the start.
    pub async fn start(&self) {
        if let Some(pushes) = self.inner.paused.lock().await.take() {
            tokio::spawn(self.clone().sync_loop(pushes));
            self.spawn_uploader();
            let purger = self.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                let mut stopped = purger.inner.link.stopped();
                loop {
                    // Ends with the engine: a closed engine's store must
                    // not stay open for up to a minute.
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stopped.wait_for(|s| *s) => return,
                    }
                    if let Err(e) = purger.purge_expired().await {
                        tracing::warn!(error = %e, "purging expired messages failed");
                    }
                }
            });
            let flusher = self.clone();
            tokio::spawn(async move {
                loop {
                    flusher.inner.flush_wanted.notified().await;
                    if let Err(e) = flusher.flush().await {
                        tracing::debug!(error = %e, "outbox flush stopped");
                    }
                    if flusher.inner.link.is_stopped() {
                        return;
                    }
                }
            });
        }
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// The connection's state; unlike events, a late reader misses nothing.
    pub fn status(&self) -> tokio::sync::watch::Receiver<SyncStatus> {
        self.inner.status.subscribe()
    }

    /// Waits up to `timeout` until everything the relay held is processed.
    pub async fn wait_caught_up(&self, timeout: std::time::Duration) -> bool {
        let mut status = self.status();
        tokio::time::timeout(timeout, status.wait_for(|s| s.caught_up)).await.is_ok_and(|r| r.is_ok())
    }

    /// The unlocked state, or [`ClientError::Locked`].
    async fn state(&self) -> Result<tokio::sync::MappedMutexGuard<'_, State>> {
        tokio::sync::MutexGuard::try_map(self.inner.state.lock().await, Option::as_mut).map_err(|_| ClientError::Locked)
    }

    fn emit(&self, e: Event) {
        if let Event::Alert(a) = &e {
            self.keep_alert(a.clone());
        }
        let _ = self.inner.events.send(e);
    }

    /// This device's user.
    pub async fn user(&self) -> Result<UserId> {
        Ok(self.state().await?.device.user().clone())
    }

    /// This device's id.
    pub async fn device_id(&self) -> Result<DeviceId> {
        Ok(self.state().await?.device.device_id().clone())
    }

    /// This device's certificate chain (public): what IT confirms with
    /// `belfry-admin confirm`.
    pub async fn device_chain(&self) -> Result<belfry_protocol::DeviceChain> {
        Ok(self.state().await?.device.chain().clone())
    }

    /// The relay address.
    pub fn relay_url(&self) -> &str {
        &self.inner.target.url
    }

    /// Stops syncing (the store stays as it is). Every background task
    /// ends, so once the last handle is dropped the store is closed.
    pub fn close(&self) {
        self.inner.link.stop();
        self.inner.flush_wanted.notify_one();
        self.inner.files.wake();
    }

    /// Stops syncing and waits until the relay connection is closed.
    pub async fn shutdown(&self) {
        self.inner.link.stop_and_wait().await;
        self.close();
        self.inner.status.send_replace(SyncStatus::default());
    }

    /// Locks this device (the screen locked, the laptop lid closed): stops
    /// syncing, ends the background tasks, drops the device, pickle key,
    /// Olm and Megolm sessions and room state (each zeroized on drop) and
    /// closes the store, whose key leaves memory with the connection.
    /// Every later call on any handle fails with [`ClientError::Locked`].
    /// Unlock by opening the profile again ([`Engine::unlock`], with the
    /// passphrase or the app passcode). Once every handle is dropped, no
    /// key, session or decrypted text of the profile is left in memory
    /// (freed blocks are wiped: `belfry_store::WipingAllocator`).
    pub async fn lock(&self) {
        self.inner.locked.store(true, std::sync::atomic::Ordering::SeqCst);
        self.shutdown().await;
        // Waits for any call holding the state to finish, then drops it.
        drop(self.inner.state.lock().await.take());
        drop(self.inner.signer.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take());
        if let Err(e) = self.inner.store.close() {
            tracing::warn!(error = %e, "closing the store on lock failed");
        }
    }

    /// `Err(Locked)` once [`lock`](Self::lock) ran, for calls that read
    /// only the store.
    fn unlocked(&self) -> Result<()> {
        if self.inner.locked.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ClientError::Locked);
        }
        Ok(())
    }

    // ---- rooms ---------------------------------------------------------

    /// Rooms this device is in.
    pub async fn rooms(&self) -> Result<Vec<RoomView>> {
        let st = self.state().await?;
        Ok(st.rooms.values().filter_map(view).collect())
    }

    /// One room.
    pub async fn room(&self, id: &RoomId) -> Result<RoomView> {
        let st = self.state().await?;
        st.rooms.get(id).and_then(view).ok_or_else(|| ClientError::NotFound(format!("no room {id}")))
    }

    /// Creates a room with `members` (besides this user). A direct room
    /// has exactly one other member.
    pub async fn create_room(&self, kind: RoomKind, name: &str, members: &[UserId]) -> Result<RoomId> {
        let name = DisplayName::new(name).map_err(|e| ClientError::Input(format!("room name: {e}")))?;
        if kind == RoomKind::Direct && members.len() != 1 {
            return Err(ClientError::Input("a direct room has exactly one other member".into()));
        }
        let mut st = self.state().await?;
        let t = now();
        // The id is the Create event's hash: a second room with the same
        // name in the same millisecond gets a later time, so another id.
        let mut at = t;
        let (mut log, create) = loop {
            let (log, create) = RoomLog::create(&st.device, kind, name.clone(), at)?;
            if !st.rooms.contains_key(log.room()) {
                break (log, create);
            }
            at = at.plus_ms(1);
        };
        let room = *log.room();
        let mut proposed = vec![create];
        for user in members {
            if user == st.device.user() {
                continue;
            }
            let content = StateContent::Member { user: user.clone(), role: Role::Member };
            proposed.push(rooms::apply_own(&mut log, &st.device, &st.dir, content, t)?);
            st.stale.insert(user.clone());
        }
        let mut batch = Batch::new();
        let events: Vec<_> = proposed.into_iter().map(RoomContent::State).collect();
        st.rooms.insert(room, log);
        for content in events {
            self.queue_compose(&st, &mut batch, MessageId(rand::random()), room, content, Vec::new())?;
        }
        if let Some(record) = st.rooms.get(&room) {
            batch.push(room_op(room, record)?);
        }
        self.commit(batch).await?;
        drop(st);
        self.emit(Event::Room(room));
        self.kick_flush();
        Ok(room)
    }

    /// Proposes a state change in `room` and queues it for every member.
    async fn change_state(&self, room: RoomId, content: StateContent, history_to: Vec<UserId>) -> Result<()> {
        let mut st = self.state().await?;
        let t = now();
        let st = &mut *st;
        let record = st.rooms.get_mut(&room).ok_or_else(|| ClientError::NotFound(format!("no room {room}")))?;
        let event = rooms::apply_own(record, &st.device, &st.dir, content, t)?;
        for u in &history_to {
            st.stale.insert(u.clone());
        }
        let mut batch = Batch::new();
        self.queue_compose(st, &mut batch, MessageId(rand::random()), room, RoomContent::State(event), history_to)?;
        if let Some(record) = st.rooms.get(&room) {
            batch.push(room_op(room, record)?);
        }
        self.commit(batch).await?;
        self.emit(Event::Room(room));
        self.kick_flush();
        Ok(())
    }

    /// Adds `user` to `room` (admins only). They receive the room's state
    /// history, and messages from now on, not before.
    pub async fn add_member(&self, room: RoomId, user: UserId) -> Result<()> {
        self.change_state(room, StateContent::Member { user: user.clone(), role: Role::Member }, vec![user]).await
    }

    /// Removes `user` from `room`; the next message uses a new room key
    /// that they do not get.
    pub async fn remove_member(&self, room: RoomId, user: UserId) -> Result<()> {
        self.change_state(room, StateContent::Remove { user }, Vec::new()).await
    }

    /// Sets the disappearing-message timer.
    pub async fn set_retention(&self, room: RoomId, secs: Option<u64>) -> Result<()> {
        self.change_state(room, StateContent::Retention(secs), Vec::new()).await
    }

    /// Sets the classification label.
    pub async fn set_classification(&self, room: RoomId, label: Option<&str>) -> Result<()> {
        let label = label.map(DisplayName::new).transpose().map_err(|e| ClientError::Input(e.to_string()))?;
        self.change_state(room, StateContent::Classification(label), Vec::new()).await
    }

    // ---- messages ------------------------------------------------------

    /// Queues a text message; returns its id at once (status pending).
    pub async fn send_text(&self, room: RoomId, body: &str) -> Result<MessageId> {
        self.send_content(room, RoomContent::Text { body: body.to_owned() }, None).await
    }

    async fn send_content(&self, room: RoomId, content: RoomContent, shown: Option<String>) -> Result<MessageId> {
        let body = match (&content, shown) {
            (_, Some(s)) => s,
            (RoomContent::Text { body } | RoomContent::Reply { body, .. }, None) => body.clone(),
            _ => String::new(),
        };
        let reply_to = match &content {
            RoomContent::Reply { to, .. } => Some(*to),
            _ => None,
        };
        if body.len() > belfry_protocol::limits::MAX_TEXT_LEN + 64 {
            return Err(ClientError::Input("the message is too long".into()));
        }
        let st = self.state().await?;
        let record = rooms::joined(&st, &room)?;
        if !record.is_member(st.device.user()) {
            return Err(ClientError::Input("you are not a member of this room".into()));
        }
        let id = MessageId(rand::random());
        // Strictly later than this device's previous message: a timeline
        // in the senders' time shows one person's messages as they wrote
        // them, however fast.
        let t = self.stamp();
        let message = StoredMessage {
            id,
            room,
            sender: st.device.user().clone(),
            sent_at: t,
            status: MessageStatus::Pending,
            body,
            expires_at: record.retention_secs().map(|s| t.plus_ms(s.saturating_mul(1000))),
            reply_to,
            edited: false,
        };
        let mut batch = Batch::new().with(Op::PutMessage(message.clone()));
        self.queue_compose(&st, &mut batch, id, room, content, Vec::new())?;
        drop(st);
        let (done, committed) = tokio::sync::oneshot::channel();
        self.inner
            .committer
            .send((batch, done))
            .await
            .map_err(|_| ClientError::Config("the engine has stopped".into()))?;
        committed
            .await
            .map_err(|_| ClientError::Config("the engine has stopped".into()))?
            .map_err(|e| ClientError::Config(format!("the message could not be stored: {e}")))?;
        self.emit(Event::Message(message.into()));
        self.kick_flush();
        Ok(id)
    }

    /// Replies to `to` in `room`.
    pub async fn reply(&self, room: RoomId, to: MessageId, body: &str) -> Result<MessageId> {
        if self.inner.store.message(&to)?.is_none_or(|m| m.room != room) {
            return Err(ClientError::NotFound(format!("no message {to} in this room")));
        }
        self.send_content(room, RoomContent::Reply { to, body: body.to_owned() }, None).await
    }

    /// Replaces the text of one of this user's messages, for everyone.
    pub async fn edit(&self, room: RoomId, target: MessageId, body: &str) -> Result<()> {
        if body.len() > belfry_protocol::limits::MAX_TEXT_LEN {
            return Err(ClientError::Input("the message is too long".into()));
        }
        let mut m = self.own_message(room, &target).await?;
        m.body = body.to_owned();
        m.edited = true;
        let mut batch = Batch::new().with(Op::PutMessage(m.clone()));
        let st = self.state().await?;
        let edit = RoomContent::Edit { target, body: body.to_owned() };
        self.queue_compose(&st, &mut batch, MessageId(rand::random()), room, edit, Vec::new())?;
        drop(st);
        self.commit(batch).await?;
        for view in self.views(vec![m])? {
            self.emit(Event::Message(view));
        }
        self.kick_flush();
        Ok(())
    }

    /// Deletes one of this user's messages, here and on every member's
    /// devices (with its search entry and attachments).
    pub async fn delete(&self, room: RoomId, target: MessageId) -> Result<()> {
        self.own_message(room, &target).await?;
        let mut batch = Batch::new().with(Op::DeleteMessage(target));
        let st = self.state().await?;
        self.queue_compose(
            &st,
            &mut batch,
            MessageId(rand::random()),
            room,
            RoomContent::Delete { target },
            Vec::new(),
        )?;
        drop(st);
        self.commit(batch).await?;
        self.emit(Event::Removed(target));
        self.kick_flush();
        Ok(())
    }

    /// Reacts to a message (one reaction per person: a new one replaces it).
    pub async fn react(&self, room: RoomId, target: MessageId, key: &str) -> Result<()> {
        if key.is_empty() || key.chars().count() > 16 {
            return Err(ClientError::Input("a reaction is one short emoji or word".into()));
        }
        if self.inner.store.message(&target)?.is_none_or(|m| m.room != room) {
            return Err(ClientError::NotFound(format!("no message {target} in this room")));
        }
        let me = self.user().await?;
        let mut batch = Batch::new().with(Op::PutReaction { message: target, user: me, key: key.to_owned() });
        let st = self.state().await?;
        let reaction = RoomContent::Reaction { target, key: key.to_owned() };
        self.queue_compose(&st, &mut batch, MessageId(rand::random()), room, reaction, Vec::new())?;
        drop(st);
        self.commit(batch).await?;
        self.emit(Event::Reaction(target));
        self.kick_flush();
        Ok(())
    }

    /// Reactions to a message, by person.
    pub fn reactions(&self, target: &MessageId) -> Result<BTreeMap<String, String>> {
        self.unlocked()?;
        Ok(self.inner.store.reactions(target)?.into_iter().map(|(user, key)| (user.to_string(), key)).collect())
    }

    async fn own_message(&self, room: RoomId, id: &MessageId) -> Result<StoredMessage> {
        let me = self.user().await?;
        self.inner
            .store
            .message(id)?
            .filter(|m| m.room == room && m.sender == me)
            .ok_or_else(|| ClientError::NotFound(format!("no message {id} of yours in this room")))
    }

    /// Deletes messages whose disappearing timer has run out (rows, search
    /// entries, attachments). The engine also does this every minute.
    pub async fn purge_expired(&self) -> Result<usize> {
        self.unlocked()?;
        let store = self.inner.store.clone();
        let report = tokio::task::spawn_blocking(move || store.purge_expired(now()))
            .await
            .map_err(|e| ClientError::Config(format!("store task failed: {e}")))??;
        Ok(report.messages)
    }

    /// The newest `limit` messages of a room, oldest first.
    pub async fn messages(&self, room: &RoomId, limit: usize) -> Result<Vec<MessageView>> {
        self.unlocked()?;
        let mut m = self.inner.store.messages(room, limit)?;
        m.reverse();
        self.views(m)
    }

    /// Full-text search over every room.
    pub async fn search(&self, query: &str, limit: usize) -> Result<Vec<MessageView>> {
        self.unlocked()?;
        self.views(self.inner.store.search(query, limit)?)
    }

    /// Trusted devices of `user`, as (device, name, SAS-verified).
    pub async fn devices(&self, user: &UserId) -> Result<Vec<(DeviceId, String, bool)>> {
        let _ = self.refresh_users(std::slice::from_ref(user)).await;
        let st = self.state().await?;
        Ok(st
            .dir
            .trusted_devices(user)
            .into_iter()
            .map(|d| (d.device.clone(), d.device_name.to_string(), d.sas_verified))
            .collect())
    }

    /// Messages still waiting for the relay's acknowledgement.
    pub fn pending_count(&self) -> Result<usize> {
        self.unlocked()?;
        Ok(self.inner.store.outbox_len()?)
    }

    // ---- sync ----------------------------------------------------------

    async fn sync_loop(self, mut pushes: mpsc::Receiver<Push>) {
        // After a frame could not be processed, later frames of the same
        // connection are left alone (they would move the inbox cursor past
        // it): the connection is opened again and the relay redelivers.
        let mut redeliver = false;
        while let Some(push) = pushes.recv().await {
            let r = match push {
                Push::Inbox(_) if redeliver => Ok(()),
                Push::Connected { .. } => {
                    redeliver = false;
                    self.inner.status.send_replace(SyncStatus { online: true, caught_up: false });
                    self.emit(Event::Connected);
                    self.kick_flush();
                    self.inner.files.wake();
                    self.spawn_prekey_upload();
                    self.spawn_key_recovery();
                    Ok(())
                }
                Push::Revoked(statements) => self.receive_refusal(statements).await,
                Push::Disconnected { reason } => {
                    self.inner.status.send_replace(SyncStatus::default());
                    self.emit(Event::Disconnected(reason));
                    Ok(())
                }
                Push::Inbox(entries) if entries.is_empty() => {
                    self.inner.status.send_replace(SyncStatus { online: true, caught_up: true });
                    self.emit(Event::CaughtUp);
                    Ok(())
                }
                Push::Inbox(entries) => self.process(entries).await,
                Push::DevicesChanged(users) => {
                    // Locked: nothing is processed any more.
                    let Ok(mut st) = self.state().await else { return };
                    let me = st.device.user().clone();
                    // A new device of this user gets every room's state
                    // from here: look at once.
                    if users.contains(&me) {
                        let engine = self.clone();
                        tokio::spawn(async move {
                            if let Err(e) = engine.refresh_users(std::slice::from_ref(&me)).await {
                                tracing::debug!(error = %e, "fetching this user's devices failed");
                            }
                        });
                    }
                    st.stale.extend(users);
                    Ok(())
                }
            };
            match r {
                Ok(()) => {}
                // The profile is gone already (see `erase_self`).
                Err(ClientError::Wiped) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "an inbox frame was not processed; it is delivered again");
                    redeliver = true;
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                    self.inner.link.reconnect();
                }
            }
        }
    }

    fn spawn_prekey_upload(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.upload_prekeys().await {
                tracing::warn!(error = %e, "prekey upload failed");
            }
        });
    }

    /// Uploads fresh one-time keys when the relay may be running low.
    async fn upload_prekeys(&self) -> Result<()> {
        let (one_time, fallback) = {
            let mut st = self.state().await?;
            if st.prekeys_used < PREKEY_BATCH / 2 {
                return Ok(());
            }
            let one_time = st.device.generate_prekeys(PREKEY_BATCH);
            let fallback = st.device.generate_fallback_prekey();
            // The secret halves are stored before the public halves leave.
            self.commit(Batch::new().with(Op::PutAccount(st.device.pickle(&st.pickle)?))).await?;
            (one_time, fallback)
        };
        self.inner.link.request(Request::UploadPrekeys { one_time, fallback }).await?;
        let mut st = self.state().await?;
        st.device.mark_prekeys_published();
        st.prekeys_used = 0;
        let batch = Batch::new()
            .with(Op::PutAccount(st.device.pickle(&st.pickle)?))
            .with(value(K_PREKEYS_USED, ser(&st.prekeys_used)?));
        self.commit(batch).await?;
        Ok(())
    }
}

/// One queued intent.
struct Compose {
    outbox_id: MessageId,
    message: MessageId,
    room: RoomId,
    content: RoomContent,
    history_to: Vec<UserId>,
    /// The members when it was composed.
    members: Vec<UserId>,
}

/// A room message kept until its key arrives, under a local id.
struct Waiting {
    id: MessageId,
    msg: RoomMessage,
}

impl std::ops::Deref for Waiting {
    type Target = RoomMessage;
    fn deref(&self) -> &RoomMessage {
        &self.msg
    }
}

/// One queued publish.
struct Queued {
    outbox_id: MessageId,
    request: Request,
    /// Rooms whose session keys it carries.
    keys_for: Vec<RoomId>,
}

/// Every trusted device of the room's members but this one, among those
/// who were members when it was composed (not someone added since, nor
/// someone removed since); a removal also goes to the removed user, so
/// they learn of it.
fn recipients_of(st: &State, c: &Compose) -> BTreeSet<DeviceAddress> {
    let mut to = BTreeSet::new();
    let Some(record) = st.rooms.get(&c.room).and_then(RoomLog::state) else { return to };
    let mut users: BTreeSet<UserId> = record.members().keys().filter(|u| c.members.contains(u)).cloned().collect();
    if let RoomContent::State(e) = &c.content
        && let Ok(body) = e.peek_unverified()
        && let StateContent::Remove { user } = body.content
    {
        users.insert(user);
    }
    for user in &users {
        for d in st.dir.trusted_devices(user) {
            if d.device != *st.device.device_id() || d.user != *st.device.user() {
                to.insert(address(d));
            }
        }
    }
    to
}

/// Commits queued batches together: everything waiting goes into one
/// transaction, and each sender learns the outcome.
async fn group_commit(
    store: Arc<SqlStore>,
    mut queue: mpsc::Receiver<(Batch, tokio::sync::oneshot::Sender<std::result::Result<(), String>>)>,
) {
    while let Some(first) = queue.recv().await {
        let mut group = vec![first];
        while group.len() < 512 {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut merged = Batch::new();
        let mut replies = Vec::with_capacity(group.len());
        for (batch, reply) in group {
            merged.0.extend(batch.0);
            replies.push(reply);
        }
        let store = store.clone();
        let outcome = tokio::task::spawn_blocking(move || store.commit(merged))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        for reply in replies {
            let _ = reply.send(outcome.clone());
        }
    }
}

fn state_alert(room: RoomId, e: &StateError) -> Alert {
    Alert::StateConflict { room, detail: e.to_string() }
}

/// A room as a front end shows it; `None` until its Create is placed.
fn view(log: &RoomLog) -> Option<RoomView> {
    let s = log.state()?;
    Some(RoomView {
        id: *s.room(),
        kind: s.kind(),
        name: s.name().to_string(),
        members: s.members().clone(),
        retention_secs: s.retention_secs(),
        classification: s.classification().map(|c| c.to_string()),
        conflict: log.conflict(),
    })
}

fn queue_publish(batch: &mut Batch, id: MessageId, request: Request, queued: Timestamp) -> Result<()> {
    queue_publish_keys(batch, id, request, queued, Vec::new())
}

/// [`queue_publish`] for to-device messages carrying the session keys of
/// `keys_for`.
fn queue_publish_keys(
    batch: &mut Batch,
    id: MessageId,
    request: Request,
    queued: Timestamp,
    keys_for: Vec<RoomId>,
) -> Result<()> {
    let frame = encode(&ClientFrame { id: 0, request });
    batch.push(Op::Enqueue { id, payload: ser(&OutboxItem::Publish { frame, keys_for })?, queued });
    Ok(())
}
