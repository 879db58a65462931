//! Frames on the relay connection (WebSocket binary messages).
//!
//! The client sends [`ClientFrame`]s, each a request with an id; the relay
//! answers with [`ServerFrame::Response`] carrying the same id, and pushes
//! inbox items and directory changes unprompted. The first server frame is
//! always a [`ServerFrame::Challenge`]; the client answers with
//! [`Request::Authenticate`] carrying a signed [`AuthProof`] bound to the
//! TLS session through an exporter value.

use crate::cert::{DeviceChain, EnrollmentCert, Prekey, Statement};
use crate::codec::Wire;
use crate::ids::{BlobId, DeviceId, MessageId, UserId};
use crate::keys::Ed25519Public;
use crate::limits;
use crate::room::RoomMessage;
use crate::signed::{Signed, SignedBody};
use crate::to_device::ToDeviceEnvelope;
use serde::{Deserialize, Serialize};

/// A device address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceAddress {
    /// The user.
    pub user: UserId,
    /// The device.
    pub device: DeviceId,
}

/// A device's proof that it holds its Ed25519 key, for this connection only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthProof {
    /// The relay's random challenge.
    #[serde(with = "crate::codec::fixed_bytes")]
    pub challenge: [u8; 32],
    /// The TLS exporter value of this connection (RFC 8446 §7.5,
    /// label "EXPORTER-belfry-auth").
    #[serde(with = "crate::codec::fixed_bytes")]
    pub tls_exporter: [u8; 32],
    /// Who is authenticating.
    pub user: UserId,
    /// Which device.
    pub device: DeviceId,
}

impl Wire for AuthProof {
    const NAME: &'static str = "AuthProof";
    const TAG: u8 = 0x42;
    const MAX_LEN: usize = 512;
}
impl SignedBody for AuthProof {
    const SIG_LABEL: &'static str = "relay-auth";
}

/// Something that lands in a device inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboxItem {
    /// A room message.
    Room(RoomMessage),
    /// A to-device message.
    ToDevice(ToDeviceEnvelope),
    /// A revocation or wipe order.
    Statement(Statement),
}

/// The relay stores inbox items in this encoding until they are acked.
impl Wire for InboxItem {
    const NAME: &'static str = "InboxItem";
    const TAG: u8 = 0x43;
    const MAX_LEN: usize = limits::MAX_FRAME_LEN;
}

/// One request from a device (or from IT tooling, for invitations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Answer to the connection's challenge.
    Authenticate(Signed<AuthProof>),
    /// IT registers an invitation (org-signed).
    RegisterInvitation(Signed<EnrollmentCert>),
    /// A new device redeems its invitation.
    Enroll(DeviceChain),
    /// Upload signed one-time keys and optionally a new fallback key.
    UploadPrekeys {
        /// One-time keys.
        one_time: Vec<Signed<Prekey>>,
        /// A fallback key.
        fallback: Option<Signed<Prekey>>,
    },
    /// Claim one prekey for each named device.
    ClaimPrekeys(Vec<DeviceAddress>),
    /// Device certificates and statements for these users.
    FetchDevices(Vec<UserId>),
    /// Deliver a room message to the devices the sender names.
    PublishRoom {
        /// Idempotency key.
        id: MessageId,
        /// Recipient devices.
        recipients: Vec<DeviceAddress>,
        /// The message.
        message: RoomMessage,
    },
    /// Deliver to-device messages (each names its recipient).
    PublishToDevice {
        /// Idempotency key.
        id: MessageId,
        /// The messages.
        messages: Vec<ToDeviceEnvelope>,
    },
    /// Store and distribute a revocation or wipe order.
    PublishStatement(Statement),
    /// Everything up to and including `seq` has been processed.
    Ack {
        /// Inbox sequence number.
        seq: u64,
    },
    /// Begin an attachment upload of `len` bytes.
    CreateBlob {
        /// Ciphertext length.
        len: u64,
    },
    /// The organisation's directory: entries (as [`Request::FetchDevices`]
    /// gives them) of the users with enrolled devices, in id order after
    /// `after`, at most `limit` (capped by
    /// [`limits::MAX_DIRECTORY_PAGE`]) and what fits in one frame. Answered
    /// with [`Response::Devices`]; fewer entries than asked is not the end:
    /// an empty page is.
    ListDirectory {
        /// Resume after this user (exclusive); `None` from the start.
        after: Option<UserId>,
        /// Most users wanted.
        limit: u32,
    },
}

/// A claimed prekey, or none left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedPrekey {
    /// The device.
    pub address: DeviceAddress,
    /// Its key, if it has any.
    pub prekey: Option<Signed<Prekey>>,
}

/// A user's devices as the directory holds them: signed blobs only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryEntry {
    /// The user.
    pub user: UserId,
    /// Certificate chains of their devices.
    pub devices: Vec<DeviceChain>,
    /// Revocations and wipe orders that concern them.
    pub statements: Vec<Statement>,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Done.
    Ok,
    /// Authenticated; the inbox will follow from this sequence.
    Authenticated {
        /// Next inbox sequence number.
        next_seq: u64,
    },
    /// Claimed prekeys.
    Prekeys(Vec<ClaimedPrekey>),
    /// Directory entries.
    Devices(Vec<DirectoryEntry>),
    /// The publish is durable (or was already: same id, same answer).
    Published {
        /// Idempotency key.
        id: MessageId,
    },
    /// Upload target for a blob.
    BlobCreated {
        /// Its id.
        blob: BlobId,
    },
}

/// A stable error code the client can match without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The frame did not decode.
    Malformed,
    /// The frame exceeded the size limit.
    FrameTooLarge,
    /// Authenticate first.
    Unauthenticated,
    /// The signature or certificate chain did not verify.
    BadSignature,
    /// Not allowed for this device.
    Forbidden,
    /// Unknown user, device, blob or invitation.
    NotFound,
    /// The invitation was already redeemed.
    InvitationUsed,
    /// The invitation has expired.
    InvitationExpired,
    /// Too many requests; retry later.
    RateLimited,
    /// Storage quota reached.
    QuotaExceeded,
    /// The recipient's inbox is full.
    InboxFull,
    /// Too many connections for this device.
    TooManyConnections,
    /// A count limit was exceeded (recipients, keys, items).
    TooMany,
    /// The relay failed; the request may be retried.
    Internal,
    /// A blob is larger than the relay accepts.
    BlobTooLarge,
    /// The relay is shutting down or restarting; reconnect later.
    Unavailable,
    /// The connection sent nothing for too long.
    IdleTimeout,
}

/// An error answer: a code for programs and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ProtocolError {
    /// The stable code.
    pub code: ErrorCode,
    /// Human-readable detail (never secrets or message content).
    pub message: String,
}

/// A frame from a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Request id, echoed in the response.
    pub id: u64,
    /// The request.
    pub request: Request,
}

impl Wire for ClientFrame {
    const NAME: &'static str = "ClientFrame";
    const TAG: u8 = 0x40;
    const MAX_LEN: usize = limits::MAX_FRAME_LEN;
}

/// A pushed inbox item with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxEntry {
    /// Monotonic per device.
    pub seq: u64,
    /// The item.
    pub item: InboxItem,
}

/// A frame from the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerFrame {
    /// First frame on every connection.
    Challenge {
        /// Random bytes to sign.
        #[serde(with = "crate::codec::fixed_bytes")]
        nonce: [u8; 32],
    },
    /// The answer to request `id`.
    Response {
        /// The request id.
        id: u64,
        /// The outcome.
        result: Result<Response, ProtocolError>,
    },
    /// New inbox entries.
    Inbox(Vec<InboxEntry>),
    /// A user's device list changed.
    DevicesChanged(Vec<UserId>),
    /// The relay closes the connection, with a reason.
    Closing(ProtocolError),
    /// The relay refuses this device's login because it (or its enrollment
    /// key) was revoked or ordered wiped, and hands over the signed
    /// statements it holds that say so (at most
    /// [`limits::MAX_REFUSAL_STATEMENTS`], [`limits::MAX_REFUSAL_BYTES`] in
    /// all). Sent just before the refused answer to
    /// [`Request::Authenticate`]. The device checks each against the org key
    /// it trusts, as any statement; the relay's word alone changes nothing.
    Revoked(Vec<Statement>),
}

impl Wire for ServerFrame {
    const NAME: &'static str = "ServerFrame";
    const TAG: u8 = 0x41;
    const MAX_LEN: usize = limits::MAX_FRAME_LEN;
}

/// The public key a relay config holds to check invitations.
pub type OrgPublicKey = Ed25519Public;
