//! Reading this process's own memory for text only SQLite held (Linux).
//! Shared with the `memory_fallback` test binary.

use belfry_store::SqlStore;
use std::io::{BufRead, Read, Seek, SeekFrom};

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

/// Where `needle` occurs in this process's private writable memory (heap,
/// thread arenas, stacks), outside `skip` (the needle itself and the scan
/// buffer, so that looking does not find its own copies).
#[cfg(target_os = "linux")]
fn occurrences(needle: &[u8], buf: &mut [u8]) -> Vec<usize> {
    let skip = [
        (needle.as_ptr() as usize, needle.as_ptr() as usize + needle.len()),
        (buf.as_ptr() as usize, buf.as_ptr() as usize + buf.len()),
    ];
    let maps = std::fs::File::open("/proc/self/maps").unwrap();
    let regions: Vec<(usize, usize)> = std::io::BufReader::new(maps)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let path = fields.nth(3).unwrap_or("");
            // Private, readable, writable, and not a file or the vsyscall page.
            let anonymous = path.is_empty() || path == "[heap]" || path.starts_with("[stack");
            if !perms.starts_with("rw") || !perms.ends_with('p') || !anonymous {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some((usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?))
        })
        .collect();
    let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
    let step = buf.len() - needle.len();
    let mut found = Vec::new();
    for (start, end) in regions {
        let mut at = start;
        while at < end {
            let want = (end - at).min(buf.len());
            mem.seek(SeekFrom::Start(at as u64)).unwrap();
            let Ok(got) = mem.read(&mut buf[..want]) else { break };
            for (i, w) in buf[..got].windows(needle.len()).enumerate() {
                let addr = at + i;
                if w == needle && !skip.iter().any(|&(s, e)| addr >= s && addr < e) {
                    found.push(addr);
                }
            }
            at += step.min(got.max(1));
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}
