//! An invitation's validity is what the org signed, never a date the
//! device chose: a stolen (used or expired) invitation cannot make a
//! device that someone who never saw the first one will trust.

use crate::support::*;
use belfry_crypto::*;
use belfry_protocol::cert::*;
use belfry_protocol::*;

const WEEK_MS: u64 = 7 * DAY_MS;

fn expiry(inv: &Invitation) -> Timestamp {
    inv.enrollment.peek_unverified().unwrap().expires_at
}

fn confirm(org: &OrgKey, chain: &DeviceChain) -> Statement {
    Statement::Confirmation(org.confirm_enrollment(chain, NOW).unwrap())
}

#[test]
fn refuses_a_backdated_device_from_an_expired_invitation_nobody_saw_enroll() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    // A year later, someone with the invitation file certifies a device
    // dated inside the window. Nothing in the chain is wrong...
    let late = NOW.plus_ms(365 * DAY_MS);
    let thief = Rogue::from_invitation(&org, &inv, "BACKDATED", NOW.plus_ms(DAY_MS));
    assert!(verify_chain(&org.public(), &thief.chain, late).is_ok());
    // ...but a directory that never saw a device of this invitation refuses
    // it: by its own clock the invitation is over.
    let mut bob = Directory::new(org.public());
    assert_eq!(
        bob.admit(&thief.chain, late),
        Err(TrustError::EnrollmentUnconfirmed { user: user("alice"), device: DeviceId::new("BACKDATED").unwrap() })
    );
    assert!(bob.trusted_devices(&user("alice")).is_empty());
    // Within the grace after expiry it would still pass (clock skew only).
    let mut carol = Directory::new(org.public());
    assert!(carol.admit(&thief.chain, expiry(&inv).plus_ms(ENROLLMENT_GRACE_MS)).is_ok());
    let mut dave = Directory::new(org.public());
    assert!(dave.admit(&thief.chain, expiry(&inv).plus_ms(ENROLLMENT_GRACE_MS + 1)).is_err());
}

#[test]
fn a_device_admitted_in_time_stays_trusted_after_its_invitation_expires() {
    let org = OrgKey::generate();
    let alice = Party::enroll(&org, "alice");
    let mut bob = Directory::new(org.public());
    bob.admit(alice.device.chain(), NOW).unwrap();
    let late = NOW.plus_ms(365 * DAY_MS);
    assert!(matches!(bob.admit(alice.device.chain(), late), Ok(Admission::Known(_))));
    assert!(bob.trusted(&user("alice"), alice.device.device_id()).is_ok());
}

#[test]
fn a_confirmed_device_is_trusted_by_a_newcomer_and_a_copy_of_its_invitation_is_refused() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let alice = Party::from_invitation(&org, &inv);
    let confirmation = confirm(&org, alice.device.chain());
    // The thief copied the used invitation, and the relay offers both
    // devices (or only the thief's) to Bob, who joins a year later.
    let thief = Rogue::from_invitation(&org, &inv, "STOLENCOPY", NOW.plus_ms(60_000));
    let late = NOW.plus_ms(365 * DAY_MS);
    let mut bob = Directory::new(org.public());
    assert!(
        matches!(bob.apply(&confirmation), Ok(StatementEffect::EnrollmentConfirmed { ref refused, .. }) if refused.is_empty())
    );
    assert!(matches!(bob.admit(&thief.chain, late), Err(TrustError::NotTheConfirmedDevice { .. })));
    assert!(matches!(bob.admit(alice.device.chain(), late), Ok(Admission::New(_))));
    // Inside the window too: the confirmation names the one device.
    let mut carol = Directory::new(org.public());
    carol.apply(&confirmation).unwrap();
    assert!(matches!(carol.admit(&thief.chain, NOW.plus_ms(120_000)), Err(TrustError::NotTheConfirmedDevice { .. })));
    assert!(carol.admit(alice.device.chain(), NOW.plus_ms(120_000)).is_ok());
    assert!(carol.is_confirmed(&carol.trusted(&user("alice"), alice.device.device_id()).unwrap().clone()));
}

#[test]
fn a_confirmation_refuses_a_copy_admitted_before_it_and_clears_the_genuine_device() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let alice = Party::from_invitation(&org, &inv);
    let thief = Rogue::from_invitation(&org, &inv, "STOLENCOPY", NOW);
    // Bob saw the thief's device first (the relay planted it within the
    // window), then Alice's: the second burns the key, both refused.
    let mut bob = Directory::new(org.public());
    bob.admit(&thief.chain, NOW).unwrap();
    assert!(matches!(bob.admit(alice.device.chain(), NOW), Err(TrustError::EnrollmentKeyReused { .. })));
    // IT's confirmation settles which one is genuine.
    let effect = bob.apply(&confirm(&org, alice.device.chain())).unwrap();
    assert_eq!(
        effect,
        StatementEffect::EnrollmentConfirmed {
            user: user("alice"),
            device: alice.device.device_id().clone(),
            refused: vec![(user("alice"), DeviceId::new("STOLENCOPY").unwrap())],
        }
    );
    assert!(matches!(
        bob.trusted(&user("alice"), &DeviceId::new("STOLENCOPY").unwrap()),
        Err(TrustError::NotTheConfirmedDevice { .. })
    ));
    let late = NOW.plus_ms(WEEK_MS * 52);
    assert!(bob.admit(alice.device.chain(), late).is_ok());
    assert_eq!(bob.trusted_devices(&user("alice")).len(), 1);
}

#[test]
fn two_confirmations_for_one_invitation_distrust_both_devices() {
    let org = OrgKey::generate();
    let inv = invite(&org, "alice");
    let alice = Party::from_invitation(&org, &inv);
    let other = Party::from_invitation(&org, &inv);
    let mut bob = Directory::new(org.public());
    bob.apply(&confirm(&org, alice.device.chain())).unwrap();
    assert_eq!(bob.apply(&confirm(&org, other.device.chain())), Err(TrustError::ConflictingConfirmations));
    assert_eq!(bob.admit(alice.device.chain(), NOW), Err(TrustError::EnrollmentRevoked));
}

#[test]
fn a_confirmation_signed_by_another_key_is_refused() {
    let org = OrgKey::generate();
    let impostor = OrgKey::generate();
    let inv = invite(&org, "alice");
    let thief = Rogue::from_invitation(&org, &inv, "STOLENCOPY", NOW);
    // The relay forges a confirmation for the thief's device.
    let c = impostor.confirm_enrollment(&thief.chain, NOW);
    assert!(c.is_err(), "the impostor's key does not verify this org's chain");
    let mut body = org.confirm_enrollment(&thief.chain, NOW).unwrap().peek_unverified().unwrap();
    body.issued_at = NOW.plus_ms(1);
    let forged = Statement::Confirmation(impostor.sign(&body));
    let mut bob = Directory::new(org.public());
    assert!(matches!(bob.apply(&forged), Err(TrustError::BadStatement(_))));
    assert!(bob.admit(&thief.chain, NOW.plus_ms(365 * DAY_MS)).is_err());
}

/// A stored directory keeps its confirmations, and a damaged one is an
/// error: a cut-off value never loads with its confirmations or
/// revocation dates quietly emptied.
#[test]
fn a_stored_directory_keeps_its_confirmations_and_a_damaged_one_is_refused() {
    let org = OrgKey::generate();
    let alice = Party::enroll(&org, "alice");
    let mut dir = alice.dir.clone();
    dir.apply(&confirm(&org, alice.device.chain())).unwrap();
    let bytes = postcard::to_allocvec(&dir).unwrap();
    let back: Directory = postcard::from_bytes(&bytes).unwrap();
    let me = back.trusted(&user("alice"), alice.device.device_id()).unwrap().clone();
    assert!(back.is_confirmed(&me));
    assert!(postcard::from_bytes::<Directory>(&bytes[..bytes.len() - 1]).is_err());
}
