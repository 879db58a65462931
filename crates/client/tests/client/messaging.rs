//! Two people talk through the real relay.

use crate::support::*;
use belfry_client::Event;
use belfry_protocol::room::RoomKind;
use belfry_store::MessageStatus;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_exchange_messages_in_a_direct_room() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();

    let room =
        alice.engine.create_room(RoomKind::Direct, "Alice and Bob", std::slice::from_ref(&bob_id)).await.unwrap();
    let sent = alice.engine.send_text(room, "The draft is ready.").await.unwrap();
    alice.wait(|e| *e == Event::Status(sent, MessageStatus::Sent)).await;

    let got = bob.wait(|e| matches!(e, Event::Message(m) if m.id == sent)).await;
    let Event::Message(m) = got else { unreachable!() };
    assert_eq!(m.body, "The draft is ready.");
    assert_eq!(m.sender.as_str(), "alice");
    let rooms = bob.engine.rooms().await.unwrap();
    assert_eq!(rooms.len(), 1);
    assert_eq!(rooms[0].name, "Alice and Bob");
    assert!(rooms[0].members.contains_key(&bob_id));

    let reply = bob.engine.send_text(room, "Thanks, reading it now.").await.unwrap();
    let got = alice.wait(|e| matches!(e, Event::Message(m) if m.id == reply)).await;
    let Event::Message(m) = got else { unreachable!() };
    assert_eq!(m.body, "Thanks, reading it now.");

    // Both histories hold both messages, in order; search finds them.
    for dev in [&alice, &bob] {
        let history = dev.engine.messages(&room, 10).await.unwrap();
        let bodies: Vec<&str> = history.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["The draft is ready.", "Thanks, reading it now."]);
        assert_eq!(dev.engine.search("draft", 10).await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_across_key_rotations_arrive_after_their_keys() {
    use belfry_client::Alert;
    use futures_util::StreamExt as _;
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Direct, "a-b", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    // 350 messages, 64 in flight: three key rotations (every 100 messages).
    let mut in_flight = futures_util::stream::FuturesUnordered::new();
    for i in 0..350 {
        while in_flight.len() >= 64 {
            in_flight.next().await;
        }
        let engine = alice.engine.clone();
        in_flight.push(async move { engine.send_text(room, &format!("m{i}")).await.unwrap() });
    }
    while in_flight.next().await.is_some() {}
    let mut got = 0;
    while got < 350 {
        match bob.wait(|e| matches!(e, Event::Message(_) | Event::Alert(_))).await {
            Event::Message(_) => got += 1,
            Event::Alert(a) => assert!(!matches!(a, Alert::Undecryptable { .. } | Alert::Delivery { .. }), "{a:?}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_edits_reactions_deletions_and_disappearing_messages() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Group, "Desk", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;

    let first = alice.engine.send_text(room, "Draft v1 attached").await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == first)).await;
    // Edit: Bob sees the new text in place.
    alice.engine.edit(room, first, "Draft v2 attached").await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == first && m.body == "Draft v2 attached")).await;
    assert_eq!(bob.engine.messages(&room, 10).await.unwrap().len(), 1);
    // Bob replies and reacts.
    let reply = bob.engine.reply(room, first, "Looks good").await.unwrap();
    bob.engine.react(room, first, "👍").await.unwrap();
    bob.settle().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while alice.engine.reactions(&first).unwrap().get("bob").map(String::as_str) != Some("👍") {
        assert!(tokio::time::Instant::now() < deadline, "the reaction never arrived");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let at_alice = alice.engine.messages(&room, 10).await.unwrap();
    assert!(at_alice.iter().any(|m| m.id == reply && m.body.ends_with("Looks good")), "{at_alice:?}");
    // Bob cannot edit or delete Alice's message.
    assert!(bob.engine.edit(room, first, "forged").await.is_err());
    assert!(bob.engine.delete(room, first).await.is_err());
    // Alice deletes hers: gone on both sides, search included.
    alice.engine.delete(room, first).await.unwrap();
    bob.wait(|e| *e == Event::Removed(first)).await;
    assert!(bob.engine.search("Draft", 10).await.unwrap().is_empty());
    assert!(alice.engine.messages(&room, 10).await.unwrap().iter().all(|m| m.id != first));

    // Disappearing messages: a one-second timer, then a purge. Messages
    // stored before the timer have no end; after it, the view says when.
    assert!(alice.engine.messages(&room, 10).await.unwrap().iter().all(|m| m.expires_at.is_none()));
    alice.engine.set_retention(room, Some(1)).await.unwrap();
    bob.wait(|e| *e == Event::Room(room)).await;
    let short = alice.engine.send_text(room, "self-destructing").await.unwrap();
    let sent = alice.engine.messages(&room, 10).await.unwrap().into_iter().find(|m| m.id == short).unwrap();
    assert_eq!(sent.expires_at, Some(sent.sent_at.plus_ms(1000)), "{sent:?}");
    let Event::Message(shown) = bob.wait(|e| matches!(e, Event::Message(m) if m.id == short)).await else {
        unreachable!()
    };
    // Bob's copy ends a second after it arrived here.
    let end = shown.expires_at.expect("the view says when it disappears").0;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(end <= now + 1000 && end + 30_000 > now + 1000, "{shown:?}");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(bob.engine.purge_expired().await.unwrap() >= 1);
    assert!(alice.engine.purge_expired().await.unwrap() >= 1);
    assert!(bob.engine.messages(&room, 10).await.unwrap().iter().all(|m| m.id != short));
    assert!(bob.engine.search("destructing", 10).await.unwrap().is_empty());
}

/// Someone offline gets a message, its edit, another message and its
/// deletion, and a reaction, all in one inbox delivery: each refers to a
/// message earlier in the same delivery, not yet stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_and_deletions_apply_to_messages_in_the_same_delivery() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (bob_id, carol_id) = (bob.engine.user().await.unwrap(), carol.engine.user().await.unwrap());
    let room = alice.engine.create_room(RoomKind::Group, "Desk", &[bob_id, carol_id]).await.unwrap();
    bob.joined(&room).await;
    carol.joined(&room).await;
    bob.shut().await;

    let kept = alice.engine.send_text(room, "the draft").await.unwrap();
    alice.engine.edit(room, kept, "the final text").await.unwrap();
    let gone = alice.engine.send_text(room, "sent to the wrong room").await.unwrap();
    alice.engine.delete(room, gone).await.unwrap();
    alice.engine.react(room, kept, "👍").await.unwrap();
    alice.settle().await;
    // A second reaction to the same message, in the same delivery.
    carol.wait(|e| matches!(e, Event::Message(m) if m.id == kept)).await;
    carol.engine.react(room, kept, "🎉").await.unwrap();
    carol.settle().await;

    bob.reopen().await;
    let messages = bob.engine.messages(&room, 10).await.unwrap();
    let events = bob.drain();
    let refused: Vec<_> =
        events.iter().filter(|e| matches!(e, Event::Alert(belfry_client::Alert::Rejected { .. }))).collect();
    assert!(refused.is_empty(), "{refused:?}");
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!((messages[0].id, messages[0].body.as_str()), (kept, "the final text"));
    let reactions = bob.engine.reactions(&kept).unwrap();
    assert_eq!(reactions.get("alice").map(String::as_str), Some("👍"), "{reactions:?}");
    assert_eq!(reactions.get("carol").map(String::as_str), Some("🎉"), "{reactions:?}");
    assert!(bob.engine.search("wrong", 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_sees_delivered_then_read() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Direct, "a-b", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    let id = alice.engine.send_text(room, "please confirm").await.unwrap();
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Sent)).await;
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Delivered)).await;
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    bob.engine.mark_read(room, id).await.unwrap();
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Read)).await;
    let mine = alice.engine.messages(&room, 10).await.unwrap();
    assert_eq!(mine.iter().find(|m| m.id == id).map(|m| m.status), Some(MessageStatus::Read));
    // Bob's own copy says read too; a receipt never moves a status back.
    let his = bob.engine.messages(&room, 10).await.unwrap();
    assert_eq!(his.iter().find(|m| m.id == id).map(|m| m.status), Some(MessageStatus::Read));
}

/// Each room is stored on its own (one row per room): after a restart
/// every room is there with its state, and a change to one room leaves the
/// others as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_survive_a_restart_each_with_its_own_state() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let mut made = Vec::new();
    for name in ["Cabinet", "Budget", "Travel"] {
        made.push(alice.engine.create_room(RoomKind::Group, name, std::slice::from_ref(&bob_id)).await.unwrap());
    }
    alice.engine.set_classification(made[1], Some("SECRET")).await.unwrap();
    alice.reopen().await;
    let mut rooms = alice.engine.rooms().await.unwrap();
    rooms.sort_by_key(|r| r.name.clone());
    let summary: Vec<(String, Option<String>, usize)> =
        rooms.iter().map(|r| (r.name.clone(), r.classification.clone(), r.members.len())).collect();
    assert_eq!(
        summary,
        vec![
            ("Budget".to_string(), Some("SECRET".to_string()), 2),
            ("Cabinet".to_string(), None, 2),
            ("Travel".to_string(), None, 2)
        ]
    );
}
