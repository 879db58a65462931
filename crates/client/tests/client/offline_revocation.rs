//! A device that was shut when IT revoked it (or ordered it wiped) learns it
//! for certain when it next starts: the relay refuses its login and hands
//! over the org-signed statements that revoke it, and the device checks them
//! against the org key it trusts before obeying. A refusal whose statements
//! do not verify changes nothing in the device's trust.

use crate::revocation::{distribute, org_revocation, org_wipe};
use crate::support::*;
use belfry_client::{Event, OwnState};
use belfry_protocol::{DisplayName, Issuer, Revocation, RevocationTarget, Statement, Timestamp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_revoked_and_wiped_while_shut_erases_itself_at_start() {
    let relay = TestRelay::start();
    let _alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut lost = Dev::enroll(&relay, "bob", "Bob's lost laptop").await;
    let (bob, device) = (lost.engine.user().await.unwrap(), lost.engine.device_id().await.unwrap());
    lost.shut().await;

    distribute(&relay, &[org_revocation(&relay, &bob, &device), org_wipe(&relay, &bob, &device)]);
    // The laptop stays shut past the relay's inbox retention: its inbox
    // copies of both statements are swept; the relay still holds them.
    assert_eq!(relay.withhold_statements("bob", device.as_str()), 2);

    lost.restart().await;
    lost.wait(|e| matches!(e, Event::Wiped)).await;
    assert!(lost.engine.own_state().await.unwrap().wiped);
    let left: Vec<_> = std::fs::read_dir(lost.profile_dir()).unwrap().collect();
    assert!(left.is_empty(), "the wiped profile still holds {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_revoked_while_shut_knows_it_at_start() {
    let relay = TestRelay::start();
    let _alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut lost = Dev::enroll(&relay, "bob", "Bob's lost laptop").await;
    let (bob, device) = (lost.engine.user().await.unwrap(), lost.engine.device_id().await.unwrap());
    lost.shut().await;

    distribute(&relay, &[org_revocation(&relay, &bob, &device)]);
    // Its inbox copy outlived the relay's retention.
    assert_eq!(relay.withhold_statements("bob", device.as_str()), 1);

    lost.restart().await;
    lost.wait(|e| matches!(e, Event::Revoked)).await;
    assert_eq!(lost.engine.own_state().await.unwrap(), OwnState { revoked: true, wiped: false });
    let later = lost.events_until_quiet(std::time::Duration::from_secs(3)).await;
    assert!(!later.iter().any(|e| matches!(e, Event::Revoked)), "announced again: {later:?}");
    assert!(lost.profile_dir().join("belfry.db").exists(), "a revocation alone erases nothing");
}

/// A compromised relay marks the device revoked in its own storage and
/// refuses its login with a "revocation" signed by a key of its own (and a
/// wipe order signed by another organisation): the device stays enrolled,
/// keeps its data, and only reports that the relay refused it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_refusing_with_forged_statements_changes_no_trust() {
    let relay = TestRelay::start();
    let _alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut victim = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (bob, device) = (victim.engine.user().await.unwrap(), victim.engine.device_id().await.unwrap());
    victim.shut().await;

    let forged = Statement::Revocation(belfry_crypto::OrgKey::generate().sign(&Revocation {
        org: relay.org.public(),
        target: RevocationTarget::Device { user: bob.clone(), device: device.clone() },
        issuer: Issuer::Org,
        reason: DisplayName::new("forged").unwrap(),
        issued_at: Timestamp(now().0),
    }));
    let other_org = belfry_crypto::OrgKey::generate();
    let foreign = Statement::Wipe(other_org.sign(&belfry_protocol::WipeOrder {
        org: other_org.public(),
        user: bob.clone(),
        device: device.clone(),
        issuer: Issuer::Org,
        issued_at: Timestamp(now().0),
    }));
    relay.plant_refusal(&bob, &device, &[forged, foreign]);

    victim.restart().await;
    let refused = victim.wait(|e| matches!(e, Event::Disconnected(_))).await;
    let Event::Disconnected(reason) = refused else { unreachable!() };
    assert!(reason.contains("refused"), "{reason}");
    let later = victim.events_until_quiet(std::time::Duration::from_secs(3)).await;
    assert!(!later.iter().any(|e| matches!(e, Event::Revoked | Event::Wiped)), "obeyed a forgery: {later:?}");
    assert_eq!(victim.engine.own_state().await.unwrap(), OwnState::default());
    assert!(victim.profile_dir().join("belfry.db").exists(), "the forgery erased the profile");
}

impl TestRelay {
    /// The hostile relay marks a device revoked in its own storage and
    /// stores `statements` about it, as modified relay code could.
    fn plant_refusal(
        &self,
        user: &belfry_protocol::UserId,
        device: &belfry_protocol::DeviceId,
        statements: &[Statement],
    ) {
        use belfry_protocol::Wire as _;
        let db = rusqlite::Connection::open(self.relay_dir().join("relay.sqlite")).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
        let n = db
            .execute(
                "UPDATE devices SET revoked = 1 WHERE user = ?1 AND device = ?2",
                rusqlite::params![user.as_str(), device.as_str()],
            )
            .unwrap();
        assert_eq!(n, 1, "no such device");
        for statement in statements {
            let item = statement.encode();
            let hash: [u8; 32] = rand::random();
            db.execute(
                "INSERT INTO statements (user, hash, item) VALUES (?1, ?2, ?3)",
                rusqlite::params![user.as_str(), hash.to_vec(), item],
            )
            .unwrap();
        }
    }
}
