//! Rooms: signed, hash-chained state events, the Megolm message envelope the
//! relay carries, and the payload inside it.

use crate::cert::Timestamp;
use crate::codec::{Wire, encode};
use crate::ids::{BlobId, DeviceId, DisplayName, MessageId, RoomId, UserId};
use crate::keys::{Ed25519Public, Hash256, SecretKey32};
use crate::limits;
use crate::signed::{Signed, SignedBody};
use serde::{Deserialize, Serialize};

/// Direct (two people) or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomKind {
    /// A conversation between two users.
    Direct,
    /// A named group.
    Group,
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// May send messages.
    Member,
    /// May also change membership and settings.
    Admin,
}

/// One change to a room's membership or settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateContent {
    /// The first event of every room; its sender is the first admin.
    Create {
        /// Direct or group.
        kind: RoomKind,
        /// The room's name.
        name: DisplayName,
    },
    /// Add a member or change their role.
    Member {
        /// The user.
        user: UserId,
        /// Their role.
        role: Role,
    },
    /// Remove a member (or leave, when `user` is the sender).
    Remove {
        /// The user.
        user: UserId,
    },
    /// Rename the room.
    Name(DisplayName),
    /// Messages disappear this many seconds after they are sent; `None` keeps them.
    Retention(Option<u64>),
    /// A classification label such as "RESTRICTED".
    Classification(Option<DisplayName>),
}

/// One state event, signed by the sending device. `prev` is the hash of the
/// previous signed event, so the log is a chain a relay cannot rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomStateEvent {
    /// The room.
    pub room: RoomId,
    /// Position in the log, 0 for `Create`.
    pub seq: u64,
    /// Hash of the previous signed event; `None` only for `Create`.
    pub prev: Option<Hash256>,
    /// Who made the change.
    pub sender: UserId,
    /// From which device (whose key signs).
    pub sender_device: DeviceId,
    /// When.
    pub ts: Timestamp,
    /// The change.
    pub content: StateContent,
}

impl Wire for RoomStateEvent {
    const NAME: &'static str = "RoomStateEvent";
    const TAG: u8 = 0x20;
    const MAX_LEN: usize = 2 * 1024;
}
impl SignedBody for RoomStateEvent {
    const SIG_LABEL: &'static str = "room-state";
}

/// Domain label of the hash a room id is derived from.
const ROOM_ID_LABEL: &str = "room-id";

impl RoomStateEvent {
    /// The room id this event derives when it is a room's `Create`: the
    /// first 128 bits of a domain-separated SHA-256 over the signed body
    /// with its own `room` field zeroed (an id cannot hash itself). Every
    /// other field is bound: creator, device, time, kind, name. Nobody can
    /// claim an id before its room exists, and nobody but the creator's
    /// device can sign a `Create` for an id that is taken.
    pub fn derived_room_id(&self) -> RoomId {
        let mut body = self.clone();
        body.room = RoomId([0; 16]);
        let hash = Hash256::of(ROOM_ID_LABEL, &encode(&body));
        let mut id = [0; 16];
        id.copy_from_slice(&hash.as_bytes()[..16]);
        RoomId(id)
    }
}

/// A Megolm-encrypted room message as the relay stores and forwards it.
/// Only routing data is in the clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMessage {
    /// The room.
    pub room: RoomId,
    /// The sending user.
    pub sender: UserId,
    /// The sending device.
    pub sender_device: DeviceId,
    /// The Megolm session (its Ed25519 signing key).
    pub session: Ed25519Public,
    /// vodozemac's Megolm message bytes.
    #[serde(with = "crate::codec::byte_vec")]
    pub ciphertext: Vec<u8>,
}

impl Wire for RoomMessage {
    const NAME: &'static str = "RoomMessage";
    const TAG: u8 = 0x30;
    const MAX_LEN: usize = limits::MAX_ROOM_MESSAGE_LEN;
}

/// An encrypted attachment: the blob id on the relay and what decrypts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentRef {
    /// Where the ciphertext is.
    pub blob: BlobId,
    /// The file's name.
    pub name: String,
    /// Its media type.
    pub mime: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// The per-file key.
    pub key: SecretKey32,
    /// SHA-256 of the whole ciphertext.
    pub sha256: Hash256,
}

/// What a room message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomContent {
    /// Plain text.
    Text {
        /// The text.
        body: String,
    },
    /// A reply to an earlier message.
    Reply {
        /// The message replied to.
        to: MessageId,
        /// The text.
        body: String,
    },
    /// A new version of the sender's earlier message.
    Edit {
        /// The message edited.
        target: MessageId,
        /// The new text.
        body: String,
    },
    /// A reaction.
    Reaction {
        /// The message reacted to.
        target: MessageId,
        /// The emoji.
        key: String,
    },
    /// Deletion of the sender's earlier message.
    Delete {
        /// The message deleted.
        target: MessageId,
    },
    /// A file.
    Attachment(AttachmentRef),
    /// A signed room state change, carried encrypted.
    State(Signed<RoomStateEvent>),
    /// Messages this user's device received (`read: false`) or this user
    /// read (`read: true`); their senders show it.
    Receipt {
        /// Read, not only delivered.
        read: bool,
        /// The messages.
        targets: Vec<MessageId>,
    },
}

/// The plaintext inside a Megolm message. It repeats the routing fields so
/// a relay that moves a message to another room or swaps its sender is
/// caught, and names the room state it was sent under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPayload {
    /// The message's id.
    pub id: MessageId,
    /// The room.
    pub room: RoomId,
    /// The sending user.
    pub sender: UserId,
    /// The sending device.
    pub sender_device: DeviceId,
    /// Hash of the latest room state event the sender had.
    pub state_hash: Hash256,
    /// When it was sent (sender's clock).
    pub sent_at: Timestamp,
    /// The content.
    pub content: RoomContent,
}

impl Wire for RoomPayload {
    const NAME: &'static str = "RoomPayload";
    const TAG: u8 = 0x31;
    const MAX_LEN: usize = limits::MAX_ROOM_MESSAGE_LEN;
}
