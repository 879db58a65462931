//! A stolen invitation, used or expired, in the hands of someone who also
//! controls the relay: the device it makes, dated inside the invitation's
//! window, is planted in the relay's directory. A member who never saw the
//! genuine device must not trust it.

use crate::support::*;
use belfry_client::{Alert, Event};
use belfry_crypto::{Device, InvitationRequest};
use belfry_protocol::{DisplayName, Statement, Timestamp, UserId};

const HOUR_MS: u64 = 3_600_000;

/// An invitation for `user` that IT issued two hours ago, valid one hour.
fn expired_invitation(relay: &TestRelay, user: &str) -> belfry_protocol::Invitation {
    relay
        .org
        .invite(
            &InvitationRequest {
                user: UserId::new(user).unwrap(),
                display_name: DisplayName::new(user).unwrap(),
                relay_url: relay.url.clone(),
                relay_ca_der: relay.ca_der.clone(),
                valid_for_ms: HOUR_MS,
            },
            Timestamp(now().0 - 2 * HOUR_MS),
        )
        .unwrap()
}

fn backdated(relay: &TestRelay, invitation: &belfry_protocol::Invitation, name: &str, at: Timestamp) -> Device {
    Device::enroll(invitation, &relay.org.public(), DisplayName::new(name).unwrap(), at).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backdated_device_from_an_expired_invitation_planted_by_the_relay_is_not_trusted() {
    let relay = TestRelay::start();
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let carol = UserId::new("carol").unwrap();
    let invitation = expired_invitation(&relay, "carol");
    // Carol's laptop enrolled while the invitation was open; IT confirmed it.
    let genuine = backdated(&relay, &invitation, "Carol laptop", Timestamp(now().0 - 90 * 60_000));
    relay.plant_device(genuine.chain());
    relay.distribute(&Statement::Confirmation(relay.org.confirm_enrollment(genuine.chain(), now()).unwrap()));
    // The thief kept a copy of the invitation file and certifies a device
    // dated inside the window, which the relay lists for Carol.
    let thief = backdated(&relay, &invitation, "Carol laptop", Timestamp(now().0 - 80 * 60_000));
    relay.plant_device(thief.chain());

    let devices = bob.engine.devices(&carol).await.unwrap();
    let ids: Vec<_> = devices.iter().map(|(d, _, _)| d.clone()).collect();
    assert_eq!(ids, vec![genuine.device_id().clone()], "bob trusts only the confirmed device");
    bob.wait(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains(thief.device_id().as_str())))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unconfirmed_device_from_an_expired_invitation_is_not_trusted_whatever_its_date() {
    // The relay withholds the confirmation, or IT never made one: a device
    // nobody has seen, from an invitation that is over, is refused.
    let relay = TestRelay::start();
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let carol = UserId::new("carol").unwrap();
    let invitation = expired_invitation(&relay, "carol");
    let thief = backdated(&relay, &invitation, "Carol laptop", Timestamp(now().0 - 100 * 60_000));
    relay.plant_device(thief.chain());

    assert!(bob.engine.devices(&carol).await.unwrap().is_empty(), "bob trusts a device from an expired invitation");
    bob.wait(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("expired"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_of_a_used_invitation_is_refused_once_it_is_confirmed() {
    let relay = TestRelay::start();
    let invitation = relay.invite("carol");
    let carol = Dev::enroll_with(&relay, &invitation, "Carol laptop").await;
    let chain = carol.engine.device_chain().await.unwrap();
    relay.distribute(&Statement::Confirmation(relay.org.confirm_enrollment(&chain, now()).unwrap()));
    // A copy of the used invitation, still inside its window; the honest
    // relay would refuse it ("already used"), this one plants it.
    let thief = backdated(&relay, &invitation, "Carol laptop", now());
    relay.plant_device(thief.chain());

    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let devices = bob.engine.devices(&UserId::new("carol").unwrap()).await.unwrap();
    let ids: Vec<_> = devices.iter().map(|(d, _, _)| d.clone()).collect();
    assert_eq!(ids, vec![carol.engine.device_id().await.unwrap()], "bob trusts only carol's confirmed device");
    bob.wait(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("confirmed another device")))
        .await;
}
