//! This device: its vodozemac account, its certificate chain, its prekeys.

use crate::error::{CryptoError, Result};
use crate::org::{RELAY_CA_LABEL, public_of, sign_with};
use crate::pickle::{self, PickleKey};
use crate::trust::{VerifiedDevice, verify_chain};
use belfry_protocol::cert::{
    DeviceCert, DeviceChain, Invitation, Issuer, POSSESSION_LABEL, Prekey, Revocation, RevocationTarget, Timestamp,
    WipeOrder,
};
use belfry_protocol::signed::labelled_message;
use belfry_protocol::{
    Curve25519Public, DeviceId, DisplayName, Ed25519Public, Hash256, Signature, Signed, SignedBody, UserId, Wire,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use vodozemac::Ed25519SecretKey;
use vodozemac::olm::{Account, AccountPickle};

/// Letters used in generated device ids.
const DEVICE_ID_ALPHABET: &[u8; 26] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// This device. Holds the vodozemac [`Account`] (identity keys, one-time
/// keys, fallback key); `Debug` prints ids and public keys only.
pub struct Device {
    pub(crate) account: Account,
    pub(crate) identity: VerifiedDevice,
    org: Ed25519Public,
    chain: DeviceChain,
}

#[derive(Serialize, Deserialize)]
struct DevicePickle {
    identity: VerifiedDevice,
    org: Ed25519Public,
    chain: Vec<u8>,
    account: AccountPickle,
}

fn random_device_id() -> Result<DeviceId> {
    let bytes: [u8; 10] = crate::random_bytes();
    let id: String =
        bytes.iter().map(|b| char::from(DEVICE_ID_ALPHABET[usize::from(*b) % DEVICE_ID_ALPHABET.len()])).collect();
    DeviceId::new(id).map_err(|e| CryptoError::KeyMaterial(e.to_string()))
}

impl Device {
    /// Enrolls a new device from an invitation: checks the invitation
    /// against the org root this build trusts, creates the vodozemac
    /// account, and signs the device certificate with the enrollment key.
    pub fn enroll(
        invitation: &Invitation,
        trusted_org: &Ed25519Public,
        device_name: DisplayName,
        now: Timestamp,
    ) -> Result<Self> {
        let enrollment = invitation
            .enrollment
            .verify(trusted_org)
            .map_err(|e| CryptoError::Invitation(format!("not issued by this organisation: {e}")))?;
        if now > enrollment.expires_at {
            return Err(CryptoError::Invitation("the invitation has expired; ask IT for a new one".into()));
        }
        if Hash256::of(RELAY_CA_LABEL, &invitation.relay_ca_der) != enrollment.relay.ca_sha256 {
            return Err(CryptoError::Invitation("the relay certificate does not match the signed invitation".into()));
        }
        let enrollment_secret = Ed25519SecretKey::from_slice(invitation.enrollment_secret.expose());
        if public_of(&enrollment_secret) != enrollment.enrollment_key {
            return Err(CryptoError::Invitation("the enrollment secret does not match the certificate".into()));
        }

        let account = Account::new();
        let keys = account.identity_keys();
        let cert = DeviceCert {
            org: *trusted_org,
            user: enrollment.user.clone(),
            device: random_device_id()?,
            device_name,
            ed25519: Ed25519Public(*keys.ed25519.as_bytes()),
            curve25519: Curve25519Public(keys.curve25519.to_bytes()),
            enrollment_key: enrollment.enrollment_key,
            issued_at: now.max(enrollment.not_before),
        };
        let device = sign_with(&enrollment_secret, &cert);
        let possession = Signature(account.sign(labelled_message(POSSESSION_LABEL, device.body())).to_bytes());
        let chain = DeviceChain { enrollment: invitation.enrollment.clone(), device, possession };
        let identity = verify_chain(trusted_org, &chain, now)?;
        Ok(Self { account, identity, org: *trusted_org, chain })
    }

    /// The owner.
    pub fn user(&self) -> &UserId {
        &self.identity.user
    }

    /// This device's id.
    pub fn device_id(&self) -> &DeviceId {
        &self.identity.device
    }

    /// The org root this device trusts.
    pub fn org(&self) -> &Ed25519Public {
        &self.org
    }

    /// Ed25519 identity key.
    pub fn ed25519(&self) -> Ed25519Public {
        self.identity.ed25519
    }

    /// Curve25519 identity key.
    pub fn curve25519(&self) -> Curve25519Public {
        self.identity.curve25519
    }

    /// This device as others see it.
    pub fn identity(&self) -> &VerifiedDevice {
        &self.identity
    }

    /// The certificate chain to publish.
    pub fn chain(&self) -> &DeviceChain {
        &self.chain
    }

    /// Signs a statement with this device's Ed25519 key.
    pub fn sign<T: SignedBody>(&self, value: &T) -> Signed<T> {
        Signed::sign(value, |m| Signature(self.account.sign(m).to_bytes()))
    }

    fn signed_prekey(&self, key: vodozemac::Curve25519PublicKey, fallback: bool) -> Signed<Prekey> {
        self.sign(&Prekey {
            user: self.identity.user.clone(),
            device: self.identity.device.clone(),
            key: Curve25519Public(key.to_bytes()),
            fallback,
        })
    }

    /// Generates `count` one-time keys, each signed by this device.
    pub fn generate_prekeys(&mut self, count: usize) -> Vec<Signed<Prekey>> {
        let created = self.account.generate_one_time_keys(count).created;
        created.into_iter().map(|k| self.signed_prekey(k, false)).collect()
    }

    /// Generates a new fallback key, signed by this device.
    pub fn generate_fallback_prekey(&mut self) -> Option<Signed<Prekey>> {
        self.account.generate_fallback_key();
        let key = self.account.fallback_key().into_values().next()?;
        Some(self.signed_prekey(key, true))
    }

    /// Call once the relay acknowledged the upload of the keys.
    pub fn mark_prekeys_published(&mut self) {
        self.account.mark_keys_as_published();
    }

    /// How many unused one-time keys this device still holds.
    pub fn stored_prekey_count(&self) -> usize {
        self.account.stored_one_time_key_count()
    }

    /// Revokes another device of the same user (the user lost it).
    pub fn revoke_own_device(&self, device: DeviceId, reason: DisplayName, now: Timestamp) -> Signed<Revocation> {
        self.sign(&Revocation {
            org: self.org,
            target: RevocationTarget::Device { user: self.identity.user.clone(), device },
            issuer: self.issuer(),
            reason,
            issued_at: now,
        })
    }

    /// Orders another device of the same user to wipe itself.
    pub fn wipe_own_device(&self, device: DeviceId, now: Timestamp) -> Signed<WipeOrder> {
        self.sign(&WipeOrder {
            org: self.org,
            user: self.identity.user.clone(),
            device,
            issuer: self.issuer(),
            issued_at: now,
        })
    }

    fn issuer(&self) -> Issuer {
        Issuer::Device { device: self.identity.device.clone(), ed25519: self.identity.ed25519 }
    }

    /// A digest of the complete account state (one-time keys included), to
    /// check that an operation left it unchanged. One-way.
    pub fn state_digest(&self) -> Hash256 {
        pickle::digest("device", &self.account.pickle())
    }

    /// The whole device, encrypted with `key`.
    pub fn pickle(&self, key: &PickleKey) -> Result<Vec<u8>> {
        let p = DevicePickle {
            identity: self.identity.clone(),
            org: self.org,
            chain: self.chain.encode(),
            account: self.account.pickle(),
        };
        pickle::seal("device", &p, key)
    }

    /// Restores a device pickled with [`Device::pickle`].
    pub fn unpickle(bytes: &[u8], key: &PickleKey) -> Result<Self> {
        let p: DevicePickle = pickle::open("device", bytes, key)?;
        let chain = DeviceChain::decode(&p.chain)?;
        let account = Account::from_pickle(p.account);
        if account.identity_keys().ed25519.as_bytes() != p.identity.ed25519.as_bytes() {
            return Err(CryptoError::Unpickle { what: "device" });
        }
        Ok(Self { account, identity: p.identity, org: p.org, chain })
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("user", &self.identity.user)
            .field("device", &self.identity.device)
            .field("ed25519", &self.identity.ed25519)
            .field("curve25519", &self.identity.curve25519)
            .finish_non_exhaustive()
    }
}
