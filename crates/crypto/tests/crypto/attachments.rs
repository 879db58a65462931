//! Attachment encryption: round trips at chunk boundaries, and every kind
//! of tampering refused.

use belfry_crypto::CryptoError;
use belfry_crypto::attachment::{self, AttachmentError, CHUNK_LEN};
use belfry_protocol::{Hash256, SecretKey32};
use proptest::prelude::*;

const HEADER: usize = 23;
const TAG: usize = 16;

fn seal(plain: &[u8]) -> (Vec<u8>, attachment::EncryptedAttachment) {
    let mut ct = Vec::new();
    let info = attachment::encrypt(plain, &mut ct).unwrap();
    (ct, info)
}

fn open(ct: &[u8], key: &SecretKey32, hash: &Hash256) -> Result<Vec<u8>, AttachmentError> {
    let mut out = Vec::new();
    attachment::decrypt(ct, &mut out, key, hash)?;
    Ok(out)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn round_trips_at_chunk_boundaries() {
    for len in [0, 1, CHUNK_LEN - 1, CHUNK_LEN, CHUNK_LEN + 1, 3 * CHUNK_LEN, 3 * CHUNK_LEN + 17] {
        let plain = data(len);
        let (ct, info) = seal(&plain);
        assert_eq!(info.plaintext_len, len as u64);
        assert_eq!(info.ciphertext_len, ct.len() as u64);
        assert_eq!(open(&ct, &info.key, &info.sha256).unwrap(), plain, "len {len}");
    }
}

#[test]
fn ciphertext_length_is_known_before_encrypting() {
    for len in [0, 1, CHUNK_LEN - 1, CHUNK_LEN, CHUNK_LEN + 1, 3 * CHUNK_LEN, 3 * CHUNK_LEN + 17] {
        let (ct, _) = seal(&data(len));
        assert_eq!(attachment::ciphertext_len(len as u64), Some(ct.len() as u64), "len {len}");
    }
    assert_eq!(attachment::ciphertext_len(u64::MAX), None);
}

#[test]
fn plaintext_progress_is_monotonic_and_ends_at_the_size() {
    for len in [0u64, 1, CHUNK_LEN as u64, 3 * CHUNK_LEN as u64 + 17] {
        let ct_len = attachment::ciphertext_len(len).unwrap();
        let mut last = 0;
        for done in 0..=ct_len {
            let p = attachment::plaintext_progress(done, len);
            assert!(p >= last && p <= len, "len {len} done {done}");
            last = p;
        }
        assert_eq!(last, len);
    }
}

#[test]
fn every_file_gets_its_own_key_and_nonce() {
    let (a, ia) = seal(b"same");
    let (b, ib) = seal(b"same");
    assert_ne!(ia.key, ib.key);
    assert_ne!(a[..HEADER], b[..HEADER]);
    assert!(matches!(open(&a, &ib.key, &ia.sha256), Err(AttachmentError::Tampered { chunk: 0 })));
}

#[test]
fn rejects_tampered_attachment_ciphertext() {
    let (mut ct, info) = seal(&data(2 * CHUNK_LEN + 5));
    ct[HEADER + CHUNK_LEN + 3] ^= 1;
    assert!(matches!(open(&ct, &info.key, &info.sha256), Err(AttachmentError::Tampered { chunk: 0 })));
}

#[test]
fn rejects_tampered_attachment_nonce() {
    let (mut ct, info) = seal(&data(100));
    ct[6] ^= 1;
    assert!(matches!(open(&ct, &info.key, &info.sha256), Err(AttachmentError::Tampered { .. })));
    let (mut ct, info) = seal(&data(100));
    ct[0] = b'X';
    assert!(matches!(open(&ct, &info.key, &info.sha256), Err(AttachmentError::BadHeader)));
}

#[test]
fn rejects_reordered_attachment_chunks() {
    let (ct, info) = seal(&data(3 * CHUNK_LEN + 10));
    let c = CHUNK_LEN + TAG;
    let mut swapped = ct[..HEADER].to_vec();
    swapped.extend_from_slice(&ct[HEADER + c..HEADER + 2 * c]);
    swapped.extend_from_slice(&ct[HEADER..HEADER + c]);
    swapped.extend_from_slice(&ct[HEADER + 2 * c..]);
    assert!(matches!(open(&swapped, &info.key, &info.sha256), Err(AttachmentError::Tampered { chunk: 0 })));
    // A chunk duplicated in place of another.
    let mut dup = ct[..HEADER + c].to_vec();
    dup.extend_from_slice(&ct[HEADER..HEADER + c]);
    dup.extend_from_slice(&ct[HEADER + 2 * c..]);
    assert!(matches!(open(&dup, &info.key, &info.sha256), Err(AttachmentError::Tampered { chunk: 1 })));
}

#[test]
fn rejects_truncated_attachment() {
    let (ct, info) = seal(&data(2 * CHUNK_LEN + 100));
    let c = CHUNK_LEN + TAG;
    // The last chunk dropped: the new last chunk was not sealed as last.
    assert!(matches!(
        open(&ct[..HEADER + 2 * c], &info.key, &info.sha256),
        Err(AttachmentError::Tampered { chunk: 1 })
    ));
    // Cut in the middle of a chunk.
    assert!(open(&ct[..ct.len() - 7], &info.key, &info.sha256).is_err());
    // Only the header.
    assert!(matches!(open(&ct[..HEADER], &info.key, &info.sha256), Err(AttachmentError::Truncated)));
    // Not even a header.
    assert!(matches!(open(&ct[..5], &info.key, &info.sha256), Err(AttachmentError::BadHeader)));
    // An exact multiple of the chunk size, truncated at a chunk boundary.
    let (ct, info) = seal(&data(2 * CHUNK_LEN));
    assert!(matches!(open(&ct[..HEADER + c], &info.key, &info.sha256), Err(AttachmentError::Tampered { chunk: 0 })));
}

#[test]
fn rejects_extended_attachment() {
    let (mut ct, info) = seal(&data(10));
    ct.extend_from_slice(&[0; TAG + 1]);
    assert!(open(&ct, &info.key, &info.sha256).is_err());
}

#[test]
fn rejects_attachment_whose_hash_does_not_match_the_message() {
    let (ct, info) = seal(&data(10));
    let mut other = info.sha256;
    other.0[0] ^= 1;
    assert!(matches!(open(&ct, &info.key, &other), Err(AttachmentError::HashMismatch)));
    // And the error converts into the crate error with a clear message.
    let err = CryptoError::from(AttachmentError::HashMismatch);
    assert!(err.to_string().contains("hash"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_single_byte_change_is_detected(len in 0usize..(2 * CHUNK_LEN + 50), at in any::<usize>(), xor in 1u8..) {
        let (mut ct, info) = seal(&data(len));
        let i = at % ct.len();
        ct[i] ^= xor;
        prop_assert!(open(&ct, &info.key, &info.sha256).is_err());
    }
}
