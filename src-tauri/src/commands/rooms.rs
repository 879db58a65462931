//! Rooms: details, creation, membership and settings.

use crate::commands::devices::{DeviceView, device_views};
use crate::error::{UiError, UiResult};
use crate::host::Host;
use crate::input;
use belfry_protocol::room::{Role as EngineRole, RoomKind as EngineKind};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tauri::State;
use ts_rs::TS;

/// Direct or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum RoomKind {
    /// Two people.
    Direct,
    /// A named group.
    Group,
}

impl From<EngineKind> for RoomKind {
    fn from(k: EngineKind) -> Self {
        match k {
            EngineKind::Direct => Self::Direct,
            EngineKind::Group => Self::Group,
        }
    }
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum Role {
    /// Changes membership and settings.
    Admin,
    /// Sends messages.
    Member,
}

impl From<EngineRole> for Role {
    fn from(r: EngineRole) -> Self {
        match r {
            EngineRole::Admin => Self::Admin,
            EngineRole::Member => Self::Member,
        }
    }
}

/// A member and their devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    /// User id.
    pub user: String,
    /// Name.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Devices and their trust.
    pub devices: Vec<DeviceView>,
}

/// A room with its members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoomDetails {
    /// Room id.
    pub id: String,
    /// Direct or group.
    pub kind: RoomKind,
    /// Name.
    pub name: String,
    /// Classification label.
    pub classification: Option<String>,
    /// Disappearing-message timer, seconds.
    #[ts(type = "number | null")]
    pub retention_secs: Option<u64>,
    /// Why the room does not send now (its history is in conflict).
    pub conflict: Option<String>,
    /// This user's role.
    pub my_role: Role,
    /// Members.
    pub members: Vec<MemberView>,
}

/// A room's newest message, as the room list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct MessagePreview {
    /// Sender (user id).
    pub sender: String,
    /// Sender's name.
    pub sender_name: String,
    /// The text, shortened ("" when previews are off).
    pub text: String,
    /// When, ms.
    #[ts(type = "number")]
    pub at: u64,
    /// It carries a file.
    pub has_attachment: bool,
}

/// A room as the room list shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    /// Room id.
    pub id: String,
    /// Direct or group.
    pub kind: RoomKind,
    /// Name.
    pub name: String,
    /// Classification label.
    pub classification: Option<String>,
    /// Disappearing-message timer, seconds.
    #[ts(type = "number | null")]
    pub retention_secs: Option<u64>,
    /// Why the room does not send now (its history is in conflict).
    pub conflict: Option<String>,
    /// Members.
    pub member_count: u32,
    /// The newest message.
    pub last: Option<MessagePreview>,
    /// Messages of others not read yet.
    pub unread: u32,
    /// Last activity, ms.
    #[ts(type = "number")]
    pub last_activity: u64,
}

/// A person of the organisation (for a new chat).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// User id.
    pub user: String,
    /// Name.
    pub display_name: String,
}

/// Longest text of a room list preview, characters.
pub const PREVIEW_CHARS: usize = 120;

/// `room_details`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RoomDetailsArgs {
    /// Room id.
    pub room: String,
}

/// `create_group`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct CreateGroupArgs {
    /// The group's name.
    pub name: String,
    /// Members besides this user (user ids).
    pub members: Vec<String>,
}

/// `open_direct`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OpenDirectArgs {
    /// The other person.
    pub user: String,
}

/// `add_member`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct AddMemberArgs {
    /// Room id.
    pub room: String,
    /// User id.
    pub user: String,
}

/// `remove_member`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RemoveMemberArgs {
    /// Room id.
    pub room: String,
    /// User id.
    pub user: String,
}

/// `rename_room`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct RenameRoomArgs {
    /// Room id (a group room).
    pub room: String,
    /// The new name (the protocol's rules for names).
    pub name: String,
}

/// `set_retention`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SetRetentionArgs {
    /// Room id.
    pub room: String,
    /// Seconds; `null` keeps messages.
    #[ts(type = "number | null")]
    pub secs: Option<u64>,
}

/// `set_classification`.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SetClassificationArgs {
    /// Room id.
    pub room: String,
    /// The label; `null` removes it.
    pub label: Option<String>,
}

/// Longest disappearing timer: a year.
const MAX_RETENTION_SECS: u64 = 365 * 24 * 3600;

/// `room_summaries`: every room with its newest message and unread count,
/// the most recently active first.
#[tauri::command]
pub async fn room_summaries(host: State<'_, Arc<Host>>) -> UiResult<Vec<RoomSummary>> {
    let engine = host.engine().await?;
    let show = host.settings().show_previews;
    let names = crate::events::names(&engine).await;
    Ok(engine
        .room_summaries()
        .await?
        .into_iter()
        .map(|s| RoomSummary {
            id: s.room.id.to_string(),
            kind: s.room.kind.into(),
            name: s.room.name,
            classification: s.room.classification,
            retention_secs: s.room.retention_secs,
            conflict: s.room.conflict,
            member_count: u32::try_from(s.room.members.len()).unwrap_or(u32::MAX),
            last: s.last.map(|m| MessagePreview {
                sender_name: crate::events::name_in(&names, &m.sender),
                sender: m.sender.to_string(),
                text: if show { m.body.chars().take(PREVIEW_CHARS).collect() } else { String::new() },
                at: m.sent_at.0,
                has_attachment: m.attachment.is_some(),
            }),
            unread: s.unread,
            last_activity: s.last_activity.0,
        })
        .collect())
}

/// `directory`: the organisation's people this device knows, by name.
#[tauri::command]
pub async fn directory(host: State<'_, Arc<Host>>) -> UiResult<Vec<Contact>> {
    let engine = host.engine().await?;
    Ok(engine
        .directory_users()
        .await?
        .into_iter()
        .map(|c| Contact { user: c.user.to_string(), display_name: c.display_name })
        .collect())
}

/// `room_details`: a room, its members, their devices.
#[tauri::command]
pub async fn room_details(host: State<'_, Arc<Host>>, args: RoomDetailsArgs) -> UiResult<RoomDetails> {
    let room = input::room(&args.room)?;
    let engine = host.engine().await?;
    let me = host.me().await?;
    let view = engine.room(&room).await?;
    let mut members = Vec::with_capacity(view.members.len());
    let names = crate::events::names(&engine).await;
    for (user, role) in &view.members {
        let devices = device_views(&engine, user).await?;
        members.push(MemberView {
            user: user.to_string(),
            display_name: crate::events::name_in(&names, user),
            role: (*role).into(),
            devices,
        });
    }
    let my_role = view.members.get(&me.user).copied().map(Role::from).unwrap_or(Role::Member);
    Ok(RoomDetails {
        id: view.id.to_string(),
        kind: view.kind.into(),
        name: view.name,
        classification: view.classification,
        retention_secs: view.retention_secs,
        conflict: view.conflict,
        my_role,
        members,
    })
}

/// `create_group`: a new group with these members; its id.
#[tauri::command]
pub async fn create_group(host: State<'_, Arc<Host>>, args: CreateGroupArgs) -> UiResult<String> {
    let name = input::display_name("name", &args.name)?;
    if args.members.len() > input::MAX_MEMBERS {
        return Err(UiError::input(format!("members: at most {}", input::MAX_MEMBERS)));
    }
    let members = args.members.iter().map(|u| input::user(u)).collect::<UiResult<Vec<_>>>()?;
    let engine = host.engine().await?;
    Ok(engine.create_room(EngineKind::Group, name.as_str(), &members).await?.to_string())
}

/// `open_direct`: the direct room with `user` (made if there is none).
#[tauri::command]
pub async fn open_direct(host: State<'_, Arc<Host>>, args: OpenDirectArgs) -> UiResult<String> {
    let other = input::user(&args.user)?;
    let engine = host.engine().await?;
    let me = host.me().await?;
    if other == me.user {
        return Err(UiError::input("user: a direct room is with someone else"));
    }
    let existing = engine
        .rooms()
        .await?
        .into_iter()
        .find(|r| r.kind == EngineKind::Direct && r.members.len() == 2 && r.members.contains_key(&other));
    if let Some(r) = existing {
        return Ok(r.id.to_string());
    }
    let name = format!("{} and {other}", me.user);
    Ok(engine.create_room(EngineKind::Direct, &name, &[other]).await?.to_string())
}

/// `add_member` (admins).
#[tauri::command]
pub async fn add_member(host: State<'_, Arc<Host>>, args: AddMemberArgs) -> UiResult<()> {
    let (room, user) = (input::room(&args.room)?, input::user(&args.user)?);
    Ok(host.engine().await?.add_member(room, user).await?)
}

/// `remove_member` (admins, or oneself).
#[tauri::command]
pub async fn remove_member(host: State<'_, Arc<Host>>, args: RemoveMemberArgs) -> UiResult<()> {
    let (room, user) = (input::room(&args.room)?, input::user(&args.user)?);
    Ok(host.engine().await?.remove_member(room, user).await?)
}

/// `rename_room` (admins, group rooms): every member's device shows the
/// new name (`room` event) once the signed change reaches it.
#[tauri::command]
pub async fn rename_room(host: State<'_, Arc<Host>>, args: RenameRoomArgs) -> UiResult<()> {
    let room = input::room(&args.room)?;
    let name = input::display_name("name", &args.name)?;
    Ok(host.engine().await?.rename_room(room, name.as_str()).await?)
}

/// `set_retention` (admins).
#[tauri::command]
pub async fn set_retention(host: State<'_, Arc<Host>>, args: SetRetentionArgs) -> UiResult<()> {
    let room = input::room(&args.room)?;
    if let Some(s) = args.secs
        && (s == 0 || s > MAX_RETENTION_SECS)
    {
        return Err(UiError::input(format!("secs: 1 to {MAX_RETENTION_SECS}, or null")));
    }
    Ok(host.engine().await?.set_retention(room, args.secs).await?)
}

/// `set_classification` (admins).
#[tauri::command]
pub async fn set_classification(host: State<'_, Arc<Host>>, args: SetClassificationArgs) -> UiResult<()> {
    let room = input::room(&args.room)?;
    let label = args.label.as_deref().map(|l| input::display_name("label", l)).transpose()?;
    Ok(host.engine().await?.set_classification(room, label.as_ref().map(|l| l.as_str())).await?)
}
