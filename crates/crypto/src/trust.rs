//! The organisation trust chain: org root → enrollment key → device, and the
//! signed statements (revocations, wipe orders) that take trust away.
//!
//! [`verify_chain`] checks one chain on its own. [`Directory`] remembers
//! what it has admitted, so it can also refuse what only history reveals: an
//! enrollment key that certified a second device, a device id whose keys
//! changed, a device revoked earlier.

use crate::error::TrustError;
use belfry_protocol::cert::{
    DeviceChain, EnrollmentCert, Issuer, POSSESSION_LABEL, RevocationTarget, Statement, Timestamp,
};
use belfry_protocol::signed::labelled_message;
use belfry_protocol::{Curve25519Public, DeviceId, DisplayName, Ed25519Public, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Allowed clock skew when checking that a device certificate is not dated
/// in the future.
pub const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

/// How long after its invitation expired (by the verifier's clock) a device
/// nobody here has seen may still be admitted without the organisation's
/// confirmation: clock skew between devices, no more.
pub const ENROLLMENT_GRACE_MS: u64 = CLOCK_SKEW_MS;

/// A device whose certificate chain verified to the org root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedDevice {
    /// The owner.
    pub user: UserId,
    /// The device.
    pub device: DeviceId,
    /// The owner's display name, as IT registered it.
    pub display_name: DisplayName,
    /// The device's name.
    pub device_name: DisplayName,
    /// Ed25519 identity key.
    pub ed25519: Ed25519Public,
    /// Curve25519 identity key.
    pub curve25519: Curve25519Public,
    /// The enrollment key that certified it.
    pub enrollment_key: Ed25519Public,
    /// When it was enrolled.
    pub enrolled_at: Timestamp,
    /// Whether a person verified it with a short authentication string.
    /// Raises trust on top of the org chain; never replaces it.
    pub sas_verified: bool,
}

/// Checks a device chain against the org root, on its own (no history).
///
/// The certificate's `issued_at` must lie in the invitation's window, but
/// it is a date the holder of the enrollment key chose: it proves nothing
/// about when the device enrolled. [`Directory::admit`] enforces the window
/// against what the org signed: its own clock for a device it has not seen
/// before, or the org's [`EnrollmentConfirmation`](belfry_protocol::EnrollmentConfirmation).
pub fn verify_chain(org: &Ed25519Public, chain: &DeviceChain, now: Timestamp) -> Result<VerifiedDevice, TrustError> {
    check_chain(org, chain, now).map(|(device, _)| device)
}

fn check_chain(
    org: &Ed25519Public,
    chain: &DeviceChain,
    now: Timestamp,
) -> Result<(VerifiedDevice, EnrollmentCert), TrustError> {
    let enrollment = chain.enrollment.verify(org).map_err(TrustError::NotSignedByOrg)?;
    if enrollment.org != *org {
        return Err(TrustError::OtherOrg);
    }
    let cert = chain.device.verify(&enrollment.enrollment_key).map_err(TrustError::NotSignedByEnrollmentKey)?;
    if cert.org != *org {
        return Err(TrustError::OtherOrg);
    }
    cert.ed25519
        .verify(&labelled_message(POSSESSION_LABEL, chain.device.body()), &chain.possession)
        .map_err(|_| TrustError::NoPossessionProof)?;
    if cert.enrollment_key != enrollment.enrollment_key {
        return Err(TrustError::ChainMismatch { field: "enrollment key" });
    }
    if cert.user != enrollment.user {
        return Err(TrustError::ChainMismatch { field: "user" });
    }
    if cert.issued_at < enrollment.not_before || cert.issued_at > enrollment.expires_at {
        return Err(TrustError::Expired);
    }
    if cert.issued_at > now.plus_ms(CLOCK_SKEW_MS) {
        return Err(TrustError::NotYetValid);
    }
    let device = VerifiedDevice {
        user: cert.user,
        device: cert.device,
        display_name: enrollment.display_name.clone(),
        device_name: cert.device_name,
        ed25519: cert.ed25519,
        curve25519: cert.curve25519,
        enrollment_key: cert.enrollment_key,
        enrolled_at: cert.issued_at,
        sas_verified: false,
    };
    Ok((device, enrollment))
}

/// What admitting a chain did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// A device seen for the first time: show it to the user.
    New(VerifiedDevice),
    /// A device already known, unchanged.
    Known(VerifiedDevice),
}

impl Admission {
    /// The device either way.
    pub fn device(&self) -> &VerifiedDevice {
        match self {
            Self::New(d) | Self::Known(d) => d,
        }
    }
}

/// What a verified statement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementEffect {
    /// A device is revoked from now on.
    DeviceRevoked {
        /// The user.
        user: UserId,
        /// The device.
        device: DeviceId,
    },
    /// An enrollment key is revoked, with every device it certified.
    EnrollmentRevoked {
        /// The enrollment key.
        key: Ed25519Public,
    },
    /// A device must erase itself (and is revoked for everyone else).
    Wipe {
        /// The user.
        user: UserId,
        /// The device.
        device: DeviceId,
    },
    /// The org confirmed the one device an invitation enrolled.
    EnrollmentConfirmed {
        /// The user.
        user: UserId,
        /// The confirmed device.
        device: DeviceId,
        /// Devices admitted earlier under the same invitation, refused
        /// from now on (they used a copy of it).
        refused: Vec<(UserId, DeviceId)>,
    },
}

/// The exact device an enrollment key certified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct EnrolledDevice {
    user: UserId,
    device: DeviceId,
    ed25519: Ed25519Public,
    curve25519: Curve25519Public,
}

impl EnrolledDevice {
    fn of(d: &VerifiedDevice) -> Self {
        Self { user: d.user.clone(), device: d.device.clone(), ed25519: d.ed25519, curve25519: d.curve25519 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Known {
    device: VerifiedDevice,
    chain: DeviceChain,
}

/// Every device this client has admitted, and what has been revoked.
/// Serializable so the store can keep it (the engine's profile format
/// number says which layout a store holds; a damaged value is an error,
/// never an empty field).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Directory {
    org: Ed25519Public,
    devices: BTreeMap<UserId, BTreeMap<DeviceId, Known>>,
    /// Enrollment key → the one device it certified.
    enrollments: BTreeMap<Ed25519Public, EnrolledDevice>,
    /// Ed25519 key → the device id that uses it.
    key_owners: BTreeMap<Ed25519Public, (UserId, DeviceId)>,
    /// Ed25519 keys of revoked devices, refused under any device id.
    revoked_keys: BTreeSet<Ed25519Public>,
    /// Enrollment keys seen certifying two devices: nothing under them is trusted.
    burned_enrollments: BTreeSet<Ed25519Public>,
    revoked_devices: BTreeSet<(UserId, DeviceId)>,
    revoked_enrollments: BTreeSet<Ed25519Public>,
    /// Enrollment key → the one device the org confirmed it enrolled.
    confirmed: BTreeMap<Ed25519Public, EnrolledDevice>,
    /// When each device revocation (or wipe order) took effect, as its
    /// signer dated it: what the device signed before stays valid history.
    /// (A list: stored as JSON too, whose map keys are strings.)
    device_revoked_at: Vec<(UserId, DeviceId, Timestamp)>,
    /// The same for revoked enrollment keys.
    enrollment_revoked_at: Vec<(Ed25519Public, Timestamp)>,
}

impl Directory {
    /// An empty directory for the organisation with this root key.
    pub fn new(org: Ed25519Public) -> Self {
        Self {
            org,
            devices: BTreeMap::new(),
            enrollments: BTreeMap::new(),
            key_owners: BTreeMap::new(),
            revoked_keys: BTreeSet::new(),
            burned_enrollments: BTreeSet::new(),
            revoked_devices: BTreeSet::new(),
            revoked_enrollments: BTreeSet::new(),
            device_revoked_at: Vec::new(),
            enrollment_revoked_at: Vec::new(),
            confirmed: BTreeMap::new(),
        }
    }

    /// The org root key.
    pub fn org(&self) -> &Ed25519Public {
        &self.org
    }

    /// Verifies a chain and remembers the device. Refuses revoked devices,
    /// reused enrollment keys (and burns the key, so the first device it
    /// certified is refused from now on too) and changed keys.
    ///
    /// A device seen here for the first time must also show that it
    /// enrolled within its invitation's window, by evidence the org signed:
    /// either the invitation has not yet expired by `now` (this directory's
    /// clock, plus [`ENROLLMENT_GRACE_MS`]), or the org confirmed this very
    /// device for it ([`Statement::Confirmation`]). The date in the device
    /// certificate is not evidence: the holder of the enrollment key wrote
    /// it. A device admitted in time stays trusted after the window.
    pub fn admit(&mut self, chain: &DeviceChain, now: Timestamp) -> Result<Admission, TrustError> {
        self.admit_checked(chain, now, true)
    }

    /// Admits this device's own chain (it holds the keys the chain names,
    /// so its enrollment needs no evidence of timing).
    pub fn admit_own(&mut self, own: &crate::Device, now: Timestamp) -> Result<Admission, TrustError> {
        self.admit_checked(own.chain(), now, false)
    }

    fn admit_checked(&mut self, chain: &DeviceChain, now: Timestamp, window: bool) -> Result<Admission, TrustError> {
        let (device, enrollment) = check_chain(&self.org, chain, now)?;
        // A revoked device's chain is remembered (and refused): what it
        // signed before its revocation, such as a room's history, still
        // verifies.
        let revoked = self.check_not_revoked(&device);
        if !matches!(revoked, Ok(()) | Err(TrustError::Revoked { .. } | TrustError::EnrollmentRevoked)) {
            return revoked.map(|()| Admission::Known(device));
        }

        if let Some(known) = self.devices.get(&device.user).and_then(|m| m.get(&device.device)) {
            revoked?;
            if known.device.ed25519 != device.ed25519 || known.device.curve25519 != device.curve25519 {
                return Err(TrustError::KeysChanged { user: device.user, device: device.device });
            }
            return Ok(Admission::Known(known.device.clone()));
        }

        // Confirmed devices passed `check_not_revoked` only if they are the
        // confirmed one; unconfirmed ones only while the invitation is open.
        if window
            && !self.confirmed.contains_key(&device.enrollment_key)
            && now > enrollment.expires_at.plus_ms(ENROLLMENT_GRACE_MS)
        {
            revoked?;
            return Err(TrustError::EnrollmentUnconfirmed { user: device.user, device: device.device });
        }

        // One enrollment key, one device: any other device under it (another
        // id, or other keys) burns the key and everything it certified.
        let enrolled = EnrolledDevice::of(&device);
        match self.enrollments.get(&device.enrollment_key) {
            Some(first) if *first != enrolled => {
                // A revoked device is refused as such (nothing burned).
                revoked?;
                self.burned_enrollments.insert(device.enrollment_key);
                return Err(TrustError::EnrollmentKeyReused { user: device.user, device: device.device });
            }
            _ => {}
        }
        // One key, one device id.
        if let Some((user, id)) = self.key_owners.get(&device.ed25519)
            && (*user != device.user || *id != device.device)
        {
            revoked?;
            return Err(TrustError::KeysReused { user: device.user, device: device.device });
        }
        self.enrollments.insert(device.enrollment_key, enrolled);
        self.key_owners.insert(device.ed25519, (device.user.clone(), device.device.clone()));

        self.devices
            .entry(device.user.clone())
            .or_default()
            .insert(device.device.clone(), Known { device: device.clone(), chain: chain.clone() });
        revoked?;
        Ok(Admission::New(device))
    }

    fn check_not_revoked(&self, d: &VerifiedDevice) -> Result<(), TrustError> {
        if self.revoked_devices.contains(&(d.user.clone(), d.device.clone())) {
            return Err(TrustError::Revoked { user: d.user.clone(), device: d.device.clone() });
        }
        if self.revoked_keys.contains(&d.ed25519) {
            return Err(TrustError::Revoked { user: d.user.clone(), device: d.device.clone() });
        }
        if self.revoked_enrollments.contains(&d.enrollment_key) {
            return Err(TrustError::EnrollmentRevoked);
        }
        // The org's word on which device an invitation enrolled outranks
        // what this directory happened to see first.
        if let Some(confirmed) = self.confirmed.get(&d.enrollment_key) {
            if *confirmed != EnrolledDevice::of(d) {
                return Err(TrustError::NotTheConfirmedDevice { user: d.user.clone(), device: d.device.clone() });
            }
            return Ok(());
        }
        if self.burned_enrollments.contains(&d.enrollment_key) {
            return Err(TrustError::EnrollmentKeyReused { user: d.user.clone(), device: d.device.clone() });
        }
        Ok(())
    }

    /// A device we may encrypt to and accept messages from, or why not.
    pub fn trusted(&self, user: &UserId, device: &DeviceId) -> Result<&VerifiedDevice, TrustError> {
        let known = self
            .devices
            .get(user)
            .and_then(|m| m.get(device))
            .ok_or_else(|| TrustError::UnknownDevice { user: user.clone(), device: device.clone() })?;
        self.check_not_revoked(&known.device)?;
        Ok(&known.device)
    }

    /// A device whose chain verified, revoked since or not (never one under
    /// a burned enrollment key): whose key checks signatures made while it
    /// was trusted ([`trusted_at`](Self::trusted_at)).
    pub fn known(&self, user: &UserId, device: &DeviceId) -> Result<&VerifiedDevice, TrustError> {
        let known = self
            .devices
            .get(user)
            .and_then(|m| m.get(device))
            .ok_or_else(|| TrustError::UnknownDevice { user: user.clone(), device: device.clone() })?;
        match self.check_not_revoked(&known.device) {
            Ok(()) | Err(TrustError::Revoked { .. } | TrustError::EnrollmentRevoked) => Ok(&known.device),
            Err(never) => Err(never),
        }
    }

    /// A device that was trusted at `at`: trusted now, or revoked by a
    /// statement dated after `at`. A burned enrollment key, or a key
    /// revoked without a date this directory knows, was never trusted.
    /// `at` is what the signer claims: callers that must not take a
    /// revoked device's word for it also require a trusted device to have
    /// built on what it signed (see `RoomLog`).
    pub fn trusted_at(&self, user: &UserId, device: &DeviceId, at: Timestamp) -> Result<&VerifiedDevice, TrustError> {
        let d = self.known(user, device)?;
        let Err(refused) = self.check_not_revoked(d) else { return Ok(d) };
        let mut until: Option<Timestamp> = None;
        let mut earliest = |t: Option<&Timestamp>| match (until, t) {
            (_, None) => false,
            (None, Some(t)) => {
                until = Some(*t);
                true
            }
            (Some(u), Some(t)) => {
                until = Some(u.min(*t));
                true
            }
        };
        let by_id = self.revoked_devices.contains(&(d.user.clone(), d.device.clone()));
        let device_at =
            self.device_revoked_at.iter().find(|(u, id, _)| *u == d.user && *id == d.device).map(|(_, _, t)| t);
        if by_id && !earliest(device_at) {
            return Err(refused);
        }
        // The key revoked under this id is covered by the id's date; under
        // another id it is a reuse, never trusted.
        if self.revoked_keys.contains(&d.ed25519) && !by_id {
            return Err(refused);
        }
        if self.revoked_enrollments.contains(&d.enrollment_key)
            && !earliest(self.enrollment_revoked_at.iter().find(|(k, _)| *k == d.enrollment_key).map(|(_, t)| t))
        {
            return Err(refused);
        }
        match until {
            Some(t) if at < t && at >= d.enrolled_at => Ok(d),
            _ => Err(refused),
        }
    }

    /// The trusted devices of a user.
    pub fn trusted_devices(&self, user: &UserId) -> Vec<&VerifiedDevice> {
        self.devices
            .get(user)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|k| self.check_not_revoked(&k.device).is_ok())
            .map(|k| &k.device)
            .collect()
    }

    /// Every user with a device in this directory (trusted or not).
    pub fn users(&self) -> impl Iterator<Item = &UserId> {
        self.devices.keys()
    }

    /// Every device of a user this directory holds, with whether it is
    /// trusted now: revoked ones (by id, key or enrollment key, ordered
    /// wiped, or under a burned enrollment key) are listed too, as `false`.
    pub fn devices_of(&self, user: &UserId) -> Vec<(&VerifiedDevice, bool)> {
        self.devices
            .get(user)
            .into_iter()
            .flat_map(|m| m.values())
            .map(|k| (&k.device, self.check_not_revoked(&k.device).is_ok()))
            .collect()
    }

    /// The device an enrollment key certified, if this directory has seen it.
    pub fn enrolled_by(&self, key: &Ed25519Public) -> Option<(UserId, DeviceId)> {
        self.enrollments.get(key).map(|d| (d.user.clone(), d.device.clone()))
    }

    /// Records that a person verified this device with SAS.
    pub fn mark_sas_verified(
        &mut self,
        user: &UserId,
        device: &DeviceId,
        ed25519: &Ed25519Public,
    ) -> Result<(), TrustError> {
        let known = self
            .devices
            .get_mut(user)
            .and_then(|m| m.get_mut(device))
            .ok_or_else(|| TrustError::UnknownDevice { user: user.clone(), device: device.clone() })?;
        if known.device.ed25519 != *ed25519 {
            return Err(TrustError::KeysChanged { user: user.clone(), device: device.clone() });
        }
        known.device.sas_verified = true;
        Ok(())
    }

    /// Verifies a revocation or wipe order and applies it. Org statements
    /// verify against the org root; device statements against a trusted
    /// device of the same user (which may not revoke enrollment keys).
    pub fn apply(&mut self, statement: &Statement) -> Result<StatementEffect, TrustError> {
        match statement {
            Statement::Revocation(signed) => {
                let claim = signed.peek_unverified().map_err(|e| TrustError::BadStatement(e.into()))?;
                let key = match (&claim.issuer, &claim.target) {
                    (Issuer::Org, _) => self.org,
                    (Issuer::Device { device, ed25519 }, RevocationTarget::Device { user, .. }) => {
                        self.issuer_key(user, device, ed25519)?
                    }
                    (Issuer::Device { .. }, RevocationTarget::Enrollment { .. }) => {
                        return Err(TrustError::IssuerNotTrusted);
                    }
                };
                let revocation = signed.verify(&key).map_err(TrustError::BadStatement)?;
                if revocation.org != self.org {
                    return Err(TrustError::OtherOrg);
                }
                Ok(match revocation.target {
                    RevocationTarget::Device { user, device } => {
                        self.revoke_device(&user, &device, revocation.issued_at);
                        StatementEffect::DeviceRevoked { user, device }
                    }
                    RevocationTarget::Enrollment { key } => {
                        self.revoked_enrollments.insert(key);
                        match self.enrollment_revoked_at.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, at)) => *at = (*at).min(revocation.issued_at),
                            None => self.enrollment_revoked_at.push((key, revocation.issued_at)),
                        }
                        StatementEffect::EnrollmentRevoked { key }
                    }
                })
            }
            Statement::Wipe(signed) => {
                let claim = signed.peek_unverified().map_err(|e| TrustError::BadStatement(e.into()))?;
                let key = match &claim.issuer {
                    Issuer::Org => self.org,
                    Issuer::Device { device, ed25519 } => self.issuer_key(&claim.user, device, ed25519)?,
                };
                let wipe = signed.verify(&key).map_err(TrustError::BadStatement)?;
                if wipe.org != self.org {
                    return Err(TrustError::OtherOrg);
                }
                self.revoke_device(&wipe.user, &wipe.device, wipe.issued_at);
                Ok(StatementEffect::Wipe { user: wipe.user, device: wipe.device })
            }
            Statement::Confirmation(signed) => {
                let c = signed.verify(&self.org).map_err(TrustError::BadStatement)?;
                if c.org != self.org {
                    return Err(TrustError::OtherOrg);
                }
                let named = EnrolledDevice {
                    user: c.user.clone(),
                    device: c.device.clone(),
                    ed25519: c.ed25519,
                    curve25519: c.curve25519,
                };
                match self.confirmed.get(&c.enrollment_key) {
                    Some(earlier) if *earlier != named => {
                        // The org contradicted itself (an IT mistake or a
                        // stolen org key): trust nothing under this key.
                        self.revoked_enrollments.insert(c.enrollment_key);
                        return Err(TrustError::ConflictingConfirmations);
                    }
                    _ => {}
                }
                let refused = self
                    .devices
                    .values()
                    .flat_map(|m| m.values())
                    .filter(|k| k.device.enrollment_key == c.enrollment_key && EnrolledDevice::of(&k.device) != named)
                    .map(|k| (k.device.user.clone(), k.device.device.clone()))
                    .collect();
                self.confirmed.insert(c.enrollment_key, named.clone());
                // It is now the one device of this key, whatever came first.
                self.enrollments.insert(c.enrollment_key, named);
                Ok(StatementEffect::EnrollmentConfirmed { user: c.user, device: c.device, refused })
            }
        }
    }

    /// Whether the org confirmed `device` as the one device its invitation
    /// enrolled.
    pub fn is_confirmed(&self, device: &VerifiedDevice) -> bool {
        self.confirmed.get(&device.enrollment_key).is_some_and(|c| *c == EnrolledDevice::of(device))
    }

    /// Revokes a device by id, and its key under any id if we know it.
    fn revoke_device(&mut self, user: &UserId, device: &DeviceId, at: Timestamp) {
        self.revoked_devices.insert((user.clone(), device.clone()));
        match self.device_revoked_at.iter_mut().find(|(u, d, _)| u == user && d == device) {
            Some((_, _, when)) => *when = (*when).min(at),
            None => self.device_revoked_at.push((user.clone(), device.clone(), at)),
        }
        if let Some(known) = self.devices.get(user).and_then(|m| m.get(device)) {
            self.revoked_keys.insert(known.device.ed25519);
        }
    }

    /// The key of a device allowed to sign statements about `user`'s devices.
    fn issuer_key(
        &self,
        user: &UserId,
        device: &DeviceId,
        claimed: &Ed25519Public,
    ) -> Result<Ed25519Public, TrustError> {
        let issuer = self.trusted(user, device).map_err(|_| TrustError::IssuerNotTrusted)?;
        if issuer.ed25519 != *claimed {
            return Err(TrustError::IssuerNotTrusted);
        }
        Ok(issuer.ed25519)
    }
}
