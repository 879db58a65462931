//! `belfry-client`: the engine every Belfry front end drives. One async core
//! owns the encrypted store, the crypto state and the relay connection; the
//! `belfry` command-line client and the desktop app are thin hosts on it.
//!
//! - [`profile`]: where a device's data lives and how its store is unlocked;
//! - [`net`]: the relay connection;
//! - [`hardening`]: what a host does first in `main` to keep memory off disk;
//! - [`secret_file`]: erasing a file that held a secret (a used invitation);
//! - [`engine`]: enrollment, sync, rooms, messages, files, keys, alerts, person-to-person
//!   verification of devices, room-key recovery from the user's own devices.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

mod blobs;
pub mod engine;
pub mod error;
pub mod hardening;
pub mod net;
pub mod profile;
pub mod secret_file;

pub use engine::{
    Alert, AttachmentInfo, DEFAULT_VERIFICATION_TIMEOUT, Direction, Engine, Event, FileError, MessageView,
    PendingUpload, ReactionView, ReceiptView, RoomSummary, RoomView, SyncStatus, Transfer, VerificationState,
    VerificationView, describe_cancel,
};
pub use error::{ClientError, Result};
