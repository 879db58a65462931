//! The `belfry-relay` command.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Belfry's private relay. It forwards end-to-end-encrypted messages between
/// the organisation's devices and never sees their content.
#[derive(Debug, Parser)]
#[command(
    name = "belfry-relay",
    version,
    after_help = "\
Typical set-up on a relay host:
  belfry-relay init --dir /var/lib/belfry-relay --name relay.ministry.example \\
      --org-key <key from `belfry-admin org show`>
  belfry-relay serve --dir /var/lib/belfry-relay
Then give IT the CA certificate (DIR/ca.pem) for `belfry-admin invite --relay-ca`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a relay directory: a private CA, a server certificate and relay.toml
    #[command(long_about = "\
Create a relay directory: a private CA (10 years), a server certificate for
--name, localhost and the loopback addresses (2 years), and relay.toml with
sane defaults (limits, retention) that you can edit. Private keys are written
with mode 0600. Prints the CA fingerprint: compare it with what invitations
show. Refuses to overwrite an existing relay.")]
    Init {
        /// The relay directory (created)
        #[arg(long)]
        dir: PathBuf,
        /// The host name devices connect to
        #[arg(long)]
        name: String,
        /// The organisation's public key (base64, from `belfry-admin org show`)
        #[arg(long, env = "BELFRY_ORG_KEY")]
        org_key: String,
        /// Address to listen on
        #[arg(long, default_value = "0.0.0.0:7443")]
        listen: SocketAddr,
        /// Address for Prometheus metrics (plain HTTP; keep it private)
        #[arg(long)]
        metrics: Option<SocketAddr>,
    },
    /// Register invitations (the .belfry-registration files `belfry-admin invite` writes)
    #[command(long_about = "\
Register invitations with the relay: give it the .belfry-registration files
that `belfry-admin invite` writes next to each invitation (they hold no
secret). Each is checked against the organisation key in relay.toml; a device
can then enroll from the matching invitation, once. Works while the relay
runs.")]
    Register {
        /// The relay directory
        #[arg(long)]
        dir: PathBuf,
        /// Registration files
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Distribute revocations, wipe orders and enrollment confirmations (the files `belfry-admin revoke`, `wipe` and `confirm` write)
    #[command(long_about = "\
Distribute IT's signed statements (revocations, wipe orders and enrollment
confirmations, written by `belfry-admin revoke`, `wipe` and `confirm`) to
every device. Each is
checked against the organisation key in relay.toml first; the relay cannot
forge one, and devices check the signature again. Works while the relay runs.")]
    Statement {
        /// The relay directory
        #[arg(long)]
        dir: PathBuf,
        /// Statement files
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the relay until SIGTERM or Ctrl-C
    #[command(long_about = "\
Run the relay from its directory. Prints the address it listens on. On
SIGTERM or Ctrl-C it stops accepting connections, lets each connection finish
the request it is handling (every acknowledged publish is already on disk),
and exits. Logs go to stderr; set RUST_LOG (for example RUST_LOG=debug).")]
    Serve {
        /// The relay directory (made by `init`)
        #[arg(long)]
        dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Init { dir, name, org_key, listen, metrics } => {
            let done = belfry_relay::init::init(&dir, &name, listen, &org_key, metrics)
                .with_context(|| format!("cannot create a relay in {}", dir.display()))?;
            println!("Relay created in {}", dir.display());
            println!("CA certificate: {}", done.ca_path.display());
            println!("CA fingerprint: {}", done.ca_fingerprint);
            println!("Next: belfry-relay serve --dir {}", dir.display());
            Ok(())
        }
        Command::Register { dir, files } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let done =
                runtime.block_on(belfry_relay::register::register(&dir, &files)).context("registration refused")?;
            for r in done {
                println!("Registered invitation {} for {}", r.invitation, r.user);
            }
            Ok(())
        }
        Command::Statement { dir, files } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let done =
                runtime.block_on(belfry_relay::register::statements(&dir, &files)).context("statement refused")?;
            for d in done {
                let what = if d.new { "Distributed" } else { "Already distributed" };
                println!("{what}: statement concerning {}", d.concerns);
            }
            Ok(())
        }
        Command::Serve { dir } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async {
                belfry_relay::server::serve(&dir, shutdown_signal()).await.context("the relay stopped with an error")
            })
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
}
