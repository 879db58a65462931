//! Olm-encrypted device-to-device messages: the envelope the relay carries
//! and the payload inside, which binds both ends by user, device and key.

use crate::cert::Statement;
use crate::codec::Wire;
use crate::ids::{DeviceId, FlowId, RoomId, UserId};
use crate::keys::{Curve25519Public, Ed25519Public, Hash256, SecretBytes};
use crate::limits;
use crate::signed::{Signed, SignedBody};
use serde::{Deserialize, Serialize};

/// Which kind of Olm message the ciphertext is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OlmKind {
    /// A pre-key message, which can start a session.
    PreKey,
    /// A message on an established session.
    Normal,
}

/// An Olm message addressed to one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToDeviceEnvelope {
    /// The sending user.
    pub sender: UserId,
    /// The sending device.
    pub sender_device: DeviceId,
    /// The sending device's Curve25519 identity key.
    pub sender_key: Curve25519Public,
    /// The recipient user.
    pub recipient: UserId,
    /// The recipient device.
    pub recipient_device: DeviceId,
    /// The Olm message type.
    pub kind: OlmKind,
    /// vodozemac's Olm message bytes.
    #[serde(with = "crate::codec::byte_vec")]
    pub ciphertext: Vec<u8>,
}

impl Wire for ToDeviceEnvelope {
    const NAME: &'static str = "ToDeviceEnvelope";
    const TAG: u8 = 0x32;
    const MAX_LEN: usize = limits::MAX_TO_DEVICE_LEN;
}

/// The creator's signed statement of what a Megolm session is: which room,
/// which sending device. Travels with the key, also when it is forwarded,
/// so a forwarding device cannot relabel a session as someone else's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKeyClaim {
    /// The room the session encrypts.
    pub room: RoomId,
    /// The session id (its Ed25519 signing key).
    pub session: Ed25519Public,
    /// The creating user.
    pub sender: UserId,
    /// The creating device, whose Ed25519 key signs this claim.
    pub sender_device: DeviceId,
}

impl Wire for RoomKeyClaim {
    const NAME: &'static str = "RoomKeyClaim";
    const TAG: u8 = 0x34;
    const MAX_LEN: usize = 512;
}
impl SignedBody for RoomKeyClaim {
    const SIG_LABEL: &'static str = "room-key-claim";
}

/// A Megolm session key, sent by the session's owner over Olm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomKey {
    /// What the session is, signed by its creator.
    pub claim: Signed<RoomKeyClaim>,
    /// vodozemac `SessionKey` bytes.
    pub session_key: SecretBytes,
}

/// A Megolm session key passed on by one of the user's own devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardedRoomKey {
    /// What the session is, signed by its creator (not the forwarder).
    pub claim: Signed<RoomKeyClaim>,
    /// vodozemac `ExportedSessionKey` bytes.
    pub exported_key: SecretBytes,
}

/// Why a verification ended without verifying. On the wire: new reasons
/// are appended at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerificationCancelReason {
    /// A person declined, or said the emoji do not match.
    User,
    /// It was not finished in time.
    Timeout,
    /// A message came that does not fit where the flow stands.
    UnexpectedMessage,
    /// The flow is unknown to the device (for example it restarted).
    UnknownFlow,
    /// The revealed ephemeral key does not match the commitment sent
    /// before: someone tried to choose a key after seeing the other one.
    CommitmentMismatch,
    /// The MAC does not verify: the two devices did not see the same keys.
    MacMismatch,
    /// The other device is not (or no longer) a trusted device.
    NotTrusted,
}

/// What a to-device message says. Encoded by variant index: new variants
/// are appended at the end, so earlier encodings never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToDeviceContent {
    /// A room key from its creator.
    RoomKey(RoomKey),
    /// A room key forwarded by one of the user's own devices.
    ForwardedRoomKey(ForwardedRoomKey),
    /// A request for a missing room key, sent to the user's own devices.
    RoomKeyRequest {
        /// The room.
        room: RoomId,
        /// The session wanted.
        session: Ed25519Public,
    },
    /// A revocation or wipe order, passed on privately.
    Statement(Statement),
    /// Nothing: used to establish or refresh an Olm session.
    Dummy,
    /// Asks the recipient device to verify with a short authentication
    /// string (SAS). The asking device chose `flow` at random.
    VerificationRequest {
        /// The flow.
        flow: FlowId,
    },
    /// The asked device's person agreed. Carries the commitment to the
    /// ephemeral key that device reveals only after it has seen the asking
    /// device's key (commit, then reveal), so nobody in between can pick a
    /// key that makes the emoji match.
    VerificationAccept {
        /// The flow.
        flow: FlowId,
        /// `belfry_crypto::sas::commitment` of the flow and the key.
        commitment: Hash256,
    },
    /// An ephemeral SAS key: the asking device's first, then the accepting
    /// device's.
    VerificationKey {
        /// The flow.
        flow: FlowId,
        /// The sender's ephemeral Curve25519 key for this flow.
        key: Curve25519Public,
    },
    /// Sent once the sender's person confirmed that the emoji match: a MAC
    /// of the sender's Ed25519 identity key under the SAS secret.
    VerificationMac {
        /// The flow.
        flow: FlowId,
        /// HMAC-SHA-256 (vodozemac SAS).
        #[serde(with = "crate::codec::fixed_bytes")]
        mac: [u8; 32],
    },
    /// The flow ended without verification.
    VerificationCancel {
        /// The flow.
        flow: FlowId,
        /// Why.
        reason: VerificationCancelReason,
    },
    /// The sender checked our MAC and marked our device verified.
    VerificationDone {
        /// The flow.
        flow: FlowId,
    },
    /// Answer of one of the user's own devices to a
    /// [`ToDeviceContent::RoomKeyRequest`]: it cannot supply that key.
    RoomKeyUnavailable {
        /// The room.
        room: RoomId,
        /// The session asked for.
        session: Ed25519Public,
    },
}

/// The plaintext of an Olm message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToDevicePayload {
    /// The sending user.
    pub sender: UserId,
    /// The sending device.
    pub sender_device: DeviceId,
    /// The sending device's Ed25519 key.
    pub sender_ed25519: Ed25519Public,
    /// The recipient user.
    pub recipient: UserId,
    /// The recipient device.
    pub recipient_device: DeviceId,
    /// The recipient device's Ed25519 key.
    pub recipient_ed25519: Ed25519Public,
    /// The content.
    pub content: ToDeviceContent,
}

impl Wire for ToDevicePayload {
    const NAME: &'static str = "ToDevicePayload";
    const TAG: u8 = 0x33;
    const MAX_LEN: usize = limits::MAX_TO_DEVICE_LEN;
}
