//! The Megolm send-and-receive path through belfry-crypto against raw
//! vodozemac on the same plaintexts (32 B, 1 KiB, 16 KiB).
//!
//! Criterion measures each path; then a ratio table is printed from an
//! interleaved run in the same process (alternating batches of each path,
//! median of the per-round ratios), which cancels most machine noise.
//! Goal: belfry / raw ≤ 1.25.
//!
//! Run: `cargo bench -p belfry-crypto --bench megolm`

use belfry_crypto::{
    Device, Directory, InboundRoomSession, InvitationRequest, OrgKey, OutboundRoomSession, RotationPolicy, SeenIndices,
};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::room::RoomContent;
use belfry_protocol::{DisplayName, Hash256, MessageId, RoomId, UserId};
use criterion::{BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Instant;
use vodozemac::megolm::{GroupSession, InboundGroupSession, MegolmMessage, SessionConfig};

const SIZES: [usize; 3] = [32, 1024, 16 * 1024];
const NOW: Timestamp = Timestamp(1_750_000_000_000);

/// Raw vodozemac: encrypt, serialize, parse, decrypt.
struct Raw {
    out: GroupSession,
    inb: InboundGroupSession,
}

impl Raw {
    fn new() -> Self {
        let out = GroupSession::new(SessionConfig::version_1());
        let inb = InboundGroupSession::new(&out.session_key(), SessionConfig::version_1());
        Self { out, inb }
    }

    fn round(&mut self, text: &str) -> usize {
        let bytes = self.out.encrypt(text.as_bytes()).to_bytes();
        let msg = MegolmMessage::from_bytes(&bytes).unwrap();
        self.inb.decrypt(&msg).unwrap().plaintext.len()
    }
}

/// belfry-crypto: the same through room sessions, with the payload binding,
/// envelope checks and replay guard.
struct Belfry {
    device: Device,
    out: OutboundRoomSession,
    inb: InboundRoomSession,
    seen: SeenIndices,
    n: u64,
}

impl Belfry {
    fn new() -> Self {
        let org = OrgKey::generate();
        let invite = |who: &str| {
            org.invite(
                &InvitationRequest {
                    user: UserId::new(who).unwrap(),
                    display_name: DisplayName::new(who).unwrap(),
                    relay_url: "wss://relay.bench:7443".into(),
                    relay_ca_der: vec![1; 16],
                    valid_for_ms: 1000,
                },
                NOW,
            )
            .unwrap()
        };
        let name = DisplayName::new("bench").unwrap();
        let mut alice = Device::enroll(&invite("alice"), &org.public(), name.clone(), NOW).unwrap();
        let mut bob = Device::enroll(&invite("bob"), &org.public(), name, NOW).unwrap();
        let mut dir_a = Directory::new(org.public());
        let mut dir_b = Directory::new(org.public());
        let bob_id = dir_a.admit(bob.chain(), NOW).unwrap().device().clone();
        let alice_id = dir_b.admit(alice.chain(), NOW).unwrap().device().clone();

        let room = RoomId([1; 16]);
        let policy = RotationPolicy { max_messages: u32::MAX, max_age_ms: u64::MAX };
        let out = OutboundRoomSession::new(&alice, room, policy, NOW).unwrap();
        let prekey = bob.generate_prekeys(1).remove(0);
        bob.mark_prekeys_published();
        let mut channel = alice.open_channel(&bob_id, &prekey).unwrap();
        let env = alice.seal_to_device(&mut channel, &bob_id, out.room_key()).unwrap();
        let mut channels = Vec::new();
        let received = bob.open_to_device(&env, &alice_id, &mut channels).unwrap();
        let inb = InboundRoomSession::from_room_key(&received).unwrap();
        alice.mark_prekeys_published();
        Self { device: alice, out, inb, seen: SeenIndices::default(), n: 0 }
    }

    fn round(&mut self, text: &str) -> usize {
        self.n += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.n.to_le_bytes());
        let msg = self
            .out
            .encrypt(&self.device, MessageId(id), Hash256([0; 32]), RoomContent::Text { body: text.to_owned() }, NOW)
            .unwrap();
        let got = self.inb.decrypt(&msg, &mut self.seen).unwrap();
        match got.payload.content {
            RoomContent::Text { body } => body.len(),
            _ => 0,
        }
    }
}

fn text(len: usize) -> String {
    "x".repeat(len)
}

fn criterion_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("megolm_send_receive");
    for size in SIZES {
        let t = text(size);
        group.throughput(Throughput::Bytes(size as u64));
        let mut raw = Raw::new();
        group.bench_with_input(BenchmarkId::new("raw_vodozemac", size), &t, |b, t| b.iter(|| raw.round(black_box(t))));
        let mut ours = Belfry::new();
        group.bench_with_input(BenchmarkId::new("belfry_crypto", size), &t, |b, t| b.iter(|| ours.round(black_box(t))));
    }
    group.finish();
}

/// Alternating batches, median of per-round ratios.
fn ratio_table() {
    const ROUNDS: usize = 31;
    const BATCH: usize = 200;
    println!();
    println!("Megolm send+receive, belfry-crypto vs raw vodozemac (interleaved, median of {ROUNDS} rounds of {BATCH})");
    println!("{:>8} | {:>12} | {:>12} | {:>7} | goal", "size", "raw µs/msg", "belfry µs/msg", "ratio");
    for size in SIZES {
        let t = text(size);
        let mut raw = Raw::new();
        let mut ours = Belfry::new();
        let (mut raws, mut bels, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let s = Instant::now();
            for _ in 0..BATCH {
                black_box(raw.round(black_box(&t)));
            }
            let r = s.elapsed().as_secs_f64();
            let s = Instant::now();
            for _ in 0..BATCH {
                black_box(ours.round(black_box(&t)));
            }
            let b = s.elapsed().as_secs_f64();
            raws.push(r);
            bels.push(b);
            ratios.push(b / r);
        }
        let med = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let per = 1e6 / BATCH as f64;
        let ratio = med(&mut ratios);
        println!(
            "{:>8} | {:>12.2} | {:>12.2} | {:>6.3}x | {}",
            size,
            med(&mut raws) * per,
            med(&mut bels) * per,
            ratio,
            if ratio <= 1.25 { "met (≤ 1.25x)" } else { "MISSED (> 1.25x)" }
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    criterion_benches(&mut c);
    c.final_summary();
    ratio_table();
}
