//! Operating the relay: init, help, config errors, graceful shutdown,
//! metrics.

use crate::support::*;
use belfry_protocol::{ErrorCode, Request};
use std::process::Command;

#[test]
fn help_teaches_init_and_serve() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("init") && text.contains("serve") && text.contains("belfry-admin"), "{text}");
    let out = Command::new(BIN).args(["init", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--org-key") && text.contains("CA"), "{text}");
}

#[test]
fn init_writes_private_keys_privately_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let relay = dir.path().join("r");
    let org = Org::new();
    let init = || {
        Command::new(BIN)
            .args(["init", "--dir"])
            .arg(&relay)
            .args(["--name", "relay.test", "--org-key", &org.public().to_base64()])
            .output()
            .unwrap()
    };
    let out = init();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CA fingerprint:"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for key in ["ca.key.pem", "server.key.pem"] {
            let mode = std::fs::metadata(relay.join(key)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{key} is readable by others: {mode:o}");
        }
    }
    let ca_before = std::fs::read(relay.join("ca.key.pem")).unwrap();
    let out = init();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(std::fs::read(relay.join("ca.key.pem")).unwrap(), ca_before, "the CA key was overwritten");
}

#[test]
fn a_bad_org_key_or_config_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["init", "--dir"])
        .arg(dir.path().join("r"))
        .args(["--name", "relay.test", "--org-key", "not-a-key"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("org_public_key"));

    let mut relay = Relay::start();
    relay.kill9();
    let config = relay.relay_dir().join("relay.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\nunknown_setting = 1\n")).unwrap();
    let out = Command::new(BIN).args(["serve", "--dir"]).arg(relay.relay_dir()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("relay.toml") && err.contains("unknown_setting"), "{err}");
}

#[tokio::test]
async fn sigterm_closes_connections_cleanly_and_keeps_what_was_acked() {
    let mut relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    drop(relay.enroll(&bob, 0).await);
    a.publish_room(&alice, room(), b"before shutdown", &[&bob]).await;
    let pid = relay.pid().unwrap();
    let waiter = tokio::task::spawn_blocking(move || {
        Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    });
    assert_eq!(a.closed().await.map(|e| e.code), Some(ErrorCode::Unavailable));
    waiter.await.unwrap();
    let status = relay.terminate_wait();
    assert!(status.success(), "exit status {status:?}; log:\n{}", relay.log());
    assert!(relay.log().contains("stopped"), "{}", relay.log());
    relay.spawn();
    let mut b = relay.login(&bob).await;
    b.wait_inbox(1).await;
    assert_eq!(body_of(&b.inbox[0]), b"before shutdown");
}

#[tokio::test]
async fn metrics_count_without_naming_anyone() {
    let relay = Relay::start_with(|t| {
        *t = t.replacen("listen = ", "metrics_listen = \"127.0.0.1:0\"\nlisten = ", 1);
    });
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    let mut b = relay.enroll(&bob, 0).await;
    a.publish_room(&alice, room(), b"secret words", &[&bob]).await;
    b.wait_inbox(1).await;
    let _ = a.request(Request::ClaimPrekeys(vec![])).await;
    let addr = relay.metrics_addr.expect("metrics address printed");
    let text = tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    for metric in [
        "belfry_relay_connections ",
        "belfry_relay_authenticated_connections ",
        "belfry_relay_publishes_total 1",
        "belfry_relay_deliveries_total",
        "belfry_relay_devices 2",
        "belfry_relay_inbox_entries 1",
        "belfry_relay_frames_total{direction=\"in\"}",
    ] {
        assert!(text.contains(metric), "missing {metric:?} in\n{text}");
    }
    for secret in ["alice", "bob", "ALICE", "secret words"] {
        assert!(!text.contains(secret), "metrics name {secret:?}");
    }
    assert!(!relay.log().contains("secret words"));
}

#[tokio::test]
async fn it_registers_invitations_from_files_while_the_relay_runs() {
    use belfry_protocol::armor::{INVITATION_LABEL, REGISTRATION_LABEL, armor};
    use belfry_protocol::{Registration, Wire as _};
    let relay = Relay::start();
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let file = relay.dir.path().join("alice.belfry-registration");
    let registration = Registration { enrollment: alice.invitation.clone() };
    std::fs::write(&file, armor(REGISTRATION_LABEL, &registration.encode())).unwrap();
    let out = Command::new(BIN).args(["register", "--dir"]).arg(relay.relay_dir()).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("for alice"));
    // The device enrolls without registering anything itself.
    let mut c = relay.connect().await;
    c.ok(Request::Enroll(alice.chain.clone())).await;
    c.authenticate(&alice).await.unwrap();

    // A registration from another organisation, or the user's secret
    // invitation file by mistake: refused with a clear message.
    let other = Identity::new(&Org::new(), "mallory", "MALLORY");
    std::fs::write(&file, armor(REGISTRATION_LABEL, &Registration { enrollment: other.invitation }.encode())).unwrap();
    let out = Command::new(BIN).args(["register", "--dir"]).arg(relay.relay_dir()).arg(&file).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not signed by this relay's organisation"));
    std::fs::write(&file, armor(INVITATION_LABEL, b"anything")).unwrap();
    let out = Command::new(BIN).args(["register", "--dir"]).arg(relay.relay_dir()).arg(&file).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds a secret"));
}

#[tokio::test]
async fn it_distributes_org_statements_from_files_to_connected_devices() {
    use belfry_protocol::armor::{STATEMENT_LABEL, armor};
    use belfry_protocol::frames::InboxItem;
    use belfry_protocol::{Statement, Wire as _};
    let relay = Relay::start_with(|t| *t = t.replace("idle_timeout_secs = 120", "idle_timeout_secs = 3"));
    let alice = Identity::new(&relay.org, "alice", "ALICE");
    let bob = Identity::new(&relay.org, "bob", "BOB");
    let mut a = relay.enroll(&alice, 0).await;
    drop(relay.enroll(&bob, 0).await);
    let file = relay.dir.path().join("wipe.belfry-statement");
    let wipe = relay.org.wipe(&bob.user, &bob.device);
    std::fs::write(&file, armor(STATEMENT_LABEL, &wipe.encode())).unwrap();
    let run = || Command::new(BIN).args(["statement", "--dir"]).arg(relay.relay_dir()).arg(&file).output().unwrap();
    let out = run();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Distributed: statement concerning bob"));
    // Alice, connected all along, receives it (the relay polls inboxes
    // alongside its keep-alive pings).
    a.wait_inbox(1).await;
    assert!(matches!(&a.inbox[0].item, InboxItem::Statement(Statement::Wipe(_))));
    // Again: nothing new.
    assert!(String::from_utf8_lossy(&run().stdout).contains("Already distributed"));
    // A statement signed by someone else is refused.
    let forged = Org::new().wipe(&alice.user, &alice.device);
    std::fs::write(&file, armor(STATEMENT_LABEL, &forged.encode())).unwrap();
    let out = run();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another organisation"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
