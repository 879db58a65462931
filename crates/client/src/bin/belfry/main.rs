//! `belfry`: the command-line client, a thin host on `belfry-client`'s
//! engine. `cli` is the command line, `commands` one module per task,
//! `output` how results and alerts are printed.

mod cli;
mod commands;
mod output;

use clap::Parser as _;

/// Exit status of a wipe (`wipe-self` or ordered by the organisation) that
/// could not erase everything: scripts and IT must be able to tell it from
/// an ordinary failure.
const EXIT_WIPE_INCOMPLETE: u8 = 3;

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("belfry: {e:#}");
            if matches!(
                e.downcast_ref::<belfry_client::ClientError>(),
                Some(belfry_client::ClientError::WipeIncomplete(_))
            ) {
                std::process::ExitCode::from(EXIT_WIPE_INCOMPLETE)
            } else {
                std::process::ExitCode::FAILURE
            }
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    // Before any thread exists: no core dumps or same-user debuggers, and
    // how SQLite's freed memory is wiped, settled while nothing else can
    // touch SQLite.
    belfry_client::hardening::harden_process();
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(commands::run(cli))
}
