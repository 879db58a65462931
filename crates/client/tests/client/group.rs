//! Several people and devices, group and direct rooms, many messages.

use crate::support::*;
use belfry_client::{Alert, Event};
use belfry_protocol::room::RoomKind;
use belfry_protocol::{MessageId, RoomId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Waits until every device holds exactly `expected` in each room.
async fn converge(
    devs: &[&Dev],
    rooms: &BTreeMap<RoomId, Vec<usize>>,
    expected: &BTreeMap<RoomId, BTreeSet<MessageId>>,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut missing = Vec::new();
        for (room, members) in rooms {
            for &i in members {
                let have: BTreeSet<MessageId> =
                    devs[i].engine.messages(room, 100_000).await.unwrap().into_iter().map(|m| m.id).collect();
                let want = &expected[room];
                if &have != want {
                    missing.push((i, *room, want.difference(&have).count(), have.difference(want).count()));
                }
            }
        }
        if missing.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "devices never converged: (device, room, missing, extra) {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_people_five_devices_a_thousand_messages_same_history_everywhere() {
    let relay = TestRelay::start();
    // Alice has two laptops.
    let mut devs = [
        Dev::enroll(&relay, "alice", "Alice office").await,
        Dev::enroll(&relay, "alice", "Alice travel").await,
        Dev::enroll(&relay, "bob", "Bob laptop").await,
        Dev::enroll(&relay, "carol", "Carol laptop").await,
        Dev::enroll(&relay, "bob", "Bob desk").await,
    ];
    let users: Vec<_> = futures_util::future::join_all(devs.iter().map(|d| d.engine.user()))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let (alice, bob, carol) = (users[0].clone(), users[2].clone(), users[3].clone());
    let group =
        devs[0].engine.create_room(RoomKind::Group, "Crisis cell", &[bob.clone(), carol.clone()]).await.unwrap();
    let ab = devs[0].engine.create_room(RoomKind::Direct, "alice-bob", std::slice::from_ref(&bob)).await.unwrap();
    let bc = devs[2].engine.create_room(RoomKind::Direct, "bob-carol", std::slice::from_ref(&carol)).await.unwrap();
    let mut rooms: BTreeMap<RoomId, Vec<usize>> = BTreeMap::new();
    rooms.insert(group, vec![0, 1, 2, 3, 4]);
    rooms.insert(ab, vec![0, 1, 2, 4]);
    rooms.insert(bc, vec![2, 3, 4]);
    // Every device learns every room before the load starts.
    for (room, members) in &rooms {
        for &i in members {
            devs[i].joined(room).await;
        }
    }
    let mut expected: BTreeMap<RoomId, BTreeSet<MessageId>> = rooms.keys().map(|r| (*r, BTreeSet::new())).collect();
    let room_list: Vec<(RoomId, Vec<usize>)> = rooms.clone().into_iter().collect();
    for n in 0..1000u32 {
        let (room, members) = &room_list[rand::random::<u32>() as usize % room_list.len()];
        let sender = members[rand::random::<u32>() as usize % members.len()];
        let id = devs[sender].engine.send_text(*room, &format!("message {n} from device {sender}")).await.unwrap();
        expected.get_mut(room).unwrap().insert(id);
    }
    let refs: Vec<&Dev> = devs.iter().collect();
    converge(&refs, &rooms, &expected).await;
    // Zero undecryptable messages, and no refused items, anywhere.
    for (i, dev) in devs.iter_mut().enumerate() {
        loop {
            let e = match dev.events.try_recv() {
                Ok(e) => e,
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    panic!("device {i}: {n} events unchecked")
                }
                Err(_) => break,
            };
            if let Event::Alert(a) = &e {
                assert!(
                    !matches!(
                        a,
                        Alert::Undecryptable { .. }
                            | Alert::Rejected { .. }
                            | Alert::StateConflict { .. }
                            | Alert::Delivery { .. }
                    ),
                    "device {i}: {a:?}"
                );
            }
        }
        assert_eq!(dev.engine.pending_count().unwrap(), 0, "device {i} still has queued messages");
    }
    let _ = alice;
}

impl TestRelay {
    /// The hostile (or broken) relay cannot answer for `user`'s devices:
    /// it lists a device row its own storage cannot read, so every fetch
    /// naming that user fails on the relay.
    fn break_device_list(&self, user: &str) {
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.execute(
            "INSERT INTO devices (user, device, ed25519, chain, enrolled_at) VALUES (?1, 'BROKEN', x'00', 'not a blob', 0)",
            rusqlite::params![user],
        )
        .unwrap();
    }

    fn repair_device_list(&self, user: &str) {
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.execute("DELETE FROM devices WHERE user = ?1 AND device = 'BROKEN'", rusqlite::params![user]).unwrap();
    }
}

/// Issue 11 item 13: one failing request never blocks other rooms. The
/// relay refuses every fetch of Carol's devices; the room Alice shares
/// with Carol waits (its messages stay queued, in order, and Alice is told
/// which room and why), while her message to Bob in another room goes out.
/// Once the relay answers again, the held room's messages leave too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_whose_device_fetch_fails_does_not_hold_up_other_rooms() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    relay.break_device_list("carol");
    let carol: belfry_protocol::UserId = belfry_protocol::UserId::new("carol").unwrap();
    let stuck = alice.engine.create_room(RoomKind::Group, "Stuck", std::slice::from_ref(&carol)).await.unwrap();
    let held = alice.engine.send_text(stuck, "for carol").await.unwrap();
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Direct, "chat", std::slice::from_ref(&bob_id)).await.unwrap();
    let hello = alice.engine.send_text(room, "hello bob").await.unwrap();
    bob.joined(&room).await;
    bob.has_message(&room, hello).await;
    let told = alice
        .wait(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("\"Stuck\"") && detail.contains("wait")))
        .await;
    // Told once: another pass (another send) fails the same way, silently.
    let more = alice.engine.send_text(room, "still there?").await.unwrap();
    bob.has_message(&room, more).await;
    let again: Vec<Event> = alice
        .events_until_quiet(Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("\"Stuck\"")))
        .collect();
    assert!(again.is_empty(), "{again:?}");
    // The held room's intents are still queued; its message still pending.
    assert!(alice.engine.pending_count().unwrap() > 0, "{told:?}");
    let mine = alice.engine.messages(&stuck, 10).await.unwrap();
    assert_eq!(mine.iter().find(|m| m.id == held).map(|m| m.status), Some(belfry_store::MessageStatus::Pending));
    // The relay answers again: the next flush (here: another send) takes them.
    relay.repair_device_list("carol");
    alice.engine.send_text(room, "again").await.unwrap();
    alice.settle().await;
    let mine = alice.engine.messages(&stuck, 10).await.unwrap();
    assert_eq!(mine.iter().find(|m| m.id == held).map(|m| m.status), Some(belfry_store::MessageStatus::Sent));
}
