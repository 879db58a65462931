//! Belfry's wire protocol: every type that crosses a trust boundary, its one
//! canonical encoding, its size limit, and signature checks over
//! domain-separated canonical bytes. No I/O.
//!
//! Decoding untrusted bytes never panics: see [`codec`].

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

pub mod armor;
pub mod cert;
pub mod codec;
pub mod frames;
pub mod ids;
pub mod keys;
pub mod limits;
pub mod room;
pub mod signed;
pub mod text;
pub mod to_device;

pub use cert::{
    DeviceCert, DeviceChain, EnrollmentCert, EnrollmentConfirmation, Invitation, Issuer, Prekey, Registration,
    RelayInfo, Revocation, RevocationTarget, Statement, Timestamp, WipeOrder,
};
pub use codec::{DecodeError, FORMAT_VERSION, Wire};
pub use frames::{ClientFrame, ErrorCode, ProtocolError, Request, Response, ServerFrame};
pub use ids::{BlobId, DeviceId, DisplayName, FlowId, IdError, InvitationId, MessageId, RoomId, UserId};
pub use keys::{Curve25519Public, Ed25519Public, Hash256, SecretBytes, SecretKey32, Signature, SignatureError};
pub use room::{RoomContent, RoomMessage, RoomPayload, RoomStateEvent, StateContent};
pub use signed::{Signed, SignedBody, VerifyError};
pub use to_device::{RoomKeyClaim, ToDeviceContent, ToDeviceEnvelope, ToDevicePayload, VerificationCancelReason};
