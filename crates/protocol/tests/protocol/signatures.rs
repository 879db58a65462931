//! Signatures over canonical bytes with a label per type.

use crate::samples::{self, key, public, sign};
use belfry_protocol::cert::*;
use belfry_protocol::*;

#[test]
fn a_signed_statement_verifies_with_its_key_only() {
    let signed = sign(&key(1), &samples::revocation());
    assert_eq!(signed.verify(&public(&key(1))).unwrap(), samples::revocation());
    assert!(matches!(signed.verify(&public(&key(2))), Err(VerifyError::Signature { .. })));
}

#[test]
fn a_flipped_body_byte_breaks_the_signature() {
    let signed = sign(&key(1), &samples::revocation());
    let mut body = signed.body().to_vec();
    let last = body.len() - 1;
    body[last] ^= 1;
    let forged = Signed::<Revocation>::from_parts(body, *signed.signature());
    assert!(matches!(forged.verify(&public(&key(1))), Err(VerifyError::Signature { .. })));
}

#[test]
fn a_signature_for_one_statement_type_never_verifies_as_another() {
    // Sign a wipe order, then present its body and signature as a
    // revocation: the labels differ, so verification fails before decoding.
    let wipe = sign(&key(1), &samples::wipe());
    let confused = Signed::<Revocation>::from_parts(wipe.body().to_vec(), *wipe.signature());
    assert!(matches!(confused.verify(&public(&key(1))), Err(VerifyError::Signature { .. })));
}

#[test]
fn signing_message_is_domain_separated() {
    let body = b"same bytes";
    assert_ne!(
        belfry_protocol::signed::signing_message::<Revocation>(body),
        belfry_protocol::signed::signing_message::<WipeOrder>(body)
    );
}
