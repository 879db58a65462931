//! `org init` and `org show`, and how the secret key is kept at rest.

use crate::support::{Env, PASSPHRASE, fixture, path};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

fn printed_key(stdout: &str) -> String {
    let line = stdout.lines().find_map(|l| l.strip_prefix("Public key:")).expect("a Public key: line");
    line.trim().to_owned()
}

#[test]
fn init_then_show_print_the_same_public_key() {
    let env = Env::new();
    let init = env.run(&["org", "init", "--name", "Ministry of Tests"]).ok();
    let show = env.run(&["org", "show"]).ok();
    let key = printed_key(&init.stdout);
    assert_eq!(key, printed_key(&show.stdout));
    assert_eq!(key, env.org_public().to_base64());
    let fingerprint = env.org_public().fingerprint();
    assert!(init.stdout.contains(&fingerprint) && show.stdout.contains(&fingerprint));
    assert!(show.stdout.contains("Ministry of Tests"));
    assert!(init.stdout.contains("managed policy"), "init must say where the public key goes");
}

#[test]
fn show_needs_no_passphrase() {
    let env = Env::with_org();
    let out = crate::support::output(env.cmd().env_remove("BELFRY_ORG_PASSPHRASE").args(["org", "show"])).ok();
    assert!(out.stdout.contains(&env.org_public().to_base64()));
}

#[test]
fn init_refuses_to_overwrite_an_existing_org() {
    let env = Env::with_org();
    let before = std::fs::read(env.org_json()).unwrap();
    env.run(&["org", "init"]).fails_with("already exists");
    assert_eq!(std::fs::read(env.org_json()).unwrap(), before);
}

#[cfg(unix)]
#[test]
fn org_directory_and_file_are_private() {
    let env = Env::with_org();
    assert_eq!(crate::support::mode(&env.dir()), 0o700);
    assert_eq!(crate::support::mode(&env.org_json()), 0o600);
}

/// The only 32-byte value anywhere in org.json, in any encoding, is the
/// public key; the encrypted secret is 48 bytes (32 + the Poly1305 tag).
#[test]
fn org_json_holds_no_plaintext_32_byte_secret() {
    let env = Env::with_org();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(env.org_json()).unwrap()).unwrap();
    let public = env.org_public();
    let mut strings = Vec::new();
    collect_strings(&json, &mut strings);
    for s in &strings {
        for decoded in [
            STANDARD.decode(s).ok(),
            STANDARD_NO_PAD.decode(s).ok(),
            URL_SAFE.decode(s).ok(),
            URL_SAFE_NO_PAD.decode(s).ok(),
            hex(s),
        ]
        .into_iter()
        .flatten()
        {
            if decoded.len() == 32 {
                assert_eq!(decoded, public.as_bytes(), "org.json holds a 32-byte value other than the public key: {s}");
            }
        }
    }
    let ciphertext = STANDARD.decode(json["secret_key"]["ciphertext"].as_str().unwrap()).unwrap();
    assert_eq!(ciphertext.len(), 48);
    // No array of numbers could hide the key either.
    assert!(!std::fs::read_to_string(env.org_json()).unwrap().contains('['));
}

fn collect_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

fn hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok()).collect()
}

#[test]
fn kdf_parameters_are_recorded_and_used_to_unlock() {
    let env = Env::with_org();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(env.org_json()).unwrap()).unwrap();
    let kdf = &json["secret_key"]["kdf"];
    assert_eq!(kdf["algorithm"], "argon2id");
    assert_eq!(
        (kdf["m_cost_kib"].as_u64(), kdf["t_cost"].as_u64(), kdf["p_cost"].as_u64()),
        (Some(64), Some(1), Some(1))
    );
    assert_eq!(STANDARD.decode(kdf["salt"].as_str().unwrap()).unwrap().len(), 16);
    assert_eq!(STANDARD.decode(json["secret_key"]["nonce"].as_str().unwrap()).unwrap().len(), 24);
    // `show` flags the weak test parameters.
    assert!(env.run(&["org", "show"]).ok().stdout.contains("WARNING"));
    // Unlocking without the test variable still uses the stored parameters.
    let ca = fixture("relay-ca.pem");
    crate::support::output(env.cmd().env_remove("BELFRY_ADMIN_INSECURE_FAST_KDF").args([
        "invite",
        "--user",
        "bob",
        "--name",
        "Bob",
        "--relay",
        crate::support::RELAY,
        "--relay-ca",
        path(&ca),
        "--no-qr",
    ]))
    .ok();
}

#[test]
fn without_the_test_variable_init_uses_the_default_kdf_cost() {
    let env = Env::new();
    crate::support::output(env.cmd().env_remove("BELFRY_ADMIN_INSECURE_FAST_KDF").args(["org", "init"])).ok();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(env.org_json()).unwrap()).unwrap();
    let kdf = &json["secret_key"]["kdf"];
    assert_eq!(
        (kdf["m_cost_kib"].as_u64(), kdf["t_cost"].as_u64(), kdf["p_cost"].as_u64()),
        (Some(65536), Some(3), Some(1))
    );
    assert!(!env.run(&["org", "show"]).ok().stdout.contains("WARNING"));
}

#[test]
fn init_refuses_a_short_passphrase() {
    let env = Env::new();
    crate::support::output(env.cmd().env("BELFRY_ORG_PASSPHRASE", "short").args(["org", "init"]))
        .fails_with("at least 12 characters");
    assert!(!env.org_json().exists());
}

#[test]
fn passphrase_file_first_line_is_the_passphrase() {
    let env = Env::new();
    let file = env.tmp().join("passphrase.txt");
    std::fs::write(&file, format!("{PASSPHRASE}-from-file\r\nsecond line is ignored\n")).unwrap();
    let pass = ["--passphrase-file", path(&file)];
    crate::support::output(env.cmd().env_remove("BELFRY_ORG_PASSPHRASE").args(["org", "init"]).args(pass)).ok();
    // The same passphrase given through the environment unlocks it: the
    // line end was stripped and only the first line was taken.
    crate::support::output(env.cmd().env("BELFRY_ORG_PASSPHRASE", format!("{PASSPHRASE}-from-file")).args([
        "wipe",
        "--device",
        "alice/DEV1",
    ]))
    .ok();
    // The file wins over the environment.
    crate::support::output(
        env.cmd()
            .env("BELFRY_ORG_PASSPHRASE", "something else entirely")
            .args(["wipe", "--device", "alice/DEV2"])
            .args(pass),
    )
    .ok();
}

#[test]
fn missing_passphrase_without_a_terminal_names_the_three_options() {
    let env = Env::with_org();
    let out =
        crate::support::output(env.cmd().env_remove("BELFRY_ORG_PASSPHRASE").args(["wipe", "--device", "alice/DEV1"]))
            .fails_with("no passphrase available");
    for option in ["--passphrase-file", "BELFRY_ORG_PASSPHRASE", "terminal"] {
        assert!(out.stderr.contains(option), "{option} missing from: {}", out.stderr);
    }
}

#[test]
fn commands_without_an_org_say_to_run_init() {
    let env = Env::new();
    let expected = format!("no organisation in {}: run `belfry-admin org init` first", env.dir().display());
    env.run(&["org", "show"]).fails_with(&expected);
    env.run(&["wipe", "--device", "alice/DEV1"]).fails_with(&expected);
}

#[test]
fn corrupted_org_json_is_reported() {
    let env = Env::with_org();
    let good = std::fs::read_to_string(env.org_json()).unwrap();
    std::fs::write(env.org_json(), &good[..good.len() / 2]).unwrap();
    env.run(&["org", "show"]).fails_with("is corrupted: not valid JSON");
    std::fs::write(env.org_json(), good.replace("\"version\": 1", "\"version\": 7")).unwrap();
    env.run(&["org", "show"]).fails_with("format version 7 is not supported");
    std::fs::write(env.org_json(), good.replace("\"algorithm\": \"argon2id\"", "\"algorithm\": \"pbkdf2\"")).unwrap();
    env.run(&["wipe", "--device", "alice/DEV1"]).fails_with("unsupported key derivation");
}

#[test]
fn dir_can_come_from_the_environment() {
    let env = Env::with_org();
    let out = crate::support::output(
        std::process::Command::new(env!("CARGO_BIN_EXE_belfry-admin"))
            .env("BELFRY_ORG_DIR", env.dir())
            .args(["org", "show"]),
    )
    .ok();
    assert!(out.stdout.contains(&env.org_public().to_base64()));
}
