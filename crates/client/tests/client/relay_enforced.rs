//! What the relay enforces on real engines: revoked enrollment keys,
//! per-sender quotas, statement throttles, paging of large directories.

use crate::support::*;
use belfry_client::{Alert, Event};
use belfry_protocol::room::RoomKind;
use belfry_protocol::{Ed25519Public, Statement};
use belfry_store::MessageStatus;

/// IT revokes a statement and the relay operator distributes it with
/// `belfry-relay statement`.
pub(crate) fn distribute(relay: &TestRelay, statement: &Statement) {
    use belfry_protocol::Wire as _;
    use belfry_protocol::armor::{STATEMENT_LABEL, armor};
    let file = relay.dir.path().join(format!("s{}.belfry-statement", rand::random::<u32>()));
    std::fs::write(&file, armor(STATEMENT_LABEL, &statement.encode())).unwrap();
    let out =
        std::process::Command::new(relay_bin()).args(["statement", "--dir"]).arg(relay.relay_dir()).arg(&file).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

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
    let bob_id = bob.engine.user().await;
    let room = thief.engine.create_room(RoomKind::Direct, "chat", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    let before = thief.engine.send_text(room, "before").await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == before)).await;

    distribute(&relay, &revoke_enrollment(&relay, key));
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
