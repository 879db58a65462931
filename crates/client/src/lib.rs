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

/// Every block this program frees is wiped first: what the engine held
/// and let go (decrypted text, keys on their way into a pickle, events in
/// a channel) is not left in freed memory once it is locked and dropped.
/// Installed here, so no host can forget it.
#[global_allocator]
static ALLOCATOR: belfry_store::WipingAllocator = belfry_store::WipingAllocator;

mod blobs;
pub mod engine;
pub mod error;
pub mod hardening;
pub mod net;
pub mod profile;
pub mod secret_file;

pub use engine::safe_file_name;
pub use engine::{
    Alert, AttachmentInfo, Contact, DEFAULT_VERIFICATION_TIMEOUT, DeviceTrust, DeviceView, Direction, Engine,
    EnrollOptions, Event, FileError, MessageView, OwnState, PendingUpload, ReactionView, ReceiptView, RoomSummary,
    RoomView, StoredAlert, SyncStatus, Transfer, VerificationState, VerificationView, describe_cancel,
};
pub use error::{ClientError, Result};
