//! Olm between devices, for to-device payloads only.
//!
//! Sessions start from a claimed prekey that must be signed by the device it
//! is for, and be contributory. Every payload names sender and recipient by
//! user, device and Ed25519 key; those are checked after decryption against
//! the verified identities, so a relay cannot redirect or relabel a message.
//! Decryption runs on a copy of the session (and, for a pre-key message, of
//! the account) that replaces the original only when every check passed.

use crate::device::Device;
use crate::error::{CryptoError, Result};
use crate::pickle::{self, PickleKey};
use crate::trust::VerifiedDevice;
use belfry_protocol::cert::Prekey;
use belfry_protocol::to_device::{OlmKind, ToDeviceContent, ToDeviceEnvelope, ToDevicePayload};
use belfry_protocol::{Curve25519Public, DeviceId, Signed, UserId, Wire};
use serde::{Deserialize, Serialize};
use std::fmt;
use vodozemac::Curve25519PublicKey;
use vodozemac::olm::{Account, OlmMessage, Session, SessionConfig, SessionCreationError, SessionPickle};

/// An Olm session with one peer device.
pub struct OlmChannel {
    peer_user: UserId,
    peer_device: DeviceId,
    peer_key: Curve25519Public,
    session: Session,
}

#[derive(Serialize, Deserialize)]
struct ChannelPickle {
    peer_user: UserId,
    peer_device: DeviceId,
    peer_key: Curve25519Public,
    session: SessionPickle,
}

impl OlmChannel {
    /// The peer's user.
    pub fn peer_user(&self) -> &UserId {
        &self.peer_user
    }

    /// The peer's device.
    pub fn peer_device(&self) -> &DeviceId {
        &self.peer_device
    }

    /// vodozemac's session id.
    pub fn session_id(&self) -> String {
        self.session.session_id()
    }

    /// A digest of the complete session state, to check that an operation
    /// left it unchanged. One-way; reveals nothing usable.
    pub fn state_digest(&self) -> belfry_protocol::Hash256 {
        pickle::digest("olm-channel", &self.session.pickle())
    }

    /// The channel, encrypted with `key`.
    pub fn pickle(&self, key: &PickleKey) -> Result<Vec<u8>> {
        pickle::seal(
            "olm-channel",
            &ChannelPickle {
                peer_user: self.peer_user.clone(),
                peer_device: self.peer_device.clone(),
                peer_key: self.peer_key,
                session: self.session.pickle(),
            },
            key,
        )
    }

    /// Restores a channel pickled with [`OlmChannel::pickle`].
    pub fn unpickle(bytes: &[u8], key: &PickleKey) -> Result<Self> {
        let p: ChannelPickle = pickle::open("olm-channel", bytes, key)?;
        Ok(Self {
            peer_user: p.peer_user,
            peer_device: p.peer_device,
            peer_key: p.peer_key,
            session: Session::from_pickle(p.session),
        })
    }

    fn copy(&self) -> Self {
        Self {
            peer_user: self.peer_user.clone(),
            peer_device: self.peer_device.clone(),
            peer_key: self.peer_key,
            session: Session::from_pickle(self.session.pickle()),
        }
    }

    fn is_with(&self, peer: &VerifiedDevice) -> bool {
        self.peer_user == peer.user && self.peer_device == peer.device && self.peer_key == peer.curve25519
    }
}

impl fmt::Debug for OlmChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OlmChannel")
            .field("peer_user", &self.peer_user)
            .field("peer_device", &self.peer_device)
            .field("session_id", &self.session.session_id())
            .finish()
    }
}

/// A to-device message that decrypted under Olm from a verified device and
/// passed every binding check. Only this module can make one, which is how
/// the rest of the crate knows a room key really arrived over Olm.
#[derive(Debug)]
pub struct ReceivedToDevice {
    sender: VerifiedDevice,
    content: ToDeviceContent,
}

impl ReceivedToDevice {
    /// The verified sending device.
    pub fn sender(&self) -> &VerifiedDevice {
        &self.sender
    }

    /// What it said.
    pub fn content(&self) -> &ToDeviceContent {
        &self.content
    }
}

fn to_vodozemac_key(key: &Curve25519Public) -> Curve25519PublicKey {
    Curve25519PublicKey::from_bytes(key.0)
}

impl Device {
    /// Starts an Olm session with `peer` from a prekey claimed from the
    /// relay. Refuses a key that is unsigned or badly signed by that device,
    /// names another device, or is non-contributory.
    pub fn open_channel(&self, peer: &VerifiedDevice, claimed: &Signed<Prekey>) -> Result<OlmChannel> {
        let prekey = claimed.verify(&peer.ed25519).map_err(|source| CryptoError::UnsignedPrekey {
            user: peer.user.clone(),
            device: peer.device.clone(),
            source,
        })?;
        if prekey.user != peer.user || prekey.device != peer.device {
            return Err(CryptoError::PrekeyForOtherDevice { found_user: prekey.user, found_device: prekey.device });
        }
        let session = self
            .account
            .create_outbound_session(
                SessionConfig::version_1(),
                to_vodozemac_key(&peer.curve25519),
                to_vodozemac_key(&prekey.key),
            )
            .map_err(|e| match e {
                SessionCreationError::NonContributoryKey => CryptoError::NonContributoryKey,
                other => CryptoError::KeyMaterial(other.to_string()),
            })?;
        Ok(OlmChannel {
            peer_user: peer.user.clone(),
            peer_device: peer.device.clone(),
            peer_key: peer.curve25519,
            session,
        })
    }

    /// Encrypts `content` for `peer` over `channel`.
    pub fn seal_to_device(
        &self,
        channel: &mut OlmChannel,
        peer: &VerifiedDevice,
        content: ToDeviceContent,
    ) -> Result<ToDeviceEnvelope> {
        if !channel.is_with(peer) {
            return Err(CryptoError::EnvelopeMismatch { field: "channel peer" });
        }
        let payload = ToDevicePayload {
            sender: self.identity.user.clone(),
            sender_device: self.identity.device.clone(),
            sender_ed25519: self.identity.ed25519,
            recipient: peer.user.clone(),
            recipient_device: peer.device.clone(),
            recipient_ed25519: peer.ed25519,
            content,
        };
        let plaintext = zeroize::Zeroizing::new(payload.encode());
        let message =
            channel.session.encrypt(plaintext.as_slice()).map_err(|e| CryptoError::KeyMaterial(e.to_string()))?;
        let (kind, ciphertext) = match message {
            OlmMessage::PreKey(m) => (OlmKind::PreKey, m.to_bytes()),
            OlmMessage::Normal(m) => (OlmKind::Normal, m.to_bytes()),
        };
        Ok(ToDeviceEnvelope {
            sender: self.identity.user.clone(),
            sender_device: self.identity.device.clone(),
            sender_key: self.identity.curve25519,
            recipient: peer.user.clone(),
            recipient_device: peer.device.clone(),
            kind,
            ciphertext,
        })
    }

    /// Decrypts a to-device message from `sender` (looked up by the caller
    /// in its [`Directory`](crate::Directory) from the envelope's sender
    /// fields). `channels` are this device's sessions; a new inbound session
    /// is appended to it. On any error nothing is changed.
    pub fn open_to_device(
        &mut self,
        envelope: &ToDeviceEnvelope,
        sender: &VerifiedDevice,
        channels: &mut Vec<OlmChannel>,
    ) -> Result<ReceivedToDevice> {
        if envelope.recipient != self.identity.user || envelope.recipient_device != self.identity.device {
            return Err(CryptoError::NotForThisDevice);
        }
        if envelope.sender != sender.user || envelope.sender_device != sender.device {
            return Err(CryptoError::EnvelopeMismatch { field: "sender" });
        }
        if envelope.sender_key != sender.curve25519 {
            return Err(CryptoError::EnvelopeMismatch { field: "sender key" });
        }
        let message = OlmMessage::from_parts(
            match envelope.kind {
                OlmKind::PreKey => 0,
                OlmKind::Normal => 1,
            },
            &envelope.ciphertext,
        )
        .map_err(|e| CryptoError::OlmDecrypt(e.to_string()))?;

        // Try the existing sessions with this peer, each on a copy.
        for (i, channel) in channels.iter().enumerate() {
            if !channel.is_with(sender) {
                continue;
            }
            let mut trial = channel.copy();
            let Ok(plaintext) = trial.session.decrypt(&message) else { continue };
            let plaintext = zeroize::Zeroizing::new(plaintext);
            let received = self.check_payload(&plaintext, sender)?;
            if let Some(slot) = channels.get_mut(i) {
                *slot = trial;
            }
            return Ok(received);
        }

        // A pre-key message may start a new session.
        let OlmMessage::PreKey(prekey) = &message else {
            return Err(CryptoError::NoOlmSession { user: sender.user.clone(), device: sender.device.clone() });
        };
        if prekey.identity_key().to_bytes() != sender.curve25519.0 {
            return Err(CryptoError::EnvelopeMismatch { field: "pre-key identity key" });
        }
        // A pre-key message for a session we already have, that no existing
        // session decrypts, is a replay (fallback keys are not used up, so
        // vodozemac would happily start the same session again).
        let session_id = prekey.session_id();
        if channels.iter().any(|c| c.is_with(sender) && c.session.session_id() == session_id) {
            return Err(CryptoError::OlmReplay { user: sender.user.clone(), device: sender.device.clone() });
        }
        let mut trial_account = Account::from_pickle(self.account.pickle());
        let created = trial_account
            .create_inbound_session(SessionConfig::version_1(), to_vodozemac_key(&sender.curve25519), prekey)
            .map_err(|e| match e {
                SessionCreationError::NonContributoryKey => CryptoError::NonContributoryKey,
                other => CryptoError::OlmDecrypt(other.to_string()),
            })?;
        let plaintext = zeroize::Zeroizing::new(created.plaintext);
        let received = self.check_payload(&plaintext, sender)?;
        self.account = trial_account;
        channels.push(OlmChannel {
            peer_user: sender.user.clone(),
            peer_device: sender.device.clone(),
            peer_key: sender.curve25519,
            session: created.session,
        });
        Ok(received)
    }

    fn check_payload(&self, plaintext: &[u8], sender: &VerifiedDevice) -> Result<ReceivedToDevice> {
        let payload = ToDevicePayload::decode(plaintext)?;
        let me = &self.identity;
        if payload.sender != sender.user || payload.sender_device != sender.device {
            return Err(CryptoError::PayloadMismatch { field: "sender" });
        }
        if payload.sender_ed25519 != sender.ed25519 {
            return Err(CryptoError::PayloadMismatch { field: "sender Ed25519 key" });
        }
        if payload.recipient != me.user || payload.recipient_device != me.device {
            return Err(CryptoError::PayloadMismatch { field: "recipient" });
        }
        if payload.recipient_ed25519 != me.ed25519 {
            return Err(CryptoError::PayloadMismatch { field: "recipient Ed25519 key" });
        }
        Ok(ReceivedToDevice { sender: sender.clone(), content: payload.content })
    }
}
