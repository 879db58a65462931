//! One error type for the crate. Every refusal names the attack it stops,
//! so the engine can show the user a precise alert.

use belfry_protocol::{DecodeError, DeviceId, RoomId, UserId, VerifyError};

/// Why a trust-chain check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The enrollment certificate is not signed by our organisation's root key.
    #[error("enrollment certificate is not signed by this organisation: {0}")]
    NotSignedByOrg(#[source] VerifyError),
    /// The certificate names a different organisation.
    #[error("certificate belongs to another organisation")]
    OtherOrg,
    /// The device certificate is not signed by the enrollment key it names.
    #[error("device certificate is not signed by its enrollment key: {0}")]
    NotSignedByEnrollmentKey(#[source] VerifyError),
    /// Fields of the device certificate disagree with its enrollment certificate.
    #[error("device certificate does not match its enrollment certificate ({field})")]
    ChainMismatch {
        /// The field that differs.
        field: &'static str,
    },
    /// The device did not prove it holds the Ed25519 key in its certificate.
    #[error("device certificate lacks a valid proof of key possession")]
    NoPossessionProof,
    /// Another device id already uses this device's keys.
    #[error("the keys of {user}/{device} already belong to another device")]
    KeysReused {
        /// The user.
        user: UserId,
        /// The device refused.
        device: DeviceId,
    },
    /// The device was certified outside the enrollment key's validity window.
    #[error("enrollment certificate expired before the device was enrolled")]
    Expired,
    /// The device certificate claims to be issued in the future.
    #[error("device certificate is dated in the future")]
    NotYetValid,
    /// The enrollment key certified another device too: both are refused.
    #[error("enrollment key certified more than one device; refusing {user}/{device}")]
    EnrollmentKeyReused {
        /// The user.
        user: UserId,
        /// The device refused.
        device: DeviceId,
    },
    /// The device was revoked or wiped.
    #[error("device {user}/{device} has been revoked")]
    Revoked {
        /// The user.
        user: UserId,
        /// The device.
        device: DeviceId,
    },
    /// The enrollment key was revoked (a lost or stolen invitation).
    #[error("the invitation that enrolled this device has been revoked")]
    EnrollmentRevoked,
    /// A known device presented different keys under the same id.
    #[error("device {user}/{device} changed its keys; refusing the new certificate")]
    KeysChanged {
        /// The user.
        user: UserId,
        /// The device.
        device: DeviceId,
    },
    /// A statement's signature did not verify against its claimed issuer.
    #[error("statement signature does not verify: {0}")]
    BadStatement(#[source] VerifyError),
    /// A device-issued statement came from a device that may not issue it.
    #[error("statement issued by a device that is not a trusted device of the same user")]
    IssuerNotTrusted,
    /// A device nobody here has seen before, whose invitation expired by
    /// this device's own clock, and which the organisation has not
    /// confirmed: the date on its certificate is its own claim, so it is
    /// no evidence that it enrolled in time.
    #[error(
        "{user}/{device} was enrolled from an invitation that has expired, and IT has not confirmed it          (belfry-admin confirm)"
    )]
    EnrollmentUnconfirmed {
        /// The user.
        user: UserId,
        /// The device refused.
        device: DeviceId,
    },
    /// The organisation confirmed another device for this device's
    /// invitation: this one used a copy of it.
    #[error("the organisation confirmed another device for the invitation of {user}/{device}")]
    NotTheConfirmedDevice {
        /// The user.
        user: UserId,
        /// The device refused.
        device: DeviceId,
    },
    /// Two org-signed confirmations name different devices for one
    /// invitation: nothing under that enrollment key is trusted.
    #[error("the organisation confirmed two different devices for one invitation; both are refused")]
    ConflictingConfirmations,
    /// The device is not known to the directory.
    #[error("unknown device {user}/{device}")]
    UnknownDevice {
        /// The user.
        user: UserId,
        /// The device.
        device: DeviceId,
    },
}

/// Everything that can go wrong in belfry-crypto.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A certificate chain or statement was refused.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// Bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A signed statement or key did not verify.
    #[error("signature check failed: {0}")]
    Signature(#[from] VerifyError),
    /// A claimed one-time or fallback key is not signed by the device it is for.
    #[error("prekey for {user}/{device} is not signed by that device: {source}")]
    UnsignedPrekey {
        /// The user.
        user: UserId,
        /// The device.
        device: DeviceId,
        /// What failed.
        #[source]
        source: VerifyError,
    },
    /// A claimed prekey names a different device than the one asked for.
    #[error("prekey names {found_user}/{found_device}, not the device it was claimed for")]
    PrekeyForOtherDevice {
        /// The user in the key.
        found_user: UserId,
        /// The device in the key.
        found_device: DeviceId,
    },
    /// A Curve25519 key that would make the shared secret predictable
    /// (all-zero or low-order).
    #[error("refusing a non-contributory (low-order or zero) Curve25519 key")]
    NonContributoryKey,
    /// An envelope's routing fields disagree with the session or identity
    /// that would decrypt it.
    #[error("envelope {field} does not match: the relay may have rerouted it")]
    EnvelopeMismatch {
        /// The field that differs.
        field: &'static str,
    },
    /// The decrypted payload's bound fields disagree with its envelope.
    #[error("payload {field} does not match its envelope: forged or moved message")]
    PayloadMismatch {
        /// The field that differs.
        field: &'static str,
    },
    /// The message was addressed to another device.
    #[error("message is addressed to another device")]
    NotForThisDevice,
    /// A pre-key message for a session that already exists (a replay).
    #[error("replayed Olm pre-key message from {user}/{device}")]
    OlmReplay {
        /// The sender user.
        user: UserId,
        /// The sender device.
        device: DeviceId,
    },
    /// No Olm session could decrypt the message.
    #[error("no Olm session with {user}/{device} decrypts this message")]
    NoOlmSession {
        /// The sender user.
        user: UserId,
        /// The sender device.
        device: DeviceId,
    },
    /// Olm decryption failed.
    #[error("Olm decryption failed: {0}")]
    OlmDecrypt(String),
    /// Megolm decryption failed.
    #[error("Megolm decryption failed: {0}")]
    MegolmDecrypt(String),
    /// The same (session, index) was seen before.
    #[error("replayed message (session {session}, index {index})")]
    Replay {
        /// The session id.
        session: String,
        /// The message index.
        index: u32,
    },
    /// A room key that did not arrive as an Olm to-device message from its
    /// creator.
    #[error("room key refused: {0}")]
    RoomKeyRefused(&'static str),
    /// A forwarded room key from anyone but the user's own verified devices.
    #[error("forwarded room key refused: sent by {user}/{device}, not one of our own verified devices")]
    ForwardRefused {
        /// The forwarding user.
        user: UserId,
        /// The forwarding device.
        device: DeviceId,
    },
    /// The Megolm session belongs to another room.
    #[error("the session belongs to room {expected}, not {found}")]
    WrongRoom {
        /// The session's room.
        expected: RoomId,
        /// The room claimed.
        found: RoomId,
    },
    /// A key, session or pickle could not be read.
    #[error("invalid key material: {0}")]
    KeyMaterial(String),
    /// A pickle did not decrypt with the given key, or is corrupt.
    #[error("could not unpickle {what}: wrong key or corrupt data")]
    Unpickle {
        /// What was being restored.
        what: &'static str,
    },
    /// The invitation is not usable for enrollment.
    #[error("invitation refused: {0}")]
    Invitation(String),
    /// Attachment encryption or decryption failed.
    #[error(transparent)]
    Attachment(#[from] crate::attachment::AttachmentError),
    /// The outbound session reached its message or age limit.
    #[error("the room session must be rotated first ({0:?})")]
    RotationRequired(crate::megolm::RotationReason),
    /// Short authentication string verification failed.
    #[error("verification failed: {0}")]
    Verification(&'static str),
}

/// Result alias.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
