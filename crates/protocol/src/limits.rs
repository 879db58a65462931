//! Size and count limits shared by clients and the relay. Every decoder
//! checks its type's limit before parsing anything.

/// Largest frame on the relay connection, either direction.
pub const MAX_FRAME_LEN: usize = 1024 * 1024;
/// Largest Megolm room message (envelope or payload).
pub const MAX_ROOM_MESSAGE_LEN: usize = 96 * 1024;
/// Largest Olm to-device message (envelope or payload).
pub const MAX_TO_DEVICE_LEN: usize = 16 * 1024;
/// Largest invitation file (the relay CA certificate dominates).
pub const MAX_INVITATION_LEN: usize = 16 * 1024;
/// Largest relay CA certificate inside an invitation.
pub const MAX_RELAY_CA_LEN: usize = 8 * 1024;
/// Largest text body of a message, in bytes.
pub const MAX_TEXT_LEN: usize = 64 * 1024;
/// Most recipient devices named in one publish.
pub const MAX_RECIPIENTS: usize = 1024;
/// Most one-time keys in one upload.
pub const MAX_PREKEYS_PER_UPLOAD: usize = 100;
/// Most devices in one key claim.
pub const MAX_CLAIMS_PER_REQUEST: usize = 256;
/// Most users in one page of the organisation directory.
pub const MAX_DIRECTORY_PAGE: u32 = 200;
/// Most inbox items pushed in one frame.
pub const MAX_ITEMS_PER_PUSH: usize = 256;
/// Most statements a relay hands a device whose login it refuses.
pub const MAX_REFUSAL_STATEMENTS: usize = 16;
/// Their largest total encoded size.
pub const MAX_REFUSAL_BYTES: usize = 64 * 1024;
/// Largest attachment blob by default (relays may configure less).
pub const MAX_BLOB_LEN: u64 = 512 * 1024 * 1024;
