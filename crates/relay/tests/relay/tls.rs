//! TLS: versions and key exchange, against the real relay.

use crate::support::*;
use rustls::pki_types::ServerName;
use std::sync::Arc;

fn client(
    relay: &Relay,
    versions: &[&'static rustls::SupportedProtocolVersion],
    groups: Option<&[rustls::NamedGroup]>,
) -> rustls::ClientConfig {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(groups) = groups {
        provider.kx_groups.retain(|g| groups.contains(&g.name()));
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.add(relay.ca()).unwrap();
    rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn a_client_limited_to_tls_1_2_is_refused() {
    let relay = Relay::start();
    let config = client(&relay, &[&rustls::version::TLS12], None);
    let err = relay.tls(config).await.expect_err("the relay must refuse TLS 1.2");
    let text = err.to_string();
    assert!(text.contains("ProtocolVersion") || text.contains("protocol version"), "unexpected error: {text}");
    // A TLS 1.3 client still works on the same relay.
    let tls = relay.tls(relay.tls_config()).await.unwrap();
    assert_eq!(tls.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn a_client_offering_x25519mlkem768_negotiates_it() {
    let relay = Relay::start();
    // A default client offers the hybrid group first, with classical ones.
    let tls = relay.tls(client(&relay, &[&rustls::version::TLS13], None)).await.unwrap();
    let group = tls.get_ref().1.negotiated_key_exchange_group().unwrap().name();
    assert_eq!(group, rustls::NamedGroup::X25519MLKEM768);
    // The hybrid share is what the relay prefers over a classical one the
    // same client also supports.
    assert_eq!(tls.get_ref().1.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn a_classical_only_client_is_refused_by_default() {
    let relay = Relay::start();
    for group in [rustls::NamedGroup::X25519, rustls::NamedGroup::secp256r1, rustls::NamedGroup::secp384r1] {
        let config = client(&relay, &[&rustls::version::TLS13], Some(&[group]));
        let err = relay.tls(config).await.expect_err("a client without X25519MLKEM768 must be refused");
        let text = err.to_string();
        assert!(text.contains("HandshakeFailure") || text.contains("handshake"), "{group:?}: unexpected error: {text}");
    }
    // The hybrid group alone is enough.
    let tls = relay
        .tls(client(&relay, &[&rustls::version::TLS13], Some(&[rustls::NamedGroup::X25519MLKEM768])))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.negotiated_key_exchange_group().unwrap().name(), rustls::NamedGroup::X25519MLKEM768);
    assert!(!relay.log().contains("allow_classical_key_exchange"), "no warning without the setting");
}

#[tokio::test]
async fn allow_classical_key_exchange_admits_a_classical_client_with_a_warning() {
    let relay = Relay::start_with(|toml| {
        assert!(toml.contains("allow_classical_key_exchange = false"), "init writes the setting, off");
        *toml = toml.replace("allow_classical_key_exchange = false", "allow_classical_key_exchange = true");
    });
    let tls = relay.tls(client(&relay, &[&rustls::version::TLS13], Some(&[rustls::NamedGroup::X25519]))).await.unwrap();
    assert_eq!(tls.get_ref().1.negotiated_key_exchange_group().unwrap().name(), rustls::NamedGroup::X25519);
    // A client offering both still gets the hybrid group.
    let tls = relay.tls(client(&relay, &[&rustls::version::TLS13], None)).await.unwrap();
    assert_eq!(tls.get_ref().1.negotiated_key_exchange_group().unwrap().name(), rustls::NamedGroup::X25519MLKEM768);
    let log = relay.log();
    assert!(log.contains("WARNING: allow_classical_key_exchange = true"), "serve must warn loudly: {log}");
}

#[tokio::test]
async fn a_client_trusting_another_ca_refuses_the_relay() {
    let relay = Relay::start();
    let other = Relay::start();
    let config = client(&other, &[&rustls::version::TLS13], None);
    let tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    let r = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await;
    assert!(r.is_err(), "a relay certificate from another CA must not be accepted");
}
