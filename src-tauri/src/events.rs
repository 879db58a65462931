//! The one stream of events to the window (`UiEvent`, over a
//! `tauri::ipc::Channel`), converted from the engine's events.

use crate::host::Host;
use crate::views::{MessageStatus, MessageView, message_view};
use belfry_client::{Alert, Engine, Event, VerificationState as S};
use belfry_protocol::UserId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use ts_rs::TS;

/// Which way a file moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum TransferDirection {
    /// Upload.
    Up,
    /// Download.
    Down,
}

/// What kind of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum AlertKind {
    /// A new device of a contact or of this user.
    NewDevice,
    /// A device was revoked or wiped.
    DeviceRevoked,
    /// A room's history conflicts.
    StateConflict,
    /// Something from the relay was refused.
    Rejected,
    /// Messages are missing or out of order.
    Delivery,
    /// A message could not be decrypted.
    Undecryptable,
    /// A verification failed a check.
    VerificationFailed,
}

/// Something the person should know about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AlertView {
    /// Its number (for `dismiss_alert`).
    #[ts(type = "number")]
    pub id: u64,
    /// When, ms.
    #[ts(type = "number")]
    pub at: u64,
    /// What kind.
    pub kind: AlertKind,
    /// The room it concerns.
    pub room: Option<String>,
    /// The user it concerns.
    pub user: Option<String>,
    /// The device it concerns.
    pub device: Option<String>,
    /// For people (English; the UI translates the kind).
    pub detail: String,
}

/// The view of an engine alert.
pub(crate) fn alert_view(id: u64, at: u64, alert: &Alert) -> AlertView {
    let (kind, room, user, device, detail) = match alert {
        Alert::NewDevice { user, device, name, own } => (
            AlertKind::NewDevice,
            None,
            Some(user.to_string()),
            Some(device.to_string()),
            if *own { format!("a new device of yours: {name}") } else { format!("a new device: {name}") },
        ),
        Alert::DeviceRevoked { user, device } => (
            AlertKind::DeviceRevoked,
            None,
            Some(user.to_string()),
            Some(device.to_string()),
            format!("device {device} of {user} was revoked"),
        ),
        Alert::StateConflict { room, detail } => {
            (AlertKind::StateConflict, Some(room.to_string()), None, None, detail.clone())
        }
        Alert::Rejected { detail } => (AlertKind::Rejected, None, None, None, detail.clone()),
        Alert::Delivery { room, sender, detail } => {
            (AlertKind::Delivery, Some(room.to_string()), Some(sender.to_string()), None, detail.clone())
        }
        Alert::Undecryptable { room, sender, reason } => {
            (AlertKind::Undecryptable, Some(room.to_string()), Some(sender.to_string()), None, reason.clone())
        }
        Alert::VerificationFailed { user, device, detail } => {
            (AlertKind::VerificationFailed, None, Some(user.to_string()), Some(device.to_string()), detail.clone())
        }
    };
    AlertView { id, at, kind, room, user, device, detail }
}

/// Where a verification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum VerificationState {
    /// Asked (by either side), not accepted yet.
    Requested,
    /// Accepted; keys being exchanged.
    Accepted,
    /// Compare the emoji (or, once this side confirmed, wait for the other).
    Comparing,
    /// Verified.
    Done,
    /// Over without verifying.
    Cancelled,
}

/// One of the seven emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EmojiView {
    /// The emoji.
    pub symbol: String,
    /// Its English name (the UI translates).
    pub name: String,
}

/// A person-to-person verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct VerificationView {
    /// The flow.
    pub flow: String,
    /// The other device's user.
    pub user: String,
    /// The other device.
    pub device: String,
    /// This device asked.
    pub we_started: bool,
    /// Where it stands.
    pub state: VerificationState,
    /// Seven emoji while comparing, else none.
    pub emojis: Vec<EmojiView>,
    /// Why it ended, when cancelled.
    pub cancel_reason: Option<String>,
}

/// The view of an engine verification (emoji kept by the host once this
/// side confirmed, so both screens keep showing them).
pub(crate) fn verification_view(host: &Host, v: &belfry_client::VerificationView) -> VerificationView {
    let mut cancel_reason = None;
    let mut emojis = Vec::new();
    let state = match &v.state {
        S::Requested => VerificationState::Requested,
        S::Waiting if v.we_started => VerificationState::Requested,
        S::Waiting => VerificationState::Accepted,
        S::ShowSas { emoji, .. } => {
            emojis = emoji.iter().map(|(s, n)| EmojiView { symbol: (*s).to_owned(), name: (*n).to_owned() }).collect();
            host.emojis.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(v.flow, emojis.clone());
            VerificationState::Comparing
        }
        S::Confirmed => {
            emojis = host
                .emojis
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&v.flow)
                .cloned()
                .unwrap_or_default();
            VerificationState::Comparing
        }
        S::Verified => VerificationState::Done,
        S::Cancelled { reason, by_them } => {
            let why = belfry_client::describe_cancel(*reason);
            cancel_reason = Some(if *by_them { format!("{why} (the other device)") } else { why.to_owned() });
            VerificationState::Cancelled
        }
    };
    if matches!(state, VerificationState::Done | VerificationState::Cancelled) {
        host.emojis.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&v.flow);
    }
    VerificationView {
        flow: v.flow.to_string(),
        user: v.user.to_string(),
        device: v.device.to_string(),
        we_started: v.we_started,
        state,
        emojis,
        cancel_reason,
    }
}

/// What the window is told, as it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum UiEvent {
    /// The relay connection changed.
    Connection {
        /// Connected and signed in.
        online: bool,
        /// Everything the relay held is processed.
        caught_up: bool,
    },
    /// A message arrived or changed.
    Message {
        /// The message.
        message: MessageView,
    },
    /// A message's status changed.
    Status {
        /// The message id.
        message: String,
        /// Its status.
        status: MessageStatus,
    },
    /// A message was deleted (by its sender, or its time was up).
    Removed {
        /// The message id.
        message: String,
    },
    /// Someone reacted to a message.
    Reaction {
        /// The message id.
        message: String,
    },
    /// A room changed (members, name, settings, conflict).
    Room {
        /// The room id.
        room: String,
    },
    /// Something the person should know.
    Alert {
        /// The alert.
        alert: AlertView,
    },
    /// A file transfer moved on.
    Transfer {
        /// The message.
        message: String,
        /// Which way.
        direction: TransferDirection,
        /// Bytes done.
        #[ts(type = "number")]
        done: u64,
        /// Bytes in all.
        #[ts(type = "number")]
        total: u64,
        /// Cancelled (`cancel_transfer`): its last event, `done` short of
        /// `total`.
        cancelled: bool,
    },
    /// A verification moved on.
    Verification {
        /// Where it stands.
        verification: VerificationView,
    },
    /// The app locked (idle, the tray, a command).
    Locked,
    /// This device was wiped by order of the organisation.
    Wiped,
    /// This device was revoked.
    Revoked,
    /// Open this room (a notification or a link was clicked).
    OpenRoom {
        /// The room id.
        room: String,
    },
    /// A `belfry://invite/...` link was opened: show this invitation
    /// (validated in Rust; pass it to `inspect_invitation`).
    Invitation {
        /// The link.
        #[ts(type = "string")]
        text: SecretText,
    },
}

/// Text that holds a secret (an invitation carries its enrollment key):
/// a string for the UI, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} bytes>", self.0.len())
    }
}

/// People's names as their certificates give them (the engine's
/// directory), by user id.
pub(crate) async fn names(engine: &Engine) -> HashMap<UserId, String> {
    engine
        .directory_users()
        .await
        .map(|c| c.into_iter().map(|c| (c.user, c.display_name)).collect())
        .unwrap_or_default()
}

/// A user's name as the UI shows it (the user id for someone this device
/// knows no certificate of).
pub(crate) fn name_in(names: &HashMap<UserId, String>, user: &UserId) -> String {
    names.get(user).cloned().unwrap_or_else(|| user.to_string())
}

/// One user's name.
pub(crate) async fn sender_name(engine: &Engine, user: &UserId) -> String {
    name_in(&names(engine).await, user)
}

/// The window's view of an engine event (`None`: nothing to show).
pub(crate) async fn convert(host: &Host, engine: &Engine, me: &UserId, event: Event) -> Option<UiEvent> {
    Some(match event {
        Event::Connected | Event::Disconnected(_) | Event::CaughtUp => {
            let s = *engine.status().borrow();
            UiEvent::Connection { online: s.online, caught_up: s.caught_up }
        }
        Event::Message(m) => match message_view(engine, me, m).await {
            Ok(message) => UiEvent::Message { message },
            Err(e) => {
                tracing::debug!(error = %e, "a message event could not be shown");
                return None;
            }
        },
        Event::Status(id, status) => UiEvent::Status { message: id.to_string(), status: status.into() },
        Event::Removed(id) => UiEvent::Removed { message: id.to_string() },
        Event::Reaction(id) => UiEvent::Reaction { message: id.to_string() },
        Event::Room(id) => UiEvent::Room { room: id.to_string() },
        // Shown once kept, with the id that dismisses it.
        Event::Alert(_) => return None,
        Event::AlertStored(kept) => UiEvent::Alert { alert: alert_view(kept.id, kept.at.0, &kept.alert) },
        Event::Revoked => UiEvent::Revoked,
        Event::Transfer(t) => UiEvent::Transfer {
            message: t.message.to_string(),
            direction: match t.direction {
                belfry_client::Direction::Upload => TransferDirection::Up,
                belfry_client::Direction::Download => TransferDirection::Down,
            },
            done: t.done,
            total: t.total,
            cancelled: t.cancelled,
        },
        Event::Verification { flow, user, device, state } => {
            let view = match engine.verification(flow).await {
                Ok(Some(v)) => v,
                // Ended and forgotten already: what the event says.
                _ => belfry_client::VerificationView { flow, user, device, we_started: false, state },
            };
            UiEvent::Verification { verification: verification_view(host, &view) }
        }
        Event::Wiped | Event::WipeIncomplete(_) => UiEvent::Wiped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_invitation() {
        let link = "belfry://invite/SECRETSECRET";
        let e = UiEvent::Invitation { text: SecretText(link.into()) };
        assert!(!format!("{e:?}").contains("SECRET"));
        assert_eq!(serde_json::to_value(&e).unwrap(), serde_json::json!({ "type": "invitation", "text": link }));
    }
}
