//! `belfry-desktop`: the desktop app.
//!
//! ```text
//! belfry-desktop [--profile DIR] [--org-key KEY] [--org-name NAME] [belfry://...]
//! ```
//!
//! The profile is `--profile`, else `BELFRY_PROFILE`, else `belfry/profile`
//! in the user's data directory. The organisation key is `--org-key`, else
//! `BELFRY_ORG_KEY`, else the one this build was made with.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use belfry_desktop::HostConfig;
use belfry_protocol::Ed25519Public;
use belfry_store::passphrase::KdfCost;
use std::path::PathBuf;

/// The organisation key a signed build ships with (set when building).
const BUILT_ORG_KEY: Option<&str> = option_env!("BELFRY_ORG_KEY");
/// The organisation's name a build ships with.
const BUILT_ORG_NAME: Option<&str> = option_env!("BELFRY_ORG_NAME");

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

/// Argon2id cost of a new passphrase-wrapped key. Debug builds honour
/// `BELFRY_TEST_FAST_KDF=1` (tests); release builds never do.
fn kdf_cost() -> KdfCost {
    if cfg!(debug_assertions) && std::env::var("BELFRY_TEST_FAST_KDF").as_deref() == Ok("1") {
        return KdfCost::INSECURE_FAST;
    }
    KdfCost::DEFAULT
}

fn default_profile() -> PathBuf {
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .or_else(|| std::env::var_os("APPDATA").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("belfry").join("profile")
}

fn main() -> std::process::ExitCode {
    // Before any thread exists: no core dumps or same-user debuggers, and
    // how SQLite's freed memory is wiped, settled while nothing else can
    // touch SQLite.
    belfry_client::hardening::harden_process();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let profile_dir = arg(&args, "--profile")
        .or_else(|| std::env::var("BELFRY_PROFILE").ok())
        .map(PathBuf::from)
        .unwrap_or_else(default_profile);
    let org_text = arg(&args, "--org-key")
        .or_else(|| std::env::var("BELFRY_ORG_KEY").ok())
        .or_else(|| BUILT_ORG_KEY.map(str::to_owned));
    let org_key = match org_text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => match Ed25519Public::from_base64(text) {
            Some(k) => Some(k),
            None => {
                eprintln!("belfry-desktop: the organisation key is not a public key (base64)");
                return std::process::ExitCode::FAILURE;
            }
        },
    };
    let org_name = arg(&args, "--org-name")
        .or_else(|| std::env::var("BELFRY_ORG_NAME").ok())
        .or_else(|| BUILT_ORG_NAME.map(str::to_owned))
        .unwrap_or_default();
    let config = HostConfig { profile_dir, org_key, org_name, kdf: kdf_cost(), keychain: None };
    match belfry_desktop::app::run(config) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("belfry-desktop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
