//! Belfry's local store: everything the client engine keeps, behind one
//! [`Store`] trait with atomic [`Batch`]es.
//!
//! [`SqlStore`] is SQLCipher (256-bit raw key, WAL, `synchronous=FULL`,
//! `secure_delete`, `cipher_memory_security`, temporary data in memory) with
//! its key in the OS keychain ([`Keychain`]); [`MemoryStore`] keeps the same
//! contract in memory for tests of the engine. One test suite runs against
//! both (`store_test_suite!`, feature `testing`).
//!
//! A batch commits all of its operations or none: decrypting a message,
//! advancing a ratchet and moving the inbox cursor go in one batch.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

mod error;
mod key;
mod memory;
pub mod passphrase;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Result, StoreError};
pub use key::{KEYCHAIN_SERVICE, Keychain, StoreKey};
pub use memory::MemoryStore;
pub use sqlite::{SCHEMA_VERSION, SqlStore};

use belfry_protocol::cert::Timestamp;
use belfry_protocol::{DeviceId, Ed25519Public, MessageId, RoomId, UserId};

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// One write in a [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// An inbound Megolm session pickle.
    PutInboundSession {
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
    /// A message's new status.
    SetStatus {
        /// The message.
        id: MessageId,
        /// Its status.
        status: MessageStatus,
    },
    /// Queue an encoded publish for the relay.
    Enqueue {
        /// The message id (the relay's idempotency key).
        id: MessageId,
        /// The encoded request.
        payload: Vec<u8>,
        /// When it was queued.
        queued: Timestamp,
    },
    /// Remove a publish the relay acknowledged.
    Dequeue(MessageId),
    /// Everything up to this relay inbox sequence is processed.
    SetInboxCursor(u64),
    /// A named value: settings, the device directory, room states.
    PutValue {
        /// Its name.
        key: String,
        /// Its bytes.
        value: Vec<u8>,
    },
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
pub trait Store: Send + Sync {
    /// Applies every operation of `batch`, or none of them.
    fn commit(&self, batch: Batch) -> Result<()>;
    /// The device account pickle.
    fn account(&self) -> Result<Option<Vec<u8>>>;
    /// Olm sessions with a peer device, as (session id, pickle).
    fn olm_sessions(&self, peer_user: &UserId, peer_device: &DeviceId) -> Result<Vec<(String, Vec<u8>)>>;
    /// An inbound Megolm session.
    fn inbound_session(&self, session: &Ed25519Public) -> Result<Option<Vec<u8>>>;
    /// This device's outbound Megolm session for a room.
    fn outbound_session(&self, room: &RoomId) -> Result<Option<Vec<u8>>>;
    /// Whether this (session, index) was decrypted before.
    fn seen(&self, session: &Ed25519Public, index: u32) -> Result<bool>;
    /// One message.
    fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>>;
    /// The newest `limit` messages of a room, newest first.
    fn messages(&self, room: &RoomId, limit: usize) -> Result<Vec<StoredMessage>>;
    /// Messages whose text contains every word of `query`, newest first.
    fn search(&self, query: &str, limit: usize) -> Result<Vec<StoredMessage>>;
    /// Queued publishes, oldest first.
    fn outbox(&self) -> Result<Vec<(MessageId, Vec<u8>)>>;
    /// The relay inbox cursor (0 before the first sync).
    fn inbox_cursor(&self) -> Result<u64>;
    /// A named value.
    fn value(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Deletes messages whose time is up (and their search entries).
    /// Returns how many.
    fn purge_expired(&self, now: Timestamp) -> Result<usize>;
}

/// Refuses values the database cannot hold, before anything is applied,
/// so both stores fail a batch the same way.
pub(crate) fn check(op: &Op) -> Result<()> {
    let too_big = |t: &Timestamp| t.0 > i64::MAX as u64;
    let bad = match op {
        Op::PutMessage(m) => too_big(&m.sent_at) || m.expires_at.as_ref().is_some_and(too_big),
        Op::Enqueue { queued, .. } => too_big(queued),
        _ => false,
    };
    if bad { Err(StoreError::Corrupt("timestamp out of range".into())) } else { Ok(()) }
}

/// The words of a search query, lower-cased.
pub(crate) fn query_terms(query: &str) -> Vec<String> {
    query.split_whitespace().map(str::to_lowercase).filter(|t| !t.is_empty()).collect()
}
