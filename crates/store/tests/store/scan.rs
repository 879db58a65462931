//! Reading this process's own memory for text only SQLite held (Linux).
//! Shared with the `memory_fallback` test binary.

use belfry_store::SqlStore;
#[cfg(target_os = "linux")]
use belfry_store::testing::memory_occurrences as occurrences;

/// The text SQLite alone ever holds in one piece: it is written by
/// concatenation inside SQL, so neither the statement nor the test holds
/// it, except in the needle (built in place, and skipped by the scan).
const FIRST: &str = "belfry-heap-";
const SECOND: &str = "canary-4f1c9e";

/// Writes text through `store`, checks the scan finds it in memory while
/// the store is open (or the scan proves nothing), closes the store, and
/// checks that no copy is left.
#[cfg(target_os = "linux")]
pub fn a_closed_store_leaves_no_plaintext(store: SqlStore) {
    let mut needle = Vec::with_capacity(FIRST.len() + SECOND.len());
    needle.extend_from_slice(FIRST.as_bytes());
    needle.extend_from_slice(SECOND.as_bytes());
    let mut buf = vec![0u8; 1 << 20];

    // Many rows, so the text sits in many pages and row buffers, and one
    // string grown by reallocation (group_concat), whose old copies must be
    // wiped when it moves.
    store
        .execute_batch_for_tests(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) \
             INSERT INTO kv (key, value) SELECT 'canary' || i, '{FIRST}' || '{SECOND}' || i FROM n; \
             SELECT count(*) FROM kv WHERE value LIKE '%' || '{SECOND}' || '%'; \
             SELECT length(group_concat(value)) FROM kv;"
        ))
        .unwrap();
    assert!(!occurrences(&needle, &mut buf).is_empty(), "the scan cannot see SQLite's memory");

    drop(store);
    let left = occurrences(&needle, &mut buf);
    assert!(left.is_empty(), "plaintext left in freed memory at {} places: {left:x?}", left.len());
}
