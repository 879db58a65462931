//! Revocations the relay enforces itself: a revoked device may still
//! collect its inbox (it may hold a wipe order) but publishes nothing.

use crate::support::*;
use belfry_protocol::{ErrorCode, MessageId, Request};

#[tokio::test]
async fn a_device_from_a_stolen_invitation_cannot_publish_once_its_enrollment_key_is_revoked() {
    let relay = Relay::start();
    let (invitation, enrollment) = relay.org.invitation("alice");
    let thief = Identity::from_invitation(&relay.org, invitation, &enrollment, "THIEF");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut t = relay.enroll(&thief, 0).await;
    let mut b = relay.enroll(&bob, 0).await;
    t.publish_room(&thief, room(), b"before", &[&bob]).await;
    b.wait_inbox(1).await;

    // IT revokes the stolen invitation's key; the operator distributes it.
    relay.distribute(&relay.org.revoke_enrollment(&public(&enrollment)));
    let publish = |body: &[u8]| Request::PublishRoom {
        id: MessageId(random()),
        recipients: vec![bob.address()],
        message: thief.room_message(room(), body),
    };
    // On the connection open since before the revocation...
    let refused = t.request(publish(b"after")).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "{refused:?}");
    // ... and on a new one: it may sign in (to collect its inbox), not publish.
    let mut t2 = relay.login(&thief).await;
    let refused = t2.request(publish(b"again")).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "{refused:?}");
    let refused = t2.request(Request::PublishStatement(relay.org.revoke_device(&bob.user, &bob.device))).await;
    assert!(refused.is_ok(), "org statements are anyone's to carry: {refused:?}");
    // Bob got the statements, never the refused messages.
    b.wait_caught_up().await;
    assert!(b.inbox.iter().all(|e| body_of(e) != b"after" && body_of(e) != b"again"));
}

#[tokio::test]
async fn a_second_device_under_one_enrollment_key_burns_the_key_and_both_devices() {
    let relay = Relay::start();
    let (invitation, enrollment) = relay.org.invitation("alice");
    let first = Identity::from_invitation(&relay.org, invitation.clone(), &enrollment, "FIRST");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&first, 0).await;
    drop(relay.enroll(&bob, 0).await);
    // The org (by mistake) signed a second invitation with the same key.
    let mut cert = invitation.peek_unverified().unwrap();
    cert.invitation = belfry_protocol::InvitationId(random());
    let second_invitation = signed(&cert, &relay.org.key);
    let second = Identity::from_invitation(&relay.org, second_invitation, &enrollment, "SECOND");
    let mut c = relay.connect().await;
    c.ok(Request::RegisterInvitation(second.invitation.clone())).await;
    let refused = c.request(Request::Enroll(second.chain.clone())).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "{refused:?}");
    // The key is burnt: the first device is treated as revoked.
    let refused = a
        .request(Request::PublishRoom {
            id: MessageId(random()),
            recipients: vec![bob.address()],
            message: first.room_message(room(), b"x"),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "{refused:?}");
}
