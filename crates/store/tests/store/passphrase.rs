//! Passphrase mode.

use belfry_store::passphrase::{KdfCost, WRAPPED_KEY_FILE, WrappedKey, change_passphrase};
use belfry_store::*;

const CHEAP: KdfCost = KdfCost::INSECURE_FAST;

fn setup(cost: KdfCost) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let key = StoreKey::random();
    WrappedKey::wrap(&key, "correct horse battery staple", cost).unwrap().save(dir.path()).unwrap();
    let db = dir.path().join("belfry.db");
    SqlStore::open(&db, &key).unwrap().commit(Batch::new().with(Op::SetInboxCursor(3))).unwrap();
    (dir, db)
}

fn open_with(dir: &std::path::Path, db: &std::path::Path, pass: &str) -> Result<SqlStore> {
    let key = WrappedKey::load(dir)?.unwrap_key(pass)?;
    SqlStore::open(db, &key)
}

#[test]
fn the_right_passphrase_opens_the_store() {
    let (dir, db) = setup(KdfCost::DEFAULT);
    assert_eq!(open_with(dir.path(), &db, "correct horse battery staple").unwrap().inbox_cursor().unwrap(), 3);
    // The file holds no raw key: only the wrapped form.
    let text = std::fs::read_to_string(dir.path().join(WRAPPED_KEY_FILE)).unwrap();
    assert!(text.contains("ciphertext") && text.contains("salt"), "{text}");
}

#[test]
fn wrong_passphrase_is_a_typed_error_and_nothing_changes() {
    let (dir, db) = setup(CHEAP);
    let key_file = std::fs::read(dir.path().join(WRAPPED_KEY_FILE)).unwrap();
    let db_bytes = std::fs::read(&db).unwrap();
    let err = open_with(dir.path(), &db, "wrong horse").unwrap_err();
    assert!(matches!(err, StoreError::WrongPassphrase), "{err}");
    assert_eq!(err.to_string(), "wrong passphrase");
    assert!(matches!(change_passphrase(dir.path(), "wrong horse", "new", CHEAP), Err(StoreError::WrongPassphrase)));
    assert_eq!(std::fs::read(dir.path().join(WRAPPED_KEY_FILE)).unwrap(), key_file);
    assert_eq!(std::fs::read(&db).unwrap(), db_bytes);
}

#[test]
fn changing_the_passphrase_rewraps_without_reencrypting_history() {
    let (dir, db) = setup(CHEAP);
    let db_bytes = std::fs::read(&db).unwrap();
    change_passphrase(dir.path(), "correct horse battery staple", "a new long passphrase", CHEAP).unwrap();
    assert_eq!(std::fs::read(&db).unwrap(), db_bytes, "history was re-encrypted");
    assert!(matches!(open_with(dir.path(), &db, "correct horse battery staple"), Err(StoreError::WrongPassphrase)));
    assert_eq!(open_with(dir.path(), &db, "a new long passphrase").unwrap().inbox_cursor().unwrap(), 3);
}

#[test]
fn a_damaged_key_file_is_reported_as_such() {
    let (dir, db) = setup(CHEAP);
    std::fs::write(dir.path().join(WRAPPED_KEY_FILE), b"{ not json").unwrap();
    assert!(matches!(open_with(dir.path(), &db, "x"), Err(StoreError::Corrupt(_))));
    std::fs::remove_file(dir.path().join(WRAPPED_KEY_FILE)).unwrap();
    assert!(matches!(open_with(dir.path(), &db, "x"), Err(StoreError::Io(_))));
}

// ---- open_with_passphrase and crash-safe key rotation -----------------------

const PASS: &str = "correct horse battery staple";

#[test]
fn passphrase_mode_creates_opens_and_refuses_a_wrong_passphrase_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("belfry.db");
    SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap().commit(Batch::new().with(Op::SetInboxCursor(4))).unwrap();
    let snapshot = |p: &std::path::Path| std::fs::read(p).unwrap();
    let (db_bytes, key_bytes) = (snapshot(&db), snapshot(&dir.path().join(WRAPPED_KEY_FILE)));
    let err = SqlStore::open_with_passphrase(&db, "wrong horse", CHEAP).unwrap_err();
    assert!(matches!(err, StoreError::WrongPassphrase), "{err}");
    assert_eq!(err.code(), "store.wrong-passphrase");
    assert_eq!(snapshot(&db), db_bytes);
    assert_eq!(snapshot(&dir.path().join(WRAPPED_KEY_FILE)), key_bytes);
    assert_eq!(SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap().inbox_cursor().unwrap(), 4);
}

#[test]
fn a_database_whose_wrapped_key_is_gone_is_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("belfry.db");
    drop(SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap());
    std::fs::remove_file(dir.path().join(WRAPPED_KEY_FILE)).unwrap();
    let before = std::fs::read(&db).unwrap();
    let err = SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap_err();
    assert!(matches!(err, StoreError::KeyMissing(_)), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert!(!dir.path().join(WRAPPED_KEY_FILE).exists(), "a new key was made for an existing database");
}

#[test]
fn key_rotation_keeps_history_and_retires_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("belfry.db");
    let store = SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap();
    store
        .commit(Batch::new().with(Op::PutMessage(belfry_store::testing::message(1, 1, "before rotation", 1))))
        .unwrap();
    let old = WrappedKey::load(dir.path()).unwrap().unwrap_key(PASS).unwrap();
    store.rotate_key_with_passphrase(PASS, CHEAP).unwrap();
    drop(store);
    assert!(matches!(SqlStore::open(&db, &old), Err(StoreError::WrongKey { .. })), "the old key still opens it");
    let store = SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap();
    assert_eq!(store.search("rotation", 10).unwrap().len(), 1);
    store.check_integrity().unwrap();
    assert!(!dir.path().join("key.wrapped.rotating").exists());
}

/// Writes the pending key of a rotation, as `rotate_key_with_passphrase`
/// does before it re-encrypts.
fn write_pending(dir: &std::path::Path, key: &StoreKey) {
    let wrapped = WrappedKey::wrap(key, PASS, CHEAP).unwrap();
    std::fs::write(dir.join("key.wrapped.rotating"), serde_json::to_vec(&wrapped).unwrap()).unwrap();
}

#[test]
fn a_rotation_interrupted_after_the_rekey_is_completed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("belfry.db");
    let store = SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap();
    store.commit(Batch::new().with(Op::SetInboxCursor(8))).unwrap();
    // The state a crash right after `PRAGMA rekey` leaves: key.wrapped
    // holds the old key, the database is under the pending one.
    let new = StoreKey::random();
    write_pending(dir.path(), &new);
    store.rekey(&new).unwrap();
    drop(store);
    let store = SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap();
    assert_eq!(store.inbox_cursor().unwrap(), 8);
    assert_eq!(WrappedKey::load(dir.path()).unwrap().unwrap_key(PASS).unwrap(), new, "the new key was not promoted");
    assert!(!dir.path().join("key.wrapped.rotating").exists());
}

#[test]
fn a_rotation_interrupted_before_the_rekey_is_abandoned_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("belfry.db");
    SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap().commit(Batch::new().with(Op::SetInboxCursor(8))).unwrap();
    let old = WrappedKey::load(dir.path()).unwrap().unwrap_key(PASS).unwrap();
    write_pending(dir.path(), &StoreKey::random());
    let store = SqlStore::open_with_passphrase(&db, PASS, CHEAP).unwrap();
    assert_eq!(store.inbox_cursor().unwrap(), 8);
    assert_eq!(WrappedKey::load(dir.path()).unwrap().unwrap_key(PASS).unwrap(), old);
    assert!(!dir.path().join("key.wrapped.rotating").exists());
}
