//! What the client benchmarks share: a real `belfry-relay` process (built
//! from the current source) and engines enrolled through it.

#![allow(dead_code)]

use belfry_client::Engine;
use belfry_client::profile::{KeySource, Profile};
use belfry_crypto::{InvitationRequest, OrgKey};
use belfry_protocol::armor::{REGISTRATION_LABEL, armor};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::{DisplayName, Registration, UserId, Wire as _};
use belfry_store::passphrase::KdfCost;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

pub fn now() -> Timestamp {
    Timestamp(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
    )
}

/// The store's key wrapping cost is not what is measured.
pub fn key_source() -> KeySource {
    KeySource::Passphrase { passphrase: zeroize::Zeroizing::new("bench".into()), cost: KdfCost::INSECURE_FAST }
}

/// The relay binary next to this benchmark's target directory. Under
/// `cargo bench` it is (re)built first, so the relay measured is always the
/// current source, not whatever an earlier build left there; run directly,
/// the binary must already exist.
/// `BELFRY_RELAY_BIN` names another relay binary (a quick check with a
/// debug build).
pub fn relay_bin() -> Res<PathBuf> {
    if let Some(bin) = std::env::var_os("BELFRY_RELAY_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let exe = std::env::current_exe()?;
    let target = exe.ancestors().nth(3).ok_or("no target directory")?.to_owned();
    let bin = target.join("release").join("belfry-relay");
    if let Ok(cargo) = std::env::var("CARGO") {
        let ok = Command::new(cargo)
            .args(["build", "--release", "-p", "belfry-relay", "--bin", "belfry-relay", "--target-dir"])
            .arg(&target)
            .status()?;
        if !ok.success() {
            return Err("cannot build belfry-relay".into());
        }
    }
    if !bin.exists() {
        return Err(format!("{} is missing: run this benchmark with cargo bench", bin.display()).into());
    }
    Ok(bin)
}

pub struct Relay {
    pub child: Child,
    pub dir: PathBuf,
    pub url: String,
    pub ca_der: Vec<u8>,
    pub bin: PathBuf,
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_relay(root: &Path, org: &OrgKey) -> Res<Relay> {
    let bin = relay_bin()?;
    let dir = root.join("relay");
    let out = Command::new(&bin)
        .args(["init", "--dir"])
        .arg(&dir)
        .args(["--name", "localhost", "--listen", "127.0.0.1:0", "--org-key", &org.public().to_base64()])
        .output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    let mut child =
        Command::new(&bin).args(["serve", "--dir"]).arg(&dir).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let port = loop {
        let line = lines.next().ok_or("the relay exited")??;
        if let Some(rest) = line.strip_prefix("belfry-relay listening on wss://") {
            break rest.trim_end_matches("/v1/ws").rsplit(':').next().unwrap_or_default().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let pem = std::fs::read_to_string(dir.join("ca.pem"))?;
    use base64::Engine as _;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let ca_der = base64::engine::general_purpose::STANDARD.decode(b64)?;
    Ok(Relay { child, dir, url: format!("wss://localhost:{port}"), ca_der, bin })
}

pub async fn enroll(relay: &Relay, org: &OrgKey, root: &Path, user: &str) -> Res<Engine> {
    enroll_with(relay, org, root, user, &key_source()).await
}

/// [`enroll`] with the store key wrapped as `source` says.
pub async fn enroll_with(relay: &Relay, org: &OrgKey, root: &Path, user: &str, source: &KeySource) -> Res<Engine> {
    let invitation = org.invite(
        &InvitationRequest {
            user: UserId::new(user)?,
            display_name: DisplayName::new(user)?,
            relay_url: relay.url.clone(),
            relay_ca_der: relay.ca_der.clone(),
            valid_for_ms: 3_600_000,
        },
        now(),
    )?;
    let file = root.join(format!("{user}.belfry-registration"));
    std::fs::write(
        &file,
        armor(REGISTRATION_LABEL, &Registration { enrollment: invitation.enrollment.clone() }.encode()),
    )?;
    let out = Command::new(&relay.bin).args(["register", "--dir"]).arg(&relay.dir).arg(&file).output()?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
    }
    let engine =
        Engine::enroll(Profile::new(&root.join(user)), &invitation, org.public(), DisplayName::new("Laptop")?, source)
            .await?;
    engine.wait_caught_up(Duration::from_secs(30)).await;
    Ok(engine)
}
