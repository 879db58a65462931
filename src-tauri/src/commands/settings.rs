//! Settings: a plain JSON file in the profile directory (nothing secret).

use crate::error::{UiError, UiResult};
use crate::events::{AlertView, alert_view};
use crate::host::Host;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use tauri::State;
use ts_rs::TS;

/// The interface's language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Language {
    /// English.
    #[default]
    En,
    /// Français.
    Fr,
    /// Nederlands.
    Nl,
    /// Deutsch.
    De,
}

/// Light, dark, or as the system says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Theme {
    /// Light.
    Light,
    /// Dark.
    Dark,
    /// Follow the system.
    #[default]
    System,
}

/// What a notification shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum NotificationMode {
    /// None.
    Off,
    /// The sender (and room), never the text.
    #[default]
    SenderOnly,
    /// The sender and the text (only if the person chose it).
    WithContent,
}

/// The app's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Language.
    pub language: Language,
    /// Theme.
    pub theme: Theme,
    /// Notifications.
    pub notifications: NotificationMode,
    /// Lock after this many idle minutes (0: never).
    pub lock_after_minutes: u32,
    /// Closing the window keeps Belfry running in the tray.
    pub close_to_tray: bool,
    /// Show message text in the room list.
    pub show_previews: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            language: Language::En,
            theme: Theme::System,
            notifications: NotificationMode::SenderOnly,
            lock_after_minutes: 10,
            close_to_tray: true,
            show_previews: true,
        }
    }
}

/// Longest idle time a person may choose: a day.
pub const MAX_LOCK_MINUTES: u32 = 24 * 60;

impl Settings {
    /// The settings in `path`, or the defaults (a missing or damaged file).
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Self>(&b).ok())
            .filter(|s| s.validate().is_ok())
            .unwrap_or_default()
    }

    /// Writes them (a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> UiResult<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| UiError::internal(e.to_string()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|e| UiError::internal(format!("cannot write the settings: {e}")))
    }

    /// Within their bounds.
    pub fn validate(&self) -> UiResult<()> {
        if self.lock_after_minutes > MAX_LOCK_MINUTES {
            return Err(UiError::input(format!("lockAfterMinutes: 0 to {MAX_LOCK_MINUTES}")));
        }
        Ok(())
    }
}

/// `set_settings`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SetSettingsArgs {
    /// The new settings.
    pub settings: Settings,
}

/// `dismiss_alert`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DismissAlertArgs {
    /// The alert's id.
    #[ts(type = "number")]
    pub id: u64,
}

/// `alerts`: the kept alerts, newest first.
#[tauri::command]
pub async fn alerts(host: State<'_, Arc<Host>>) -> UiResult<Vec<AlertView>> {
    let engine = host.engine().await?;
    Ok(engine.alerts()?.iter().map(|a| alert_view(a.id, a.at.0, &a.alert)).collect())
}

/// `dismiss_alert`: the alert is no longer listed.
#[tauri::command]
pub async fn dismiss_alert(host: State<'_, Arc<Host>>, args: DismissAlertArgs) -> UiResult<()> {
    if args.id == 0 || args.id > (1 << 53) {
        return Err(UiError::input("id: not an alert id"));
    }
    Ok(host.engine().await?.dismiss_alert(args.id)?)
}

/// `settings`: the current settings.
#[tauri::command]
pub async fn settings(host: State<'_, Arc<Host>>) -> UiResult<Settings> {
    Ok(host.settings())
}

/// `set_settings`: replaces them.
#[tauri::command]
pub async fn set_settings(host: State<'_, Arc<Host>>, args: SetSettingsArgs) -> UiResult<()> {
    args.settings.validate()?;
    host.set_settings(args.settings)
}
