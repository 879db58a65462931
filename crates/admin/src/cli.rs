//! Command-line interface. Each command's long help teaches it with an
//! example; `belfry-admin help <command>` shows it.

use belfry_protocol::{DeviceId, DisplayName, Ed25519Public, UserId};
use clap::{ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str = "Belfry organisation administration: the org root key, invitations, revocations, wipe orders";

const LONG_ABOUT: &str = "\
Belfry organisation administration, for IT, on an offline workstation.

belfry-admin holds the organisation root key: every Belfry device trusts a
person's device only if its chain of signatures leads to this key. The secret
key is stored encrypted with a passphrase (Argon2id + XChaCha20-Poly1305) in
DIR/org.json.

Typical session:
  belfry-admin org init --name \"Ministry of Example\"
  belfry-admin invite --user alice.martin --name \"Alice Martin\" \\
      --relay wss://relay.ministry.example:8443 --relay-ca relay-ca.pem
  belfry-admin confirm alice.martin-KQJXWBNRTA.belfry-device
  belfry-admin revoke --device alice.martin/KQJXWBNRTA --reason \"Laptop stolen\"
  belfry-admin verify belfry-org/statements/revoke-alice.martin-KQJXWBNRTA-1795384730.belfry-statement

The passphrase is taken from --passphrase-file PATH (its first line), else from
the environment variable BELFRY_ORG_PASSPHRASE, else asked in the terminal.";

const AFTER_HELP: &str = "Exit status: 0 on success, 1 on any error.";

/// `belfry-admin`.
#[derive(Debug, Parser)]
#[command(name = "belfry-admin", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    /// The organisation directory: org.json, issued.log, invitations/, statements/
    #[arg(long, global = true, value_name = "DIR", env = "BELFRY_ORG_DIR", default_value = "./belfry-org")]
    pub dir: PathBuf,

    /// Read the org passphrase from the first line of this file instead of
    /// BELFRY_ORG_PASSPHRASE or the terminal
    #[arg(long, global = true, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or inspect the organisation key
    #[command(subcommand)]
    Org(OrgCommand),
    /// Issue an invitation for one device of one person
    #[command(long_about = INVITE_LONG)]
    Invite(InviteArgs),
    /// Sign a revocation of a device or of an unused invitation
    #[command(long_about = REVOKE_LONG)]
    Revoke(RevokeArgs),
    /// Sign an order for a device to erase all its Belfry data
    #[command(long_about = WIPE_LONG)]
    Wipe(WipeArgs),
    /// Check an invitation or statement file against the org key
    #[command(long_about = VERIFY_LONG)]
    Verify(VerifyArgs),
    /// Confirm the one device an invitation enrolled
    #[command(long_about = CONFIRM_LONG)]
    Confirm(ConfirmArgs),
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create the organisation key in DIR
    #[command(long_about = INIT_LONG)]
    Init(InitArgs),
    /// Show the organisation's name, public key and fingerprint
    #[command(long_about = SHOW_LONG)]
    Show,
}

const INIT_LONG: &str = "\
Create the organisation root key in DIR (created with mode 0700).

Generates an Ed25519 key pair and writes DIR/org.json: the public key, and the
secret key encrypted with your passphrase (at least 12 characters; Argon2id,
64 MiB, 3 passes). Refuses to overwrite an existing org.json.

Prints the public key and its fingerprint: it goes into the signed Belfry
build and the managed policy of every device.

Example:
  belfry-admin --dir /media/it-key/belfry-org org init --name \"Ministry of Example\"";

const SHOW_LONG: &str = "\
Show the organisation's name, public key, fingerprint and creation date.
Needs no passphrase.

Example:
  belfry-admin --dir /media/it-key/belfry-org org show";

const INVITE_LONG: &str = "\
Issue an invitation for one device of one person.

The invitation holds the user id, display name, relay address and relay CA
certificate, and a one-time enrollment key certified by the organisation key
until it expires. It is written to --out (default
DIR/invitations/<user>-<invitation id>.belfry-invite, mode 0600) and shown as
a QR code. It contains a secret: hand it over like a password. Each
invitation is recorded in DIR/issued.log so an unused one can be revoked.

Example:
  belfry-admin invite --user alice.martin --name \"Alice Martin\" \\
      --relay wss://relay.ministry.example:8443 --relay-ca relay-ca.pem --valid-days 3";

const REVOKE_LONG: &str = "\
Sign a revocation, written as a statement file for the relay.

--device USER/DEVICE_ID revokes one enrolled device; --invitation KEY revokes
an invitation by its enrollment key (from the invite output or issued.log),
and any device it enrolled. The relay distributes the statement; it cannot
forge one. Written to --out (default DIR/statements/revoke-...belfry-statement).

Examples:
  belfry-admin revoke --device alice.martin/KQJXWBNRTA --reason \"Laptop stolen\"
  belfry-admin revoke --invitation 3q2+7w...base64... --reason \"Invitation e-mailed by mistake\"";

const WIPE_LONG: &str = "\
Sign an order for a device to erase its Belfry database and keys.

When the device receives the order it deletes everything Belfry stored on it;
every other device stops trusting it. This cannot be undone. Written to --out
(default DIR/statements/wipe-<user>-<device>-<time>.belfry-statement) for the
relay.

Example:
  belfry-admin wipe --device alice.martin/KQJXWBNRTA";

const VERIFY_LONG: &str = "\
Check an invitation or statement file against the organisation's public key
and show what it contains (never the invitation's secret). Needs no
passphrase. Exits with 1 if the file is damaged, forged or from another
organisation.

Example:
  belfry-admin verify belfry-org/invitations/alice.martin-0123456789abcdef0123456789abcdef.belfry-invite";

const CONFIRM_LONG: &str = "\
Confirm the one device an invitation enrolled, from the .belfry-device file
that `belfry enroll` wrote on it. Compare the key fingerprint this command
shows with the one the device showed when it enrolled (ask the person, in
person or on the phone) before you hand the statement to the relay.

Devices that have never seen a device trust it only until its invitation
expires, unless the organisation confirmed it: the date in a device
certificate is chosen by whoever holds the invitation, so it proves nothing.
The confirmation is that proof. Everyone who has it also refuses any other
device enrolled with a copy of the same invitation. Confirm every enrolled
device, before its invitation expires if you can.

Refuses a second device for an invitation already confirmed here: someone
used a copy of it. Revoke the invitation then (revoke --invitation).

Example:
  belfry-admin confirm alice.martin-KQJXWBNRTA.belfry-device
  belfry-relay statement --dir /var/lib/belfry-relay \\
      belfry-org/statements/confirm-alice.martin-KQJXWBNRTA.belfry-statement";

#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// The .belfry-device file the device wrote when it enrolled
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Where to write the statement [default: DIR/statements/confirm-...]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The organisation's name, such as "Ministry of Example"
    #[arg(long, value_name = "NAME")]
    pub name: Option<DisplayName>,
}

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The person's user id: lowercase letters, digits, '.', '_', '-'
    #[arg(long, value_name = "USER_ID")]
    pub user: UserId,

    /// The person's display name, such as "Alice Martin"
    #[arg(long, value_name = "DISPLAY_NAME")]
    pub name: DisplayName,

    /// The relay address, wss://host:port
    #[arg(long, value_name = "wss://HOST:PORT", value_parser = crate::relay::parse_url)]
    pub relay: String,

    /// The relay's CA certificate, PEM or DER
    #[arg(long, value_name = "ca.pem|ca.der")]
    pub relay_ca: PathBuf,

    /// Days until the invitation expires
    #[arg(long, value_name = "DAYS", default_value_t = 7, value_parser = clap::value_parser!(u16).range(1..=365))]
    pub valid_days: u16,

    /// Where to write the invitation [default: DIR/invitations/<user>-<id>.belfry-invite]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Do not print the invitation as a QR code
    #[arg(long)]
    pub no_qr: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["device", "invitation"])))]
pub struct RevokeArgs {
    /// The device to revoke, as USER/DEVICE_ID
    #[arg(long, value_name = "USER/DEVICE_ID", value_parser = parse_device_ref)]
    pub device: Option<DeviceRef>,

    /// The enrollment key (base64) of the invitation to revoke
    #[arg(long, value_name = "ENROLLMENT_KEY", value_parser = parse_enrollment_key)]
    pub invitation: Option<Ed25519Public>,

    /// Why, shown to the people who see the revocation
    #[arg(long, value_name = "TEXT", default_value = "Revoked by the organisation")]
    pub reason: DisplayName,

    /// Where to write the statement [default: DIR/statements/revoke-...]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WipeArgs {
    /// The device to wipe, as USER/DEVICE_ID
    #[arg(long, value_name = "USER/DEVICE_ID", value_parser = parse_device_ref)]
    pub device: DeviceRef,

    /// Where to write the statement [default: DIR/statements/wipe-...]
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The .belfry-invite or .belfry-statement file
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// One device of one user, as `USER/DEVICE_ID`.
#[derive(Debug, Clone)]
pub struct DeviceRef {
    pub user: UserId,
    pub device: DeviceId,
}

fn parse_device_ref(s: &str) -> Result<DeviceRef, String> {
    let Some((user, device)) = s.split_once('/') else {
        return Err("expected USER/DEVICE_ID, for example alice.martin/KQJXWBNRTA".into());
    };
    let user = UserId::new(user).map_err(|e| format!("bad user id {user:?}: {e}"))?;
    let device = DeviceId::new(device).map_err(|e| format!("bad device id {device:?}: {e}"))?;
    Ok(DeviceRef { user, device })
}

fn parse_enrollment_key(s: &str) -> Result<Ed25519Public, String> {
    Ed25519Public::from_base64(s).ok_or_else(|| {
        "expected an enrollment key: 32 bytes in base64, as printed by `invite` and recorded in issued.log".into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn device_refs() {
        let r = parse_device_ref("alice.martin/KQJXWBNRTA").unwrap();
        assert_eq!((r.user.as_str(), r.device.as_str()), ("alice.martin", "KQJXWBNRTA"));
        assert!(parse_device_ref("alice.martin").unwrap_err().contains("USER/DEVICE_ID"));
        assert!(parse_device_ref("Alice/KQJ").unwrap_err().contains("user id"));
        assert!(parse_device_ref("alice/KQ/J").unwrap_err().contains("device id"));
    }
}
