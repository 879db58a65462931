//! Room keys a device missed, recovered from the user's own other device,
//! with a relay that withholds keys and insiders who try to hand out or
//! obtain keys they must not.

use crate::support::*;
use belfry_client::{Alert, Event};
use belfry_protocol::frames::InboxItem;
use belfry_protocol::room::RoomKind;
use belfry_protocol::{DeviceId, ToDeviceContent, UserId};
use std::time::Duration;

async fn ids(dev: &Dev) -> (UserId, DeviceId) {
    (dev.engine.user().await.unwrap(), dev.engine.device_id().await.unwrap())
}

/// The relay withholds from `user`/`device` every to-device message from
/// `sender` it holds since `mark` (the room keys); returns how many.
fn withhold_keys_from(relay: &TestRelay, user: &str, device: &DeviceId, mark: i64, sender: &UserId) -> usize {
    let keys: Vec<i64> = relay
        .to_device_items_since(user, device.as_str(), mark)
        .into_iter()
        .filter(|(_, env)| env.sender == *sender)
        .map(|(payload, _)| payload)
        .collect();
    for payload in &keys {
        relay.withhold(user, device.as_str(), *payload);
    }
    keys.len()
}

/// Waits until `from` has asked `own_other` for a key: the request sits in
/// the relay's inbox for that device (shut).
async fn asked(relay: &TestRelay, own_other: &DeviceId, mark: i64, from: &DeviceId) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !relay
        .to_device_items_since("alice", own_other.as_str(), mark)
        .iter()
        .any(|(_, env)| env.sender_device == *from)
    {
        assert!(tokio::time::Instant::now() < deadline, "no key request reached the other device");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Alice's laptop and phone (verified in person with each other when
/// `verified`), and Bob, who writes to a new room while the phone is off;
/// the relay keeps Bob's room key from the phone. The phone stays off.
struct Withheld {
    relay: TestRelay,
    laptop: Dev,
    phone: Dev,
    _bob: Dev,
    phone_dev: DeviceId,
    room: belfry_protocol::RoomId,
    id: belfry_protocol::MessageId,
}

async fn withheld_key(verified: bool) -> Withheld {
    let relay = TestRelay::start();
    let mut laptop = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut phone = Dev::enroll(&relay, "alice", "Alice phone").await;
    if verified {
        verify_in_person(&mut laptop, &mut phone).await;
    }
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, phone_dev) = ids(&phone).await;
    let bob_id = bob.engine.user().await.unwrap();
    phone.shut().await;
    let mark = relay.mark("alice", phone_dev.as_str());
    let room = bob.engine.create_room(RoomKind::Group, "Recovery", std::slice::from_ref(&alice_id)).await.unwrap();
    laptop.joined(&room).await;
    let id = bob.engine.send_text(room, "the code is 4711").await.unwrap();
    laptop.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    bob.settle().await;
    assert!(withhold_keys_from(&relay, "alice", &phone_dev, mark, &bob_id) > 0, "no room key to withhold");
    Withheld { relay, laptop, phone, _bob: bob, phone_dev, room, id }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_missed_a_room_key_recovers_it_from_its_own_other_device() {
    let Withheld { relay: _relay, laptop: _laptop, mut phone, room, id, .. } = withheld_key(true).await;
    phone.restart().await;
    // The phone says why it cannot read, asks the laptop, and reads once
    // the laptop has forwarded the key.
    let reason = match phone.wait(|e| matches!(e, Event::Alert(Alert::Undecryptable { .. }))).await {
        Event::Alert(Alert::Undecryptable { reason, .. }) => reason,
        other => unreachable!("{other:?}"),
    };
    assert!(reason.contains("asking your other devices"), "{reason}");
    phone.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    let shown = phone.engine.messages(&room, 10).await.unwrap();
    assert!(shown.iter().any(|m| m.id == id && m.body == "the code is 4711"), "{shown:?}");
    assert_eq!(phone.engine.room(&room).await.unwrap().name, "Recovery", "the room's state was recovered too");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_key_from_another_users_device_is_refused() {
    let relay = TestRelay::start();
    let mut laptop = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut phone = Dev::enroll(&relay, "alice", "Alice phone").await;
    verify_in_person(&mut laptop, &mut phone).await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (alice_id, phone_dev) = ids(&phone).await;
    let laptop_dev = laptop.engine.device_id().await.unwrap();
    let carol_id = carol.engine.user().await.unwrap();
    phone.shut().await;
    let mark = relay.mark("alice", phone_dev.as_str());

    let room = bob.engine.create_room(RoomKind::Group, "Cell", &[alice_id.clone(), carol_id.clone()]).await.unwrap();
    carol.joined(&room).await;
    laptop.joined(&room).await;
    let secret = carol.engine.send_text(room, "carol's secret").await.unwrap();
    laptop.wait(|e| matches!(e, Event::Message(m) if m.id == secret)).await;
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == secret)).await;
    carol.settle().await;
    assert!(withhold_keys_from(&relay, "alice", &phone_dev, mark, &carol_id) > 0, "no room key to withhold");
    let session = relay
        .room_items_since("alice", phone_dev.as_str(), mark)
        .into_iter()
        .find(|(_, m)| m.sender == carol_id)
        .map(|(_, m)| m.session)
        .expect("carol's message is held for the phone");

    // The laptop is shut: the phone's request waits there.
    laptop.shut().await;
    let laptop_mark = relay.mark("alice", laptop_dev.as_str());
    phone.restart().await;
    phone.wait(|e| matches!(e, Event::Alert(Alert::Undecryptable { .. }))).await;
    asked(&relay, &laptop_dev, laptop_mark, &phone_dev).await;

    // Bob's device, under modified code, "helps": it forwards carol's
    // session, which it genuinely holds, to alice's phone.
    bob.shut().await;
    let mut insider = Insider::open(bob.profile_dir());
    let forwarded = insider.inbound(&session).forward();
    assert!(matches!(forwarded, ToDeviceContent::ForwardedRoomKey(_)));
    let env = insider.seal(&alice_id, &phone_dev, forwarded);
    relay.inject("alice", phone_dev.as_str(), &InboxItem::ToDevice(env));

    let refusal = match phone
        .wait(|e| {
            matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("forwarded"))
                || matches!(e, Event::Message(m) if m.id == secret)
        })
        .await
    {
        Event::Alert(Alert::Rejected { detail }) => detail,
        other => panic!("a key forwarded by another user was used: {other:?}"),
    };
    assert!(refusal.contains("only your own devices"), "{refusal}");
    assert!(phone.engine.messages(&room, 10).await.unwrap().iter().all(|m| m.id != secret));

    // Alice's laptop comes back and answers: the refused key left nothing
    // behind that would stop the genuine recovery.
    laptop.reopen().await;
    phone.wait(|e| matches!(e, Event::Message(m) if m.id == secret)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_request_from_another_users_device_gets_no_key() {
    let relay = TestRelay::start();
    let mut laptop = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (alice_id, laptop_dev) = ids(&laptop).await;
    let (bob_id, bob_dev) = ids(&bob).await;

    // Alice and Carol talk in a room Bob is not in.
    let private = carol.engine.create_room(RoomKind::Direct, "a-c", std::slice::from_ref(&alice_id)).await.unwrap();
    laptop.joined(&private).await;
    laptop.shut().await;
    let mark = relay.mark("alice", laptop_dev.as_str());
    carol.engine.send_text(private, "for alice only").await.unwrap();
    carol.settle().await;
    // The session id is routing data: the relay (and whoever it tells) sees it.
    let session = relay.room_items_since("alice", laptop_dev.as_str(), mark).pop().expect("held for alice").1.session;
    laptop.reopen().await;
    let held = laptop.engine.messages(&private, 10).await.unwrap();
    assert!(held.iter().any(|m| m.body == "for alice only"), "{held:?}");

    // Bob shares a room with alice, so his device has an Olm session with
    // her laptop.
    let shared = bob.engine.create_room(RoomKind::Direct, "a-b", std::slice::from_ref(&alice_id)).await.unwrap();
    laptop.joined(&shared).await;
    bob.settle().await;
    bob.shut().await;
    let bob_mark = relay.mark("bob", bob_dev.as_str());

    // Bob's device, under modified code, asks alice's laptop for the
    // session of the room he is not in.
    let mut insider = Insider::open(bob.profile_dir());
    let ask = insider.seal(&alice_id, &laptop_dev, ToDeviceContent::RoomKeyRequest { room: private, session });
    relay.inject("alice", laptop_dev.as_str(), &InboxItem::ToDevice(ask));

    let refusal = match laptop
        .wait(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("room key")))
        .await
    {
        Event::Alert(Alert::Rejected { detail }) => detail,
        other => unreachable!("{other:?}"),
    };
    assert!(refusal.contains(bob_id.as_str()) && refusal.contains("nothing was sent"), "{refusal}");
    laptop.settle().await;
    // Whatever alice's laptop sent bob since, none of it is a key.
    for (_, env) in relay.to_device_items_since("bob", bob_dev.as_str(), bob_mark) {
        if env.sender == alice_id {
            let content = insider.read(&env);
            assert!(
                !matches!(content, Some(ToDeviceContent::ForwardedRoomKey(_)) | None),
                "alice's laptop answered another user's key request: {content:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_none_of_ones_devices_holds_is_reported_as_such() {
    let relay = TestRelay::start();
    let mut laptop = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut phone = Dev::enroll(&relay, "alice", "Alice phone").await;
    verify_in_person(&mut laptop, &mut phone).await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, phone_dev) = ids(&phone).await;
    let laptop_dev = laptop.engine.device_id().await.unwrap();
    let bob_id = bob.engine.user().await.unwrap();
    laptop.shut().await;
    phone.shut().await;
    let marks = (relay.mark("alice", laptop_dev.as_str()), relay.mark("alice", phone_dev.as_str()));
    let room = bob.engine.create_room(RoomKind::Group, "Lost", std::slice::from_ref(&alice_id)).await.unwrap();
    bob.engine.send_text(room, "nobody of alice's will read this").await.unwrap();
    bob.settle().await;
    // The relay keeps bob's keys from both of alice's devices.
    assert!(withhold_keys_from(&relay, "alice", &laptop_dev, marks.0, &bob_id) > 0);
    assert!(withhold_keys_from(&relay, "alice", &phone_dev, marks.1, &bob_id) > 0);

    laptop.restart().await;
    phone.restart().await;
    // Each asks the other; each answers that it has nothing; both say so.
    for dev in [&mut laptop, &mut phone] {
        let reason = match dev
            .wait(|e| matches!(e, Event::Alert(Alert::Undecryptable { reason, .. }) if reason.contains("either")))
            .await
        {
            Event::Alert(Alert::Undecryptable { reason, sender, .. }) => {
                assert_eq!(sender, bob_id);
                reason
            }
            other => unreachable!("{other:?}"),
        };
        assert!(reason.contains("does not have it either"), "{reason}");
        assert!(dev.engine.rooms().await.unwrap().is_empty(), "nothing was decrypted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_key_nobody_asked_for_is_refused() {
    let relay = TestRelay::start();
    let mut laptop = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut phone = Dev::enroll(&relay, "alice", "Alice phone").await;
    verify_in_person(&mut laptop, &mut phone).await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, phone_dev) = ids(&phone).await;
    let bob_id = bob.engine.user().await.unwrap();
    // The laptop writes in a room, so it has an Olm session with the phone.
    let first = bob.engine.create_room(RoomKind::Group, "First", std::slice::from_ref(&alice_id)).await.unwrap();
    laptop.joined(&first).await;
    phone.joined(&first).await;
    let hello = laptop.engine.send_text(first, "hello from the laptop").await.unwrap();
    phone.wait(|e| matches!(e, Event::Message(m) if m.id == hello)).await;

    // A second room the phone never hears of: the relay keeps everything
    // of bob's from it.
    phone.shut().await;
    let mark = relay.mark("alice", phone_dev.as_str());
    let second = bob.engine.create_room(RoomKind::Group, "Second", std::slice::from_ref(&alice_id)).await.unwrap();
    laptop.joined(&second).await;
    let quiet = bob.engine.send_text(second, "only the laptop should read this").await.unwrap();
    laptop.wait(|e| matches!(e, Event::Message(m) if m.id == quiet)).await;
    bob.settle().await;
    assert!(withhold_keys_from(&relay, "alice", &phone_dev, mark, &bob_id) > 0);
    let held: Vec<_> = relay
        .room_items_since("alice", phone_dev.as_str(), mark)
        .into_iter()
        .filter(|(_, m)| m.room == second)
        .collect();
    assert!(!held.is_empty());
    for (payload, _) in &held {
        relay.withhold("alice", phone_dev.as_str(), *payload);
    }

    // Alice's laptop, under modified code, pushes the session to the
    // phone unasked.
    laptop.shut().await;
    let mut insider = Insider::open(laptop.profile_dir());
    let pushed = insider.inbound(&held[0].1.session).forward();
    let env = insider.seal(&alice_id, &phone_dev, pushed);
    relay.inject("alice", phone_dev.as_str(), &InboxItem::ToDevice(env));
    phone.restart().await;
    // The refusal is reported before the phone says it has caught up.
    let refusal = match phone
        .wait(|e| {
            matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("forwarded"))
                || *e == Event::CaughtUp
        })
        .await
    {
        Event::Alert(Alert::Rejected { detail }) => detail,
        other => panic!("a forwarded key nobody asked for was taken silently: {other:?}"),
    };
    assert!(refusal.contains("did not ask"), "{refusal}");

    // The room's messages arrive late: the refused key was not kept, so
    // they wait (and are asked for) instead of decrypting.
    for (_, m) in &held {
        relay.inject("alice", phone_dev.as_str(), &InboxItem::Room(m.clone()));
    }
    let seen = phone
        .wait(|e| {
            matches!(e, Event::Alert(Alert::Undecryptable { room, .. }) if *room == second)
                || matches!(e, Event::Message(m) if m.id == quiet)
        })
        .await;
    assert!(matches!(seen, Event::Alert(_)), "an unasked-for key was used: {seen:?}");
    assert!(phone.engine.room(&second).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_recovers_a_key_its_other_device_created() {
    let relay = TestRelay::start();
    let mut laptop = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut phone = Dev::enroll(&relay, "alice", "Alice phone").await;
    verify_in_person(&mut laptop, &mut phone).await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, phone_dev) = ids(&phone).await;
    let room = bob.engine.create_room(RoomKind::Group, "Own", std::slice::from_ref(&alice_id)).await.unwrap();
    laptop.joined(&room).await;
    phone.joined(&room).await;
    phone.shut().await;
    let mark = relay.mark("alice", phone_dev.as_str());
    let id = laptop.engine.send_text(room, "written on the laptop").await.unwrap();
    laptop.settle().await;
    // The relay keeps the laptop's own room key from the phone.
    assert!(withhold_keys_from(&relay, "alice", &phone_dev, mark, &alice_id) > 0);
    phone.restart().await;
    // The laptop kept a copy of the session it created: it can forward it
    // from the first message.
    phone.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reflected_back_to_its_sender_is_refused() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, alice_dev) = ids(&alice).await;
    let bob_dev = bob.engine.device_id().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Direct, "a-b", &[bob.engine.user().await.unwrap()]).await.unwrap();
    bob.joined(&room).await;
    bob.shut().await;
    let mark = relay.mark("bob", bob_dev.as_str());
    let id = alice.engine.send_text(room, "mine").await.unwrap();
    alice.settle().await;
    let (_, mine) = relay.room_items_since("bob", bob_dev.as_str(), mark).pop().expect("held for bob");
    assert_eq!((mine.sender.clone(), mine.sender_device.clone()), (alice_id, alice_dev.clone()));
    // The relay hands alice's own message back to her.
    relay.inject("alice", alice_dev.as_str(), &InboxItem::Room(mine));
    alice.wait(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("own messages"))).await;
    let stored = alice.engine.messages(&room, 10).await.unwrap();
    let m = stored.iter().find(|m| m.id == id).unwrap();
    assert_ne!(m.status, belfry_store::MessageStatus::Received, "{m:?}");
}

/// Key recovery needs the asking device verified in person: a chain-valid
/// device of one's own (a stolen invitation makes one) gets no history, and
/// the laptop names the device that asked. Once the person verifies it, the
/// laptop answers what it asked (and that answer must not be refused as
/// "not asked for" when the phone's own verification lands first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_own_device_not_verified_in_person_gets_no_keys_until_it_is() {
    let Withheld { relay: _relay, mut laptop, mut phone, phone_dev, room, id, .. } = withheld_key(false).await;
    phone.restart().await;
    let named = phone_dev.clone();
    laptop
        .wait(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains(named.as_str()) && detail.contains("verify")))
        .await;
    laptop.settle().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        phone.engine.messages(&room, 10).await.unwrap().iter().all(|m| m.id != id),
        "a key reached an unverified device"
    );

    verify_in_person(&mut laptop, &mut phone).await;
    phone.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_messages_whose_keys_the_relay_delays_wait_across_a_restart_and_are_read_when_the_keys_come() {
    const N: usize = 600;
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, alice_dev) = ids(&alice).await;
    let bob_id = bob.engine.user().await.unwrap();
    alice.shut().await;
    let mark = relay.mark("alice", alice_dev.as_str());
    let room = bob.engine.create_room(RoomKind::Group, "Backlog", std::slice::from_ref(&alice_id)).await.unwrap();
    let mut sent = std::collections::BTreeSet::new();
    for n in 0..N {
        sent.insert(bob.engine.send_text(room, &format!("backlog {n}")).await.unwrap());
    }
    bob.settle().await;
    // The relay holds back every room key (several sessions: one per 100
    // messages) and lets the messages through.
    let keys: Vec<_> = relay
        .to_device_items_since("alice", alice_dev.as_str(), mark)
        .into_iter()
        .filter(|(_, env)| env.sender == bob_id)
        .collect();
    assert!(keys.len() >= N / 100, "{} keys", keys.len());
    for (payload, _) in &keys {
        relay.withhold("alice", alice_dev.as_str(), *payload);
    }
    alice.reopen().await;
    assert!(alice.engine.room(&room).await.is_err(), "the room's state came without its key");
    // What waits is kept across a restart...
    alice.reopen().await;
    // ...and read when the keys finally come, in the order they were sent.
    for (_, env) in keys {
        relay.inject("alice", alice_dev.as_str(), &InboxItem::ToDevice(env));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let have: std::collections::BTreeSet<_> =
            alice.engine.messages(&room, N + 10).await.unwrap().into_iter().map(|m| m.id).collect();
        if have == sent {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice reads {} of {N} messages once the keys came",
            have.intersection(&sent).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(alice.engine.room(&room).await.unwrap().name, "Backlog");
}

/// Alice's laptop, and `n` room messages with `body_len`-byte texts from
/// Bob's device, which under modified code never shares their session's
/// key (a relay replaying messages could do the same); all of them are in
/// Alice's inbox, in order, while her laptop is shut.
async fn flood_alice(n: usize, body_len: usize) -> (TestRelay, Dev, Vec<belfry_protocol::RoomMessage>) {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, alice_dev) = ids(&alice).await;
    let room = bob.engine.create_room(RoomKind::Group, "Flood", std::slice::from_ref(&alice_id)).await.unwrap();
    alice.joined(&room).await;
    // Shut first, so Bob's hello stays in the relay for the state hash.
    alice.shut().await;
    let mark = relay.mark("alice", alice_dev.as_str());
    bob.engine.send_text(room, "hello").await.unwrap();
    bob.settle().await;
    bob.shut().await;

    let (_, held) = relay.room_items_since("alice", alice_dev.as_str(), mark).pop().expect("bob's hello");
    let insider = Insider::open(bob.profile_dir());
    let mut seen = belfry_crypto::SeenIndices::default();
    let state_hash = insider.inbound(&held.session).decrypt(&held, &mut seen).unwrap().payload.state_hash;
    let forever = belfry_crypto::RotationPolicy { max_messages: u32::MAX, max_age_ms: u64::MAX };
    let mut withheld = belfry_crypto::OutboundRoomSession::new(&insider.device, room, forever, now()).unwrap();
    let flood: Vec<belfry_protocol::RoomMessage> = (0..n)
        .map(|i| {
            let mut body = format!("flood {i} ");
            body.extend(std::iter::repeat_n('x', body_len.saturating_sub(body.len())));
            let id = belfry_protocol::MessageId(rand::random());
            withheld
                .encrypt(&insider.device, id, state_hash, belfry_protocol::RoomContent::Text { body }, now())
                .unwrap()
        })
        .collect();
    let items: Vec<InboxItem> = flood.iter().cloned().map(InboxItem::Room).collect();
    relay.inject_all("alice", alice_dev.as_str(), &items);
    (relay, alice, flood)
}

/// Alice's laptop reads its inbox: what it keeps waiting (the newest of
/// `flood`, in order, across a restart), and how many it gave up, each
/// with an alert.
async fn read_flood(alice: &mut Dev, flood: &[belfry_protocol::RoomMessage]) -> usize {
    alice.reopen().await;
    alice.shut().await;
    let given_up = alice
        .drain()
        .into_iter()
        .filter(|e| matches!(e, Event::Alert(Alert::Undecryptable { reason, .. }) if reason.contains("given up")))
        .count();
    let waiting = Insider::open(alice.profile_dir()).waiting();
    assert_eq!(waiting.len() + given_up, flood.len(), "each message either waits or was given up with an alert");
    assert_eq!(waiting, flood[given_up..], "the newest wait, in order");
    alice.reopen().await;
    alice.shut().await;
    assert_eq!(Insider::open(alice.profile_dir()).waiting(), flood[given_up..], "not the same after a restart");
    given_up
}

/// A flood of small messages that never open: the newest 1000 wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_messages_that_never_open_keeps_the_newest_thousand() {
    let (_relay, mut alice, flood) = flood_alice(1025, 20).await;
    assert_eq!(read_flood(&mut alice, &flood).await, 25);
}

/// A flood of the largest texts that never open: at most 16 MiB of
/// ciphertext waits, whatever the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_large_messages_that_never_open_costs_at_most_16_mib() {
    let (_relay, mut alice, flood) = flood_alice(300, belfry_protocol::limits::MAX_TEXT_LEN - 64).await;
    let given_up = read_flood(&mut alice, &flood).await;
    let kept: usize = flood[given_up..].iter().map(|m| m.ciphertext.len()).sum();
    assert!(given_up > 0 && kept <= 16 << 20, "{kept} bytes wait");
    let one_more = flood[given_up - 1].ciphertext.len();
    assert!(kept + one_more > 16 << 20, "gave up more than it had to");
}
