//! `confirm`: the organisation's word on which device an invitation
//! enrolled, signed from the device's own certificate chain.

use super::Ctx;
use super::statement::{refuse_existing, relay_note, write_statement};
use crate::cli::ConfirmArgs;
use crate::error::{AdminError, Result};
use crate::files;
use crate::issued;
use crate::org::Org;
use belfry_crypto::CryptoError;
use belfry_protocol::armor::{DEVICE_LABEL, dearmor};
use belfry_protocol::{DeviceChain, Statement, Wire as _};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Larger than any armored device chain.
const MAX_FILE_LEN: u64 = 16 * 1024;

/// One line of `confirmed.log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Confirmed {
    invitation: String,
    enrollment_key: String,
    user: String,
    device: String,
    ed25519: String,
    confirmed_at: String,
}

pub fn run(ctx: &Ctx, args: ConfirmArgs, out: &mut String) -> Result<()> {
    let org = Org::load(&ctx.dir)?;
    refuse_existing(args.out.as_deref())?;
    let path = args.file.as_path();
    let chain = read_chain(path)?;
    let now = files::now()?;
    // Check it all before asking for the passphrase.
    let device = belfry_crypto::verify_chain(&org.public(), &chain, now)
        .map_err(|e| AdminError::Verify { path: path.to_owned(), reason: e.to_string() })?;
    let enrollment_key = device.enrollment_key.to_base64();
    let ed25519 = device.ed25519.to_base64();
    let log = org.confirmed_log();
    if let Some(earlier) = find(&log, &enrollment_key)?
        && (earlier.ed25519 != ed25519
            || earlier.device != device.device.as_str()
            || earlier.user != device.user.as_str())
    {
        return Err(AdminError::Verify {
            path: path.to_owned(),
            reason: format!(
                "this invitation was already confirmed for {}/{} on {}: this second device used a copy of \
                 it. Revoke the invitation (belfry-admin revoke --invitation {enrollment_key}) and issue a \
                 new one to the person",
                earlier.user, earlier.device, earlier.confirmed_at
            ),
        });
    }
    let issued = issued::find(&org.issued_log(), &device.enrollment_key)?;

    let key = ctx.unlock(&org)?;
    let signed = key.confirm_enrollment(&chain, now).map_err(CryptoError::from)?;
    drop(key);
    let confirmation = signed.verify(&org.public()).map_err(CryptoError::from)?;
    let name = format!("confirm-{}-{}", confirmation.user, confirmation.device);
    let written = write_statement(&org, args.out, &name, &Statement::Confirmation(signed))?;
    let entry = Confirmed {
        invitation: confirmation.invitation.to_string(),
        enrollment_key,
        user: confirmation.user.to_string(),
        device: confirmation.device.to_string(),
        ed25519,
        confirmed_at: files::iso8601(now),
    };
    let line = serde_json::to_string(&entry).map_err(|e| AdminError::Io {
        action: "append to",
        path: log.clone(),
        source: std::io::Error::other(e),
    })?;
    files::append_line(&log, &line, files::PUBLIC_MODE)?;

    say!(out, "Confirmed device {}/{} ({}).", confirmation.user, confirmation.device, device.device_name);
    say!(out, "  Device key:       fingerprint {}", confirmation.ed25519.fingerprint());
    say!(out, "                    (must match the fingerprint the device showed when it enrolled)");
    say!(out, "  Invitation:       {}", confirmation.invitation);
    match &issued {
        Some(entry) => say!(out, "                    issued here to {} on {}", entry.user, entry.issued_at),
        None => say!(out, "                    not in {}: not issued from this directory", org.issued_log().display()),
    }
    say!(out, "  File:             {}", written.display());
    say!(out);
    relay_note(out, &written);
    Ok(())
}

fn read_chain(path: &Path) -> Result<DeviceChain> {
    use std::io::Read as _;
    let not_belfry = |reason: &str| AdminError::NotBelfryFile { path: path.to_owned(), reason: reason.to_owned() };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes))
        .map_err(AdminError::io("read", path))?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(not_belfry("it is too large for a device file"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| not_belfry("it is not text"))?;
    let der = dearmor(DEVICE_LABEL, text).map_err(|source| AdminError::Armor { path: path.to_owned(), source })?;
    DeviceChain::decode(&der).map_err(|e| not_belfry(&format!("it does not decode as a device: {e}")))
}

/// The confirmation of enrollment key `key` in the log, if any.
fn find(log: &Path, key: &str) -> Result<Option<Confirmed>> {
    let text = match std::fs::read_to_string(log) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AdminError::Io { action: "read", path: log.to_owned(), source }),
    };
    Ok(text.lines().filter_map(|l| serde_json::from_str::<Confirmed>(l).ok()).find(|c| c.enrollment_key == key))
}
