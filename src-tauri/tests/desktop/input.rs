//! Every command that takes arguments refuses malformed ids and oversized
//! input with `invalidInput`, before anything reaches the engine, locked
//! or not.

use crate::harness::{DesktopApp, code};
use serde_json::{Value, json};

const ROOM: &str = "00112233445566778899aabbccddeeff";
const MSG: &str = "ffeeddccbbaa99887766554433221100";

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// (command, `args`, what is wrong) for every command with arguments.
fn bad_inputs() -> Vec<(&'static str, Value, &'static str)> {
    let big_text = long(belfry_desktop::input::MAX_TEXT + 1);
    vec![
        ("inspect_invitation", json!({ "text": long(belfry_desktop::input::MAX_INVITATION_TEXT + 1) }), "huge text"),
        ("inspect_invitation", json!({ "text": "" }), "empty text"),
        (
            "enroll",
            json!({ "text": "x", "deviceName": "Desk\u{202e}pot", "keyMode": "passphrase", "secret": "pw" }),
            "bidi override in the device name",
        ),
        (
            "enroll",
            json!({ "text": "x", "deviceName": "Desk", "keyMode": "passphrase", "secret": long(2000) }),
            "huge passphrase",
        ),
        ("enroll", json!({ "text": "x", "deviceName": "Desk", "keyMode": "passphrase", "secret": null }), "no secret"),
        ("unlock", json!({ "secret": long(2000) }), "huge secret"),
        ("unlock", json!({ "secret": "" }), "empty secret"),
        ("room_details", json!({ "room": "0011" }), "short room id"),
        ("room_details", json!({ "room": "../../etc/passwd00000000000000000" }), "path as room id"),
        ("create_group", json!({ "name": "", "members": [] }), "empty name"),
        ("create_group", json!({ "name": long(200), "members": [] }), "long name"),
        ("create_group", json!({ "name": "Crisis", "members": ["Bob Smith"] }), "bad member id"),
        ("create_group", json!({ "name": "Crisis", "members": vec!["bob"; 501] }), "too many members"),
        ("open_direct", json!({ "user": "BOB" }), "bad user id"),
        ("open_direct", json!({ "user": long(65) }), "long user id"),
        ("add_member", json!({ "room": "zz112233445566778899aabbccddeeff", "user": "bob" }), "non-hex room"),
        ("add_member", json!({ "room": ROOM, "user": "b ob" }), "bad user"),
        ("remove_member", json!({ "room": ROOM, "user": "" }), "empty user"),
        ("set_retention", json!({ "room": ROOM, "secs": 0 }), "zero timer"),
        ("set_retention", json!({ "room": ROOM, "secs": 1u64 << 40 }), "huge timer"),
        ("set_classification", json!({ "room": ROOM, "label": "Secret\u{200b}" }), "invisible character"),
        ("set_classification", json!({ "room": "é", "label": null }), "bad room"),
        ("send_text", json!({ "room": "0011", "body": "hi", "replyTo": null }), "short room id"),
        ("send_text", json!({ "room": ROOM, "body": big_text, "replyTo": null }), "oversized body"),
        ("send_text", json!({ "room": ROOM, "body": "  ", "replyTo": null }), "blank body"),
        ("send_text", json!({ "room": ROOM, "body": "hi", "replyTo": "nope" }), "bad reply id"),
        ("messages_before", json!({ "room": ROOM, "before": "x", "limit": 50 }), "bad anchor id"),
        ("messages_before", json!({ "room": ROOM, "before": null, "limit": 0 }), "zero limit"),
        ("messages_before", json!({ "room": ROOM, "before": null, "limit": 1_000_000 }), "huge limit"),
        ("messages_around", json!({ "room": "x", "message": MSG, "limit": 50 }), "bad room"),
        ("messages_around", json!({ "room": ROOM, "message": MSG, "limit": 501 }), "limit over a page"),
        ("retry", json!({ "message": "not-an-id" }), "bad message id"),
        ("dismiss_alert", json!({ "id": 0 }), "no alert has id 0"),
        ("edit_message", json!({ "room": ROOM, "message": "x", "body": "hi" }), "bad message id"),
        ("edit_message", json!({ "room": ROOM, "message": MSG, "body": big_text }), "oversized body"),
        ("delete_message", json!({ "room": ROOM, "message": format!("{MSG}00") }), "long message id"),
        ("react", json!({ "room": ROOM, "message": MSG, "key": "" }), "empty reaction"),
        ("react", json!({ "room": ROOM, "message": MSG, "key": long(65) }), "long reaction"),
        ("mark_read", json!({ "room": ROOM, "upTo": "x" }), "bad message id"),
        ("search", json!({ "query": "", "limit": 10 }), "empty query"),
        ("search", json!({ "query": long(300), "limit": 10 }), "long query"),
        ("search", json!({ "query": "budget", "limit": 0 }), "zero limit"),
        ("search", json!({ "query": "budget", "limit": 100_000 }), "huge limit"),
        ("send_file", json!({ "room": "x" }), "bad room"),
        ("send_file", json!({ "room": format!("{ROOM}/../../etc/hostname") }), "path after the room id"),
        ("rename_room", json!({ "room": "x", "name": "Crisis" }), "bad room"),
        ("rename_room", json!({ "room": ROOM, "name": "Cri\u{202e}sis" }), "bidi override in the name"),
        ("rename_room", json!({ "room": ROOM, "name": long(200) }), "long name"),
        ("send_file_bytes", json!({ "room": "x", "name": "a.txt", "bytes": "aGk=" }), "bad room"),
        (
            "send_file_bytes",
            json!({ "room": ROOM, "name": "../../.ssh/authorized_keys", "bytes": "aGk=" }),
            "path as name",
        ),
        ("send_file_bytes", json!({ "room": ROOM, "name": "", "bytes": "aGk=" }), "empty name"),
        ("send_file_bytes", json!({ "room": ROOM, "name": long(300), "bytes": "aGk=" }), "long name"),
        ("send_file_bytes", json!({ "room": ROOM, "name": "a\nb.txt", "bytes": "aGk=" }), "control character in name"),
        ("send_file_bytes", json!({ "room": ROOM, "name": "a.txt", "bytes": "not base64!" }), "bytes not base64"),
        ("cancel_transfer", json!({ "message": "x" }), "bad message id"),
        ("save_attachment", json!({ "message": "x" }), "bad message id"),
        ("save_attachment", json!({ "message": "/home/alice/.ssh/id_ed25519" }), "path as message id"),
        ("devices", json!({ "user": "Alice" }), "bad user id"),
        ("start_verification", json!({ "user": "bob", "device": "a/b" }), "bad device id"),
        ("start_verification", json!({ "user": "Bob", "device": "ABC" }), "bad user id"),
        ("accept_verification", json!({ "flow": "x" }), "bad flow id"),
        ("confirm_verification", json!({ "flow": "0", "matches": true }), "bad flow id"),
        ("cancel_verification", json!({ "flow": format!("{MSG}0") }), "long flow id"),
        (
            "set_settings",
            json!({ "settings": { "language": "en", "theme": "dark", "notifications": "senderOnly",
                                  "lockAfterMinutes": 100_000, "closeToTray": true, "showPreviews": true } }),
            "lock timer beyond a day",
        ),
    ]
}

#[test]
fn every_command_refuses_malformed_input_with_invalid_input() {
    let app = DesktopApp::new(None);
    let with_args: std::collections::BTreeSet<&str> =
        belfry_desktop::commands::table(&belfry_desktop::bindings::config())
            .into_iter()
            .filter(|e| e.args != "null")
            .map(|e| e.name)
            .collect();
    let cases = bad_inputs();
    let covered: std::collections::BTreeSet<&str> = cases.iter().map(|(c, _, _)| *c).collect();
    let missing: Vec<_> = with_args.difference(&covered).collect();
    assert!(missing.is_empty(), "commands without a malformed-input case: {missing:?}");
    let mut wrong = Vec::new();
    for (cmd, args, what) in cases {
        let mut body = json!({ "args": args });
        if cmd == "enroll" {
            body["onProgress"] = json!("__CHANNEL__:1");
        }
        let r = app.call(cmd, body);
        match &r {
            Err(e) if e["code"] == "invalidInput" && e["detail"].is_string() => {}
            other => wrong.push(format!("{cmd} ({what}): {other:?}")),
        }
    }
    assert!(wrong.is_empty(), "not refused as invalidInput:\n{}", wrong.join("\n"));
    // Nothing was created by any of them.
    assert!(!app.profile_dir().exists() || std::fs::read_dir(app.profile_dir()).unwrap().next().is_none());
    assert_eq!(code(&app.call("status", json!({}))), "notEnrolled");
}

/// The field names of `ty`'s TypeScript and of every type it uses.
fn fields(ty: &str, types: &[belfry_desktop::bindings::TypeFile], out: &mut Vec<String>) {
    let Some(t) = types.iter().find(|t| t.name == ty) else { return };
    // Drop the doc comments, then every `name:` / `name?:` is a field.
    let mut text = t.text.clone();
    while let (Some(a), Some(b)) = (text.find("/*"), text.find("*/")) {
        text.replace_range(a..b + 2, "");
    }
    let body = text.split_once('=').map(|(_, b)| b).unwrap_or_default();
    for piece in body.split([',', '{', '}', '|', ';']) {
        if let Some((name, _)) = piece.split_once(':') {
            let name = name.trim().trim_end_matches('?');
            if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                out.push(format!("{ty}.{name}"));
            }
        }
    }
    for d in &t.deps {
        fields(d, types, out);
    }
}

/// The web view is not trusted with the file system: no command takes a
/// path, a directory or a file name to write (files are chosen in the
/// host's own dialogs).
#[test]
fn no_command_takes_a_path() {
    let types = belfry_desktop::bindings::types();
    let mut all = Vec::new();
    for e in belfry_desktop::commands::table(&belfry_desktop::bindings::config()) {
        fields(&e.args, &types, &mut all);
    }
    assert!(all.iter().any(|f| f == "SendTextArgs.body"), "the field list is wrong: {all:?}");
    let paths: Vec<_> = all
        .iter()
        .filter(|f| {
            let name = f.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
            ["path", "dir", "folder", "dest", "target", "location"].iter().any(|w| name.contains(w))
        })
        .collect();
    assert!(paths.is_empty(), "commands that take a path from the web view: {paths:?}");
}
