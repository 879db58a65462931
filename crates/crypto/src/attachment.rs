//! Attachment encryption: a random key per file and the STREAM construction
//! (Hoang, Reyhanitabar, Rogaway, Vizár) over XChaCha20-Poly1305, so files of
//! any size stream from a reader to a writer in 64 KiB chunks.
//!
//! Each chunk's nonce carries its position and a last-chunk flag, so
//! reordering, dropping, duplicating or truncating chunks fails
//! authentication. The header (magic and random nonce prefix) is the
//! associated data of every chunk. The SHA-256 of the whole ciphertext is
//! sent next to the key inside the Megolm message and checked at the end.
//!
//! Decryption writes plaintext as chunks authenticate; if it returns an
//! error the caller must discard what was written.

use aead_stream::{DecryptorBE32, EncryptorBE32};
use belfry_protocol::{Hash256, SecretKey32};
use chacha20poly1305::aead::{KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use zeroize::Zeroizing;

/// Plaintext bytes per chunk.
pub const CHUNK_LEN: usize = 64 * 1024;
const TAG_LEN: usize = 16;
const MAGIC: &[u8; 4] = b"BFA1";
const NONCE_PREFIX_LEN: usize = 19;
const HEADER_LEN: usize = MAGIC.len() + NONCE_PREFIX_LEN;

/// Why an attachment could not be encrypted or decrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// Reading or writing failed.
    #[error("attachment I/O: {0}")]
    Io(#[from] io::Error),
    /// The header is missing or not a Belfry attachment.
    #[error("not a Belfry attachment (bad header)")]
    BadHeader,
    /// A chunk failed authentication: tampered, reordered or from another file.
    #[error("attachment chunk {chunk} failed authentication: tampered or reordered")]
    Tampered {
        /// The chunk's position.
        chunk: u32,
    },
    /// The ciphertext ends early or has extra data after the last chunk.
    #[error("attachment is truncated or extended")]
    Truncated,
    /// The ciphertext hash differs from the one in the message.
    #[error("attachment ciphertext hash does not match the message")]
    HashMismatch,
    /// More chunks than the construction allows (over 256 TiB).
    #[error("attachment too large")]
    TooLarge,
}

/// What the recipient needs to fetch and decrypt a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedAttachment {
    /// The per-file key.
    pub key: SecretKey32,
    /// SHA-256 of the whole ciphertext (header included).
    pub sha256: Hash256,
    /// Plaintext length.
    pub plaintext_len: u64,
    /// Ciphertext length.
    pub ciphertext_len: u64,
}

/// The exact ciphertext length [`encrypt`] produces for `plaintext_len`
/// bytes (header, then one tag per chunk; an empty file is one empty
/// chunk), or `None` past what the construction allows. Lets a sender
/// reserve the blob before encrypting.
pub fn ciphertext_len(plaintext_len: u64) -> Option<u64> {
    let chunk = CHUNK_LEN as u64;
    let chunks = plaintext_len.div_ceil(chunk).max(1);
    if chunks > u64::from(u32::MAX) {
        return None;
    }
    (HEADER_LEN as u64).checked_add(plaintext_len)?.checked_add(chunks.checked_mul(TAG_LEN as u64)?)
}

/// How many plaintext bytes the first `ciphertext_done` bytes of a
/// ciphertext carry (for progress shown in the file's own size), at most
/// `plaintext_len`. Monotonic in `ciphertext_done`.
pub fn plaintext_progress(ciphertext_done: u64, plaintext_len: u64) -> u64 {
    let sealed = (CHUNK_LEN + TAG_LEN) as u64;
    let body = ciphertext_done.saturating_sub(HEADER_LEN as u64);
    let whole = (body / sealed).saturating_mul(CHUNK_LEN as u64);
    let part = (body % sealed).min(CHUNK_LEN as u64);
    whole.saturating_add(part).min(plaintext_len)
}

/// Reads up to `buf.len()` bytes, stopping early only at end of input.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads the next block of `block` bytes into `buf` (which may already hold
/// one look-ahead byte) and reports whether it is the last block.
struct Blocks<R> {
    reader: R,
    lookahead: Option<u8>,
}

impl<R: Read> Blocks<R> {
    fn next(&mut self, buf: &mut Vec<u8>, block: usize) -> io::Result<bool> {
        buf.clear();
        buf.resize(block, 0);
        let mut filled = 0;
        if let (Some(b), Some(first)) = (self.lookahead.take(), buf.first_mut()) {
            *first = b;
            filled = 1;
        }
        filled += read_full(&mut self.reader, &mut buf[filled..])?;
        buf.truncate(filled);
        if filled < block {
            return Ok(true);
        }
        let mut one = [0u8; 1];
        if read_full(&mut self.reader, &mut one)? == 0 {
            return Ok(true);
        }
        self.lookahead = Some(one[0]);
        Ok(false)
    }
}

struct HashingWriter<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        self.hash.update(data);
        self.len += data.len() as u64;
        self.inner.write_all(data)
    }
}

fn cipher(key: &SecretKey32) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&Key::from(*key.expose()))
}

fn finish_hash(hash: Sha256) -> Hash256 {
    Hash256(hash.finalize().into())
}

/// Encrypts everything `reader` yields into `writer`, with a fresh key.
pub fn encrypt(reader: impl Read, writer: impl Write) -> Result<EncryptedAttachment, AttachmentError> {
    let key = SecretKey32::new(crate::random_bytes());
    let prefix: [u8; NONCE_PREFIX_LEN] = crate::random_bytes();
    let mut header = [0u8; HEADER_LEN];
    header[..MAGIC.len()].copy_from_slice(MAGIC);
    header[MAGIC.len()..].copy_from_slice(&prefix);

    let mut out = HashingWriter { inner: writer, hash: Sha256::new(), len: 0 };
    out.put(&header)?;
    let mut stream = EncryptorBE32::from_aead(cipher(&key), (&prefix).into());
    let mut blocks = Blocks { reader, lookahead: None };
    let mut buf = Zeroizing::new(Vec::with_capacity(CHUNK_LEN));
    let mut plaintext_len = 0u64;
    loop {
        let last = blocks.next(&mut buf, CHUNK_LEN)?;
        plaintext_len += buf.len() as u64;
        let payload = Payload { msg: buf.as_slice(), aad: &header };
        if last {
            let ct = stream.encrypt_last(payload).map_err(|_| AttachmentError::TooLarge)?;
            out.put(&ct)?;
            break;
        }
        let ct = stream.encrypt_next(payload).map_err(|_| AttachmentError::TooLarge)?;
        out.put(&ct)?;
    }
    out.inner.flush()?;
    Ok(EncryptedAttachment { key, sha256: finish_hash(out.hash), plaintext_len, ciphertext_len: out.len })
}

/// Decrypts an attachment into `writer`, checking every chunk and, at the
/// end, the ciphertext hash. Returns the plaintext length.
pub fn decrypt(
    mut reader: impl Read,
    mut writer: impl Write,
    key: &SecretKey32,
    expected_sha256: &Hash256,
) -> Result<u64, AttachmentError> {
    let mut header = [0u8; HEADER_LEN];
    if read_full(&mut reader, &mut header)? != HEADER_LEN || &header[..MAGIC.len()] != MAGIC {
        return Err(AttachmentError::BadHeader);
    }
    let mut hash = Sha256::new();
    hash.update(header);
    let prefix: [u8; NONCE_PREFIX_LEN] = header[MAGIC.len()..].try_into().map_err(|_| AttachmentError::BadHeader)?;
    let mut stream = DecryptorBE32::from_aead(cipher(key), (&prefix).into());
    let mut blocks = Blocks { reader, lookahead: None };
    let mut buf = Vec::with_capacity(CHUNK_LEN + TAG_LEN);
    let mut chunk: u32 = 0;
    let mut written = 0u64;
    loop {
        let last = blocks.next(&mut buf, CHUNK_LEN + TAG_LEN)?;
        hash.update(&buf);
        if buf.len() < TAG_LEN {
            return Err(AttachmentError::Truncated);
        }
        let payload = Payload { msg: buf.as_slice(), aad: &header };
        if last {
            let plain = Zeroizing::new(stream.decrypt_last(payload).map_err(|_| AttachmentError::Tampered { chunk })?);
            writer.write_all(&plain)?;
            written += plain.len() as u64;
            break;
        }
        let plain = Zeroizing::new(stream.decrypt_next(payload).map_err(|_| AttachmentError::Tampered { chunk })?);
        writer.write_all(&plain)?;
        written += plain.len() as u64;
        chunk = chunk.checked_add(1).ok_or(AttachmentError::TooLarge)?;
    }
    writer.flush()?;
    if finish_hash(hash) != *expected_sha256 {
        return Err(AttachmentError::HashMismatch);
    }
    Ok(written)
}
