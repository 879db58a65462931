//! Running the binary and reading what it wrote.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use belfry_protocol::armor::dearmor;
use belfry_protocol::armor::{INVITATION_LABEL, STATEMENT_LABEL};
use belfry_protocol::{Ed25519Public, Invitation, Statement, Wire as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tempfile::TempDir;

pub const PASSPHRASE: &str = "correct horse battery staple";
pub const RELAY: &str = "wss://relay.ministry.example:8443";

/// A fixture file in `tests/admin/fixtures` (a self-signed Ed25519 CA
/// certificate made with openssl, as PEM and as DER).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/admin/fixtures").join(name)
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "expected success\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Exit code 1, `needle` in the error message, and no panic.
    #[track_caller]
    pub fn fails_with(self, needle: &str) -> Self {
        assert_eq!(self.code, Some(1), "expected exit code 1\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        assert!(self.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "the binary panicked:\n{}", self.stderr);
        self
    }

    /// The path printed after `File:` on stdout.
    #[track_caller]
    pub fn file(&self) -> PathBuf {
        let line = self.stdout.lines().find_map(|l| l.trim().strip_prefix("File:"));
        PathBuf::from(line.unwrap_or_else(|| panic!("no File: line in\n{}", self.stdout)).trim())
    }
}

/// A temporary directory holding one organisation directory, `org/`.
pub struct Env {
    tmp: TempDir,
}

impl Env {
    pub fn new() -> Self {
        Self { tmp: tempfile::tempdir().unwrap() }
    }

    /// A fresh environment with `org init` already run.
    pub fn with_org() -> Self {
        let env = Self::new();
        env.run(&["org", "init", "--name", "Ministry of Tests"]).ok();
        env
    }

    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("org")
    }

    pub fn org_json(&self) -> PathBuf {
        self.dir().join("org.json")
    }

    /// The binary with `--dir`, the passphrase in the environment, the fast
    /// test KDF, and no terminal.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_belfry-admin"));
        cmd.arg("--dir")
            .arg(self.dir())
            .env("BELFRY_ORG_PASSPHRASE", PASSPHRASE)
            .env("BELFRY_ADMIN_INSECURE_FAST_KDF", "1")
            .env_remove("BELFRY_ORG_DIR")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        output(self.cmd().args(args))
    }

    /// `invite` with the PEM fixture for `user`; returns the outcome and the file.
    pub fn invite(&self, user: &str) -> (Outcome, PathBuf) {
        let ca = fixture("relay-ca.pem");
        let out = self
            .run(&["invite", "--user", user, "--name", "Alice Martin", "--relay", RELAY, "--relay-ca", path(&ca)])
            .ok();
        let file = out.file();
        (out, file)
    }

    /// The org public key, read from org.json.
    pub fn org_public(&self) -> Ed25519Public {
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(self.org_json()).unwrap()).unwrap();
        Ed25519Public::from_base64(json["public_key"].as_str().unwrap()).unwrap()
    }
}

pub fn output(cmd: &mut Command) -> Outcome {
    let out = cmd.output().unwrap();
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn read_invitation(file: &Path) -> Invitation {
    let text = std::fs::read_to_string(file).unwrap();
    Invitation::decode(&dearmor(INVITATION_LABEL, &text).unwrap()).unwrap()
}

pub fn read_statement(file: &Path) -> Statement {
    let text = std::fs::read_to_string(file).unwrap();
    Statement::decode(&dearmor(STATEMENT_LABEL, &text).unwrap()).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// `text` with the character at byte `at` replaced by another base64 character.
pub fn flip(text: &str, at: usize) -> String {
    let mut bytes = text.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// Byte offsets of every base64 character between the armor lines.
pub fn body_positions(text: &str) -> Vec<usize> {
    let mut positions = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if !line.starts_with("-----") {
            positions.extend(line.trim_end().char_indices().map(|(i, _)| offset + i));
        }
        offset += line.len();
    }
    positions
}

#[cfg(unix)]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
