//! `org init` and `org show`.

use super::Ctx;
use crate::cli::InitArgs;
use crate::error::{AdminError, Result};
use crate::files;
use crate::org::{ORG_FILE, Org};
use crate::passphrase::{self, Purpose};
use belfry_crypto::seal::KdfCost;

/// Test-only: when this environment variable is `1`, `org init` uses cheap
/// Argon2 parameters so the test suite runs in seconds. Never set it for a
/// real organisation; `org show` flags a file made this way.
pub const INSECURE_FAST_KDF_ENV: &str = "BELFRY_ADMIN_INSECURE_FAST_KDF";

/// The cost for a new org file: the default, unless the test-only
/// environment variable asks for the insecure fast one. Release builds
/// ignore the variable, so a real organisation can never get it.
fn cost_for_new_org() -> KdfCost {
    if cfg!(debug_assertions) && std::env::var_os(INSECURE_FAST_KDF_ENV).is_some_and(|v| v == "1") {
        KdfCost::INSECURE_FAST
    } else {
        KdfCost::DEFAULT
    }
}

pub fn init(ctx: &Ctx, args: InitArgs, out: &mut String) -> Result<()> {
    let path = ctx.dir.join(ORG_FILE);
    // Checked again when the file is created; this spares a passphrase prompt.
    if path.exists() {
        return Err(AdminError::OrgExists { path });
    }
    let passphrase = passphrase::obtain(ctx.passphrase_file.as_deref(), Purpose::New)?;
    let cost = cost_for_new_org();
    if cost != KdfCost::DEFAULT {
        crate::warn(&format!(
            "{INSECURE_FAST_KDF_ENV} is set: the key is protected by INSECURE test-only Argon2 parameters. \
             Never use this organisation for real."
        ));
    }
    let org = Org::create(&ctx.dir, args.name, &passphrase, cost, files::now()?)?;
    say!(out, "Created the organisation key in {}.", org.file_path().display());
    say!(out);
    describe(&org, out);
    say!(out);
    say!(out, "Where the public key goes:");
    say!(out, "  - into the signed Belfry build, as the organisation root key it trusts;");
    say!(out, "  - into the managed policy on every device (the org root key setting).");
    say!(out, "  Devices trust a person's device only if its certificates lead to this key.");
    say!(out, "  Whoever receives the key should compare the fingerprint with you by another channel.");
    say!(out);
    say!(out, "Keep {} offline and backed up, and its passphrase safe: without both", org.dir().display());
    say!(out, "you cannot invite, revoke or wipe devices, and there is no recovery.");
    Ok(())
}

pub fn show(ctx: &Ctx, out: &mut String) -> Result<()> {
    let org = Org::load(&ctx.dir)?;
    describe(&org, out);
    Ok(())
}

fn describe(org: &Org, out: &mut String) {
    let public = org.public();
    let cost = org.kdf_cost();
    say!(out, "Organisation:  {}", org.name().unwrap_or("(no name)"));
    say!(out, "Public key:    {}", public.to_base64());
    say!(out, "Fingerprint:   {}", public.fingerprint());
    say!(out, "Created:       {}", files::iso8601(org.created_at()));
    say!(out, "Org file:      {}", org.file_path().display());
    say!(
        out,
        "Secret key:    encrypted (Argon2id m={} KiB t={} p={}, XChaCha20-Poly1305)",
        cost.m_cost_kib,
        cost.t_cost,
        cost.p_cost
    );
    if cost.is_weaker_than_default() {
        say!(out, "WARNING:       these Argon2 parameters are weaker than the default; this file was made");
        say!(out, "               for tests ({INSECURE_FAST_KDF_ENV}) and must not hold a real organisation.");
    }
}
