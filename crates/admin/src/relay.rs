//! The relay address and its CA certificate, as IT gives them to `invite`.

use crate::error::{AdminError, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use belfry_protocol::limits::MAX_RELAY_CA_LEN;
use std::path::Path;

/// Longest relay address an enrollment certificate accepts.
const MAX_URL_LEN: usize = 256;
const EXAMPLE: &str = "for example wss://relay.ministry.example:8443";

/// Checks a relay address: `wss://host[:port][/path]`. Used as a clap value
/// parser, so the message names the problem.
pub fn parse_url(s: &str) -> Result<String, String> {
    let Some(rest) = s.strip_prefix("wss://") else {
        return Err(format!("the relay address must start with wss:// (TLS is required), {EXAMPLE}"));
    };
    if s.len() > MAX_URL_LEN {
        return Err(format!("the relay address is longer than {MAX_URL_LEN} characters"));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("the relay address contains {c:?}"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("the relay address must not contain a user name or password".into());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err("unclosed '[' in the relay address".into());
        };
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("expected ':port' after ']'")?),
        };
        (addr, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("the relay address has no host name, {EXAMPLE}"));
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("the relay port {port:?} is not a number from 1 to 65535")),
        }
    }
    Ok(s.to_owned())
}

/// Reads the relay's CA certificate, PEM or DER, and returns its DER.
pub fn load_ca(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|source| AdminError::CaRead { path: path.to_owned(), source })?;
    ca_der(&bytes).map_err(|reason| AdminError::CaFormat { path: path.to_owned(), reason })
}

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// DER of a certificate given as PEM (one `CERTIFICATE` block) or raw DER.
fn ca_der(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.is_empty() {
        return Err("is empty".into());
    }
    let der = match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN ") => pem_certificate(text)?,
        _ => {
            if !looks_like_der(bytes) {
                return Err(format!("is neither a PEM certificate (a {PEM_BEGIN} block) nor a DER certificate"));
            }
            bytes.to_vec()
        }
    };
    if der.len() > MAX_RELAY_CA_LEN {
        return Err(format!(
            "holds a certificate of {} bytes; an invitation carries at most {MAX_RELAY_CA_LEN}",
            der.len()
        ));
    }
    Ok(der)
}

fn pem_certificate(text: &str) -> Result<Vec<u8>, String> {
    if text.contains("PRIVATE KEY-----") {
        return Err(
            "holds a PRIVATE KEY: give the relay's CA certificate only, and keep that key off this machine".into()
        );
    }
    let count = text.matches(PEM_BEGIN).count();
    if count == 0 {
        return Err(format!("is PEM but has no {PEM_BEGIN} block"));
    }
    if count > 1 {
        return Err(format!("holds {count} certificates; give exactly one, the relay's CA certificate"));
    }
    let after = text.split_once(PEM_BEGIN).map(|(_, rest)| rest).unwrap_or_default();
    let Some((body, _)) = after.split_once(PEM_END) else {
        return Err(format!("has no {PEM_END} line"));
    };
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = B64.decode(b64.as_bytes()).map_err(|e| format!("has a PEM block that is not valid base64 ({e})"))?;
    if !looks_like_der(&der) {
        return Err("has a PEM block that does not hold a DER certificate".into());
    }
    Ok(der)
}

/// Whether `bytes` is exactly one DER SEQUENCE (what every X.509
/// certificate is). Not a certificate parser: enough to catch the wrong file.
fn looks_like_der(bytes: &[u8]) -> bool {
    let [0x30, first_len, rest @ ..] = bytes else {
        return false;
    };
    let (len, body) = if first_len & 0x80 == 0 {
        (usize::from(*first_len), rest)
    } else {
        let n = usize::from(first_len & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return false;
        }
        let (len_bytes, body) = rest.split_at(n);
        (len_bytes.iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b)), body)
    };
    len > 0 && len == body.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_urls() {
        for good in ["wss://relay.example:8443", "wss://relay.example", "wss://[::1]:443/belfry", "wss://10.0.0.1:1"] {
            assert_eq!(parse_url(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "ws://relay.example:8443",
            "https://relay.example",
            "relay.example:8443",
            "wss://",
            "wss://:8443",
            "wss://relay.example:0",
            "wss://relay.example:99999",
            "wss://relay.example:port",
            "wss://user:pw@relay.example",
            "wss://relay example",
            "wss://[::1",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert!(parse_url(&format!("wss://{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn der_shape() {
        assert!(looks_like_der(&[0x30, 0x01, 0x00]));
        assert!(looks_like_der(&[&[0x30, 0x81, 0x80][..], &[0; 0x80]].concat()));
        assert!(!looks_like_der(&[0x30, 0x02, 0x00]));
        assert!(!looks_like_der(b"hello world"));
        assert!(!looks_like_der(&[0x30]));
        assert!(!looks_like_der(&[0x30, 0x85, 1, 1, 1, 1, 1]));
    }

    #[test]
    fn refuses_private_keys_and_bundles() {
        let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
        assert!(ca_der(key.as_bytes()).unwrap_err().contains("PRIVATE KEY"));
        let one = "-----BEGIN CERTIFICATE-----\nMAEA\n-----END CERTIFICATE-----\n";
        assert_eq!(ca_der(one.as_bytes()).unwrap(), vec![0x30, 0x01, 0x00]);
        assert!(ca_der(one.repeat(2).as_bytes()).unwrap_err().contains("2 certificates"));
    }
}
