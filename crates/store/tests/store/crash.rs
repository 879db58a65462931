//! Crash safety: a child process commits batches in a loop (a message, the
//! account pickle, the Megolm ratchet, the seen index and the inbox cursor
//! together, as the engine does when it decrypts; sometimes an attachment
//! file) and reports each commit; it is killed with SIGKILL at random
//! points. After every kill the store opens, both integrity checks and the
//! search index check pass, every reported commit is there, no batch is
//! half applied, and no attachment file is orphaned.

use belfry_store::*;
use rand::RngExt;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KILLS: usize = 30;

fn key_hex(key_byte: u8) -> StoreKey {
    StoreKey::from_bytes([key_byte; 32])
}

const SESSION: belfry_protocol::Ed25519Public = belfry_protocol::Ed25519Public([9; 32]);

fn message_id(i: u64) -> belfry_protocol::MessageId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&i.to_be_bytes());
    belfry_protocol::MessageId(id)
}

/// Every fifth batch also stores an attachment in a file.
fn has_attachment(i: u64) -> bool {
    i.is_multiple_of(5)
}

/// One decryption's worth of writes: the message, the account and Megolm
/// ratchet state, the seen index and the inbox cursor; sometimes an
/// attachment whose file is written just before the commit.
fn batch_for(i: u64, store: &SqlStore) -> Batch {
    let mut m = belfry_store::testing::message(0, 1, &format!("crash-test message {i}"), i);
    m.id = message_id(i);
    let mut batch = Batch::new()
        .with(Op::PutMessage(m))
        .with(Op::PutAccount(i.to_be_bytes().to_vec()))
        .with(Op::PutInboundSession {
            sender: belfry_protocol::UserId::new("alice").unwrap(),
            sender_device: belfry_protocol::DeviceId::new("laptop").unwrap(),
            session: SESSION,
            room: belfry_protocol::RoomId([1; 16]),
            pickle: i.to_be_bytes().to_vec(),
        })
        .with(Op::MarkSeen { session: SESSION, index: u32::try_from(i).unwrap() })
        .with(Op::SetInboxCursor(i));
    if has_attachment(i) {
        let file = store.write_attachment_file(&mut &i.to_be_bytes()[..]).unwrap();
        let mut a = belfry_store::testing::attachment(0, 0, "crash.bin", AttachmentData::File(file));
        a.id = belfry_protocol::BlobId(message_id(i).0);
        a.message = message_id(i);
        batch.push(Op::PutAttachment(a));
    }
    batch
}

/// The child: runs until killed.
#[test]
#[ignore = "run by survives_sigkill_at_random_points as a child process"]
fn crash_child() {
    let Ok(path) = std::env::var("BELFRY_CRASH_DB") else { return };
    let store = SqlStore::open(std::path::Path::new(&path), &key_hex(0x5a)).unwrap();
    let start = store.inbox_cursor().unwrap() + 1;
    for i in start.. {
        store.commit(batch_for(i, &store)).unwrap();
        println!("committed {i}");
    }
}

#[test]
fn survives_sigkill_at_random_points() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("belfry.db");
    let mut rng = rand::rng();
    let mut reported = 0u64;
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "crash::crash_child", "--nocapture", "--test-threads=1"])
            .env("BELFRY_CRASH_DB", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| l.strip_prefix("committed ")?.parse::<u64>().ok())
                .last()
        });
        // Let it open the store and commit for a random while, then kill it.
        let deadline = Instant::now() + Duration::from_millis(rng.random_range(30..150));
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        if let Some(last) = lines.join().unwrap() {
            reported = reported.max(last);
        }

        let store =
            SqlStore::open(&path, &key_hex(0x5a)).unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        store.check_integrity().unwrap_or_else(|e| panic!("round {round}: {e}"));
        store.check_search_index().unwrap_or_else(|e| panic!("round {round}: {e}"));
        let cursor = store.inbox_cursor().unwrap();
        assert!(cursor >= reported, "round {round}: reported commit {reported} lost (cursor {cursor})");
        // The batch is all or nothing: the account pickle matches the cursor,
        // the message and the seen index of the cursor's batch are there.
        assert_eq!(store.account().unwrap(), if cursor == 0 { None } else { Some(cursor.to_be_bytes().to_vec()) });
        for i in 1..=cursor {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&i.to_be_bytes());
            assert!(
                store.message(&belfry_protocol::MessageId(id)).unwrap().is_some(),
                "round {round}: message {i} lost"
            );
        }
        assert!(store.seen(&SESSION, u32::try_from(cursor).unwrap()).unwrap() || cursor == 0);
        // The Megolm ratchet moved with the cursor, in the same batch.
        assert_eq!(
            store
                .inbound_session(
                    &belfry_protocol::UserId::new("alice").unwrap(),
                    &belfry_protocol::DeviceId::new("laptop").unwrap(),
                    &SESSION
                )
                .unwrap(),
            if cursor == 0 { None } else { Some(cursor.to_be_bytes().to_vec()) },
            "round {round}: ratchet and cursor disagree"
        );
        // Every committed attachment has its file; no file is left over from
        // a batch the kill interrupted.
        let committed_files = (1..=cursor).filter(|i| has_attachment(*i)).count();
        let on_disk = std::fs::read_dir(store.attachment_dir()).map(|d| d.count()).unwrap_or(0);
        assert_eq!(on_disk, committed_files, "round {round}: attachment files and records disagree");
        if cursor >= 5 {
            let last = cursor - cursor % 5;
            let mut content = Vec::new();
            std::io::Read::read_to_end(
                &mut store.open_attachment(&belfry_protocol::BlobId(message_id(last).0)).unwrap().unwrap(),
                &mut content,
            )
            .unwrap();
            assert_eq!(content, last.to_be_bytes());
        }
        reported = cursor;
    }
    assert!(reported > u64::try_from(KILLS).unwrap(), "the child committed too little to test anything ({reported})");
}
