//! The organisation's directory: a new device lists colleagues it never
//! talked to, and only those the organisation certified.

use crate::support::*;
use belfry_client::{Alert, Contact, Event};
use belfry_protocol::{DisplayName, UserId};

fn listed(contacts: &[Contact]) -> Vec<(String, String)> {
    contacts.iter().map(|c| (c.user.to_string(), c.display_name.clone())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_device_lists_colleagues_it_never_talked_to() {
    let relay = TestRelay::start();
    let url = relay.url.clone();
    let _jan = Dev::enroll_with(&relay, &relay.invite_named("jan", "Jan de Vries", &url), "Jan laptop").await;
    let _sofia = Dev::enroll_with(&relay, &relay.invite_named("sofia", "Sofia Rossi", &url), "Sofia desk").await;
    let claire = Dev::enroll_with(&relay, &relay.invite_named("claire", "Claire Martin", &url), "Claire laptop").await;
    assert_eq!(
        listed(&claire.engine.directory_users().await.unwrap()),
        [
            ("claire".into(), "Claire Martin".into()),
            ("jan".into(), "Jan de Vries".into()),
            ("sofia".into(), "Sofia Rossi".into()),
        ]
    );
    // Meeting the whole organisation is not news: no "new device" alert
    // for each colleague's device.
    let alerts = claire.engine.alerts().unwrap();
    assert!(!alerts.iter().any(|a| matches!(a.alert, Alert::NewDevice { .. })), "{alerts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_colleague_the_relay_made_up_is_not_listed() {
    let relay = TestRelay::start();
    let url = relay.url.clone();
    let _jan = Dev::enroll_with(&relay, &relay.invite_named("jan", "Jan de Vries", &url), "Jan laptop").await;
    let mut claire =
        Dev::enroll_with(&relay, &relay.invite_named("claire", "Claire Martin", &url), "Claire laptop").await;
    // The relay lists "helpdesk" (and a second "jan"), certified by a key
    // it controls: a person to lure the new device into writing to.
    let fake_org = belfry_crypto::OrgKey::generate();
    for (user, name) in [("helpdesk", "IT Helpdesk"), ("jan", "Jan de Vries")] {
        let invitation = fake_org
            .invite(
                &belfry_crypto::InvitationRequest {
                    user: UserId::new(user).unwrap(),
                    display_name: DisplayName::new(name).unwrap(),
                    relay_url: url.clone(),
                    relay_ca_der: relay.ca_der.clone(),
                    valid_for_ms: 3_600_000,
                },
                now(),
            )
            .unwrap();
        let fake =
            belfry_crypto::Device::enroll(&invitation, &fake_org.public(), DisplayName::new("Laptop").unwrap(), now())
                .unwrap();
        relay.plant_device(fake.chain());
    }
    assert_eq!(
        listed(&claire.engine.directory_users().await.unwrap()),
        [("claire".into(), "Claire Martin".into()), ("jan".into(), "Jan de Vries".into())]
    );
    let jans = claire.engine.devices(&UserId::new("jan").unwrap()).await.unwrap();
    assert_eq!(jans.len(), 1, "only jan's genuine device: {jans:?}");
    claire.wait(|e| matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("does not verify"))).await;
}
