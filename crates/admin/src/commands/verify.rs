//! `verify`: is this invitation or statement genuine, and what does it say?

use super::Ctx;
use crate::cli::VerifyArgs;
use crate::error::{AdminError, Result};
use crate::files;
use crate::issued;
use crate::org::Org;
use belfry_crypto::OrgKey;
use belfry_protocol::armor::{self, dearmor};
use belfry_protocol::armor::{INVITATION_LABEL, STATEMENT_LABEL};
use belfry_protocol::keys::fingerprint;
use belfry_protocol::{Ed25519Public, Hash256, Invitation, Issuer, RevocationTarget, Statement, Timestamp, Wire as _};
use std::io::Read as _;
use std::path::Path;
use zeroize::Zeroizing;

use belfry_protocol::cert::RELAY_CA_LABEL;

/// Larger than any armored invitation or statement.
const MAX_FILE_LEN: u64 = 64 * 1024;

pub fn run(ctx: &Ctx, args: VerifyArgs, out: &mut String) -> Result<()> {
    let org = Org::load(&ctx.dir)?;
    let path = args.file.as_path();
    let not_belfry = |reason: &str| AdminError::NotBelfryFile { path: path.to_owned(), reason: reason.to_owned() };
    // May hold an invitation's secret.
    let mut bytes = Zeroizing::new(Vec::new());
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes))
        .map_err(AdminError::io("read", path))?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(not_belfry("it is too large"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| not_belfry("it is not text"))?;
    if armor::contains(INVITATION_LABEL, text) {
        invitation(&org, path, text, out)
    } else if armor::contains(STATEMENT_LABEL, text) {
        statement(&org, path, text, out)
    } else {
        Err(not_belfry(&format!(
            "expected a `-----BEGIN {INVITATION_LABEL}-----` or `-----BEGIN {STATEMENT_LABEL}-----` block"
        )))
    }
}

fn refused(path: &Path, reason: impl Into<String>) -> AdminError {
    AdminError::Verify { path: path.to_owned(), reason: reason.into() }
}

fn invitation(org: &Org, path: &Path, text: &str, out: &mut String) -> Result<()> {
    let public = org.public();
    let bytes = Zeroizing::new(
        dearmor(INVITATION_LABEL, text).map_err(|source| AdminError::Armor { path: path.to_owned(), source })?,
    );
    let invitation = Invitation::decode(&bytes).map_err(|e| refused(path, format!("it does not decode: {e}")))?;
    let cert = invitation.enrollment.verify(&public).map_err(|e| not_ours(path, &public, e))?;
    if cert.org != public {
        return Err(refused(path, format!("it names another organisation key ({})", cert.org.fingerprint())));
    }
    if Hash256::of(RELAY_CA_LABEL, &invitation.relay_ca_der) != cert.relay.ca_sha256 {
        return Err(refused(path, "its relay CA certificate is not the one the organisation signed"));
    }
    // The enrollment secret is not covered by the signature: check that it
    // is the secret half of the certified key. (OrgKey is used only for its
    // Ed25519 secret-to-public derivation; it wipes itself when dropped.)
    if OrgKey::from_secret_bytes(invitation.enrollment_secret.expose()).public() != cert.enrollment_key {
        return Err(refused(path, "its enrollment secret does not match the certified enrollment key"));
    }
    let logged = issued::find(&org.issued_log(), &cert.enrollment_key)?.is_some();

    say!(out, "Genuine invitation, signed by this organisation ({}).", public.fingerprint());
    say!(out, "  Invitation id:    {}", cert.invitation);
    say!(out, "  User:             {} ({})", cert.user, cert.display_name);
    say!(out, "  Relay:            {}", cert.relay.url);
    say!(out, "  Relay CA:         fingerprint {}", fingerprint(&invitation.relay_ca_der));
    say!(out, "  Valid from:       {}", files::iso8601(cert.not_before));
    say!(out, "  Expires:          {}{}", files::iso8601(cert.expires_at), expired_note(cert.expires_at)?);
    say!(out, "  Enrollment key:   {}", cert.enrollment_key.to_base64());
    say!(out, "  Key fingerprint:  {}", cert.enrollment_key.fingerprint());
    say!(out, "  In issued.log:    {}", if logged { "yes" } else { "no (not issued from this directory)" });
    say!(out);
    say!(out, "The file also holds the enrollment secret (not shown): handle it like a password.");
    Ok(())
}

fn expired_note(expires_at: Timestamp) -> Result<&'static str> {
    Ok(if files::now()? >= expires_at { " (EXPIRED: it can no longer enroll a device)" } else { "" })
}

fn not_ours(path: &Path, public: &Ed25519Public, e: impl std::fmt::Display) -> AdminError {
    refused(path, format!("it is not signed by this organisation's key ({}): {e}", public.fingerprint()))
}

fn statement(org: &Org, path: &Path, text: &str, out: &mut String) -> Result<()> {
    let public = org.public();
    let bytes = dearmor(STATEMENT_LABEL, text).map_err(|source| AdminError::Armor { path: path.to_owned(), source })?;
    let statement = Statement::decode(&bytes).map_err(|e| refused(path, format!("it does not decode: {e}")))?;
    match statement {
        Statement::Revocation(signed) => {
            let revocation = signed.verify(&public).map_err(|e| not_ours(path, &public, e))?;
            check_org(path, &public, &revocation.org)?;
            say!(out, "Genuine revocation, signed by {} ({}).", issuer(&revocation.issuer), public.fingerprint());
            match &revocation.target {
                RevocationTarget::Device { user, device } => say!(out, "  Revokes device:   {user}/{device}"),
                RevocationTarget::Enrollment { key } => {
                    say!(out, "  Revokes the invitation with enrollment key {key}");
                    say!(out, "                    (fingerprint {}) and any device it enrolled", key.fingerprint());
                }
            }
            say!(out, "  Reason:           {}", revocation.reason);
            say!(out, "  Issued at:        {}", files::iso8601(revocation.issued_at));
        }
        Statement::Wipe(signed) => {
            let order = signed.verify(&public).map_err(|e| not_ours(path, &public, e))?;
            check_org(path, &public, &order.org)?;
            say!(out, "Genuine WIPE ORDER, signed by {} ({}).", issuer(&order.issuer), public.fingerprint());
            say!(out, "  Wipes device:     {}/{}", order.user, order.device);
            say!(out, "  Issued at:        {}", files::iso8601(order.issued_at));
        }
        Statement::Confirmation(signed) => {
            let c = signed.verify(&public).map_err(|e| not_ours(path, &public, e))?;
            check_org(path, &public, &c.org)?;
            say!(out, "Genuine enrollment confirmation, signed by the organisation ({}).", public.fingerprint());
            say!(out, "  Confirms device:  {}/{}", c.user, c.device);
            say!(out, "  Device key:       fingerprint {}", c.ed25519.fingerprint());
            say!(out, "  Invitation:       {} (enrollment key {})", c.invitation, c.enrollment_key);
            say!(out, "  Issued at:        {}", files::iso8601(c.issued_at));
        }
    }
    Ok(())
}

fn check_org(path: &Path, ours: &Ed25519Public, named: &Ed25519Public) -> Result<()> {
    if named == ours {
        Ok(())
    } else {
        Err(refused(path, format!("it names another organisation key ({})", named.fingerprint())))
    }
}

fn issuer(issuer: &Issuer) -> String {
    match issuer {
        Issuer::Org => "the organisation".into(),
        Issuer::Device { device, .. } => format!("device {device}"),
    }
}
