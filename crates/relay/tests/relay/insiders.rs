//! Availability under an insider: a certified device running its own code
//! cannot fill others' inboxes, flood everyone with statements, drain
//! one-time keys, or make a directory answer too large for a frame.

use crate::support::*;
use belfry_protocol::codec::encode;
use belfry_protocol::limits::MAX_FRAME_LEN;
use belfry_protocol::{
    DeviceId, DisplayName, ErrorCode, Issuer, MessageId, Request, Response, Revocation, RevocationTarget, ServerFrame,
    Statement, Timestamp,
};

fn publish(from: &Identity, body: &[u8], to: &Identity) -> Request {
    Request::PublishRoom {
        id: MessageId(random()),
        recipients: vec![to.address()],
        message: from.room_message(room(), body),
    }
}

#[tokio::test]
async fn an_inbox_flood_by_one_sender_leaves_room_for_others() {
    let relay = Relay::start_with(|t| {
        *t = t.replace("max_inbox_depth = 100000", "max_inbox_depth = 30");
        *t = t.replace("max_inbox_entries_per_sender = 10000", "max_inbox_entries_per_sender = 10");
        *t = t.replace("max_inbox_bytes_per_sender = 67108864", "max_inbox_bytes_per_sender = 20000");
    });
    let mallory = Identity::new(&relay.org, "mallory", "MALLORY");
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut m = relay.enroll(&mallory, 0).await;
    let mut a = relay.enroll(&alice, 0).await;
    drop(relay.enroll(&bob, 0).await);
    // Bob is offline; Mallory floods his inbox until the relay says no.
    let mut stored = 0;
    let refusal = loop {
        match m.request(publish(&mallory, b"flood", &bob)).await {
            Ok(_) => stored += 1,
            Err(e) => break e,
        }
        assert!(stored <= 30, "one sender filled the whole inbox");
    };
    assert_eq!(refusal.code, ErrorCode::InboxFull, "{refusal:?}");
    assert_eq!(stored, 10, "one sender's share");
    // Others still have room.
    for i in 0..10u8 {
        a.request(publish(&alice, &[i], &bob)).await.unwrap();
    }
    // A share counts bytes too: big messages run out sooner.
    let carol = Identity::new(&relay.org, "carol", "CAROL");
    drop(relay.enroll(&carol, 0).await);
    let big = vec![7u8; 8000];
    m.request(publish(&mallory, &big, &carol)).await.unwrap();
    m.request(publish(&mallory, &big, &carol)).await.unwrap();
    assert_eq!(m.request(publish(&mallory, &big, &carol)).await.unwrap_err().code, ErrorCode::InboxFull);
    // Once Bob collects his inbox, Mallory's share is free again.
    let mut b = relay.login(&bob).await;
    b.wait_inbox(20).await;
    let last = b.inbox.back().unwrap().seq;
    b.ok(Request::Ack { seq: last }).await;
    m.request(publish(&mallory, b"later", &bob)).await.unwrap();
}

#[tokio::test]
async fn bogus_device_statements_from_an_insider_do_not_pass_the_relay() {
    let relay = Relay::start();
    let mallory = Identity::new(&relay.org, "mallory", "MALLORY");
    let mallory2 = Identity::new(&relay.org, "mallory", "MALLORY2");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut m = relay.enroll(&mallory, 0).await;
    drop(relay.enroll(&mallory2, 0).await);
    let mut b = relay.enroll(&bob, 0).await;
    let own = |device: &str| {
        Statement::Revocation(signed(
            &Revocation {
                org: relay.org.public(),
                target: RevocationTarget::Device { user: mallory.user.clone(), device: DeviceId::new(device).unwrap() },
                issuer: Issuer::Device { device: mallory.device.clone(), ed25519: public(&mallory.key) },
                reason: DisplayName::new("lost").unwrap(),
                issued_at: Timestamp(now_ms()),
            },
            &mallory.key,
        ))
    };
    // A genuine revocation of one's own other device passes.
    m.ok(Request::PublishStatement(own("MALLORY2"))).await;
    // 5,000 revocations of invented devices: none passes.
    let mut codes = std::collections::BTreeMap::new();
    for i in 0..5_000u32 {
        let r = m.request(Request::PublishStatement(own(&format!("FAKE{i}")))).await;
        *codes.entry(format!("{:?}", r.map_err(|e| e.code))).or_insert(0u32) += 1;
    }
    assert_eq!(codes.len(), 2, "{codes:?}");
    assert!(codes.contains_key("Err(NotFound)") && codes.contains_key("Err(RateLimited)"), "{codes:?}");
    // Nor do repeats of the genuine one.
    assert!(m.request(Request::PublishStatement(own("MALLORY2"))).await.is_err());
    // Bob got the one genuine statement and nothing else; the directory
    // holds that one too.
    b.wait_inbox(1).await;
    b.wait_caught_up().await;
    assert_eq!(b.inbox.len(), 1);
    let r = b.request(Request::FetchDevices(vec![mallory.user.clone()])).await.unwrap();
    let Response::Devices(entries) = r else { panic!("{r:?}") };
    assert_eq!(entries[0].statements.len(), 1);
}

#[tokio::test]
async fn one_claimer_cannot_drain_a_devices_one_time_keys() {
    let relay = Relay::start();
    let mallory = Identity::new(&relay.org, "mallory", "MALLORY");
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut m = relay.enroll(&mallory, 0).await;
    let mut a = relay.enroll(&alice, 0).await;
    drop(relay.enroll(&bob, 20).await);
    let mut one_time = 0;
    for _ in 0..15 {
        let claimed = m.claim(&[&bob]).await;
        let key = claimed[0].prekey.as_ref().expect("a key, one-time or fallback").peek_unverified().unwrap();
        if !key.fallback {
            one_time += 1;
        }
    }
    assert_eq!(one_time, 3, "one claimer gets three one-time keys of a device per hour, then its fallback key");
    // Alice still gets a one-time key of Bob's.
    let claimed = a.claim(&[&bob]).await;
    assert!(!claimed[0].prekey.as_ref().unwrap().peek_unverified().unwrap().fallback);
}

#[tokio::test]
async fn a_directory_answer_never_exceeds_the_frame_limit() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let mut a = relay.enroll(&alice, 0).await;
    // 64 users; and 150 revoked invitations, which every user's entry
    // carries: all of it is well over one frame.
    // (Over Alice's connection: one not signed in may send only a little.)
    let mut users = Vec::new();
    for i in 0..64 {
        let id = Identity::new(&relay.org, &format!("user{i}"), "LAPTOP");
        a.ok(Request::RegisterInvitation(id.invitation.clone())).await;
        a.ok(Request::Enroll(id.chain.clone())).await;
        users.push(id.user.clone());
    }
    for _ in 0..150 {
        let (_, key) = relay.org.invitation("someone");
        a.ok(Request::PublishStatement(relay.org.revoke_enrollment(&public(&key)))).await;
    }
    let mut answered = Vec::new();
    let mut answers = 0;
    while answered.len() < users.len() {
        let rest = users[answered.len()..].to_vec();
        let r = a.request(Request::FetchDevices(rest.clone())).await.unwrap();
        let frame = encode(&ServerFrame::Response { id: 1, result: Ok(r.clone()) });
        assert!(frame.len() <= MAX_FRAME_LEN, "a directory answer of {} bytes", frame.len());
        let Response::Devices(entries) = r else { panic!() };
        assert!(!entries.is_empty());
        for (e, u) in entries.iter().zip(&rest) {
            assert_eq!(&e.user, u, "answered in request order");
            assert_eq!(e.devices.len(), 1);
            assert_eq!(e.statements.len(), 150);
        }
        answered.extend(entries.into_iter().map(|e| e.user));
        answers += 1;
    }
    assert!(answers > 1, "it took one answer: the test is too small");
}
