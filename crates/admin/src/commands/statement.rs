//! `revoke` and `wipe`: statements signed by the org key, written for the
//! relay to distribute.

use super::Ctx;
use crate::cli::{RevokeArgs, WipeArgs};
use crate::error::{AdminError, Result};
use crate::files;
use crate::issued;
use crate::org::Org;
use belfry_crypto::CryptoError;
use belfry_protocol::armor::STATEMENT_LABEL;
use belfry_protocol::armor::armor;
use belfry_protocol::{Statement, Timestamp, Wire as _};
use std::path::{Path, PathBuf};

pub fn revoke(ctx: &Ctx, args: RevokeArgs, out: &mut String) -> Result<()> {
    let org = Org::load(&ctx.dir)?;
    refuse_existing(args.out.as_deref())?;
    // Resolve the target before asking for the passphrase.
    let issued = match &args.invitation {
        Some(key) => issued::find(&org.issued_log(), key)?,
        None => None,
    };
    let key = ctx.unlock(&org)?;
    let now = files::now()?;
    let secs = now.0 / 1000;
    let (signed, default_name) = match (args.device, args.invitation) {
        (Some(d), _) => {
            let name = format!("revoke-{}-{}-{secs}", d.user, d.device);
            (key.revoke_device(d.user, d.device, args.reason, now), name)
        }
        (None, Some(enrollment)) => {
            let name = match &issued {
                Some(entry) => format!("revoke-invitation-{}-{}-{secs}", entry.user, entry.invitation),
                None => format!("revoke-invitation-{}-{secs}", enrollment.fingerprint().replace(' ', "")),
            };
            (key.revoke_enrollment(enrollment, args.reason, now), name)
        }
        (None, None) => return Err(AdminError::Usage("give --device USER/DEVICE_ID or --invitation ENROLLMENT_KEY")),
    };
    drop(key);
    let revocation = signed.verify(&org.public()).map_err(CryptoError::from)?;
    let path = write_statement(&org, args.out, &default_name, &Statement::Revocation(signed))?;

    match &revocation.target {
        belfry_protocol::RevocationTarget::Device { user, device } => {
            say!(out, "Signed a revocation of device {user}/{device}.");
        }
        belfry_protocol::RevocationTarget::Enrollment { key } => {
            say!(out, "Signed a revocation of the invitation with enrollment key {key}");
            say!(out, "(fingerprint {}), and of any device it enrolled.", key.fingerprint());
            match &issued {
                Some(entry) => say!(
                    out,
                    "It was issued to {} ({}) on {}, invitation {}.",
                    entry.user,
                    entry.display_name,
                    entry.issued_at,
                    entry.invitation
                ),
                None => say!(
                    out,
                    "This key is not in {}: it was not issued from this directory.",
                    org.issued_log().display()
                ),
            }
        }
    }
    say!(out, "  Reason:     {}", revocation.reason);
    say!(out, "  Issued at:  {}", files::iso8601(revocation.issued_at));
    say!(out, "  File:       {}", path.display());
    say!(out);
    relay_note(out, &path);
    Ok(())
}

pub fn wipe(ctx: &Ctx, args: WipeArgs, out: &mut String) -> Result<()> {
    let org = Org::load(&ctx.dir)?;
    refuse_existing(args.out.as_deref())?;
    let key = ctx.unlock(&org)?;
    let now: Timestamp = files::now()?;
    let target = args.device;
    let default_name = format!("wipe-{}-{}-{}", target.user, target.device, now.0 / 1000);
    let signed = key.wipe(target.user, target.device, now);
    drop(key);
    let order = signed.verify(&org.public()).map_err(CryptoError::from)?;
    let path = write_statement(&org, args.out, &default_name, &Statement::Wipe(signed))?;

    say!(out, "Signed a WIPE ORDER for device {}/{}.", order.user, order.device);
    say!(out, "  Issued at:  {}", files::iso8601(order.issued_at));
    say!(out, "  File:       {}", path.display());
    say!(out);
    say!(out, "WARNING: when this order reaches the device, Belfry there ERASES its database and keys:");
    say!(out, "messages kept only on that device are lost for good, and every other device stops");
    say!(out, "trusting it. This cannot be undone. Delete the file if you signed it by mistake.");
    say!(out);
    relay_note(out, &path);
    Ok(())
}

pub(super) fn refuse_existing(out: Option<&Path>) -> Result<()> {
    match out {
        Some(path) if path.exists() => Err(AdminError::OutExists { path: path.to_owned() }),
        _ => Ok(()),
    }
}

pub(super) fn write_statement(
    org: &Org,
    out: Option<PathBuf>,
    default_name: &str,
    statement: &Statement,
) -> Result<PathBuf> {
    let path = match out {
        Some(path) => path,
        None => {
            let dir = org.statements_dir();
            files::create_private_dir(&dir)?;
            dir.join(format!("{default_name}.belfry-statement"))
        }
    };
    files::write_new(&path, armor(STATEMENT_LABEL, &statement.encode()).as_bytes(), files::PUBLIC_MODE)?;
    Ok(path)
}

pub(super) fn relay_note(out: &mut String, path: &Path) {
    say!(out, "Nothing changes until the relay has this statement. Give the file");
    say!(out, "  {}", path.display());
    say!(out, "to the relay operator, who distributes it to every device with");
    say!(out, "  belfry-relay statement --dir <relay dir> <this file>");
    say!(out, "The relay can pass it on but cannot forge one.");
}
