//! The session: welcome, enrollment, lock and unlock, the event stream,
//! status.

use crate::error::{ErrorCode, UiError, UiResult};
use crate::events::UiEvent;
use crate::host::{Host, enroll_source, unlock_for};
use crate::input;
use belfry_client::Engine;
use belfry_protocol::armor::{INVITATION_LABEL, dearmor};
use belfry_protocol::{Invitation, Wire as _};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tauri::State;
use tauri::ipc::Channel;
use ts_rs::TS;

/// Where the app stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// No device enrolled: show the welcome (enrollment) screens.
    Welcome,
    /// Enrolled and locked: ask for the passphrase or passcode.
    Locked,
    /// Open.
    Unlocked,
    /// Wiped by order of the organisation: the profile is gone.
    Wiped,
    /// Revoked by the organisation: this device stops.
    Revoked,
}

/// How the store key is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum KeyMode {
    /// In the OS keychain, unlocked with an app passcode.
    Keychain,
    /// Wrapped under a passphrase.
    Passphrase,
}

/// The enrolled device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ProfileSummary {
    /// User id ("" while locked before the first unlock of this run).
    pub user: String,
    /// The user's name as IT registered it.
    pub display_name: String,
    /// Device id.
    pub device: String,
    /// Device name.
    pub device_name: String,
    /// The organisation's name as configured.
    pub org_name: String,
    /// How the store key is kept.
    pub key_mode: KeyMode,
    /// Keychain mode with an app passcode.
    pub has_passcode: bool,
}

/// The phase and the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AppState {
    /// Where the app stands.
    pub phase: Phase,
    /// The enrolled device, if any.
    pub profile: Option<ProfileSummary>,
}

/// `inspect_invitation`.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct InspectInvitationArgs {
    /// The invitation file's content, or a `belfry://invite/...` link.
    pub text: String,
}

impl std::fmt::Debug for InspectInvitationArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InspectInvitationArgs").field("text", &format_args!("<{} bytes>", self.text.len())).finish()
    }
}

/// What an invitation says, checked against the organisation key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct InvitationInfo {
    /// The organisation's name as configured in this app.
    pub org_name: String,
    /// The organisation key's fingerprint (compare with IT's).
    pub org_fingerprint: String,
    /// The relay.
    pub relay_url: String,
    /// The user this device will belong to.
    pub user: String,
    /// Until when it can be used, ms.
    #[ts(type = "number")]
    pub expires_at: u64,
}

/// `enroll`.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EnrollArgs {
    /// The invitation (file content or link).
    pub text: String,
    /// A name for this device, shown to contacts.
    pub device_name: String,
    /// Keychain or passphrase.
    pub key_mode: KeyMode,
    /// The passphrase (passphrase mode) or app passcode (keychain mode).
    pub secret: Option<String>,
}

impl std::fmt::Debug for EnrollArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollArgs").field("key_mode", &self.key_mode).finish_non_exhaustive()
    }
}

/// Enrollment progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum EnrollStep {
    /// Checking the invitation.
    Checking,
    /// Reaching the relay.
    Connecting,
    /// Registering the device.
    Registering,
    /// Storing the keys.
    StoringKeys,
    /// Done.
    Done,
}

/// `unlock`.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UnlockArgs {
    /// The passphrase or passcode.
    pub secret: String,
}

impl std::fmt::Debug for UnlockArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnlockArgs")
    }
}

/// What `belfry status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// Connected.
    pub online: bool,
    /// Everything the relay held is processed.
    pub caught_up: bool,
    /// The relay.
    pub relay_url: String,
    /// User id.
    pub user: String,
    /// Device id.
    pub device: String,
    /// Device name.
    pub device_name: String,
    /// Organisation name.
    pub org_name: String,
    /// Organisation key fingerprint.
    pub org_fingerprint: String,
    /// Messages waiting for the relay.
    pub pending_count: u32,
    /// This app's version.
    pub version: String,
}

/// The invitation in `text`: an armored file, or a `belfry://invite/`
/// link carrying the same bytes in URL-safe base64.
pub(crate) fn parse_invitation(text: &str) -> UiResult<Invitation> {
    input::text("text", text, input::MAX_INVITATION_TEXT, false)?;
    let malformed = |detail: String| UiError::new(ErrorCode::InvitationMalformed, detail);
    let bytes = zeroize::Zeroizing::new(match crate::links::parse(text.trim()) {
        Some(crate::links::Link::Invite(bytes)) => bytes,
        Some(crate::links::Link::Room(_)) => {
            return Err(malformed("this link opens a room; it is not an invitation".into()));
        }
        None => dearmor(INVITATION_LABEL, text).map_err(|e| malformed(e.to_string()))?,
    });
    Invitation::decode(&bytes).map_err(|e| malformed(e.to_string()))
}

/// The invitation checked against the organisation key this app trusts.
fn check_invitation(host: &Host, invitation: &Invitation) -> UiResult<InvitationInfo> {
    let org = host.config.org_key.ok_or_else(|| {
        UiError::new(
            ErrorCode::InvitationOtherOrg,
            "this app has no organisation key configured (BELFRY_ORG_KEY); ask IT",
        )
    })?;
    let claimed = invitation
        .enrollment
        .peek_unverified()
        .map_err(|e| UiError::new(ErrorCode::InvitationMalformed, e.to_string()))?;
    if claimed.org != org {
        return Err(UiError::new(
            ErrorCode::InvitationOtherOrg,
            format!("issued by organisation {}, this app trusts {}", claimed.org.fingerprint(), org.fingerprint()),
        ));
    }
    let cert = invitation.enrollment.verify(&org).map_err(|e| {
        UiError::new(ErrorCode::InvitationMalformed, format!("the organisation's signature does not verify: {e}"))
    })?;
    let now = now_ms();
    if now > cert.expires_at.0 {
        return Err(UiError::new(ErrorCode::InvitationExpired, "the invitation has expired; ask IT for a new one"));
    }
    Ok(InvitationInfo {
        org_name: host.config.org_name.clone(),
        org_fingerprint: org.fingerprint(),
        relay_url: cert.relay.url.clone(),
        user: cert.user.to_string(),
        expires_at: cert.expires_at.0,
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What an enrollment failure means for the person.
fn enroll_error(e: belfry_client::ClientError) -> UiError {
    use belfry_client::ClientError as C;
    let detail = e.to_string();
    let code = match &e {
        C::Crypto(belfry_crypto::CryptoError::Invitation(m)) if m.contains("expired") => ErrorCode::InvitationExpired,
        C::Crypto(belfry_crypto::CryptoError::Invitation(m)) if m.contains("relay certificate") => {
            ErrorCode::CertificateMismatch
        }
        C::Crypto(belfry_crypto::CryptoError::Invitation(m)) if m.contains("organisation") => {
            ErrorCode::InvitationOtherOrg
        }
        C::Crypto(_) => ErrorCode::InvitationMalformed,
        C::Refused(p) => match p.code {
            belfry_protocol::ErrorCode::InvitationExpired => ErrorCode::InvitationExpired,
            belfry_protocol::ErrorCode::InvitationUsed
            | belfry_protocol::ErrorCode::NotFound
            | belfry_protocol::ErrorCode::Forbidden => ErrorCode::InvitationRevoked,
            _ => ErrorCode::RelayUnreachable,
        },
        C::Offline(m) | C::Relay(m) if m.contains("certificate") || m.contains("UnknownIssuer") => {
            ErrorCode::CertificateMismatch
        }
        C::Offline(_) | C::Relay(_) => ErrorCode::RelayUnreachable,
        _ => return UiError::from(e),
    };
    UiError::new(code, detail)
}

/// `app_state`: the phase and the enrolled device.
#[tauri::command]
pub async fn app_state(host: State<'_, Arc<Host>>) -> UiResult<AppState> {
    Ok(host.app_state().await)
}

/// `inspect_invitation`: what an invitation says, checked.
#[tauri::command]
pub async fn inspect_invitation(host: State<'_, Arc<Host>>, args: InspectInvitationArgs) -> UiResult<InvitationInfo> {
    let invitation = parse_invitation(&args.text)?;
    check_invitation(&host, &invitation)
}

/// `enroll`: this device joins the organisation; progress on `on_progress`.
#[tauri::command]
pub async fn enroll(
    host: State<'_, Arc<Host>>,
    args: EnrollArgs,
    on_progress: Channel<EnrollStep>,
) -> UiResult<ProfileSummary> {
    let step = |s: EnrollStep| {
        let _ = on_progress.send(s);
    };
    let name = input::display_name("deviceName", &args.device_name)?;
    let (source, options, unlock) = enroll_source(&host, args.key_mode, args.secret.as_deref())?;
    if host.phase().await != crate::commands::session::Phase::Welcome {
        return Err(UiError::new(ErrorCode::AlreadyEnrolled, "a device is enrolled in this profile already"));
    }
    step(EnrollStep::Checking);
    let invitation = parse_invitation(&args.text)?;
    check_invitation(&host, &invitation)?;
    let org = host.config.org_key.ok_or_else(|| UiError::new(ErrorCode::InvitationOtherOrg, "no organisation key"))?;
    step(EnrollStep::Connecting);
    step(EnrollStep::Registering);
    let engine =
        Engine::enroll_with(host.profile(), &invitation, org, name, &source, &options).await.map_err(enroll_error)?;
    drop(invitation);
    step(EnrollStep::StoringKeys);
    // The host's own open follows, with events subscribed before anything
    // is processed: this one closes its store and drops its keys first.
    engine.lock().await;
    drop(engine);
    host.persist_settings();
    host.open(&unlock).await?;
    step(EnrollStep::Done);
    let me = host.me().await?;
    Ok(host.summary_of(Some(&me)))
}

/// `unlock`: opens the profile with the passphrase (or passcode).
#[tauri::command]
pub async fn unlock(host: State<'_, Arc<Host>>, args: UnlockArgs) -> UiResult<()> {
    input::text("secret", &args.secret, input::MAX_SECRET, false)?;
    match host.phase().await {
        Phase::Unlocked => return Ok(()),
        Phase::Locked => {}
        Phase::Welcome => return Err(UiError::new(ErrorCode::NotEnrolled, "no device is enrolled yet")),
        Phase::Wiped => return Err(UiError::new(ErrorCode::Wiped, "this device was wiped")),
        Phase::Revoked => return Err(UiError::new(ErrorCode::Revoked, "this device was revoked")),
    }
    let unlock = unlock_for(&host, &args.secret)?;
    host.open(&unlock).await
}

/// `lock`: drops the engine (keys, sessions, plaintext) until unlocked.
#[tauri::command]
pub async fn lock(host: State<'_, Arc<Host>>) -> UiResult<()> {
    host.lock().await;
    Ok(())
}

/// `events`: the one stream of events; a new call replaces the old one.
#[tauri::command]
pub async fn events(host: State<'_, Arc<Host>>, channel: Channel<UiEvent>) -> UiResult<()> {
    host.set_channel(channel);
    if let Ok(engine) = host.engine().await {
        let s = *engine.status().borrow();
        host.emit(UiEvent::Connection { online: s.online, caught_up: s.caught_up });
    }
    Ok(())
}

/// `report_activity`: the person used the window (keys, pointer); the
/// idle lock counts from here.
#[tauri::command]
pub async fn report_activity(host: State<'_, Arc<Host>>) -> UiResult<()> {
    host.touch();
    Ok(())
}

/// `status`: what `belfry status` shows.
#[tauri::command]
pub async fn status(host: State<'_, Arc<Host>>) -> UiResult<StatusView> {
    let engine = host.engine().await?;
    let me = host.me().await?;
    let s = *engine.status().borrow();
    Ok(StatusView {
        online: s.online,
        caught_up: s.caught_up,
        relay_url: engine.relay_url().to_owned(),
        user: me.user.to_string(),
        device: me.device.to_string(),
        device_name: me.device_name,
        org_name: host.config.org_name.clone(),
        org_fingerprint: host.config.org_key.map(|k| k.fingerprint()).unwrap_or_default(),
        pending_count: u32::try_from(engine.pending_count()?).unwrap_or(u32::MAX),
        version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}
