//! The organisation trust chain on the wire: invitations, enrollment and
//! device certificates, signed prekeys, revocations and wipe orders.
//!
//! Chain: org root key → enrollment key (an [`EnrollmentCert`] signed by the
//! org) → device (a [`DeviceCert`] signed by the enrollment key).

use crate::codec::Wire;
use crate::ids::{DeviceId, DisplayName, InvitationId, UserId};
use crate::keys::{Curve25519Public, Ed25519Public, Hash256, SecretKey32};
use crate::limits;
use crate::signed::{Signed, SignedBody};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch. Crypto code never reads a clock; the
/// caller passes the time in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// `self` plus `ms` milliseconds, saturating.
    pub fn plus_ms(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

/// Hash label of the relay's CA certificate in [`RelayInfo::ca_sha256`].
pub const RELAY_CA_LABEL: &str = "relay-ca";

/// Where a device finds its relay, authenticated by the org signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayInfo {
    /// `wss://host:port` of the organisation's relay.
    pub url: String,
    /// SHA-256 of the DER encoding of the relay's private CA certificate.
    pub ca_sha256: Hash256,
}

/// The org's certification of a one-time enrollment key for one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentCert {
    /// The organisation root key that signs this certificate.
    pub org: Ed25519Public,
    /// Which invitation this is; the relay redeems each once.
    pub invitation: InvitationId,
    /// The user the device will belong to.
    pub user: UserId,
    /// The user's display name as IT registered it.
    pub display_name: DisplayName,
    /// The enrollment public key; its secret half travels in the invitation.
    pub enrollment_key: Ed25519Public,
    /// The relay the device must use.
    pub relay: RelayInfo,
    /// Not valid before.
    pub not_before: Timestamp,
    /// A device certificate must be issued before this instant.
    pub expires_at: Timestamp,
}

impl Wire for EnrollmentCert {
    const NAME: &'static str = "EnrollmentCert";
    const TAG: u8 = 0x10;
    const MAX_LEN: usize = 2 * 1024;
}
impl SignedBody for EnrollmentCert {
    const SIG_LABEL: &'static str = "enrollment-cert";
}

/// What IT hands to one person for one device, as a file or a QR code.
/// It holds a secret (the enrollment key): treat it like a password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The org-signed enrollment certificate.
    pub enrollment: Signed<EnrollmentCert>,
    /// The secret half of the enrollment key.
    pub enrollment_secret: SecretKey32,
    /// DER of the relay's CA certificate; its hash is in the signed cert.
    #[serde(with = "crate::codec::byte_vec")]
    pub relay_ca_der: Vec<u8>,
}

impl Wire for Invitation {
    const NAME: &'static str = "Invitation";
    const TAG: u8 = 0x11;
    const MAX_LEN: usize = limits::MAX_INVITATION_LEN;
}

impl fmt::Debug for Invitation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invitation")
            .field("enrollment", &self.enrollment)
            .field("enrollment_secret", &self.enrollment_secret)
            .field("relay_ca_der", &format_args!("{} bytes", self.relay_ca_der.len()))
            .finish()
    }
}

/// What IT gives the relay for one invitation: the org-signed certificate,
/// without the enrollment secret. The relay lets a device enroll only from
/// a registered invitation, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The org-signed enrollment certificate of the invitation.
    pub enrollment: Signed<EnrollmentCert>,
}

impl Wire for Registration {
    const NAME: &'static str = "Registration";
    const TAG: u8 = 0x18;
    const MAX_LEN: usize = 4 * 1024;
}

/// A device's certificate, signed by the enrollment key of its invitation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCert {
    /// The organisation root key.
    pub org: Ed25519Public,
    /// The owner.
    pub user: UserId,
    /// The device.
    pub device: DeviceId,
    /// A name the owner gave it, such as "Travel laptop".
    pub device_name: DisplayName,
    /// The device's Ed25519 identity key (vodozemac account).
    pub ed25519: Ed25519Public,
    /// The device's Curve25519 identity key (vodozemac account).
    pub curve25519: Curve25519Public,
    /// The enrollment key that signs this certificate.
    pub enrollment_key: Ed25519Public,
    /// When the device was enrolled.
    pub issued_at: Timestamp,
}

impl Wire for DeviceCert {
    const NAME: &'static str = "DeviceCert";
    const TAG: u8 = 0x12;
    const MAX_LEN: usize = 1024;
}
impl SignedBody for DeviceCert {
    const SIG_LABEL: &'static str = "device-cert";
}

/// Label of a device's proof that it holds the Ed25519 key in its own
/// certificate (a signature by that key over the certificate body).
pub const POSSESSION_LABEL: &str = "device-possession";

/// Everything needed to check a device against the org root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceChain {
    /// Org → enrollment key.
    pub enrollment: Signed<EnrollmentCert>,
    /// Enrollment key → device.
    pub device: Signed<DeviceCert>,
    /// The device's own Ed25519 signature over the device certificate body
    /// (label [`POSSESSION_LABEL`]): proves it holds that key and binds its
    /// Curve25519 key to it, so nobody can certify someone else's keys.
    pub possession: crate::keys::Signature,
}

impl Wire for DeviceChain {
    const NAME: &'static str = "DeviceChain";
    const TAG: u8 = 0x13;
    const MAX_LEN: usize = 4 * 1024;
}

/// A one-time or fallback Curve25519 key, signed by its device's Ed25519 key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prekey {
    /// Owner of the device.
    pub user: UserId,
    /// The device that holds the secret half.
    pub device: DeviceId,
    /// The public key.
    pub key: Curve25519Public,
    /// A fallback key may be handed out more than once.
    pub fallback: bool,
}

impl Wire for Prekey {
    const NAME: &'static str = "Prekey";
    const TAG: u8 = 0x14;
    const MAX_LEN: usize = 256;
}
impl SignedBody for Prekey {
    const SIG_LABEL: &'static str = "prekey";
}

/// Who signed a revocation or a wipe order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Issuer {
    /// The organisation root key (IT).
    Org,
    /// Another device of the same user.
    Device {
        /// The signing device.
        device: DeviceId,
        /// Its Ed25519 key.
        ed25519: Ed25519Public,
    },
}

/// What a revocation revokes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RevocationTarget {
    /// One device of a user.
    Device {
        /// The owner.
        user: UserId,
        /// The device.
        device: DeviceId,
    },
    /// An enrollment key (a lost or stolen invitation); any device it
    /// certified is refused too.
    Enrollment {
        /// The enrollment public key.
        key: Ed25519Public,
    },
}

/// A signed statement that a device or an invitation is no longer trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The organisation.
    pub org: Ed25519Public,
    /// What is revoked.
    pub target: RevocationTarget,
    /// Who signs it.
    pub issuer: Issuer,
    /// Why, for the people who see it.
    pub reason: DisplayName,
    /// When.
    pub issued_at: Timestamp,
}

impl Wire for Revocation {
    const NAME: &'static str = "Revocation";
    const TAG: u8 = 0x15;
    const MAX_LEN: usize = 1024;
}
impl SignedBody for Revocation {
    const SIG_LABEL: &'static str = "revocation";
}

/// A signed order for a device to erase its database and keys. A wiped
/// device is also treated as revoked by everyone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WipeOrder {
    /// The organisation.
    pub org: Ed25519Public,
    /// The owner of the device.
    pub user: UserId,
    /// The device to wipe.
    pub device: DeviceId,
    /// Who signs it.
    pub issuer: Issuer,
    /// When.
    pub issued_at: Timestamp,
}

impl Wire for WipeOrder {
    const NAME: &'static str = "WipeOrder";
    const TAG: u8 = 0x16;
    const MAX_LEN: usize = 1024;
}
impl SignedBody for WipeOrder {
    const SIG_LABEL: &'static str = "wipe-order";
}

/// IT's record that an invitation was used by exactly this device, signed
/// by the org key once IT has compared the device's key fingerprint with
/// the one the device shows. It is the evidence, independent of the relay
/// and of any date the device chose, that the device enrolled within the
/// invitation's window: with it, a device first seen after the invitation
/// expired is trusted, and every other device under the same enrollment
/// key is refused, by everyone who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentConfirmation {
    /// The organisation.
    pub org: Ed25519Public,
    /// The invitation that was used.
    pub invitation: InvitationId,
    /// Its enrollment key.
    pub enrollment_key: Ed25519Public,
    /// The user the device belongs to.
    pub user: UserId,
    /// The one device the invitation enrolled.
    pub device: DeviceId,
    /// That device's Ed25519 identity key.
    pub ed25519: Ed25519Public,
    /// That device's Curve25519 identity key.
    pub curve25519: Curve25519Public,
    /// When IT confirmed it.
    pub issued_at: Timestamp,
}

impl Wire for EnrollmentConfirmation {
    const NAME: &'static str = "EnrollmentConfirmation";
    const TAG: u8 = 0x19;
    const MAX_LEN: usize = 1024;
}
impl SignedBody for EnrollmentConfirmation {
    const SIG_LABEL: &'static str = "enrollment-confirmation";
}

/// A statement the relay distributes but cannot forge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Statement {
    /// A revocation.
    Revocation(Signed<Revocation>),
    /// A wipe order.
    Wipe(Signed<WipeOrder>),
    /// An invitation's one device, confirmed by the org (always org-signed).
    Confirmation(Signed<EnrollmentConfirmation>),
}

impl Wire for Statement {
    const NAME: &'static str = "Statement";
    const TAG: u8 = 0x17;
    const MAX_LEN: usize = 2 * 1024;
}
