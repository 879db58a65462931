//! Devices and person-to-person verification.

use crate::error::UiResult;
use crate::events::{VerificationView, verification_view};
use crate::host::Host;
use crate::input;
use belfry_client::Engine;
use belfry_protocol::UserId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tauri::State;
use ts_rs::TS;

/// How far a device is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum DeviceTrust {
    /// Certified by the organisation and verified in person.
    Verified,
    /// Certified by the organisation.
    Trusted,
    /// Revoked: nothing is encrypted to it or accepted from it.
    Revoked,
}

/// A device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviceView {
    /// Device id.
    pub device: String,
    /// Its name as its owner gave it.
    pub name: String,
    /// Trust.
    pub trust: DeviceTrust,
    /// One of this user's devices.
    pub own: bool,
    /// This very device.
    pub current: bool,
}

/// `devices`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DevicesArgs {
    /// User id.
    pub user: String,
}

/// `start_verification`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct StartVerificationArgs {
    /// User id.
    pub user: String,
    /// Device id.
    pub device: String,
}

/// `accept_verification`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AcceptVerificationArgs {
    /// Flow id.
    pub flow: String,
}

/// `confirm_verification`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmVerificationArgs {
    /// Flow id.
    pub flow: String,
    /// The emoji match on both screens.
    pub matches: bool,
}

/// `cancel_verification`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CancelVerificationArgs {
    /// Flow id.
    pub flow: String,
}

/// `export_device`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ExportDeviceArgs {
    /// Where to write this device's certificate chain (absolute; chosen
    /// in the save dialog; never overwritten).
    pub path: String,
}

/// What IT compares when it confirms this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeviceExport {
    /// The device key's fingerprint (IT's `belfry-admin confirm` shows it).
    pub fingerprint: String,
    /// The file written.
    pub path: String,
}

/// Every device of `user` with its trust (revoked ones too).
pub(crate) async fn device_views(engine: &Engine, user: &UserId) -> UiResult<Vec<DeviceView>> {
    Ok(engine
        .device_list(user)
        .await?
        .into_iter()
        .map(|d| DeviceView {
            device: d.device.to_string(),
            name: d.name,
            trust: match d.trust {
                belfry_client::DeviceTrust::Verified => DeviceTrust::Verified,
                belfry_client::DeviceTrust::Trusted => DeviceTrust::Trusted,
                belfry_client::DeviceTrust::Revoked => DeviceTrust::Revoked,
            },
            own: d.own,
            current: d.current,
        })
        .collect())
}

/// `devices`: a user's devices and their trust.
#[tauri::command]
pub async fn devices(host: State<'_, Arc<Host>>, args: DevicesArgs) -> UiResult<Vec<DeviceView>> {
    let user = input::user(&args.user)?;
    let engine = host.engine().await?;
    device_views(&engine, &user).await
}

/// `start_verification`: asks another device to compare emoji; the flow id.
#[tauri::command]
pub async fn start_verification(host: State<'_, Arc<Host>>, args: StartVerificationArgs) -> UiResult<String> {
    let (user, device) = (input::user(&args.user)?, input::device(&args.device)?);
    Ok(host.engine().await?.start_verification(&user, &device).await?.to_string())
}

/// `accept_verification`: accepts a request from another device.
#[tauri::command]
pub async fn accept_verification(host: State<'_, Arc<Host>>, args: AcceptVerificationArgs) -> UiResult<()> {
    let flow = input::flow(&args.flow)?;
    Ok(host.engine().await?.accept_verification(flow).await?)
}

/// `confirm_verification`: the person says whether the emoji match (a
/// mismatch cancels on both sides).
#[tauri::command]
pub async fn confirm_verification(host: State<'_, Arc<Host>>, args: ConfirmVerificationArgs) -> UiResult<()> {
    let flow = input::flow(&args.flow)?;
    let engine = host.engine().await?;
    if args.matches { Ok(engine.confirm_sas(flow).await?) } else { Ok(engine.cancel_verification(flow).await?) }
}

/// `cancel_verification`.
#[tauri::command]
pub async fn cancel_verification(host: State<'_, Arc<Host>>, args: CancelVerificationArgs) -> UiResult<()> {
    let flow = input::flow(&args.flow)?;
    Ok(host.engine().await?.cancel_verification(flow).await?)
}

/// `verifications`: those in progress.
#[tauri::command]
pub async fn verifications(host: State<'_, Arc<Host>>) -> UiResult<Vec<VerificationView>> {
    let engine = host.engine().await?;
    Ok(engine.verifications().await?.iter().map(|v| verification_view(&host, v)).collect())
}

/// `export_device`: writes this device's public certificate chain (the
/// `.belfry-device` file the CLI writes at enrollment) for IT to confirm
/// with `belfry-admin confirm`; nothing secret is in it.
#[tauri::command]
pub async fn export_device(host: State<'_, Arc<Host>>, args: ExportDeviceArgs) -> UiResult<DeviceExport> {
    use belfry_protocol::Wire as _;
    use std::io::Write as _;
    let path = input::path("path", &args.path)?;
    let chain = host.engine().await?.device_chain().await?;
    let fingerprint = chain
        .device
        .peek_unverified()
        .map(|c| c.ed25519.fingerprint())
        .map_err(|e| crate::error::UiError::internal(e.to_string()))?;
    let armored = belfry_protocol::armor::armor(belfry_protocol::armor::DEVICE_LABEL, &chain.encode());
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| f.write_all(armored.as_bytes()).and_then(|()| f.sync_all()));
    match written {
        Ok(()) => Ok(DeviceExport { fingerprint, path: path.display().to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(crate::error::UiError::new(
            crate::error::ErrorCode::FileExists,
            format!("{} exists; choose another name", path.display()),
        )),
        Err(e) => Err(crate::error::UiError::internal(format!("cannot write {}: {e}", path.display()))),
    }
}
