//! Enrollment, authentication, delivery, keys, blobs and limits.

use crate::support::*;
use belfry_protocol::frames::InboxItem;
use belfry_protocol::{ErrorCode, MessageId, Request, Response};

#[tokio::test]
async fn publish_fans_out_to_named_devices_and_ack_deletes() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICELAPTOP");
    let bob1 = Identity::new(&relay.org, "bob", "BOBDESK");
    let bob2 = Identity::new(&relay.org, "bob", "BOBTRAVEL");
    let carol = Identity::new(&relay.org, "carol", "CAROLPC");
    let mut a = relay.enroll(&alice, 0).await;
    let mut b1 = relay.enroll(&bob1, 0).await;
    let mut b2 = relay.enroll(&bob2, 0).await;
    let mut c = relay.enroll(&carol, 0).await;

    let r = room();
    a.publish_room(&alice, r, b"hello bob", &[&bob1, &bob2]).await;
    b1.wait_inbox(1).await;
    b2.wait_inbox(1).await;
    assert_eq!(body_of(&b1.inbox[0]), b"hello bob");
    assert_eq!(body_of(&b2.inbox[0]), b"hello bob");
    match &b1.inbox[0].item {
        InboxItem::Room(m) => assert_eq!((m.room, &m.sender, &m.sender_device), (r, &alice.user, &alice.device)),
        other => panic!("unexpected {other:?}"),
    }
    // Carol was not named: nothing for her (a publish to her arrives first).
    a.publish_room(&alice, r, b"hello carol", &[&carol]).await;
    c.wait_inbox(1).await;
    assert_eq!(body_of(&c.inbox[0]), b"hello carol");

    // Bob's desk acks; after reconnecting it gets nothing old. His travel
    // laptop did not ack: it gets the message again.
    let seq = b1.inbox[0].seq;
    b1.ok(Request::Ack { seq }).await;
    drop(b1);
    drop(b2);
    let b1 = relay.login(&bob1).await;
    assert_eq!(b1.next_seq, seq + 1);
    let mut b2 = relay.login(&bob2).await;
    b2.wait_inbox(1).await;
    assert_eq!(body_of(&b2.inbox[0]), b"hello bob");
}

#[tokio::test]
async fn reconnect_resumes_from_the_first_unacked_entry() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    let mut b = relay.enroll(&bob, 0).await;
    let r = room();
    for i in 0..10u8 {
        a.publish_room(&alice, r, &[i], &[&bob]).await;
    }
    b.wait_inbox(10).await;
    let fifth = b.inbox[4].seq;
    b.ok(Request::Ack { seq: fifth }).await;
    drop(b);
    // Offline: five more arrive.
    for i in 10..15u8 {
        a.publish_room(&alice, r, &[i], &[&bob]).await;
    }
    let mut b = relay.login(&bob).await;
    assert_eq!(b.next_seq, fifth + 1);
    b.wait_inbox(10).await;
    // Then the relay says there is nothing more.
    b.wait_caught_up().await;
    assert_eq!(b.inbox.len(), 10);
    let got: Vec<u8> = b.inbox.iter().map(|e| body_of(e)[0]).collect();
    assert_eq!(got, (5..15).collect::<Vec<u8>>(), "in order, nothing acked, nothing missing");
    let seqs: Vec<u64> = b.inbox.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "sequence numbers are consecutive: {seqs:?}");
}

#[tokio::test]
async fn a_resent_publish_gets_the_original_ack_and_is_stored_once() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    let mut b = relay.enroll(&bob, 0).await;
    let id = MessageId(random());
    let publish =
        Request::PublishRoom { id, recipients: vec![bob.address()], message: alice.room_message(room(), b"once") };
    assert_eq!(a.request(publish.clone()).await, Ok(Response::Published { id }));
    assert_eq!(a.request(publish).await, Ok(Response::Published { id }));
    // A marker after it: when it arrives, everything before it has.
    a.publish_room(&alice, room(), b"marker", &[&bob]).await;
    b.wait_inbox(2).await;
    let bodies: Vec<Vec<u8>> = b.inbox.iter().map(body_of).collect();
    assert_eq!(bodies, vec![b"once".to_vec(), b"marker".to_vec()]);
}

#[tokio::test]
async fn a_device_may_only_publish_as_itself() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    let _b = relay.enroll(&bob, 0).await;
    let r = a
        .request(Request::PublishRoom {
            id: MessageId(random()),
            recipients: vec![alice.address()],
            message: bob.room_message(room(), b"forged"),
        })
        .await;
    assert_eq!(r.unwrap_err().code, ErrorCode::Forbidden);
}

#[tokio::test]
async fn one_time_keys_are_handed_out_once_then_the_fallback_key() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    let mut b = relay.connect().await;
    b.ok(Request::RegisterInvitation(bob.invitation.clone())).await;
    b.ok(Request::Enroll(bob.chain.clone())).await;
    b.authenticate(&bob).await.unwrap();
    let one_time: Vec<_> = (0..3).map(|_| bob.prekey(false)).collect();
    let fallback = bob.prekey(true);
    b.ok(Request::UploadPrekeys { one_time: one_time.clone(), fallback: Some(fallback.clone()) }).await;

    let mut seen = Vec::new();
    for _ in 0..3 {
        let claimed = a.claim(&[&bob]).await;
        let key = claimed[0].prekey.clone().expect("a one-time key");
        assert!(one_time.contains(&key));
        assert!(!seen.contains(&key), "a one-time key was handed out twice");
        seen.push(key);
    }
    for _ in 0..2 {
        let claimed = a.claim(&[&bob]).await;
        assert_eq!(claimed[0].prekey.as_ref(), Some(&fallback), "exhausted: the fallback key, again and again");
    }
}

#[tokio::test]
async fn prekeys_must_be_signed_by_the_uploading_device() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    let _b = relay.enroll(&bob, 0).await;
    // Bob's key uploaded by Alice's connection: refused.
    let r = a.request(Request::UploadPrekeys { one_time: vec![bob.prekey(false)], fallback: None }).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::BadSignature);
}

#[tokio::test]
async fn a_reused_invitation_is_refused() {
    let relay = Relay::start();
    let org = &relay.org;
    let (invitation, enrollment) = org.invitation("alice");
    let first = Identity::from_invitation(org, invitation.clone(), &enrollment, "FIRST");
    let second = Identity::from_invitation(org, invitation, &enrollment, "SECOND");
    let _a = relay.enroll(&first, 0).await;
    let mut c = relay.connect().await;
    let r = c.request(Request::Enroll(second.chain.clone())).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::InvitationUsed);
    // And the second device cannot authenticate.
    let r = c.authenticate(&second).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::BadSignature);
}

/// A device whose enrollment answer was lost (the connection dropped)
/// asks again with the same chain: it is enrolled, once, and can go on.
#[tokio::test]
async fn the_same_device_may_repeat_its_enrollment() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let _first = relay.enroll(&alice, 0).await;
    let mut again = relay.connect().await;
    again.request(Request::Enroll(alice.chain.clone())).await.unwrap();
    again.authenticate(&alice).await.unwrap();
    again.request(Request::UploadPrekeys { one_time: vec![alice.prekey(false)], fallback: None }).await.unwrap();
}

#[tokio::test]
async fn unregistered_and_foreign_invitations_are_refused() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let mut c = relay.connect().await;
    let r = c.request(Request::Enroll(alice.chain.clone())).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::NotFound, "IT must register an invitation first");
    let other_org = Org::new();
    let mallory = Identity::new(&other_org, "mallory", "MALLORY");
    let r = c.request(Request::RegisterInvitation(mallory.invitation.clone())).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::BadSignature);
    let r = c.request(Request::Enroll(mallory.chain.clone())).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::BadSignature);
}

#[tokio::test]
async fn a_challenge_signature_from_another_tls_session_is_refused() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    drop(relay.enroll(&alice, 0).await);
    let first = relay.connect().await;
    let mut second = relay.connect().await;
    // The whole proof made for the first connection, replayed on the second.
    let r = second.request(Request::Authenticate(first.proof(&alice))).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::BadSignature);
    // The second connection's challenge with the first connection's TLS
    // exporter (a man in the middle relaying the challenge): refused too.
    let mut forged = relay.connect().await;
    forged.exporter = first.exporter;
    let r = forged.request(Request::Authenticate(forged.proof(&alice))).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::BadSignature);
    // And the genuine proof on its own connection works.
    let mut genuine = relay.connect().await;
    genuine.authenticate(&alice).await.unwrap();
}

#[tokio::test]
async fn requests_before_authentication_are_refused() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    drop(relay.enroll(&alice, 0).await);
    let mut c = relay.connect().await;
    let r = c.request(Request::FetchDevices(vec![alice.user.clone()])).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::Unauthenticated);
    let r = c.request(Request::CreateBlob { len: 10 }).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::Unauthenticated);
}

#[tokio::test]
async fn directory_serves_chains_and_statements_and_revocation_stops_a_device() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    let mut b = relay.enroll(&bob, 0).await;
    let Ok(Response::Devices(entries)) = a.request(Request::FetchDevices(vec![bob.user.clone()])).await else {
        panic!("fetch failed")
    };
    assert_eq!(entries[0].devices, vec![bob.chain.clone()]);
    assert!(entries[0].statements.is_empty());

    // IT revokes Bob's device and orders a wipe: everyone gets both, Bob's
    // device included; afterwards it may not publish.
    a.ok(Request::PublishStatement(relay.org.revoke_device(&bob.user, &bob.device))).await;
    a.ok(Request::PublishStatement(relay.org.wipe(&bob.user, &bob.device))).await;
    b.wait_inbox(2).await;
    assert!(b.inbox.iter().all(|e| matches!(e.item, InboxItem::Statement(_))));
    let Ok(Response::Devices(entries)) = a.request(Request::FetchDevices(vec![bob.user.clone()])).await else {
        panic!("fetch failed")
    };
    assert_eq!(entries[0].statements.len(), 2);
    let r = b
        .request(Request::PublishRoom {
            id: MessageId(random()),
            recipients: vec![alice.address()],
            message: bob.room_message(room(), b"after revocation"),
        })
        .await;
    assert_eq!(r.unwrap_err().code, ErrorCode::Forbidden);
    // A forged statement (not org-signed) is refused.
    let fake_org = Org { key: ed25519_dalek::SigningKey::from_bytes(&random()) };
    let mut forged = fake_org.revoke_device(&alice.user, &alice.device);
    if let belfry_protocol::Statement::Revocation(s) = &forged {
        // Same body claiming the real org, signed by another key.
        let mut body = s.peek_unverified().unwrap();
        body.org = relay.org.public();
        forged = belfry_protocol::Statement::Revocation(signed(&body, &fake_org.key));
    }
    let r = a.request(Request::PublishStatement(forged)).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::BadSignature);
}

#[tokio::test]
async fn enrollment_notifies_connected_devices() {
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    drop(relay.enroll(&bob, 0).await);
    a.wait_device_change(&bob.user).await;
}

#[tokio::test]
async fn blobs_upload_resume_download_quota_and_size() {
    let relay = Relay::start_with(|t| {
        *t = t.replace("max_blob_bytes = 104857600", "max_blob_bytes = 100000");
        *t = t.replace("blob_quota_bytes = 1073741824", "blob_quota_bytes = 150000");
    });
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let mut a = relay.enroll(&alice, 0).await;
    let r = a.request(Request::CreateBlob { len: 100_001 }).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::BlobTooLarge);
    let Ok(Response::BlobCreated { blob }) = a.request(Request::CreateBlob { len: 100_000 }).await else {
        panic!("create failed")
    };
    let r = a.request(Request::CreateBlob { len: 60_000 }).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::QuotaExceeded);

    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let http = Http::new(&relay).await;
    // First half, then resume from what the relay reports.
    let (status, _) = http.put(&blob.to_string(), 0, &data[..40_000]).await;
    assert_eq!(status, 202);
    let received = http.head(&blob.to_string()).await;
    assert_eq!(received, Some(40_000));
    // A small body: the relay answers without reading it.
    let (status, _) = http.put(&blob.to_string(), 10, &data[10..11]).await;
    assert_eq!(status, 409, "a wrong offset is refused");
    assert_eq!(http.head(&blob.to_string()).await, Some(40_000), "and changes nothing");
    let (status, _) = http.put(&blob.to_string(), 40_000, &data[40_000..]).await;
    assert_eq!(status, 200);
    let (status, body) = http.get(&blob.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(body, data);
    let (status, _) = http.get("00112233445566778899aabbccddeeff").await;
    assert_eq!(status, 404);
    // A broken download resumes where it stopped.
    let (status, body) = http.get_from(&blob.to_string(), 99_000).await;
    assert_eq!(status, 206);
    assert_eq!(body, &data[99_000..]);
    let (status, _) = http.get_from(&blob.to_string(), 100_000).await;
    assert_eq!(status, 416, "nothing past the end");
}

/// Minimal HTTPS client over the relay's TLS (hyper).
pub struct Http {
    relay_addr: std::net::SocketAddr,
    config: std::sync::Arc<rustls::ClientConfig>,
}

impl Http {
    pub async fn new(relay: &Relay) -> Self {
        Self { relay_addr: relay.addr, config: std::sync::Arc::new(relay.tls_config()) }
    }

    async fn send(&self, req: hyper::Request<http_body_util::Full<bytes::Bytes>>) -> (u16, hyper::HeaderMap, Vec<u8>) {
        use http_body_util::BodyExt as _;
        let tcp = tokio::net::TcpStream::connect(self.relay_addr).await.unwrap();
        let tls = tokio_rustls::TlsConnector::from(self.config.clone())
            .connect(rustls::pki_types::ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        let resp = sender.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, headers, body)
    }

    fn request(method: &str, id: &str) -> hyper::http::request::Builder {
        hyper::Request::builder().method(method).uri(format!("/v1/blobs/{id}")).header("host", "localhost")
    }

    pub async fn put(&self, id: &str, offset: u64, data: &[u8]) -> (u16, Vec<u8>) {
        let req = Self::request("PUT", id)
            .header("belfry-offset", offset.to_string())
            .body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(data)))
            .unwrap();
        let (s, _, b) = self.send(req).await;
        (s, b)
    }

    pub async fn head(&self, id: &str) -> Option<u64> {
        let req = Self::request("HEAD", id).body(Default::default()).unwrap();
        let (_, h, _) = self.send(req).await;
        h.get("belfry-received")?.to_str().ok()?.parse().ok()
    }

    pub async fn get_from(&self, id: &str, start: u64) -> (u16, Vec<u8>) {
        let req = Self::request("GET", id).header("range", format!("bytes={start}-")).body(Default::default()).unwrap();
        let (s, _, b) = self.send(req).await;
        (s, b)
    }

    pub async fn get(&self, id: &str) -> (u16, Vec<u8>) {
        let req = Self::request("GET", id).body(Default::default()).unwrap();
        let (s, _, b) = self.send(req).await;
        (s, b)
    }
}

#[tokio::test]
async fn the_directory_lists_every_user_in_pages_to_enrolled_devices_only() {
    let relay = Relay::start();
    let carol = Identity::new(&relay.org, "carol", "CAROL");
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob1 = Identity::new(&relay.org, "bob", "BOBDESK");
    let bob2 = Identity::new(&relay.org, "bob", "BOBTRAVEL");
    let mut c = relay.enroll(&carol, 0).await;
    drop(relay.enroll(&alice, 0).await);
    drop(relay.enroll(&bob1, 0).await);
    drop(relay.enroll(&bob2, 0).await);
    c.ok(Request::PublishStatement(relay.org.revoke_device(&bob2.user, &bob2.device))).await;

    // Pages of two, in id order; each entry is what FetchDevices gives.
    let list = |after: Option<&Identity>, limit| Request::ListDirectory { after: after.map(|i| i.user.clone()), limit };
    let Ok(Response::Devices(first)) = c.request(list(None, 2)).await else { panic!("listing failed") };
    let users: Vec<_> = first.iter().map(|e| e.user.as_str()).collect();
    assert_eq!(users, ["alice", "bob"]);
    let Ok(Response::Devices(fetched)) =
        c.request(Request::FetchDevices(vec![alice.user.clone(), bob1.user.clone()])).await
    else {
        panic!("fetch failed")
    };
    assert_eq!(first, fetched);
    assert_eq!(first[1].devices, vec![bob1.chain.clone(), bob2.chain.clone()]);
    assert_eq!(first[1].statements.len(), 1);
    let Ok(Response::Devices(second)) = c.request(list(Some(&bob1), 2)).await else { panic!("listing failed") };
    assert_eq!(second.iter().map(|e| e.user.as_str()).collect::<Vec<_>>(), ["carol"]);
    let Ok(Response::Devices(end)) = c.request(list(Some(&carol), 2)).await else { panic!("listing failed") };
    assert!(end.is_empty());
    // A limit above the protocol's is capped, not an error.
    let Ok(Response::Devices(all)) = c.request(list(None, u32::MAX)).await else { panic!("listing failed") };
    assert_eq!(all.len(), 3);

    // Before authentication nobody learns who works here.
    let mut stranger = relay.connect().await;
    let r = stranger.request(list(None, 2)).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::Unauthenticated);
}
