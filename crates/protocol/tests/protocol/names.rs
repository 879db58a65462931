//! Names people read (user, device and room names, labels, reasons) carry
//! no bidi overrides, isolates, zero-width or other invisible characters:
//! refused when built and when decoded, whoever encoded them.

use crate::samples;
use belfry_protocol::text::is_invisible;
use belfry_protocol::*;
use proptest::prelude::*;

/// Replaces the only occurrence of `marker` in `bytes` with `with`, which
/// has the same length, so every length prefix stays right: the value is
/// what a hostile encoder (a modified client or relay) would send.
fn splice(bytes: &[u8], marker: &[u8], with: &[u8]) -> Vec<u8> {
    assert_eq!(marker.len(), with.len());
    let at = bytes.windows(marker.len()).position(|w| w == marker).expect("marker in the encoding");
    let mut out = bytes.to_vec();
    out[at..at + with.len()].copy_from_slice(with);
    out
}

const RLO: &[u8] = "\u{202E}".as_bytes();

#[test]
fn a_device_cert_with_a_right_to_left_override_in_its_name_is_refused_on_decode() {
    // "Alice ~~~potpal" → "Alice \u{202E}potpal", shown as "Alice laptop".
    let mut cert = samples::device_cert();
    cert.device_name = samples::name("Alice ~~~potpal");
    let bad = splice(&cert.encode(), b"~~~", RLO);
    assert_eq!(RLO.len(), 3);
    match DeviceCert::decode(&bad) {
        Err(DecodeError::InvalidId { ty: "DeviceCert", error: IdError::Character { kind, found, .. } }) => {
            assert_eq!((kind, found), ("display name", '\u{202E}'));
        }
        other => panic!("a bidi override passed: {other:?}"),
    }
    // Inside a signed chain, the certificate's body is refused when read,
    // even with a good signature over it.
    let device = samples::sign(&samples::key(2), &cert);
    let mut chain = samples::chain();
    chain.device = device;
    let bad_chain = splice(&chain.encode(), b"~~~", RLO);
    let chain = DeviceChain::decode(&bad_chain).expect("the outer framing is fine");
    assert!(matches!(chain.device.peek_unverified(), Err(DecodeError::InvalidId { .. })));
}

#[test]
fn a_room_name_with_an_isolate_is_refused_on_decode() {
    let mut event = samples::state_event();
    event.content = StateContent::Name(samples::name("Budget~~~"));
    let bad = splice(&event.encode(), b"~~~", "\u{2067}".as_bytes());
    assert!(
        matches!(
            RoomStateEvent::decode(&bad),
            Err(DecodeError::InvalidId { error: IdError::Character { found: '\u{2067}', .. }, .. })
        ),
        "{:?}",
        RoomStateEvent::decode(&bad)
    );
}

#[test]
fn an_invitation_with_a_zero_width_display_name_is_refused_on_decode() {
    let mut cert = samples::enrollment_cert();
    cert.display_name = samples::name("Ali~~~ce");
    let bad = splice(&cert.encode(), b"~~~", "\u{200B}".as_bytes());
    assert!(matches!(EnrollmentCert::decode(&bad), Err(DecodeError::InvalidId { .. })));
}

#[test]
fn names_are_refused_when_built() {
    for bad in
        ["Alice\u{202E}potpal", "\u{2066}Bob", "Ca\u{200B}rol", "Dave\u{FEFF}", "Eve\u{E0041}", "line\u{2028}two"]
    {
        assert!(
            matches!(DisplayName::new(bad), Err(IdError::Character { kind: "display name", .. })),
            "{bad:?} passed"
        );
    }
    for good in ["Alice Martin", "Élodie Dubois", "Travel laptop", "محمد", "דוד", "王伟", "Ops 🚀"] {
        assert!(DisplayName::new(good).is_ok(), "{good:?} refused");
    }
}

/// A visible character: anything `is_invisible` lets through.
fn visible() -> impl Strategy<Value = char> {
    any::<char>().prop_filter("visible", |c| !is_invisible(*c))
}

/// A character from the invisible set: controls, soft hyphen, zero-width
/// and bidi marks, overrides, isolates, separators, BOM and tags.
fn invisible() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::char::range('\u{0}', '\u{1f}'),
        prop::char::range('\u{7f}', '\u{9f}'),
        prop::char::range('\u{200b}', '\u{200f}'),
        prop::char::range('\u{2028}', '\u{202e}'),
        prop::char::range('\u{2060}', '\u{2064}'),
        prop::char::range('\u{2066}', '\u{206f}'),
        prop::char::range('\u{e0020}', '\u{e007f}'),
        prop::sample::select(vec!['\u{ad}', '\u{61c}', '\u{feff}', '\u{e0001}', '\u{180e}', '\u{fff9}']),
    ]
}

proptest! {
    /// Any name with one invisible character anywhere is refused, by the
    /// constructor and by the decoder of a type that carries it.
    #[test]
    fn a_name_with_an_invisible_character_never_passes(
        before in prop::collection::vec(visible(), 0..14),
        bad in invisible(),
        after in prop::collection::vec(visible(), 0..14),
    ) {
        let text: String = before.iter().chain(std::iter::once(&bad)).chain(after.iter()).collect();
        let refused = matches!(DisplayName::new(text.clone()), Err(IdError::Character { found, .. }) if found == bad);
        prop_assert!(refused, "{:?} passed", text);
        // The same text as a wire value, written over a placeholder of the
        // same byte length behind a prefix found nowhere else.
        let marker = format!("NAME:{}", "~".repeat(text.len()));
        let mut cert = samples::device_cert();
        cert.device_name = DisplayName::new(marker.clone()).unwrap();
        let with = format!("NAME:{text}");
        let bad_bytes = splice(&cert.encode(), marker.as_bytes(), with.as_bytes());
        let refused = matches!(
            DeviceCert::decode(&bad_bytes),
            Err(DecodeError::InvalidId { error: IdError::Character { found, .. }, .. }) if found == bad
        );
        prop_assert!(refused, "{:?} decoded", text);
    }

    /// Every name of visible characters within the limit is accepted and
    /// survives the wire unchanged.
    #[test]
    fn a_visible_name_round_trips(chars in prop::collection::vec(visible(), 1..=DisplayName::MAX_LEN)) {
        let text: String = chars.into_iter().collect();
        let name = DisplayName::new(text.clone()).unwrap();
        let mut cert = samples::device_cert();
        cert.device_name = name;
        let decoded = DeviceCert::decode(&cert.encode()).unwrap();
        prop_assert_eq!(decoded.device_name.as_str(), text.as_str());
    }
}
