//! A 32-byte secret at rest under a passphrase: Argon2id turns the
//! passphrase into a 32-byte key, XChaCha20-Poly1305 encrypts the secret
//! with caller-chosen associated data (the org public key for the org key,
//! a fixed label for a device's store key), so a ciphertext cannot be moved
//! into another file or another role. The Argon2 parameters actually used
//! are stored next to the ciphertext, and opening always uses the stored
//! ones. Used by `belfry-admin` (the org key) and `belfry-store`
//! (passphrase mode).

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Argon2 algorithm name in the file.
const ARGON2ID: &str = "argon2id";
/// Cipher name in the file.
const XCHACHA: &str = "xchacha20poly1305";
/// Argon2 version 1.3.
const ARGON2_VERSION: u32 = 0x13;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const SECRET_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfCost {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfCost {
    /// 64 MiB, 3 passes, 1 lane.
    pub const DEFAULT: Self = Self { m_cost_kib: 64 * 1024, t_cost: 3, p_cost: 1 };
    /// For test suites only: seconds instead of minutes. Never for a real
    /// secret; callers must keep it out of release builds.
    pub const INSECURE_FAST: Self = Self { m_cost_kib: 64, t_cost: 1, p_cost: 1 };

    // Bounds on stored parameters, so a damaged file cannot make us allocate
    // terabytes or loop for hours before saying it is damaged.
    const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
    const MAX_T_COST: u32 = 64;
    const MAX_P_COST: u32 = 64;

    /// Whether this is weaker than the default in any dimension.
    pub fn is_weaker_than_default(&self) -> bool {
        self.m_cost_kib < Self::DEFAULT.m_cost_kib || self.t_cost < Self::DEFAULT.t_cost
    }

    fn params(&self) -> Result<Params, SealError> {
        if self.m_cost_kib > Self::MAX_M_COST_KIB || self.t_cost > Self::MAX_T_COST || self.p_cost > Self::MAX_P_COST {
            return Err(SealError::Corrupt(format!(
                "Argon2 parameters out of range (m={} KiB, t={}, p={})",
                self.m_cost_kib, self.t_cost, self.p_cost
            )));
        }
        Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(SECRET_LEN))
            .map_err(|e| SealError::Corrupt(format!("invalid Argon2 parameters: {e}")))
    }
}

/// How the passphrase becomes a key, as stored in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfRecord {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Always 19 (Argon2 1.3).
    pub version: u32,
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// 16 random bytes, base64.
    pub salt: String,
}

impl KdfRecord {
    /// The cost parameters.
    pub fn cost(&self) -> KdfCost {
        KdfCost { m_cost_kib: self.m_cost_kib, t_cost: self.t_cost, p_cost: self.p_cost }
    }
}

/// The encrypted org secret key, as stored in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedKey {
    /// Passphrase → key.
    pub kdf: KdfRecord,
    /// Always `xchacha20poly1305`.
    pub cipher: String,
    /// 24 random bytes, base64.
    pub nonce: String,
    /// The 32 secret bytes encrypted, with the 16-byte tag, base64.
    pub ciphertext: String,
}

/// Why a key could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// Authentication failed: the passphrase is wrong, or the ciphertext,
    /// salt, parameters or associated data were altered.
    #[error("wrong passphrase or altered ciphertext")]
    WrongKey,
    /// A field is malformed.
    #[error("{0}")]
    Corrupt(String),
    /// Argon2 itself failed.
    #[error("key derivation failed: {0}")]
    Kdf(String),
    /// The AEAD refused to encrypt (never expected).
    #[error("encryption failed")]
    Encrypt,
}

fn derive(passphrase: &[u8], salt: &[u8], cost: KdfCost) -> Result<Zeroizing<[u8; SECRET_LEN]>, SealError> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, cost.params()?);
    let mut key = Zeroizing::new([0u8; SECRET_LEN]);
    argon.hash_password_into(passphrase, salt, &mut key[..]).map_err(|e| SealError::Kdf(e.to_string()))?;
    Ok(key)
}

fn cipher(key: &[u8; SECRET_LEN]) -> Result<XChaCha20Poly1305, SealError> {
    XChaCha20Poly1305::new_from_slice(key).map_err(|_| SealError::Kdf("derived key has the wrong length".into()))
}

/// Encrypts `secret` under `passphrase`, binding it to `aad`.
pub fn seal(secret: &[u8; SECRET_LEN], passphrase: &[u8], cost: KdfCost, aad: &[u8]) -> Result<SealedKey, SealError> {
    let mut salt = [0u8; SALT_LEN];
    rand::fill(&mut salt[..]);
    let mut nonce = [0u8; NONCE_LEN];
    rand::fill(&mut nonce[..]);
    let key = derive(passphrase, &salt, cost)?;
    let ciphertext =
        cipher(&key)?.encrypt(&XNonce::from(nonce), Payload { msg: secret, aad }).map_err(|_| SealError::Encrypt)?;
    Ok(SealedKey {
        kdf: KdfRecord {
            algorithm: ARGON2ID.into(),
            version: ARGON2_VERSION,
            m_cost_kib: cost.m_cost_kib,
            t_cost: cost.t_cost,
            p_cost: cost.p_cost,
            salt: B64.encode(salt),
        },
        cipher: XCHACHA.into(),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ciphertext),
    })
}

fn field<const N: usize>(name: &str, b64: &str) -> Result<[u8; N], SealError> {
    let bytes = B64.decode(b64).map_err(|e| SealError::Corrupt(format!("{name} is not valid base64: {e}")))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| SealError::Corrupt(format!("{name} must be {N} bytes, found {}", bytes.len())))
}

/// Decrypts the sealed secret with `passphrase`, checking it is bound to `aad`.
pub fn open(sealed: &SealedKey, passphrase: &[u8], aad: &[u8]) -> Result<Zeroizing<[u8; SECRET_LEN]>, SealError> {
    let kdf = &sealed.kdf;
    if kdf.algorithm != ARGON2ID || kdf.version != ARGON2_VERSION {
        return Err(SealError::Corrupt(format!(
            "unsupported key derivation {} version {} (this build reads {ARGON2ID} version {ARGON2_VERSION})",
            kdf.algorithm, kdf.version
        )));
    }
    if sealed.cipher != XCHACHA {
        return Err(SealError::Corrupt(format!("unsupported cipher {:?} (this build reads {XCHACHA})", sealed.cipher)));
    }
    let salt: [u8; SALT_LEN] = field("kdf.salt", &kdf.salt)?;
    let nonce: [u8; NONCE_LEN] = field("nonce", &sealed.nonce)?;
    let ciphertext: [u8; SECRET_LEN + TAG_LEN] = field("ciphertext", &sealed.ciphertext)?;
    let key = derive(passphrase, &salt, kdf.cost())?;
    let plain = Zeroizing::new(
        cipher(&key)?
            .decrypt(&XNonce::from(nonce), Payload { msg: &ciphertext, aad })
            .map_err(|_| SealError::WrongKey)?,
    );
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    if plain.len() != SECRET_LEN {
        return Err(SealError::Corrupt("decrypted key has the wrong length".into()));
    }
    secret.copy_from_slice(&plain);
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfCost = KdfCost::INSECURE_FAST;

    #[test]
    fn seals_and_opens() {
        let sealed = seal(&[7; 32], b"correct horse battery", FAST, b"org-a").unwrap();
        assert_eq!(*open(&sealed, b"correct horse battery", b"org-a").unwrap(), [7; 32]);
        assert_eq!(sealed.kdf.cost(), FAST);
    }

    #[test]
    fn wrong_passphrase_fails() {
        let sealed = seal(&[7; 32], b"correct horse battery", FAST, b"org-a").unwrap();
        assert!(matches!(open(&sealed, b"correct horse batterz", b"org-a"), Err(SealError::WrongKey)));
    }

    #[test]
    fn ciphertext_moved_to_another_org_fails() {
        let sealed = seal(&[7; 32], b"correct horse battery", FAST, b"org-a").unwrap();
        assert!(matches!(open(&sealed, b"correct horse battery", b"org-b"), Err(SealError::WrongKey)));
    }

    #[test]
    fn changed_parameters_fail() {
        let mut sealed = seal(&[7; 32], b"correct horse battery", FAST, b"org-a").unwrap();
        sealed.kdf.t_cost += 1;
        assert!(matches!(open(&sealed, b"correct horse battery", b"org-a"), Err(SealError::WrongKey)));
    }

    #[test]
    fn absurd_parameters_are_refused_before_deriving() {
        let mut sealed = seal(&[7; 32], b"correct horse battery", FAST, b"org-a").unwrap();
        sealed.kdf.m_cost_kib = u32::MAX;
        assert!(matches!(open(&sealed, b"correct horse battery", b"org-a"), Err(SealError::Corrupt(_))));
    }

    #[test]
    fn fresh_salt_and_nonce_each_time() {
        let a = seal(&[7; 32], b"correct horse battery", FAST, b"org-a").unwrap();
        let b = seal(&[7; 32], b"correct horse battery", FAST, b"org-a").unwrap();
        assert_ne!(a.kdf.salt, b.kdf.salt);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }
}
