//! The encoding of every wire type, pinned. A change to any of them is a
//! visible diff in `snapshots/`, which is a wire-format change to review.

use crate::samples;
use belfry_protocol::cert::*;
use belfry_protocol::frames::*;
use belfry_protocol::room::*;
use belfry_protocol::to_device::*;
use belfry_protocol::*;

fn hex(bytes: &[u8]) -> String {
    bytes
        .chunks(32)
        .map(|line| line.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_wire_type_encoding_is_pinned() {
    for (name, bytes) in samples::all_encoded() {
        insta::assert_snapshot!(name, hex(&bytes));
    }
}

fn round_trip<T: Wire + PartialEq + std::fmt::Debug>(value: T) {
    let bytes = value.encode();
    assert_eq!(bytes[0], FORMAT_VERSION);
    assert_eq!(bytes[1], T::TAG);
    assert!(bytes.len() <= T::MAX_LEN, "{} sample exceeds its own limit", T::NAME);
    assert_eq!(T::decode(&bytes).unwrap(), value, "{}", T::NAME);
}

#[test]
fn every_wire_type_round_trips() {
    round_trip(samples::enrollment_cert());
    round_trip(samples::invitation());
    round_trip(samples::device_cert());
    round_trip(samples::chain());
    round_trip(samples::prekey());
    round_trip(samples::revocation());
    round_trip(samples::wipe());
    round_trip(samples::statement());
    round_trip(samples::confirmation());
    round_trip(samples::confirmation_statement());
    round_trip(samples::state_event());
    round_trip(samples::room_message());
    round_trip(samples::room_payload());
    round_trip(samples::to_device_envelope());
    round_trip(samples::to_device_payload());
    round_trip(samples::room_key_claim());
    round_trip(samples::auth_proof());
    round_trip(samples::client_frame());
    round_trip(samples::server_frame());
    round_trip(samples::server_error_frame());
}

#[test]
fn every_to_device_content_is_pinned_and_round_trips() {
    for (name, bytes) in samples::to_device_encoded() {
        insta::assert_snapshot!(name, hex(&bytes));
    }
    for (_, content) in samples::to_device_contents() {
        round_trip(samples::to_device_payload_with(content));
    }
}

#[test]
fn new_to_device_variants_are_appended_so_old_encodings_keep_their_index() {
    // The content is the last field of the payload: its variant index is
    // the first byte after the fields shared by every sample.
    let shared = samples::to_device_payload_with(ToDeviceContent::Dummy).encode();
    let prefix = shared.len() - 1;
    for (index, (name, content)) in samples::to_device_contents().into_iter().enumerate() {
        let bytes = samples::to_device_payload_with(content).encode();
        assert_eq!(bytes[..prefix], shared[..prefix], "{name}");
        assert_eq!(usize::from(bytes[prefix]), index, "{name} moved: existing encodings would change");
    }
    // The five variants that existed before verification and recovery.
    let before = ["room_key", "forwarded_room_key", "room_key_request", "statement", "dummy"];
    let names: Vec<&str> = samples::to_device_contents().iter().map(|(n, _)| *n).collect();
    assert_eq!(names[..5], before);
}

#[test]
fn type_tags_are_unique() {
    let mut tags = vec![
        EnrollmentCert::TAG,
        Invitation::TAG,
        DeviceCert::TAG,
        DeviceChain::TAG,
        Prekey::TAG,
        Revocation::TAG,
        WipeOrder::TAG,
        Statement::TAG,
        RoomStateEvent::TAG,
        RoomMessage::TAG,
        RoomPayload::TAG,
        ToDeviceEnvelope::TAG,
        ToDevicePayload::TAG,
        RoomKeyClaim::TAG,
        AuthProof::TAG,
        ClientFrame::TAG,
        ServerFrame::TAG,
    ];
    let n = tags.len();
    tags.sort_unstable();
    tags.dedup();
    assert_eq!(tags.len(), n, "two wire types share a tag");
}

#[test]
fn debug_output_never_shows_secrets() {
    let out = format!("{:?}", samples::invitation());
    insta::assert_snapshot!("invitation_debug", out);
    assert!(out.contains("<redacted>"));
    let payload = format!("{:?}", samples::to_device_payload());
    assert!(payload.contains("redacted"), "{payload}");
}

#[test]
fn a_directory_page_request_is_pinned_and_round_trips() {
    let frame = ClientFrame {
        id: 7,
        request: Request::ListDirectory { after: Some(samples::user("bob")), limit: limits::MAX_DIRECTORY_PAGE },
    };
    insta::assert_snapshot!("list_directory", hex(&frame.encode()));
    round_trip(frame);
    round_trip(ClientFrame { id: 8, request: Request::ListDirectory { after: None, limit: 0 } });
    // The page size is a limit both sides know, and a page fits in a frame.
    assert!(limits::MAX_DIRECTORY_PAGE as usize <= limits::MAX_CLAIMS_PER_REQUEST);
}
