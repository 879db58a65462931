//! What only the SQLCipher store must show.

use belfry_store::testing::{Backend, Sql, message};
use belfry_store::*;
use std::process::Command;

#[test]
fn wrong_key_is_a_typed_error_and_the_file_is_untouched() {
    let db = Sql::new();
    db.open().commit(Batch::new().with(Op::PutMessage(message(1, 1, "hello", 1)))).unwrap();
    let before = std::fs::read(db.path()).unwrap();
    let err = SqlStore::open(&db.path(), &StoreKey::random()).unwrap_err();
    assert!(matches!(err, StoreError::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains("wrong key"), "{err}");
    assert_eq!(std::fs::read(db.path()).unwrap(), before, "a wrong key changed the file");
    // The right key still opens it.
    assert!(SqlStore::open(&db.path(), &db.key).is_ok());
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("belfry.db");
    std::fs::write(&path, b"SQLite format 3\0 but really just text").unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(SqlStore::open(&path, &StoreKey::random()), Err(StoreError::WrongKey { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Every file under `dir`, recursively: names and contents.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        out.extend(path.file_name().unwrap().as_encoded_bytes());
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const SECRET_TEXT: &str = "Operation Nightingale moves to Vienna";
const SECRET_FILE_NAME: &str = "nightingale-plan.pdf";

/// The key both processes of `no_plaintext_at_rest` use.
fn plaintext_test_key() -> [u8; 32] {
    std::array::from_fn(|i| u8::try_from(i).unwrap() ^ 0xa5)
}

fn assert_no_plaintext(phase: &str, dirs: &[&std::path::Path], key: &[u8; 32]) {
    let bytes: Vec<u8> = dirs.iter().flat_map(|d| all_bytes(d)).collect();
    let hex_key = key.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for needle in [
        &b"Nightingale"[..],
        b"nightingale",
        b"Vienna",
        SECRET_FILE_NAME.as_bytes(),
        b"SQLite format 3",
        &key[..],
        hex_key.as_bytes(),
    ] {
        assert!(!contains(&bytes, needle), "{phase}: {:?} found on disk", String::from_utf8_lossy(needle));
    }
}

/// The writer for `no_plaintext_at_rest`: writes known text and attachment
/// names, searches (sorting in SQLite), purges, then waits to be killed
/// with the store open.
#[test]
#[ignore = "run by no_plaintext_at_rest as a child process"]
fn plaintext_writer_child() {
    let Ok(path) = std::env::var("BELFRY_PLAINTEXT_DB") else { return };
    let key = StoreKey::from_bytes(plaintext_test_key());
    let store = SqlStore::open(std::path::Path::new(&path), &key).unwrap();
    for round in 0..4u8 {
        let mut batch = Batch::new();
        for i in 0..250u8 {
            let n = round.wrapping_mul(64).wrapping_add(i);
            let mut m = message(n, 1, &format!("{SECRET_TEXT} #{round}/{i}"), u64::from(i));
            m.id.0[1] = round;
            m.id.0[15] = 0xee; // never one of the fixture ids below
            m.expires_at = (i % 2 == 0).then_some(belfry_protocol::cert::Timestamp(5));
            batch.push(Op::PutMessage(m));
        }
        store.commit(batch).unwrap();
    }
    let mut ciphertext = vec![0u8; 4096];
    rand::fill(&mut ciphertext[..]);
    let file = store.write_attachment_file(&mut &ciphertext[..]).unwrap();
    let mut batch = Batch::new().with(Op::PutMessage(message(1, 1, SECRET_TEXT, 1)));
    batch.push(Op::PutAttachment(belfry_store::testing::attachment(
        1,
        1,
        SECRET_FILE_NAME,
        AttachmentData::File(file),
    )));
    batch.push(Op::PutAttachment(belfry_store::testing::attachment(
        2,
        1,
        &format!("thumb-{SECRET_FILE_NAME}"),
        AttachmentData::Inline(vec![0x11; 300]),
    )));
    batch.push(Op::PutValue { key: "draft".into(), value: SECRET_TEXT.as_bytes().to_vec() });
    store.commit(batch).unwrap();
    assert!(store.search("nightingale vienna", 1000).unwrap().len() > 500);
    assert!(store.purge_expired(belfry_protocol::cert::Timestamp(10)).unwrap().messages > 0);
    store.commit(Batch::new().with(Op::PutMessage(message(2, 1, SECRET_TEXT, 2)))).unwrap();
    println!("ready");
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn no_plaintext_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = dir.path().join("belfry.db");
    let key = plaintext_test_key();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "sqlcipher::plaintext_writer_child", "--nocapture"])
        .env("BELFRY_PLAINTEXT_DB", &path)
        .env("TMPDIR", tmp.path())
        .env("SQLITE_TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    assert!(lines.any(|l| l.unwrap() == "ready"), "the writer did not finish");
    // Open: database, WAL, shared memory, attachment files, temporary files.
    assert!(path.with_extension("db-wal").exists(), "expected a WAL while the store is open");
    assert_no_plaintext("open", &[dir.path(), tmp.path()], &key);
    // Killed: what a crash (or a seized, running laptop's disk) leaves.
    child.kill().unwrap();
    child.wait().unwrap();
    assert_no_plaintext("killed", &[dir.path(), tmp.path()], &key);
    // Reopened (recovering the WAL), read, and closed.
    let store = SqlStore::open(&path, &StoreKey::from_bytes(key)).unwrap();
    assert_eq!(store.search("nightingale", 1000).unwrap().len(), 502);
    assert_eq!(store.attachments_of(&belfry_protocol::MessageId([1; 16])).unwrap().len(), 2);
    drop(store);
    assert_no_plaintext("closed", &[dir.path(), tmp.path()], &key);
}

#[test]
fn purged_text_leaves_the_search_index() {
    let db = Sql::new();
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    let mut gone = message(1, 1, "the zyxwvutsrqponm plan", 1);
    gone.expires_at = Some(belfry_protocol::cert::Timestamp(10));
    store
        .commit(Batch::new().with(Op::PutMessage(gone)).with(Op::PutMessage(message(2, 1, "the other plan", 2))))
        .unwrap();
    // A search brings the index up to date first (messages reach it in bulk).
    assert_eq!(store.search("zyxwvutsrqponm", 10).unwrap().len(), 1);
    assert!(contains(&store.search_index_bytes_for_tests().unwrap(), b"zyxwvutsrqponm"), "test is blind");
    assert_eq!(store.purge_expired(belfry_protocol::cert::Timestamp(10)).unwrap().messages, 1);
    // Not just hidden: the token's bytes are gone from the index itself.
    assert!(!contains(&store.search_index_bytes_for_tests().unwrap(), b"zyxwvutsrqponm"));
    store.check_search_index().unwrap();
    store.check_integrity().unwrap();
}

/// Messages reach the search index in bulk: below the batch size they wait,
/// above it a commit indexes them. Edits and deletes on either side of that
/// line keep the index exact, and a search never misses a waiting message.
#[test]
fn bulk_indexing_keeps_search_exact() {
    let db = Sql::new();
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    let id_of = |i: u32| {
        let mut id = [7u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        belfry_protocol::MessageId(id)
    };
    let mut batch = Batch::new();
    for i in 0..5000u32 {
        let mut m = message(0, 1, if i % 2 == 0 { "even kestrel" } else { "odd kestrel" }, u64::from(i));
        m.id = id_of(i);
        batch.push(Op::PutMessage(m));
        // The first commit crosses the line (4096) and is indexed at once;
        // the second stays below it and waits.
        if i == 4199 || i == 4999 {
            store.commit(std::mem::take(&mut batch)).unwrap();
        }
    }
    // Edit and delete some messages of each kind, then check the index
    // against the messages.
    let mut edits = Batch::new();
    for (i, body) in [(10u32, "edited heron"), (4990, "edited plover")] {
        let mut m = store.message(&id_of(i)).unwrap().unwrap();
        m.body = body.into();
        edits.push(Op::PutMessage(m));
    }
    for i in [12u32, 4992] {
        edits.push(Op::DeleteMessage(id_of(i)));
    }
    store.commit(edits).unwrap();
    store.check_search_index().unwrap();
    assert_eq!(store.search("kestrel", 10_000).unwrap().len(), 4996);
    assert_eq!(store.search("even kestrel", 10_000).unwrap().len(), 2496);
    assert_eq!(store.search("edited", 10_000).unwrap().len(), 2);
    // A message edited while it waited is in the index once: deleting it
    // leaves none of its tokens behind.
    store.commit(Batch::new().with(Op::DeleteMessage(id_of(4990)))).unwrap();
    assert!(!contains(&store.search_index_bytes_for_tests().unwrap(), b"plover"));
    assert!(contains(&store.search_index_bytes_for_tests().unwrap(), b"heron"), "test is blind");
    store.check_search_index().unwrap();
    store.check_integrity().unwrap();
}

#[test]
fn unreferenced_attachment_files_are_removed_on_open() {
    let db = Sql::new();
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    store.commit(Batch::new().with(Op::PutMessage(message(1, 1, "m", 1)))).unwrap();
    let kept = store.write_attachment_file(&mut &b"kept"[..]).unwrap();
    store
        .commit(Batch::new().with(Op::PutAttachment(belfry_store::testing::attachment(
            1,
            1,
            "kept.pdf",
            AttachmentData::File(kept.clone()),
        ))))
        .unwrap();
    // Written for a batch that never committed (the process died first).
    let orphan = store.write_attachment_file(&mut &b"orphan"[..]).unwrap();
    let files = store.attachment_dir().to_owned();
    std::fs::write(files.join(format!("{}.tmp", orphan.as_str())), b"half written").unwrap();
    drop(store);
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    let mut left: Vec<String> =
        std::fs::read_dir(&files).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, vec![kept.as_str().to_owned()]);
    assert!(store.open_attachment(&belfry_protocol::BlobId([1; 16])).unwrap().is_some());
}

#[test]
fn a_schema_1_database_is_migrated_with_its_history() {
    let db = Sql::new();
    let old = SqlStore::open_at_version_for_tests(&db.path(), &db.key, 1).unwrap();
    // Rows as schema 1 stored them (its triggers indexed the text).
    old.execute_batch_for_tests(
        "INSERT INTO messages (id, room, sender, sent_at, status, body, expires_at) VALUES \
         (x'01010101010101010101010101010101', x'01010101010101010101010101010101', 'alice', 10, 5, \
          'legacy embassy cable', NULL), \
         (x'02020202020202020202020202020202', x'01010101010101010101010101010101', 'alice', 20, 5, \
          'expiring embassy note', 15);",
    )
    .unwrap();
    drop(old);
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    store.check_search_index().unwrap();
    assert_eq!(store.search("embassy", 10).unwrap().len(), 2);
    assert_eq!(store.purge_expired(belfry_protocol::cert::Timestamp(15)).unwrap().messages, 1);
    assert_eq!(store.search("embassy", 10).unwrap(), vec![message(1, 1, "legacy embassy cable", 10)]);
    store.commit(Batch::new().with(Op::PutMessage(message(3, 1, "new embassy memo", 30)))).unwrap();
    assert_eq!(store.search("embassy", 10).unwrap().len(), 2);
    store.check_search_index().unwrap();
    store.check_integrity().unwrap();
}

#[test]
fn a_database_from_a_newer_belfry_is_refused() {
    let db = Sql::new();
    drop(db.open());
    {
        let conn = rusqlite_bump(&db, SCHEMA_VERSION + 1);
        drop(conn);
    }
    let err = SqlStore::open(&db.path(), &db.key).unwrap_err();
    assert!(
        matches!(err, StoreError::NewerSchema { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION),
        "{err}"
    );
}

/// Sets `user_version` through the store's own key, as a newer build would.
fn rusqlite_bump(db: &Sql, version: i64) -> SqlStore {
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    store.set_user_version_for_tests(version).unwrap();
    store
}

#[test]
fn integrity_checks_pass_and_rekey_keeps_history() {
    let db = Sql::new();
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    store.commit(Batch::new().with(Op::PutMessage(message(1, 1, "before rekey", 1)))).unwrap();
    store.check_integrity().unwrap();
    let new = StoreKey::random();
    store.rekey(&new).unwrap();
    drop(store);
    assert!(matches!(SqlStore::open(&db.path(), &db.key), Err(StoreError::WrongKey { .. })));
    let store = SqlStore::open(&db.path(), &new).unwrap();
    assert_eq!(store.search("rekey", 10).unwrap().len(), 1);
    store.check_integrity().unwrap();
}

#[test]
fn debug_never_prints_the_key() {
    let key = StoreKey::from_bytes([0x42; 32]);
    let out = format!("{key:?}");
    assert_eq!(out, "StoreKey(<redacted>)");
}

#[test]
fn debug_never_prints_message_text_attachment_names_or_keys() {
    let m = message(1, 1, "Operation Nightingale", 1);
    let a = belfry_store::testing::attachment(1, 1, "nightingale-plan.pdf", AttachmentData::Inline(vec![0x42; 8]));
    let memory = MemoryStore::new();
    memory.commit(Batch::new().with(Op::PutMessage(m.clone())).with(Op::PutAttachment(a.clone()))).unwrap();
    let sql = Sql::new();
    let store = SqlStore::open(&sql.path(), &sql.key).unwrap();
    for shown in [format!("{m:?}"), format!("{a:?}"), format!("{memory:?}"), format!("{store:?}")] {
        assert!(!shown.to_lowercase().contains("nightingale"), "{shown}");
        assert!(!shown.contains("66, 66"), "attachment bytes in {shown}");
        assert!(!shown.contains(&format!("{:?}", a.key)), "attachment key in {shown}");
    }
}

// ---- Keychain ----------------------------------------------------------------

/// Runs in a child process with no session bus (see the next test).
#[test]
#[ignore = "run by no_keychain_is_a_clear_error in a child without a session bus"]
fn child_without_session_bus() {
    let err = Keychain::new("belfry-test-no-bus").store(&StoreKey::random()).unwrap_err();
    assert!(matches!(err, StoreError::NoKeychain(_)), "{err}");
    println!("CHILD-SAW: {err}");
    // Opening a profile gives the same clear error and writes nothing: no
    // database, no key file, no plaintext fallback.
    let dir = tempfile::tempdir().unwrap();
    let err =
        SqlStore::open_with_keychain(&dir.path().join("belfry.db"), &Keychain::new("belfry-test-no-bus")).unwrap_err();
    assert_eq!(err.code(), "store.no-keychain", "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "something was written without a keychain");
}

#[test]
fn no_keychain_is_a_clear_error() {
    // A child with no D-Bus session and a scratch HOME: never the
    // developer's keychain.
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "sqlcipher::child_without_session_bus", "--nocapture"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("DISPLAY")
        .env("HOME", home.path())
        .env("XDG_RUNTIME_DIR", home.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("CHILD-SAW: no OS keychain is available"), "{stdout}");
}

#[test]
#[ignore = "needs a real Secret Service: scripts/test.sh runs it under dbus-run-session with gnome-keyring"]
fn secret_service_stores_and_returns_the_key() {
    let profile = format!("belfry-test-{}", std::process::id());
    let keychain = Keychain::new(&profile);
    let key = StoreKey::random();
    keychain.store(&key).unwrap();
    let loaded = keychain.load().unwrap();
    assert_eq!(loaded, key);
    // The key from the keychain opens the database it made.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("belfry.db");
    SqlStore::open(&path, &key).unwrap().commit(Batch::new().with(Op::SetInboxCursor(7))).unwrap();
    assert_eq!(SqlStore::open(&path, &keychain.load().unwrap()).unwrap().inbox_cursor().unwrap(), 7);
    // Move to passphrase mode and back: the database never changes.
    let db_bytes = std::fs::read(&path).unwrap();
    let cheap = belfry_store::passphrase::KdfCost::INSECURE_FAST;
    belfry_store::passphrase::move_to_passphrase(dir.path(), &keychain, "passphrase mode", cheap).unwrap();
    assert!(matches!(keychain.load(), Err(StoreError::KeyMissing(_))));
    belfry_store::passphrase::move_to_keychain(dir.path(), "passphrase mode", &keychain).unwrap();
    assert_eq!(SqlStore::open(&path, &keychain.load().unwrap()).unwrap().inbox_cursor().unwrap(), 7);
    assert_eq!(std::fs::read(&path).unwrap(), db_bytes);
    keychain.delete().unwrap();
    assert!(matches!(keychain.load(), Err(StoreError::KeyMissing(_))));

    // The production path: a new profile gets a random key in the keychain,
    // opens with it, and rotates it without losing history.
    let profile = Keychain::new(format!("belfry-test-open-{}", std::process::id()));
    let path = dir.path().join("profile.db");
    let store = SqlStore::open_with_keychain(&path, &profile).unwrap();
    store.commit(Batch::new().with(Op::PutMessage(message(1, 1, "kept across rotation", 1)))).unwrap();
    let first = profile.load().unwrap();
    store.rotate_key_in_keychain(&profile).unwrap();
    drop(store);
    let second = profile.load().unwrap();
    assert_ne!(first, second);
    assert!(matches!(SqlStore::open(&path, &first), Err(StoreError::WrongKey { .. })));
    let store = SqlStore::open_with_keychain(&path, &profile).unwrap();
    assert_eq!(store.search("rotation", 10).unwrap().len(), 1);
    drop(store);
    // Without its key the database is refused, never silently replaced.
    profile.delete().unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(matches!(SqlStore::open_with_keychain(&path, &profile), Err(StoreError::KeyMissing(_))));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(matches!(profile.load(), Err(StoreError::KeyMissing(_))), "a key was made for an existing database");
}

/// A wipe closes the store while an engine's tasks still hold it: every
/// later call is refused, nothing more reaches the file, and the WAL is
/// checkpointed away on close.
#[test]
fn a_closed_store_refuses_every_call_and_releases_its_files() {
    let db = Sql::new();
    let store = std::sync::Arc::new(SqlStore::open(&db.path(), &db.key).unwrap());
    let held = store.clone();
    store.commit(Batch::new().with(Op::PutMessage(message(1, 1, "before the wipe", 1)))).unwrap();
    store.close().unwrap();
    let refused = held.commit(Batch::new().with(Op::PutMessage(message(2, 1, "after the wipe", 2))));
    assert!(matches!(refused, Err(StoreError::Closed)), "{refused:?}");
    assert!(matches!(held.message(&belfry_protocol::MessageId([1; 16])), Err(StoreError::Closed)));
    assert!(matches!(held.close(), Err(StoreError::Closed)));
    assert!(!db.path().with_extension("db-wal").exists(), "the connection was not closed");
    drop((store, held));
    let reopened = SqlStore::open(&db.path(), &db.key).unwrap();
    assert!(reopened.message(&belfry_protocol::MessageId([2; 16])).unwrap().is_none());
    assert!(reopened.message(&belfry_protocol::MessageId([1; 16])).unwrap().is_some());
}

#[test]
fn the_outbox_head_is_read_in_queue_order_without_sorting_the_outbox() {
    let db = Sql::new();
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    let plan = store.outbox_head_plan_for_tests().unwrap().join("; ");
    assert!(plan.contains("SCAN outbox"), "outbox head not read in rowid order: {plan}");
    assert!(!plan.contains("TEMP B-TREE"), "outbox head sorts the whole outbox: {plan}");
    // Reading heads of different sizes reuses the prepared statement: a
    // bound LIMIT would make SQLite prepare it again on every read.
    for limit in [1, 256, 3, 256] {
        store.outbox_head(limit).unwrap();
    }
    assert_eq!(store.outbox_head_reprepares_for_tests().unwrap(), 0);
}

/// A database left by every earlier schema version opens, and its queued
/// items keep the order that version gave them (by stamp, then id, before
/// schema 7; in the order they were queued from schema 7, which keeps a
/// sequence); items queued afterwards go after them, whatever their stamp.
#[test]
fn a_database_of_every_earlier_version_is_migrated_and_keeps_its_outbox_order() {
    use belfry_protocol::MessageId;
    use belfry_protocol::cert::Timestamp;
    for version in 1..SCHEMA_VERSION as usize {
        let db = Sql::new();
        let old = SqlStore::open_at_version_for_tests(&db.path(), &db.key, version).unwrap();
        let q = |id: u8, at: u64| Op::Enqueue { id: MessageId([id; 16]), payload: vec![id], queued: Timestamp(at) };
        old.commit(Batch::new().with(q(2, 20)).with(q(3, 20)).with(q(1, 10))).unwrap();
        drop(old);
        let store = SqlStore::open(&db.path(), &db.key).unwrap();
        store.commit(Batch::new().with(q(4, 1))).unwrap();
        let order: Vec<u8> = store.outbox().unwrap().into_iter().map(|(id, _)| id.0[0]).collect();
        // Schema 7 (migration 007) brought the persisted queue sequence.
        let expected = if version < 7 { vec![1, 2, 3, 4] } else { vec![2, 3, 1, 4] };
        assert_eq!(order, expected, "from schema {version}");
        assert_eq!(store.outbox_head(2).unwrap().len(), 2);
        store.check_integrity().unwrap();
        drop(store);
        // And the next open finds nothing left to migrate.
        let store = SqlStore::open(&db.path(), &db.key).unwrap();
        assert_eq!(store.outbox_len().unwrap(), 4);
    }
}

/// Migration 009: messages stored before keep their text, get no reply
/// target and are not edited; receipts and read markers start empty.
#[test]
fn a_schema_8_database_gets_timeline_columns_with_its_messages_intact() {
    let db = Sql::new();
    let old = SqlStore::open_at_version_for_tests(&db.path(), &db.key, 8).unwrap();
    old.execute_batch_for_tests(
        "INSERT INTO messages (id, room, sender, sent_at, status, body, expires_at) VALUES \
         (x'01010101010101010101010101010101', x'01010101010101010101010101010101', 'alice', 10, 5, \
          'before the timeline', NULL);",
    )
    .unwrap();
    drop(old);
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    let id = belfry_protocol::MessageId([1; 16]);
    assert_eq!(store.message(&id).unwrap(), Some(message(1, 1, "before the timeline", 10)));
    let me = belfry_protocol::UserId::new("me").unwrap();
    assert_eq!(store.unread_counts(&me).unwrap(), vec![(belfry_protocol::RoomId([1; 16]), 1)]);
    assert!(store.receipts(&id).unwrap().is_empty());
    store.check_integrity().unwrap();
}
