//! The timeline a front end reads: pages of history, a page around a
//! search hit, room summaries with unread counts, replies, edits,
//! reactions and receipts per member, and sending a failed message again.

use crate::support::*;
use belfry_client::{Event, ReactionView};
use belfry_protocol::MessageId;
use belfry_protocol::room::RoomKind;
use belfry_store::MessageStatus;
use std::collections::BTreeSet;
use std::time::Duration;

/// Polls `cond` (an expression that may await) until it holds (30 s at most).
macro_rules! eventually {
    ($what:expr, $cond:expr) => {{
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !$cond {
            assert!(tokio::time::Instant::now() < deadline, "never: {}", $what);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }};
}

/// A relay, Alice and Bob, and a room of `kind` Alice made with Bob, who
/// has joined it.
async fn alice_and_bob(kind: RoomKind) -> (TestRelay, Dev, Dev, belfry_protocol::UserId, belfry_protocol::RoomId) {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(kind, "a-b", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    (relay, alice, bob, bob_id, room)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_a_thousand_messages_have_no_gap_and_no_repeat() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Group, "Archive", std::slice::from_ref(&bob_id)).await.unwrap();
    let other = alice.engine.create_room(RoomKind::Group, "Other", std::slice::from_ref(&bob_id)).await.unwrap();
    // Sent as fast as they go: many share a millisecond (ordered by id).
    let mut sent = Vec::new();
    for i in 0..1000 {
        sent.push(alice.engine.send_text(room, &format!("m{i}")).await.unwrap());
        if i % 100 == 0 {
            alice.engine.send_text(other, "elsewhere").await.unwrap();
        }
    }
    // Pages of 37 back from the newest, each oldest first.
    let mut seen: Vec<MessageId> = Vec::new();
    let mut before = None;
    loop {
        let page = alice.engine.messages_before(&room, before, 37).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 37);
        assert!(page.windows(2).all(|w| (w[0].sent_at, w[0].id) < (w[1].sent_at, w[1].id)), "a page out of order");
        assert!(page.iter().all(|m| m.room == room));
        before = Some(page[0].id);
        let mut ids: Vec<MessageId> = page.iter().map(|m| m.id).collect();
        ids.extend(seen);
        seen = ids;
        // A message arriving meanwhile changes no older page.
        alice.engine.send_text(other, "meanwhile").await.unwrap();
    }
    assert_eq!(seen.len(), 1000);
    // One sender's messages in the order written, however fast.
    assert_eq!(seen, sent);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>(), sent.iter().collect::<BTreeSet<_>>(), "a gap or a repeat");
    // The same order as the newest 2,000 read at once.
    let all: Vec<MessageId> = alice.engine.messages(&room, 2000).await.unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(all, seen);
    // Around a hit: the hit in the middle, its neighbours on both sides.
    let hit = seen[500];
    let around = alice.engine.messages_around(&room, hit, 11).await.unwrap();
    let ids: Vec<MessageId> = around.iter().map(|m| m.id).collect();
    assert_eq!(ids, seen[495..506].to_vec());
    // At the very end there is nothing newer: all of it comes from before.
    let last = *seen.last().unwrap();
    let around = alice.engine.messages_around(&room, last, 11).await.unwrap();
    assert_eq!(around.iter().map(|m| m.id).collect::<Vec<_>>(), seen[seen.len() - 11..].to_vec());
    // A message of another room is no anchor here.
    let elsewhere = alice.engine.messages_before(&other, None, 1).await.unwrap()[0].id;
    assert!(alice.engine.messages_before(&room, Some(elsewhere), 10).await.is_err());
    assert!(alice.engine.messages_around(&room, elsewhere, 10).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_follow_mark_read_and_never_count_own_messages() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    // Alice's second device gets her messages too: never unread there.
    let mut phone = Dev::enroll(&relay, "alice", "Alice phone").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let quiet = alice.engine.create_room(RoomKind::Group, "Quiet", std::slice::from_ref(&bob_id)).await.unwrap();
    let room = alice.engine.create_room(RoomKind::Direct, "a-b", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&quiet).await;
    bob.joined(&room).await;
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        ids.push(alice.engine.send_text(room, text).await.unwrap());
    }
    for id in &ids {
        bob.has_message(&room, *id).await;
    }
    // Sent in one burst (often in one millisecond, encrypted together):
    // shown as written, on both sides.
    for dev in [&alice, &bob] {
        let shown: Vec<MessageId> =
            dev.engine.messages_before(&room, None, 10).await.unwrap().into_iter().map(|m| m.id).collect();
        assert_eq!(shown, ids);
    }
    let summaries = bob.engine.room_summaries().await.unwrap();
    // The busier room first; its last message is the newest.
    assert_eq!(summaries[0].room.id, room);
    assert_eq!(summaries[0].last.as_ref().map(|m| m.id), Some(ids[2]));
    assert_eq!((summaries[0].unread, summaries[1].unread), (3, 0));
    assert!(summaries[0].last_activity >= summaries[1].last_activity);
    assert_eq!(summaries[0].read_up_to, None);
    // Alice's own messages are never unread for her, on either device.
    let hers = alice.engine.room_summaries().await.unwrap();
    assert!(hers.iter().all(|s| s.unread == 0), "{hers:?}");
    phone.joined(&room).await;
    for id in &ids {
        phone.has_message(&room, *id).await;
    }
    let on_phone = phone.engine.room_summaries().await.unwrap();
    assert!(on_phone.iter().all(|s| s.unread == 0), "{on_phone:?}");

    bob.engine.mark_read(room, ids[1]).await.unwrap();
    let s = bob.engine.room_summaries().await.unwrap();
    let s = s.iter().find(|s| s.room.id == room).unwrap();
    assert_eq!((s.unread, s.read_up_to), (1, Some(ids[1])));
    // Marking an older message read moves nothing back.
    bob.engine.mark_read(room, ids[0]).await.unwrap();
    let s = bob.engine.room_summaries().await.unwrap();
    let s = s.iter().find(|s| s.room.id == room).unwrap();
    assert_eq!((s.unread, s.read_up_to), (1, Some(ids[1])));
    // Bob writes: his own message is not unread for him, and it is for Alice.
    let answer = bob.engine.send_text(room, "answer").await.unwrap();
    bob.settle().await;
    let s = bob.engine.room_summaries().await.unwrap();
    assert_eq!(s[0].room.id, room);
    assert_eq!((s[0].unread, s[0].last.as_ref().map(|m| m.id)), (1, Some(answer)));
    eventually!("Alice has one unread", {
        alice.engine.room_summaries().await.unwrap().iter().find(|s| s.room.id == room).unwrap().unread == 1
    });
    // The read receipts reached Alice: the first two read by Bob, the third delivered.
    eventually!("Alice sees what Bob read", {
        let mine = alice.engine.messages_before(&room, None, 10).await.unwrap();
        let receipt = |id: MessageId| {
            mine.iter().find(|m| m.id == id).and_then(|m| m.receipts.iter().find(|r| r.user == bob_id)).map(|r| r.read)
        };
        receipt(ids[0]) == Some(true) && receipt(ids[1]) == Some(true) && receipt(ids[2]) == Some(false)
    });
    // Alice's other device sees the same receipts on her messages.
    eventually!("the phone sees what Bob read", {
        let mine = phone.engine.messages_before(&room, None, 10).await.unwrap();
        let receipt = |id: MessageId| {
            mine.iter().find(|m| m.id == id).and_then(|m| m.receipts.iter().find(|r| r.user == bob_id)).map(|r| r.read)
        };
        receipt(ids[0]) == Some(true) && receipt(ids[1]) == Some(true)
    });
    bob.engine.mark_read(room, answer).await.unwrap();
    let s = bob.engine.room_summaries().await.unwrap();
    assert_eq!((s[0].unread, s[0].read_up_to), (0, Some(answer)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_and_receipts_of_two_members() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (bob_id, carol_id) = (bob.engine.user().await.unwrap(), carol.engine.user().await.unwrap());
    let room = alice.engine.create_room(RoomKind::Group, "Desk", &[bob_id.clone(), carol_id.clone()]).await.unwrap();
    bob.joined(&room).await;
    carol.joined(&room).await;
    let id = alice.engine.send_text(room, "approve?").await.unwrap();
    bob.has_message(&room, id).await;
    carol.has_message(&room, id).await;
    bob.engine.react(room, id, "👍").await.unwrap();
    carol.engine.react(room, id, "👍").await.unwrap();
    bob.engine.mark_read(room, id).await.unwrap();
    bob.settle().await;
    carol.settle().await;
    let thumbs = vec![ReactionView { key: "👍".into(), users: vec![bob_id.clone(), carol_id.clone()] }];
    eventually!("both reactions and receipts at Alice", {
        let m = &alice.engine.messages_before(&room, None, 1).await.unwrap()[0];
        let receipts: Vec<(String, bool)> = m.receipts.iter().map(|r| (r.user.to_string(), r.read)).collect();
        m.reactions == thumbs && receipts == vec![("bob".to_string(), true), ("carol".to_string(), false)]
    });
    // Carol changes hers: one entry per key, sorted by key.
    carol.engine.react(room, id, "🎉").await.unwrap();
    carol.settle().await;
    let want = vec![
        ReactionView { key: "👍".into(), users: vec![bob_id.clone()] },
        ReactionView { key: "🎉".into(), users: vec![carol_id.clone()] },
    ];
    let mut want_sorted = want.clone();
    want_sorted.sort_by(|a, b| a.key.cmp(&b.key));
    eventually!("Carol's new reaction at Alice", {
        alice.engine.messages_before(&room, None, 1).await.unwrap()[0].reactions == want_sorted
    });
    // The same on Bob's side; receipts are only for one's own messages.
    let at_bob = &bob.engine.messages_around(&room, id, 5).await.unwrap()[0];
    assert!(at_bob.receipts.is_empty());
    eventually!("Carol's reaction at Bob", {
        bob.engine.messages_before(&room, None, 1).await.unwrap()[0].reactions == want_sorted
    });
    // A later receipt of the same member never moves back: Carol reads it.
    carol.engine.mark_read(room, id).await.unwrap();
    eventually!("Carol's read receipt at Alice", {
        let m = &alice.engine.messages_before(&room, None, 1).await.unwrap()[0];
        m.receipts.iter().all(|r| r.read) && m.receipts.len() == 2
    });
    drop(bob.drain());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_point_at_their_target_and_edits_are_flagged() {
    let (_relay, alice, mut bob, bob_id, room) = alice_and_bob(RoomKind::Group).await;
    let first = alice.engine.send_text(room, "Draft v1").await.unwrap();
    let second = alice.engine.send_text(room, "unchanged").await.unwrap();
    bob.has_message(&room, first).await;
    bob.has_message(&room, second).await;
    bob.engine.react(room, first, "👀").await.unwrap();
    alice.engine.edit(room, first, "Draft v2").await.unwrap();
    // The edited message in full: its reactions too.
    let edited = bob.wait(|e| matches!(e, Event::Message(m) if m.id == first && m.body == "Draft v2")).await;
    let Event::Message(edited) = edited else { unreachable!() };
    assert!(edited.edited);
    assert_eq!(edited.reactions, vec![ReactionView { key: "👀".into(), users: vec![bob_id.clone()] }]);
    for dev in [&alice, &bob] {
        let page = dev.engine.messages_before(&room, None, 10).await.unwrap();
        let flag = |id| page.iter().find(|m| m.id == id).map(|m| (m.body.clone(), m.edited));
        assert_eq!(flag(first), Some(("Draft v2".to_string(), true)));
        assert_eq!(flag(second), Some(("unchanged".to_string(), false)));
    }
    let reply = bob.engine.reply(room, first, "Looks good").await.unwrap();
    bob.settle().await;
    eventually!("the reply at Alice", {
        alice.engine.messages_before(&room, None, 10).await.unwrap().iter().any(|m| m.id == reply)
    });
    for dev in [&alice, &bob] {
        let page = dev.engine.messages_before(&room, None, 10).await.unwrap();
        let m = page.iter().find(|m| m.id == reply).unwrap();
        // The text alone, the target as data; still found by search.
        assert_eq!((m.body.as_str(), m.reply_to, m.edited), ("Looks good", Some(first), false));
        let hits = dev.engine.search("looks", 10).await.unwrap();
        assert_eq!(hits.iter().map(|m| (m.id, m.reply_to)).collect::<Vec<_>>(), vec![(reply, Some(first))]);
    }
    // A reply to a message that is not in the room is refused.
    assert!(bob.engine.reply(room, MessageId([9; 16]), "to nothing").await.is_err());
}

impl TestRelay {
    /// The hostile relay pretends `user`'s devices do not exist (publishes
    /// to them are refused: "no enrolled device"), or stops pretending.
    fn hide_devices(&self, user: &str, hidden: bool) {
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        let (from, to) = if hidden { ("", "hidden-") } else { ("hidden-", "") };
        db.execute(
            "UPDATE devices SET device = ?3 || substr(device, length(?2) + 1) WHERE user = ?1",
            rusqlite::params![user, from, to],
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_message_is_sent_again_by_retry() {
    let (relay, mut alice, mut bob, _, room) = alice_and_bob(RoomKind::Direct).await;
    let first = alice.engine.send_text(room, "first").await.unwrap();
    bob.has_message(&room, first).await;
    alice.settle().await;
    // Not failed: nothing to retry.
    assert!(alice.engine.retry(first).await.is_err());

    relay.hide_devices("bob", true);
    let lost = alice.engine.send_text(room, "lost on the way").await.unwrap();
    alice.wait(|e| *e == Event::Status(lost, MessageStatus::Failed)).await;
    // Only the sender may retry, and only a failed message.
    assert!(bob.engine.retry(lost).await.is_err());
    relay.hide_devices("bob", false);
    alice.engine.retry(lost).await.unwrap();
    alice.wait(|e| *e == Event::Status(lost, MessageStatus::Sent)).await;
    bob.has_message(&room, lost).await;
    let at_bob = bob.engine.messages_before(&room, None, 10).await.unwrap();
    assert_eq!(at_bob.iter().find(|m| m.id == lost).map(|m| m.body.as_str()), Some("lost on the way"));
}

/// Reactions were kept as one named value per message before store schema
/// 9, and outlived their message. Opening such a profile moves them into
/// the table (where they go with their message) and leaves none behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_kept_the_old_way_move_into_the_store_on_open() {
    use belfry_store::{Batch, Op, Store as _};
    let (_relay, alice, mut bob, _, room) = alice_and_bob(RoomKind::Direct).await;
    let id = alice.engine.send_text(room, "vote").await.unwrap();
    bob.has_message(&room, id).await;
    bob.shut().await;
    let legacy = |pairs: &[(&str, &str)]| {
        let map: std::collections::BTreeMap<String, String> =
            pairs.iter().map(|(u, k)| (u.to_string(), k.to_string())).collect();
        postcard::to_allocvec(&map).unwrap()
    };
    let gone = MessageId([7; 16]);
    {
        let store = belfry_client::profile::Profile::new(bob.profile_dir()).open(&key_source()).unwrap();
        store
            .commit(
                Batch::new()
                    .with(Op::PutValue {
                        key: format!("reactions/{id}"),
                        value: legacy(&[("alice", "👍"), ("carol", "🎉")]),
                    })
                    .with(Op::PutValue { key: format!("reactions/{gone}"), value: legacy(&[("alice", "👀")]) })
                    .with(Op::PutValue { key: "reactions/damaged".into(), value: vec![0xff] }),
            )
            .unwrap();
    }
    bob.reopen().await;
    let reactions = bob.engine.reactions(&id).unwrap();
    assert_eq!(
        reactions.into_iter().collect::<Vec<_>>(),
        vec![("alice".to_string(), "👍".to_string()), ("carol".to_string(), "🎉".to_string())]
    );
    let shown = &bob.engine.messages_before(&room, None, 1).await.unwrap()[0];
    assert_eq!(shown.reactions.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), vec!["🎉", "👍"]);
    bob.shut().await;
    let store = belfry_client::profile::Profile::new(bob.profile_dir()).open(&key_source()).unwrap();
    assert!(store.values_with_prefix("reactions/").unwrap().is_empty());
    assert!(store.reactions(&gone).unwrap().is_empty());
}
