//! What the relay checks before it stores something signed. These checks
//! keep junk and impostors out of the relay; they are not what protects
//! confidentiality: every client checks the same chains and statements
//! itself, because the relay is not trusted.

use crate::error::refuse;
use crate::storage::DeviceRow;
use belfry_protocol::cert::POSSESSION_LABEL;
use belfry_protocol::signed::labelled_message;
use belfry_protocol::{
    DeviceChain, DeviceId, Ed25519Public, EnrollmentCert, ErrorCode, Issuer, ProtocolError, RevocationTarget, Signed,
    Statement, UserId,
};

/// A device certificate may be up to this far in the relay's future.
const CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

fn bad(message: impl Into<String>) -> ProtocolError {
    refuse(ErrorCode::BadSignature, message)
}

/// Checks an invitation IT registers: signed by the org key.
pub fn invitation(org: &Ed25519Public, signed: &Signed<EnrollmentCert>) -> Result<EnrollmentCert, ProtocolError> {
    let cert = signed.verify(org).map_err(|_| bad("the invitation is not signed by this relay's organisation"))?;
    if cert.org != *org {
        return Err(bad("the invitation names another organisation"));
    }
    Ok(cert)
}

/// Checks a device chain: org → enrollment key → device, with the
/// device's proof that it holds its own key.
pub fn chain(
    org: &Ed25519Public,
    chain: &DeviceChain,
    now: u64,
) -> Result<(EnrollmentCert, belfry_protocol::DeviceCert), ProtocolError> {
    let enrollment = invitation(org, &chain.enrollment)?;
    let cert = chain
        .device
        .verify(&enrollment.enrollment_key)
        .map_err(|_| bad("the device certificate is not signed by the invitation's enrollment key"))?;
    if cert.org != *org || cert.user != enrollment.user || cert.enrollment_key != enrollment.enrollment_key {
        return Err(bad("the device certificate does not match its invitation"));
    }
    cert.ed25519
        .verify(&labelled_message(POSSESSION_LABEL, chain.device.body()), &chain.possession)
        .map_err(|_| bad("the device did not prove it holds its key"))?;
    if cert.issued_at < enrollment.not_before || cert.issued_at > enrollment.expires_at {
        return Err(refuse(
            ErrorCode::InvitationExpired,
            "the device certificate is outside the invitation's validity",
        ));
    }
    if cert.issued_at.0 > now.saturating_add(CLOCK_SKEW_MS) {
        return Err(bad("the device certificate is dated in the future"));
    }
    // The date on the certificate is the device's own claim: an honest
    // relay also holds the invitation to its window by its own clock.
    if now > enrollment.expires_at.0.saturating_add(CLOCK_SKEW_MS) {
        return Err(refuse(ErrorCode::InvitationExpired, "the invitation has expired"));
    }
    Ok((enrollment, cert))
}

/// Who a statement concerns, once its signature checks out.
#[derive(Debug, Clone)]
pub struct StatementScope {
    /// The user, for device statements; none for an enrollment key.
    pub user: Option<UserId>,
    /// The device revoked or ordered wiped.
    pub device: Option<DeviceId>,
    /// The enrollment key revoked (with every device it certified).
    pub enrollment_key: Option<Ed25519Public>,
    /// For a statement signed by a device: that device, which the caller
    /// must confirm is an enrolled, unrevoked device of `user` with this key.
    pub signed_by_device: Option<(DeviceId, Ed25519Public)>,
    /// It takes trust away from `device` (a revocation or wipe order; an
    /// enrollment confirmation does not).
    pub revokes: bool,
}

/// Checks a signature with a given key.
type Verify<'a> = Box<dyn Fn(&Ed25519Public) -> bool + 'a>;

/// Checks a revocation or wipe order's signature: by the org key, or by the
/// device key it names (see [`StatementScope::signed_by_device`]).
pub fn statement(org: &Ed25519Public, st: &Statement) -> Result<StatementScope, ProtocolError> {
    let malformed = |e: belfry_protocol::DecodeError| refuse(ErrorCode::Malformed, e.to_string());
    let mut revokes = true;
    let (body_org, issuer, user, device, enrollment_key, verify): (_, _, _, _, _, Verify<'_>) = match st {
        Statement::Revocation(signed) => {
            let body = signed.peek_unverified().map_err(malformed)?;
            let (user, device, key) = match &body.target {
                RevocationTarget::Device { user, device } => (Some(user.clone()), Some(device.clone()), None),
                RevocationTarget::Enrollment { key } => (None, None, Some(*key)),
            };
            (body.org, body.issuer, user, device, key, Box::new(|k| signed.verify(k).is_ok()))
        }
        Statement::Wipe(signed) => {
            let body = signed.peek_unverified().map_err(malformed)?;
            (body.org, body.issuer, Some(body.user), Some(body.device), None, Box::new(|k| signed.verify(k).is_ok()))
        }
        // Only the org confirms; delivered with the user's device list.
        Statement::Confirmation(signed) => {
            let body = signed.peek_unverified().map_err(malformed)?;
            revokes = false;
            (body.org, Issuer::Org, Some(body.user), Some(body.device), None, Box::new(|k| signed.verify(k).is_ok()))
        }
    };
    if body_org != *org {
        return Err(bad("the statement names another organisation"));
    }
    let signed_by_device = match issuer {
        Issuer::Org if verify(org) => None,
        Issuer::Org => return Err(bad("the statement is not signed by the organisation")),
        Issuer::Device { .. } if user.is_none() => {
            return Err(refuse(ErrorCode::Forbidden, "only the organisation may revoke an invitation"));
        }
        Issuer::Device { device, ed25519 } if verify(&ed25519) => Some((device, ed25519)),
        Issuer::Device { .. } => return Err(bad("the statement's signature does not verify")),
    };
    Ok(StatementScope { user, device, enrollment_key, signed_by_device, revokes })
}

/// Whether `row` may sign statements for `user` as `(device, key)`.
pub fn may_sign_for(row: Option<&DeviceRow>, key: &Ed25519Public) -> bool {
    row.is_some_and(|d| !d.revoked && d.ed25519 == *key)
}
