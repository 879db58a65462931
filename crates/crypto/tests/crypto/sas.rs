//! Short-authentication-string verification, honest and with a relay in
//! the middle.

use crate::support::*;
use belfry_crypto::sas::SasVerification;
use belfry_crypto::*;
use belfry_protocol::Curve25519Public;

#[test]
fn both_sides_see_the_same_emoji_and_verify_each_other() {
    let (_org, mut alice, bob) = pair();
    let flow = [7; 16];
    let a = SasVerification::start(&alice.device, &alice.peer(&bob.me()), flow);
    let b = SasVerification::start(&bob.device, &bob.peer(&alice.me()), flow);
    let (ak, bk) = (a.public_key(), b.public_key());
    let a = a.receive_key(&bk).unwrap();
    let b = b.receive_key(&ak).unwrap();
    assert_eq!(a.emoji(), b.emoji());
    assert_eq!(a.emoji().len(), 7);
    assert_eq!(a.decimals(), b.decimals());
    let verified_bob = a.verify_their_mac(&b.confirm()).unwrap();
    assert_eq!(verified_bob.ed25519, bob.me().ed25519);
    let verified_alice = b.verify_their_mac(&a.confirm()).unwrap();
    assert_eq!(verified_alice.device, alice.me().device);
    alice.dir.mark_sas_verified(&verified_bob.user, &verified_bob.device, &verified_bob.ed25519).unwrap();
}

#[test]
fn a_relay_substituting_sas_keys_shows_different_emoji() {
    let (_org, alice, bob) = pair();
    let flow = [8; 16];
    let a = SasVerification::start(&alice.device, &alice.peer(&bob.me()), flow);
    let b = SasVerification::start(&bob.device, &bob.peer(&alice.me()), flow);
    // The relay runs its own SAS with each side.
    let mitm_for_alice = vodozemac::sas::Sas::new();
    let mitm_for_bob = vodozemac::sas::Sas::new();
    let a = a.receive_key(&Curve25519Public(mitm_for_alice.public_key().to_bytes())).unwrap();
    let b = b.receive_key(&Curve25519Public(mitm_for_bob.public_key().to_bytes())).unwrap();
    assert_ne!(a.emoji_indices(), b.emoji_indices(), "substituted keys must change the emoji");
    assert!(a.verify_their_mac(&b.confirm()).is_err());
}

#[test]
fn a_mac_over_another_device_key_is_refused() {
    // Honest key exchange, but alice expects a different key for bob than
    // the one bob proves (a directory swap): the MAC check catches it.
    let org = OrgKey::generate();
    let mut alice = Party::enroll(&org, "alice");
    let mut bob = Party::enroll(&org, "bob");
    let mut impostor = Party::enroll(&org, "bob");
    introduce(&mut [&mut alice, &mut bob, &mut impostor]);
    let flow = [9; 16];
    let a = SasVerification::start(&alice.device, &alice.peer(&impostor.me()), flow);
    let b = SasVerification::start(&bob.device, &bob.peer(&alice.me()), flow);
    let (ak, bk) = (a.public_key(), b.public_key());
    let a = a.receive_key(&bk).unwrap();
    let b = b.receive_key(&ak).unwrap();
    // The info string names the devices, so even the emoji differ.
    assert_ne!(a.emoji_indices(), b.emoji_indices());
    assert!(matches!(a.verify_their_mac(&b.confirm()), Err(CryptoError::Verification(_))));
}

#[test]
fn the_accepting_side_commits_to_its_key_before_seeing_the_other() {
    let (_org, alice, bob) = pair();
    let flow = [10; 16];
    let a = SasVerification::start(&alice.device, &alice.peer(&bob.me()), flow);
    let b = SasVerification::start(&bob.device, &bob.peer(&alice.me()), flow);
    // Bob accepts: his commitment travels first, then alice's key, then his.
    let commitment = b.commitment();
    assert_eq!(commitment, belfry_crypto::sas::commitment(&flow, &b.public_key()));
    let ak = a.public_key();
    let bk = b.public_key();
    let b = b.receive_key(&ak).unwrap();
    let a = a.receive_committed_key(&bk, &commitment).unwrap();
    assert_eq!(a.emoji(), b.emoji());
}

#[test]
fn a_key_chosen_after_the_commitment_is_refused() {
    let (_org, alice, bob) = pair();
    let flow = [11; 16];
    let a = SasVerification::start(&alice.device, &alice.peer(&bob.me()), flow);
    let b = SasVerification::start(&bob.device, &bob.peer(&alice.me()), flow);
    let commitment = b.commitment();
    // Someone in the middle reveals another key than the one committed to.
    let other = vodozemac::sas::Sas::new();
    let swapped = Curve25519Public(other.public_key().to_bytes());
    assert!(matches!(a.receive_committed_key(&swapped, &commitment), Err(CryptoError::Verification(_))));
    // A commitment is bound to its flow too.
    let a = SasVerification::start(&alice.device, &alice.peer(&bob.me()), [12; 16]);
    assert!(a.receive_committed_key(&b.public_key(), &commitment).is_err());
}
