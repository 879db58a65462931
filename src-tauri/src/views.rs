//! What the UI is shown, converted from the engine's views. Ids are their
//! text form, times are milliseconds since the epoch.

use crate::error::UiResult;
use crate::events::{name_in, names};
use belfry_client::Engine;
use belfry_protocol::UserId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use ts_rs::TS;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum MessageStatus {
    /// Stored here, not yet acknowledged by the relay.
    Pending,
    /// The relay has it.
    Sent,
    /// A recipient device has it.
    Delivered,
    /// A recipient read it.
    Read,
    /// Could not be sent (retry).
    Failed,
    /// From someone else.
    Received,
}

impl From<belfry_store::MessageStatus> for MessageStatus {
    fn from(s: belfry_store::MessageStatus) -> Self {
        use belfry_store::MessageStatus as S;
        match s {
            S::Pending => Self::Pending,
            S::Sent => Self::Sent,
            S::Delivered => Self::Delivered,
            S::Read => Self::Read,
            S::Failed => Self::Failed,
            S::Received => Self::Received,
        }
    }
}

/// A message's file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentView {
    /// The name the sender gave.
    pub name: String,
    /// Its media type.
    pub mime: String,
    /// Bytes.
    #[ts(type = "number")]
    pub size: u64,
    /// An image the engine can preview (`belfry-preview://localhost/<message>`).
    pub is_image: bool,
    /// Its ciphertext is on this device.
    pub downloaded: bool,
}

impl From<belfry_client::AttachmentInfo> for AttachmentView {
    fn from(a: belfry_client::AttachmentInfo) -> Self {
        let is_image = matches!(a.mime.as_str(), "image/png" | "image/jpeg" | "image/gif" | "image/webp");
        Self { name: a.name, mime: a.mime, size: a.size, is_image, downloaded: a.local }
    }
}

/// One reaction and who gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReactionView {
    /// The emoji or word.
    pub key: String,
    /// Who reacted so (user ids).
    pub users: Vec<String>,
    /// This user is among them.
    pub mine: bool,
}

/// A message as the timeline shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    /// Its id.
    pub id: String,
    /// Its room.
    pub room: String,
    /// Its sender (user id).
    pub sender: String,
    /// The sender's name.
    pub sender_name: String,
    /// Sent at (the sender's clock), ms.
    #[ts(type = "number")]
    pub sent_at: u64,
    /// Where it stands.
    pub status: MessageStatus,
    /// The text.
    pub body: String,
    /// The message it replies to.
    pub reply_to: Option<String>,
    /// Edited since it was sent.
    pub edited: bool,
    /// Sent by this user.
    pub own: bool,
    /// Its file.
    pub attachment: Option<AttachmentView>,
    /// Reactions, by key.
    pub reactions: Vec<ReactionView>,
    /// Members who read it (own messages).
    pub read_by: Vec<String>,
    /// When it disappears, ms.
    #[ts(type = "number | null")]
    pub expires_at: Option<u64>,
}

impl std::fmt::Debug for MessageView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageView")
            .field("id", &self.id)
            .field("room", &self.room)
            .field("status", &self.status)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish_non_exhaustive()
    }
}

/// The message as the UI shows it: names, reactions, receipts, own or not.
pub(crate) fn message_view_with(
    names: &HashMap<UserId, String>,
    me: &UserId,
    m: belfry_client::MessageView,
) -> MessageView {
    let reactions = m
        .reactions
        .into_iter()
        .map(|r| ReactionView {
            mine: r.users.contains(me),
            key: r.key,
            users: r.users.into_iter().map(|u| u.to_string()).collect(),
        })
        .collect();
    let read_by = m.receipts.iter().filter(|r| r.read).map(|r| r.user.to_string()).collect();
    MessageView {
        id: m.id.to_string(),
        room: m.room.to_string(),
        own: m.sender == *me,
        sender_name: name_in(names, &m.sender),
        sender: m.sender.to_string(),
        sent_at: m.sent_at.0,
        status: m.status.into(),
        body: m.body,
        reply_to: m.reply_to.map(|r| r.to_string()),
        edited: m.edited,
        attachment: m.attachment.map(Into::into),
        reactions,
        read_by,
        expires_at: None,
    }
}

/// One message as the UI shows it.
pub(crate) async fn message_view(engine: &Engine, me: &UserId, m: belfry_client::MessageView) -> UiResult<MessageView> {
    Ok(message_view_with(&names(engine).await, me, m))
}

/// Many messages, in order (names looked up once).
pub(crate) async fn message_views(
    engine: &Engine,
    me: &UserId,
    ms: Vec<belfry_client::MessageView>,
) -> UiResult<Vec<MessageView>> {
    let names = names(engine).await;
    Ok(ms.into_iter().map(|m| message_view_with(&names, me, m)).collect())
}
