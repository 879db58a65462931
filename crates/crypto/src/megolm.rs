//! Megolm: one outbound session per room and sending device, shared over Olm
//! with the verified devices of current members, and rotated by policy.
//!
//! Inbound sessions are made only from a [`ReceivedToDevice`], so a room key
//! can only come over Olm: from the session's creator, or forwarded by one
//! of the user's own verified devices (which never raises trust). Either way
//! the creator's signed [`RoomKeyClaim`] must verify, so nobody can label a
//! session as another device's.
//! Decryption checks the envelope against the session before decrypting,
//! refuses a (session, index) pair the caller's [`ReplayGuard`] has seen, and
//! checks the payload against envelope and session before recording the
//! index. vodozemac's Megolm decryption changes no persistent session state
//! (it only moves an in-memory ratchet cache, and only for messages signed
//! by the session key), so the replay guard is the one piece of state a
//! refused message could touch, and it is written only on success.

use crate::device::Device;
use crate::error::{CryptoError, Result};
use crate::olm::ReceivedToDevice;
use crate::pickle::{self, PickleKey};
use crate::trust::VerifiedDevice;
use belfry_protocol::cert::Timestamp;
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::room::{RoomContent, RoomMessage, RoomPayload};
use belfry_protocol::to_device::{ForwardedRoomKey, RoomKey, RoomKeyClaim, ToDeviceContent};
use belfry_protocol::{DeviceId, Ed25519Public, Hash256, MessageId, RoomId, SecretBytes, Signed, UserId, Wire};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use vodozemac::megolm::{
    ExportedSessionKey, GroupSession, GroupSessionPickle, InboundGroupSession, InboundGroupSessionPickle,
    MegolmMessage, SessionConfig, SessionKey,
};

/// When an outbound session must be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationPolicy {
    /// After this many messages.
    pub max_messages: u32,
    /// After this long, in milliseconds.
    pub max_age_ms: u64,
}

impl Default for RotationPolicy {
    /// 100 messages or one week, whichever comes first.
    fn default() -> Self {
        Self { max_messages: 100, max_age_ms: 7 * 24 * 3600 * 1000 }
    }
}

/// Why an outbound session must be rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationReason {
    /// The message limit was reached.
    MessageLimit,
    /// The session is too old.
    Age,
    /// A device that holds the key is no longer a recipient (a member left
    /// or was removed, or a device was revoked).
    RecipientLeft(DeviceAddress),
}

/// Remembers which (session, message index) pairs were decrypted. The
/// caller stores it (in the same transaction as the decrypted message).
pub trait ReplayGuard {
    /// Whether this pair was decrypted before.
    fn seen(&self, session: &Ed25519Public, index: u32) -> bool;
    /// Records a pair after a successful decryption.
    fn record(&mut self, session: &Ed25519Public, index: u32);
}

/// An in-memory [`ReplayGuard`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SeenIndices(BTreeMap<Ed25519Public, BTreeSet<u32>>);

impl ReplayGuard for SeenIndices {
    fn seen(&self, session: &Ed25519Public, index: u32) -> bool {
        self.0.get(session).is_some_and(|s| s.contains(&index))
    }

    fn record(&mut self, session: &Ed25519Public, index: u32) {
        self.0.entry(*session).or_default().insert(index);
    }
}

fn session_id_of(base64: &str) -> Result<Ed25519Public> {
    Ed25519Public::from_base64(base64).ok_or_else(|| CryptoError::KeyMaterial("malformed Megolm session id".into()))
}

/// This device's sending session for one room.
pub struct OutboundRoomSession {
    room: RoomId,
    claim: Signed<RoomKeyClaim>,
    session: GroupSession,
    id: Ed25519Public,
    created_at: Timestamp,
    sent: u32,
    policy: RotationPolicy,
    shared_with: BTreeSet<DeviceAddress>,
}

#[derive(Serialize, Deserialize)]
struct OutboundPickle {
    room: RoomId,
    claim: Signed<RoomKeyClaim>,
    session: GroupSessionPickle,
    created_at: Timestamp,
    sent: u32,
    policy: RotationPolicy,
    shared_with: BTreeSet<DeviceAddress>,
}

impl OutboundRoomSession {
    /// A new session for `room`, sent from `device`, which signs a claim
    /// of what the session is.
    pub fn new(device: &Device, room: RoomId, policy: RotationPolicy, now: Timestamp) -> Result<Self> {
        let session = GroupSession::new(SessionConfig::version_1());
        let id = session_id_of(&session.session_id())?;
        let claim = device.sign(&RoomKeyClaim {
            room,
            session: id,
            sender: device.user().clone(),
            sender_device: device.device_id().clone(),
        });
        Ok(Self { room, claim, session, id, created_at: now, sent: 0, policy, shared_with: BTreeSet::new() })
    }

    /// The room.
    pub fn room(&self) -> &RoomId {
        &self.room
    }

    /// The session id.
    pub fn session_id(&self) -> &Ed25519Public {
        &self.id
    }

    /// How many messages it has encrypted.
    pub fn sent(&self) -> u32 {
        self.sent
    }

    /// Whether the session must be replaced before sending to `recipients`
    /// (the verified, unrevoked devices of the current members).
    pub fn rotation_needed(&self, now: Timestamp, recipients: &BTreeSet<DeviceAddress>) -> Option<RotationReason> {
        if let Some(gone) = self.shared_with.difference(recipients).next() {
            return Some(RotationReason::RecipientLeft(gone.clone()));
        }
        self.limit_reached(now)
    }

    fn limit_reached(&self, now: Timestamp) -> Option<RotationReason> {
        if self.sent >= self.policy.max_messages {
            return Some(RotationReason::MessageLimit);
        }
        if now.0.saturating_sub(self.created_at.0) >= self.policy.max_age_ms {
            return Some(RotationReason::Age);
        }
        None
    }

    /// Which of `recipients` do not have the key yet.
    pub fn missing(&self, recipients: &BTreeSet<DeviceAddress>) -> Vec<DeviceAddress> {
        recipients.difference(&self.shared_with).cloned().collect()
    }

    /// The room key to send over Olm, at the current ratchet index, so the
    /// recipient can read from the next message on and nothing before.
    pub fn room_key(&self) -> ToDeviceContent {
        ToDeviceContent::RoomKey(RoomKey {
            claim: self.claim.clone(),
            session_key: SecretBytes::new(self.session.session_key().to_bytes()),
        })
    }

    /// An inbound copy of this session from its current index, for the
    /// creating device itself: call it right after [`Self::new`], so this
    /// device can later forward its own session, from the first message, to
    /// another of its user's devices that missed it.
    pub fn inbound_copy(&self) -> Result<InboundRoomSession> {
        let session = InboundGroupSession::new(&self.session.session_key(), SessionConfig::version_1());
        let claim = self.claim.peek_unverified()?;
        InboundRoomSession::checked(session, claim, self.claim.clone(), KeyOrigin::Direct)
    }

    /// Records that the room key was sent to `device`.
    pub fn mark_shared(&mut self, device: DeviceAddress) {
        self.shared_with.insert(device);
    }

    /// Encrypts a message. Refuses once the message or age limit is
    /// reached: the caller must rotate.
    pub fn encrypt(
        &mut self,
        device: &Device,
        id: MessageId,
        state_hash: Hash256,
        content: RoomContent,
        now: Timestamp,
    ) -> Result<RoomMessage> {
        if let Some(reason) = self.limit_reached(now) {
            return Err(CryptoError::RotationRequired(reason));
        }
        let payload = RoomPayload {
            id,
            room: self.room,
            sender: device.user().clone(),
            sender_device: device.device_id().clone(),
            state_hash,
            sent_at: now,
            content,
        };
        let plaintext = zeroize::Zeroizing::new(payload.encode());
        let message = self.session.encrypt(plaintext.as_slice());
        self.sent = self.sent.saturating_add(1);
        Ok(RoomMessage {
            room: self.room,
            sender: device.user().clone(),
            sender_device: device.device_id().clone(),
            session: self.id,
            ciphertext: message.to_bytes(),
        })
    }

    /// The session, encrypted with `key`.
    pub fn pickle(&self, key: &PickleKey) -> Result<Vec<u8>> {
        pickle::seal(
            "megolm-outbound",
            &OutboundPickle {
                room: self.room,
                claim: self.claim.clone(),
                session: self.session.pickle(),
                created_at: self.created_at,
                sent: self.sent,
                policy: self.policy,
                shared_with: self.shared_with.clone(),
            },
            key,
        )
    }

    /// Restores a session pickled with [`OutboundRoomSession::pickle`].
    pub fn unpickle(bytes: &[u8], key: &PickleKey) -> Result<Self> {
        let p: OutboundPickle = pickle::open("megolm-outbound", bytes, key)?;
        let session = GroupSession::from_pickle(p.session);
        let id = session_id_of(&session.session_id())?;
        Ok(Self {
            room: p.room,
            claim: p.claim,
            session,
            id,
            created_at: p.created_at,
            sent: p.sent,
            policy: p.policy,
            shared_with: p.shared_with,
        })
    }
}

impl fmt::Debug for OutboundRoomSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundRoomSession")
            .field("room", &self.room)
            .field("session", &self.id)
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// How this device got a room key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyOrigin {
    /// From the session's creator, over Olm.
    Direct,
    /// Forwarded by another of our own verified devices. Messages decrypted
    /// with it are shown as such; it never counts as direct.
    Forwarded {
        /// The forwarding device.
        by: DeviceId,
    },
}

/// A session for reading one sender device's messages in one room.
pub struct InboundRoomSession {
    room: RoomId,
    claim: Signed<RoomKeyClaim>,
    sender: UserId,
    sender_device: DeviceId,
    id: Ed25519Public,
    origin: KeyOrigin,
    session: InboundGroupSession,
}

#[derive(Serialize, Deserialize)]
struct InboundPickle {
    room: RoomId,
    claim: Signed<RoomKeyClaim>,
    sender: UserId,
    sender_device: DeviceId,
    origin: KeyOrigin,
    session: InboundGroupSessionPickle,
}

/// A room message that decrypted and passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedRoomMessage {
    /// The payload (room, sender and device equal the session's).
    pub payload: RoomPayload,
    /// Its Megolm index.
    pub index: u32,
    /// How the key arrived.
    pub origin: KeyOrigin,
}

impl InboundRoomSession {
    /// Accepts a room key that arrived over Olm from the session's creator,
    /// whose signed claim must name that same device.
    pub fn from_room_key(received: &ReceivedToDevice) -> Result<Self> {
        let ToDeviceContent::RoomKey(key) = received.content() else {
            return Err(CryptoError::RoomKeyRefused("not a room key"));
        };
        let sender = received.sender();
        let claim = key
            .claim
            .verify(&sender.ed25519)
            .map_err(|_| CryptoError::RoomKeyRefused("claim not signed by the sender"))?;
        if claim.sender != sender.user || claim.sender_device != sender.device {
            return Err(CryptoError::RoomKeyRefused("claim names another sender"));
        }
        let session_key =
            SessionKey::from_bytes(key.session_key.expose()).map_err(|e| CryptoError::KeyMaterial(e.to_string()))?;
        let session = InboundGroupSession::new(&session_key, SessionConfig::version_1());
        Self::checked(session, claim, key.claim.clone(), KeyOrigin::Direct)
    }

    /// The sender a forwarded key claims, so the caller can look that device
    /// up in its directory before calling [`Self::from_forwarded_key`].
    /// Unverified.
    pub fn claimed_original_sender(received: &ReceivedToDevice) -> Option<(UserId, DeviceId)> {
        let ToDeviceContent::ForwardedRoomKey(key) = received.content() else { return None };
        let claim = key.claim.peek_unverified().ok()?;
        Some((claim.sender, claim.sender_device))
    }

    /// Accepts a room key forwarded by one of `own_user`'s devices (which
    /// the Olm layer already verified). Anyone else's forward is refused, and
    /// the creator's signed claim must verify against `original`, the
    /// trusted device it names: a forwarder cannot relabel a session.
    pub fn from_forwarded_key(
        received: &ReceivedToDevice,
        own_user: &UserId,
        original: &VerifiedDevice,
    ) -> Result<Self> {
        let ToDeviceContent::ForwardedRoomKey(key) = received.content() else {
            return Err(CryptoError::RoomKeyRefused("not a forwarded room key"));
        };
        let by = received.sender();
        if by.user != *own_user {
            return Err(CryptoError::ForwardRefused { user: by.user.clone(), device: by.device.clone() });
        }
        let claim = key
            .claim
            .verify(&original.ed25519)
            .map_err(|_| CryptoError::RoomKeyRefused("claim not signed by the original sender"))?;
        if claim.sender != original.user || claim.sender_device != original.device {
            return Err(CryptoError::RoomKeyRefused("claim names another sender"));
        }
        let exported = ExportedSessionKey::from_bytes(key.exported_key.expose())
            .map_err(|e| CryptoError::KeyMaterial(e.to_string()))?;
        let session = InboundGroupSession::import(&exported, SessionConfig::version_1());
        Self::checked(session, claim, key.claim.clone(), KeyOrigin::Forwarded { by: by.device.clone() })
    }

    fn checked(
        session: InboundGroupSession,
        claim: RoomKeyClaim,
        signed: Signed<RoomKeyClaim>,
        origin: KeyOrigin,
    ) -> Result<Self> {
        let id = session_id_of(&session.session_id())?;
        if id != claim.session {
            return Err(CryptoError::RoomKeyRefused("session id does not match the key"));
        }
        Ok(Self {
            room: claim.room,
            claim: signed,
            sender: claim.sender,
            sender_device: claim.sender_device,
            id,
            origin,
            session,
        })
    }

    /// The room key to forward to another of our own devices, from the
    /// first index this device knows.
    pub fn forward(&self) -> ToDeviceContent {
        ToDeviceContent::ForwardedRoomKey(ForwardedRoomKey {
            claim: self.claim.clone(),
            exported_key: SecretBytes::new(self.session.export_at_first_known_index().to_bytes()),
        })
    }

    /// The room.
    pub fn room(&self) -> &RoomId {
        &self.room
    }

    /// The session id.
    pub fn session_id(&self) -> &Ed25519Public {
        &self.id
    }

    /// The user whose device created the session (from its signed claim).
    pub fn sender(&self) -> &UserId {
        &self.sender
    }

    /// The device that created the session (from its signed claim).
    pub fn sender_device(&self) -> &DeviceId {
        &self.sender_device
    }

    /// How the key arrived.
    pub fn origin(&self) -> &KeyOrigin {
        &self.origin
    }

    /// A digest of the complete session state (ratchets included), to check
    /// that an operation left it unchanged. One-way; reveals nothing usable.
    pub fn state_digest(&self) -> Hash256 {
        crate::pickle::digest("megolm-inbound", &self.session.pickle())
    }

    /// The first message index this session can decrypt: where its key
    /// was exported (0 for the creator's first share).
    pub fn first_known_index(&self) -> u32 {
        self.session.first_known_index()
    }

    /// Decrypts a room message. On any error the session and `guard` are
    /// unchanged.
    pub fn decrypt(&mut self, message: &RoomMessage, guard: &mut impl ReplayGuard) -> Result<DecryptedRoomMessage> {
        if message.session != self.id {
            return Err(CryptoError::EnvelopeMismatch { field: "session" });
        }
        if message.room != self.room {
            return Err(CryptoError::WrongRoom { expected: self.room, found: message.room });
        }
        if message.sender != self.sender || message.sender_device != self.sender_device {
            return Err(CryptoError::EnvelopeMismatch { field: "sender" });
        }
        let megolm =
            MegolmMessage::from_bytes(&message.ciphertext).map_err(|e| CryptoError::MegolmDecrypt(e.to_string()))?;
        let index = megolm.message_index();
        if guard.seen(&self.id, index) {
            return Err(CryptoError::Replay { session: self.id.to_base64(), index });
        }

        let decrypted = self.session.decrypt(&megolm).map_err(|e| CryptoError::MegolmDecrypt(e.to_string()))?;
        let plaintext = zeroize::Zeroizing::new(decrypted.plaintext);
        let payload = RoomPayload::decode(&plaintext)?;
        if payload.room != self.room {
            return Err(CryptoError::PayloadMismatch { field: "room" });
        }
        if payload.sender != self.sender || payload.sender_device != self.sender_device {
            return Err(CryptoError::PayloadMismatch { field: "sender" });
        }

        guard.record(&self.id, index);
        Ok(DecryptedRoomMessage { payload, index, origin: self.origin.clone() })
    }

    /// The session, encrypted with `key`.
    pub fn pickle(&self, key: &PickleKey) -> Result<Vec<u8>> {
        pickle::seal(
            "megolm-inbound",
            &InboundPickle {
                room: self.room,
                claim: self.claim.clone(),
                sender: self.sender.clone(),
                sender_device: self.sender_device.clone(),
                origin: self.origin.clone(),
                session: self.session.pickle(),
            },
            key,
        )
    }

    /// Restores a session pickled with [`InboundRoomSession::pickle`].
    pub fn unpickle(bytes: &[u8], key: &PickleKey) -> Result<Self> {
        let p: InboundPickle = pickle::open("megolm-inbound", bytes, key)?;
        let session = InboundGroupSession::from_pickle(p.session);
        let id = session_id_of(&session.session_id())?;
        Ok(Self {
            room: p.room,
            claim: p.claim,
            sender: p.sender,
            sender_device: p.sender_device,
            id,
            origin: p.origin,
            session,
        })
    }
}

impl fmt::Debug for InboundRoomSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundRoomSession")
            .field("room", &self.room)
            .field("sender", &self.sender)
            .field("sender_device", &self.sender_device)
            .field("session", &self.id)
            .field("origin", &self.origin)
            .finish()
    }
}
