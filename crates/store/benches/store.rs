//! belfry-store benchmark, with plain SQLite (same schema, same code, no
//! encryption) as the baseline in the same process. Prints a table.
//!
//! `cargo bench -p belfry-store` (add `-- --quick` for 100k-message search
//! instead of 1M).

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
    }
}

fn ingest(store: &dyn Store, n: u64, batch: u64, rng: &mut impl Rng) -> Duration {
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let mut b = Batch::new();
        for _ in 0..batch.min(n - i) {
            i += 1;
            b.push(Op::PutMessage(message(i, rng)));
            b.push(Op::SetInboxCursor(i));
        }
        store.commit(b).unwrap_or_else(|e| panic!("{e}"));
    }
    start.elapsed()
}

fn open(dir: &Path, key: Option<&StoreKey>) -> SqlStore {
    let path = dir.join("bench.db");
    match key {
        Some(k) => SqlStore::open(&path, k),
        None => SqlStore::open_unencrypted_baseline(&path),
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

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let search_n: u64 = if quick { 100_000 } else { 1_000_000 };
    let key = StoreKey::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    println!("belfry-store benchmark (SQLCipher vs plain SQLite, same schema and code, same process)");
    println!("{:<44} | {:>14} | {:>14} | {:>7} | goal", "measure", "SQLCipher", "plain SQLite", "ratio");

    // 1. Batched ingest of 100k messages with FTS.
    let n = 100_000u64;
    let (d_enc, d_plain) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let t_enc = ingest(&open(d_enc.path(), Some(&key)), n, 1000, &mut rng);
    let t_plain = ingest(&open(d_plain.path(), None), n, 1000, &mut rng);
    let (r_enc, r_plain) = (n as f64 / t_enc.as_secs_f64(), n as f64 / t_plain.as_secs_f64());
    println!(
        "{:<44} | {:>10.0} m/s | {:>10.0} m/s | {:>6.2}x | ≥ 0.6x and ≥ 100k m/s: {}",
        "ingest 100k msgs, FTS, batches of 1000",
        r_enc,
        r_plain,
        r_enc / r_plain,
        if r_enc / r_plain >= 0.6 && r_enc >= 100_000.0 { "met" } else { "MISSED" }
    );

    // 2. One commit per message (synchronous=FULL: an fsync each).
    let c = 300u64;
    let t_enc = ingest(&open(d_enc.path(), Some(&key)), c, 1, &mut rng);
    let t_plain = ingest(&open(d_plain.path(), None), c, 1, &mut rng);
    let (r_enc, r_plain) = (c as f64 / t_enc.as_secs_f64(), c as f64 / t_plain.as_secs_f64());
    println!(
        "{:<44} | {:>10.0} c/s | {:>10.0} c/s | {:>6.2}x | (report)",
        "one commit per message",
        r_enc,
        r_plain,
        r_enc / r_plain
    );

    // 3. Open time with the raw key.
    let mut opens: Vec<Duration> = (0..20)
        .map(|_| {
            let s = Instant::now();
            drop(open(d_enc.path(), Some(&key)));
            s.elapsed()
        })
        .collect();
    let mut opens_plain: Vec<Duration> = (0..20)
        .map(|_| {
            let s = Instant::now();
            drop(open(d_plain.path(), None));
            s.elapsed()
        })
        .collect();
    let (o_enc, o_plain) = (percentile(&mut opens, 0.5), percentile(&mut opens_plain, 0.5));
    println!(
        "{:<44} | {:>11.2} ms | {:>11.2} ms | {:>6.2}x | < 10 ms: {}",
        "open with the raw key (median of 20)",
        ms(o_enc),
        ms(o_plain),
        o_enc.as_secs_f64() / o_plain.as_secs_f64(),
        if ms(o_enc) < 10.0 { "met" } else { "MISSED" }
    );

    // 4. Search over `search_n` messages.
    let extra = search_n.saturating_sub(n + c);
    let enc = open(d_enc.path(), Some(&key));
    let plain = open(d_plain.path(), None);
    ingest(&enc, extra, 5000, &mut rng);
    ingest(&plain, extra, 5000, &mut rng);
    let queries: Vec<String> =
        (0..200).map(|_| format!("w{} w{}", rng.random_range(0..WORDS), rng.random_range(0..WORDS))).collect();
    let lat = |s: &SqlStore| -> Vec<Duration> {
        queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                let _ = s.search(q, 50).unwrap_or_else(|e| panic!("{e}"));
                t.elapsed()
            })
            .collect()
    };
    let (mut l_enc, mut l_plain) = (lat(&enc), lat(&plain));
    let (p50, p50b) = (percentile(&mut l_enc, 0.5), percentile(&mut l_plain, 0.5));
    let (p99, p99b) = (percentile(&mut l_enc, 0.99), percentile(&mut l_plain, 0.99));
    let label = format!("search over {}k msgs, 2 words, p50", search_n / 1000);
    println!(
        "{:<44} | {:>11.2} ms | {:>11.2} ms | {:>6.2}x | p50 < 20 ms: {}",
        label,
        ms(p50),
        ms(p50b),
        p50.as_secs_f64() / p50b.as_secs_f64(),
        if ms(p50) < 20.0 { "met" } else { "MISSED" }
    );
    println!(
        "{:<44} | {:>11.2} ms | {:>11.2} ms | {:>6.2}x | (report)",
        format!("search over {}k msgs, 2 words, p99", search_n / 1000),
        ms(p99),
        ms(p99b),
        p99.as_secs_f64() / p99b.as_secs_f64()
    );
}
