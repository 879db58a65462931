//! Named attacks on Olm and Megolm, each refused by one check that the test
//! fails without. The attacker is the relay (it can rewrite, move, replay
//! and reorder anything it carries) or a certified member running their own
//! code (a `Rogue`).

use crate::support::*;
use belfry_crypto::*;
use belfry_protocol::cert::Prekey;
use belfry_protocol::to_device::*;
use belfry_protocol::*;

// ---- Prekeys -------------------------------------------------------------

#[test]
fn rejects_unsigned_one_time_key() {
    let (_, a, mut b) = pair();
    let genuine = b.device.generate_prekeys(1).remove(0);
    // The relay strips the signature (all zeros).
    let unsigned = Signed::<Prekey>::from_parts(genuine.body().to_vec(), Signature([0; 64]));
    let err = a.device.open_channel(&a.peer(&b.me()), &unsigned).unwrap_err();
    assert!(matches!(err, CryptoError::UnsignedPrekey { .. }), "{err}");
}

#[test]
fn rejects_badly_signed_one_time_key() {
    let (org, a, b) = pair();
    // The relay substitutes a key of its own and signs it with its own key.
    let relay_device = Party::enroll(&org, "relay-operator");
    let forged = relay_device.device.sign(&Prekey {
        user: b.me().user,
        device: b.me().device,
        key: Curve25519Public(vodozemac::Curve25519PublicKey::from(&vodozemac::Curve25519SecretKey::new()).to_bytes()),
        fallback: false,
    });
    let err = a.device.open_channel(&a.peer(&b.me()), &forged).unwrap_err();
    assert!(matches!(err, CryptoError::UnsignedPrekey { .. }), "{err}");
}

#[test]
fn rejects_one_time_key_signed_for_another_device() {
    let (org, mut a, mut b) = pair();
    let mut c = Party::enroll(&org, "carol");
    introduce(&mut [&mut a, &mut b, &mut c]);
    // The relay answers a claim for bob's device with carol's (validly
    // signed) key, to make alice's room key land on carol's device.
    let carols = c.device.generate_prekeys(1).remove(0);
    let err = a.device.open_channel(&a.peer(&b.me()), &carols).unwrap_err();
    assert!(matches!(err, CryptoError::UnsignedPrekey { .. }), "{err}");
    // Even if carol's key were signed by bob's device, it names carol.
    let confused = b.device.sign(&carols.peek_unverified().unwrap());
    let err = a.device.open_channel(&a.peer(&b.me()), &confused).unwrap_err();
    assert!(matches!(err, CryptoError::PrekeyForOtherDevice { .. }), "{err}");
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// Points of small order on Curve25519 (and non-canonical encodings of
/// them): a DH with any of them yields a predictable shared secret.
fn low_order_points() -> Vec<[u8; 32]> {
    vec![
        hex32("0100000000000000000000000000000000000000000000000000000000000000"),
        hex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        hex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ]
}

#[test]
fn rejects_low_order_curve25519_key() {
    let (_, a, b) = pair();
    // A compromised peer device signs a low-order "one-time key".
    for point in low_order_points() {
        let key = b.device.sign(&Prekey {
            user: b.me().user,
            device: b.me().device,
            key: Curve25519Public(point),
            fallback: false,
        });
        let err = a.device.open_channel(&a.peer(&b.me()), &key).unwrap_err();
        assert!(matches!(err, CryptoError::NonContributoryKey), "{point:02x?}: {err}");
    }
}

#[test]
fn rejects_all_zero_curve25519_key() {
    let (_, a, b) = pair();
    let key = b.device.sign(&Prekey {
        user: b.me().user,
        device: b.me().device,
        key: Curve25519Public([0; 32]),
        fallback: false,
    });
    let err = a.device.open_channel(&a.peer(&b.me()), &key).unwrap_err();
    assert!(matches!(err, CryptoError::NonContributoryKey), "{err}");
}

// ---- Olm -----------------------------------------------------------------

#[test]
fn rejects_to_device_message_readdressed_to_another_device() {
    let (org, mut a, mut b) = pair();
    let mut c = Party::enroll(&org, "carol");
    introduce(&mut [&mut a, &mut b, &mut c]);
    let mut env = a.seal(&mut b, ToDeviceContent::Dummy);
    env.recipient = c.me().user;
    env.recipient_device = c.me().device;
    assert!(matches!(b.open(&env), Err(CryptoError::NotForThisDevice)));
}

#[test]
fn rejects_to_device_message_with_swapped_sender() {
    let (org, mut a, mut b) = pair();
    let mut c = Party::enroll(&org, "carol");
    introduce(&mut [&mut a, &mut b, &mut c]);
    // The relay relabels alice's message as carol's.
    let mut env = a.seal(&mut b, ToDeviceContent::Dummy);
    env.sender = c.me().user;
    env.sender_device = c.me().device;
    let sender = b.peer(&c.me());
    let err = b.device.open_to_device(&env, &sender, &mut b.channels).unwrap_err();
    assert!(matches!(err, CryptoError::EnvelopeMismatch { field: "sender key" }), "{err}");
    // Relabelled including the key: the pre-key message names alice's key.
    env.sender_key = c.me().curve25519;
    let err = b.device.open_to_device(&env, &sender, &mut b.channels).unwrap_err();
    assert!(matches!(err, CryptoError::EnvelopeMismatch { field: "pre-key identity key" }), "{err}");
    // A caller that looked up the wrong identity for the envelope is caught.
    let env = a.seal(&mut b, ToDeviceContent::Dummy);
    let err = b.device.open_to_device(&env, &sender, &mut b.channels).unwrap_err();
    assert!(matches!(err, CryptoError::EnvelopeMismatch { field: "sender" }), "{err}");
}

#[test]
fn rejects_spoofed_sender_inside_to_device_payload() {
    let (_, alice, mut bob, mut rogue) = alice_bob_and_rogue();
    // Mallory's own Olm session says "I am alice".
    let mut payload = rogue.payload_to(&bob, ToDeviceContent::Dummy);
    payload.sender = alice.me().user;
    payload.sender_device = alice.me().device;
    let env = rogue.olm_raw(&mut bob, &payload.encode());
    let before = bob.device.state_digest();
    assert!(matches!(bob.open(&env), Err(CryptoError::PayloadMismatch { field: "sender" })));
    assert_eq!(bob.device.state_digest(), before, "refused pre-key message consumed a one-time key");

    let mut payload = rogue.payload_to(&bob, ToDeviceContent::Dummy);
    payload.sender_ed25519 = alice.me().ed25519;
    let env = rogue.olm_raw(&mut bob, &payload.encode());
    assert!(matches!(bob.open(&env), Err(CryptoError::PayloadMismatch { field: "sender Ed25519 key" })));
}

#[test]
fn rejects_to_device_payload_bound_to_another_recipient() {
    let (_, alice, mut bob, mut rogue) = alice_bob_and_rogue();
    let mut payload = rogue.payload_to(&bob, ToDeviceContent::Dummy);
    payload.recipient = alice.me().user;
    payload.recipient_device = alice.me().device;
    let env = rogue.olm_raw(&mut bob, &payload.encode());
    assert!(matches!(bob.open(&env), Err(CryptoError::PayloadMismatch { field: "recipient" })));
    let mut payload = rogue.payload_to(&bob, ToDeviceContent::Dummy);
    payload.recipient_ed25519 = alice.me().ed25519;
    let env = rogue.olm_raw(&mut bob, &payload.encode());
    assert!(matches!(bob.open(&env), Err(CryptoError::PayloadMismatch { field: "recipient Ed25519 key" })));
}

#[test]
fn rejects_megolm_payload_presented_as_to_device() {
    // Olm/Megolm confusion, both directions.
    let (org, mut a, mut b, r) = room_pair();
    // (1) The relay wraps alice's Megolm ciphertext in a to-device envelope.
    let m = a.send(r, 1, "room text");
    let env = ToDeviceEnvelope {
        sender: a.me().user,
        sender_device: a.me().device,
        sender_key: a.me().curve25519,
        recipient: b.me().user,
        recipient_device: b.me().device,
        kind: OlmKind::Normal,
        ciphertext: m.ciphertext.clone(),
    };
    assert!(b.open(&env).is_err());

    // (2) A member encrypts a room payload under Olm, hoping it is taken for
    // a to-device payload; and a to-device payload (a room key) under
    // Megolm, hoping it is installed as a key. The type tag refuses both.
    let mut rogue = Rogue::enroll(&org, "mallory", "MALLORY");
    b.learn(&rogue.chain);
    let room_payload = rogue.room_payload(r, "x");
    let env = rogue.olm_raw(&mut b, &room_payload.encode());
    assert!(matches!(b.open(&env), Err(CryptoError::Decode(DecodeError::WrongType { .. }))));

    let mut session = rogue.megolm_to(&mut b, r);
    let key = ToDeviceContent::RoomKey(RoomKey {
        claim: rogue.claim(r, m.session),
        session_key: SecretBytes::new(vec![0; 229]),
    });
    let as_room = rogue.megolm_raw(&mut session, r, &rogue.payload_to(&b, key).encode());
    assert!(matches!(b.receive(&as_room), Err(CryptoError::Decode(DecodeError::WrongType { .. }))));

    // A payload with the right body but another type's tag is refused too.
    let mut retagged = room_payload.encode();
    retagged[1] = ToDevicePayload::TAG;
    let m = rogue.megolm_raw(&mut session, r, &retagged);
    assert!(matches!(b.receive(&m), Err(CryptoError::Decode(DecodeError::WrongType { .. }))));
}

// ---- Room keys -------------------------------------------------------------

#[test]
fn rejects_room_key_forwarded_by_another_users_device() {
    let org = OrgKey::generate();
    let mut alice = Party::enroll(&org, "alice");
    let mut bob = Party::enroll(&org, "bob");
    let mut carol = Party::enroll(&org, "carol");
    introduce(&mut [&mut alice, &mut bob, &mut carol]);
    let r = room(1);
    alice.start_room(r, RotationPolicy::default());
    alice.share_room(r, &mut carol);
    let m = alice.send(r, 1, "x");
    // Carol (another user) forwards alice's session to bob.
    let fwd = carol.inbound[&m.session].forward();
    let env = carol.seal(&mut bob, fwd);
    let err = bob.accept_room_key(&env).unwrap_err();
    assert!(matches!(err, CryptoError::ForwardRefused { .. }), "{err}");
    assert!(bob.receive(&m).is_err());
}

#[test]
fn rejects_room_key_for_another_session_id() {
    let org = OrgKey::generate();
    let mut bob = Party::enroll(&org, "bob");
    let mut rogue = Rogue::enroll(&org, "mallory", "MALLORY");
    bob.learn(&rogue.chain);
    // Mallory sends a genuine session key but claims it is alice's session id.
    let real = vodozemac::megolm::GroupSession::new(vodozemac::megolm::SessionConfig::version_1());
    let victim = vodozemac::megolm::GroupSession::new(vodozemac::megolm::SessionConfig::version_1());
    let key = ToDeviceContent::RoomKey(RoomKey {
        claim: rogue.claim(room(1), Ed25519Public::from_base64(&victim.session_id()).unwrap()),
        session_key: SecretBytes::new(real.session_key().to_bytes()),
    });
    let bytes = rogue.payload_to(&bob, key).encode();
    let env = rogue.olm_raw(&mut bob, &bytes);
    assert!(matches!(bob.accept_room_key(&env), Err(CryptoError::RoomKeyRefused(_))));
}

#[test]
fn rejects_forwarded_room_key_for_another_session_id() {
    // One of bob's own devices is compromised and forwards a key under the
    // session id of a session it does not have.
    let org = OrgKey::generate();
    let mut bob = Party::enroll(&org, "bob");
    let mut rogue = Rogue::enroll(&org, "bob", "BOBOLDLAPTOP");
    bob.learn(&rogue.chain);
    let real = vodozemac::megolm::GroupSession::new(vodozemac::megolm::SessionConfig::version_1());
    let real_inbound =
        vodozemac::megolm::InboundGroupSession::new(&real.session_key(), vodozemac::megolm::SessionConfig::version_1());
    let victim = vodozemac::megolm::GroupSession::new(vodozemac::megolm::SessionConfig::version_1());
    let fwd = ToDeviceContent::ForwardedRoomKey(ForwardedRoomKey {
        claim: rogue.claim(room(1), Ed25519Public::from_base64(&victim.session_id()).unwrap()),
        exported_key: SecretBytes::new(real_inbound.export_at_first_known_index().to_bytes()),
    });
    let bytes = rogue.payload_to(&bob, fwd).encode();
    let env = rogue.olm_raw(&mut bob, &bytes);
    assert!(matches!(bob.accept_room_key(&env), Err(CryptoError::RoomKeyRefused(_))));
}

#[test]
fn rejects_forwarded_room_key_relabelled_as_another_sender() {
    // A compromised device of bob's own creates a session and forwards it
    // to bob's other device as if alice had created it, to put words in
    // alice's mouth. The claim must be signed by alice's device.
    let org = OrgKey::generate();
    let mut alice = Party::enroll(&org, "alice");
    let mut bob = Party::enroll(&org, "bob");
    let mut rogue = Rogue::enroll(&org, "bob", "BOBOLDLAPTOP");
    bob.learn(&rogue.chain);
    introduce(&mut [&mut alice, &mut bob]);
    let fake = vodozemac::megolm::GroupSession::new(vodozemac::megolm::SessionConfig::version_1());
    let fake_inbound =
        vodozemac::megolm::InboundGroupSession::new(&fake.session_key(), vodozemac::megolm::SessionConfig::version_1());
    let mut claim =
        rogue.claim(room(1), Ed25519Public::from_base64(&fake.session_id()).unwrap()).peek_unverified().unwrap();
    claim.sender = alice.me().user;
    claim.sender_device = alice.me().device;
    let claim = Signed::sign(&claim, |m| Signature(rogue.account.sign(m).to_bytes()));
    let fwd = ToDeviceContent::ForwardedRoomKey(ForwardedRoomKey {
        claim,
        exported_key: SecretBytes::new(fake_inbound.export_at_first_known_index().to_bytes()),
    });
    let bytes = rogue.payload_to(&bob, fwd).encode();
    let env = rogue.olm_raw(&mut bob, &bytes);
    let err = bob.accept_room_key(&env).unwrap_err();
    assert!(matches!(err, CryptoError::RoomKeyRefused("claim not signed by the original sender")), "{err}");
}

#[test]
fn rejects_room_key_whose_claim_names_another_sender() {
    // Mallory sends a room key over her own Olm session, with a claim that
    // names alice's device (signed by mallory): refused.
    let (_, alice, mut bob, mut rogue) = alice_bob_and_rogue();
    let session = vodozemac::megolm::GroupSession::new(vodozemac::megolm::SessionConfig::version_1());
    let mut claim =
        rogue.claim(room(1), Ed25519Public::from_base64(&session.session_id()).unwrap()).peek_unverified().unwrap();
    claim.sender = alice.me().user;
    claim.sender_device = alice.me().device;
    let claim = Signed::sign(&claim, |m| Signature(rogue.account.sign(m).to_bytes()));
    let key =
        ToDeviceContent::RoomKey(RoomKey { claim, session_key: SecretBytes::new(session.session_key().to_bytes()) });
    let bytes = rogue.payload_to(&bob, key).encode();
    let env = rogue.olm_raw(&mut bob, &bytes);
    let err = bob.accept_room_key(&env).unwrap_err();
    assert!(matches!(err, CryptoError::RoomKeyRefused("claim names another sender")), "{err}");
    // And a claim signed by someone else than the Olm sender.
    let stolen_claim = alice.device.sign(&RoomKeyClaim {
        room: room(1),
        session: Ed25519Public::from_base64(&session.session_id()).unwrap(),
        sender: alice.me().user,
        sender_device: alice.me().device,
    });
    let key = ToDeviceContent::RoomKey(RoomKey {
        claim: stolen_claim,
        session_key: SecretBytes::new(session.session_key().to_bytes()),
    });
    let bytes = rogue.payload_to(&bob, key).encode();
    let env = rogue.olm_raw(&mut bob, &bytes);
    let err = bob.accept_room_key(&env).unwrap_err();
    assert!(matches!(err, CryptoError::RoomKeyRefused("claim not signed by the sender")), "{err}");
}

#[test]
fn rejects_replayed_olm_prekey_message_on_a_fallback_key() {
    // The relay hands out bob's fallback key (one-time keys exhausted), then
    // replays alice's pre-key message: vodozemac keeps fallback keys, so
    // only the session-id check stops a second, duplicate session.
    let (_, a, mut b) = pair();
    let fallback = b.device.generate_fallback_prekey().unwrap();
    b.device.mark_prekeys_published();
    let peer = a.peer(&b.me());
    let mut ch = a.device.open_channel(&peer, &fallback).unwrap();
    let key = a
        .device
        .seal_to_device(
            &mut ch,
            &peer,
            ToDeviceContent::RoomKeyRequest { room: room(1), session: Ed25519Public([1; 32]) },
        )
        .unwrap();
    assert!(b.open(&key).is_ok());
    let err = b.open(&key).unwrap_err();
    assert!(matches!(err, CryptoError::OlmReplay { .. }), "{err}");
    assert_eq!(b.channels.len(), 1, "a replay must not add a session");
}

#[test]
fn rejects_replayed_olm_message() {
    let (_, mut a, mut b) = pair();
    let first = a.seal(&mut b, ToDeviceContent::Dummy);
    b.open(&first).unwrap();
    let reply = b.seal(&mut a, ToDeviceContent::Dummy);
    a.open(&reply).unwrap();
    let normal = a.seal(&mut b, ToDeviceContent::Dummy);
    assert_eq!(normal.kind, OlmKind::Normal);
    b.open(&normal).unwrap();
    assert!(b.open(&normal).is_err(), "a replayed Olm message decrypted twice");
}

#[test]
fn room_keys_only_come_from_olm() {
    // The type system is the check: an inbound session is made from a
    // ReceivedToDevice, which only Olm decryption produces. A plain
    // to-device payload that did not decrypt cannot be turned into one; this
    // test documents the API by using the only path there is.
    let (_, mut a, mut b, r) = room_pair();
    let key = a.outbound[&r].room_key();
    let env = a.seal(&mut b, key);
    let received = b.open(&env).unwrap();
    let s = InboundRoomSession::from_room_key(&received).unwrap();
    assert_eq!(s.origin(), &KeyOrigin::Direct);
    // A forwarded-key constructor refuses a plain room key and vice versa.
    assert!(matches!(
        InboundRoomSession::from_forwarded_key(&received, &b.me().user, &a.peer(&a.me())),
        Err(CryptoError::RoomKeyRefused(_))
    ));
}

// ---- Megolm ----------------------------------------------------------------

#[test]
fn rejects_message_moved_to_another_room() {
    let (_, mut a, mut b, r) = room_pair();
    let other = room(2);
    let mut m = a.send(r, 1, "for room 1 only");
    m.room = other;
    assert!(matches!(b.receive(&m), Err(CryptoError::WrongRoom { .. })));
}

#[test]
fn rejects_payload_naming_another_room_than_its_session() {
    let org = OrgKey::generate();
    let mut bob = Party::enroll(&org, "bob");
    let mut rogue = Rogue::enroll(&org, "mallory", "MALLORY");
    bob.learn(&rogue.chain);
    let (r1, r2) = (room(1), room(2));
    let mut session = rogue.megolm_to(&mut bob, r1);
    // Session and envelope say room 1; the payload says room 2.
    let payload = rogue.room_payload(r2, "x");
    let m = rogue.megolm_raw(&mut session, r1, &payload.encode());
    assert!(matches!(bob.receive(&m), Err(CryptoError::PayloadMismatch { field: "room" })));
}

#[test]
fn rejects_spoofed_sender_inside_payload() {
    let (_, alice, mut bob, mut rogue) = alice_bob_and_rogue();
    let r = room(1);
    let mut session = rogue.megolm_to(&mut bob, r);
    // Mallory's own session, but the payload claims alice wrote it.
    let mut payload = rogue.room_payload(r, "Transfer the funds. -- Alice");
    payload.sender = alice.me().user;
    payload.sender_device = alice.me().device;
    let m = rogue.megolm_raw(&mut session, r, &payload.encode());
    assert!(matches!(bob.receive(&m), Err(CryptoError::PayloadMismatch { field: "sender" })));
}

#[test]
fn rejects_envelope_with_swapped_sender() {
    let org = OrgKey::generate();
    let mut a = Party::enroll(&org, "alice");
    let mut b = Party::enroll(&org, "bob");
    let mut c = Party::enroll(&org, "carol");
    introduce(&mut [&mut a, &mut b, &mut c]);
    let r = room(1);
    a.start_room(r, RotationPolicy::default());
    a.share_room(r, &mut b);
    // The relay relabels alice's message as carol's.
    let mut m = a.send(r, 1, "x");
    m.sender = c.me().user;
    m.sender_device = c.me().device;
    assert!(matches!(b.receive(&m), Err(CryptoError::EnvelopeMismatch { field: "sender" })));
}

#[test]
fn rejects_envelope_naming_another_session() {
    let (_, mut a, mut b, r) = room_pair();
    let m = a.send(r, 1, "x");
    let mut wrong = m.clone();
    wrong.session = Ed25519Public([7; 32]);
    let session = b.inbound.get_mut(&m.session).unwrap();
    assert!(matches!(session.decrypt(&wrong, &mut b.seen), Err(CryptoError::EnvelopeMismatch { field: "session" })));
}

#[test]
fn rejects_replayed_megolm_index() {
    let (_, mut a, mut b, r) = room_pair();
    let m = a.send(r, 1, "pay 100");
    assert_eq!(b.text_of(&m), "pay 100");
    let err = b.receive(&m).unwrap_err();
    assert!(matches!(err, CryptoError::Replay { index: 0, .. }), "{err}");
    // Replay survives a restart because the caller stores the seen set.
    let stored = serde_json::to_vec(&b.seen).unwrap();
    b.seen = serde_json::from_slice(&stored).unwrap();
    assert!(matches!(b.receive(&m), Err(CryptoError::Replay { .. })));
}

#[test]
fn rejects_tampered_megolm_ciphertext() {
    let (_, mut a, mut b, r) = room_pair();
    let mut m = a.send(r, 1, "x");
    let mid = m.ciphertext.len() / 2;
    m.ciphertext[mid] ^= 1;
    assert!(matches!(b.receive(&m), Err(CryptoError::MegolmDecrypt(_))));
}

// ---- Failed decryption leaves state unchanged -------------------------------

#[test]
fn failed_decryption_does_not_update_session_state() {
    let (_, mut alice, mut bob, mut rogue) = alice_bob_and_rogue();
    let r = room(1);
    let mut session = rogue.megolm_to(&mut bob, r);
    let sid = Ed25519Public::from_base64(&session.session_id()).unwrap();

    // Advance the sender's ratchet far, then send a validly signed message
    // whose payload is forged. The refusal must leave no trace: not in the
    // session's persistent state, not in the replay guard (so the genuine
    // message at that index, if any, could still be read).
    for _ in 0..50 {
        session.encrypt(b"skipped");
    }
    let mut payload = rogue.room_payload(r, "x");
    payload.sender = alice.me().user;
    payload.sender_device = alice.me().device;
    let forged = rogue.megolm_raw(&mut session, r, &payload.encode());
    let before = bob.inbound[&sid].state_digest();
    assert!(bob.receive(&forged).is_err());
    assert_eq!(bob.inbound[&sid].state_digest(), before, "Megolm session changed by a refused message");
    assert!(!belfry_crypto::ReplayGuard::seen(&bob.seen, &sid, 50), "refused message entered the seen set");

    // Tampered ciphertext: unchanged as well.
    payload.sender = rogue.identity.user.clone();
    payload.sender_device = rogue.identity.device.clone();
    let mut tampered = rogue.megolm_raw(&mut session, r, &payload.encode());
    let last = tampered.ciphertext.len() - 1;
    tampered.ciphertext[last] ^= 0x40;
    assert!(bob.receive(&tampered).is_err());
    assert_eq!(bob.inbound[&sid].state_digest(), before);

    // Olm: a tampered message leaves the channel as it was.
    let env = alice.seal(&mut bob, ToDeviceContent::Dummy);
    bob.open(&env).unwrap();
    let mut env = alice.seal(&mut bob, ToDeviceContent::Dummy);
    let ch_before: Vec<_> = bob.channels.iter().map(|c| c.state_digest()).collect();
    let account_before = bob.device.state_digest();
    let mid = env.ciphertext.len() / 2;
    env.ciphertext[mid] ^= 1;
    assert!(bob.open(&env).is_err());
    let ch_after: Vec<_> = bob.channels.iter().map(|c| c.state_digest()).collect();
    assert_eq!(ch_before, ch_after, "Olm session changed by a refused message");
    assert_eq!(bob.device.state_digest(), account_before);
}

#[test]
fn failed_olm_binding_check_does_not_advance_the_session() {
    // A genuine session with a rogue peer: the second message decrypts
    // under Olm but its payload is mis-bound. The session must not move, so
    // the sender's next honest message still decrypts in order.
    let org = OrgKey::generate();
    let mut bob = Party::enroll(&org, "bob");
    let rogue = Rogue::enroll(&org, "mallory", "MALLORY");
    bob.learn(&rogue.chain);
    let mut session = rogue.olm_session(&mut bob);
    let bob_id = bob.me();
    let wrap = |session: &mut vodozemac::olm::Session, bytes: &[u8]| rogue.envelope(session, &bob_id, bytes);
    let good = rogue.payload_to(&bob, ToDeviceContent::Dummy).encode();
    let env = wrap(&mut session, &good);
    bob.open(&env).unwrap();
    let before = bob.channels[0].state_digest();
    let mut bad = rogue.payload_to(&bob, ToDeviceContent::Dummy);
    bad.recipient_device = DeviceId::new("SOMEONEELSE").unwrap();
    let env = wrap(&mut session, &bad.encode());
    assert!(bob.open(&env).is_err());
    assert_eq!(bob.channels[0].state_digest(), before);
}
