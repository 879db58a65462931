//! When SQLite started before the store could install its wiping methods,
//! the store falls back to SQLCipher's `cipher_memory_security`: slower,
//! never weaker. A test binary of its own, so that nothing else in the
//! process has opened a store first.

use belfry_store::testing::Sql;
use belfry_store::*;

#[path = "store/scan.rs"]
mod scan;

#[test]
fn a_store_opened_after_sqlite_started_uses_cipher_memory_security() {
    // Something else in the process starts SQLite first.
    let other = rusqlite::Connection::open_in_memory().unwrap();
    other.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();

    let db = Sql::new();
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    assert_eq!(SqlStore::memory_protection(), MemoryProtection::CipherMemorySecurity);
    assert!(store.cipher_memory_security_for_tests().unwrap());
    // And the fallback does wipe what SQLite frees.
    #[cfg(target_os = "linux")]
    scan::a_closed_store_leaves_no_plaintext(store);
}
