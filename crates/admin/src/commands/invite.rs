//! `invite`: one invitation for one device of one person.

use super::Ctx;
use crate::cli::InviteArgs;
use crate::error::{AdminError, Result};
use crate::files;
use crate::issued::{self, Issued};
use crate::org::Org;
use crate::relay;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use belfry_crypto::{CryptoError, InvitationRequest};
use belfry_protocol::armor::armor;
use belfry_protocol::armor::{INVITATION_LABEL, INVITE_URI_PREFIX, REGISTRATION_LABEL};
use belfry_protocol::keys::fingerprint;
use belfry_protocol::{Registration, Wire};
use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};
use zeroize::Zeroizing;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

pub fn run(ctx: &Ctx, args: InviteArgs, out: &mut String) -> Result<()> {
    let org = Org::load(&ctx.dir)?;
    let relay_ca_der = relay::load_ca(&args.relay_ca)?;
    if let Some(path) = args.out.as_ref().filter(|p| p.exists()) {
        return Err(AdminError::OutExists { path: path.clone() });
    }
    let key = ctx.unlock(&org)?;
    let now = files::now()?;
    let request = InvitationRequest {
        user: args.user,
        display_name: args.name,
        relay_url: args.relay,
        relay_ca_der,
        valid_for_ms: u64::from(args.valid_days) * DAY_MS,
    };
    let invitation = key.invite(&request, now)?;
    drop(key);
    // Read the certificate back through the same check a device makes.
    let cert = invitation.enrollment.verify(&org.public()).map_err(CryptoError::from)?;

    let path = match args.out {
        Some(path) => path,
        None => {
            let dir = org.invitations_dir();
            files::create_private_dir(&dir)?;
            dir.join(format!("{}-{}.belfry-invite", cert.user, cert.invitation))
        }
    };
    let registration_path = registration_path(&path);
    if registration_path.exists() {
        return Err(AdminError::OutExists { path: registration_path });
    }
    let encoded = Zeroizing::new(invitation.encode());
    let armored = Zeroizing::new(armor(INVITATION_LABEL, &encoded));
    files::write_new(&path, armored.as_bytes(), files::SECRET_MODE)?;
    // The relay's copy: the signed certificate only, no secret.
    let registration = Registration { enrollment: invitation.enrollment.clone() };
    if let Err(e) = files::write_new(
        &registration_path,
        armor(REGISTRATION_LABEL, &registration.encode()).as_bytes(),
        files::PUBLIC_MODE,
    ) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    let entry = Issued {
        invitation: cert.invitation.to_string(),
        user: cert.user.to_string(),
        display_name: cert.display_name.to_string(),
        enrollment_key: cert.enrollment_key.to_base64(),
        issued_at: files::iso8601(now),
        expires_at: files::iso8601(cert.expires_at),
        file: path.display().to_string(),
    };
    if let Err(e) = issued::append(&org.issued_log(), &entry) {
        // An invitation IT cannot find again cannot be revoked: do not keep it.
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&registration_path);
        return Err(e);
    }

    say!(out, "Invitation issued for {} ({}).", cert.user, cert.display_name);
    say!(out, "  Invitation id:    {}", cert.invitation);
    say!(out, "  User:             {}", cert.user);
    say!(out, "  Relay:            {}", cert.relay.url);
    say!(out, "  Relay CA:         fingerprint {}", fingerprint(&invitation.relay_ca_der));
    say!(out, "  Expires:          {} ({} days)", files::iso8601(cert.expires_at), args.valid_days);
    say!(out, "  Enrollment key:   {}", cert.enrollment_key.to_base64());
    say!(out, "  Key fingerprint:  {}", cert.enrollment_key.fingerprint());
    say!(out, "  File:             {}", path.display());
    say!(out, "  For the relay:    {}", registration_path.display());
    say!(out, "                    (no secret: belfry-relay register --dir <relay dir> <this file>)");
    say!(out);
    if !args.no_qr {
        match qr_code(&encoded) {
            Some(code) => {
                out.push_str(&code);
                say!(out);
                say!(out, "Scan this code with Belfry on the new device, or open the file in Belfry there.");
                if code.lines().next().is_some_and(|l| l.chars().count() > 80) {
                    say!(out, "(The code is wider than 80 columns: widen the terminal if it is cut off.)");
                }
            }
            None => say!(
                out,
                "The invitation is too big for a QR code ({} bytes); hand over the file {} instead.",
                encoded.len(),
                path.display()
            ),
        }
        say!(out);
    }
    say!(out, "WARNING: this invitation holds a secret ({}). Hand it over like a password:", secret_where(args.no_qr));
    say!(out, "in person or over a channel you trust, never by ordinary e-mail or chat. Whoever");
    say!(out, "has it can enroll a device as {} until it expires or is revoked. If it may", cert.user);
    say!(out, "have leaked, or was never used:");
    say!(out, "  belfry-admin revoke --invitation {}", cert.enrollment_key.to_base64());
    Ok(())
}

/// `<invitation>.belfry-registration` next to the invitation file.
fn registration_path(invitation: &std::path::Path) -> std::path::PathBuf {
    let mut name = invitation.file_stem().unwrap_or_default().to_os_string();
    name.push(".belfry-registration");
    invitation.with_file_name(name)
}

fn secret_where(no_qr: bool) -> &'static str {
    if no_qr { "in the file" } else { "in the file and in the QR code above" }
}

/// The invitation as a terminal QR code of `belfry-invite:<base64url>`, or
/// `None` if it does not fit in one.
fn qr_code(encoded: &[u8]) -> Option<Zeroizing<String>> {
    let b64 = Zeroizing::new(URL_SAFE_NO_PAD.encode(encoded));
    let mut uri = Zeroizing::new(String::with_capacity(INVITE_URI_PREFIX.len() + b64.len()));
    uri.push_str(INVITE_URI_PREFIX);
    uri.push_str(&b64);
    // Level L holds the most data; a code shown on a screen is not damaged.
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::L).ok()?;
    // Light modules drawn as blocks: right for the usual dark terminal.
    Some(Zeroizing::new(code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).build()))
}
