//! belfry-store benchmark, with plain SQLite (same schema, same code, no
//! encryption) as the baseline in the same process. Prints a table.
//!
//! `cargo bench -p belfry-store --bench store` (add `-- --quick` for
//! 100k-message search instead of 1M).
//!
//! The baseline is measured first: the store's wiping of freed SQLite
//! memory (`MemoryProtection::WipeOnFree`) starts with the first encrypted
//! database and stays on for the process, so measuring plain SQLite after it
//! would slow the baseline down too and flatter the ratio. Last comes
//! SQLCipher's own `cipher_memory_security` (also process-wide once on),
//! which the store does not use, to show what it would cost.

use belfry_protocol::cert::Timestamp;
use belfry_protocol::{MessageId, RoomId, UserId};
use belfry_store::*;
use rand::{Rng, RngExt, SeedableRng};
use std::path::Path;
use std::time::{Duration, Instant};

const WORDS: usize = 5000;

fn body(rng: &mut impl Rng) -> String {
    (0..12).map(|_| format!("w{}", rng.random_range(0..WORDS))).collect::<Vec<_>>().join(" ")
}

fn message(i: u64, rng: &mut impl Rng) -> StoredMessage {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&i.to_be_bytes());
    StoredMessage {
        id: MessageId(id),
        room: RoomId([u8::try_from(i % 20).unwrap_or(0); 16]),
        sender: UserId::new("alice").unwrap_or_else(|_| unreachable!()),
        sent_at: Timestamp(i),
        status: MessageStatus::Received,
        body: body(rng),
        expires_at: None,
        reply_to: None,
        edited: false,
    }
}

/// Stores `n` new messages with ids after `first`, `batch` per commit.
fn ingest(store: &dyn Store, first: u64, n: u64, batch: u64, rng: &mut impl Rng) -> Duration {
    let start = Instant::now();
    let mut i = first;
    let end = first + n;
    while i < end {
        let mut b = Batch::new();
        for _ in 0..batch.min(end - i) {
            i += 1;
            b.push(Op::PutMessage(message(i, rng)));
            b.push(Op::SetInboxCursor(i));
        }
        store.commit(b).unwrap_or_else(|e| panic!("{e}"));
    }
    start.elapsed()
}

/// What to open: plain SQLite, the store as shipped, or the store with
/// SQLCipher's `cipher_memory_security` on as well.
#[derive(Clone, Copy)]
enum Config<'k> {
    Plain,
    Cipher(&'k StoreKey),
    CipherMemorySecurity(&'k StoreKey),
}

fn open(dir: &Path, config: Config<'_>) -> SqlStore {
    let path = dir.join("bench.db");
    match config {
        Config::Plain => SqlStore::open_unencrypted_baseline(&path),
        Config::CipherMemorySecurity(k) => SqlStore::open_with_cipher_memory_security_for_benchmark(&path, k),
        Config::Cipher(k) => SqlStore::open(&path, k),
    }
    .unwrap_or_else(|e| panic!("{e}"))
}

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// What one configuration measured.
struct Figures {
    ingest_per_s: f64,
    commits_per_s: f64,
    open: Duration,
    two_words: (Duration, Duration),
    one_word: (Duration, Duration),
}

fn latencies(store: &SqlStore, queries: &[String]) -> (Duration, Duration) {
    let mut v: Vec<Duration> = queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            let hits = store.search(q, 50).unwrap_or_else(|e| panic!("{e}"));
            let d = t.elapsed();
            std::hint::black_box(hits);
            d
        })
        .collect();
    (percentile(&mut v, 0.5), percentile(&mut v, 0.99))
}

fn measure(key: Config<'_>, search_n: u64) -> Figures {
    // The same seed for both configurations: the same messages and queries.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    // 1. Batched ingest of 100k messages with FTS, until all are indexed.
    let n = 100_000u64;
    let store = open(dir.path(), key);
    let start = Instant::now();
    ingest(&store, 0, n, 1000, &mut rng);
    store.index_waiting_messages().unwrap_or_else(|e| panic!("{e}"));
    let ingest_per_s = n as f64 / start.elapsed().as_secs_f64();
    drop(store);

    // 2. One commit per message (synchronous=FULL: an fsync each).
    let c = 300u64;
    let t = ingest(&open(dir.path(), key), n, c, 1, &mut rng);
    let commits_per_s = c as f64 / t.as_secs_f64();

    // 3. Open time (the raw key: no key derivation).
    let mut opens: Vec<Duration> = (0..20)
        .map(|_| {
            let s = Instant::now();
            drop(open(dir.path(), key));
            s.elapsed()
        })
        .collect();
    let open_median = percentile(&mut opens, 0.5);

    // 4. Search over `search_n` messages, newest 50 hits.
    let store = open(dir.path(), key);
    ingest(&store, n + c, search_n.saturating_sub(n + c), 10_000, &mut rng);
    store.index_waiting_messages().unwrap_or_else(|e| panic!("{e}"));
    let pairs: Vec<String> =
        (0..200).map(|_| format!("w{} w{}", rng.random_range(0..WORDS), rng.random_range(0..WORDS))).collect();
    let singles: Vec<String> = (0..200).map(|_| format!("w{}", rng.random_range(0..WORDS))).collect();
    Figures {
        ingest_per_s,
        commits_per_s,
        open: open_median,
        two_words: latencies(&store, &pairs),
        one_word: latencies(&store, &singles),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let search_n: u64 = if quick { 100_000 } else { 1_000_000 };
    let key = StoreKey::random();
    // Order matters: wiping, once on, stays on process-wide, and so does
    // cipher_memory_security.
    eprintln!("measuring plain SQLite (baseline) ...");
    let plain = measure(Config::Plain, search_n);
    eprintln!("measuring SQLCipher as shipped ...");
    let enc = measure(Config::Cipher(&key), search_n);
    eprintln!("measuring SQLCipher with cipher_memory_security (not shipped) ...");
    let cms = measure(Config::CipherMemorySecurity(&key), search_n);
    assert_eq!(SqlStore::memory_protection(), MemoryProtection::WipeOnFree);

    println!("belfry-store benchmark: SQLCipher (raw key, freed memory wiped) vs plain SQLite,");
    println!("same schema and code, same process (baseline first). Messages: 12 words from 5000, batches of 1000.");
    println!("{:<46} | {:>14} | {:>14} | {:>6} | goal", "measure", "SQLCipher", "plain SQLite", "ratio");
    let ratio = enc.ingest_per_s / plain.ingest_per_s;
    println!(
        "{:<46} | {:>10.0} m/s | {:>10.0} m/s | {:>5.2}x | >= 0.6x: {}; >= 100k m/s: {}",
        "ingest 100k msgs with FTS, batched",
        enc.ingest_per_s,
        plain.ingest_per_s,
        ratio,
        if ratio >= 0.6 { "met" } else { "MISSED" },
        if enc.ingest_per_s >= 100_000.0 { "met" } else { "MISSED" }
    );
    println!(
        "{:<46} | {:>10.0} c/s | {:>10.0} c/s | {:>5.2}x | (reported)",
        "one commit per message (fsync each)",
        enc.commits_per_s,
        plain.commits_per_s,
        enc.commits_per_s / plain.commits_per_s
    );
    println!(
        "{:<46} | {:>11.2} ms | {:>11.2} ms | {:>5.2}x | < 10 ms: {}",
        "open with the raw key (median of 20)",
        ms(enc.open),
        ms(plain.open),
        enc.open.as_secs_f64() / plain.open.as_secs_f64(),
        if ms(enc.open) < 10.0 { "met" } else { "MISSED" }
    );
    for (what, e, p) in [("2 words", enc.two_words, plain.two_words), ("1 word", enc.one_word, plain.one_word)] {
        println!(
            "{:<46} | {:>11.2} ms | {:>11.2} ms | {:>5.2}x | p50 < 20 ms: {}",
            format!("search {}k msgs, {what}, p50", search_n / 1000),
            ms(e.0),
            ms(p.0),
            e.0.as_secs_f64() / p.0.as_secs_f64(),
            if ms(e.0) < 20.0 { "met" } else { "MISSED" }
        );
        println!(
            "{:<46} | {:>11.2} ms | {:>11.2} ms | {:>5.2}x | (reported)",
            format!("search {}k msgs, {what}, p99", search_n / 1000),
            ms(e.1),
            ms(p.1),
            e.1.as_secs_f64() / p.1.as_secs_f64()
        );
    }
    println!(
        "{:<46} | {:>10.0} m/s | {:>10.0} m/s | {:>5.2}x | (not shipped: mlock per allocation)",
        "  ingest, with cipher_memory_security too",
        cms.ingest_per_s,
        plain.ingest_per_s,
        cms.ingest_per_s / plain.ingest_per_s
    );
    println!(
        "{:<46} | {:>10.0} c/s | {:>10.0} c/s | {:>5.2}x | (not shipped)",
        "  one commit per message, with it",
        cms.commits_per_s,
        plain.commits_per_s,
        cms.commits_per_s / plain.commits_per_s
    );
    println!(
        "{:<46} | {:>11.2} ms | {:>11.2} ms | {:>5.2}x | (not shipped)",
        "  search 1 word p50, with it",
        ms(cms.one_word.0),
        ms(plain.one_word.0),
        cms.one_word.0.as_secs_f64() / plain.one_word.0.as_secs_f64()
    );
}
