//! `belfry-relay init`: a new relay directory.

use crate::config::{Config, Limits, Paths, Retention};
use crate::error::{RelayError, Result};
use crate::tls;
use belfry_protocol::Hash256;
use belfry_protocol::cert::RELAY_CA_LABEL;
use std::net::SocketAddr;
use std::path::Path;

/// What `init` reports.
#[derive(Debug, Clone)]
pub struct Initialised {
    /// The CA certificate file (for `belfry-admin invite --relay-ca`).
    pub ca_path: std::path::PathBuf,
    /// Human-comparable fingerprint of the CA certificate.
    pub ca_fingerprint: String,
    /// The hash invitations carry.
    pub ca_hash: Hash256,
}

/// Creates `dir` with a CA, a server certificate and `relay.toml`.
/// Refuses to touch a directory that already holds a relay.
pub fn init(
    dir: &Path,
    name: &str,
    listen: SocketAddr,
    org_public_key: &str,
    metrics: Option<SocketAddr>,
) -> Result<Initialised> {
    let paths = Paths::new(dir);
    for existing in [paths.config(), paths.ca_key(), paths.server_key(), paths.database()] {
        if existing.exists() {
            return Err(RelayError::Exists(existing));
        }
    }
    let config = Config {
        name: name.to_owned(),
        listen,
        metrics_listen: metrics,
        org_public_key: org_public_key.trim().to_owned(),
        allow_classical_key_exchange: false,
        limits: Limits::default(),
        retention: Retention::default(),
    };
    config.org_key().map_err(|reason| RelayError::Config { path: paths.config(), reason })?;
    std::fs::create_dir_all(dir).map_err(|source| RelayError::Write { path: dir.to_owned(), source })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|source| RelayError::Write { path: dir.to_owned(), source })?;
    }
    let generated = tls::generate(&paths, name)?;
    tls::write_file(&paths.config(), config.to_toml()?.as_bytes(), false)?;
    Ok(Initialised {
        ca_path: paths.ca_cert(),
        ca_fingerprint: belfry_protocol::keys::fingerprint(&generated.ca_der),
        ca_hash: Hash256::of(RELAY_CA_LABEL, &generated.ca_der),
    })
}
