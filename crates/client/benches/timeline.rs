//! A page of history: the 50 messages before a given one, as a front end
//! asks while the user scrolls up, from a profile holding 100,000 messages
//! in 20 rooms. Three figures from the same process and the same messages:
//!
//! - the engine (`Engine::messages_before`: the anchor looked up, the page
//!   read, each message with its attachment, reactions and receipts),
//! - the same page query on the engine's SQLCipher store alone,
//! - the same query on plain SQLite (same schema and code, no encryption):
//!   the baseline, measured first (the store's wiping of freed memory,
//!   once on, stays on for the process; see the store's benchmark).
//!
//! ```text
//! cargo bench -p belfry-client --bench timeline            # 1,000 pages
//! cargo bench -p belfry-client --bench timeline -- --quick # 100 pages
//! ```
//!
//! The relay (for enrollment) is built in release mode first, as in the
//! `e2e` benchmark. Figures are printed as a table; nothing asserts a time.

use belfry_client::Engine;
use belfry_client::profile::Profile;
use belfry_crypto::OrgKey;
use belfry_protocol::cert::Timestamp;
use belfry_protocol::room::RoomKind;
use belfry_protocol::{MessageId, RoomId, UserId};
use belfry_store::{Batch, MessageStatus, Op, Receipt, SqlStore, Store, StoredMessage};
use rand::{Rng, RngExt, SeedableRng};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

mod support;

use support::{Res, enroll, key_source, start_relay};

const MESSAGES: u64 = 100_000;
const ROOMS: usize = 20;
const PAGE: usize = 50;
const WORDS: usize = 5000;

/// Message `i` of the profile, in room `rooms[i % ROOMS]`: every third
/// one this user's own (with a receipt), every tenth with a reaction.
fn message(i: u64, rooms: &[RoomId], rng: &mut impl Rng) -> StoredMessage {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&i.to_be_bytes());
    id[8..].copy_from_slice(&rng.random::<[u8; 8]>());
    let own = i.is_multiple_of(3);
    StoredMessage {
        id: MessageId(id),
        room: rooms[usize::try_from(i).unwrap_or(0) % ROOMS],
        sender: UserId::new(if own { "alice" } else { "bob" }).unwrap_or_else(|_| unreachable!()),
        sent_at: Timestamp(1_700_000_000_000 + i * 1000),
        status: if own { MessageStatus::Read } else { MessageStatus::Received },
        body: (0..12).map(|_| format!("w{}", rng.random_range(0..WORDS))).collect::<Vec<_>>().join(" "),
        expires_at: None,
        reply_to: None,
        edited: false,
    }
}

/// Fills `store` with the profile's messages; returns each room's
/// messages as (sent_at, id), oldest first.
fn fill(store: &dyn Store, rooms: &[RoomId]) -> BTreeMap<RoomId, Vec<(Timestamp, MessageId)>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut by_room: BTreeMap<RoomId, Vec<(Timestamp, MessageId)>> = BTreeMap::new();
    let mut batch = Batch::new();
    for i in 0..MESSAGES {
        let m = message(i, rooms, &mut rng);
        by_room.entry(m.room).or_default().push((m.sent_at, m.id));
        let (id, own) = (m.id, m.sender.as_str() == "alice");
        batch.push(Op::PutMessage(m));
        if own {
            let receipt =
                Receipt { user: UserId::new("bob").unwrap_or_else(|_| unreachable!()), read: true, at: Timestamp(0) };
            batch.push(Op::PutReceipt { message: id, receipt });
        }
        if i.is_multiple_of(10) {
            let user = UserId::new("bob").unwrap_or_else(|_| unreachable!());
            batch.push(Op::PutReaction { message: id, user, key: "👍".into() });
        }
        if batch.0.len() >= 5000 {
            store.commit(std::mem::take(&mut batch)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    store.commit(batch).unwrap_or_else(|e| panic!("{e}"));
    by_room
}

/// Where each page starts: a room, and a message in it with at least a
/// page before it.
fn anchors(by_room: &BTreeMap<RoomId, Vec<(Timestamp, MessageId)>>, n: usize) -> Vec<(RoomId, usize)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let rooms: Vec<(&RoomId, usize)> = by_room.iter().map(|(r, v)| (r, v.len())).collect();
    (0..n)
        .map(|_| {
            let (room, len) = rooms[rng.random_range(0..rooms.len())];
            (*room, rng.random_range(PAGE..len))
        })
        .collect()
}

/// p50 and p99 of `f` over every anchor; each page must be full.
fn latencies(anchors: &[(RoomId, usize)], mut f: impl FnMut(&RoomId, usize) -> usize) -> (Duration, Duration) {
    let mut v: Vec<Duration> = anchors
        .iter()
        .map(|(room, at)| {
            let t = Instant::now();
            let n = f(room, *at);
            let d = t.elapsed();
            assert_eq!(n, PAGE, "a short page");
            d
        })
        .collect();
    v.sort();
    let pick = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (pick(0.5), pick(0.99))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Res<()> {
    // As every host does first: opening a profile requires it.
    belfry_client::hardening::harden_process();
    let quick = std::env::args().any(|a| a == "--quick");
    let pages = if quick { 100 } else { 1_000 };
    let root = tempfile::tempdir()?;

    // 1. The baseline: plain SQLite, the same messages in 20 rooms.
    eprintln!("plain SQLite: storing {MESSAGES} messages ...");
    let plain_rooms: Vec<RoomId> = (0..ROOMS).map(|r| RoomId([u8::try_from(r).unwrap_or(0); 16])).collect();
    let plain = SqlStore::open_unencrypted_baseline(&root.path().join("plain.db"))?;
    let by_room = fill(&plain, &plain_rooms);
    let at = anchors(&by_room, pages);
    let plain_page = latencies(&at, |room, i| {
        let anchor = by_room[room][i];
        plain.messages_before(room, Some(anchor), PAGE).unwrap_or_else(|e| panic!("{e}")).len()
    });
    drop(plain);

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        // 2. A real profile: enrolled, 20 rooms, then the same messages
        // written into its store while the engine is shut.
        let org = OrgKey::generate();
        let relay = start_relay(root.path(), &org)?;
        let alice = enroll(&relay, &org, root.path(), "alice").await?;
        let mut rooms = Vec::new();
        for r in 0..ROOMS {
            rooms.push(alice.create_room(RoomKind::Group, &format!("Room {r}"), &[]).await?);
        }
        alice.shutdown().await;
        drop(alice);
        eprintln!("SQLCipher: storing {MESSAGES} messages ...");
        let profile = Profile::new(&root.path().join("alice"));
        let store = profile.open(&key_source())?;
        let by_room = fill(&store, &rooms);
        let at = anchors(&by_room, pages);
        let cipher_page = latencies(&at, |room, i| {
            store.messages_before(room, Some(by_room[room][i]), PAGE).unwrap_or_else(|e| panic!("{e}")).len()
        });
        drop(store);

        // 3. The engine's page, as a front end asks for it.
        let engine = Engine::open_paused(profile, &key_source()).await?;
        let mut engine_times = Vec::with_capacity(at.len());
        for (room, i) in &at {
            let anchor = by_room[room][*i].1;
            let t = Instant::now();
            let page = engine.messages_before(room, Some(anchor), PAGE).await?;
            engine_times.push(t.elapsed());
            assert_eq!(page.len(), PAGE, "a short page");
            assert!(page.iter().all(|m| m.id != anchor));
        }
        engine_times.sort();
        let pick = |p: f64| engine_times[((engine_times.len() as f64 - 1.0) * p).round() as usize];
        let engine_page = (pick(0.5), pick(0.99));
        engine.shutdown().await;
        drop(relay);

        println!("belfry-client timeline: a page of {PAGE} older messages, {MESSAGES} messages in {ROOMS} rooms,");
        println!(
            "{pages} pages at random places; baseline: plain SQLite, same schema and query, same process (first)."
        );
        println!("{:<56} | {:>11} | {:>12} | {:>7} | goal", "measure", "measured", "plain SQLite", "ratio");
        for (what, (p50, p99), goal) in [
            ("engine messages_before (with reactions, receipts)", engine_page, true),
            ("SQLCipher store query alone", cipher_page, false),
        ] {
            println!(
                "{:<56} | {:>8.3} ms | {:>9.3} ms | {:>6.2}x | {}",
                format!("{what}, p50"),
                ms(p50),
                ms(plain_page.0),
                p50.as_secs_f64() / plain_page.0.as_secs_f64(),
                if goal { if ms(p50) < 16.0 { "< 16 ms: met" } else { "< 16 ms: MISSED" } } else { "(reported)" }
            );
            println!(
                "{:<56} | {:>8.3} ms | {:>9.3} ms | {:>6.2}x | (reported)",
                format!("{what}, p99"),
                ms(p99),
                ms(plain_page.1),
                p99.as_secs_f64() / plain_page.1.as_secs_f64()
            );
        }
        Ok(())
    })
}
