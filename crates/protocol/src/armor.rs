//! The armored text form of Belfry files (invitations, statements):
//!
//! ```text
//! -----BEGIN BELFRY INVITATION-----
//! <standard base64 of the wire encoding, wrapped at 64 columns>
//! -----END BELFRY INVITATION-----
//! ```
//!
//! Text before the BEGIN line and after the END line is ignored, so a file
//! pasted into an e-mail with a note around it still reads. This module
//! lives in belfry-protocol so belfry-admin, which writes these files, and
//! the client, which reads invitations, share it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// Armor label of an invitation file.
pub const INVITATION_LABEL: &str = "BELFRY INVITATION";
/// Armor label of an invitation's registration file (for the relay; no secret).
pub const REGISTRATION_LABEL: &str = "BELFRY REGISTRATION";
/// Armor label of a signed statement file (revocation, wipe order,
/// enrollment confirmation).
pub const STATEMENT_LABEL: &str = "BELFRY STATEMENT";
/// Armor label of an enrolled device's certificate chain (no secret), which
/// the device hands to IT so that IT can confirm it.
pub const DEVICE_LABEL: &str = "BELFRY DEVICE";
/// Prefix of the text in an invitation QR code, followed by the invitation
/// encoding in unpadded base64url.
pub const INVITE_URI_PREFIX: &str = "belfry-invite:";

/// Columns of base64 per line.
pub const LINE_WIDTH: usize = 64;

/// Why armored text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArmorError {
    /// No `-----BEGIN <label>-----` line.
    #[error("no `-----BEGIN {label}-----` line found")]
    MissingBegin {
        /// The label looked for.
        label: String,
    },
    /// The BEGIN line is not followed by a matching END line.
    #[error("no `-----END {label}-----` line after the BEGIN line")]
    MissingEnd {
        /// The label looked for.
        label: String,
    },
    /// More than one block with this label.
    #[error("more than one `{label}` block; give one per file")]
    MultipleBlocks {
        /// The label looked for.
        label: String,
    },
    /// Nothing between BEGIN and END.
    #[error("the `{label}` block is empty")]
    Empty {
        /// The label looked for.
        label: String,
    },
    /// The body is not valid base64.
    #[error("the `{label}` block is not valid base64 (line {line}): {reason}")]
    Base64 {
        /// The label looked for.
        label: String,
        /// 1-based line number in the text, of the first body line.
        line: usize,
        /// What the decoder reported.
        reason: String,
    },
}

fn begin_line(label: &str) -> String {
    format!("-----BEGIN {label}-----")
}

fn end_line(label: &str) -> String {
    format!("-----END {label}-----")
}

/// Armors `bytes` under `label` (such as `BELFRY INVITATION`). The result
/// ends with a newline.
pub fn armor(label: &str, bytes: &[u8]) -> String {
    let body = B64.encode(bytes);
    let mut out = String::with_capacity(body.len() + body.len() / LINE_WIDTH + 2 * label.len() + 40);
    out.push_str(&begin_line(label));
    out.push('\n');
    // base64 output is ASCII, so splitting bytes never cuts a character.
    for chunk in body.as_bytes().chunks(LINE_WIDTH) {
        out.extend(chunk.iter().map(|&b| char::from(b)));
        out.push('\n');
    }
    out.push_str(&end_line(label));
    out.push('\n');
    out
}

/// Whether `text` holds a block armored under `label`.
pub fn contains(label: &str, text: &str) -> bool {
    let begin = begin_line(label);
    text.lines().any(|l| l.trim() == begin)
}

/// Reads the one block armored under `label` in `text` and returns its bytes.
/// Accepts `\n` and `\r\n` line ends and blank lines or spaces around lines.
pub fn dearmor(label: &str, text: &str) -> Result<Vec<u8>, ArmorError> {
    let begin = begin_line(label);
    let end = end_line(label);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let starts: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| **l == begin).map(|(i, _)| i).collect();
    let start = match starts.as_slice() {
        [] => return Err(ArmorError::MissingBegin { label: label.to_owned() }),
        [one] => *one,
        _ => return Err(ArmorError::MultipleBlocks { label: label.to_owned() }),
    };
    let body_lines = lines.get(start + 1..).unwrap_or_default();
    let Some(len) = body_lines.iter().position(|l| *l == end) else {
        return Err(ArmorError::MissingEnd { label: label.to_owned() });
    };
    let body: String = body_lines.iter().take(len).copied().collect();
    if body.is_empty() {
        return Err(ArmorError::Empty { label: label.to_owned() });
    }
    B64.decode(body.as_bytes()).map_err(|e| ArmorError::Base64 {
        label: label.to_owned(),
        line: start + 2,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "BELFRY TEST";

    #[test]
    fn round_trips_and_wraps_at_64_columns() {
        let data: Vec<u8> = (0..=255).collect();
        let text = armor(LABEL, &data);
        assert!(text.starts_with("-----BEGIN BELFRY TEST-----\n"));
        assert!(text.ends_with("-----END BELFRY TEST-----\n"));
        assert!(text.lines().all(|l| l.len() <= LINE_WIDTH || l.starts_with("-----")));
        assert_eq!(text.lines().nth(1).map(str::len), Some(LINE_WIDTH));
        assert_eq!(dearmor(LABEL, &text).unwrap(), data);
        assert!(contains(LABEL, &text));
        assert!(!contains("BELFRY OTHER", &text));
    }

    #[test]
    fn tolerates_crlf_and_surrounding_text() {
        let text = armor(LABEL, b"hello").replace('\n', "\r\n");
        let wrapped = format!("Dear IT,\r\nhere it is:\r\n\r\n{text}\r\nregards\r\n");
        assert_eq!(dearmor(LABEL, &wrapped).unwrap(), b"hello");
    }

    #[test]
    fn refuses_wrong_label_missing_end_and_two_blocks() {
        let text = armor(LABEL, b"hello");
        assert!(matches!(dearmor("BELFRY OTHER", &text), Err(ArmorError::MissingBegin { .. })));
        let cut = text.replace("-----END BELFRY TEST-----", "");
        assert!(matches!(dearmor(LABEL, &cut), Err(ArmorError::MissingEnd { .. })));
        let twice = format!("{text}{text}");
        assert!(matches!(dearmor(LABEL, &twice), Err(ArmorError::MultipleBlocks { .. })));
        let empty = "-----BEGIN BELFRY TEST-----\n-----END BELFRY TEST-----\n";
        assert!(matches!(dearmor(LABEL, empty), Err(ArmorError::Empty { .. })));
    }

    #[test]
    fn refuses_bad_base64() {
        let text = "-----BEGIN BELFRY TEST-----\naGVsbG8*\n-----END BELFRY TEST-----\n";
        assert!(matches!(dearmor(LABEL, text), Err(ArmorError::Base64 { line: 2, .. })));
    }
}
