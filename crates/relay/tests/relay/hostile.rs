//! Bad input and limits on live connections: the offending connection gets
//! a clear error and is closed; the relay and other connections go on.

use crate::support::*;
use belfry_protocol::codec::encode;
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::{ClientFrame, ErrorCode, MessageId, Request, Response};
use tokio::io::AsyncWriteExt as _;
use tokio_tungstenite::tungstenite::Message;

/// Two devices that keep talking while others misbehave.
async fn bystanders(relay: &Relay) -> (Identity, Identity, Client, Client) {
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let a = relay.enroll(&alice, 0).await;
    let b = relay.enroll(&bob, 0).await;
    (alice, bob, a, b)
}

async fn still_working(alice: &Identity, bob: &Identity, a: &mut Client, b: &mut Client, body: &[u8]) {
    a.publish_room(alice, room(), body, &[bob]).await;
    let before = b.inbox.len();
    b.wait_inbox(before + 1).await;
    assert_eq!(body_of(b.inbox.back().unwrap()), body);
}

#[tokio::test]
async fn garbage_truncated_and_text_frames_close_only_their_connection() {
    let relay = Relay::start();
    let (alice, bob, mut a, mut b) = bystanders(&relay).await;
    let valid = encode(&ClientFrame { id: 7, request: Request::FetchDevices(vec![alice.user.clone()]) });
    let cases: Vec<(&str, Message)> = vec![
        ("garbage", Message::Binary(b"\x00\xffnot a frame at all".to_vec().into())),
        ("empty", Message::Binary(Vec::new().into())),
        ("truncated", Message::Binary(valid[..valid.len() - 3].to_vec().into())),
        (
            "wrong version",
            Message::Binary(
                {
                    let mut v = valid.clone();
                    v[0] ^= 0x7f;
                    v
                }
                .into(),
            ),
        ),
        (
            "trailing bytes",
            Message::Binary(
                {
                    let mut v = valid.clone();
                    v.extend_from_slice(b"xx");
                    v
                }
                .into(),
            ),
        ),
        ("text", Message::Text("hello".into())),
    ];
    for (name, msg) in cases {
        let mut c = relay.connect().await;
        c.send_raw(msg).await;
        let reason = c.closed().await;
        assert_eq!(reason.map(|e| e.code), Some(ErrorCode::Malformed), "{name}");
        still_working(&alice, &bob, &mut a, &mut b, name.as_bytes()).await;
    }
    // The valid frame itself is answered.
    let mut c = relay.connect().await;
    c.send_raw(Message::Binary(valid.into())).await;
    assert!(matches!(c.frame().await, Some(belfry_protocol::ServerFrame::Response { id: 7, .. })));
}

#[tokio::test]
async fn an_oversized_frame_is_refused_and_closes_its_connection() {
    let relay = Relay::start();
    let (alice, bob, mut a, mut b) = bystanders(&relay).await;
    // Signed in: the frame limit is the relay's 1 MiB (before sign-in, far
    // less is read at all: see `strangers`).
    let mut c = relay.login(&alice).await;
    c.send_raw(Message::Binary(vec![0u8; belfry_protocol::limits::MAX_FRAME_LEN + 1].into())).await;
    let reason = c.closed().await;
    assert_eq!(reason.map(|e| e.code), Some(ErrorCode::FrameTooLarge));
    still_working(&alice, &bob, &mut a, &mut b, b"after oversized").await;
}

#[tokio::test]
async fn random_frames_never_disturb_the_relay() {
    let relay = Relay::start();
    let (alice, bob, mut a, mut b) = bystanders(&relay).await;
    let valid = encode(&ClientFrame {
        id: 1,
        request: Request::PublishRoom {
            id: MessageId(random()),
            recipients: vec![bob.address()],
            message: alice.room_message(room(), b"x"),
        },
    });
    // Mutations of a valid frame and random bytes, many on one connection
    // until it is closed, then on a new one.
    let mut c = relay.connect().await;
    for i in 0..300u32 {
        let mut frame = if i % 2 == 0 { valid.clone() } else { random::<64>().to_vec() };
        let at = usize::try_from(i).unwrap() % frame.len();
        frame[at] ^= 1 << (i % 8);
        if i % 5 == 0 {
            frame.truncate(at);
        }
        c.send_raw(Message::Binary(frame.into())).await;
        if i % 10 == 9 {
            c = relay.connect().await;
        }
    }
    still_working(&alice, &bob, &mut a, &mut b, b"after random frames").await;
}

#[tokio::test]
async fn raw_garbage_before_tls_and_before_http_is_harmless() {
    let relay = Relay::start();
    let (alice, bob, mut a, mut b) = bystanders(&relay).await;
    let mut tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3]).await.unwrap();
    drop(tcp);
    let mut tls = relay.tls(relay.tls_config()).await.unwrap();
    tls.write_all(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01garbage").await.unwrap();
    drop(tls);
    still_working(&alice, &bob, &mut a, &mut b, b"after garbage").await;
}

#[tokio::test]
async fn limits_answer_with_clear_errors() {
    let relay = Relay::start_with(|t| {
        *t = t.replace("max_inbox_depth = 100000", "max_inbox_depth = 3");
        *t = t.replace("key_claims_per_minute = 3000", "key_claims_per_minute = 5");
        *t = t.replace("connections_per_device = 4", "connections_per_device = 2");
    });
    let (alice, bob, mut a, b) = bystanders(&relay).await;
    drop(b);
    // Inbox depth: three entries fit, the fourth is refused, nothing stored.
    for i in 0..3u8 {
        a.publish_room(&alice, room(), &[i], &[&bob]).await;
    }
    let id = MessageId(random());
    let r = a
        .request(Request::PublishRoom {
            id,
            recipients: vec![bob.address()],
            message: alice.room_message(room(), b"4"),
        })
        .await;
    let e = r.unwrap_err();
    assert_eq!(e.code, ErrorCode::InboxFull, "{e}");
    // Unknown recipient: refused, and nothing is stored for anyone.
    let nobody = DeviceAddress { user: bob.user.clone(), device: belfry_protocol::DeviceId::new("NOBODY").unwrap() };
    let r = a
        .request(Request::PublishRoom {
            id: MessageId(random()),
            recipients: vec![alice.address(), nobody],
            message: alice.room_message(room(), b"x"),
        })
        .await;
    assert_eq!(r.unwrap_err().code, ErrorCode::NotFound);
    // Key claims per minute.
    for _ in 0..5 {
        a.claim(&[&bob]).await;
    }
    let r = a.request(Request::ClaimPrekeys(vec![bob.address()])).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::RateLimited);
    // Connections per device: Alice has one; a second is fine, a third not.
    let _second = relay.login(&alice).await;
    let mut third = relay.connect().await;
    let r = third.authenticate(&alice).await;
    assert_eq!(r.unwrap_err().code, ErrorCode::TooManyConnections);
    // Too many recipients in one publish.
    let many = vec![alice.address(); belfry_protocol::limits::MAX_RECIPIENTS + 1];
    let r = a
        .request(Request::PublishRoom {
            id: MessageId(random()),
            recipients: many,
            message: alice.room_message(room(), b"x"),
        })
        .await;
    assert!(matches!(r, Err(ref e) if e.code == ErrorCode::TooMany || e.code == ErrorCode::Malformed), "{r:?}");
    // Bob reconnects: exactly the three that fit.
    let mut b = relay.login(&bob).await;
    b.wait_inbox(3).await;
    let r = b.request(Request::FetchDevices(vec![])).await;
    assert_eq!(r, Ok(Response::Devices(vec![])));
    assert_eq!(b.inbox.len(), 3);
}

#[tokio::test]
async fn unauthenticated_and_idle_connections_are_closed() {
    let relay = Relay::start_with(|t| {
        *t = t.replace("idle_timeout_secs = 120", "idle_timeout_secs = 2");
        *t = t.replace("auth_timeout_secs = 10", "auth_timeout_secs = 1");
    });
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    drop(relay.enroll(&alice, 0).await);
    let mut lurker = relay.connect().await;
    assert_eq!(lurker.closed().await.map(|e| e.code), Some(ErrorCode::Unauthenticated));
    // Authenticated but silent (not even answering pings, because it does
    // not read): closed as idle.
    let mut idle = relay.login(&alice).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(idle.closed().await.map(|e| e.code), Some(ErrorCode::IdleTimeout));
}
