//! `Debug` prints ids and public keys, never secrets: pinned by snapshots.

use crate::support::*;
use belfry_crypto::attachment;
use belfry_crypto::*;
use belfry_protocol::SecretKey32;

/// Replaces the random parts of a debug string with stable names.
fn stable(mut s: String, replacements: &[(String, &str)]) -> String {
    for (from, to) in replacements {
        s = s.replace(from.as_str(), to);
    }
    s
}

#[test]
fn debug_output_shows_ids_only() {
    let (org, mut alice, mut bob) = pair();
    let r = room(1);
    alice.start_room(r, RotationPolicy::default());
    alice.share_room(r, &mut bob);

    let sid = *alice.outbound[&r].session_id();
    let reps = vec![
        (org.public().to_base64(), "<org>"),
        (alice.me().device.to_string(), "<alice-device>"),
        (bob.me().device.to_string(), "<bob-device>"),
        (alice.me().ed25519.to_base64(), "<alice-ed25519>"),
        (alice.me().curve25519.to_base64(), "<alice-curve25519>"),
        (sid.to_base64(), "<session>"),
        (alice.channels[0].session_id(), "<olm-session>"),
    ];
    let (_, enc) = {
        let mut ct = Vec::new();
        let info = attachment::encrypt(&b"secret file"[..], &mut ct).unwrap();
        (ct, info)
    };
    let out = [
        format!("{org:?}"),
        format!("{:?}", alice.device),
        format!("{:?}", alice.channels[0]),
        format!("{:?}", alice.outbound[&r]),
        format!("{:?}", bob.inbound[&sid]),
        format!("{:?}", PickleKey::new([0x42; 32])),
        format!("{:?}", SecretKey32::new([0x42; 32])),
        stable(
            format!("{enc:?}"),
            &[(enc.sha256.to_string(), "<sha256>"), (format!("{}", enc.ciphertext_len), "<len>")],
        ),
    ]
    .map(|s| stable(s, &reps))
    .join("\n");
    insta::assert_snapshot!(out);
    // 0x42 bytes in every form a leak could take: hex, decimal list, base64.
    for leak in ["4242", "66, 66", "QkJC"] {
        assert!(!out.contains(leak), "secret bytes printed ({leak}): {out}");
    }
}
