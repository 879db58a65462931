//! `invite`: the invitation file, its certificate, the QR code, the log.

use crate::support::{Env, RELAY, fixture, path, read_invitation};
use belfry_protocol::Hash256;

fn invite_with_ca(env: &Env, ca: &str, extra: &[&str]) -> crate::support::Outcome {
    let ca = fixture(ca);
    let mut args =
        vec!["invite", "--user", "alice.martin", "--name", "Alice Martin", "--relay", RELAY, "--relay-ca", path(&ca)];
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn invitation_from_a_pem_ca_verifies_against_the_org_key() {
    let env = Env::with_org();
    let out = invite_with_ca(&env, "relay-ca.pem", &[]).ok();
    let file = out.file();
    assert!(file.starts_with(env.dir().join("invitations")));
    assert_eq!(file.extension().and_then(|e| e.to_str()), Some("belfry-invite"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("-----BEGIN BELFRY INVITATION-----\n"));
    assert!(text.trim_end().ends_with("-----END BELFRY INVITATION-----"));
    assert!(text.lines().all(|l| l.len() <= 64));

    let invitation = read_invitation(&file);
    let cert = invitation.enrollment.verify(&env.org_public()).unwrap();
    let der = std::fs::read(fixture("relay-ca.der")).unwrap();
    assert_eq!(cert.org, env.org_public());
    assert_eq!(cert.user.as_str(), "alice.martin");
    assert_eq!(cert.display_name.as_str(), "Alice Martin");
    assert_eq!(cert.relay.url, RELAY);
    assert_eq!(cert.relay.ca_sha256, Hash256::of("relay-ca", &der));
    assert_eq!(invitation.relay_ca_der, der);
    assert_eq!(cert.expires_at.0 - cert.not_before.0, 7 * 24 * 3600 * 1000);
    assert_eq!(file.file_name().unwrap().to_str().unwrap(), format!("alice.martin-{}.belfry-invite", cert.invitation));

    // What IT needs is printed.
    for needle in
        [cert.invitation.to_string(), cert.enrollment_key.fingerprint(), "alice.martin".into(), "secret".into()]
    {
        assert!(out.stdout.contains(&needle), "{needle:?} missing from:\n{}", out.stdout);
    }
}

#[test]
fn invitation_from_a_der_ca_carries_the_same_ca() {
    let env = Env::with_org();
    let out = invite_with_ca(&env, "relay-ca.der", &["--valid-days", "2"]).ok();
    let invitation = read_invitation(&out.file());
    let cert = invitation.enrollment.verify(&env.org_public()).unwrap();
    let der = std::fs::read(fixture("relay-ca.der")).unwrap();
    assert_eq!(invitation.relay_ca_der, der);
    assert_eq!(cert.relay.ca_sha256, Hash256::of("relay-ca", &der));
    assert_eq!(cert.expires_at.0 - cert.not_before.0, 2 * 24 * 3600 * 1000);
}

#[test]
fn qr_code_is_printed_by_default_and_not_with_no_qr() {
    let env = Env::with_org();
    let with = invite_with_ca(&env, "relay-ca.pem", &[]).ok();
    assert!(with.stdout.contains('█') && with.stdout.contains('▀'), "no QR code in:\n{}", with.stdout);
    let without = invite_with_ca(&env, "relay-ca.pem", &["--no-qr"]).ok();
    assert!(!without.stdout.contains('█'));
}

#[test]
fn each_invitation_is_recorded_in_the_issued_log() {
    let env = Env::with_org();
    let (_, first) = env.invite("alice.martin");
    let (_, second) = env.invite("bob");
    let log = std::fs::read_to_string(env.dir().join("issued.log")).unwrap();
    let entries: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 2);
    for (entry, file) in entries.iter().zip([first, second]) {
        let cert = read_invitation(&file).enrollment.verify(&env.org_public()).unwrap();
        assert_eq!(entry["invitation"], cert.invitation.to_string());
        assert_eq!(entry["user"], cert.user.as_str());
        assert_eq!(entry["enrollment_key"], cert.enrollment_key.to_base64());
        assert!(entry["expires_at"].as_str().unwrap().ends_with('Z'));
    }
    // The log holds no secret.
    let secret = read_invitation(std::path::Path::new(entries[0]["file"].as_str().unwrap())).enrollment_secret;
    assert!(!log.contains(&crate::support::b64(secret.expose())));
}

#[cfg(unix)]
#[test]
fn invitation_file_is_readable_by_its_owner_only() {
    let env = Env::with_org();
    let (_, file) = env.invite("alice.martin");
    assert_eq!(crate::support::mode(&file), 0o600);
    assert_eq!(crate::support::mode(&env.dir().join("issued.log")), 0o600);
}

#[test]
fn out_writes_there_and_never_overwrites() {
    let env = Env::with_org();
    let out_file = env.tmp().join("alice.belfry-invite");
    let out = invite_with_ca(&env, "relay-ca.pem", &["--out", path(&out_file), "--no-qr"]).ok();
    assert_eq!(out.file(), out_file);
    let before = std::fs::read(&out_file).unwrap();
    read_invitation(&out_file);
    invite_with_ca(&env, "relay-ca.pem", &["--out", path(&out_file)]).fails_with("already exists");
    assert_eq!(std::fs::read(&out_file).unwrap(), before);
}

#[test]
fn a_registration_file_for_the_relay_carries_the_certificate_and_no_secret() {
    use belfry_protocol::armor::{REGISTRATION_LABEL, dearmor};
    use belfry_protocol::{Registration, Wire as _};
    let env = Env::with_org();
    let out = invite_with_ca(&env, "relay-ca.pem", &[]).ok();
    let invitation = read_invitation(&out.file());
    let stem = out.file().file_stem().unwrap().to_str().unwrap().to_owned();
    let reg_path = out.file().with_file_name(format!("{stem}.belfry-registration"));
    assert!(out.stdout.contains(&reg_path.display().to_string()), "{}", out.stdout);
    let text = std::fs::read_to_string(&reg_path).unwrap();
    let registration = Registration::decode(&dearmor(REGISTRATION_LABEL, &text).unwrap()).unwrap();
    assert_eq!(registration.enrollment, invitation.enrollment);
    // No trace of the enrollment secret in the relay's file.
    let bytes = dearmor(REGISTRATION_LABEL, &text).unwrap();
    let secret = invitation.enrollment_secret.expose();
    assert!(!bytes.windows(secret.len()).any(|w| w == secret), "the registration holds the enrollment secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&reg_path).unwrap().permissions().mode() & 0o777, 0o644);
    }
}
