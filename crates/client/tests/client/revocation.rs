//! Trust as it changes: a device revoked (by id, by enrollment key, by a
//! wipe order) is refused at every message it sends afterwards, whatever
//! session it holds and whatever the relay delivers; each revocation is
//! announced once; each statement that does not verify is announced once,
//! whichever path brought it.

use crate::support::*;
use belfry_client::{Alert, Event};
use belfry_protocol::frames::InboxItem;
use belfry_protocol::room::RoomKind;
use belfry_protocol::{DisplayName, Issuer, Revocation, RevocationTarget, Statement, Timestamp};
use std::time::Duration;

fn enrollment_revocation(relay: &TestRelay, key: belfry_protocol::Ed25519Public) -> Statement {
    Statement::Revocation(relay.org.sign(&Revocation {
        org: relay.org.public(),
        target: RevocationTarget::Enrollment { key },
        issuer: Issuer::Org,
        reason: DisplayName::new("invitation stolen").unwrap(),
        issued_at: Timestamp(now().0),
    }))
}

pub fn revoked(e: &Event, device: &belfry_protocol::DeviceId) -> bool {
    matches!(e, Event::Alert(Alert::DeviceRevoked { device: d, .. }) if d == device)
}

/// Bob's invitation is stolen before he uses it: the thief enrolls "Bob
/// laptop", joins Bob's rooms and talks there. IT revokes the invitation's
/// enrollment key. The relay (compromised: it keeps no record of the
/// revocation) keeps taking and delivering the thief's messages; the thief
/// runs the unmodified client. Every other member refuses them, with one
/// alert each, and stores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_from_a_stolen_invitation_revoked_by_enrollment_key_cannot_post() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let stolen = relay.invite("bob");
    let key = stolen.enrollment.peek_unverified().unwrap().enrollment_key;
    let thief = Dev::enroll_with(&relay, &stolen, "Bob laptop").await;
    let (bob, thief_device) = (thief.engine.user().await.unwrap(), thief.engine.device_id().await.unwrap());
    let carol_id = carol.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Group, "Cell", &[bob, carol_id]).await.unwrap();
    thief.joined(&room).await;
    carol.joined(&room).await;
    let hello = thief.engine.send_text(room, "hello from bob").await.unwrap();
    thief.settle().await;
    alice.has_message(&room, hello).await;
    carol.has_message(&room, hello).await;

    // The org-signed revocation reaches the members (the relay never
    // records it, so it keeps accepting the thief's publishes).
    let revocation = enrollment_revocation(&relay, key);
    for dev in [&mut alice, &mut carol] {
        let (user, device) = (dev.engine.user().await.unwrap(), dev.engine.device_id().await.unwrap());
        relay.inject(user.as_str(), device.as_str(), &InboxItem::Statement(revocation.clone()));
        dev.wait(|e| revoked(e, &thief_device)).await;
    }

    let posted = thief.engine.send_text(room, "still bob, trust me").await.unwrap();
    thief.settle().await;
    for dev in [&mut alice, &mut carol] {
        let events = dev.events_until_quiet(Duration::from_secs(3)).await;
        assert!(!events.iter().any(|e| matches!(e, Event::Message(m) if m.id == posted)), "shown: {events:?}");
        let refusals = events
            .iter()
            .filter(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains(thief_device.as_str())))
            .count();
        assert_eq!(refusals, 1, "one alert for the refused message: {events:?}");
        let stored = dev.engine.messages(&room, 100).await.unwrap();
        assert!(stored.iter().all(|m| m.id != posted), "stored: {stored:?}");
        assert!(stored.iter().any(|m| m.id == hello), "what came before the revocation stays");
    }
}

/// IT revokes a lost laptop and orders it wiped (the demo does both): the
/// other members are told once that it was revoked, not once per
/// statement, and not again when the directory serves both statements
/// with every later fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_and_wiped_device_is_announced_once() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let lost = Dev::enroll(&relay, "bob", "Bob's lost laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let lost_device = lost.engine.device_id().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Group, "Cell", std::slice::from_ref(&bob_id)).await.unwrap();
    lost.joined(&room).await;
    alice.settle().await;
    alice.drain();

    distribute(&relay, &[org_revocation(&relay, &bob_id, &lost_device), org_wipe(&relay, &bob_id, &lost_device)]);
    alice.wait(|e| revoked(e, &lost_device)).await;
    let later = alice.events_until_quiet(Duration::from_secs(3)).await;
    assert!(!later.iter().any(|e| revoked(e, &lost_device)), "announced again: {later:?}");
    // Every fetch of Bob's devices brings both statements again.
    alice.engine.devices(&bob_id).await.unwrap();
    alice.restart().await;
    assert!(alice.engine.wait_caught_up(Duration::from_secs(30)).await);
    alice.engine.devices(&bob_id).await.unwrap();
    let later = alice.events_until_quiet(Duration::from_secs(2)).await;
    assert!(!later.iter().any(|e| revoked(e, &lost_device)), "announced again: {later:?}");
}

pub fn org_revocation(
    relay: &TestRelay,
    user: &belfry_protocol::UserId,
    device: &belfry_protocol::DeviceId,
) -> Statement {
    Statement::Revocation(relay.org.sign(&Revocation {
        org: relay.org.public(),
        target: RevocationTarget::Device { user: user.clone(), device: device.clone() },
        issuer: Issuer::Org,
        reason: DisplayName::new("lost").unwrap(),
        issued_at: Timestamp(now().0),
    }))
}

pub fn org_wipe(relay: &TestRelay, user: &belfry_protocol::UserId, device: &belfry_protocol::DeviceId) -> Statement {
    Statement::Wipe(relay.org.sign(&belfry_protocol::WipeOrder {
        org: relay.org.public(),
        user: user.clone(),
        device: device.clone(),
        issuer: Issuer::Org,
        issued_at: Timestamp(now().0),
    }))
}

/// A revocation signed by a key that only claims to be the organisation's.
fn forged_revocation(
    relay: &TestRelay,
    user: &belfry_protocol::UserId,
    device: &belfry_protocol::DeviceId,
) -> Statement {
    Statement::Revocation(belfry_crypto::OrgKey::generate().sign(&Revocation {
        org: relay.org.public(),
        target: RevocationTarget::Device { user: user.clone(), device: device.clone() },
        issuer: Issuer::Org,
        reason: DisplayName::new("forged").unwrap(),
        issued_at: Timestamp(now().0),
    }))
}

/// IT's statement files, through the relay's own command.
pub fn distribute(relay: &TestRelay, statements: &[Statement]) {
    use belfry_protocol::Wire as _;
    use belfry_protocol::armor::{STATEMENT_LABEL, armor};
    let mut cmd = std::process::Command::new(relay_bin());
    cmd.args(["statement", "--dir"]).arg(relay.relay_dir());
    for statement in statements {
        let file = relay.dir.path().join(format!("s{}.belfry-statement", rand::random::<u32>()));
        std::fs::write(&file, armor(STATEMENT_LABEL, &statement.encode())).unwrap();
        cmd.arg(file);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn refusals(events: &[Event]) -> usize {
    events
        .iter()
        .filter(
            |e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("revocation or wipe order")),
        )
        .count()
}

/// Inbox path: the relay delivers the same forgery twice (and again after
/// a restart): one alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_statement_in_the_inbox_is_announced_once() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (bob_id, bob_device) = (bob.engine.user().await.unwrap(), bob.engine.device_id().await.unwrap());
    let alice_device = alice.engine.device_id().await.unwrap();
    let forged = InboxItem::Statement(forged_revocation(&relay, &bob_id, &bob_device));
    relay.inject_all("alice", alice_device.as_str(), &[forged.clone(), forged.clone()]);
    let events = alice.events_until_quiet(Duration::from_secs(3)).await;
    assert_eq!(refusals(&events), 1, "{events:?}");
    alice.restart().await;
    relay.inject("alice", alice_device.as_str(), &forged);
    let events = alice.events_until_quiet(Duration::from_secs(3)).await;
    assert_eq!(refusals(&events), 0, "announced again: {events:?}");
    assert_eq!(alice.engine.devices(&bob_id).await.unwrap().len(), 1, "the forgery was obeyed");
}

/// Olm path: an insider's device of Bob sends Alice the same forged
/// statement twice over its real Olm session: one alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_statement_over_olm_is_announced_once() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (alice_id, alice_device) = (alice.engine.user().await.unwrap(), alice.engine.device_id().await.unwrap());
    let (carol_id, carol_device) = (carol.engine.user().await.unwrap(), carol.engine.device_id().await.unwrap());
    let room = bob.engine.create_room(RoomKind::Direct, "a-b", std::slice::from_ref(&alice_id)).await.unwrap();
    alice.joined(&room).await;
    bob.settle().await;
    bob.shut().await;
    let mut insider = Insider::open(bob.profile_dir());
    let forged = forged_revocation(&relay, &carol_id, &carol_device);
    let items: Vec<InboxItem> = (0..2)
        .map(|_| {
            InboxItem::ToDevice(insider.seal(
                &alice_id,
                &alice_device,
                belfry_protocol::ToDeviceContent::Statement(forged.clone()),
            ))
        })
        .collect();
    alice.drain();
    relay.inject_all("alice", alice_device.as_str(), &items);
    let events = alice.events_until_quiet(Duration::from_secs(3)).await;
    assert_eq!(refusals(&events), 1, "{events:?}");
    assert_eq!(alice.engine.devices(&carol_id).await.unwrap().len(), 1, "the forgery was obeyed");
}

/// Directory path: the relay serves a forgery with every fetch of Bob's
/// devices. It is not obeyed, and it is announced once (not on every
/// fetch, not again after a restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_statement_in_the_directory_is_announced_once() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (bob_id, bob_device) = (bob.engine.user().await.unwrap(), bob.engine.device_id().await.unwrap());
    relay.plant_statement(&bob_id, &forged_revocation(&relay, &bob_id, &bob_device));
    alice.drain();
    for _ in 0..3 {
        assert_eq!(alice.engine.devices(&bob_id).await.unwrap().len(), 1, "the forgery was obeyed");
    }
    let events = alice.events_until_quiet(Duration::from_secs(2)).await;
    assert_eq!(refusals(&events), 1, "{events:?}");
    alice.restart().await;
    assert!(alice.engine.wait_caught_up(Duration::from_secs(30)).await);
    alice.engine.devices(&bob_id).await.unwrap();
    let events = alice.events_until_quiet(Duration::from_secs(2)).await;
    assert_eq!(refusals(&events), 0, "announced again: {events:?}");
}

impl TestRelay {
    /// The hostile relay serves `statement` with every fetch of `user`'s
    /// devices (it cannot sign one, but it can store anything).
    fn plant_statement(&self, user: &belfry_protocol::UserId, statement: &Statement) {
        use belfry_protocol::Wire as _;
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(Duration::from_secs(10)).unwrap();
        db.execute(
            "INSERT INTO statements (user, hash, item) VALUES (?1, ?2, ?3)",
            rusqlite::params![user.as_str(), rand::random::<[u8; 32]>().to_vec(), statement.encode()],
        )
        .unwrap();
    }
}
