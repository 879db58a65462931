//! Messages: send, reply, edit, delete, react, read marks, search.

use crate::error::{UiError, UiResult};
use crate::host::Host;
use crate::input;
use crate::views::{MessageView, message_view, message_views};
use belfry_client::Engine;
use belfry_protocol::{MessageId, RoomId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tauri::State;
use ts_rs::TS;

/// `send_text`.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SendTextArgs {
    /// Room id.
    pub room: String,
    /// The text.
    pub body: String,
    /// The message it replies to.
    pub reply_to: Option<String>,
}

/// `messages_before`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MessagesBeforeArgs {
    /// Room id.
    pub room: String,
    /// The oldest message shown so far (`null`: the newest page).
    pub before: Option<String>,
    /// Most messages.
    pub limit: u32,
}

/// `messages_around`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MessagesAroundArgs {
    /// Room id.
    pub room: String,
    /// The message to put in the middle (a search hit).
    pub message: String,
    /// Most messages.
    pub limit: u32,
}

/// `retry`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RetryArgs {
    /// One of this user's failed messages.
    pub message: String,
}

/// `edit_message`.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct EditMessageArgs {
    /// Room id.
    pub room: String,
    /// One of this user's messages.
    pub message: String,
    /// The new text.
    pub body: String,
}

impl std::fmt::Debug for SendTextArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendTextArgs").field("room", &self.room).field("body", &self.body.len()).finish()
    }
}

impl std::fmt::Debug for EditMessageArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EditMessageArgs").field("message", &self.message).field("body", &self.body.len()).finish()
    }
}

impl std::fmt::Debug for SearchArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchArgs").field("query", &self.query.len()).field("limit", &self.limit).finish()
    }
}

/// `delete_message`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct DeleteMessageArgs {
    /// Room id.
    pub room: String,
    /// One of this user's messages.
    pub message: String,
}

/// `react`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct ReactArgs {
    /// Room id.
    pub room: String,
    /// The message.
    pub message: String,
    /// One short emoji or word.
    pub key: String,
}

/// `mark_read`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MarkReadArgs {
    /// Room id.
    pub room: String,
    /// Everything up to and including this message is read.
    pub up_to: String,
}

/// `search`.
#[derive(Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SearchArgs {
    /// Words to find.
    pub query: String,
    /// Most hits.
    pub limit: u32,
}

/// A search hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// The message.
    pub message: MessageView,
    /// Its room's name.
    pub room_name: String,
}

/// The view of a message just written by this device (the newest of its
/// room, or close to it).
pub(crate) async fn fresh_view(host: &Host, engine: &Engine, room: &RoomId, id: MessageId) -> UiResult<MessageView> {
    let me = host.me().await?;
    let recent = engine.messages_before(room, None, 64).await?;
    let m = recent
        .into_iter()
        .rev()
        .find(|m| m.id == id)
        .ok_or_else(|| UiError::internal("the message was stored but is not in its room"))?;
    message_view(engine, &me.user, m).await
}

/// `messages_before`: a page of history just before `before`, oldest
/// first.
#[tauri::command]
pub async fn messages_before(host: State<'_, Arc<Host>>, args: MessagesBeforeArgs) -> UiResult<Vec<MessageView>> {
    let room = input::room(&args.room)?;
    let before = args.before.as_deref().map(input::message).transpose()?;
    let limit = input::limit("limit", args.limit, input::MAX_PAGE)?;
    let engine = host.engine().await?;
    let me = host.me().await?;
    message_views(&engine, &me.user, engine.messages_before(&room, before, limit).await?).await
}

/// `messages_around`: a page with `message` in the middle, oldest first.
#[tauri::command]
pub async fn messages_around(host: State<'_, Arc<Host>>, args: MessagesAroundArgs) -> UiResult<Vec<MessageView>> {
    let (room, message) = (input::room(&args.room)?, input::message(&args.message)?);
    let limit = input::limit("limit", args.limit, input::MAX_PAGE)?;
    let engine = host.engine().await?;
    let me = host.me().await?;
    message_views(&engine, &me.user, engine.messages_around(&room, message, limit).await?).await
}

/// `retry`: sends a failed message again.
#[tauri::command]
pub async fn retry(host: State<'_, Arc<Host>>, args: RetryArgs) -> UiResult<()> {
    let message = input::message(&args.message)?;
    Ok(host.engine().await?.retry(message).await?)
}

/// `send_text`: queues a message (or a reply); its view, pending.
#[tauri::command]
pub async fn send_text(host: State<'_, Arc<Host>>, args: SendTextArgs) -> UiResult<MessageView> {
    let room = input::room(&args.room)?;
    let body = input::text("body", &args.body, input::MAX_TEXT, false)?;
    let reply_to = args.reply_to.as_deref().map(input::message).transpose()?;
    let engine = host.engine().await?;
    let id = match reply_to {
        Some(to) => engine.reply(room, to, body).await?,
        None => engine.send_text(room, body).await?,
    };
    fresh_view(&host, &engine, &room, id).await
}

/// `edit_message`: replaces the text of one of this user's messages.
#[tauri::command]
pub async fn edit_message(host: State<'_, Arc<Host>>, args: EditMessageArgs) -> UiResult<()> {
    let (room, message) = (input::room(&args.room)?, input::message(&args.message)?);
    let body = input::text("body", &args.body, input::MAX_TEXT, false)?;
    Ok(host.engine().await?.edit(room, message, body).await?)
}

/// `delete_message`: deletes one of this user's messages for everyone.
#[tauri::command]
pub async fn delete_message(host: State<'_, Arc<Host>>, args: DeleteMessageArgs) -> UiResult<()> {
    let (room, message) = (input::room(&args.room)?, input::message(&args.message)?);
    Ok(host.engine().await?.delete(room, message).await?)
}

/// `react`: this user's reaction (replaces an earlier one).
#[tauri::command]
pub async fn react(host: State<'_, Arc<Host>>, args: ReactArgs) -> UiResult<()> {
    let (room, message) = (input::room(&args.room)?, input::message(&args.message)?);
    let key = input::text("key", &args.key, 64, false)?;
    Ok(host.engine().await?.react(room, message, key).await?)
}

/// `mark_read`: others' messages up to `upTo` are read (their senders
/// are told).
#[tauri::command]
pub async fn mark_read(host: State<'_, Arc<Host>>, args: MarkReadArgs) -> UiResult<()> {
    let (room, up_to) = (input::room(&args.room)?, input::message(&args.up_to)?);
    host.engine().await?.mark_read(room, up_to).await?;
    host.unread_changed();
    Ok(())
}

/// `search`: full-text search over every room.
#[tauri::command]
pub async fn search(host: State<'_, Arc<Host>>, args: SearchArgs) -> UiResult<Vec<SearchHit>> {
    let query = input::text("query", &args.query, input::MAX_QUERY, false)?;
    let limit = input::limit("limit", args.limit, input::MAX_HITS)?;
    let engine = host.engine().await?;
    let me = host.me().await?;
    let names: std::collections::HashMap<RoomId, String> =
        engine.rooms().await?.into_iter().map(|r| (r.id, r.name)).collect();
    let views = message_views(&engine, &me.user, engine.search(query, limit).await?).await?;
    Ok(views
        .into_iter()
        .map(|message| {
            let room_name = input::room(&message.room).ok().and_then(|r| names.get(&r).cloned()).unwrap_or_default();
            SearchHit { message, room_name }
        })
        .collect())
}
