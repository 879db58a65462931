//! One module per command. Each reads its inputs, fails early on bad input
//! (before asking for the passphrase), and appends what it did to `out`.

mod confirm;
mod invite;
mod org;
mod statement;
mod verify;

use crate::cli::{Cli, Command, OrgCommand};
use crate::error::Result;
use crate::passphrase::{self, Purpose};
use belfry_crypto::OrgKey;
use std::path::PathBuf;

/// What every command needs from the global options.
#[derive(Debug)]
pub struct Ctx {
    /// The organisation directory.
    pub dir: PathBuf,
    /// `--passphrase-file`.
    pub passphrase_file: Option<PathBuf>,
}

impl Ctx {
    /// Asks for the passphrase and decrypts the org key.
    fn unlock(&self, org: &crate::org::Org) -> Result<OrgKey> {
        let path = org.file_path();
        let passphrase = passphrase::obtain(self.passphrase_file.as_deref(), Purpose::Unlock(&path))?;
        org.unlock(&passphrase)
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli, out: &mut String) -> Result<()> {
    let ctx = Ctx { dir: cli.dir, passphrase_file: cli.passphrase_file };
    match cli.command {
        Command::Org(OrgCommand::Init(args)) => org::init(&ctx, args, out),
        Command::Org(OrgCommand::Show) => org::show(&ctx, out),
        Command::Invite(args) => invite::run(&ctx, args, out),
        Command::Revoke(args) => statement::revoke(&ctx, args, out),
        Command::Wipe(args) => statement::wipe(&ctx, args, out),
        Command::Verify(args) => verify::run(&ctx, args, out),
        Command::Confirm(args) => confirm::run(&ctx, args, out),
    }
}
