//! Olm-encrypted device-to-device messages: the envelope the relay carries
//! and the payload inside, which binds both ends by user, device and key.

use crate::cert::Statement;
use crate::codec::Wire;
use crate::ids::{DeviceId, RoomId, UserId};
use crate::keys::{Curve25519Public, Ed25519Public, SecretBytes};
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

/// What a to-device message says.
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
