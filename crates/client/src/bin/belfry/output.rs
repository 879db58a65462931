//! How results and alerts are printed: lines for people, or one JSON
//! object per line with `--json`.

use belfry_client::{Alert, MessageView, RoomView};
use belfry_protocol::UserId;
use belfry_store::MessageStatus;

pub fn print_alert(a: &Alert, json: bool) {
    let text = match a {
        Alert::NewDevice { user, device, name, own: true } => {
            format!("NEW DEVICE on your own account: {device} ({name}) of {user}. If this was not you, tell IT now.")
        }
        Alert::NewDevice { user, device, name, own: false } => format!("{user} has a new device: {device} ({name})"),
        Alert::DeviceRevoked { user, device } => format!("device {device} of {user} was revoked"),
        Alert::StateConflict { room, detail } => format!("WARNING in room {room}: {detail}"),
        Alert::Rejected { detail } => format!("refused: {detail}"),
        Alert::Delivery { room, detail, .. } => format!("WARNING in room {room}: {detail}"),
        Alert::Undecryptable { room, sender, reason } => {
            format!("a message from {sender} in room {room} cannot be decrypted: {reason}")
        }
        Alert::VerificationFailed { user, device, detail } => {
            format!("VERIFICATION FAILED with {user}/{device}: {detail}")
        }
    };
    if json {
        println!("{}", serde_json::json!({"alert": text}));
    } else {
        eprintln!("! {text}");
    }
}

pub fn status_word(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Pending => "pending",
        MessageStatus::Sent => "sent",
        MessageStatus::Delivered => "delivered",
        MessageStatus::Read => "read",
        MessageStatus::Failed => "FAILED",
        MessageStatus::Received => "received",
    }
}

pub fn print_message(m: &MessageView, json: bool) {
    if json {
        let attachment = m
            .attachment
            .as_ref()
            .map(|a| serde_json::json!({"name": a.name, "mime": a.mime, "size": a.size, "downloaded": a.local}));
        println!(
            "{}",
            serde_json::json!({
                "id": m.id.to_string(), "room": m.room.to_string(), "sender": m.sender.as_str(),
                "sent_at": m.sent_at.0, "status": status_word(m.status), "body": m.body,
                "attachment": attachment, "reply_to": m.reply_to.map(|r| r.to_string()), "edited": m.edited,
                "reactions": m.reactions.iter().map(|r| serde_json::json!({
                    "key": r.key, "users": r.users.iter().map(UserId::as_str).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "receipts": m.receipts.iter().map(|r| serde_json::json!({
                    "user": r.user.as_str(), "read": r.read, "at": r.at.0,
                })).collect::<Vec<_>>(),
            })
        );
    } else {
        let short = |id: &belfry_protocol::MessageId| id.to_string().chars().take(8).collect::<String>();
        let reply = m.reply_to.map(|r| format!("↪ {}: ", short(&r))).unwrap_or_default();
        let edited = if m.edited { " (edited)" } else { "" };
        let reactions: String = m.reactions.iter().map(|r| format!(" {}×{}", r.key, r.users.len())).collect();
        println!("{} [{}] {}: {reply}{}{edited}{reactions}", short(&m.id), status_word(m.status), m.sender, m.body);
    }
}

pub fn print_room(r: &RoomView, json: bool) {
    print_room_with(r, None, json);
}

/// A room, with its unread count when known.
pub fn print_room_with(r: &RoomView, unread: Option<u32>, json: bool) {
    let members: Vec<&str> = r.members.keys().map(UserId::as_str).collect();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": r.id.to_string(), "name": r.name, "kind": format!("{:?}", r.kind).to_lowercase(),
                "members": members, "retention_secs": r.retention_secs, "classification": r.classification,
                "conflict": r.conflict, "unread": unread,
            })
        );
    } else {
        let label = r.classification.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default();
        let unread = unread.filter(|n| *n > 0).map(|n| format!("  {n} unread")).unwrap_or_default();
        println!("{}  {}{}  ({}){unread}", r.id, r.name, label, members.join(", "));
        if let Some(why) = &r.conflict {
            println!("  ! not sending: {why}");
        }
    }
}

pub fn progress_bar(json: bool, total: u64, name: &str) -> Option<indicatif::ProgressBar> {
    if json {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.chars().filter(|c| !c.is_control()).take(40).collect::<String>());
    Some(bar)
}
