//! Bad input: each gives exit code 1 and a message that names the problem,
//! never a panic, and changes nothing on disk.

use crate::support::{Env, RELAY, fixture, output, path};

fn invite(env: &Env, user: &str, relay: &str, ca: &std::path::Path) -> crate::support::Outcome {
    env.run(&["invite", "--user", user, "--name", "Alice Martin", "--relay", relay, "--relay-ca", path(ca), "--no-qr"])
}

#[test]
fn wrong_passphrase_is_refused_and_org_json_is_unchanged() {
    let env = Env::with_org();
    let before = std::fs::read(env.org_json()).unwrap();
    let ca = fixture("relay-ca.pem");
    let expected = format!("wrong passphrase for {}", env.org_json().display());
    output(env.cmd().env("BELFRY_ORG_PASSPHRASE", "correct horse battery stapler").args([
        "invite",
        "--user",
        "alice",
        "--name",
        "Alice",
        "--relay",
        RELAY,
        "--relay-ca",
        path(&ca),
    ]))
    .fails_with(&expected);
    output(env.cmd().env("BELFRY_ORG_PASSPHRASE", "x").args(["wipe", "--device", "alice/DEV1"])).fails_with(&expected);
    assert_eq!(std::fs::read(env.org_json()).unwrap(), before);
    assert!(!env.dir().join("invitations").exists());
    assert!(!env.dir().join("statements").exists());
    assert!(!env.dir().join("issued.log").exists());
}

#[test]
fn malformed_user_id_is_refused_with_the_id_rule() {
    let env = Env::with_org();
    invite(&env, "Alice Martin", RELAY, &fixture("relay-ca.pem"))
        .fails_with("user id may only contain lowercase letters, digits, '.', '_' and '-'; found 'A'");
    invite(&env, "", RELAY, &fixture("relay-ca.pem")).fails_with("user id must be 1 to 64 characters");
}

#[test]
fn device_without_a_slash_is_refused() {
    let env = Env::with_org();
    env.run(&["revoke", "--device", "alice.martin"]).fails_with("expected USER/DEVICE_ID");
    env.run(&["wipe", "--device", "alice.martin"]).fails_with("expected USER/DEVICE_ID");
}

#[test]
fn malformed_device_id_is_refused_with_the_id_rule() {
    let env = Env::with_org();
    env.run(&["wipe", "--device", "alice/KQJ.X"]).fails_with("device id may only contain ASCII letters, digits");
    env.run(&["revoke", "--device", "Alice/KQJX"]).fails_with("user id may only contain");
    env.run(&["revoke", "--device", "alice/KQ/JX"]).fails_with("found '/'");
}

#[test]
fn bad_enrollment_key_is_refused() {
    let env = Env::with_org();
    env.run(&["revoke", "--invitation", "not-a-key"]).fails_with("expected an enrollment key");
}

#[test]
fn revoke_needs_exactly_one_target() {
    let env = Env::with_org();
    env.run(&["revoke"]).fails_with("--device");
    let key = env.org_public().to_base64();
    env.run(&["revoke", "--device", "alice/DEV1", "--invitation", &key]).fails_with("cannot be used with");
}

#[test]
fn unreadable_ca_file_is_refused() {
    let env = Env::with_org();
    let missing = env.tmp().join("no-such-ca.pem");
    invite(&env, "alice", RELAY, &missing).fails_with(&format!("cannot read relay CA file {}", missing.display()));
    assert!(!env.dir().join("issued.log").exists());
}

#[test]
fn ca_that_is_neither_pem_nor_der_is_refused() {
    let env = Env::with_org();
    let junk = env.tmp().join("junk.crt");
    std::fs::write(&junk, "this is not a certificate\n").unwrap();
    invite(&env, "alice", RELAY, &junk).fails_with("is neither a PEM certificate");
    let empty = env.tmp().join("empty.crt");
    std::fs::write(&empty, "").unwrap();
    invite(&env, "alice", RELAY, &empty).fails_with("is empty");
    let bad_pem = env.tmp().join("bad.pem");
    std::fs::write(&bad_pem, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").unwrap();
    invite(&env, "alice", RELAY, &bad_pem).fails_with("not valid base64");
}

#[test]
fn private_key_given_as_ca_is_refused() {
    let env = Env::with_org();
    let key = env.tmp().join("relay.key");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n").unwrap();
    invite(&env, "alice", RELAY, &key).fails_with("PRIVATE KEY");
}

#[test]
fn relay_without_wss_is_refused() {
    let env = Env::with_org();
    let ca = fixture("relay-ca.pem");
    invite(&env, "alice", "ws://relay.ministry.example:8443", &ca).fails_with("must start with wss://");
    invite(&env, "alice", "https://relay.ministry.example", &ca).fails_with("must start with wss://");
    invite(&env, "alice", "wss://relay.ministry.example:0", &ca).fails_with("not a number from 1 to 65535");
    invite(&env, "alice", "wss://", &ca).fails_with("no host name");
}

#[test]
fn valid_days_out_of_range_is_refused() {
    let env = Env::with_org();
    let ca = fixture("relay-ca.pem");
    env.run(&["invite", "--user", "a", "--name", "A", "--relay", RELAY, "--relay-ca", path(&ca), "--valid-days", "0"])
        .fails_with("--valid-days");
}

#[test]
fn help_teaches_with_examples_and_exits_zero() {
    let env = Env::new();
    for command in [&["org", "init"][..], &["org", "show"], &["invite"], &["revoke"], &["wipe"], &["verify"]] {
        let mut args = command.to_vec();
        args.push("--help");
        let out = env.run(&args).ok();
        assert!(out.stdout.contains("Example"), "no example in help of {command:?}:\n{}", out.stdout);
    }
}
