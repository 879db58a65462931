//! Input from the web view, checked before anything reaches the engine:
//! ids in their one textual form, texts within their limits. No command
//! takes a path: files are chosen in the host's own dialogs. Every failure
//! is `invalidInput` naming the field.

use crate::error::{UiError, UiResult};
use belfry_protocol::{DeviceId, FlowId, MessageId, RoomId, UserId};

/// Longest message text accepted from the UI (the protocol's limit).
pub const MAX_TEXT: usize = belfry_protocol::limits::MAX_TEXT_LEN;
/// Longest search query.
pub const MAX_QUERY: usize = 256;
/// Most messages one page may ask for.
pub const MAX_PAGE: u32 = 500;
/// Most search hits one query may ask for.
pub const MAX_HITS: u32 = 200;
/// Longest secret (passphrase or passcode), in bytes.
pub const MAX_SECRET: usize = 1024;
/// Most members named at once.
pub const MAX_MEMBERS: usize = 500;
/// Longest invitation text (an armored file or a `belfry://` link).
pub const MAX_INVITATION_TEXT: usize = 64 * 1024;

fn hex_id<T>(field: &str, s: &str, parse: impl Fn(&str) -> Result<T, belfry_protocol::IdError>) -> UiResult<T> {
    if s.len() != 32 {
        return Err(UiError::input(format!("{field}: not an id")));
    }
    parse(s).map_err(|e| UiError::input(format!("{field}: {e}")))
}

/// A room id (32 hex digits).
pub fn room(s: &str) -> UiResult<RoomId> {
    hex_id("room", s, RoomId::from_hex)
}

/// A message id (32 hex digits).
pub fn message(s: &str) -> UiResult<MessageId> {
    hex_id("message", s, MessageId::from_hex)
}

/// A verification flow id (32 hex digits).
pub fn flow(s: &str) -> UiResult<FlowId> {
    hex_id("flow", s, FlowId::from_hex)
}

/// A user id.
pub fn user(s: &str) -> UiResult<UserId> {
    UserId::new(s).map_err(|e| UiError::input(format!("user: {e}")))
}

/// A device id.
pub fn device(s: &str) -> UiResult<DeviceId> {
    DeviceId::new(s).map_err(|e| UiError::input(format!("device: {e}")))
}

/// A text of at most `max` bytes; `allow_empty` or not.
pub fn text<'a>(field: &str, s: &'a str, max: usize, allow_empty: bool) -> UiResult<&'a str> {
    if s.len() > max {
        return Err(UiError::input(format!("{field}: longer than {max} bytes")));
    }
    if !allow_empty && s.trim().is_empty() {
        return Err(UiError::input(format!("{field}: empty")));
    }
    Ok(s)
}

/// A name people read (room name, device name, label): the protocol's
/// rule (no invisible or bidi characters, at most 128 characters).
pub fn display_name(field: &str, s: &str) -> UiResult<belfry_protocol::DisplayName> {
    if s.trim().is_empty() {
        return Err(UiError::input(format!("{field}: empty")));
    }
    belfry_protocol::DisplayName::new(s.trim()).map_err(|e| UiError::input(format!("{field}: {e}")))
}

/// Longest name of a file sent from memory, in bytes (what file systems
/// allow for one name).
pub const MAX_FILE_NAME: usize = 255;

/// The name of a file sent from memory (dropped or pasted): one plain
/// name, not a path; no control characters; at most [`MAX_FILE_NAME`]
/// bytes. (The receiver makes it safe again before saving.)
pub fn file_name(s: &str) -> UiResult<&str> {
    if s.trim().is_empty() || s.len() > MAX_FILE_NAME {
        return Err(UiError::input(format!("name: 1 to {MAX_FILE_NAME} bytes")));
    }
    if s.chars().any(|c| c.is_control() || matches!(c, '/' | '\\')) || s.trim_matches('.').is_empty() {
        return Err(UiError::input("name: a file name, not a path"));
    }
    Ok(s)
}

/// A page size: 1 to `max`.
pub fn limit(field: &str, n: u32, max: u32) -> UiResult<usize> {
    if n == 0 || n > max {
        return Err(UiError::input(format!("{field}: 1 to {max}")));
    }
    usize::try_from(n).map_err(|_| UiError::input(format!("{field}: too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_one_form() {
        let id = "00112233445566778899aabbccddeeff";
        assert_eq!(room(id).unwrap().to_string(), id);
        assert!(room("0011").is_err());
        assert!(room(&"é".repeat(16)).is_err());
        assert!(message("zz112233445566778899aabbccddeeff").is_err());
        assert!(user("Alice").is_err());
        assert!(user(&"a".repeat(65)).is_err());
        assert!(device("a/b").is_err());
    }

    #[test]
    fn texts_and_limits_are_bounded() {
        assert!(text("body", &"x".repeat(MAX_TEXT + 1), MAX_TEXT, false).is_err());
        assert!(text("body", "  ", MAX_TEXT, false).is_err());
        assert!(display_name("name", "a\u{202e}b").is_err());
        assert!(limit("limit", 0, 10).is_err());
        for bad in ["", " ", "..", "a/b", "..\\x", "a\nb", "a\0b"] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
        assert!(file_name(&"x".repeat(MAX_FILE_NAME + 1)).is_err());
        assert_eq!(file_name("minutes 3.txt").unwrap(), "minutes 3.txt");
        assert!(limit("limit", 11, 10).is_err());
    }
}
