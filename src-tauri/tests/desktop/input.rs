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
        ("send_file", json!({ "room": ROOM, "path": "relative/report.pdf" }), "relative path"),
        ("send_file", json!({ "room": ROOM, "path": "/tmp/a\u{0}b" }), "NUL in path"),
        ("send_file", json!({ "room": "x", "path": "/etc/hostname" }), "bad room"),
        ("save_attachment", json!({ "message": "x", "path": "/tmp/out" }), "bad message id"),
        ("save_attachment", json!({ "message": MSG, "path": long(5000) }), "huge path"),
        ("devices", json!({ "user": "Alice" }), "bad user id"),
        ("start_verification", json!({ "user": "bob", "device": "a/b" }), "bad device id"),
        ("start_verification", json!({ "user": "Bob", "device": "ABC" }), "bad user id"),
        ("export_device", json!({ "path": "alice.belfry-device" }), "relative path"),
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
