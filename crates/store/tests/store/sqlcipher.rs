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

/// Every file in the store's directory (database, WAL, shared memory, any
/// temporary file), concatenated.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            out.extend(std::fs::read(path).unwrap());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn no_plaintext_at_rest() {
    let db = Sql::new();
    let secret = "Operation Nightingale moves to Vienna";
    let store = db.open();
    let mut batch = Batch::new();
    for i in 0..50u8 {
        batch.push(Op::PutMessage(message(i, 1, &format!("{secret} #{i}"), u64::from(i))));
    }
    batch.push(Op::PutValue { key: "attachment:1".into(), value: b"nightingale-plan.pdf".to_vec() });
    store.commit(batch).unwrap();
    assert_eq!(store.search("nightingale", 100).unwrap().len(), 50);
    // While open (WAL and shared memory present) and after closing.
    for phase in ["open", "closed"] {
        let bytes = all_bytes(db.dir.path());
        assert!(!bytes.is_empty());
        for needle in [&b"Nightingale"[..], b"nightingale", b"Vienna", b"nightingale-plan.pdf", b"SQLite format 3"] {
            assert!(!contains(&bytes, needle), "{phase}: {:?} found on disk", String::from_utf8_lossy(needle));
        }
        if phase == "open" {
            drop(store.clone());
        }
    }
    drop(store);
    let bytes = all_bytes(db.dir.path());
    assert!(!contains(&bytes, b"Vienna"));
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

// ---- Keychain ----------------------------------------------------------------

/// Runs in a child process with no session bus (see the next test).
#[test]
#[ignore = "run by no_keychain_is_a_clear_error in a child without a session bus"]
fn child_without_session_bus() {
    let err = Keychain::new("belfry-test-no-bus").store(&StoreKey::random()).unwrap_err();
    assert!(matches!(err, StoreError::NoKeychain(_)), "{err}");
    println!("CHILD-SAW: {err}");
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
    let cheap = belfry_store::passphrase::KdfCost { m_kib: 64, t: 1, p: 1 };
    belfry_store::passphrase::move_to_passphrase(dir.path(), &keychain, "passphrase mode", cheap).unwrap();
    assert!(matches!(keychain.load(), Err(StoreError::KeyMissing(_))));
    belfry_store::passphrase::move_to_keychain(dir.path(), "passphrase mode", &keychain).unwrap();
    assert_eq!(SqlStore::open(&path, &keychain.load().unwrap()).unwrap().inbox_cursor().unwrap(), 7);
    assert_eq!(std::fs::read(&path).unwrap(), db_bytes);
    keychain.delete().unwrap();
    assert!(matches!(keychain.load(), Err(StoreError::KeyMissing(_))));
}
