//! Room state under attack: squatted room ids, forks a relay arranges, and
//! history that outlives the devices that signed it.

use crate::support::*;
use belfry_client::{Alert, Event};
use belfry_crypto::{OutboundRoomSession, RotationPolicy};
use belfry_protocol::frames::InboxItem;
use belfry_protocol::room::{RoomKind, StateContent};
use belfry_protocol::{DisplayName, Hash256, MessageId, RoomContent, RoomId, RoomStateEvent};

/// A Create signed by `device` for `room` (whatever id it claims).
fn create_event(device: &belfry_crypto::Device, room: RoomId) -> RoomStateEvent {
    RoomStateEvent {
        room,
        seq: 0,
        prev: None,
        sender: device.user().clone(),
        sender_device: device.device_id().clone(),
        ts: now(),
        content: StateContent::Create { kind: RoomKind::Group, name: DisplayName::new("Crisis cell").unwrap() },
    }
}

/// Mallory, an insider, knows the id of Alice's room (the relay routes it
/// in the clear) and, before Alice adds Carol, hands Carol a Create of her
/// own under that id, and a genuine room of hers wrapped as Alice's. Carol
/// refuses both, then joins Alice's real room when Alice adds her.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_id_squatted_by_an_insider_changes_nothing() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let mut mallory = Dev::enroll(&relay, "mallory", "Mallory laptop").await;
    let (bob_id, carol_id) = (bob.engine.user().await.unwrap(), carol.engine.user().await.unwrap());
    let carol_dev = carol.engine.device_id().await.unwrap();
    // Mallory and Carol share a room, so Mallory has an Olm channel to her.
    let mc = mallory.engine.create_room(RoomKind::Direct, "m-c", std::slice::from_ref(&carol_id)).await.unwrap();
    carol.joined(&mc).await;
    mallory.settle().await;
    mallory.shut().await;
    let room = alice.engine.create_room(RoomKind::Group, "Crisis cell", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;

    // Mallory's modified client: a room session for Alice's id, shared
    // with Carol over Olm, carrying two Creates.
    let mut insider = Insider::open(mallory.profile_dir());
    let mut session = OutboundRoomSession::new(&insider.device, room, RotationPolicy::default(), now()).unwrap();
    let key = insider.seal(&carol_id, &carol_dev, session.room_key());
    let squat = insider.device.sign(&create_event(&insider.device, room));
    let mut own = create_event(&insider.device, RoomId([0; 16]));
    own.room = own.derived_room_id();
    let own = insider.device.sign(&own);
    let mut items = vec![InboxItem::ToDevice(key)];
    for event in [squat, own] {
        let content = RoomContent::State(event);
        let m = session.encrypt(&insider.device, MessageId(rand::random()), Hash256([0; 32]), content, now()).unwrap();
        items.push(InboxItem::Room(m));
    }
    relay.inject_all("carol", carol_dev.as_str(), &items);
    let mut refusals = 0;
    while refusals < 2 {
        match carol.wait(|e| matches!(e, Event::Alert(_) | Event::Room(_))).await {
            Event::Room(r) => assert_ne!(r, room, "carol took mallory's Create for alice's room"),
            Event::Alert(Alert::StateConflict { room: r, detail }) if r == room && detail.contains("hash") => {
                refusals += 1
            }
            Event::Alert(Alert::Rejected { detail }) if detail.contains("another room") => refusals += 1,
            Event::Alert(_) => {}
            _ => unreachable!(),
        }
    }
    assert!(carol.engine.room(&room).await.is_err(), "carol holds a room under alice's id");

    // Alice adds Carol: she joins the real room and writes in it.
    alice.engine.add_member(room, carol_id.clone()).await.unwrap();
    carol.joined(&room).await;
    let view = carol.engine.room(&room).await.unwrap();
    assert_eq!(view.name, "Crisis cell");
    let members: Vec<_> = view.members.keys().map(|u| u.as_str().to_owned()).collect();
    assert_eq!(members, ["alice", "bob", "carol"]);
    let id = carol.engine.send_text(room, "carol here").await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
}

/// Waits (up to 30 s) until `dev`'s view of `room` satisfies `f`.
async fn room_until(dev: &Dev, room: &RoomId, what: &str, f: impl Fn(&belfry_client::RoomView) -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Ok(view) = dev.engine.room(room).await
            && f(&view)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "room never reached: {what}; now {:?}",
            dev.engine.room(room).await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Alice (the creator) made Mallory an admin, then removes her. The relay
/// withholds the removal from Bob and delivers a competing change Mallory
/// signs at the same position (she removes Alice). Alice's next message
/// names a state Bob does not hold: his room stops sending, and says why.
/// When the removal arrives, the canonical rule (a removal beats a
/// concurrent change by the removed member) puts Bob on Alice's history.
/// Nothing Bob sent after the removal is readable on Mallory's devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_admin_and_the_relay_cannot_keep_a_member_encrypting_to_her() {
    use belfry_protocol::room::Role;
    use belfry_protocol::to_device::ToDeviceContent;
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut mallory = Dev::enroll(&relay, "mallory", "Mallory laptop").await;
    let (alice_id, bob_id, mallory_id) =
        (alice.engine.user().await.unwrap(), bob.engine.user().await.unwrap(), mallory.engine.user().await.unwrap());
    let (bob_dev, mallory_dev) = (
        bob.engine.device_id().await.unwrap().as_str().to_owned(),
        mallory.engine.device_id().await.unwrap().as_str().to_owned(),
    );
    let room = alice.engine.create_room(RoomKind::Group, "Cell", &[bob_id.clone(), mallory_id.clone()]).await.unwrap();
    alice.engine.set_role(room, mallory_id.clone(), Role::Admin).await.unwrap();
    let m = mallory_id.clone();
    room_until(&mallory, &room, "mallory an admin", |v| v.members.get(&m) == Some(&Role::Admin)).await;
    room_until(&bob, &room, "mallory an admin", |v| v.members.get(&m) == Some(&Role::Admin)).await;
    // Mallory writes once: Bob and Alice hold her room session.
    let hello = mallory.engine.send_text(room, "hello").await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == hello)).await;
    alice.wait(|e| matches!(e, Event::Message(m) if m.id == hello)).await;
    for dev in [&mut mallory, &mut bob] {
        dev.settle().await;
        dev.shut().await;
    }
    alice.settle().await;
    let mallory_mark = relay.mark("mallory", &mallory_dev);

    alice.engine.remove_member(room, mallory_id.clone()).await.unwrap();
    let after = alice.engine.send_text(room, "mallory is out").await.unwrap();
    alice.settle().await;

    // Mallory (her modified client) reads her removal in her inbox; the
    // relay withholds the same payload from Bob.
    let mut insider = Insider::open(mallory.profile_dir());
    let removal = relay
        .room_items_since("mallory", &mallory_dev, mallory_mark)
        .into_iter()
        .find(|(_, m)| {
            matches!(insider.try_decrypt(m).map(|p| p.content), Some(RoomContent::State(e))
                if matches!(e.peek_unverified().unwrap().content, StateContent::Remove { .. }))
        })
        .expect("mallory's removal never reached her inbox");
    let Some(RoomContent::State(r)) = insider.try_decrypt(&removal.1).map(|p| p.content) else { unreachable!() };
    let r = r.peek_unverified().unwrap();
    relay.withhold("bob", &bob_dev, removal.0);
    // Her competing change, at the removal's position: she removes Alice.
    let counter = insider.device.sign(&RoomStateEvent {
        room,
        seq: r.seq,
        prev: r.prev,
        sender: mallory_id.clone(),
        sender_device: insider.device.device_id().clone(),
        ts: now(),
        content: StateContent::Remove { user: alice_id.clone() },
    });
    let (_, competing) = insider.room_message(room, r.prev.unwrap(), RoomContent::State(counter));
    relay.inject("bob", &bob_dev, &InboxItem::Room(competing));

    // Bob is back: Alice's message names a state he lacks; the room waits.
    bob.restart().await;
    room_until(&bob, &room, "in conflict", |v| v.conflict.is_some()).await;
    bob.wait(|e| matches!(e, Event::Alert(Alert::StateConflict { room: r, detail }) if *r == room && detail.contains("paused")))
        .await;
    let secret = bob.engine.send_text(room, "for alice only").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let queued = bob.engine.messages(&room, 10).await.unwrap();
    assert!(
        queued.iter().any(|m| m.id == secret && m.status == belfry_store::MessageStatus::Pending),
        "sent while in conflict: {queued:?}"
    );
    assert!(bob.engine.pending_count().unwrap() > 0);

    // The removal arrives late: Alice's history stands, Bob sends to her.
    let (_, late) = relay
        .room_items_since("mallory", &mallory_dev, mallory_mark)
        .into_iter()
        .find(|(p, _)| *p == removal.0)
        .unwrap();
    relay.inject("bob", &bob_dev, &InboxItem::Room(late));
    let (a, b) = (alice_id.clone(), bob_id.clone());
    room_until(&bob, &room, "alice's history", move |v| {
        v.conflict.is_none() && v.members.keys().cloned().collect::<Vec<_>>() == [a.clone(), b.clone()]
    })
    .await;
    alice.wait(|e| matches!(e, Event::Message(m) if m.id == secret)).await;
    bob.settle().await;
    assert!(bob.engine.messages(&room, 10).await.unwrap().iter().any(|m| m.id == after), "bob reads alice's message");

    // What the relay holds for Mallory's devices from Bob: no room key she
    // can open, and no room message she can read.
    for (_, env) in relay.to_device_items_since("mallory", &mallory_dev, mallory_mark) {
        if env.sender == bob_id {
            let content = insider.read(&env);
            assert!(
                !matches!(content, Some(ToDeviceContent::RoomKey(_) | ToDeviceContent::ForwardedRoomKey(_))),
                "bob shared a room key with mallory after her removal"
            );
        }
    }
    let from_bob: Vec<_> = relay
        .room_items_since("mallory", &mallory_dev, mallory_mark)
        .into_iter()
        .filter(|(_, m)| m.sender == bob_id)
        .collect();
    for (_, m) in &from_bob {
        assert!(insider.try_decrypt(m).is_none(), "mallory reads what bob sent after her removal");
    }
}

/// Alice created a room on her first laptop, which is then lost and
/// revoked; from her second laptop she adds Carol. The history the lost
/// laptop signed before its revocation stands: Carol joins and writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_signed_by_a_device_revoked_later_still_lets_new_members_join() {
    let relay = TestRelay::start();
    let mut alice1 = Dev::enroll(&relay, "alice", "Alice laptop 1").await;
    let mut alice2 = Dev::enroll(&relay, "alice", "Alice laptop 2").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (alice_id, bob_id, carol_id) =
        (alice1.engine.user().await.unwrap(), bob.engine.user().await.unwrap(), carol.engine.user().await.unwrap());
    let room = alice1.engine.create_room(RoomKind::Group, "Cell", std::slice::from_ref(&bob_id)).await.unwrap();
    alice2.joined(&room).await;
    bob.joined(&room).await;
    alice1.settle().await;
    alice1.shut().await;
    // The first laptop is lost: IT revokes it.
    let lost = alice1.engine.device_id().await.unwrap();
    relay.distribute(&relay.org_revocation(&alice_id, &lost));
    alice2.wait(|e| matches!(e, Event::Alert(Alert::DeviceRevoked { device, .. }) if *device == lost)).await;
    alice2.engine.add_member(room, carol_id.clone()).await.unwrap();
    carol.joined(&room).await;
    let id = carol.engine.send_text(room, "carol here").await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
}

/// Bob, an admin who did not create the room, adds Dave. Dave has never
/// seen Alice's devices, which signed the room's first events: he fetches
/// them, judges the history and joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_added_by_an_admin_who_did_not_create_the_room_joins() {
    use belfry_protocol::room::Role;
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let dave = Dev::enroll(&relay, "dave", "Dave laptop").await;
    let (bob_id, dave_id) = (bob.engine.user().await.unwrap(), dave.engine.user().await.unwrap());
    let room = alice.engine.create_room(RoomKind::Group, "Cell", std::slice::from_ref(&bob_id)).await.unwrap();
    alice.engine.set_role(room, bob_id.clone(), Role::Admin).await.unwrap();
    let b = bob_id.clone();
    room_until(&bob, &room, "bob an admin", |v| v.members.get(&b) == Some(&Role::Admin)).await;
    bob.engine.add_member(room, dave_id.clone()).await.unwrap();
    dave.joined(&room).await;
    let id = dave.engine.send_text(room, "dave here").await.unwrap();
    alice.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
}

/// Alice enrolls a second laptop after her rooms exist (one of them made
/// by Bob): the new laptop receives every room's state from her first one
/// and reads what is written next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_of_a_member_gets_every_rooms_state() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop 1").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, bob_id) = (alice.engine.user().await.unwrap(), bob.engine.user().await.unwrap());
    let one = alice.engine.create_room(RoomKind::Group, "One", std::slice::from_ref(&bob_id)).await.unwrap();
    let two = alice.engine.create_room(RoomKind::Direct, "a-b", std::slice::from_ref(&bob_id)).await.unwrap();
    let three = bob.engine.create_room(RoomKind::Group, "Bob's", std::slice::from_ref(&alice_id)).await.unwrap();
    alice.joined(&three).await;
    bob.joined(&one).await;
    bob.joined(&two).await;
    let mut alice2 = Dev::enroll(&relay, "alice", "Alice laptop 2").await;
    for room in [one, two, three] {
        alice2.joined(&room).await;
    }
    let id = bob.engine.send_text(three, "to both laptops").await.unwrap();
    alice2.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
}

/// An admin renames a group room: the other member's view and event
/// stream show the new name. A member who is not an admin is refused
/// with the typed state error, and so is a name the protocol does not
/// allow; neither changes anything anywhere. A direct room keeps its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_renames_a_group_and_the_other_member_sees_it() {
    use belfry_client::ClientError;
    use belfry_crypto::StateError;
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Group, "Cell", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    bob.drain();

    alice.engine.rename_room(room, "  Crisis cell  ").await.unwrap();
    assert_eq!(alice.engine.room(&room).await.unwrap().name, "Crisis cell");
    bob.wait(|e| *e == Event::Room(room)).await;
    room_until(&bob, &room, "the new name", |v| v.name == "Crisis cell").await;

    // Bob is a member, not an admin.
    let r = bob.engine.rename_room(room, "Bob's room").await;
    assert!(matches!(r, Err(ClientError::State(StateError::NotAllowed(ref u))) if *u == bob_id), "{r:?}");
    // Names the protocol refuses: empty, too long, invisible characters.
    for bad in ["   ", &"x".repeat(129), "Cell\u{202E}lec", "Bo\u{200D}b"] {
        let r = alice.engine.rename_room(room, bad).await;
        assert!(matches!(r, Err(ClientError::Input(_))), "{bad:?}: {r:?}");
    }
    let long_ok = "é".repeat(128);
    alice.engine.rename_room(room, &long_ok).await.unwrap();
    room_until(&bob, &room, "the long name", |v| v.name == long_ok).await;
    assert_eq!(bob.engine.room(&room).await.unwrap().name, long_ok, "bob's refused rename changed something");

    let direct = alice.engine.create_room(RoomKind::Direct, "Bob", std::slice::from_ref(&bob_id)).await.unwrap();
    let r = alice.engine.rename_room(direct, "Other").await;
    assert!(matches!(r, Err(ClientError::Input(_))), "{r:?}");
    assert_eq!(alice.engine.room(&direct).await.unwrap().name, "Bob");
}
