//! The host's state: the open engine (none while locked), the one event
//! channel to the window, the settings, and the idle timer. Nothing here
//! encrypts, stores or speaks the protocol: it holds the engine and
//! forwards.

use crate::commands::session::{AppState, KeyMode, Phase, ProfileSummary};
use crate::commands::settings::{NotificationMode, Settings};
use crate::error::{ErrorCode, UiError, UiResult};
use crate::events::{self, UiEvent};
use belfry_client::profile::{KeySource, Profile, Unlock};
use belfry_client::{Engine, Event};
use belfry_protocol::{Ed25519Public, MessageId, RoomId, UserId};
use belfry_store::KeychainBackend;
use belfry_store::passphrase::KdfCost;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tauri::ipc::Channel;
use tokio::sync::broadcast::error::RecvError;

/// The settings file in the profile directory (nothing secret in it).
pub const SETTINGS_FILE: &str = "desktop-settings.json";

/// How the host was started.
pub struct HostConfig {
    /// The profile directory (one enrolled device).
    pub profile_dir: PathBuf,
    /// The organisation key this app trusts (from the build, the command
    /// line or `BELFRY_ORG_KEY`); without it nothing can be enrolled.
    pub org_key: Option<Ed25519Public>,
    /// The organisation's name as IT configured it.
    pub org_name: String,
    /// Argon2id cost of a new passphrase-wrapped key.
    pub kdf: KdfCost,
    /// Where keychain-mode store keys live (`None`: the OS keychain).
    pub keychain: Option<Arc<dyn KeychainBackend>>,
}

impl std::fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostConfig")
            .field("profile_dir", &self.profile_dir)
            .field("org_key", &self.org_key.map(|k| k.fingerprint()))
            .field("org_name", &self.org_name)
            .finish_non_exhaustive()
    }
}

/// What the desktop around the window does for the host: notifications,
/// the tray's unread count, whether the window has the focus. Tests use
/// [`NoShell`].
pub trait Shell: Send + Sync {
    /// Shows a notification that opens `room` when clicked.
    fn notify(&self, title: &str, body: &str, room: RoomId);
    /// The unread count changed.
    fn unread(&self, count: u32);
    /// The app locked or unlocked (the tray's menu follows).
    fn locked(&self, locked: bool);
    /// Whether the main window has the focus.
    fn focused(&self) -> bool;
}

/// No desktop: nothing is shown.
#[derive(Debug, Default)]
pub struct NoShell;

impl Shell for NoShell {
    fn notify(&self, _: &str, _: &str, _: RoomId) {}
    fn unread(&self, _: u32) {}
    fn locked(&self, _: bool) {}
    fn focused(&self) -> bool {
        false
    }
}

/// Who this device is, while known (learnt at unlock; nothing identifying
/// is written in clear next to the profile).
#[derive(Debug, Clone)]
pub(crate) struct Me {
    pub user: UserId,
    pub display_name: String,
    pub device: belfry_protocol::DeviceId,
    pub device_name: String,
}

#[derive(Default)]
struct Session {
    engine: Option<Engine>,
    me: Option<Me>,
    /// Wiped or revoked: the engine stopped for good.
    ended: Option<Phase>,
    forwarder: Option<tokio::task::JoinHandle<()>>,
}

/// The host. One per app, managed by Tauri.
pub struct Host {
    pub(crate) config: HostConfig,
    session: tokio::sync::Mutex<Session>,
    channel: Mutex<Option<Channel<UiEvent>>>,
    /// Wakes the tray's unread counter.
    unread: tokio::sync::Notify,
    /// Links that came before the window listened.
    kept: Mutex<Vec<UiEvent>>,
    settings: Mutex<Settings>,
    shell: Arc<dyn Shell>,
    activity: Mutex<Instant>,
    /// Received messages already notified (an edit does not notify again).
    notified: Mutex<VecDeque<MessageId>>,
    /// The seven emoji of flows being compared, kept for after this side
    /// confirmed (the engine shows them only while comparing).
    pub(crate) emojis: Mutex<HashMap<belfry_protocol::FlowId, Vec<events::EmojiView>>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Host {
    /// A host for `config`; settings are read from the profile directory.
    pub fn new(config: HostConfig, shell: Arc<dyn Shell>) -> Arc<Self> {
        let settings = Settings::load(&config.profile_dir.join(SETTINGS_FILE));
        Arc::new(Self {
            config,
            session: tokio::sync::Mutex::new(Session::default()),
            channel: Mutex::new(None),
            kept: Mutex::new(Vec::new()),
            unread: tokio::sync::Notify::new(),
            settings: Mutex::new(settings),
            shell,
            activity: Mutex::new(Instant::now()),
            notified: Mutex::new(VecDeque::new()),
            emojis: Mutex::new(HashMap::new()),
        })
    }

    /// The profile as the engine sees it.
    pub(crate) fn profile(&self) -> Profile {
        match &self.config.keychain {
            Some(k) => Profile::with_keychain(&self.config.profile_dir, k.clone()),
            None => Profile::new(&self.config.profile_dir),
        }
    }

    /// Where the app stands.
    pub async fn phase(&self) -> Phase {
        let s = self.session.lock().await;
        self.phase_of(&s)
    }

    fn phase_of(&self, s: &Session) -> Phase {
        if let Some(p) = s.ended {
            return p;
        }
        if s.engine.is_some() {
            return Phase::Unlocked;
        }
        if self.profile().exists() { Phase::Locked } else { Phase::Welcome }
    }

    /// The phase and the profile, for `app_state`.
    pub async fn app_state(&self) -> AppState {
        let s = self.session.lock().await;
        let phase = self.phase_of(&s);
        let profile = match phase {
            Phase::Welcome => None,
            _ if !self.profile().exists() && s.me.is_none() => None,
            _ => Some(self.summary_of(s.me.as_ref())),
        };
        AppState { phase, profile }
    }

    /// The profile summary; identity fields are empty until this process
    /// has unlocked once (they are not kept in clear on disk).
    pub(crate) fn summary_of(&self, me: Option<&Me>) -> ProfileSummary {
        let profile = self.profile();
        let key_mode = match profile.needs_passphrase() {
            Ok(false) => KeyMode::Keychain,
            _ => KeyMode::Passphrase,
        };
        ProfileSummary {
            user: me.map(|m| m.user.to_string()).unwrap_or_default(),
            display_name: me.map(|m| m.display_name.clone()).unwrap_or_default(),
            device: me.map(|m| m.device.to_string()).unwrap_or_default(),
            device_name: me.map(|m| m.device_name.clone()).unwrap_or_default(),
            org_name: self.config.org_name.clone(),
            key_mode,
            has_passcode: profile.has_passcode(),
        }
    }

    /// Who this device is (unlocked only).
    pub(crate) async fn me(&self) -> UiResult<Me> {
        let s = self.session.lock().await;
        match (&s.engine, &s.me) {
            (Some(_), Some(me)) => Ok(me.clone()),
            _ => Err(self.closed_error(&s)),
        }
    }

    fn closed_error(&self, s: &Session) -> UiError {
        match s.ended {
            Some(Phase::Wiped) => UiError::new(ErrorCode::Wiped, "this device was wiped by order of the organisation"),
            Some(Phase::Revoked) => UiError::new(ErrorCode::Revoked, "this device was revoked by the organisation"),
            _ if !self.profile().exists() => UiError::new(ErrorCode::NotEnrolled, "no device is enrolled yet"),
            _ => UiError::locked(),
        }
    }

    /// The open engine, or `locked` (or `wiped`, `revoked`, `notEnrolled`).
    pub async fn engine(&self) -> UiResult<Engine> {
        let s = self.session.lock().await;
        s.engine.clone().ok_or_else(|| self.closed_error(&s))
    }

    /// Opens the profile with `source` and starts forwarding its events.
    /// A wrong secret is `wrongSecret`; nothing stays open.
    pub(crate) async fn open(self: &Arc<Self>, unlock: &Unlock) -> UiResult<()> {
        let mut s = self.session.lock().await;
        if s.engine.is_some() {
            return Ok(());
        }
        if let Some(_ended) = s.ended {
            return Err(self.closed_error(&s));
        }
        let engine = match Engine::unlock_paused(self.profile(), unlock).await {
            Ok(e) => e,
            Err(belfry_client::ClientError::Wiped) => {
                s.ended = Some(Phase::Wiped);
                self.forget_local_files();
                return Err(self.closed_error(&s));
            }
            Err(e) => return Err(e.into()),
        };
        let me = match who(&engine).await {
            Ok(me) => me,
            Err(e) => {
                engine.lock().await;
                return Err(e);
            }
        };
        if engine.own_state().await.is_ok_and(|o| o.revoked) {
            engine.lock().await;
            s.ended = Some(Phase::Revoked);
            return Err(self.closed_error(&s));
        }
        let rx = engine.subscribe();
        engine.start().await;
        s.forwarder = Some(tokio::spawn(self.clone().forward(engine.clone(), rx)));
        s.engine = Some(engine);
        s.me = Some(me);
        drop(s);
        self.touch();
        self.shell.locked(false);
        self.unread_changed();
        Ok(())
    }

    /// Locks: the engine drops its keys and closes its store; the window
    /// is told (`locked`).
    pub async fn lock(&self) {
        let mut s = self.session.lock().await;
        let Some(engine) = s.engine.take() else { return };
        if let Some(f) = s.forwarder.take() {
            f.abort();
        }
        engine.lock().await;
        drop(engine);
        drop(s);
        self.emojis.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        self.shell.locked(true);
        self.shell.unread(0);
        self.emit(UiEvent::Locked);
    }

    /// The engine stopped for good (wiped or revoked).
    async fn end(&self, phase: Phase) {
        let mut s = self.session.lock().await;
        s.ended = Some(phase);
        s.forwarder = None;
        if let Some(engine) = s.engine.take() {
            engine.lock().await;
        }
        drop(s);
        if phase == Phase::Wiped {
            self.forget_local_files();
        }
        self.shell.locked(true);
        self.shell.unread(0);
    }

    /// After a wipe: the host's own file goes too, so the directory can
    /// hold a new enrollment.
    fn forget_local_files(&self) {
        let _ = std::fs::remove_file(self.config.profile_dir.join(SETTINGS_FILE));
    }

    /// Sets the window's event channel (a new subscription replaces the
    /// old one).
    pub fn set_channel(&self, channel: Channel<UiEvent>) {
        *self.channel.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(channel);
        let kept = std::mem::take(&mut *self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for event in kept {
            self.emit(event);
        }
    }

    /// Sends an event, or keeps it (a few) until the window listens: a
    /// link opened at launch arrives before the UI subscribes.
    pub fn emit_or_keep(&self, event: UiEvent) {
        let listening = self.channel.lock().unwrap_or_else(std::sync::PoisonError::into_inner).is_some();
        if listening {
            self.emit(event);
        } else {
            let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if kept.len() < 8 {
                kept.push(event);
            }
        }
    }

    /// Sends an event to the window, if one listens.
    pub fn emit(&self, event: UiEvent) {
        let channel = self.channel.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if let Some(c) = channel
            && let Err(e) = c.send(event)
        {
            tracing::debug!(error = %e, "the window did not take an event");
        }
    }

    /// The current settings.
    pub fn settings(&self) -> Settings {
        self.settings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the settings; written to the profile directory once a
    /// device is enrolled there (before that they stay in memory: the
    /// enrollment needs an empty directory).
    pub fn set_settings(&self, settings: Settings) -> UiResult<()> {
        if self.profile().exists() {
            settings.save(&self.config.profile_dir.join(SETTINGS_FILE))?;
        }
        *self.settings.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = settings;
        Ok(())
    }

    /// After enrollment: what was chosen before is written.
    pub(crate) fn persist_settings(&self) {
        if let Err(e) = self.settings().save(&self.config.profile_dir.join(SETTINGS_FILE)) {
            tracing::warn!(error = ?e, "the settings could not be written");
        }
    }

    /// The person did something (the UI reports input; focus counts too).
    pub fn touch(&self) {
        *self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    /// Time since the last activity.
    pub fn idle_for(&self) -> Duration {
        self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner).elapsed()
    }

    /// Locks if the idle time the settings allow has passed; whether it
    /// locked.
    pub async fn lock_if_idle(&self) -> bool {
        let minutes = self.settings().lock_after_minutes;
        if minutes == 0
            || self.idle_for() < Duration::from_secs(u64::from(minutes) * 60)
            || self.phase().await != Phase::Unlocked
        {
            return false;
        }
        tracing::info!("locking after {minutes} idle minutes");
        self.lock().await;
        true
    }

    /// Checks [`lock_if_idle`](Self::lock_if_idle) every `tick`, for the
    /// life of the app.
    pub async fn idle_timer(self: Arc<Self>, tick: Duration) {
        loop {
            tokio::time::sleep(tick).await;
            self.lock_if_idle().await;
        }
    }

    /// Moves the last activity `by` into the past (tests of the idle lock).
    #[doc(hidden)]
    pub fn backdate_activity(&self, by: Duration) {
        let mut at = self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(earlier) = at.checked_sub(by) {
            *at = earlier;
        }
    }

    /// The unread count may have changed: the tray is updated soon.
    pub fn unread_changed(&self) {
        self.unread.notify_one();
    }

    /// Keeps the tray's unread count (the sum over the room summaries),
    /// at most twice a second, for the life of the app.
    pub async fn unread_counter(self: Arc<Self>) {
        loop {
            self.unread.notified().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let Ok(engine) = self.engine().await else { continue };
            if let Ok(rooms) = engine.room_summaries().await {
                self.shell.unread(rooms.iter().map(|r| r.unread).fold(0u32, u32::saturating_add));
            }
        }
    }

    /// Forwards the engine's events to the window until the engine locks.
    async fn forward(self: Arc<Self>, engine: Engine, mut rx: tokio::sync::broadcast::Receiver<Event>) {
        let me = match engine.user().await {
            Ok(u) => u,
            Err(_) => return,
        };
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the window missed engine events; it reloads");
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            match &event {
                Event::Wiped | Event::WipeIncomplete(_) => {
                    self.end(Phase::Wiped).await;
                    self.emit(UiEvent::Wiped);
                    return;
                }
                Event::Revoked => {
                    self.end(Phase::Revoked).await;
                    self.emit(UiEvent::Revoked);
                    return;
                }
                Event::Message(m) => {
                    self.maybe_notify(&engine, &me, m).await;
                    self.unread_changed();
                }
                Event::Status(..) | Event::Removed(_) | Event::Room(_) | Event::CaughtUp => self.unread_changed(),
                _ => {}
            }
            if let Some(ui) = events::convert(&self, &engine, &me, event).await {
                self.emit(ui);
            }
        }
    }

    async fn maybe_notify(&self, engine: &Engine, me: &UserId, m: &belfry_client::MessageView) {
        if m.sender == *me || m.status != belfry_store::MessageStatus::Received {
            return;
        }
        {
            let mut seen = self.notified.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if seen.contains(&m.id) {
                return;
            }
            seen.push_back(m.id);
            if seen.len() > 512 {
                seen.pop_front();
            }
        }
        if self.shell.focused() {
            return;
        }
        let room_name = engine.room(&m.room).await.map(|r| r.name).unwrap_or_default();
        let sender = events::sender_name(engine, &m.sender).await;
        if let Some((title, body)) = notification(self.settings().notifications, &sender, &room_name, &m.body) {
            self.shell.notify(&title, &body, m.room);
        }
    }
}

/// What a notification says under `mode`: nothing when off; the sender
/// (and room) only by default; the text only when the person chose it.
pub fn notification(mode: NotificationMode, sender: &str, room: &str, body: &str) -> Option<(String, String)> {
    let title = if room.is_empty() || room == sender { sender.to_owned() } else { format!("{sender} in {room}") };
    match mode {
        NotificationMode::Off => None,
        NotificationMode::SenderOnly => Some((title, String::new())),
        NotificationMode::WithContent => {
            let shown: String = body.chars().take(140).collect();
            Some((title, shown))
        }
    }
}

/// This device's identity, read from its public certificate chain.
pub(crate) async fn who(engine: &Engine) -> UiResult<Me> {
    let chain = engine.device_chain().await?;
    let device = chain.device.peek_unverified().map_err(|e| UiError::internal(e.to_string()))?;
    let enrollment = chain.enrollment.peek_unverified().map_err(|e| UiError::internal(e.to_string()))?;
    Ok(Me {
        user: device.user.clone(),
        display_name: enrollment.display_name.to_string(),
        device: device.device.clone(),
        device_name: device.device_name.to_string(),
    })
}

/// Shortest app passcode (keychain mode).
pub const MIN_PASSCODE: usize = 4;

/// How a new profile keeps its key, and the options, for `mode` and
/// `secret` (the passphrase, or the app passcode in keychain mode).
pub(crate) fn enroll_source(
    host: &Host,
    mode: KeyMode,
    secret: Option<&str>,
) -> UiResult<(KeySource, belfry_client::EnrollOptions, Unlock)> {
    let secret = secret.unwrap_or_default();
    crate::input::text("secret", secret, crate::input::MAX_SECRET, false)?;
    let secret = zeroize::Zeroizing::new(secret.to_owned());
    match mode {
        KeyMode::Passphrase => Ok((
            KeySource::Passphrase { passphrase: secret.clone(), cost: host.config.kdf },
            belfry_client::EnrollOptions::default(),
            Unlock::Passphrase(secret),
        )),
        KeyMode::Keychain => {
            if secret.chars().count() < MIN_PASSCODE {
                return Err(UiError::input(format!("secret: an app passcode has at least {MIN_PASSCODE} characters")));
            }
            let options =
                belfry_client::EnrollOptions { passcode: Some(secret.clone()), passcode_cost: host.config.kdf };
            Ok((KeySource::Keychain, options, Unlock::Keychain { passcode: Some(secret) }))
        }
    }
}

/// What opens the enrolled profile, from the person's `secret`. A
/// keychain profile without an app passcode is not opened here: unlocking
/// needs something the person knows.
pub(crate) fn unlock_for(host: &Host, secret: &str) -> UiResult<Unlock> {
    crate::input::text("secret", secret, crate::input::MAX_SECRET, false)?;
    let secret = zeroize::Zeroizing::new(secret.to_owned());
    let profile = host.profile();
    match profile.needs_passphrase() {
        Ok(true) => Ok(Unlock::Passphrase(secret)),
        Ok(false) if profile.has_passcode() => Ok(Unlock::Keychain { passcode: Some(secret) }),
        Ok(false) => Err(UiError::new(
            ErrorCode::Forbidden,
            "this profile keeps its key in the keychain without an app passcode; the desktop app unlocks only with \
             something you know: enroll this device again from the app",
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_show_content_only_when_chosen() {
        let body = "the minister lands at 9";
        assert_eq!(notification(NotificationMode::Off, "Alice", "Crisis", body), None);
        let (title, text) = notification(NotificationMode::SenderOnly, "Alice", "Crisis", body).unwrap();
        assert_eq!(title, "Alice in Crisis");
        assert!(text.is_empty(), "sender only shows no text");
        let (_, text) = notification(NotificationMode::WithContent, "Alice", "Crisis", body).unwrap();
        assert_eq!(text, body);
        assert_eq!(Settings::default().notifications, NotificationMode::SenderOnly);
    }
}
