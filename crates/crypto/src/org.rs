//! The organisation root key, held offline by IT in `belfry-admin`.

use crate::error::{CryptoError, Result, TrustError};
use belfry_protocol::cert::{
    DeviceChain, EnrollmentCert, EnrollmentConfirmation, Invitation, Issuer, RelayInfo, Revocation, RevocationTarget,
    Timestamp, WipeOrder,
};
use belfry_protocol::limits::MAX_RELAY_CA_LEN;
use belfry_protocol::{
    DeviceId, DisplayName, Ed25519Public, Hash256, InvitationId, SecretKey32, Signature, Signed, SignedBody, UserId,
};
use std::fmt;
use vodozemac::Ed25519SecretKey;
use zeroize::{Zeroize, Zeroizing};

/// Label of the relay CA hash inside enrollment certificates.
pub(crate) use belfry_protocol::cert::RELAY_CA_LABEL;

/// The org root signing key. Its secret never leaves this type except as
/// [`OrgKey::secret_bytes`], for encryption at rest. `Debug` prints the
/// public key only; the secret is wiped on drop (by ed25519-dalek).
pub struct OrgKey {
    secret: Ed25519SecretKey,
    public: Ed25519Public,
}

/// What IT fills in to invite one device of one person.
#[derive(Debug, Clone)]
pub struct InvitationRequest {
    /// The person's user id.
    pub user: UserId,
    /// Their display name.
    pub display_name: DisplayName,
    /// `wss://host:port` of the relay.
    pub relay_url: String,
    /// DER of the relay's CA certificate.
    pub relay_ca_der: Vec<u8>,
    /// How long the invitation may be redeemed, in milliseconds.
    pub valid_for_ms: u64,
}

pub(crate) fn sign_with<T: SignedBody>(secret: &Ed25519SecretKey, value: &T) -> Signed<T> {
    Signed::sign(value, |m| Signature(secret.sign(m).to_bytes()))
}

pub(crate) fn public_of(secret: &Ed25519SecretKey) -> Ed25519Public {
    Ed25519Public(*secret.public_key().as_bytes())
}

impl OrgKey {
    /// A new random org key.
    pub fn generate() -> Self {
        Self::from_secret(Ed25519SecretKey::new())
    }

    /// Restores the key from its 32 secret bytes.
    pub fn from_secret_bytes(bytes: &[u8; 32]) -> Self {
        Self::from_secret(Ed25519SecretKey::from_slice(bytes))
    }

    fn from_secret(secret: Ed25519SecretKey) -> Self {
        let public = public_of(&secret);
        Self { secret, public }
    }

    /// The 32 secret bytes, for encryption at rest. Wiped when dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut boxed = self.secret.to_bytes();
        let out = Zeroizing::new(*boxed);
        boxed.zeroize();
        out
    }

    /// The org root public key that ships in builds and policies.
    pub fn public(&self) -> Ed25519Public {
        self.public
    }

    /// Signs any statement type with the org key.
    pub fn sign<T: SignedBody>(&self, value: &T) -> Signed<T> {
        sign_with(&self.secret, value)
    }

    /// Issues an invitation: a fresh enrollment key pair, certified by the org.
    pub fn invite(&self, req: &InvitationRequest, now: Timestamp) -> Result<Invitation> {
        if req.relay_ca_der.is_empty() || req.relay_ca_der.len() > MAX_RELAY_CA_LEN {
            return Err(CryptoError::Invitation(format!(
                "the relay CA certificate must be 1 to {MAX_RELAY_CA_LEN} bytes of DER"
            )));
        }
        if !req.relay_url.starts_with("wss://") || req.relay_url.len() > 256 {
            return Err(CryptoError::Invitation(format!(
                "relay address must be wss://host:port (at most 256 characters), got {:?}",
                req.relay_url
            )));
        }
        let enrollment = Ed25519SecretKey::new();
        let cert = EnrollmentCert {
            org: self.public,
            invitation: InvitationId(crate::random_bytes()),
            user: req.user.clone(),
            display_name: req.display_name.clone(),
            enrollment_key: public_of(&enrollment),
            relay: RelayInfo { url: req.relay_url.clone(), ca_sha256: Hash256::of(RELAY_CA_LABEL, &req.relay_ca_der) },
            not_before: now,
            expires_at: now.plus_ms(req.valid_for_ms),
        };
        let mut secret = enrollment.to_bytes();
        let invitation = Invitation {
            enrollment: self.sign(&cert),
            enrollment_secret: SecretKey32::new(*secret),
            relay_ca_der: req.relay_ca_der.clone(),
        };
        secret.zeroize();
        Ok(invitation)
    }

    /// Revokes one device.
    pub fn revoke_device(
        &self,
        user: UserId,
        device: DeviceId,
        reason: DisplayName,
        now: Timestamp,
    ) -> Signed<Revocation> {
        self.sign(&Revocation {
            org: self.public,
            target: RevocationTarget::Device { user, device },
            issuer: Issuer::Org,
            reason,
            issued_at: now,
        })
    }

    /// Revokes an invitation's enrollment key, and any device it enrolled.
    pub fn revoke_enrollment(&self, key: Ed25519Public, reason: DisplayName, now: Timestamp) -> Signed<Revocation> {
        self.sign(&Revocation {
            org: self.public,
            target: RevocationTarget::Enrollment { key },
            issuer: Issuer::Org,
            reason,
            issued_at: now,
        })
    }

    /// Confirms the one device an invitation enrolled, from that device's
    /// chain (checked against this org first). Everyone who holds the
    /// confirmation trusts this device after the invitation expired, and
    /// refuses any other device under the same enrollment key.
    pub fn confirm_enrollment(
        &self,
        chain: &DeviceChain,
        now: Timestamp,
    ) -> std::result::Result<Signed<EnrollmentConfirmation>, TrustError> {
        let device = crate::trust::verify_chain(&self.public, chain, now)?;
        let enrollment = chain.enrollment.verify(&self.public).map_err(TrustError::NotSignedByOrg)?;
        Ok(self.sign(&EnrollmentConfirmation {
            org: self.public,
            invitation: enrollment.invitation,
            enrollment_key: device.enrollment_key,
            user: device.user,
            device: device.device,
            ed25519: device.ed25519,
            curve25519: device.curve25519,
            issued_at: now,
        }))
    }

    /// Orders a device to erase itself.
    pub fn wipe(&self, user: UserId, device: DeviceId, now: Timestamp) -> Signed<WipeOrder> {
        self.sign(&WipeOrder { org: self.public, user, device, issuer: Issuer::Org, issued_at: now })
    }
}

impl fmt::Debug for OrgKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgKey({})", self.public.to_base64())
    }
}
