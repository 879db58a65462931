//! Revocations the relay enforces itself: a revoked device publishes
//! nothing, and its next login is refused with the signed statements that
//! revoke it (or order it wiped), for it to check and obey.

use crate::support::*;
use belfry_protocol::{ErrorCode, MessageId, Request};

#[tokio::test]
async fn a_device_from_a_stolen_invitation_cannot_publish_once_its_enrollment_key_is_revoked() {
    let relay = Relay::start();
    let (invitation, enrollment) = relay.org.invitation("alice");
    let thief = Identity::from_invitation(&relay.org, invitation, &enrollment, "THIEF");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let carol = Identity::new(&relay.org, "carol", "CAROL");
    let mut t = relay.enroll(&thief, 0).await;
    let mut b = relay.enroll(&bob, 0).await;
    let mut c = relay.enroll(&carol, 0).await;
    t.publish_room(&thief, room(), b"before", &[&bob]).await;
    b.wait_inbox(1).await;

    // IT revokes the stolen invitation's key; the operator distributes it.
    let revocation = relay.org.revoke_enrollment(&public(&enrollment));
    relay.distribute(&revocation);
    let publish = |body: &[u8]| Request::PublishRoom {
        id: MessageId(random()),
        recipients: vec![bob.address()],
        message: thief.room_message(room(), body),
    };
    // On the connection open since before the revocation...
    let refused = t.request(publish(b"after")).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "{refused:?}");
    // ... and a new login is refused, with the statement that says why.
    let mut t2 = relay.connect().await;
    let refused = t2.authenticate(&thief).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "{refused:?}");
    assert_eq!(t2.revoked, vec![revocation], "the refusal carries the revocation");
    let refused = t2.request(publish(b"again")).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Unauthenticated, "{refused:?}");
    let carried = c.request(Request::PublishStatement(relay.org.revoke_device(&bob.user, &bob.device))).await;
    assert!(carried.is_ok(), "org statements are anyone's to carry: {carried:?}");
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

/// A laptop revoked and ordered wiped while it was shut: its next login is
/// refused with exactly the statements about it (not those about others),
/// whatever became of its inbox.
#[tokio::test]
async fn a_revoked_device_login_is_refused_with_the_statements_against_it() {
    let relay = Relay::start();
    let lost = Identity::new(&relay.org, "bob", "LOST");
    let other = Identity::new(&relay.org, "bob", "OTHER");
    drop(relay.enroll(&lost, 0).await);
    drop(relay.enroll(&other, 0).await);
    let revocation = relay.org.revoke_device(&lost.user, &lost.device);
    let wipe = relay.org.wipe(&lost.user, &lost.device);
    relay.distribute(&revocation);
    relay.distribute(&relay.org.revoke_device(&other.user, &other.device));
    relay.distribute(&wipe);

    let mut c = relay.connect().await;
    let refused = c.authenticate(&lost).await.unwrap_err();
    assert_eq!(refused.code, ErrorCode::Forbidden, "{refused:?}");
    assert_eq!(c.revoked, vec![revocation, wipe]);
}
