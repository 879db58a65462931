//! Belfry's cryptographic core on vodozemac: device accounts, the
//! organisation trust chain, Olm to-device messages, Megolm rooms,
//! attachment encryption and short-authentication-string verification.
//!
//! Sans I/O: every function takes bytes and values and returns bytes and
//! values. The caller reads the clock, the network and the disk, which is
//! what lets the tests play a hostile relay in a few lines.
//!
//! Rules this crate enforces, each with a named negative test in
//! `tests/crypto/attacks.rs`:
//! - encrypt only to devices whose chain verifies to the org root, that are
//!   not revoked, and whose enrollment key certified no other device;
//! - one-time and fallback keys must be signed by their device and be
//!   contributory (not zero, not low-order);
//! - every decrypted payload is checked against its envelope and session;
//! - room keys only over Olm from their creator; forwarded keys only from
//!   the user's own verified devices, and they never raise trust;
//! - a replayed (session, index) is refused;
//! - a failed decryption leaves every session exactly as it was;
//! - room state changes are signed by a trusted device of a member allowed
//!   to make them, and chained by hash, so forks are detected.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

pub mod attachment;
mod device;
mod error;
mod megolm;
mod olm;
mod org;
mod pickle;
mod room_state;
pub mod sas;
pub mod seal;
mod trust;

pub use device::Device;
pub use error::{CryptoError, Result, TrustError};
pub use megolm::{
    DecryptedRoomMessage, InboundRoomSession, KeyOrigin, OutboundRoomSession, ReplayGuard, RotationPolicy,
    RotationReason, SeenIndices,
};
pub use olm::{OlmChannel, ReceivedToDevice};
pub use org::{InvitationRequest, OrgKey};
pub use pickle::PickleKey;
pub use room_state::{Applied, RoomState, StateError};
pub use trust::{
    Admission, CLOCK_SKEW_MS, Directory, ENROLLMENT_GRACE_MS, StatementEffect, VerifiedDevice, verify_chain,
};

/// `N` bytes from the operating system's CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out[..]);
    out
}
