//! The `belfry` command line, as a person or a script uses it.

use crate::support::*;
use std::path::Path;
use std::process::{Command, Output};

const BELFRY: &str = env!("CARGO_BIN_EXE_belfry");

fn belfry(profile: &Path, args: &[&str]) -> Output {
    Command::new(BELFRY)
        .arg("--profile")
        .arg(profile)
        .args(["--passphrase-env", "TEST_PASSPHRASE", "--timeout", "20"])
        .args(args)
        .env("TEST_PASSPHRASE", "correct horse battery staple")
        .env("BELFRY_TEST_FAST_KDF", "1")
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write_invitation(relay: &TestRelay, user: &str, dir: &Path) -> std::path::PathBuf {
    use belfry_protocol::Wire as _;
    use belfry_protocol::armor::{INVITATION_LABEL, armor};
    let invitation = relay.invite(user);
    let path = dir.join(format!("{user}.belfry-invite"));
    std::fs::write(&path, armor(INVITATION_LABEL, &invitation.encode())).unwrap();
    path
}

#[test]
fn enroll_create_send_read_search_with_the_cli() {
    let relay = TestRelay::start();
    let home = tempfile::tempdir().unwrap();
    let org = relay.org.public().to_base64();
    let alice = home.path().join("alice");
    let bob = home.path().join("bob");
    for (user, profile) in [("alice", &alice), ("bob", &bob)] {
        let inv = write_invitation(&relay, user, home.path());
        let out = ok(belfry(profile, &["enroll", inv.to_str().unwrap(), "--org-key", &org, "--device-name", "Laptop"]));
        assert!(out.contains(&format!("Enrolled {user}/")), "{out}");
    }
    // A used invitation cannot enroll a second device (a copy taken
    // before the first enrollment erased the file).
    let inv = write_invitation(&relay, "mallory", home.path());
    let copy = home.path().join("copy.belfry-invite");
    std::fs::copy(&inv, &copy).unwrap();
    ok(belfry(&home.path().join("m1"), &["enroll", inv.to_str().unwrap(), "--org-key", &org]));
    let out = belfry(&home.path().join("m2"), &["enroll", copy.to_str().unwrap(), "--org-key", &org]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already used"), "{}", String::from_utf8_lossy(&out.stderr));

    let created = ok(belfry(&alice, &["--json", "create", "--direct", "bob"]));
    let room: serde_json::Value = serde_json::from_str(created.lines().last().unwrap()).unwrap();
    let room_id = room["id"].as_str().unwrap().to_owned();
    let sent = ok(belfry(&alice, &["--json", "send", &room_id, "Meeting moved to 15:00."]));
    let sent: serde_json::Value = serde_json::from_str(sent.lines().last().unwrap()).unwrap();
    assert_eq!(sent["status"], "sent");

    let rooms = ok(belfry(&bob, &["rooms"]));
    assert!(rooms.contains("alice and bob") && rooms.contains("1 unread"), "{rooms}");
    let read = ok(belfry(&bob, &["--json", "read", &room_id]));
    let messages: Vec<serde_json::Value> = read
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("body").is_some())
        .collect();
    assert_eq!(messages.len(), 1, "{read}");
    assert_eq!(messages[0]["body"], "Meeting moved to 15:00.");
    assert_eq!(messages[0]["sender"], "alice");

    // What `read` showed is read.
    let rooms = ok(belfry(&bob, &["rooms"]));
    assert!(rooms.contains("alice and bob") && !rooms.contains("unread"), "{rooms}");
    let found = ok(belfry(&bob, &["search", "moved"]));
    assert!(found.contains("Meeting moved to 15:00."), "{found}");
    let devices = ok(belfry(&bob, &["devices", "alice"]));
    assert!(devices.contains("alice/") && devices.contains("Laptop"), "{devices}");

    // The wrong passphrase opens nothing.
    let out = Command::new(BELFRY)
        .arg("--profile")
        .arg(&bob)
        .args(["--passphrase-env", "P", "rooms"])
        .env("P", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).to_lowercase().contains("passphrase"));

    // wipe-self erases the profile.
    ok(belfry(&bob, &["wipe-self", "--yes"]));
    assert_eq!(std::fs::read_dir(&bob).unwrap().count(), 0);
}

/// `belfry status` tells IT what protects this device's data, and the CLI
/// process does refuse core dumps and same-user debuggers (the kernel's
/// answer, read by the process itself) with SQLite's freed memory wiped.
#[test]
fn status_shows_the_device_and_what_protects_its_memory() {
    let relay = TestRelay::start();
    let home = tempfile::tempdir().unwrap();
    let org = relay.org.public().to_base64();
    let alice = home.path().join("alice");
    let inv = write_invitation(&relay, "alice", home.path());
    ok(belfry(&alice, &["enroll", inv.to_str().unwrap(), "--org-key", &org, "--device-name", "Laptop"]));

    let out = ok(belfry(&alice, &["--json", "status"]));
    let status: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(status["user"], "alice");
    assert_eq!(status["online"], true);
    assert_eq!(status["store_key"], "passphrase");
    assert_eq!(status["memory_protection"], "WipeOnFree");
    let swap = status["swap"].as_str().unwrap_or_default();
    assert!(["off", "safe", "not_encrypted", "unknown"].contains(&swap), "{status}");
    #[cfg(target_os = "linux")]
    assert_eq!(status["not_dumpable"], true, "{status}");

    let text = ok(belfry(&alice, &["status"]));
    assert!(text.contains("memory:   wiped when SQLite frees it"), "{text}");
    #[cfg(target_os = "linux")]
    assert!(text.contains("process:  no core dumps"), "{text}");
}

/// `belfry wipe-self` with the OS keychain out of reach (no session bus)
/// cannot delete the store key: it says so and exits with status 3, never
/// "erased". The next opening of the profile finishes the wipe, and the
/// wrapped key file of a passphrase profile is overwritten before it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wipe_self_that_cannot_delete_the_key_says_so_and_is_finished_later() {
    use belfry_client::ClientError;
    use belfry_client::profile::{KeySource, Profile};
    let relay = TestRelay::start();
    let keychain = std::sync::Arc::new(belfry_store::testing::TestKeychain::default());
    let mut alice = Dev::enroll_in_keychain(&relay, "alice", "Alice laptop", keychain.clone()).await;
    alice.shut().await;
    assert_eq!(keychain.accounts().len(), 1);
    // The CLI keeps keys in the OS keychain, which this child cannot reach
    // (no D-Bus session, a scratch HOME): never the developer's keychain.
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(BELFRY)
        .arg("--profile")
        .arg(alice.profile_dir())
        .args(["wipe-self", "--yes"])
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("DISPLAY")
        .env("HOME", scratch.path())
        .env("XDG_RUNTIME_DIR", scratch.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stdout:\n{}\nstderr:\n{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(stderr.contains("THE WIPE DID NOT COMPLETE"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("erased"), "an incomplete wipe claimed success");
    assert!(alice.profile_dir().join("wipe.pending").exists(), "nothing makes the next start finish the wipe");

    let again = Profile::with_keychain(alice.profile_dir(), keychain.clone()).open(&KeySource::Keychain);
    assert!(matches!(again, Err(ClientError::Wiped)), "{:?}", again.map(|_| ()));
    assert!(keychain.accounts().is_empty(), "the key survived: {:?}", keychain.accounts());
    assert_eq!(std::fs::read_dir(alice.profile_dir()).unwrap().count(), 0);

    // Passphrase mode: the wrapped key's blocks are overwritten, not just
    // unlinked (a second link to the file shows its content afterwards).
    let home = tempfile::tempdir().unwrap();
    let bob = home.path().join("bob");
    let inv = write_invitation(&relay, "bob", home.path());
    ok(belfry(&bob, &["enroll", inv.to_str().unwrap(), "--org-key", &relay.org.public().to_base64()]));
    let wrapped = bob.join("key.wrapped");
    let before = std::fs::read(&wrapped).unwrap();
    let link = home.path().join("wrapped-key-blocks");
    std::fs::hard_link(&wrapped, &link).unwrap();
    ok(belfry(&bob, &["wipe-self", "--yes"]));
    let after = std::fs::read(&link).unwrap();
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|b| *b == 0), "the wrapped key was unlinked without being overwritten");
    assert_eq!(std::fs::read_dir(&bob).unwrap().count(), 0);
}

/// Run by the next test in a fresh process, where nothing has hardened it.
#[test]
#[ignore = "run by a_host_that_forgets_to_harden_the_process_opens_no_profile in a fresh process"]
fn child_unhardened_host() {
    use belfry_client::ClientError;
    use belfry_client::profile::Profile;
    let home = tempfile::tempdir().unwrap();
    let profile = Profile::new(&home.path().join("profile"));
    let err = profile.create(&key_source()).map(|_| ()).unwrap_err();
    assert!(matches!(err, ClientError::NotHardened), "{err}");
    assert!(!home.path().join("profile").exists(), "something was written before hardening");
    let hardening = belfry_client::hardening::harden_process();
    assert_eq!(hardening.memory, belfry_store::MemoryProtection::WipeOnFree);
    profile.create(&key_source()).unwrap();
    println!("CHILD-OK");
}

/// A host that opens a profile without hardening the process first (no
/// `harden_process` at the start of `main`) gets a typed error before
/// SQLite is touched, so the store's memory protection is never settled
/// later on a worker thread; once hardened, the store wipes freed memory.
#[test]
fn a_host_that_forgets_to_harden_the_process_opens_no_profile() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "cli::child_unhardened_host", "--nocapture"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("CHILD-OK"), "{stdout}");
}

/// `belfry enroll` erases the invitation it used (it holds the enrollment
/// secret) and leaves the device's public chain for IT to confirm; when it
/// cannot erase it, it says so and exits with an error.
#[test]
fn enroll_erases_the_used_invitation_and_writes_the_device_file() {
    use belfry_protocol::Wire as _;
    use belfry_protocol::armor::{DEVICE_LABEL, dearmor};
    let relay = TestRelay::start();
    let home = tempfile::tempdir().unwrap();
    let org = relay.org.public().to_base64();
    let inv = write_invitation(&relay, "alice", home.path());
    // A second name for the file's contents shows they were overwritten
    // before the name was removed.
    let witness = home.path().join("witness");
    std::fs::hard_link(&inv, &witness).unwrap();
    let len = std::fs::metadata(&inv).unwrap().len() as usize;
    let out = ok(belfry(&home.path().join("alice"), &["enroll", inv.to_str().unwrap(), "--org-key", &org]));
    assert!(!inv.exists(), "the invitation is still there:\n{out}");
    assert_eq!(std::fs::read(&witness).unwrap(), vec![0u8; len], "the invitation's bytes were not overwritten");
    assert!(out.contains("was erased"), "{out}");
    let device_file = std::fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "belfry-device"))
        .expect("a .belfry-device file");
    let chain = belfry_protocol::DeviceChain::decode(
        &dearmor(DEVICE_LABEL, &std::fs::read_to_string(&device_file).unwrap()).unwrap(),
    )
    .unwrap();
    let fingerprint = chain.device.peek_unverified().unwrap().ed25519.fingerprint();
    assert!(out.contains(&fingerprint), "{out}");
    // IT confirms from that file.
    relay.org.confirm_enrollment(&chain, now()).unwrap();

    // An invitation in a folder where it cannot be deleted: enrolled, but
    // the command says the secret is still on disk and fails.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let locked = home.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        let inv = write_invitation(&relay, "bob", &locked);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        if std::fs::write(locked.join("probe"), b"").is_ok() {
            // Root ignores the folder's mode: nothing to show here.
            std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
            return;
        }
        let out = belfry(&home.path().join("bob"), &["enroll", inv.to_str().unwrap(), "--org-key", &org]);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{stdout}");
        assert!(stdout.contains("Enrolled bob/"), "{stdout}");
        assert!(stderr.contains("could not be erased") && stderr.contains(inv.to_str().unwrap()), "{stderr}");
        assert!(inv.exists());
    }
}
