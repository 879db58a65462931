//! A hostile relay: it owns its host and database, and tries every trick
//! DESIGN.md says it cannot pull off. Each one must be detected and
//! surfaced as an alert; none may share a key with it or show a forged
//! message as genuine.

use crate::support::*;
use belfry_client::{Alert, Event};
use belfry_protocol::frames::InboxItem;
use belfry_protocol::room::RoomKind;
use belfry_protocol::{DisplayName, Issuer, RoomId, Statement, Timestamp, UserId, WipeOrder};
use std::time::Duration;

struct Scene {
    relay: TestRelay,
    alice: Dev,
    bob: Dev,
    bob_device: String,
    bob_id: UserId,
    room: RoomId,
}

/// Alice and Bob in a direct room; Bob's laptop is shut.
async fn scene() -> Scene {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let bob_device = bob.engine.device_id().await.unwrap().as_str().to_owned();
    let room = alice.engine.create_room(RoomKind::Direct, "a-b", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    bob.shut().await;
    Scene { relay, alice, bob, bob_device, bob_id, room }
}

/// Reads events until `n` genuine messages arrived and the relay says it
/// has nothing more; returns the alerts.
async fn collect(dev: &mut Dev, messages: usize) -> (Vec<belfry_client::MessageView>, Vec<Alert>) {
    let (mut got, mut alerts, mut caught_up) = (Vec::new(), Vec::new(), false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(caught_up && got.len() >= messages) {
        match tokio::time::timeout_at(deadline, dev.events.recv()).await {
            Ok(Ok(Event::Message(m))) => got.push(m),
            Ok(Ok(Event::Alert(a))) => alerts.push(a),
            Ok(Ok(Event::CaughtUp)) => caught_up = true,
            Ok(_) => {}
            Err(_) => panic!("timed out: {} messages, alerts {alerts:?}", got.len()),
        }
    }
    // Alerts raised with the last entries arrive before "caught up".
    (got, alerts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_a_replayed_message_is_refused_and_reported() {
    let mut s = scene().await;
    let mark = s.relay.mark("bob", &s.bob_device);
    let id = s.alice.engine.send_text(s.room, "transfer approved").await.unwrap();
    s.alice.settle().await;
    let Some((_, original)) = s.relay.room_items_since("bob", &s.bob_device, mark).pop() else {
        panic!(
            "nothing held for bob; alice saw {:?}\nrelay log:\n{}\nrelay state:\n{}",
            s.alice.drain(),
            s.relay.log(),
            s.relay.debug_state()
        );
    };
    s.relay.inject("bob", &s.bob_device, &InboxItem::Room(original.clone()));
    s.relay.inject("bob", &s.bob_device, &InboxItem::Room(original));
    s.bob.restart().await;
    let (got, alerts) = collect(&mut s.bob, 1).await;
    assert_eq!(got.iter().filter(|m| m.id == id).count(), 1, "shown once");
    let replays =
        alerts.iter().filter(|a| matches!(a, Alert::Undecryptable { reason, .. } if reason.contains("replay"))).count();
    assert_eq!(replays, 2, "both copies reported as replays: {alerts:?}");
    assert_eq!(s.bob.engine.messages(&s.room, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_a_message_moved_to_another_room_is_refused() {
    let mut s = scene().await;
    s.bob.restart().await;
    let other = s.alice.engine.create_room(RoomKind::Group, "other", std::slice::from_ref(&s.bob_id)).await.unwrap();
    s.bob.joined(&other).await;
    s.bob.shut().await;
    let mark = s.relay.mark("bob", &s.bob_device);
    s.alice.engine.send_text(s.room, "for the direct room only").await.unwrap();
    s.alice.settle().await;
    let Some((payload, mut moved)) = s.relay.room_items_since("bob", &s.bob_device, mark).pop() else {
        panic!(
            "nothing held for bob; alice saw {:?}\nrelay log:\n{}\nrelay state:\n{}",
            s.alice.drain(),
            s.relay.log(),
            s.relay.debug_state()
        );
    };
    s.relay.withhold("bob", &s.bob_device, payload);
    moved.room = other;
    s.relay.inject("bob", &s.bob_device, &InboxItem::Room(moved));
    s.bob.restart().await;
    let (got, alerts) = collect(&mut s.bob, 0).await;
    assert!(got.is_empty(), "a moved message was shown: {got:?}");
    assert!(
        alerts.iter().any(
            |a| matches!(a, Alert::Undecryptable { room, reason, .. } if *room == other && reason.contains("room"))
        ),
        "{alerts:?}"
    );
    assert!(s.bob.engine.messages(&other, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_a_swapped_sender_is_refused() {
    let mut s = scene().await;
    let carol = Dev::enroll(&s.relay, "carol", "Carol laptop").await;
    let carol_id = carol.engine.user().await.unwrap();
    let mark = s.relay.mark("bob", &s.bob_device);
    s.alice.engine.send_text(s.room, "signed, alice").await.unwrap();
    s.alice.settle().await;
    let Some((payload, mut swapped)) = s.relay.room_items_since("bob", &s.bob_device, mark).pop() else {
        panic!(
            "nothing held for bob; alice saw {:?}\nrelay log:\n{}\nrelay state:\n{}",
            s.alice.drain(),
            s.relay.log(),
            s.relay.debug_state()
        );
    };
    s.relay.withhold("bob", &s.bob_device, payload);
    swapped.sender = carol_id;
    swapped.sender_device = carol.engine.device_id().await.unwrap();
    s.relay.inject("bob", &s.bob_device, &InboxItem::Room(swapped));
    s.bob.restart().await;
    let (got, alerts) = collect(&mut s.bob, 0).await;
    assert!(got.is_empty(), "a message with a swapped sender was shown: {got:?}");
    assert!(alerts.iter().any(|a| matches!(a, Alert::Undecryptable { .. })), "{alerts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_a_forged_wipe_or_revocation_is_refused() {
    let mut s = scene().await;
    let impostor = belfry_crypto::OrgKey::generate();
    let device = belfry_protocol::DeviceId::new(s.bob_device.clone()).unwrap();
    // Claims the real organisation, signed by another key.
    let wipe = Statement::Wipe(impostor.sign(&WipeOrder {
        org: s.relay.org.public(),
        user: s.bob_id.clone(),
        device: device.clone(),
        issuer: Issuer::Org,
        issued_at: Timestamp(now().0),
    }));
    let revocation = Statement::Revocation(impostor.sign(&belfry_protocol::Revocation {
        org: s.relay.org.public(),
        target: belfry_protocol::RevocationTarget::Device { user: s.bob_id.clone(), device },
        issuer: Issuer::Org,
        reason: DisplayName::new("forged").unwrap(),
        issued_at: Timestamp(now().0),
    }));
    s.relay.inject("bob", &s.bob_device, &InboxItem::Statement(wipe));
    s.relay.inject("bob", &s.bob_device, &InboxItem::Statement(revocation));
    let id = s.alice.engine.send_text(s.room, "still here?").await.unwrap();
    s.alice.settle().await;
    s.bob.restart().await;
    let (got, alerts) = collect(&mut s.bob, 1).await;
    assert_eq!(got[0].id, id, "bob's device kept working");
    assert_eq!(alerts.iter().filter(|a| matches!(a, Alert::Rejected { .. })).count(), 2, "{alerts:?}");
    assert!(!alerts.iter().any(|a| matches!(a, Alert::DeviceRevoked { .. })), "{alerts:?}");
    assert!(s.bob.profile_dir().join("belfry.db").exists(), "a forged wipe erased the device");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_a_device_added_by_the_relay_is_refused_and_never_encrypted_to() {
    let mut s = scene().await;
    // The relay's own "alice" device, certified by a key it controls.
    let fake_org = belfry_crypto::OrgKey::generate();
    let invitation = fake_org
        .invite(
            &belfry_crypto::InvitationRequest {
                user: UserId::new("alice").unwrap(),
                display_name: DisplayName::new("alice").unwrap(),
                relay_url: s.relay.url.clone(),
                relay_ca_der: s.relay.ca_der.clone(),
                valid_for_ms: 3_600_000,
            },
            now(),
        )
        .unwrap();
    let fake = belfry_crypto::Device::enroll(
        &invitation,
        &fake_org.public(),
        DisplayName::new("Alice tablet").unwrap(),
        now(),
    )
    .unwrap();
    s.relay.plant_device(fake.chain());
    s.bob.restart().await;
    s.bob.wait(|e| *e == Event::CaughtUp).await;
    let devices = s.bob.engine.devices(&UserId::new("alice").unwrap()).await.unwrap();
    assert_eq!(devices.len(), 1, "only alice's genuine device: {devices:?}");
    s.bob.wait(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("does not verify"))).await;
    // Bob writes to Alice: nothing for the planted device.
    s.bob.engine.send_text(s.room, "hello alice").await.unwrap();
    s.bob.settle().await;
    assert_eq!(s.relay.inbox_depth("alice", fake.device_id().as_str()), 0, "the planted device got something");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h_a_state_change_withheld_from_one_member_is_detected() {
    let mut s = scene().await;
    let mark = s.relay.mark("bob", &s.bob_device);
    s.alice.engine.set_classification(s.room, Some("SECRET")).await.unwrap();
    s.alice.settle().await;
    // The relay hides the change from Bob, then delivers what follows.
    for (payload, _) in s.relay.room_items_since("bob", &s.bob_device, mark) {
        s.relay.withhold("bob", &s.bob_device, payload);
    }
    s.alice.engine.send_text(s.room, "now classified").await.unwrap();
    s.alice.settle().await;
    s.bob.restart().await;
    let (_, alerts) = collect(&mut s.bob, 1).await;
    // The message names a state Bob never saw, and Alice's numbering shows
    // a message missing before it: both say "your history differs".
    assert!(alerts.iter().any(|a| matches!(a, Alert::StateConflict { .. })), "{alerts:?}");
    assert!(alerts.iter().any(|a| matches!(a, Alert::Delivery { .. })), "{alerts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_dropped_and_reordered_messages_are_detected() {
    let mut s = scene().await;
    let mark = s.relay.mark("bob", &s.bob_device);
    for body in ["one", "two", "three"] {
        s.alice.engine.send_text(s.room, body).await.unwrap();
    }
    s.alice.settle().await;
    let items = s.relay.room_items_since("bob", &s.bob_device, mark);
    assert_eq!(
        items.len(),
        3,
        "mark {mark}, bob's inbox {}, alice's view {:?}\nrelay state:\n{}",
        s.relay.inbox_depth("bob", &s.bob_device),
        s.alice.engine.messages(&s.room, 10).await.unwrap(),
        s.relay.debug_state()
    );
    // The relay drops "two"...
    s.relay.withhold("bob", &s.bob_device, items[1].0);
    s.bob.restart().await;
    let (got, alerts) = collect(&mut s.bob, 2).await;
    assert_eq!(got.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["one", "three"]);
    assert!(
        alerts.iter().any(|a| matches!(a, Alert::Delivery { detail, .. } if detail.contains("has not arrived"))),
        "a dropped message went unnoticed: {alerts:?}"
    );
    // ...then delivers it late.
    s.relay.inject("bob", &s.bob_device, &InboxItem::Room(items[1].1.clone()));
    let late =
        s.bob.wait(|e| matches!(e, Event::Alert(Alert::Delivery { detail, .. }) if detail.contains("late"))).await;
    assert!(matches!(late, Event::Alert(_)));
    let bodies: Vec<String> = s.bob.engine.messages(&s.room, 10).await.unwrap().into_iter().map(|m| m.body).collect();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_the_relay_cannot_put_someone_back_into_a_room() {
    let mut s = scene().await;
    s.bob.restart().await;
    s.bob.wait(|e| *e == Event::CaughtUp).await;
    // Carol's laptop stays shut after enrolling: the relay keeps every
    // message of the group for her, the state messages that added her too.
    let mut carol = Dev::enroll(&s.relay, "carol", "Carol laptop").await;
    let carol_id = carol.engine.user().await.unwrap();
    let carol_device = carol.engine.device_id().await.unwrap();
    carol.shut().await;
    let start = s.relay.mark("carol", carol_device.as_str());
    let group = s.alice.engine.create_room(RoomKind::Group, "g", &[s.bob_id.clone(), carol_id.clone()]).await.unwrap();
    s.bob.joined(&group).await;
    s.bob.shut().await;
    s.alice.engine.remove_member(group, carol_id.clone()).await.unwrap();
    s.alice.settle().await;
    // Carol is added again by... nobody: the relay replays the state
    // message that once added her, after she was removed.
    let add_again = s
        .relay
        .room_items_since("carol", carol_device.as_str(), start)
        .into_iter()
        .map(|(_, m)| m)
        .find(|m| m.room == group)
        .expect("the relay holds the room's first state messages for carol");
    s.relay.inject("bob", &s.bob_device, &InboxItem::Room(add_again));
    s.bob.restart().await;
    let (_, alerts) = collect(&mut s.bob, 0).await;
    let members = s.bob.engine.room(&group).await.unwrap().members;
    assert!(!members.contains_key(&carol_id), "carol is back: {members:?}");
    assert!(
        alerts.iter().any(|a| matches!(a, Alert::Undecryptable { reason, .. } if reason.contains("replay"))),
        "{alerts:?}"
    );
}

/// The relay delivers a room's first message before the room's own state
/// (or key recovery brings them back in that order): the message waits
/// for the room, and is shown once the state arrives, instead of being
/// refused and lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_delivered_before_its_rooms_state_waits_for_it() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let bob_device = bob.engine.device_id().await.unwrap();
    bob.shut().await;
    let mark = relay.mark("bob", bob_device.as_str());
    let room = alice.engine.create_room(RoomKind::Group, "Reordered", std::slice::from_ref(&bob_id)).await.unwrap();
    let hello = alice.engine.send_text(room, "first words").await.unwrap();
    alice.settle().await;
    // Bob's inbox holds the room's state messages, then "first words".
    // The relay moves the state behind it.
    let items = relay.room_items_since("bob", bob_device.as_str(), mark);
    assert!(items.len() >= 2, "expected the room's state and a message, got {}", items.len());
    let (state, _last) = items.split_at(items.len() - 1);
    for (payload, message) in state {
        relay.withhold("bob", bob_device.as_str(), *payload);
        relay.inject("bob", bob_device.as_str(), &InboxItem::Room(message.clone()));
    }
    bob.reopen().await;
    bob.joined(&room).await;
    if !bob.engine.messages(&room, 10).await.unwrap().iter().any(|m| m.id == hello) {
        bob.wait(|e| matches!(e, Event::Message(m) if m.id == hello)).await;
    }
    let refused: Vec<_> =
        bob.drain().into_iter().filter(|e| matches!(e, Event::Alert(Alert::Rejected { .. }))).collect();
    assert!(refused.is_empty(), "{refused:?}");
}
