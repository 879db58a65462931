//! Passphrase mode.

use belfry_store::passphrase::{KdfCost, WRAPPED_KEY_FILE, WrappedKey, change_passphrase};
use belfry_store::*;

const CHEAP: KdfCost = KdfCost { m_kib: 64, t: 1, p: 1 };

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
