//! SQLite's freed memory: wiped before the system allocator gets it back
//! (`MemoryProtection::WipeOnFree`). These tests read the process's own
//! memory, so they are Linux-only.

use belfry_store::testing::{Sql, message};
use belfry_store::*;

/// The attack: once the store is closed, nothing it read or wrote may be
/// left in memory freed by SQLite (page cache, row values, statements),
/// where a later heap disclosure or a core dump would find it.
#[cfg(target_os = "linux")]
#[test]
fn memory_freed_by_sqlite_holds_no_plaintext() {
    let db = Sql::new();
    crate::scan::a_closed_store_leaves_no_plaintext(SqlStore::open(&db.path(), &db.key).unwrap());
}

/// The store runs with its own wiping methods, not SQLCipher's slower
/// `cipher_memory_security`, and they wipe what the store frees.
#[test]
fn the_store_wipes_with_its_own_methods() {
    let db = Sql::new();
    let store = SqlStore::open(&db.path(), &db.key).unwrap();
    assert_eq!(SqlStore::memory_protection(), MemoryProtection::WipeOnFree);
    assert!(!store.cipher_memory_security_for_tests().unwrap());
    let before = wiped_bytes();
    store.commit(Batch::new().with(Op::PutMessage(message(1, 1, "hello", 1)))).unwrap();
    drop(store);
    assert!(wiped_bytes() > before, "nothing was wiped");
}
