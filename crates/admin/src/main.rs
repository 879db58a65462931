//! `belfry-admin`: IT's offline tool that holds the organisation root key,
//! issues invitations and signs revocations and wipe orders.
//! See `belfry-admin --help`.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Appends a formatted line to the output buffer. Output is collected and
/// written once at the end, so a closed stdout can never cause a panic.
macro_rules! say {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

mod cli;
mod commands;
mod error;
mod files;
mod issued;
mod org;
mod passphrase;
mod relay;

use clap::Parser as _;
use std::io::Write as _;
use std::process::ExitCode;
use zeroize::Zeroizing;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors; every real error exits 1.
            return if e.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    // The output may hold an invitation QR code, which is secret.
    // Reserved up front so growing it never leaves an unwiped copy behind
    // (the largest QR code is about 52 KiB of text).
    let mut out = Zeroizing::new(String::with_capacity(128 * 1024));
    let result = commands::run(cli, &mut out);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a warning on stderr at once.
pub(crate) fn warn(message: &str) {
    let _ = writeln!(std::io::stderr(), "warning: {message}");
}
