//! The relay's private CA, its server certificate, and a TLS 1.3-only
//! rustls configuration that requires the hybrid post-quantum key exchange
//! (X25519MLKEM768) unless `relay.toml` explicitly allows classical groups.

use crate::config::Paths;
use crate::error::{RelayError, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// Label of the TLS exporter value a device signs when it authenticates
/// (RFC 8446 §7.5); both ends derive the same 32 bytes for one connection.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-belfry-auth";

/// ALPN protocol: HTTP/1.1 (WebSocket upgrade and blob transfers).
pub const ALPN: &[u8] = b"http/1.1";

/// The one key exchange group Belfry's clients offer and the relay
/// requires by default: hybrid X25519 + ML-KEM-768.
pub const HYBRID_GROUP: rustls::NamedGroup = rustls::NamedGroup::X25519MLKEM768;

/// The crypto provider: aws-lc-rs with X25519MLKEM768 as its only key
/// exchange group, so a client that offers only classical groups fails the
/// handshake. With `allow_classical` (the `allow_classical_key_exchange`
/// setting, for a transition only: a recorded session could be decrypted
/// by a future quantum computer), aws-lc-rs' classical groups are accepted
/// after the hybrid one.
pub fn provider(allow_classical: bool) -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if allow_classical {
        provider.kx_groups.sort_by_key(|g| if g.name() == HYBRID_GROUP { 0 } else { 1 });
    } else {
        provider.kx_groups.retain(|g| g.name() == HYBRID_GROUP);
    }
    provider
}

/// What `init` made.
#[derive(Debug, Clone)]
pub struct Generated {
    /// DER of the CA certificate (goes into invitations).
    pub ca_der: Vec<u8>,
}

fn validity(params: &mut CertificateParams, years: i32) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // A day of slack for clocks behind ours.
    let start = now.saturating_sub(86_400);
    let year = 1970 + i32::try_from(start / 31_556_952).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year, 1, 1);
    params.not_after = rcgen::date_time_ymd(year + years, 12, 31);
}

fn tls_err(what: &str) -> impl FnOnce(rcgen::Error) -> RelayError + '_ {
    move |e| RelayError::Tls(format!("{what}: {e}"))
}

/// Creates the CA (10 years) and a server certificate (2 years) for
/// `name`, `localhost` and the loopback addresses, and writes them with
/// their keys (0600) into the relay directory.
pub fn generate(paths: &Paths, name: &str) -> Result<Generated> {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls_err("CA key"))?;
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name.push(DnType::CommonName, format!("Belfry relay CA for {name}"));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca, 10);
    let ca_cert = ca.self_signed(&ca_key).map_err(tls_err("CA certificate"))?;

    let server_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls_err("server key"))?;
    let mut names = vec![name.to_owned()];
    for extra in ["localhost", "127.0.0.1", "::1"] {
        if extra != name {
            names.push(extra.to_owned());
        }
    }
    let mut server = CertificateParams::new(names).map_err(tls_err("server names"))?;
    server.distinguished_name.push(DnType::CommonName, name);
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    validity(&mut server, 2);
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);
    let server_cert = server.signed_by(&server_key, &issuer).map_err(tls_err("server certificate"))?;

    write_file(&paths.ca_cert(), ca_cert.pem().as_bytes(), false)?;
    write_file(&paths.ca_key(), ca_key_pem.as_bytes(), true)?;
    write_file(&paths.server_cert(), server_cert.pem().as_bytes(), false)?;
    write_file(&paths.server_key(), server_key.serialize_pem().as_bytes(), true)?;
    Ok(Generated { ca_der: ca_cert.der().to_vec() })
}

/// Writes a new file (never overwriting), private ones with mode 0600.
pub fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let write = || -> std::io::Result<()> {
        let mut f = options.open(path)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    write().map_err(|source| RelayError::Write { path: path.to_owned(), source })
}

/// The rustls server configuration: TLS 1.3 only, ALPN http/1.1, the
/// hybrid post-quantum key exchange required unless `allow_classical`.
pub fn server_config(paths: &Paths, allow_classical: bool) -> Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(paths.server_cert())
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| RelayError::Tls(format!("{}: {e}", paths.server_cert().display())))?;
    let key = PrivateKeyDer::from_pem_file(paths.server_key())
        .map_err(|e| RelayError::Tls(format!("{}: {e}", paths.server_key().display())))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider(allow_classical)))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| RelayError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| RelayError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    Ok(Arc::new(config))
}

/// DER of the CA certificate in the relay directory.
pub fn ca_der(paths: &Paths) -> Result<Vec<u8>> {
    let cert = CertificateDer::from_pem_file(paths.ca_cert())
        .map_err(|e| RelayError::Tls(format!("{}: {e}", paths.ca_cert().display())))?;
    Ok(cert.to_vec())
}
