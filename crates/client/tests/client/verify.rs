//! Person-to-person verification (SAS emoji) between devices of different
//! people, through the real relay: both screens show the same emoji, both
//! devices end up marked verified (kept across a restart, and void once the
//! device is revoked); a forged confirmation or a key that breaks its
//! commitment cancels with an alert; flows run side by side and time out.

use crate::support::*;
use belfry_client::{Alert, Event, VerificationState};
use belfry_protocol::frames::InboxItem;
use belfry_protocol::{DeviceId, FlowId, ToDeviceContent, UserId, VerificationCancelReason};
use std::time::Duration;

type Sas = (Vec<(&'static str, &'static str)>, (u16, u16, u16));

fn is_state(flow: FlowId, want: fn(&VerificationState) -> bool) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Verification { flow: f, state, .. } if *f == flow && want(state))
}

async fn sas_shown(dev: &mut Dev, flow: FlowId) -> Sas {
    match dev.wait(is_state(flow, |s| matches!(s, VerificationState::ShowSas { .. }))).await {
        Event::Verification { state: VerificationState::ShowSas { emoji, decimals }, .. } => (emoji, decimals),
        other => unreachable!("{other:?}"),
    }
}

async fn cancelled(dev: &mut Dev, flow: FlowId) -> (VerificationCancelReason, bool) {
    match dev.wait(is_state(flow, |s| matches!(s, VerificationState::Cancelled { .. }))).await {
        Event::Verification { state: VerificationState::Cancelled { reason, by_them }, .. } => (reason, by_them),
        other => unreachable!("{other:?}"),
    }
}

/// Whether `dev` lists `user`/`device` as trusted and verified in person;
/// `None` when it does not list it at all.
async fn verified(dev: &Dev, user: &UserId, device: &DeviceId) -> Option<bool> {
    dev.engine.devices(user).await.unwrap().into_iter().find(|(d, _, _)| d == device).map(|(_, _, v)| v)
}

async fn ids(dev: &Dev) -> (UserId, DeviceId) {
    (dev.engine.user().await.unwrap(), dev.engine.device_id().await.unwrap())
}

/// Alice asks Bob's device, Bob accepts, both screens show emoji.
async fn up_to_the_emoji(alice: &mut Dev, bob: &mut Dev) -> (FlowId, Sas, Sas) {
    let (bob_id, bob_dev) = ids(bob).await;
    let (alice_id, alice_dev) = ids(alice).await;
    let flow = alice.engine.start_verification(&bob_id, &bob_dev).await.unwrap();
    match bob.wait(is_state(flow, |s| *s == VerificationState::Requested)).await {
        Event::Verification { user, device, .. } => assert_eq!((user, device), (alice_id, alice_dev)),
        other => unreachable!("{other:?}"),
    }
    bob.engine.accept_verification(flow).await.unwrap();
    let a = sas_shown(alice, flow).await;
    let b = sas_shown(bob, flow).await;
    (flow, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_see_the_same_emoji_and_verify_each_others_devices() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, alice_dev) = ids(&alice).await;
    let (bob_id, bob_dev) = ids(&bob).await;
    let (flow, a, b) = up_to_the_emoji(&mut alice, &mut bob).await;
    assert_eq!(a.0.len(), 7);
    assert_eq!(a, b, "both screens must show the same emoji and numbers");
    // Nothing is verified before the people confirm.
    assert_eq!(verified(&alice, &bob_id, &bob_dev).await, Some(false));
    assert_eq!(verified(&bob, &alice_id, &alice_dev).await, Some(false));

    alice.engine.confirm_sas(flow).await.unwrap();
    alice.wait(is_state(flow, |s| *s == VerificationState::Confirmed)).await;
    assert_eq!(verified(&alice, &bob_id, &bob_dev).await, Some(false), "bob has not confirmed yet");
    bob.engine.confirm_sas(flow).await.unwrap();
    bob.wait(is_state(flow, |s| *s == VerificationState::Verified)).await;
    alice.wait(is_state(flow, |s| *s == VerificationState::Verified)).await;
    assert_eq!(verified(&alice, &bob_id, &bob_dev).await, Some(true));
    assert_eq!(verified(&bob, &alice_id, &alice_dev).await, Some(true));
    assert!(alice.engine.verifications().await.unwrap().is_empty(), "a finished flow is gone");

    // Kept in the store.
    alice.settle().await;
    alice.reopen().await;
    assert_eq!(verified(&alice, &bob_id, &bob_dev).await, Some(true), "the mark survives a restart");

    // Revoked later: no longer trusted, verified or not.
    revoke(&relay, &bob_id, &bob_dev);
    let dev = bob_dev.clone();
    alice.wait(|e| matches!(e, Event::Alert(Alert::DeviceRevoked { device, .. }) if *device == dev)).await;
    assert_eq!(verified(&alice, &bob_id, &bob_dev).await, None, "a revoked device is not listed as trusted");
    assert!(alice.engine.start_verification(&bob_id, &bob_dev).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_confirmation_cancels_the_verification_and_raises_an_alert() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, alice_dev) = ids(&alice).await;
    let (bob_id, bob_dev) = ids(&bob).await;
    let (flow, a, b) = up_to_the_emoji(&mut alice, &mut bob).await;
    assert_eq!(a, b);
    alice.engine.confirm_sas(flow).await.unwrap();
    alice.wait(is_state(flow, |s| *s == VerificationState::Confirmed)).await;

    // Bob's device, under modified code, answers with a MAC that does not
    // come from the keys alice saw.
    bob.shut().await;
    let mut insider = Insider::open(bob.profile_dir());
    let forged = insider.seal(&alice_id, &alice_dev, ToDeviceContent::VerificationMac { flow, mac: [0x42; 32] });
    relay.inject("alice", alice_dev.as_str(), &InboxItem::ToDevice(forged));

    let ended = alice
        .wait(is_state(flow, |s| matches!(s, VerificationState::Cancelled { .. } | VerificationState::Verified)))
        .await;
    assert!(
        matches!(
            ended,
            Event::Verification {
                state: VerificationState::Cancelled { reason: VerificationCancelReason::MacMismatch, by_them: false },
                ..
            }
        ),
        "a forged MAC did not cancel the verification: {ended:?}"
    );
    let dev = bob_dev.clone();
    alice.wait(|e| matches!(e, Event::Alert(Alert::VerificationFailed { device, .. }) if *device == dev)).await;
    assert_eq!(verified(&alice, &bob_id, &bob_dev).await, Some(false), "a forged MAC verified the device");
    assert!(alice.engine.confirm_sas(flow).await.is_err(), "the flow is over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_breaks_its_commitment_cancels_the_verification() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (alice_id, alice_dev) = ids(&alice).await;
    let (bob_id, bob_dev) = ids(&bob).await;
    let flow = alice.engine.start_verification(&bob_id, &bob_dev).await.unwrap();
    bob.wait(is_state(flow, |s| *s == VerificationState::Requested)).await;

    // Bob's device, under modified code, commits to one key and reveals
    // another after it has seen alice's (to grind emoji).
    bob.shut().await;
    let mut insider = Insider::open(bob.profile_dir());
    let committed = belfry_protocol::Curve25519Public(vodozemac::sas::Sas::new().public_key().to_bytes());
    let revealed = belfry_protocol::Curve25519Public(vodozemac::sas::Sas::new().public_key().to_bytes());
    let commitment = belfry_crypto::sas::commitment(&flow.0, &committed);
    for content in [
        ToDeviceContent::VerificationAccept { flow, commitment },
        ToDeviceContent::VerificationKey { flow, key: revealed },
    ] {
        let env = insider.seal(&alice_id, &alice_dev, content);
        relay.inject("alice", alice_dev.as_str(), &InboxItem::ToDevice(env));
    }

    let ended = alice
        .wait(is_state(flow, |s| matches!(s, VerificationState::Cancelled { .. } | VerificationState::ShowSas { .. })))
        .await;
    assert!(
        matches!(
            ended,
            Event::Verification {
                state: VerificationState::Cancelled { reason: VerificationCancelReason::CommitmentMismatch, .. },
                ..
            }
        ),
        "emoji were shown for a key that broke its commitment: {ended:?}"
    );
    alice.wait(|e| matches!(e, Event::Alert(Alert::VerificationFailed { .. }))).await;
    assert_eq!(verified(&alice, &bob_id, &bob_dev).await, Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_run_side_by_side_and_one_cancelled_leaves_the_other() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (bob_id, bob_dev) = ids(&bob).await;
    let (carol_id, carol_dev) = ids(&carol).await;
    let to_bob = alice.engine.start_verification(&bob_id, &bob_dev).await.unwrap();
    let to_carol = alice.engine.start_verification(&carol_id, &carol_dev).await.unwrap();
    assert_ne!(to_bob, to_carol);
    assert_eq!(alice.engine.verifications().await.unwrap().len(), 2);
    bob.wait(is_state(to_bob, |s| *s == VerificationState::Requested)).await;
    carol.wait(is_state(to_carol, |s| *s == VerificationState::Requested)).await;
    bob.engine.accept_verification(to_bob).await.unwrap();
    carol.engine.accept_verification(to_carol).await.unwrap();
    let (with_bob, bobs) = (sas_shown(&mut alice, to_bob).await, sas_shown(&mut bob, to_bob).await);
    assert_eq!(with_bob, bobs);
    // Carol says her emoji differ.
    sas_shown(&mut carol, to_carol).await;
    carol.engine.cancel_verification(to_carol).await.unwrap();
    assert_eq!(cancelled(&mut alice, to_carol).await, (VerificationCancelReason::User, true));
    // Bob's flow goes on.
    bob.engine.confirm_sas(to_bob).await.unwrap();
    alice.engine.confirm_sas(to_bob).await.unwrap();
    alice.wait(is_state(to_bob, |s| *s == VerificationState::Verified)).await;
    bob.wait(is_state(to_bob, |s| *s == VerificationState::Verified)).await;
    assert_eq!(verified(&alice, &bob_id, &bob_dev).await, Some(true));
    assert_eq!(verified(&alice, &carol_id, &carol_dev).await, Some(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_verification_times_out_on_both_sides() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (bob_id, bob_dev) = ids(&bob).await;
    alice.engine.set_verification_timeout(Duration::from_secs(2)).await.unwrap();
    let flow = alice.engine.start_verification(&bob_id, &bob_dev).await.unwrap();
    bob.wait(is_state(flow, |s| *s == VerificationState::Requested)).await;
    // Nobody accepts.
    assert_eq!(cancelled(&mut alice, flow).await, (VerificationCancelReason::Timeout, false));
    assert_eq!(cancelled(&mut bob, flow).await, (VerificationCancelReason::Timeout, true));
    assert!(bob.engine.accept_verification(flow).await.is_err());
}

#[test]
fn verify_with_the_cli_between_two_profiles() {
    let relay = TestRelay::start();
    let home = tempfile::tempdir().unwrap();
    let org = relay.org.public().to_base64();
    let alice = home.path().join("alice");
    let bob = home.path().join("bob");
    for (user, profile) in [("alice", &alice), ("bob", &bob)] {
        let inv = cli::write_invitation(&relay, user, home.path());
        cli::run(profile, &["enroll", inv.to_str().unwrap(), "--org-key", &org]);
    }
    let asking = cli::spawn(&alice, &["--json", "verify", "bob", "--yes", "--wait", "60"]);
    let asked = cli::spawn(&bob, &["--json", "verify", "--incoming", "--yes", "--wait", "60"]);
    let (a, b) = (cli::finish(asking), cli::finish(asked));
    let sas = |out: &str| -> serde_json::Value {
        out.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["state"] == "sas")
            .unwrap_or_else(|| panic!("no emoji shown:\n{out}"))
    };
    let (sa, sb) = (sas(&a), sas(&b));
    assert_eq!(sa["emoji"].as_array().unwrap().len(), 7, "{a}");
    assert_eq!(sa["emoji"], sb["emoji"], "both sides must show the same emoji");
    assert_eq!(sa["decimals"], sb["decimals"]);
    assert_eq!(sa["verification"], sb["verification"]);
    for out in [&a, &b] {
        assert!(out.lines().any(|l| l.contains("\"state\":\"verified\"")), "{out}");
    }
    let listed = |profile: &std::path::Path, user: &str| -> serde_json::Value {
        let out = cli::run(profile, &["--json", "devices", user]);
        serde_json::from_str(out.lines().find(|l| l.contains("\"device\"")).unwrap()).unwrap()
    };
    assert_eq!(listed(&alice, "bob")["sas_verified"], true);
    assert_eq!(listed(&bob, "alice")["sas_verified"], true);
    let text = cli::run(&alice, &["devices", "bob"]);
    assert!(text.contains("verified in person"), "{text}");
}

/// IT revokes a device and the relay operator distributes the revocation.
fn revoke(relay: &TestRelay, user: &UserId, device: &DeviceId) {
    use belfry_protocol::Wire as _;
    use belfry_protocol::armor::{STATEMENT_LABEL, armor};
    let statement = belfry_protocol::Statement::Revocation(relay.org.sign(&belfry_protocol::Revocation {
        org: relay.org.public(),
        target: belfry_protocol::RevocationTarget::Device { user: user.clone(), device: device.clone() },
        issuer: belfry_protocol::Issuer::Org,
        reason: belfry_protocol::DisplayName::new("lost").unwrap(),
        issued_at: belfry_protocol::Timestamp(now().0),
    }));
    let file = relay.dir.path().join(format!("s{}.belfry-statement", rand::random::<u32>()));
    std::fs::write(&file, armor(STATEMENT_LABEL, &statement.encode())).unwrap();
    let out = std::process::Command::new(relay_bin())
        .args(["statement", "--dir"])
        .arg(relay.relay_dir())
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The `belfry` binary, run as a script would.
mod cli {
    use crate::support::TestRelay;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};

    const BELFRY: &str = env!("CARGO_BIN_EXE_belfry");

    fn command(profile: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(BELFRY);
        c.arg("--profile")
            .arg(profile)
            .args(["--passphrase-env", "TEST_PASSPHRASE", "--timeout", "20"])
            .args(args)
            .env("TEST_PASSPHRASE", "correct horse battery staple")
            .env("BELFRY_TEST_FAST_KDF", "1");
        c
    }

    pub fn run(profile: &Path, args: &[&str]) -> String {
        let out = command(profile, args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{args:?}\nstdout:\n{text}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
        text
    }

    pub fn spawn(profile: &Path, args: &[&str]) -> Child {
        command(profile, args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    }

    pub fn finish(child: Child) -> String {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "stdout:\n{text}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
        text
    }

    pub fn write_invitation(relay: &TestRelay, user: &str, dir: &Path) -> PathBuf {
        use belfry_protocol::Wire as _;
        use belfry_protocol::armor::{INVITATION_LABEL, armor};
        let invitation = relay.invite(user);
        let path = dir.join(format!("{user}.belfry-invite"));
        std::fs::write(&path, armor(INVITATION_LABEL, &invitation.encode())).unwrap();
        path
    }
}

/// One device cannot fill every verification slot of another: past two
/// requests in progress from it, the next is declined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_device_cannot_fill_every_verification_slot() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let (bob_id, bob_dev) = ids(&bob).await;
    let mut flows = Vec::new();
    for _ in 0..3 {
        flows.push(alice.engine.start_verification(&bob_id, &bob_dev).await.unwrap());
    }
    for flow in &flows[..2] {
        bob.wait(is_state(*flow, |s| *s == VerificationState::Requested)).await;
    }
    let (_, by_them) = cancelled(&mut alice, flows[2]).await;
    assert!(by_them, "bob's device declines the third request");
}
