//! `verify`: genuine files pass and show their content (never the
//! invitation secret); damaged or foreign files fail with exit code 1.

use crate::support::{Env, body_positions, flip, output, read_invitation};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

#[test]
fn genuine_invitation_verifies_without_showing_its_secret() {
    let env = Env::with_org();
    let (_, file) = env.invite("alice.martin");
    let invitation = read_invitation(&file);
    let cert = invitation.enrollment.verify(&env.org_public()).unwrap();
    // No passphrase is needed.
    let out = output(env.cmd().env_remove("BELFRY_ORG_PASSPHRASE").arg("verify").arg(&file)).ok();
    assert!(out.stdout.contains("Genuine invitation"));
    assert!(out.stdout.contains(&cert.invitation.to_string()));
    assert!(out.stdout.contains(&cert.enrollment_key.to_base64()));
    let secret = invitation.enrollment_secret.expose();
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    for shown in [STANDARD.encode(secret), crate::support::b64(secret), URL_SAFE_NO_PAD.encode(secret), hex] {
        assert!(!out.stdout.contains(&shown) && !out.stderr.contains(&shown), "verify printed the secret");
    }
}

#[test]
fn genuine_statement_verifies() {
    let env = Env::with_org();
    let file = env.run(&["revoke", "--device", "alice/DEV1", "--reason", "Left the ministry"]).ok().file();
    let out = env.run(&["verify", file.to_str().unwrap()]).ok();
    assert!(out.stdout.contains("Genuine revocation"));
    assert!(out.stdout.contains("alice/DEV1") && out.stdout.contains("Left the ministry"));
}

/// Every tested position of the base64 body, once changed, makes verify
/// fail: the signature, the certificate, the CA and the enrollment secret
/// are all checked.
#[test]
fn invitation_with_one_flipped_character_is_rejected() {
    let env = Env::with_org();
    let (_, file) = env.invite("alice.martin");
    let text = std::fs::read_to_string(&file).unwrap();
    let damaged = env.tmp().join("damaged.belfry-invite");
    let positions = body_positions(&text);
    // Every 7th character, plus the first and the last.
    let sample = positions.iter().step_by(7).chain(positions.last()).copied();
    for at in sample {
        std::fs::write(&damaged, flip(&text, at)).unwrap();
        let out = env.run(&["verify", damaged.to_str().unwrap()]);
        assert_eq!(out.code, Some(1), "flip at byte {at} was accepted:\n{}", out.stdout);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

#[test]
fn statement_with_one_flipped_character_is_rejected() {
    let env = Env::with_org();
    let file = env.run(&["wipe", "--device", "alice/DEV1"]).ok().file();
    let text = std::fs::read_to_string(&file).unwrap();
    let damaged = env.tmp().join("damaged.belfry-statement");
    for at in body_positions(&text).into_iter().step_by(3) {
        std::fs::write(&damaged, flip(&text, at)).unwrap();
        let out = env.run(&["verify", damaged.to_str().unwrap()]);
        assert_eq!(out.code, Some(1), "flip at byte {at} was accepted:\n{}", out.stdout);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        assert!(out.stderr.contains("does not verify") || out.stderr.contains("base64"), "{}", out.stderr);
    }
}

#[test]
fn invitation_from_another_org_is_rejected() {
    let ours = Env::with_org();
    let theirs = Env::with_org();
    let (_, file) = theirs.invite("alice.martin");
    ours.run(&["verify", file.to_str().unwrap()]).fails_with("not signed by this organisation");
}

#[test]
fn file_that_is_not_a_belfry_file_is_rejected() {
    let env = Env::with_org();
    let file = env.tmp().join("notes.txt");
    std::fs::write(&file, "hello\n").unwrap();
    env.run(&["verify", file.to_str().unwrap()]).fails_with("is not a Belfry invitation or statement file");
    env.run(&["verify", env.tmp().join("missing").to_str().unwrap()]).fails_with("cannot read");
}
