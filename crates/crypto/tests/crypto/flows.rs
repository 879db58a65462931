//! Devices enrolled under a test org talk: Olm both ways, Megolm rooms with
//! two and three parties, rotation, pickling, forwarding.

use crate::support::*;
use belfry_crypto::*;
use belfry_protocol::to_device::ToDeviceContent;

#[test]
fn two_devices_exchange_olm_messages_both_ways() {
    let (_org, mut alice, mut bob) = pair();

    for round in 0..5 {
        let env = alice.seal(&mut bob, ToDeviceContent::Dummy);
        let got = bob.open(&env).unwrap();
        assert_eq!(got.sender().user, alice.me().user, "round {round}");
        let env = bob.seal(&mut alice, ToDeviceContent::Dummy);
        assert_eq!(alice.open(&env).unwrap().sender().device, bob.me().device);
    }
    // One channel each way, reused: bob's inbound session carried his replies.
    assert_eq!(alice.channels.len(), 1);
    assert_eq!(bob.channels.len(), 1);
}

#[test]
fn two_party_megolm_room_both_ways() {
    let (_org, mut alice, mut bob) = pair();
    let r = room(1);
    alice.start_room(r, RotationPolicy::default());
    bob.start_room(r, RotationPolicy::default());
    alice.share_room(r, &mut bob);
    bob.share_room(r, &mut alice);

    for i in 0..10u8 {
        let m = alice.send(r, i, &format!("from alice {i}"));
        assert_eq!(bob.text_of(&m), format!("from alice {i}"));
        let m = bob.send(r, 100 + i, &format!("from bob {i}"));
        assert_eq!(alice.text_of(&m), format!("from bob {i}"));
    }
}

#[test]
fn three_party_room_with_out_of_order_delivery() {
    let org = OrgKey::generate();
    let mut a = Party::enroll(&org, "alice");
    let mut b = Party::enroll(&org, "bob");
    let mut c = Party::enroll(&org, "carol");
    introduce(&mut [&mut a, &mut b, &mut c]);
    let r = room(2);
    for p in [&mut a, &mut b, &mut c] {
        p.start_room(r, RotationPolicy::default());
    }
    a.share_room(r, &mut b);
    a.share_room(r, &mut c);
    b.share_room(r, &mut a);
    b.share_room(r, &mut c);
    c.share_room(r, &mut a);
    c.share_room(r, &mut b);

    let m1 = a.send(r, 1, "one");
    let m2 = b.send(r, 2, "two");
    let m3 = c.send(r, 3, "three");
    let m4 = a.send(r, 4, "four");
    // Carol reads alice's later message first.
    assert_eq!(c.text_of(&m4), "four");
    assert_eq!(c.text_of(&m1), "one");
    assert_eq!(c.text_of(&m2), "two");
    assert_eq!(b.text_of(&m1), "one");
    assert_eq!(b.text_of(&m3), "three");
    assert_eq!(b.text_of(&m4), "four");
    assert_eq!(a.text_of(&m2), "two");
    assert_eq!(a.text_of(&m3), "three");
}

#[test]
fn rotation_policy_forces_a_new_session() {
    let org = OrgKey::generate();
    let mut a = Party::enroll(&org, "alice");
    let mut b = Party::enroll(&org, "bob");
    let mut c = Party::enroll(&org, "carol");
    introduce(&mut [&mut a, &mut b, &mut c]);
    let r = room(3);
    a.start_room(r, RotationPolicy { max_messages: 3, max_age_ms: DAY_MS });
    a.share_room(r, &mut b);
    a.share_room(r, &mut c);

    let everyone = recipients(&[&b.me(), &c.me()]);
    let session = &a.outbound[&r];
    assert_eq!(session.rotation_needed(NOW, &everyone), None);
    // Carol leaves: the session must rotate before the next message.
    let without_carol = recipients(&[&b.me()]);
    assert_eq!(session.rotation_needed(NOW, &without_carol), Some(RotationReason::RecipientLeft(addr(&c.me()))));
    // Too old.
    assert_eq!(session.rotation_needed(NOW.plus_ms(DAY_MS), &everyone), Some(RotationReason::Age));

    for i in 0..3 {
        a.send(r, i, "x");
    }
    assert_eq!(a.outbound[&r].rotation_needed(NOW, &everyone), Some(RotationReason::MessageLimit));
    let refused = a.outbound.get_mut(&r).unwrap().encrypt(
        &a.device,
        belfry_protocol::MessageId([9; 16]),
        belfry_protocol::Hash256([0; 32]),
        belfry_protocol::RoomContent::Text { body: "y".into() },
        NOW,
    );
    assert!(matches!(refused, Err(CryptoError::RotationRequired(RotationReason::MessageLimit))));
}

#[test]
fn a_new_member_cannot_read_messages_sent_before_they_got_the_key() {
    let (_org, mut a, mut b) = pair();
    let r = room(4);
    a.start_room(r, RotationPolicy::default());
    let early = a.send(r, 1, "before bob joined");
    a.share_room(r, &mut b);
    let late = a.send(r, 2, "after");
    assert!(matches!(b.receive(&early), Err(CryptoError::MegolmDecrypt(_))));
    assert_eq!(b.text_of(&late), "after");
}

#[test]
fn everything_survives_pickling() {
    let (_org, mut a, mut b) = pair();
    let r = room(5);
    a.start_room(r, RotationPolicy::default());
    a.share_room(r, &mut b);
    let m1 = a.send(r, 1, "one");
    assert_eq!(b.text_of(&m1), "one");

    let key = PickleKey::random();
    let device = b.device.pickle(&key).unwrap();
    let channels: Vec<_> = b.channels.iter().map(|c| c.pickle(&key).unwrap()).collect();
    let inbound: Vec<_> = b.inbound.values().map(|s| s.pickle(&key).unwrap()).collect();
    let outbound = a.outbound[&r].pickle(&key).unwrap();

    b.device = Device::unpickle(&device, &key).unwrap();
    b.channels = channels.iter().map(|c| OlmChannel::unpickle(c, &key).unwrap()).collect();
    b.inbound = inbound
        .iter()
        .map(|s| {
            let s = InboundRoomSession::unpickle(s, &key).unwrap();
            (*s.session_id(), s)
        })
        .collect();
    a.outbound.insert(r, OutboundRoomSession::unpickle(&outbound, &key).unwrap());

    let m2 = a.send(r, 2, "two");
    assert_eq!(b.text_of(&m2), "two");
    assert!(matches!(b.receive(&m1), Err(CryptoError::Replay { .. })));
    let env = b.seal(&mut a, ToDeviceContent::Dummy);
    assert!(a.open(&env).is_ok());

    // The wrong key, or one pickle restored as another kind, is refused.
    assert!(matches!(Device::unpickle(&device, &PickleKey::random()), Err(CryptoError::Unpickle { .. })));
    assert!(matches!(OlmChannel::unpickle(&device, &key), Err(CryptoError::Unpickle { .. })));
    assert!(matches!(Device::unpickle(&device[..10], &key), Err(CryptoError::Unpickle { .. })));
}

#[test]
fn own_devices_may_forward_room_keys_which_stay_marked_as_forwarded() {
    let org = OrgKey::generate();
    let mut alice = Party::enroll(&org, "alice");
    let mut bob_laptop = Party::enroll(&org, "bob");
    // Bob's second laptop, from a second invitation for the same user.
    let mut bob_desktop = Party::enroll(&org, "bob");
    introduce(&mut [&mut alice, &mut bob_laptop, &mut bob_desktop]);
    let r = room(6);
    alice.start_room(r, RotationPolicy::default());
    alice.share_room(r, &mut bob_laptop);
    let m = alice.send(r, 1, "hello bob");

    // The desktop missed the key; the laptop forwards it.
    let session = bob_laptop.inbound[&m.session].forward();
    let env = bob_laptop.seal(&mut bob_desktop, session);
    bob_desktop.accept_room_key(&env).unwrap();
    let got = bob_desktop.receive(&m).unwrap();
    assert_eq!(got.origin, KeyOrigin::Forwarded { by: bob_laptop.me().device });
    assert_eq!(got.payload.sender, alice.me().user);
}

#[test]
fn device_pickles_keep_one_time_keys_usable() {
    let (_org, a, mut b) = pair();
    let prekey = b.device.generate_prekeys(1).remove(0);
    b.device.mark_prekeys_published();
    let key = PickleKey::random();
    b.device = Device::unpickle(&b.device.pickle(&key).unwrap(), &key).unwrap();
    let peer = a.peer(&b.me());
    let mut ch = a.device.open_channel(&peer, &prekey).unwrap();
    let env = a.device.seal_to_device(&mut ch, &peer, ToDeviceContent::Dummy).unwrap();
    assert!(b.open(&env).is_ok());
    // The one-time key is used up: the same pre-key message cannot start a
    // second session (replay of an Olm pre-key message).
    b.channels.clear();
    assert!(b.open(&env).is_err());
}

#[test]
fn fallback_key_is_signed_and_works() {
    let (_org, a, mut b) = pair();
    let fallback = b.device.generate_fallback_prekey().unwrap();
    assert!(fallback.verify(&b.me().ed25519).unwrap().fallback);
    b.device.mark_prekeys_published();
    let peer = a.peer(&b.me());
    let mut ch = a.device.open_channel(&peer, &fallback).unwrap();
    let env = a.device.seal_to_device(&mut ch, &peer, ToDeviceContent::Dummy).unwrap();
    assert!(b.open(&env).is_ok());
}

#[test]
fn the_creator_keeps_an_inbound_copy_of_its_session_to_forward_it_from_the_start() {
    let (_org, mut a, _b) = pair();
    let r = room(7);
    a.start_room(r, RotationPolicy::default());
    let copy = a.outbound[&r].inbound_copy().unwrap();
    assert_eq!(copy.session_id(), a.outbound[&r].session_id());
    assert_eq!(copy.first_known_index(), 0);
    assert_eq!(copy.origin(), &KeyOrigin::Direct);
    let m1 = a.send(r, 1, "one");
    let m2 = a.send(r, 2, "two");
    // The copy decrypts from the first message, as the forwarded export will.
    let mut copy = copy;
    let mut guard = SeenIndices::default();
    assert_eq!(copy.decrypt(&m1, &mut guard).unwrap().index, 0);
    assert_eq!(copy.decrypt(&m2, &mut guard).unwrap().index, 1);
    let belfry_protocol::to_device::ToDeviceContent::ForwardedRoomKey(f) = copy.forward() else { panic!() };
    assert_eq!(f.claim.peek_unverified().unwrap().sender_device, a.me().device);
}
