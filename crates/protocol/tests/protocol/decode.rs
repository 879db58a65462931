//! Decoding arbitrary bytes returns a typed error and never panics: random
//! bytes, and valid encodings with bytes flipped, cut, extended or with a
//! foreign header, fed to every decoder.

use crate::samples;
use belfry_protocol::cert::*;
use belfry_protocol::frames::*;
use belfry_protocol::room::*;
use belfry_protocol::to_device::*;
use belfry_protocol::*;
use proptest::prelude::*;

/// Runs every decoder on `bytes`. A panic fails the test; any result is fine.
fn decode_all(bytes: &[u8]) {
    let _ = EnrollmentCert::decode(bytes);
    let _ = Invitation::decode(bytes);
    let _ = DeviceCert::decode(bytes);
    let _ = DeviceChain::decode(bytes);
    let _ = Prekey::decode(bytes);
    let _ = Revocation::decode(bytes);
    let _ = WipeOrder::decode(bytes);
    let _ = Statement::decode(bytes);
    let _ = EnrollmentConfirmation::decode(bytes);
    let _ = RoomStateEvent::decode(bytes);
    let _ = RoomMessage::decode(bytes);
    let _ = RoomPayload::decode(bytes);
    let _ = ToDeviceEnvelope::decode(bytes);
    let _ = ToDevicePayload::decode(bytes);
    let _ = RoomKeyClaim::decode(bytes);
    let _ = AuthProof::decode(bytes);
    let _ = ClientFrame::decode(bytes);
    let _ = ServerFrame::decode(bytes);
    // Nested signed bodies are decoded after verification; exercise them too.
    if let Ok(chain) = DeviceChain::decode(bytes) {
        let _ = chain.device.peek_unverified();
        let _ = chain.enrollment.peek_unverified();
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, xor: u8 },
    Truncate(usize),
    Insert { at: usize, byte: u8 },
    Remove(usize),
    Append(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, xor)| Mutation::Flip { at, xor }),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(Mutation::Remove),
        proptest::collection::vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len().max(1);
    match m {
        Mutation::Flip { at, xor } => {
            if let Some(b) = bytes.get_mut(at % len) {
                *b ^= xor;
            }
        }
        Mutation::Truncate(at) => bytes.truncate(at % len),
        Mutation::Insert { at, byte } => bytes.insert(at % (bytes.len() + 1), *byte),
        Mutation::Remove(at) => {
            if !bytes.is_empty() {
                bytes.remove(at % bytes.len());
            }
        }
        Mutation::Append(extra) => bytes.extend_from_slice(extra),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
        // With a valid header for each type, so the body parser is reached.
        for tag in [0x10u8, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x40, 0x41, 0x42] {
            let mut framed = vec![FORMAT_VERSION, tag];
            framed.extend_from_slice(&bytes);
            decode_all(&framed);
        }
    }

    #[test]
    fn mutated_encodings_never_panic(
        which in 0usize..64,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut samples: Vec<Vec<u8>> = samples::all_encoded().into_iter().map(|(_, b)| b).collect();
        samples.extend(samples::to_device_encoded().into_iter().map(|(_, b)| b));
        let original = &samples[which % samples.len()];
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        decode_all(&bytes);
    }
}

#[test]
fn errors_say_what_is_wrong() {
    let good = samples::room_message().encode();

    assert!(matches!(RoomMessage::decode(&[]), Err(DecodeError::Truncated { len: 0, .. })));

    let mut v2 = good.clone();
    v2[0] = 2;
    assert_eq!(RoomMessage::decode(&v2), Err(DecodeError::UnsupportedVersion { ty: "RoomMessage", found: 2 }));

    assert!(matches!(RoomPayload::decode(&good), Err(DecodeError::WrongType { .. })));

    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(RoomMessage::decode(&trailing), Err(DecodeError::TrailingBytes { ty: "RoomMessage", count: 1 }));

    let huge = vec![0u8; RoomMessage::MAX_LEN + 1];
    assert!(matches!(RoomMessage::decode(&huge), Err(DecodeError::TooLarge { .. })));

    assert!(matches!(RoomMessage::decode(&good[..good.len() - 1]), Err(DecodeError::Malformed { .. })));
}

#[test]
fn invalid_ids_inside_valid_framing_are_refused() {
    // A user id with an upper-case letter, encoded by hand: the decoder
    // must refuse it rather than let it reach routing or display.
    let mut p = samples::prekey();
    p.user = UserId::new("alice").unwrap();
    let bytes = p.encode();
    let pos = bytes.windows(5).position(|w| w == b"alice").unwrap();
    let mut bad = bytes.clone();
    bad[pos] = b'A';
    let err = Prekey::decode(&bad).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::InvalidId { ty: "Prekey", error: IdError::Character { kind: "user id", found: 'A', .. } }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("user id"), "{err}");
}

#[test]
fn over_long_integers_are_not_canonical() {
    // A prekey's `fallback: false` is the last byte (0x00). postcard would
    // also read an over-long varint in other positions; take the request id
    // of a client frame (42 = 0x2a) and write it as 0xaa 0x00.
    let good = samples::client_frame().encode();
    assert_eq!(good[2], 42);
    let mut long = good[..2].to_vec();
    long.extend_from_slice(&[0xaa, 0x00]);
    long.extend_from_slice(&good[3..]);
    assert_eq!(ClientFrame::decode(&long), Err(DecodeError::NotCanonical { ty: "ClientFrame" }));
}
