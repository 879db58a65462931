//! End to end: two engines through a real `belfry-relay` process over TLS
//! on loopback, real SQLCipher stores on both sides.
//!
//! ```text
//! cargo bench -p belfry-client --bench e2e            # 10,000 messages
//! cargo bench -p belfry-client --bench e2e -- --quick # 1,000 messages
//! ```
//!
//! It builds `belfry-relay` in release mode first (a no-op when it is up
//! to date), so the relay measured is the current source. Two runs: as
//! fast as the engines go (256 sends in flight: throughput), and at a
//! steady 200 messages per second (latency without queueing). Baseline,
//! in the same process: raw vodozemac Megolm encrypt + decrypt of the same
//! number of messages of the same size.
//! Figures are printed as a table; nothing here asserts a time.

use belfry_client::{Alert, Engine, Event};
use belfry_crypto::OrgKey;
use belfry_protocol::MessageId;
use belfry_protocol::room::RoomKind;
use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

use support::{Res, enroll, start_relay};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Run {
    rate: f64,
    p50: Duration,
    p99: Duration,
    undecryptable: usize,
    /// CPU time (user + system) used during the run by this process (both
    /// engines) and by the relay process, when `/proc` shows it.
    cpu: Option<(Duration, Duration)>,
}

/// CPU time (user + system, all threads) a process has used so far, from
/// `/proc/<pid>/stat` (Linux only; `None` elsewhere).
fn cpu_time(pid: u32, tick: Duration) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u32 = fields.get(11)?.parse().ok()?;
    let stime: u32 = fields.get(12)?.parse().ok()?;
    Some(tick * (utime + stime))
}

/// The length of a clock tick, as `/proc` counts CPU time.
fn clock_tick() -> Duration {
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|hz| *hz > 0)
        .unwrap_or(100);
    Duration::from_secs(1) / hz
}

/// CPU used by this process and by the relay so far.
fn cpu_now(relay_pid: u32, tick: Duration) -> Option<(Duration, Duration)> {
    Some((cpu_time(std::process::id(), tick)?, cpu_time(relay_pid, tick)?))
}

/// Sends `n` messages from alice to bob; `pace` spaces the sends, `window`
/// bounds how many are in flight.
async fn run(
    alice: &Engine,
    bob: &Engine,
    room: belfry_protocol::RoomId,
    n: usize,
    window: usize,
    pace: Option<Duration>,
    relay_pid: u32,
) -> Res<Run> {
    let tick = clock_tick();
    let sent_at: Arc<Mutex<HashMap<MessageId, Instant>>> = Arc::default();
    let mut events = bob.subscribe();
    let receiver = {
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n);
            let mut undecryptable = 0;
            // Events a slow reader missed (the channel is bounded): those
            // messages are checked in the store afterwards, not timed.
            let mut missed = 0;
            while latencies.len() + missed < n {
                match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
                    Ok(Ok(Event::Message(m))) => {
                        let arrived = Instant::now();
                        // A send is timed from its call; the id is known once
                        // it returns, so wait for that entry if needed.
                        let start = loop {
                            if let Some(t) = sent_at.lock().ok().and_then(|s| s.get(&m.id).copied()) {
                                break t;
                            }
                            tokio::task::yield_now().await;
                        };
                        latencies.push(arrived - start);
                    }
                    Ok(Ok(Event::Alert(Alert::Undecryptable { reason, .. }))) => {
                        if undecryptable == 0 {
                            eprintln!("first undecryptable message: {reason}");
                        }
                        undecryptable += 1;
                    }
                    Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(k))) => missed += k as usize,
                    Ok(Ok(_)) => {}
                    _ => break,
                }
            }
            (latencies, undecryptable, Instant::now(), missed)
        })
    };
    let cpu_before = cpu_now(relay_pid, tick);
    let start = Instant::now();
    // Each send is its own task: a future that is not polled must not sit on
    // the engine's (fair) locks while the pacing loop sleeps.
    let slots = Arc::new(tokio::sync::Semaphore::new(window));
    let mut tasks = Vec::with_capacity(n);
    let mut ticker = pace.map(tokio::time::interval);
    for i in 0..n {
        if let Some(t) = ticker.as_mut() {
            t.tick().await;
        }
        let permit = slots.clone().acquire_owned().await?;
        let alice = alice.clone();
        let sent_at = sent_at.clone();
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let body = format!("benchmark message {i:06}: the draft communique is ready for review");
            if let Ok(id) = alice.send_text(room, &body).await
                && let Ok(mut s) = sent_at.lock()
            {
                s.insert(id, t0);
            }
            drop(permit);
        }));
    }
    for t in tasks {
        t.await?;
    }
    let (mut latencies, undecryptable, end, missed) = receiver.await?;
    let cpu = cpu_before.zip(cpu_now(relay_pid, tick)).map(|((e0, r0), (e1, r1))| (e1 - e0, r1 - r0));
    // Every message sent is in Bob's store, whether or not it was timed.
    let sent: Vec<MessageId> = sent_at.lock().map(|s| s.keys().copied().collect()).unwrap_or_default();
    let have: std::collections::HashSet<MessageId> =
        bob.messages(&room, usize::MAX >> 1).await?.into_iter().map(|m| m.id).collect();
    let absent = sent.iter().filter(|id| !have.contains(id)).count();
    if sent.len() < n || absent > 0 {
        return Err(format!("{} sent, {absent} of them missing at the recipient", sent.len()).into());
    }
    if missed > 0 {
        eprintln!("({missed} arrivals were not timed: the event reader fell behind; all {n} are stored)");
    }
    latencies.sort();
    Ok(Run {
        rate: n as f64 / (end - start).as_secs_f64(),
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        undecryptable,
        cpu,
    })
}

fn vodozemac_baseline(n: usize) -> f64 {
    use vodozemac::megolm::{GroupSession, InboundGroupSession, SessionConfig};
    let mut out = GroupSession::new(SessionConfig::version_1());
    let mut inb = InboundGroupSession::new(&out.session_key(), SessionConfig::version_1());
    let body = b"benchmark message 000000: the draft communique is ready for review";
    let start = Instant::now();
    for _ in 0..n {
        let m = out.encrypt(body);
        let _ = std::hint::black_box(inb.decrypt(&m));
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() -> Res<()> {
    // As every host does first: opening a profile requires it.
    belfry_client::hardening::harden_process();
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 1_000 } else { 10_000 };
    let steady = if quick { 400 } else { 2_000 };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let root = tempfile::tempdir()?;
        let org = OrgKey::generate();
        let relay = start_relay(root.path(), &org)?;
        let alice = enroll(&relay, &org, root.path(), "alice").await?;
        let bob = enroll(&relay, &org, root.path(), "bob").await?;
        let room = alice.create_room(RoomKind::Direct, "bench", &[bob.user().await?]).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while bob.room(&room).await.map(|r| r.members.len()).unwrap_or(0) < 2 {
            if Instant::now() > deadline {
                return Err("bob never joined".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let baseline = vodozemac_baseline(n);
        let relay_pid = relay.child.id();
        let fast = run(&alice, &bob, room, n, 256, None, relay_pid).await?;
        let paced = run(&alice, &bob, room, steady, 256, Some(Duration::from_millis(5)), relay_pid).await?;
        println!(
            "belfry-client end to end: two engines, real relay process, TLS 1.3 on loopback, SQLCipher both sides"
        );
        println!("{:<58}| {:>14} | {:>14} | {:>9} | goal", "measure", "engines", "baseline", "ratio");
        println!(
            "{:<58}| {:>10.0} m/s | {:>10.0} m/s | {:>8.4}x | >= 2000 m/s: {}",
            format!("throughput, {n} messages, 256 in flight"),
            fast.rate,
            baseline,
            fast.rate / baseline,
            if fast.rate >= 2000.0 { "met" } else { "MISSED" }
        );
        // CPU per message: less sensitive than throughput to what else the
        // machine is running (it still moves with cache and lock contention).
        if let Some((engines, relay_cpu)) = fast.cpu {
            let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
            println!(
                "{:<58}| {:>11.0} us | {:>14} | {:>9} | (reported)",
                "CPU per message, fast run: engines + relay",
                per(engines + relay_cpu),
                "",
                ""
            );
            println!(
                "{:<58}| {:>11.0} us | {:>14} | {:>9} | (reported)",
                "  of which both engines (this process)",
                per(engines),
                "",
                ""
            );
            println!(
                "{:<58}| {:>11.0} us | {:>14} | {:>9} | (reported)",
                "  of which the relay",
                per(relay_cpu),
                "",
                ""
            );
        }
        for (label, r) in [("as fast as possible", &fast), ("at a steady 200 msg/s", &paced)] {
            println!(
                "{:<58}| {:>11.2} ms | {:>14} | {:>9} | (reported)",
                format!("send-to-display p50, {label}"),
                r.p50.as_secs_f64() * 1e3,
                "",
                ""
            );
            println!(
                "{:<58}| {:>11.2} ms | {:>14} | {:>9} | (reported)",
                format!("send-to-display p99, {label}"),
                r.p99.as_secs_f64() * 1e3,
                "",
                ""
            );
        }
        println!(
            "{:<58}| {:>14} | {:>14} | {:>9} | 0: {}",
            "undecryptable messages",
            fast.undecryptable + paced.undecryptable,
            "",
            "",
            if fast.undecryptable + paced.undecryptable == 0 { "met" } else { "MISSED" }
        );
        println!("baseline: raw vodozemac Megolm encrypt + decrypt of the same messages, same process");
        alice.shutdown().await;
        bob.shutdown().await;
        drop(relay);
        Ok(())
    })
}
