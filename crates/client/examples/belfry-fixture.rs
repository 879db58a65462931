//! A profile to measure the desktop with: Alice's laptop holding 100,000
//! messages in 20 group rooms with Bob, made through the real engine and a
//! real relay.
//!
//! ```text
//! cargo run --release -p belfry-client --example belfry-fixture -- --out /tmp/belfry-perf
//! BELFRY_FIXTURE_PASSPHRASE='belfry fixture' belfry --profile /tmp/belfry-perf/alice \
//!     --passphrase-env BELFRY_FIXTURE_PASSPHRASE status
//! ```
//!
//! Both devices enroll through the relay; Alice creates the rooms; Bob
//! sends `--live` messages (default 600) through Megolm and the relay, a
//! tenth of them replies, and Alice reacts to every fifth: those reach
//! Alice's store by the engine's own receive path. The rest of the history
//! (older) is written into Alice's store while her engine is shut, through
//! the store's batch API, the same rows the receive path writes (message,
//! reply link, reactions, receipts, search index): Megolm for all 100,000
//! would take several minutes on a 2-core machine and would measure
//! nothing the desktop reads differently. Text lengths follow a chat-like
//! mix (mostly a few words, some sentences, a few paragraphs); a third of
//! the messages are Alice's own with Bob's read receipt, about 5% reply to
//! an earlier message of their room, a tenth carry a reaction.
//!
//! Options: `--out DIR` (required; must not exist yet), `--messages N`
//! (100000), `--rooms N` (20), `--live N` (600). The store passphrase is
//! read from `BELFRY_FIXTURE_PASSPHRASE` (default `belfry fixture`), wrapped
//! at the default Argon2id cost, as a real profile. The relay's directory
//! is kept in `DIR/relay`: `belfry-relay serve --dir DIR/relay` brings the
//! profile online again.

use belfry_client::profile::{KeySource, Profile};
use belfry_crypto::OrgKey;
use belfry_protocol::cert::Timestamp;
use belfry_protocol::room::RoomKind;
use belfry_protocol::{MessageId, RoomId, UserId};
use belfry_store::passphrase::KdfCost;
use belfry_store::{Batch, MessageStatus, Op, Receipt, Store, StoredMessage};
use rand::{Rng, RngExt, SeedableRng};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "../benches/support/mod.rs"]
mod support;

use support::{Res, enroll_with, start_relay};

/// The environment variable holding the profile's store passphrase.
const PASSPHRASE_ENV: &str = "BELFRY_FIXTURE_PASSPHRASE";

struct Options {
    out: PathBuf,
    messages: u64,
    rooms: usize,
    live: u64,
}

fn options() -> Res<Options> {
    let mut o = Options { out: PathBuf::new(), messages: 100_000, rooms: 20, live: 600 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--out" => o.out = PathBuf::from(value()?),
            "--messages" => o.messages = value()?.parse()?,
            "--rooms" => o.rooms = value()?.parse()?,
            "--live" => o.live = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if o.out.as_os_str().is_empty() {
        return Err("--out DIR is required".into());
    }
    if o.out.exists() {
        return Err(format!("{} exists already; name a new directory", o.out.display()).into());
    }
    if o.rooms == 0 || o.live > o.messages {
        return Err("--rooms must be at least 1 and --live at most --messages".into());
    }
    Ok(o)
}

const WORDS: &[&str] = &[
    "the",
    "report",
    "meeting",
    "is",
    "at",
    "ten",
    "please",
    "check",
    "draft",
    "budget",
    "minister",
    "office",
    "tomorrow",
    "agreed",
    "send",
    "me",
    "the",
    "latest",
    "version",
    "of",
    "briefing",
    "thanks",
    "call",
    "later",
    "delegation",
    "arrives",
    "Monday",
    "security",
    "review",
    "done",
    "can",
    "you",
    "confirm",
    "numbers",
    "for",
    "Q3",
    "ok",
    "yes",
    "no",
    "see",
    "attached",
    "note",
    "on",
    "page",
    "two",
    "will",
    "update",
    "team",
    "now",
];

/// A chat-like text: mostly a few words, some sentences, a few paragraphs.
fn text(rng: &mut impl Rng) -> String {
    let words = match rng.random_range(0..100) {
        0..60 => rng.random_range(1..12),
        60..92 => rng.random_range(12..50),
        _ => rng.random_range(50..250),
    };
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(if i % 40 == 0 { '\n' } else { ' ' });
        }
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    s
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap_or_else(|_| unreachable!("a valid user id"))
}

/// Writes `n` older messages into `store`, `rooms` in turn, starting a
/// year before `now` (the live messages are newer).
fn history(store: &dyn Store, rooms: &[RoomId], n: u64, now: u64) -> Res<()> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let (alice, bob) = (user("alice"), user("bob"));
    let start = now.saturating_sub(365 * 24 * 3600 * 1000);
    let step = (now - start) / n.max(1);
    let mut recent: Vec<Vec<MessageId>> = vec![Vec::new(); rooms.len()];
    let mut batch = Batch::new();
    for i in 0..n {
        let r = usize::try_from(i).unwrap_or(0) % rooms.len();
        let own = i % 3 == 0;
        let id = MessageId(rng.random());
        let reply_to = match recent[r].len() {
            0 => None,
            len if rng.random_range(0..20) == 0 => Some(recent[r][rng.random_range(0..len)]),
            _ => None,
        };
        batch.push(Op::PutMessage(StoredMessage {
            id,
            room: rooms[r],
            sender: if own { alice.clone() } else { bob.clone() },
            sent_at: Timestamp(start + i * step),
            status: if own { MessageStatus::Read } else { MessageStatus::Received },
            body: text(&mut rng),
            expires_at: None,
            reply_to,
            edited: rng.random_range(0..50) == 0,
        }));
        if own {
            let receipt = Receipt { user: bob.clone(), read: true, at: Timestamp(start + i * step + 5_000) };
            batch.push(Op::PutReceipt { message: id, receipt });
        }
        if i % 10 == 0 {
            let (who, key) = if own { (bob.clone(), "👍") } else { (alice.clone(), "✅") };
            batch.push(Op::PutReaction { message: id, user: who, key: key.into() });
        }
        recent[r].push(id);
        if recent[r].len() > 50 {
            recent[r].remove(0);
        }
        if batch.0.len() >= 5000 {
            store.commit(std::mem::take(&mut batch))?;
        }
    }
    store.commit(batch)?;
    Ok(())
}

fn main() -> Res<()> {
    belfry_client::hardening::harden_process();
    let o = options()?;
    let passphrase = std::env::var(PASSPHRASE_ENV).unwrap_or_else(|_| "belfry fixture".into());
    let source = KeySource::Passphrase { passphrase: zeroize::Zeroizing::new(passphrase), cost: KdfCost::DEFAULT };
    std::fs::create_dir_all(&o.out)?;
    let began = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let org = OrgKey::generate();
        let relay = start_relay(&o.out, &org)?;
        let alice = enroll_with(&relay, &org, &o.out, "alice", &source).await?;
        let bob = enroll_with(&relay, &org, &o.out, "bob", &source).await?;
        let mut rooms = Vec::with_capacity(o.rooms);
        for r in 0..o.rooms {
            rooms.push(alice.create_room(RoomKind::Group, &format!("Room {r}"), &[user("bob")]).await?);
        }
        // Bob's device joins every room before it writes.
        let deadline = Instant::now() + Duration::from_secs(120);
        for room in &rooms {
            while !bob.room(room).await.is_ok_and(|r| r.members.contains_key(&user("bob"))) {
                if Instant::now() > deadline {
                    return Err("bob never joined the rooms".into());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }

        // 1. The newest messages through Megolm and the relay.
        eprintln!("{} messages through the engines and the relay ...", o.live);
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut sent: Vec<Vec<MessageId>> = vec![Vec::new(); rooms.len()];
        for i in 0..o.live {
            let r = usize::try_from(i).unwrap_or(0) % rooms.len();
            let body = text(&mut rng);
            let id = match sent[r].last() {
                Some(to) if i % 10 == 0 => bob.reply(rooms[r], *to, &body).await?,
                _ => bob.send_text(rooms[r], &body).await?,
            };
            sent[r].push(id);
        }
        let wait = |e: &belfry_client::Engine| e.pending_count().unwrap_or(0) > 0;
        while wait(&bob) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let total: usize = sent.iter().map(Vec::len).sum();
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let mut have = 0;
            for room in &rooms {
                have += alice.messages(room, 100_000).await?.len();
            }
            if have >= total {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("alice received {have} of {total} messages").into());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for (r, ids) in sent.iter().enumerate() {
            for id in ids.iter().step_by(5) {
                alice.react(rooms[r], *id, "👍").await?;
            }
        }
        while wait(&alice) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        alice.shutdown().await;
        bob.shutdown().await;
        drop((alice, bob));

        // 2. The older history, written into Alice's store.
        let older = o.messages - o.live;
        eprintln!("{older} older messages into Alice's store ...");
        let store = Profile::new(&o.out.join("alice")).open(&source)?;
        history(&store, &rooms, older, support::now().0)?;
        drop(store);
        drop(relay);
        Res::Ok(())
    })?;
    eprintln!("done in {:.0} s", began.elapsed().as_secs_f64());
    println!("profile: {}", o.out.join("alice").display());
    println!("passphrase: in the environment variable {PASSPHRASE_ENV} (default \"belfry fixture\")");
    println!("relay: belfry-relay serve --dir {}", o.out.join("relay").display());
    Ok(())
}
