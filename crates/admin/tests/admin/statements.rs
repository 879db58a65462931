//! `revoke` and `wipe`: signed statements that name the right target.

use crate::support::{Env, read_invitation, read_statement};
use belfry_protocol::{Issuer, RevocationTarget, Statement};

#[test]
fn device_revocation_verifies_and_names_the_device() {
    let env = Env::with_org();
    let out = env.run(&["revoke", "--device", "alice.martin/KQJXWBNRTA", "--reason", "Laptop stolen"]).ok();
    let file = out.file();
    assert!(file.starts_with(env.dir().join("statements")));
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("revoke-alice.martin-KQJXWBNRTA-") && name.ends_with(".belfry-statement"), "{name}");
    assert!(std::fs::read_to_string(&file).unwrap().starts_with("-----BEGIN BELFRY STATEMENT-----\n"));
    let Statement::Revocation(signed) = read_statement(&file) else { panic!("not a revocation") };
    let revocation = signed.verify(&env.org_public()).unwrap();
    assert_eq!(revocation.org, env.org_public());
    assert_eq!(revocation.issuer, Issuer::Org);
    assert_eq!(revocation.reason.as_str(), "Laptop stolen");
    let RevocationTarget::Device { user, device } = revocation.target else { panic!("wrong target") };
    assert_eq!((user.as_str(), device.as_str()), ("alice.martin", "KQJXWBNRTA"));
    assert!(out.stdout.contains("relay"), "must say the relay needs the file");
}

#[test]
fn invitation_revocation_names_the_enrollment_key() {
    let env = Env::with_org();
    let (_, invite_file) = env.invite("alice.martin");
    let cert = read_invitation(&invite_file).enrollment.verify(&env.org_public()).unwrap();
    let out = env.run(&["revoke", "--invitation", &cert.enrollment_key.to_base64()]).ok();
    assert!(out.stdout.contains(&cert.invitation.to_string()), "the issued log entry is shown:\n{}", out.stdout);
    let Statement::Revocation(signed) = read_statement(&out.file()) else { panic!("not a revocation") };
    let revocation = signed.verify(&env.org_public()).unwrap();
    assert_eq!(revocation.target, RevocationTarget::Enrollment { key: cert.enrollment_key });
    assert_eq!(revocation.reason.as_str(), "Revoked by the organisation");
}

#[test]
fn wipe_order_verifies_and_names_the_device() {
    let env = Env::with_org();
    let out_file = env.tmp().join("wipe.belfry-statement");
    let out = env.run(&["wipe", "--device", "bob/DEV-2", "--out", out_file.to_str().unwrap()]).ok();
    assert_eq!(out.file(), out_file);
    assert!(out.stdout.contains("ERASES"), "wipe must warn:\n{}", out.stdout);
    let Statement::Wipe(signed) = read_statement(&out_file) else { panic!("not a wipe order") };
    let order = signed.verify(&env.org_public()).unwrap();
    assert_eq!((order.user.as_str(), order.device.as_str()), ("bob", "DEV-2"));
    assert_eq!(order.org, env.org_public());
    assert_eq!(order.issuer, Issuer::Org);
}

#[test]
fn statement_does_not_verify_under_another_org_key() {
    let ours = Env::with_org();
    let theirs = Env::with_org();
    let out = theirs.run(&["wipe", "--device", "bob/DEV1"]).ok();
    let Statement::Wipe(signed) = read_statement(&out.file()) else { panic!("not a wipe order") };
    assert!(signed.verify(&ours.org_public()).is_err());
}
