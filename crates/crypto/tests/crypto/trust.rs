//! The org trust chain and statements, attacked one check at a time.

use crate::support::*;
use belfry_crypto::*;
use belfry_protocol::cert::*;
use belfry_protocol::*;

#[test]
fn a_genuine_chain_verifies() {
    let org = OrgKey::generate();
    let p = Party::enroll(&org, "alice");
    let d = verify_chain(&org.public(), p.device.chain(), NOW).unwrap();
    assert_eq!(d.user, user("alice"));
    assert_eq!(d.ed25519, p.device.ed25519());
    assert!(!d.sas_verified);
}

#[test]
fn refuses_certificate_from_another_org() {
    let ours = OrgKey::generate();
    let theirs = OrgKey::generate();
    let foreign = Party::enroll(&theirs, "spy");
    let mut dir = Directory::new(ours.public());
    assert!(matches!(dir.admit(foreign.device.chain(), NOW), Err(TrustError::NotSignedByOrg(_))));
    // And a device cannot enroll from another org's invitation.
    let err = Device::enroll(&invite(&theirs, "spy"), &ours.public(), name("x"), NOW).unwrap_err();
    assert!(matches!(err, CryptoError::Invitation(_)), "{err}");
}

#[test]
fn refuses_enrollment_cert_naming_another_org() {
    // Our org key signed a cert whose org field names someone else (a
    // tooling bug or a confused deputy): refused.
    let ours = OrgKey::generate();
    let other = OrgKey::generate();
    let inv = invite(&ours, "alice");
    let mut ec = inv.enrollment.peek_unverified().unwrap();
    ec.org = other.public();
    let inv = Invitation { enrollment: ours.sign(&ec), ..inv };
    // The device certificate itself names our org, so only the enrollment
    // certificate's field is wrong.
    let account = vodozemac::olm::Account::new();
    let mut cert = certify(&inv, &account, "DEV1", NOW).device.peek_unverified().unwrap();
    cert.org = ours.public();
    let chain = sign_chain(&inv, &account, &cert);
    assert_eq!(verify_chain(&ours.public(), &chain, NOW), Err(TrustError::OtherOrg));
}

#[test]
fn refuses_device_cert_not_signed_by_its_enrollment_key() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let other = invite(&org, "alice");
    let account = vodozemac::olm::Account::new();
    // Certified with a different invitation's key, presented with this one.
    let mut chain = certify(&other, &account, "DEV1", NOW);
    chain.enrollment = inv.enrollment.clone();
    assert!(matches!(verify_chain(&org.public(), &chain, NOW), Err(TrustError::NotSignedByEnrollmentKey(_))));
}

#[test]
fn refuses_device_cert_for_another_user_than_the_invitation() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let account = vodozemac::olm::Account::new();
    let chain = certify(&inv, &account, "DEV1", NOW);
    let mut cert = chain.device.peek_unverified().unwrap();
    cert.user = user("minister");
    let forged = sign_chain(&inv, &account, &cert);
    assert_eq!(verify_chain(&org.public(), &forged, NOW), Err(TrustError::ChainMismatch { field: "user" }));
}

#[test]
fn refuses_device_cert_naming_another_enrollment_key() {
    // Signed by the invitation's enrollment key, but the certificate claims
    // a different one (an attempt to dodge the one-device-per-key rule).
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let account = vodozemac::olm::Account::new();
    let chain = certify(&inv, &account, "DEV1", NOW);
    let mut cert = chain.device.peek_unverified().unwrap();
    cert.enrollment_key = invite(&org, "alice").enrollment.peek_unverified().unwrap().enrollment_key;
    let forged = sign_chain(&inv, &account, &cert);
    assert_eq!(verify_chain(&org.public(), &forged, NOW), Err(TrustError::ChainMismatch { field: "enrollment key" }));
}

#[test]
fn refuses_device_cert_naming_another_org() {
    let org = OrgKey::generate();
    let other = OrgKey::generate();
    let inv = invite(&org, "alice");
    let account = vodozemac::olm::Account::new();
    let chain = certify(&inv, &account, "DEV1", NOW);
    let mut cert = chain.device.peek_unverified().unwrap();
    cert.org = other.public();
    let forged = sign_chain(&inv, &account, &cert);
    assert_eq!(verify_chain(&org.public(), &forged, NOW), Err(TrustError::OtherOrg));
}

#[test]
fn refuses_expired_enrollment_certificate() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let expires = inv.enrollment.peek_unverified().unwrap().expires_at;
    let late = expires.plus_ms(1);
    // A stolen invitation used after expiry: the device refuses to enroll...
    let err = Device::enroll(&inv, &org.public(), name("x"), late).unwrap_err();
    assert!(matches!(err, CryptoError::Invitation(_)), "{err}");
    // ...and a certificate made after expiry anyway is refused by everyone.
    let rogue = Rogue::from_invitation(&org, &inv, "LATE", late);
    assert_eq!(verify_chain(&org.public(), &rogue.chain, late), Err(TrustError::Expired));
    // Before not_before too.
    let early = Rogue::from_invitation(&org, &inv, "EARLY", Timestamp(NOW.0 - 1));
    assert_eq!(verify_chain(&org.public(), &early.chain, NOW), Err(TrustError::Expired));
}

#[test]
fn a_device_enrolled_in_time_stays_valid_after_the_invitation_expires() {
    let org = OrgKey::generate();
    let p = Party::enroll(&org, "alice");
    assert!(verify_chain(&org.public(), p.device.chain(), NOW.plus_ms(365 * DAY_MS)).is_ok());
}

#[test]
fn refuses_device_cert_dated_in_the_future() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let rogue = Rogue::from_invitation(&org, &inv, "FUTURE", NOW.plus_ms(DAY_MS));
    assert_eq!(verify_chain(&org.public(), &rogue.chain, NOW), Err(TrustError::NotYetValid));
}

#[test]
fn refuses_enrollment_key_reused_for_second_device() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let first = Device::enroll(&inv, &org.public(), name("Laptop"), NOW).unwrap();
    // Someone who copied the invitation enrolls a second device with it.
    let second = Device::enroll(&inv, &org.public(), name("Thief"), NOW).unwrap();
    let mut dir = Directory::new(org.public());
    dir.admit(first.chain(), NOW).unwrap();
    assert!(matches!(dir.admit(second.chain(), NOW), Err(TrustError::EnrollmentKeyReused { .. })));
    // Neither is trusted any more: we cannot tell which one is genuine.
    assert!(matches!(dir.trusted(first.user(), first.device_id()), Err(TrustError::EnrollmentKeyReused { .. })));
    assert!(matches!(dir.admit(first.chain(), NOW), Err(TrustError::EnrollmentKeyReused { .. })));
    assert!(dir.trusted_devices(first.user()).is_empty());
}

#[test]
fn refuses_certificate_for_keys_the_device_does_not_hold() {
    // A stolen invitation certifies alice's public Ed25519 key with the
    // thief's own Curve25519 key: the possession proof cannot be made.
    let org = OrgKey::generate();
    let alice = Party::enroll(&org, "alice");
    let inv = invite(&org, "alice");
    let thief = vodozemac::olm::Account::new();
    let mut cert = certify(&inv, &thief, "ALICE2", NOW).device.peek_unverified().unwrap();
    cert.ed25519 = alice.me().ed25519;
    let chain = sign_chain(&inv, &thief, &cert);
    assert_eq!(verify_chain(&org.public(), &chain, NOW), Err(TrustError::NoPossessionProof));
}

#[test]
fn refuses_second_device_id_under_one_enrollment_key_even_with_the_same_keys() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let first = Rogue::from_invitation(&org, &inv, "LAPTOP", NOW);
    let mut dir = Directory::new(org.public());
    dir.admit(&first.chain, NOW).unwrap();
    let again = certify(&inv, &first.account, "ANOTHERID", NOW);
    assert!(matches!(dir.admit(&again, NOW), Err(TrustError::EnrollmentKeyReused { .. })));
    assert!(dir.trusted(&user("alice"), &DeviceId::new("LAPTOP").unwrap()).is_err());
}

#[test]
fn refuses_one_key_under_two_device_ids() {
    let org = OrgKey::generate();
    let first = Rogue::from_invitation(&org, &invite(&org, "alice"), "LAPTOP", NOW);
    let mut dir = Directory::new(org.public());
    dir.admit(&first.chain, NOW).unwrap();
    let copy = certify(&invite(&org, "alice"), &first.account, "COPY", NOW);
    assert!(matches!(dir.admit(&copy, NOW), Err(TrustError::KeysReused { .. })));
}

#[test]
fn a_revoked_device_cannot_come_back_under_another_invitation() {
    // The thief holds the revoked laptop (its keys) and another unused
    // invitation, and re-enrolls the same keys under a new device id.
    let org = OrgKey::generate();
    let laptop = Rogue::from_invitation(&org, &invite(&org, "alice"), "LAPTOP", NOW);
    let mut dir = Directory::new(org.public());
    dir.admit(&laptop.chain, NOW).unwrap();
    dir.apply(&Statement::Revocation(org.revoke_device(
        user("alice"),
        DeviceId::new("LAPTOP").unwrap(),
        name("stolen"),
        NOW,
    )))
    .unwrap();
    let back = certify(&invite(&org, "alice"), &laptop.account, "NEWID", NOW);
    assert!(matches!(dir.admit(&back, NOW), Err(TrustError::Revoked { .. })));
}

#[test]
fn refuses_invitation_whose_relay_ca_was_swapped() {
    // The relay CA in the file is not the one the org signed: a man in the
    // middle of the invitation's delivery wants devices to trust his CA.
    let org = OrgKey::generate();
    let mut inv = invite(&org, "alice");
    inv.relay_ca_der = b"attacker CA".to_vec();
    let err = Device::enroll(&inv, &org.public(), name("x"), NOW).unwrap_err();
    assert!(matches!(&err, CryptoError::Invitation(m) if m.contains("relay certificate")), "{err}");
}

#[test]
fn refuses_invitation_with_a_foreign_enrollment_secret() {
    let org = OrgKey::generate();
    let mut inv = invite(&org, "alice");
    inv.enrollment_secret = invite(&org, "alice").enrollment_secret.clone();
    let err = Device::enroll(&inv, &org.public(), name("x"), NOW).unwrap_err();
    assert!(matches!(&err, CryptoError::Invitation(m) if m.contains("enrollment secret")), "{err}");
}

#[test]
fn refuses_known_device_presenting_new_keys() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let genuine = Rogue::from_invitation(&org, &inv, "SAMEID", NOW);
    let mut dir = Directory::new(org.public());
    dir.admit(&genuine.chain, NOW).unwrap();
    let impostor = Rogue::from_invitation(&org, &inv, "SAMEID", NOW);
    assert!(matches!(dir.admit(&impostor.chain, NOW), Err(TrustError::KeysChanged { .. })));
}

#[test]
fn new_devices_are_reported_once() {
    let org = OrgKey::generate();
    let p = Party::enroll(&org, "alice");
    let mut dir = Directory::new(org.public());
    assert!(matches!(dir.admit(p.device.chain(), NOW), Ok(Admission::New(_))));
    assert!(matches!(dir.admit(p.device.chain(), NOW), Ok(Admission::Known(_))));
}

#[test]
fn refuses_revoked_device() {
    let (org, mut alice, mut bob) = pair();
    let revocation = org.revoke_device(bob.me().user, bob.me().device, name("Lost at the border"), NOW);
    let effect = alice.dir.apply(&Statement::Revocation(revocation)).unwrap();
    assert_eq!(effect, StatementEffect::DeviceRevoked { user: bob.me().user, device: bob.me().device });
    assert!(matches!(alice.dir.trusted(&bob.me().user, &bob.me().device), Err(TrustError::Revoked { .. })));
    assert!(matches!(alice.dir.admit(bob.device.chain(), NOW), Err(TrustError::Revoked { .. })));
    assert!(alice.dir.trusted_devices(&bob.me().user).is_empty());
    // Messages from the revoked device are no longer accepted.
    let env = bob.seal(&mut alice, belfry_protocol::ToDeviceContent::Dummy);
    assert!(matches!(alice.open(&env), Err(CryptoError::Trust(TrustError::Revoked { .. }))));
}

#[test]
fn a_revocation_that_arrives_before_the_device_still_applies() {
    // A new client learns of the revocation first, then the relay serves
    // the revoked device's certificate: it must be refused.
    let org = OrgKey::generate();
    let bob = Party::enroll(&org, "bob");
    let mut dir = Directory::new(org.public());
    dir.apply(&Statement::Revocation(org.revoke_device(bob.me().user, bob.me().device, name("lost"), NOW))).unwrap();
    assert!(matches!(dir.admit(bob.device.chain(), NOW), Err(TrustError::Revoked { .. })));
}

#[test]
fn revoking_an_invitation_refuses_the_device_it_enrolled() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let thief = Device::enroll(&inv, &org.public(), name("Thief"), NOW).unwrap();
    let mut dir = Directory::new(org.public());
    dir.admit(thief.chain(), NOW).unwrap();
    let key = inv.enrollment.peek_unverified().unwrap().enrollment_key;
    dir.apply(&Statement::Revocation(org.revoke_enrollment(key, name("Invitation stolen"), NOW))).unwrap();
    assert_eq!(dir.trusted(thief.user(), thief.device_id()).unwrap_err(), TrustError::EnrollmentRevoked);
}

#[test]
fn refuses_revocation_forged_by_the_relay() {
    let (org, mut alice, bob) = pair();
    // The relay signs with a key of its own and claims the org issued it.
    let relay = OrgKey::generate();
    let mut body = org.revoke_device(bob.me().user, bob.me().device, name("forged"), NOW).peek_unverified().unwrap();
    body.org = org.public();
    let forged = relay.sign(&body);
    assert!(matches!(alice.dir.apply(&Statement::Revocation(forged)), Err(TrustError::BadStatement(_))));
    assert!(alice.dir.trusted(&bob.me().user, &bob.me().device).is_ok());
    // Same for a wipe order.
    let wipe = relay.sign(&WipeOrder {
        org: org.public(),
        user: bob.me().user,
        device: bob.me().device,
        issuer: Issuer::Org,
        issued_at: NOW,
    });
    assert!(matches!(alice.dir.apply(&Statement::Wipe(wipe)), Err(TrustError::BadStatement(_))));
    assert!(alice.dir.trusted(&bob.me().user, &bob.me().device).is_ok());
}

#[test]
fn refuses_statement_signed_by_another_org() {
    let org = OrgKey::generate();
    let other = OrgKey::generate();
    let mut alice = Party::enroll(&org, "alice");
    let mut bob = Party::enroll(&org, "bob");
    introduce(&mut [&mut alice, &mut bob]);
    let foreign = other.revoke_device(bob.me().user, bob.me().device, name("x"), NOW);
    assert!(matches!(alice.dir.apply(&Statement::Revocation(foreign)), Err(TrustError::BadStatement(_))));
    // Signed by our org key but naming another org in the body.
    let mut body = org.revoke_device(bob.me().user, bob.me().device, name("x"), NOW).peek_unverified().unwrap();
    body.org = other.public();
    assert_eq!(alice.dir.apply(&Statement::Revocation(org.sign(&body))), Err(TrustError::OtherOrg));
    let mut wipe = org.wipe(bob.me().user, bob.me().device, NOW).peek_unverified().unwrap();
    wipe.org = other.public();
    assert_eq!(alice.dir.apply(&Statement::Wipe(org.sign(&wipe))), Err(TrustError::OtherOrg));
    assert!(alice.dir.trusted(&bob.me().user, &bob.me().device).is_ok());
}

#[test]
fn a_user_can_revoke_and_wipe_their_own_other_device() {
    let org = OrgKey::generate();
    let mut laptop = Party::enroll(&org, "alice");
    let mut desktop = Party::enroll(&org, "alice");
    let mut bob = Party::enroll(&org, "bob");
    introduce(&mut [&mut laptop, &mut desktop, &mut bob]);
    let wipe = desktop.device.wipe_own_device(laptop.me().device, NOW);
    let effect = bob.dir.apply(&Statement::Wipe(wipe.clone())).unwrap();
    assert_eq!(effect, StatementEffect::Wipe { user: laptop.me().user, device: laptop.me().device });
    assert!(bob.dir.trusted(&laptop.me().user, &laptop.me().device).is_err());
    // The laptop itself learns it must wipe.
    assert!(matches!(laptop.dir.apply(&Statement::Wipe(wipe)), Ok(StatementEffect::Wipe { .. })));
}

#[test]
fn refuses_statement_from_another_users_device() {
    let org = OrgKey::generate();
    let mut alice = Party::enroll(&org, "alice");
    let mut bob = Party::enroll(&org, "bob");
    let mut mallory = Party::enroll(&org, "mallory");
    introduce(&mut [&mut alice, &mut bob, &mut mallory]);
    // Mallory's device claims to revoke bob's device.
    let body = Revocation {
        org: org.public(),
        target: RevocationTarget::Device { user: bob.me().user, device: bob.me().device },
        issuer: Issuer::Device { device: mallory.me().device, ed25519: mallory.me().ed25519 },
        reason: name("x"),
        issued_at: NOW,
    };
    let st = Statement::Revocation(mallory.device.sign(&body));
    assert_eq!(alice.dir.apply(&st), Err(TrustError::IssuerNotTrusted));
    // A device may not revoke an invitation: only IT can.
    let body = Revocation {
        org: org.public(),
        target: RevocationTarget::Enrollment { key: bob.me().enrollment_key },
        issuer: Issuer::Device { device: bob.me().device, ed25519: bob.me().ed25519 },
        reason: name("x"),
        issued_at: NOW,
    };
    assert_eq!(alice.dir.apply(&Statement::Revocation(bob.device.sign(&body))), Err(TrustError::IssuerNotTrusted));
    assert!(alice.dir.trusted(&bob.me().user, &bob.me().device).is_ok());
}

#[test]
fn a_revoked_device_cannot_revoke_others() {
    let org = OrgKey::generate();
    let mut laptop = Party::enroll(&org, "alice");
    let mut desktop = Party::enroll(&org, "alice");
    let mut bob = Party::enroll(&org, "bob");
    introduce(&mut [&mut laptop, &mut desktop, &mut bob]);
    bob.dir
        .apply(&Statement::Revocation(org.revoke_device(laptop.me().user, laptop.me().device, name("stolen"), NOW)))
        .unwrap();
    // The thief uses the stolen laptop to revoke the desktop.
    let st = laptop.device.revoke_own_device(desktop.me().device, name("x"), NOW);
    assert_eq!(bob.dir.apply(&Statement::Revocation(st)), Err(TrustError::IssuerNotTrusted));
}

#[test]
fn sas_verification_is_recorded_only_for_the_verified_key() {
    let (_org, mut alice, bob) = pair();
    let b = bob.me();
    assert!(alice.dir.mark_sas_verified(&b.user, &b.device, &alice.me().ed25519).is_err());
    alice.dir.mark_sas_verified(&b.user, &b.device, &b.ed25519).unwrap();
    assert!(alice.dir.trusted(&b.user, &b.device).unwrap().sas_verified);
}

#[test]
fn the_directory_survives_a_round_trip_through_storage() {
    let (org, mut alice, bob) = pair();
    let inv = invite(&org, "carol");
    let carol1 = Device::enroll(&inv, &org.public(), name("x"), NOW).unwrap();
    let carol2 = Device::enroll(&inv, &org.public(), name("y"), NOW).unwrap();
    alice.dir.admit(carol1.chain(), NOW).unwrap();
    assert!(alice.dir.admit(carol2.chain(), NOW).is_err());
    alice.dir.apply(&Statement::Revocation(org.revoke_device(bob.me().user, bob.me().device, name("x"), NOW))).unwrap();

    let stored = serde_json::to_string(&alice.dir).unwrap();
    let restored: Directory = serde_json::from_str(&stored).unwrap();
    // Everything it refused before, it refuses after.
    assert!(matches!(restored.trusted(&bob.me().user, &bob.me().device), Err(TrustError::Revoked { .. })));
    assert!(matches!(restored.trusted(carol1.user(), carol1.device_id()), Err(TrustError::EnrollmentKeyReused { .. })));
    assert!(restored.trusted(&alice.me().user, &alice.me().device).is_ok());
}
