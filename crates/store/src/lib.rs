//! Belfry's local store: everything the client engine keeps, behind one
//! [`Store`] trait with atomic [`Batch`]es.
//!
//! [`SqlStore`] is SQLCipher (256-bit raw key, WAL, `synchronous=FULL`,
//! `secure_delete`, temporary data in memory, every block SQLite frees
//! wiped: [`MemoryProtection`]) with its key in the OS keychain
//! ([`Keychain`]); [`MemoryStore`] keeps the same
//! contract in memory for tests of the engine. One test suite runs against
//! both (`store_test_suite!`, feature `testing`).
//!
//! A batch commits all of its operations or none: decrypting a message,
//! advancing a ratchet and moving the inbox cursor go in one batch.
//!
//! Attachments are kept as ciphertext (the blob as the relay serves it,
//! encrypted by belfry-crypto under a per-file key), inline or in files
//! with random names; their names and keys live only in the encrypted
//! database. Deleting or purging a message deletes its search entries, its
//! attachment records and their files.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

mod error;
mod key;
mod memory;
pub mod passphrase;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod wipe;

pub use error::{Result, StoreError};
pub use key::{KEYCHAIN_SERVICE, Keychain, KeychainBackend, OsKeychain, StoreKey};
pub use memory::MemoryStore;
pub use sqlite::{SCHEMA_VERSION, SqlStore};
#[cfg(feature = "testing")]
pub use wipe::wiped_bytes;
pub use wipe::{MemoryProtection, WipingAllocator};

use belfry_protocol::cert::Timestamp;
use belfry_protocol::{BlobId, DeviceId, Ed25519Public, Hash256, MessageId, RoomId, UserId};
use std::fmt;
use std::io::Read;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MessageStatus {
    /// Written locally, not yet acknowledged by the relay.
    Pending,
    /// The relay acknowledged it (durable there).
    Sent,
    /// A recipient device received it.
    Delivered,
    /// A recipient read it.
    Read,
    /// Could not be sent; the user is told.
    Failed,
    /// Received from someone else.
    Received,
}

impl MessageStatus {
    fn code(self) -> i64 {
        match self {
            Self::Pending => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed => 4,
            Self::Received => 5,
        }
    }

    fn from_code(c: i64) -> Option<Self> {
        Some(match c {
            0 => Self::Pending,
            1 => Self::Sent,
            2 => Self::Delivered,
            3 => Self::Read,
            4 => Self::Failed,
            5 => Self::Received,
            _ => return None,
        })
    }
}

/// A message as the user sees it (decrypted), stored encrypted at rest.
/// `Debug` shows ids and sizes, never the text.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its id.
    pub id: MessageId,
    /// The room.
    pub room: RoomId,
    /// Who sent it.
    pub sender: UserId,
    /// When (sender's clock).
    pub sent_at: Timestamp,
    /// Where it stands.
    pub status: MessageStatus,
    /// The text (searchable).
    pub body: String,
    /// When it disappears, if the room has a retention timer.
    pub expires_at: Option<Timestamp>,
    /// The message it replies to, if it is a reply.
    pub reply_to: Option<MessageId>,
    /// Its sender changed the text since it was first sent.
    pub edited: bool,
}

/// A member's receipt for one of this device's own messages: delivered to
/// (or read on) one of their devices, at their device's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The member.
    pub user: UserId,
    /// Read (not only delivered).
    pub read: bool,
    /// When, as the member's device said.
    pub at: Timestamp,
}

impl fmt::Debug for StoredMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredMessage")
            .field("id", &self.id)
            .field("room", &self.room)
            .field("sender", &self.sender)
            .field("sent_at", &self.sent_at.0)
            .field("status", &self.status)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("expires_at", &self.expires_at.map(|t| t.0))
            .field("reply_to", &self.reply_to)
            .field("edited", &self.edited)
            .finish()
    }
}

/// The name of an attachment's ciphertext file in the store's attachment
/// directory: 32 random hex digits chosen by the store, so a file name
/// reveals neither the attachment's name nor its relay blob id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttachmentFile(String);

impl AttachmentFile {
    const LEN: usize = 32;

    pub(crate) fn random() -> Self {
        let mut bytes = [0u8; Self::LEN / 2];
        rand::fill(&mut bytes[..]);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Checks a stored name, so a damaged row can never point outside the
    /// attachment directory.
    pub fn parse(name: &str) -> Result<Self> {
        if name.len() == Self::LEN && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(name.to_owned()))
        } else {
            Err(StoreError::Corrupt(format!("invalid attachment file name {name:?}")))
        }
    }

    /// The file name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an attachment's ciphertext is.
#[derive(Clone, PartialEq, Eq)]
pub enum AttachmentData {
    /// Not downloaded: only on the relay.
    Remote,
    /// Inside the database (small files, thumbnails).
    Inline(Vec<u8>),
    /// In a file written with [`Store::write_attachment_file`].
    File(AttachmentFile),
}

impl fmt::Debug for AttachmentData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Remote => f.write_str("Remote"),
            Self::Inline(b) => write!(f, "Inline(<{} bytes>)", b.len()),
            Self::File(file) => write!(f, "File({})", file.as_str()),
        }
    }
}

/// An attachment of a message: metadata in the encrypted database, content
/// as ciphertext. `Debug` shows neither the name nor the key; the key is
/// wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The relay blob id.
    pub id: BlobId,
    /// The message it belongs to (stored before, or earlier in the same
    /// batch). Deleting the message deletes the attachment.
    pub message: MessageId,
    /// The file name the sender gave.
    pub name: String,
    /// Its media type.
    pub mime: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// The per-file key material, as belfry-crypto encodes it.
    pub key: Vec<u8>,
    /// SHA-256 of the ciphertext.
    pub sha256: Hash256,
    /// Where the ciphertext is.
    pub data: AttachmentData,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("id", &self.id)
            .field("message", &self.message)
            .field("name", &format_args!("<{} bytes>", self.name.len()))
            .field("mime", &self.mime)
            .field("size", &self.size)
            .field("key", &format_args!("<redacted>"))
            .field("data", &self.data)
            .finish()
    }
}

/// The per-file key is wiped when a record is dropped.
impl Drop for Attachment {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

/// What a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Messages deleted, with their search index entries.
    pub messages: usize,
    /// Attachment records deleted.
    pub attachments: usize,
    /// Attachment files deleted from disk.
    pub files: usize,
}

/// One write in a [`Batch`]. `Debug` shows ids and lengths only: pickles,
/// named values (one is the pickle key), payloads and message text never.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// The device account pickle.
    PutAccount(Vec<u8>),
    /// An Olm session pickle.
    PutOlmSession {
        /// Peer user.
        peer_user: UserId,
        /// Peer device.
        peer_device: DeviceId,
        /// vodozemac session id.
        session_id: String,
        /// Encrypted pickle.
        pickle: Vec<u8>,
    },
    /// An inbound Megolm session pickle, keyed by the device that created
    /// it and its id (two claims to one id never overwrite each other).
    PutInboundSession {
        /// The user whose device created it.
        sender: UserId,
        /// The device that created it.
        sender_device: DeviceId,
        /// Session id.
        session: Ed25519Public,
        /// Its room.
        room: RoomId,
        /// Encrypted pickle.
        pickle: Vec<u8>,
    },
    /// This device's outbound Megolm session for a room.
    PutOutboundSession {
        /// The room.
        room: RoomId,
        /// Encrypted pickle.
        pickle: Vec<u8>,
    },
    /// A decrypted (session, index) pair, for replay refusal.
    MarkSeen {
        /// Session id.
        session: Ed25519Public,
        /// Message index.
        index: u32,
    },
    /// A message (insert or replace).
    PutMessage(StoredMessage),
    /// Deletes a message with its search entry, its attachments and their
    /// files. Deleting a missing message is not an error.
    DeleteMessage(MessageId),
    /// An attachment record (insert or replace). Its message must exist;
    /// an [`AttachmentData::File`] must have been written with
    /// [`Store::write_attachment_file`].
    PutAttachment(Attachment),
    /// A message's new status.
    SetStatus {
        /// The message.
        id: MessageId,
        /// Its status.
        status: MessageStatus,
    },
    /// Queue an encoded publish for the relay. The outbox keeps the order
    /// in which items are queued (a persisted sequence, never the clock);
    /// re-queuing an id already queued keeps the original.
    Enqueue {
        /// The message id (the relay's idempotency key).
        id: MessageId,
        /// The encoded request.
        payload: Vec<u8>,
        /// When it was queued (kept; not what orders the outbox).
        queued: Timestamp,
    },
    /// Remove a publish the relay acknowledged.
    Dequeue(MessageId),
    /// Everything up to this relay inbox sequence is processed.
    SetInboxCursor(u64),
    /// A room's record (insert or replace): its state and state log, as
    /// the engine encodes them.
    PutRoom {
        /// The room.
        room: RoomId,
        /// Its record.
        record: Vec<u8>,
    },
    /// A room message kept until its key arrives (insert; an id already
    /// waiting keeps its place).
    PutWaiting {
        /// A local id for it.
        id: MessageId,
        /// The encoded message.
        message: Vec<u8>,
    },
    /// A waiting message decrypted or given up (missing is not an error).
    DeleteWaiting(MessageId),
    /// A member's receipt for a message (ignored if the message is not
    /// stored). It only moves forward: a "delivered" after a "read" of
    /// the same member changes nothing.
    PutReceipt {
        /// The message.
        message: MessageId,
        /// The receipt.
        receipt: Receipt,
    },
    /// A member's reaction to a message, replacing theirs (ignored if the
    /// message is not stored; deleted with it).
    PutReaction {
        /// The message.
        message: MessageId,
        /// The member.
        user: UserId,
        /// The emoji or short word.
        key: String,
    },
    /// Deletes a named value (missing is not an error).
    DeleteValue(String),
    /// The last message of `room` this user has read.
    SetReadMarker {
        /// The room.
        room: RoomId,
        /// The message.
        message: MessageId,
    },
    /// A named value: settings, the device directory.
    PutValue {
        /// Its name.
        key: String,
        /// Its bytes.
        value: Vec<u8>,
    },
}

/// Alerts kept, at most: the oldest go first.
pub const MAX_ALERTS: usize = 500;

/// `<n bytes>`: what `Debug` shows of a secret or private value.
struct Len(usize);

impl fmt::Debug for Len {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

impl fmt::Debug for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PutAccount(pickle) => f.debug_tuple("PutAccount").field(&Len(pickle.len())).finish(),
            Self::PutOlmSession { peer_user, peer_device, session_id, pickle } => f
                .debug_struct("PutOlmSession")
                .field("peer_user", peer_user)
                .field("peer_device", peer_device)
                .field("session_id", session_id)
                .field("pickle", &Len(pickle.len()))
                .finish(),
            Self::PutInboundSession { sender, sender_device, session, room, pickle } => f
                .debug_struct("PutInboundSession")
                .field("sender", sender)
                .field("sender_device", sender_device)
                .field("session", session)
                .field("room", room)
                .field("pickle", &Len(pickle.len()))
                .finish(),
            Self::PutOutboundSession { room, pickle } => {
                f.debug_struct("PutOutboundSession").field("room", room).field("pickle", &Len(pickle.len())).finish()
            }
            Self::MarkSeen { session, index } => {
                f.debug_struct("MarkSeen").field("session", session).field("index", index).finish()
            }
            Self::PutMessage(m) => f.debug_tuple("PutMessage").field(m).finish(),
            Self::DeleteMessage(id) => f.debug_tuple("DeleteMessage").field(id).finish(),
            Self::PutAttachment(a) => f.debug_tuple("PutAttachment").field(a).finish(),
            Self::SetStatus { id, status } => {
                f.debug_struct("SetStatus").field("id", id).field("status", status).finish()
            }
            Self::Enqueue { id, payload, queued } => f
                .debug_struct("Enqueue")
                .field("id", id)
                .field("payload", &Len(payload.len()))
                .field("queued", &queued.0)
                .finish(),
            Self::Dequeue(id) => f.debug_tuple("Dequeue").field(id).finish(),
            Self::SetInboxCursor(seq) => f.debug_tuple("SetInboxCursor").field(seq).finish(),
            Self::PutRoom { room, record } => {
                f.debug_struct("PutRoom").field("room", room).field("record", &Len(record.len())).finish()
            }
            Self::PutWaiting { id, message } => {
                f.debug_struct("PutWaiting").field("id", id).field("message", &Len(message.len())).finish()
            }
            Self::DeleteWaiting(id) => f.debug_tuple("DeleteWaiting").field(id).finish(),
            Self::PutReceipt { message, receipt } => {
                f.debug_struct("PutReceipt").field("message", message).field("receipt", receipt).finish()
            }
            Self::PutReaction { message, user, key } => f
                .debug_struct("PutReaction")
                .field("message", message)
                .field("user", user)
                .field("key", &Len(key.len()))
                .finish(),
            Self::DeleteValue(key) => f.debug_tuple("DeleteValue").field(key).finish(),
            Self::SetReadMarker { room, message } => {
                f.debug_struct("SetReadMarker").field("room", room).field("message", message).finish()
            }
            Self::PutValue { key, value } => {
                f.debug_struct("PutValue").field("key", key).field("value", &Len(value.len())).finish()
            }
        }
    }
}

/// Writes that commit together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch(pub Vec<Op>);

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a write.
    #[must_use]
    pub fn with(mut self, op: Op) -> Self {
        self.0.push(op);
        self
    }

    /// Adds a write in place.
    pub fn push(&mut self, op: Op) {
        self.0.push(op);
    }
}

/// Everything the client engine keeps. Object-safe, so the engine can hold
/// an `Arc<dyn Store>`.
pub trait Store: Send + Sync + fmt::Debug {
    /// Applies every operation of `batch`, or none of them.
    fn commit(&self, batch: Batch) -> Result<()>;
    /// The device account pickle.
    fn account(&self) -> Result<Option<Vec<u8>>>;
    /// Olm sessions with a peer device, as (session id, pickle).
    fn olm_sessions(&self, peer_user: &UserId, peer_device: &DeviceId) -> Result<Vec<(String, Vec<u8>)>>;
    /// The inbound Megolm session `session` of `sender`/`sender_device`
    /// (or one stored before sessions were keyed by sender, whose pickle
    /// names its sender: the caller checks it).
    fn inbound_session(
        &self,
        sender: &UserId,
        sender_device: &DeviceId,
        session: &Ed25519Public,
    ) -> Result<Option<Vec<u8>>>;
    /// Every inbound Megolm session with this id, whoever created it (a
    /// few at most).
    fn inbound_sessions(&self, session: &Ed25519Public) -> Result<Vec<Vec<u8>>>;
    /// This device's outbound Megolm session for a room.
    fn outbound_session(&self, room: &RoomId) -> Result<Option<Vec<u8>>>;
    /// Whether this (session, index) was decrypted before.
    fn seen(&self, session: &Ed25519Public, index: u32) -> Result<bool>;
    /// One message.
    fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>>;
    /// Several messages, in the order of `ids` (`None` where there is no
    /// such message), read together: one read transaction instead of one
    /// per message.
    fn messages_by_id(&self, ids: &[MessageId]) -> Result<Vec<Option<StoredMessage>>> {
        ids.iter().map(|id| self.message(id)).collect()
    }
    /// The newest `limit` messages of a room, newest first.
    fn messages(&self, room: &RoomId, limit: usize) -> Result<Vec<StoredMessage>>;
    /// Up to `limit` messages of a room placed before `before` (a
    /// message's `(sent_at, id)`: the timeline's order), newest first;
    /// `None`: the newest.
    fn messages_before(
        &self,
        room: &RoomId,
        before: Option<(Timestamp, MessageId)>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>>;
    /// Up to `limit` messages of a room placed after `after`, oldest first.
    fn messages_after(&self, room: &RoomId, after: (Timestamp, MessageId), limit: usize) -> Result<Vec<StoredMessage>>;
    /// The receipts of a message, by member.
    fn receipts(&self, message: &MessageId) -> Result<Vec<Receipt>>;
    /// The reactions to a message, as (member, key), by member.
    fn reactions(&self, message: &MessageId) -> Result<Vec<(UserId, String)>>;
    /// Every named value whose name starts with `prefix`, by name.
    fn values_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;
    /// How many messages of others than `me` each room holds unread
    /// (status [`MessageStatus::Received`]: `me`'s own, sent from another
    /// of their devices, never count); rooms with none are left out.
    fn unread_counts(&self, me: &UserId) -> Result<Vec<(RoomId, u64)>>;
    /// Up to `limit` unread messages of others than `me` in a room, placed
    /// at or before `up_to`, newest first.
    fn unread_up_to(
        &self,
        room: &RoomId,
        me: &UserId,
        up_to: (Timestamp, MessageId),
        limit: usize,
    ) -> Result<Vec<MessageId>>;
    /// The last message of a room this user has read.
    fn read_marker(&self, room: &RoomId) -> Result<Option<MessageId>>;
    /// Messages whose text contains every word of `query`, the most
    /// recently stored first (arrival order: an edit keeps a message's
    /// place; a message deleted and stored again is new).
    fn search(&self, query: &str, limit: usize) -> Result<Vec<StoredMessage>>;
    /// Queued publishes, in the order they were queued.
    fn outbox(&self) -> Result<Vec<(MessageId, Vec<u8>)>>;
    /// The oldest `limit` queued publishes (a sender works through a long
    /// queue in pages instead of reading all of it each time).
    fn outbox_head(&self, limit: usize) -> Result<Vec<(MessageId, Vec<u8>)>> {
        let mut all = self.outbox()?;
        all.truncate(limit);
        Ok(all)
    }
    /// How many publishes are queued.
    fn outbox_len(&self) -> Result<usize> {
        Ok(self.outbox()?.len())
    }
    /// The relay inbox cursor (0 before the first sync).
    fn inbox_cursor(&self) -> Result<u64>;
    /// A named value.
    fn value(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Keeps an alert shown to the user (`alert` as the engine encodes
    /// it, `at` this device's clock); returns its id, higher than every
    /// earlier one. Only the newest [`MAX_ALERTS`] are kept.
    fn put_alert(&self, at: Timestamp, alert: &[u8]) -> Result<u64>;
    /// The user dismissed this alert (an unknown id is not an error).
    fn dismiss_alert(&self, id: u64) -> Result<()>;
    /// The kept alerts as (id, when, encoded alert), newest first.
    fn alerts(&self) -> Result<Vec<(u64, Timestamp, Vec<u8>)>>;
    /// Every room's record, by room id.
    fn rooms(&self) -> Result<Vec<(RoomId, Vec<u8>)>>;
    /// The waiting room messages, oldest first.
    fn waiting(&self) -> Result<Vec<(MessageId, Vec<u8>)>>;
    /// An attachment record.
    fn attachment(&self, id: &BlobId) -> Result<Option<Attachment>>;
    /// The attachments of a message, by blob id.
    fn attachments_of(&self, message: &MessageId) -> Result<Vec<Attachment>>;
    /// Writes attachment ciphertext to a new file with a random name and
    /// makes it durable. Reference it from an [`Op::PutAttachment`]; a file
    /// no record refers to is deleted the next time the store opens.
    fn write_attachment_file(&self, ciphertext: &mut dyn Read) -> Result<AttachmentFile>;
    /// The ciphertext of an attachment, if it is stored locally.
    fn open_attachment(&self, id: &BlobId) -> Result<Option<Box<dyn Read + Send>>>;
    /// Deletes messages whose time is up: their rows, search entries,
    /// attachment records and attachment files.
    fn purge_expired(&self, now: Timestamp) -> Result<PurgeReport>;
}

/// Refuses values the database cannot hold, before anything is applied,
/// so both stores fail a batch the same way.
pub(crate) fn check(op: &Op) -> Result<()> {
    let too_big = |t: &Timestamp| t.0 > i64::MAX as u64;
    let bad = match op {
        Op::PutMessage(m) => too_big(&m.sent_at) || m.expires_at.as_ref().is_some_and(too_big),
        Op::Enqueue { queued, .. } => too_big(queued),
        Op::PutAttachment(a) => a.size > i64::MAX as u64,
        Op::PutReceipt { receipt, .. } => too_big(&receipt.at),
        _ => false,
    };
    if bad { Err(StoreError::Corrupt("timestamp out of range".into())) } else { Ok(()) }
}

/// The words of a text as the search index sees them: runs of letters and
/// digits, lower-cased (the `unicode61` tokenizer, without its diacritic
/// folding). Used for queries on both stores and for bodies in memory, so
/// a query term is always a single index token: punctuation in user input
/// is never parsed as FTS5 syntax.
pub(crate) fn query_terms(query: &str) -> Vec<String> {
    query.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).collect()
}
