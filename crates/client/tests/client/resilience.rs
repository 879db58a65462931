//! Offline devices, relay crashes, client crashes.

use crate::support::*;
use belfry_protocol::MessageId;
use belfry_protocol::room::RoomKind;
use std::collections::BTreeSet;
use std::time::Duration;

async fn wait_for_ids(dev: &Dev, room: &belfry_protocol::RoomId, want: &BTreeSet<MessageId>, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let have: BTreeSet<MessageId> =
            dev.engine.messages(room, 100_000).await.unwrap().into_iter().map(|m| m.id).collect();
        if want.is_subset(&have) {
            assert_eq!(have.len(), want.len(), "{what}: unexpected extra messages");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {} of {} messages after 90 s",
            want.intersection(&have).count(),
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_device_catches_up_and_a_relay_crash_loses_nothing() {
    let mut relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut bob_desk = Dev::enroll(&relay, "bob", "Bob desk").await;
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Group, "Briefing", std::slice::from_ref(&bob_id)).await.unwrap();
    for d in [&bob, &bob_desk] {
        d.joined(&room).await;
    }
    // Bob's desk is switched off for the next 500 messages.
    bob_desk.shut().await;
    let mut sent = BTreeSet::new();
    for n in 0..500u32 {
        if n == 250 {
            // The relay dies mid-stream and comes back.
            relay.kill9();
            tokio::time::sleep(Duration::from_millis(300)).await;
            relay.spawn();
        }
        sent.insert(alice.engine.send_text(room, &format!("update {n}")).await.unwrap());
    }
    // Everything is acknowledged in the end...
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while alice.engine.pending_count().unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice still has {} queued",
            alice.engine.pending_count().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // ...and reaches the device that stayed on, once each,
    wait_for_ids(&bob, &room, &sent, "bob's laptop").await;
    // and the one that was off, once it is back.
    bob_desk.reopen().await;
    wait_for_ids(&bob_desk, &room, &sent, "bob's desk").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_killed_mid_send_resends_without_duplicates_or_reused_keys() {
    use belfry_client::{Alert, Event};
    use std::process::{Command, Stdio};
    const BELFRY: &str = env!("CARGO_BIN_EXE_belfry");
    let relay = TestRelay::start();
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let home = tempfile::tempdir().unwrap();
    let alice = home.path().join("alice");
    let cli = |args: &[&str]| {
        let mut c = Command::new(BELFRY);
        c.arg("--profile")
            .arg(&alice)
            .args(["--passphrase-env", "P", "--timeout", "20", "--json"])
            .args(args)
            .env("P", "alice passphrase")
            .env("BELFRY_TEST_FAST_KDF", "1");
        c
    };
    let invitation = relay.invite("alice");
    let inv_path = home.path().join("alice.belfry-invite");
    {
        use belfry_protocol::Wire as _;
        use belfry_protocol::armor::{INVITATION_LABEL, armor};
        std::fs::write(&inv_path, armor(INVITATION_LABEL, &invitation.encode())).unwrap();
    }
    let org = relay.org.public().to_base64();
    let out = cli(&["enroll", inv_path.to_str().unwrap(), "--org-key", &org]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&["create", "--direct", "bob"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let room: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').rfind(|l| !l.is_empty()).unwrap()).unwrap();
    let room_id = room["id"].as_str().unwrap().to_owned();

    // Twenty sends, each killed with SIGKILL at a random moment.
    for n in 0..20u32 {
        let mut child = cli(&["send", &room_id, &format!("attempt {n}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(u64::from(rand::random::<u32>() % 400))).await;
        let _ = child.kill();
        let _ = child.wait();
    }
    // A last, uninterrupted send flushes everything queued before it.
    let out = cli(&["send", &room_id, "final"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&["read", &room_id, "--limit", "1000"]).output().unwrap();
    let mine: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("body").is_some())
        .collect();
    assert!(
        mine.iter().all(|m| ["sent", "delivered", "read"].contains(&m["status"].as_str().unwrap_or(""))),
        "alice has unsent messages: {mine:?}"
    );
    let want: BTreeSet<MessageId> =
        mine.iter().map(|m| MessageId::from_hex(m["id"].as_str().unwrap()).unwrap()).collect();
    assert!(want.len() > 1, "no interrupted send was ever stored: {mine:?}");

    // Bob gets each stored message exactly once; a reused Megolm index
    // would show as a replay (undecryptable) alert.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rooms = bob.engine.rooms().await.unwrap();
        if let Some(r) = rooms.first() {
            let have: BTreeSet<MessageId> =
                bob.engine.messages(&r.id, 1000).await.unwrap().into_iter().map(|m| m.id).collect();
            if have == want {
                break;
            }
            assert!(
                have.is_subset(&want),
                "bob has messages alice does not: {:?}",
                have.difference(&want).collect::<Vec<_>>()
            );
        }
        assert!(tokio::time::Instant::now() < deadline, "bob never received all of alice's messages");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    loop {
        match bob.events.try_recv() {
            Ok(Event::Alert(a)) => assert!(
                !matches!(a, Alert::Undecryptable { .. } | Alert::Rejected { .. } | Alert::Delivery { .. }),
                "{a:?}"
            ),
            Ok(_) => {}
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => panic!("events unchecked"),
            Err(_) => break,
        }
    }
    println!("{} of 21 sends were stored and delivered exactly once", want.len());
}

/// The connection breaks while a device enrolls (hotel Wi-Fi): the engine
/// tries again and the device is enrolled; the relay answers a repeated
/// enrollment of the same device as the first time (tested in the relay's
/// own tests), so a lost answer does not spend the invitation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrollment_cut_off_midway_is_retried() {
    let relay = TestRelay::start();
    let proxy = crate::files::CuttingProxy::start(&relay, 1).await;
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll_at(&relay, "bob", "Bob laptop", &proxy.url).await;
    assert!(proxy.cut.load(std::sync::atomic::Ordering::SeqCst), "the enrollment was never cut");
    let room = bob.engine.create_room(RoomKind::Direct, "Desk", &[alice.engine.user().await.unwrap()]).await.unwrap();
    let id = bob.engine.send_text(room, "enrolled despite the cut").await.unwrap();
    alice.wait(|e| matches!(e, belfry_client::Event::Message(m) if m.id == id)).await;
}

/// Once the engine is shut down and its last handle dropped, no file of the
/// profile stays open: every background task ends with the engine (they
/// used to keep it, and its database, open until the process exited).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_engine_lets_go_of_its_profile() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = alice.engine.create_room(RoomKind::Direct, "Desk", &[bob.engine.user().await.unwrap()]).await.unwrap();
    alice.engine.send_text(room, "something to store").await.unwrap();
    alice.settle().await;
    let profile = alice.profile_dir().to_owned();
    let open_files = || {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.starts_with(&profile))
            .count()
    };
    assert!(open_files() > 0, "the test cannot see the profile's open files");
    alice.shut().await;
    drop(alice);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while open_files() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "{} profile files still open after shutdown", open_files());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Locking closes the store (calls fail with a clear error) and nothing is
/// lost: unlocking (opening the profile again) finds everything, and what
/// arrived while locked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_then_unlock_keeps_everything() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = alice.engine.create_room(RoomKind::Direct, "Desk", &[bob.engine.user().await.unwrap()]).await.unwrap();
    let before = alice.engine.send_text(room, "before the lock").await.unwrap();
    alice.settle().await;
    // Bob holds the room before he writes in it (he gets it asynchronously).
    bob.joined(&room).await;
    alice.engine.lock().await;
    let refused = alice.engine.send_text(room, "while locked").await;
    assert!(refused.is_err(), "a locked engine must not write");
    let while_locked = bob.engine.send_text(room, "sent while alice was locked").await.unwrap();
    bob.settle().await;
    alice.reopen().await;
    let ids: Vec<MessageId> = alice.engine.messages(&room, 10).await.unwrap().into_iter().map(|m| m.id).collect();
    assert!(ids.contains(&before) && ids.contains(&while_locked), "{ids:?}");
}

/// The attack: a locked laptop is stolen, or its memory disclosed. Locking
/// drops the profile's keys: every handle answers `Locked`, and the pickle
/// key (which opens every pickled session) is no longer anywhere in this
/// process's writable memory.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_drops_the_keys_and_every_handle_answers_locked() {
    use belfry_client::ClientError;
    use belfry_store::Store as _;
    use belfry_store::testing::memory_occurrences;
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = alice.engine.create_room(RoomKind::Direct, "Desk", &[bob.engine.user().await.unwrap()]).await.unwrap();
    alice.engine.send_text(room, "before the lock").await.unwrap();
    // The pickle key, read through a second connection into the buffer the
    // scan looks for (and skips); the second store wipes what it frees.
    let needle = {
        let store = belfry_client::profile::Profile::new(alice.profile_dir()).open(&key_source()).unwrap();
        zeroize::Zeroizing::new(store.value("pickle-key").unwrap().unwrap())
    };
    let mut buf = vec![0u8; 1 << 20];
    assert!(!memory_occurrences(&needle, &mut buf).is_empty(), "the scan cannot see the engine's memory");

    let other = alice.engine.clone();
    alice.engine.lock().await;
    assert!(matches!(other.rooms().await, Err(ClientError::Locked)));
    assert!(matches!(other.send_text(room, "while locked").await, Err(ClientError::Locked)));
    assert!(matches!(other.user().await, Err(ClientError::Locked)));
    // Calls that read only the (closed) store say "locked" too.
    assert!(matches!(other.messages(&room, 10).await, Err(ClientError::Locked)));
    assert!(matches!(other.search("locked", 10).await, Err(ClientError::Locked)));
    assert!(matches!(other.pending_count(), Err(ClientError::Locked)));
    let left = memory_occurrences(&needle, &mut buf);
    assert!(left.is_empty(), "the pickle key is still in memory at {} places after lock: {left:x?}", left.len());
}

/// A profile in a format this build does not read is refused with a clear
/// error, never half-read (rooms or queued messages silently missing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_in_another_format_is_refused_clearly() {
    use belfry_store::{Batch, Op, Store as _};
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    alice.shut().await;
    let profile = belfry_client::profile::Profile::new(alice.profile_dir());
    for (format, says) in [(0u8, "pre-release"), (99, "newer Belfry")] {
        let store = profile.open(&key_source()).unwrap();
        store.commit(Batch::new().with(Op::PutValue { key: "engine-format".into(), value: vec![format] })).unwrap();
        drop(store);
        let refused =
            belfry_client::Engine::open(belfry_client::profile::Profile::new(alice.profile_dir()), &key_source())
                .await
                .map(|_| ())
                .unwrap_err()
                .to_string();
        assert!(refused.contains(says), "{refused}");
    }
}

/// The sending half of the next test, run in a child process that the test
/// kills: queues a burst of messages, faster than one per millisecond.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_sender_killed_mid_run_and_restarted_at_once_keeps_megolm_order"]
async fn child_busy_sender() {
    let (Ok(profile), Ok(room)) = (std::env::var("BELFRY_TEST_PROFILE"), std::env::var("BELFRY_TEST_ROOM")) else {
        return;
    };
    let room = belfry_protocol::RoomId::from_hex(&room).unwrap();
    belfry_client::hardening::harden_process();
    let profile = belfry_client::profile::Profile::new(std::path::Path::new(&profile));
    let engine = belfry_client::Engine::open(profile, &key_source()).await.unwrap();
    let sends = (0..1500u32).map(|n| {
        let engine = engine.clone();
        async move { engine.send_text(room, &format!("burst {n}")).await.unwrap() }
    });
    futures_util::future::join_all(sends).await;
    println!("QUEUED");
    tokio::time::sleep(Duration::from_secs(600)).await;
}

/// A sender killed (SIGKILL) in the middle of a busy run and restarted at
/// once publishes every Megolm session's messages in index order: what was
/// encrypted before the crash goes before what is encrypted after it. (The
/// outbox used to be ordered by a clock stamp that a busy run pushes ahead
/// of the clock and a restart resets, so newer ciphertext overtook older
/// ciphertext, and receivers blamed the relay for withholding messages.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_mid_run_and_restarted_at_once_keeps_megolm_order() {
    use belfry_client::{Alert, Event};
    use std::io::BufRead as _;
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_device = bob.engine.device_id().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Direct, "Desk", &[bob.engine.user().await.unwrap()]).await.unwrap();
    bob.joined(&room).await;
    alice.settle().await;
    // Bob is off: the relay keeps everything for him, in arrival order.
    bob.shut().await;
    let mark = relay.mark("bob", bob_device.as_str());
    alice.shut().await;

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "resilience::child_busy_sender", "--nocapture"])
        .env("BELFRY_TEST_PROFILE", alice.profile_dir())
        .env("BELFRY_TEST_ROOM", room.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(lines.by_ref().map_while(Result::ok).any(|l| l.contains("QUEUED")), "the child never queued its messages");
    // Mid-run: some of the burst is encrypted, some published, most queued.
    tokio::time::sleep(Duration::from_millis(400)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    // Restarted at once; it finishes the burst and sends more.
    alice.restart().await;
    for n in 0..20 {
        alice.engine.send_text(room, &format!("after the crash {n}")).await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while alice.engine.pending_count().unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "alice still has {} queued",
            alice.engine.pending_count().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The relay received each session's ciphertexts in index order.
    let items = relay.room_items_since("bob", bob_device.as_str(), mark);
    assert!(items.len() > 20, "only {} room messages reached the relay", items.len());
    let mut last: std::collections::HashMap<belfry_protocol::Ed25519Public, u32> = Default::default();
    for (_, m) in &items {
        let index = vodozemac::megolm::MegolmMessage::from_bytes(&m.ciphertext).unwrap().message_index();
        if let Some(prev) = last.insert(m.session, index) {
            assert!(index > prev, "message {index} of a session reached the relay after message {prev}");
        }
    }

    // Bob reads everything and is told of no withheld or late message.
    bob.reopen().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while bob.engine.messages(&room, 100_000).await.unwrap().len() < items.len() {
        assert!(tokio::time::Instant::now() < deadline, "bob never read everything");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for e in bob.drain() {
        assert!(!matches!(e, Event::Alert(Alert::Delivery { .. })), "false delivery alert: {e:?}");
    }
}
