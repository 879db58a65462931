//! `belfry://` links, validated before anything else sees them:
//!
//! - `belfry://invite/<invitation bytes, URL-safe base64 without padding>`
//!   (what an invitation file holds, for a link IT sends);
//! - `belfry://room/<room id>` (opens a room).
//!
//! Anything else (another scheme, host, a query, a fragment, an over-long
//! link, bad characters) is refused: `None`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use belfry_protocol::RoomId;

/// Longest link accepted (an invitation is a few KiB).
pub const MAX_LINK: usize = 16 * 1024;

/// A validated link.
#[derive(PartialEq, Eq)]
pub enum Link {
    /// Invitation bytes (to decode as an `Invitation`).
    Invite(Vec<u8>),
    /// A room to open.
    Room(RoomId),
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invite(b) => write!(f, "Invite(<{} bytes>)", b.len()),
            Self::Room(r) => write!(f, "Room({r})"),
        }
    }
}

/// The link in `s`, if it is one this app opens.
pub fn parse(s: &str) -> Option<Link> {
    if s.len() > MAX_LINK || !s.is_ascii() {
        return None;
    }
    let rest = s.strip_prefix("belfry://")?;
    let (kind, payload) = rest.split_once('/')?;
    if payload.is_empty() || !payload.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return None;
    }
    match kind {
        "invite" => URL_SAFE_NO_PAD.decode(payload).ok().filter(|b| !b.is_empty()).map(Link::Invite),
        "room" => RoomId::from_hex(payload).ok().filter(|r| r.to_string() == payload).map(Link::Room),
        _ => None,
    }
}

/// The link for an invitation's bytes.
pub fn invite_link(bytes: &[u8]) -> String {
    format!("belfry://invite/{}", URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_links_pass() {
        let room = "00112233445566778899aabbccddeeff";
        assert!(matches!(parse(&format!("belfry://room/{room}")), Some(Link::Room(_))));
        assert!(matches!(parse(&invite_link(b"abc")), Some(Link::Invite(b)) if b == b"abc"));
        for bad in [
            "https://example.org/",
            "belfry://room/0011",
            "belfry://room/00112233445566778899AABBCCDDEEFF",
            "belfry://room/00112233445566778899aabbccddeeff?x=1",
            "belfry://other/abc",
            "belfry://invite/",
            "belfry://invite/a+b",
            "belfry://invite/abc#frag",
            "javascript:alert(1)",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse(&format!("belfry://invite/{}", "A".repeat(MAX_LINK))), None);
    }
}
