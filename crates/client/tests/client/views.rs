//! What a front end lists: alerts kept until dismissed, the organisation's
//! users, every device of a user with its trust, and this device's own
//! standing (revoked, wiped).

use crate::revocation::{distribute, org_revocation, org_wipe, revoked};
use crate::support::*;
use belfry_client::{Alert, DeviceTrust, Event, OwnState};
use belfry_protocol::room::RoomKind;
use std::time::Duration;

/// Every alert the engine emits is kept, with an id, across restarts, until
/// the user dismisses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_is_kept_across_a_restart_until_dismissed() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let bob_device = bob.engine.device_id().await.unwrap();
    assert!(alice.engine.alerts().unwrap().is_empty());
    let room = alice.engine.create_room(RoomKind::Direct, "Desk", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    alice.settle().await;
    let new_device = |a: &Alert| matches!(a, Alert::NewDevice { device, .. } if *device == bob_device);
    let stored = alice.wait(|e| matches!(e, Event::AlertStored(s) if new_device(&s.alert))).await;
    let Event::AlertStored(stored) = stored else { unreachable!() };
    let events = alice.events_until_quiet(Duration::from_secs(2)).await;
    let emitted = events.iter().filter(|e| matches!(e, Event::Alert(_))).count();
    let kept_events = events.iter().filter(|e| matches!(e, Event::AlertStored(_))).count();
    assert_eq!(emitted, kept_events, "every alert is kept: {events:?}");

    alice.reopen().await;
    let kept = alice.engine.alerts().unwrap();
    assert_eq!(kept.iter().filter(|k| new_device(&k.alert)).count(), 1, "{kept:?}");
    assert!(kept.contains(&stored), "{kept:?} lacks {stored:?}");
    assert!(kept.windows(2).all(|w| w[0].id > w[1].id), "newest first");

    alice.engine.dismiss_alert(stored.id).unwrap();
    alice.engine.dismiss_alert(stored.id).unwrap();
    alice.reopen().await;
    assert!(alice.engine.alerts().unwrap().iter().all(|k| k.id != stored.id));
    alice.engine.lock().await;
    assert!(matches!(alice.engine.alerts(), Err(belfry_client::ClientError::Locked)));
}

/// Bob has two laptops; Alice verified one in person; IT revokes the other
/// (lost), and revokes Carol's only device. Every device is listed with its
/// trust, the revoked one too; Carol leaves the directory; the lost laptop
/// knows it is revoked, then wiped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_are_listed_with_their_trust_revoked_ones_too() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut lost = Dev::enroll(&relay, "bob", "Bob travel laptop").await;
    let carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (alice_id, bob_id, carol_id) =
        (alice.engine.user().await.unwrap(), bob.engine.user().await.unwrap(), carol.engine.user().await.unwrap());
    let (alice_device, bob_device, lost_device, carol_device) = (
        alice.engine.device_id().await.unwrap(),
        bob.engine.device_id().await.unwrap(),
        lost.engine.device_id().await.unwrap(),
        carol.engine.device_id().await.unwrap(),
    );
    let room = alice.engine.create_room(RoomKind::Group, "Cell", &[bob_id.clone(), carol_id.clone()]).await.unwrap();
    bob.joined(&room).await;
    lost.joined(&room).await;
    alice.settle().await;
    verify_in_person(&mut alice, &mut bob).await;

    let names = |c: &[belfry_client::Contact]| c.iter().map(|c| c.user.to_string()).collect::<Vec<_>>();
    assert_eq!(names(&alice.engine.directory_users().await.unwrap()), ["alice", "bob", "carol"]);
    assert_eq!(lost.engine.own_state().await.unwrap(), OwnState::default());

    distribute(
        &relay,
        &[org_revocation(&relay, &bob_id, &lost_device), org_revocation(&relay, &carol_id, &carol_device)],
    );
    alice.wait(|e| revoked(e, &lost_device)).await;
    lost.wait(|e| matches!(e, Event::Revoked)).await;
    assert_eq!(lost.engine.own_state().await.unwrap(), OwnState { revoked: true, wiped: false });
    assert!(!bob.engine.own_state().await.unwrap().revoked);

    let view = |list: &[belfry_client::DeviceView]| {
        list.iter().map(|d| (d.device.clone(), d.name.clone(), d.trust, d.own, d.current)).collect::<Vec<_>>()
    };
    let seen_by_alice = alice.engine.device_list(&bob_id).await.unwrap();
    assert_eq!(
        view(&seen_by_alice),
        [
            (bob_device.clone(), "Bob laptop".into(), DeviceTrust::Verified, false, false),
            (lost_device.clone(), "Bob travel laptop".into(), DeviceTrust::Revoked, false, false),
        ]
    );
    let own = alice.engine.device_list(&alice_id).await.unwrap();
    assert_eq!(view(&own), [(alice_device, "Alice laptop".into(), DeviceTrust::Trusted, true, true)]);
    let seen_by_bob = bob.engine.device_list(&bob_id).await.unwrap();
    assert_eq!(
        view(&seen_by_bob),
        [
            (bob_device, "Bob laptop".into(), DeviceTrust::Trusted, true, true),
            (lost_device.clone(), "Bob travel laptop".into(), DeviceTrust::Revoked, true, false),
        ]
    );
    let carols = alice.engine.device_list(&carol_id).await.unwrap();
    assert_eq!(carols.iter().map(|d| d.trust).collect::<Vec<_>>(), [DeviceTrust::Revoked]);
    assert_eq!(names(&alice.engine.directory_users().await.unwrap()), ["alice", "bob"]);

    // Then IT orders it wiped: it says so, and its data is gone.
    distribute(&relay, &[org_wipe(&relay, &bob_id, &lost_device)]);
    lost.wait(|e| matches!(e, Event::Wiped)).await;
    assert!(lost.engine.own_state().await.unwrap().wiped);
}
