//! `relay.toml`: what `belfry-relay init` writes and `serve` reads.

use crate::error::{RelayError, Result};
use belfry_protocol::Ed25519Public;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The config file's name inside the relay directory.
pub const CONFIG_FILE: &str = "relay.toml";

/// The whole configuration. Every field but `name`, `listen` and
/// `org_public_key` has a default, so a hand-written file can be short.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The host name in the server certificate and in invitations.
    pub name: String,
    /// Where devices connect (TLS 1.3: WebSocket frames and HTTPS blobs).
    pub listen: SocketAddr,
    /// Where Prometheus scrapes `/metrics` (plain HTTP; keep it on loopback
    /// or a management network). Absent: no metrics listener.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// The organisation root public key (unpadded base64, as
    /// `belfry-admin org show` prints it): invitations and org statements
    /// must verify against it.
    pub org_public_key: String,
    /// Accept TLS clients that offer only classical key exchange (X25519,
    /// P-256, ...). Off by default: the relay requires the hybrid
    /// post-quantum X25519MLKEM768, which every Belfry client offers, so a
    /// recorded session cannot be decrypted later by a quantum computer.
    /// `serve` warns at start while this is on.
    #[serde(default)]
    pub allow_classical_key_exchange: bool,
    /// Limits on what one device may do.
    #[serde(default)]
    pub limits: Limits,
    /// How long undelivered data is kept.
    #[serde(default)]
    pub retention: Retention,
}

/// Limits; each one gives the client a clear protocol error.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest WebSocket frame, in bytes (at most the protocol's 1 MiB).
    pub max_frame_bytes: usize,
    /// Largest attachment blob, in bytes.
    pub max_blob_bytes: u64,
    /// Blob bytes one device may keep on the relay at once.
    pub blob_quota_bytes: u64,
    /// Undelivered entries one device's inbox may hold.
    pub max_inbox_depth: u64,
    /// Undelivered entries from one sending device that one inbox may hold:
    /// well below `max_inbox_depth`, so one sender cannot fill an inbox
    /// and others still have room.
    pub max_inbox_entries_per_sender: u64,
    /// Undelivered bytes from one sending device that one inbox may hold.
    pub max_inbox_bytes_per_sender: u64,
    /// Key claims one device may make per minute (each named device counts).
    pub key_claims_per_minute: u32,
    /// One-time keys of one target device that one claimer gets per hour;
    /// past that it gets the target's fallback key, so no device can drain
    /// everyone's one-time keys.
    pub one_time_keys_per_target_per_hour: u32,
    /// Revocations and wipe orders signed by a device (not the org) that
    /// one device may publish per hour.
    pub device_statements_per_hour: u32,
    /// Simultaneous connections of one device.
    pub connections_per_device: usize,
    /// Seconds without any frame from a device before the relay closes the
    /// connection (clients answer pings, so a live client never idles out).
    pub idle_timeout_secs: u64,
    /// Seconds a new connection has, from accept, to sign in: its device
    /// authenticates, or it names an existing blob.
    pub auth_timeout_secs: u64,
    /// Most connections in all.
    pub max_connections: usize,
    /// Most connections not signed in yet from one source address (an
    /// IPv6 source counts by its /64).
    pub pre_auth_per_address: usize,
    /// Most connections not signed in yet, in all.
    pub pre_auth_connections: usize,
    /// Bytes the relay reads from a connection before it signs in, at
    /// most (TLS handshake, HTTP request and enrollment frames: a few KiB):
    /// no connection can make the relay buffer a large frame before it
    /// signs in.
    pub pre_auth_bytes: usize,
}

impl Limits {
    /// The inbox limits a publish from a device is held to.
    pub fn inbox(&self) -> crate::storage::InboxLimits {
        crate::storage::InboxLimits {
            depth: self.max_inbox_depth,
            per_sender_entries: self.max_inbox_entries_per_sender,
            per_sender_bytes: self.max_inbox_bytes_per_sender,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_frame_bytes: belfry_protocol::limits::MAX_FRAME_LEN,
            max_blob_bytes: 100 * 1024 * 1024,
            blob_quota_bytes: 1024 * 1024 * 1024,
            max_inbox_depth: 100_000,
            max_inbox_entries_per_sender: 10_000,
            max_inbox_bytes_per_sender: 64 * 1024 * 1024,
            key_claims_per_minute: 3_000,
            one_time_keys_per_target_per_hour: 3,
            device_statements_per_hour: 10,
            connections_per_device: 4,
            idle_timeout_secs: 120,
            auth_timeout_secs: 10,
            max_connections: 10_000,
            pre_auth_per_address: 64,
            pre_auth_connections: 1024,
            pre_auth_bytes: 32 * 1024,
        }
    }
}

/// Retention of data nobody has collected.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Days an inbox entry waits for its device before it is dropped.
    pub inbox_days: u32,
    /// Days a blob is kept after upload.
    pub blob_days: u32,
    /// Days the relay remembers a publish id, so a resend is recognised.
    pub publish_id_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self { inbox_days: 30, blob_days: 30, publish_id_days: 14 }
    }
}

impl Config {
    /// Reads `dir/relay.toml`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| RelayError::Read { path: path.clone(), source })?;
        let config: Self =
            toml::from_str(&text).map_err(|e| RelayError::Config { path: path.clone(), reason: e.to_string() })?;
        config.org_key().map_err(|reason| RelayError::Config { path: path.clone(), reason })?;
        if config.limits.max_frame_bytes > belfry_protocol::limits::MAX_FRAME_LEN {
            return Err(RelayError::Config {
                path,
                reason: format!(
                    "limits.max_frame_bytes is above the protocol's {} bytes",
                    belfry_protocol::limits::MAX_FRAME_LEN
                ),
            });
        }
        Ok(config)
    }

    /// The org key, parsed.
    pub fn org_key(&self) -> std::result::Result<Ed25519Public, String> {
        Ed25519Public::from_base64(self.org_public_key.trim())
            .ok_or_else(|| "org_public_key is not a base64 Ed25519 public key (see `belfry-admin org show`)".into())
    }

    /// The config as TOML, with a header comment.
    pub fn to_toml(&self) -> Result<String> {
        let body = toml::to_string(self).map_err(|e| RelayError::Internal(format!("config encoding: {e}")))?;
        Ok(format!(
            "# belfry-relay configuration, written by `belfry-relay init`.\n\
             # Sizes are bytes, times seconds or days as named.\n\n{body}"
        ))
    }
}

/// The files of a relay directory.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The directory.
    pub dir: PathBuf,
}

impl Paths {
    /// The layout of `dir`.
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_owned() }
    }
    /// `relay.toml`.
    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }
    /// The CA certificate (public: it goes into invitations).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// The CA private key (only needed to issue a new server certificate).
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key.pem")
    }
    /// The server certificate chain.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    /// The server private key.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key.pem")
    }
    /// The SQLite database.
    pub fn database(&self) -> PathBuf {
        self.dir.join("relay.sqlite")
    }
    /// Attachment blobs.
    pub fn blobs(&self) -> PathBuf {
        self.dir.join("blobs")
    }
}
