//! What the relay enforces on real engines: revoked enrollment keys,
//! per-sender quotas, statement throttles, paging of large directories.

use crate::support::*;
use belfry_client::{Alert, Event};
use belfry_protocol::room::RoomKind;
use belfry_protocol::{Ed25519Public, Statement};
use belfry_store::MessageStatus;

fn revoke_enrollment(relay: &TestRelay, key: Ed25519Public) -> Statement {
    Statement::Revocation(relay.org.revoke_enrollment(
        key,
        belfry_protocol::DisplayName::new("invitation stolen").unwrap(),
        now(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_from_a_stolen_invitation_revoked_by_enrollment_key_is_refused_by_the_relay() {
    let relay = TestRelay::start();
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    // The thief enrolls first with Alice's stolen invitation.
    let stolen = relay.invite("alice");
    let key = stolen.enrollment.peek_unverified().unwrap().enrollment_key;
    let mut thief = Dev::enroll_with(&relay, &stolen, "Alice laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let room = thief.engine.create_room(RoomKind::Direct, "chat", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    let before = thief.engine.send_text(room, "before").await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == before)).await;

    relay.distribute(&revoke_enrollment(&relay, key));
    // The unmodified engine sends; the relay refuses with Forbidden
    // ("this device is revoked"), which the engine reports.
    let after = thief.engine.send_text(room, "after").await.unwrap();
    let (mut failed, mut forbidden) = (false, false);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !(failed && forbidden) {
        match tokio::time::timeout_at(deadline, thief.events.recv()).await {
            Ok(Ok(Event::Status(id, MessageStatus::Failed))) if id == after => failed = true,
            Ok(Ok(Event::Alert(Alert::Rejected { detail })))
                if detail.contains("the relay refused") && detail.contains("this device is revoked") =>
            {
                forbidden = true
            }
            Ok(_) => {}
            Err(_) => panic!("no refusal from the relay: failed {failed}, forbidden {forbidden}"),
        }
    }
    bob.settle().await;
    assert!(bob.engine.messages(&room, 100).await.unwrap().iter().all(|m| m.id != after), "Bob stored it");
}

/// A connection to the relay as `device` (a shut engine's device, run by
/// modified code), its pushes drained.
fn link_as(relay: &TestRelay, device: belfry_crypto::Device) -> belfry_client::net::Link {
    use std::sync::{Arc, Mutex};
    let (user, id) = (device.user().clone(), device.device_id().clone());
    let device = Arc::new(Mutex::new(device));
    let sign: belfry_client::net::Signer = Arc::new(move |proof| Ok(device.lock().unwrap().sign(proof)));
    let (pushes, mut drain) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move { while drain.recv().await.is_some() {} });
    let target = belfry_client::net::RelayTarget { url: relay.url.clone(), ca_der: relay.ca_der.clone() };
    belfry_client::net::Link::spawn(target, user, id, sign, pushes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_bogus_revocations_from_an_insider_neither_pass_nor_stop_alice() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut mallory = Dev::enroll(&relay, "mallory", "Mallory laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Direct, "chat", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    // Mallory's device, run by her own code: revocations of invented
    // devices of her own user, signed by her real device key.
    mallory.shut().await;
    let insider = Insider::open(mallory.profile_dir());
    let statements: Vec<Statement> = (0..5_000)
        .map(|i| {
            Statement::Revocation(insider.device.revoke_own_device(
                belfry_protocol::DeviceId::new(format!("FAKE{i}")).unwrap(),
                belfry_protocol::DisplayName::new("lost").unwrap(),
                now(),
            ))
        })
        .collect();
    let link = link_as(&relay, insider.device);
    let mut answers = Vec::new();
    for st in statements {
        answers.push(link.submit(belfry_protocol::Request::PublishStatement(st)).await.unwrap());
    }
    // Alice keeps talking meanwhile.
    let during = alice.engine.send_text(room, "during the flood").await.unwrap();
    let mut passed = 0;
    for a in answers {
        match a.await {
            Ok(_) => passed += 1,
            Err(belfry_client::ClientError::Refused(e)) => {
                assert!(
                    matches!(e.code, belfry_protocol::ErrorCode::NotFound | belfry_protocol::ErrorCode::RateLimited),
                    "{e:?}"
                )
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(passed, 0, "bogus revocations passed the relay");
    link.stop_and_wait().await;
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == during)).await;
    let bob_room = bob.engine.rooms().await.unwrap().into_iter().find(|r| r.id == room).unwrap().id;
    let answer = bob.engine.send_text(bob_room, "received").await.unwrap();
    alice.wait(|e| matches!(e, Event::Message(m) if m.id == answer)).await;
}

/// `n` people enrolled straight with the relay (no engine: what a large
/// org looks like to one device), each with one device and keys.
async fn crowd(relay: &TestRelay, n: usize) -> Vec<belfry_protocol::UserId> {
    use belfry_protocol::Wire as _;
    use belfry_protocol::armor::{REGISTRATION_LABEL, armor};
    let target = belfry_client::net::RelayTarget { url: relay.url.clone(), ca_der: relay.ca_der.clone() };
    let mut invitations = Vec::new();
    let mut files = Vec::new();
    for i in 0..n {
        let user = belfry_protocol::UserId::new(format!("member{i:03}")).unwrap();
        let invitation = relay
            .org
            .invite(
                &belfry_crypto::InvitationRequest {
                    user: user.clone(),
                    display_name: belfry_protocol::DisplayName::new(user.as_str()).unwrap(),
                    relay_url: relay.url.clone(),
                    relay_ca_der: relay.ca_der.clone(),
                    valid_for_ms: 3_600_000,
                },
                now(),
            )
            .unwrap();
        let file = relay.dir.path().join(format!("{user}.belfry-registration"));
        let registration = belfry_protocol::Registration { enrollment: invitation.enrollment.clone() };
        std::fs::write(&file, armor(REGISTRATION_LABEL, &registration.encode())).unwrap();
        files.push(file);
        invitations.push((user, invitation));
    }
    let out = std::process::Command::new(relay_bin())
        .args(["register", "--dir"])
        .arg(relay.relay_dir())
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut users = Vec::new();
    let enrolls = invitations.into_iter().map(|(user, invitation)| {
        let target = target.clone();
        let org = relay.org.public();
        async move {
            let mut device = belfry_crypto::Device::enroll(
                &invitation,
                &org,
                belfry_protocol::DisplayName::new("laptop").unwrap(),
                now(),
            )
            .unwrap();
            let one_time = device.generate_prekeys(2);
            let fallback = device.generate_fallback_prekey();
            let chain = device.chain().clone();
            let device = std::sync::Arc::new(std::sync::Mutex::new(device));
            let sign: belfry_client::net::Signer = std::sync::Arc::new(move |p| Ok(device.lock().unwrap().sign(p)));
            belfry_client::net::enroll(&target, chain, &sign, one_time, fallback).await.map_err(|f| f.error).unwrap();
            user
        }
    });
    use futures_util::StreamExt as _;
    let mut pending = futures_util::stream::iter(enrolls).buffer_unordered(8);
    while let Some(user) = pending.next().await {
        users.push(user);
    }
    users
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_hundred_member_group_sends() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut members = crowd(&relay, 298).await;
    members.push(bob.engine.user().await.unwrap());
    // 300 members with Alice: more users than one device fetch, more
    // devices than one key claim, and room keys for more than one frame.
    let room = alice.engine.create_room(RoomKind::Group, "everyone", &members).await.unwrap();
    bob.joined(&room).await;
    let id = alice.engine.send_text(room, "to all 300").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while !bob.engine.messages(&room, 10).await.unwrap().iter().any(|m| m.id == id) {
        assert!(std::time::Instant::now() < deadline, "Bob never got the message");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bob.drain();
}
