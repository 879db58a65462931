//! Enroll, talk, lock and unlock, and be wiped: the app's commands and its
//! event channel against a real relay and a headless device.

use crate::harness::{DesktopApp, Dialogs, EVENTS, PROGRESS, code};
use crate::support::{Dev, TestRelay};
use belfry_client::Event;
use belfry_protocol::armor::{INVITATION_LABEL, armor};
use belfry_protocol::{Wire as _, room::RoomKind};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const PASSPHRASE: &str = "correct horse battery staple";

/// Enrolls the app as `user` from an invitation IT issued, through
/// `inspect_invitation` and `enroll`, and subscribes to its events.
fn enrolled_app(relay: &TestRelay, user: &str) -> DesktopApp {
    enroll_app(DesktopApp::new(Some(relay.org.public())), relay, user, "passphrase", PASSPHRASE)
}

fn enroll_app(app: DesktopApp, relay: &TestRelay, user: &str, mode: &str, secret: &str) -> DesktopApp {
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "welcome");
    let text = armor(INVITATION_LABEL, &relay.invite(user).encode());
    let info = app.call_args("inspect_invitation", json!({ "text": text })).unwrap();
    assert_eq!(info["user"], user);
    assert_eq!(info["orgFingerprint"], relay.org.public().fingerprint());
    let summary = app
        .call(
            "enroll",
            json!({
                "args": { "text": text, "deviceName": "Desk", "keyMode": mode, "secret": secret },
                "onProgress": format!("__CHANNEL__:{PROGRESS}"),
            }),
        )
        .unwrap();
    assert_eq!(summary["user"], user);
    assert_eq!(summary["deviceName"], "Desk");
    assert_eq!(summary["keyMode"], mode);
    let steps: Vec<_> = app.drain(PROGRESS);
    assert_eq!(steps.first(), Some(&json!("checking")));
    assert_eq!(steps.last(), Some(&json!("done")));
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "unlocked");
    app.subscribe();
    app
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap()
}

/// The whole path a person takes: enroll from an invitation, open a
/// direct room, send and receive over the event channel, lock (every call
/// answers `locked`), a wrong passphrase refused, unlock, history back.
#[test]
fn enrolls_talks_locks_and_unlocks_through_the_commands() {
    let rt = runtime();
    let relay = TestRelay::start();
    let dialogs = Arc::new(Dialogs::default());
    let app = enroll_app(
        DesktopApp::with_dialogs(Some(relay.org.public()), dialogs.clone()),
        &relay,
        "alice",
        "passphrase",
        PASSPHRASE,
    );
    let mut bob = rt.block_on(Dev::enroll(&relay, "bob", "Bob laptop"));

    // A second enrollment into the same profile is refused.
    let again = armor(INVITATION_LABEL, &relay.invite("alice").encode());
    let r = app.call(
        "enroll",
        json!({ "args": { "text": again, "deviceName": "Desk", "keyMode": "passphrase", "secret": PASSPHRASE },
                "onProgress": format!("__CHANNEL__:{PROGRESS}") }),
    );
    assert_eq!(code(&r), "alreadyEnrolled");

    let room = app.call_args("open_direct", json!({ "user": "bob" })).unwrap();
    let room = room.as_str().unwrap().to_owned();
    let room_id = belfry_protocol::RoomId::from_hex(&room).unwrap();
    // Asking again gives the same room.
    assert_eq!(app.call_args("open_direct", json!({ "user": "bob" })).unwrap(), json!(room));
    rt.block_on(bob.joined(&room_id));

    let sent = app.call_args("send_text", json!({ "room": room, "body": "hello bob", "replyTo": null })).unwrap();
    assert_eq!(sent["body"], "hello bob");
    assert_eq!(sent["own"], true);
    assert_eq!(sent["status"], "pending");
    let id = belfry_protocol::MessageId::from_hex(sent["id"].as_str().unwrap()).unwrap();
    rt.block_on(bob.wait(|e| matches!(e, Event::Message(m) if m.id == id && m.body == "hello bob")));
    // The relay's acknowledgement reaches the window as a status event.
    app.wait(EVENTS, |e| e["type"] == "status" && e["message"] == sent["id"] && e["status"] == "sent");

    rt.block_on(bob.engine.send_text(room_id, "hello alice")).unwrap();
    let got = app.wait(EVENTS, |e| e["type"] == "message" && e["message"]["body"] == "hello alice");
    assert_eq!(got["message"]["own"], false);
    assert_eq!(got["message"]["sender"], "bob");
    assert_eq!(got["message"]["room"], json!(room));

    let details = app.call_args("room_details", json!({ "room": room })).unwrap();
    assert_eq!(details["kind"], "direct");
    let members: Vec<_> = details["members"].as_array().unwrap().iter().map(|m| m["user"].clone()).collect();
    assert_eq!(members, vec![json!("alice"), json!("bob")]);
    let status = app.call("status", json!({})).unwrap();
    assert_eq!(status["user"], "alice");
    assert_eq!(status["online"], true);

    // The room list: Bob's message unread until Alice reads it.
    let rooms = app.call("room_summaries", json!({})).unwrap();
    let summary = rooms.as_array().unwrap().iter().find(|r| r["id"] == json!(room)).unwrap().clone();
    assert_eq!(summary["unread"], 1, "{summary}");
    assert_eq!(summary["last"]["text"], "hello alice");
    assert_eq!(summary["last"]["senderName"], "bob");
    app.call_args("mark_read", json!({ "room": room, "upTo": got["message"]["id"] })).unwrap();
    let rooms = app.call("room_summaries", json!({})).unwrap();
    assert_eq!(rooms[0]["unread"], 0);
    // History in pages, oldest first, without gap or repeat.
    for i in 0..5 {
        rt.block_on(bob.engine.send_text(room_id, &format!("page {i}"))).unwrap();
    }
    app.wait(EVENTS, |e| e["type"] == "message" && e["message"]["body"] == "page 4");
    let newest = app.call_args("messages_before", json!({ "room": room, "before": null, "limit": 3 })).unwrap();
    let bodies = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(bodies(&newest), ["page 2", "page 3", "page 4"]);
    let older =
        app.call_args("messages_before", json!({ "room": room, "before": newest[0]["id"], "limit": 3 })).unwrap();
    assert_eq!(bodies(&older), ["hello alice", "page 0", "page 1"]);
    let around =
        app.call_args("messages_around", json!({ "room": room, "message": older[1]["id"], "limit": 3 })).unwrap();
    assert_eq!(bodies(&around), ["hello alice", "page 0", "page 1"]);
    // The directory and the devices with their trust.
    let people = app.call("directory", json!({})).unwrap();
    let users: Vec<_> = people.as_array().unwrap().iter().map(|c| c["user"].clone()).collect();
    assert!(users.contains(&json!("bob")) && users.contains(&json!("alice")), "{people}");
    let mine = app.call_args("devices", json!({ "user": "alice" })).unwrap();
    assert_eq!(mine[0]["current"], true);
    assert_eq!(mine[0]["trust"], "trusted");
    // IT confirms this device from the file the app writes where the
    // person chose in the save dialog (proposed as the CLI names it).
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("alice.belfry-device");
    dialogs.answer(Some(file.clone()));
    let export = app.call("export_device", json!({})).unwrap();
    assert_eq!(export["path"], json!(file.display().to_string()));
    let proposed = dialogs.proposed.lock().unwrap().last().cloned().unwrap();
    assert_eq!(proposed, format!("alice-{}.belfry-device", status["device"].as_str().unwrap()));
    let text = std::fs::read_to_string(&file).unwrap();
    let chain = belfry_protocol::DeviceChain::decode(
        &belfry_protocol::armor::dearmor(belfry_protocol::armor::DEVICE_LABEL, &text).unwrap(),
    )
    .unwrap();
    let cert = chain.device.peek_unverified().unwrap();
    assert_eq!(cert.device.to_string(), status["device"].as_str().unwrap());
    assert_eq!(export["fingerprint"], cert.ed25519.fingerprint());
    dialogs.answer(Some(file.clone()));
    assert_eq!(code(&app.call("export_device", json!({}))), "fileExists");
    dialogs.answer(None);
    assert_eq!(app.call("export_device", json!({})).unwrap(), json!(null), "cancelled");
    let bobs = app.call_args("devices", json!({ "user": "bob" })).unwrap();
    assert_eq!(bobs.as_array().unwrap().len(), 1);
    assert_eq!(bobs[0]["own"], false);

    // The idle lock follows the setting and the activity the UI reports.
    let mut settings = app.call("settings", json!({})).unwrap();
    assert_eq!(settings["notifications"], "senderOnly", "notifications show no content by default");
    settings["lockAfterMinutes"] = json!(5);
    app.call_args("set_settings", json!({ "settings": settings })).unwrap();
    app.host.backdate_activity(Duration::from_secs(4 * 60));
    assert!(!rt.block_on(app.host.lock_if_idle()), "locked before the idle time was up");
    app.host.backdate_activity(Duration::from_secs(2 * 60));
    app.call("report_activity", json!({})).unwrap();
    assert!(!rt.block_on(app.host.lock_if_idle()), "reported activity did not count");
    app.host.backdate_activity(Duration::from_secs(6 * 60));
    assert!(rt.block_on(app.host.lock_if_idle()));
    app.wait(EVENTS, |e| e["type"] == "locked");
    assert_eq!(code(&app.call("status", json!({}))), "locked");
    app.call_args("unlock", json!({ "secret": PASSPHRASE })).unwrap();
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "unlocked");

    // Lock: the window is told, and nothing answers but `locked`.
    app.call("lock", json!({})).unwrap();
    app.wait(EVENTS, |e| e["type"] == "locked");
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "locked");
    let r = app.call_args("send_text", json!({ "room": room, "body": "while locked", "replyTo": null }));
    assert_eq!(code(&r), "locked");
    assert_eq!(code(&app.call_args("search", json!({ "query": "hello", "limit": 10 }))), "locked");
    assert_eq!(code(&app.call("status", json!({}))), "locked");

    // A wrong passphrase opens nothing.
    assert_eq!(code(&app.call_args("unlock", json!({ "secret": "not the passphrase" }))), "wrongSecret");
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "locked");

    app.call_args("unlock", json!({ "secret": PASSPHRASE })).unwrap();
    let state = app.call("app_state", json!({})).unwrap();
    assert_eq!(state["phase"], "unlocked");
    assert_eq!(state["profile"]["user"], "alice");
    let hits = app.call_args("search", json!({ "query": "alice", "limit": 10 })).unwrap();
    let hits = hits.as_array().unwrap();
    assert!(hits.iter().any(|h| h["message"]["body"] == "hello alice"), "{hits:?}");

    // Events flow again after unlocking.
    rt.block_on(bob.engine.send_text(room_id, "still there?")).unwrap();
    let got = app.wait(EVENTS, |e| e["type"] == "message" && e["message"]["body"] == "still there?");
    assert_eq!(got["message"]["expiresAt"], json!(null), "no timer in this room yet");

    // A disappearing-message timer: the view says when each message goes.
    app.call_args("set_retention", json!({ "room": room, "secs": 3600 })).unwrap();
    let short = app.call_args("send_text", json!({ "room": room, "body": "for an hour", "replyTo": null })).unwrap();
    assert_eq!(short["expiresAt"].as_u64().unwrap(), short["sentAt"].as_u64().unwrap() + 3_600_000, "{short}");
    assert_eq!(sent["expiresAt"], json!(null));
    drop(bob);
}

/// IT orders a wipe: the window gets `wiped`, the phase says so, the
/// profile's data is gone, and every command answers `wiped`.
#[test]
fn a_wipe_ordered_by_it_reaches_the_window_and_erases_the_profile() {
    let rt = runtime();
    let relay = TestRelay::start();
    let app = enrolled_app(&relay, "carol");
    let bob = rt.block_on(Dev::enroll(&relay, "bob", "Bob laptop"));
    let carol = belfry_protocol::UserId::new("carol").unwrap();
    let room = rt.block_on(bob.engine.create_room(RoomKind::Group, "Desk", std::slice::from_ref(&carol))).unwrap();
    app.wait(EVENTS, |e| e["type"] == "room" && e["room"] == json!(room.to_string()));

    let device = app.call("status", json!({})).unwrap()["device"].as_str().unwrap().to_owned();
    let wipe = belfry_protocol::Statement::Wipe(relay.org.wipe(
        carol.clone(),
        belfry_protocol::DeviceId::new(device).unwrap(),
        crate::support::now(),
    ));
    relay.distribute(&wipe);
    app.wait(EVENTS, |e| e["type"] == "wiped");
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "wiped");
    let r = app.call_args("send_text", json!({ "room": room.to_string(), "body": "x", "replyTo": null }));
    assert_eq!(code(&r), "wiped");
    let left: Vec<String> = std::fs::read_dir(app.profile_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "the wiped profile still holds {left:?}");
    drop(bob);
}

/// An invitation from another organisation is refused before anything is
/// created, with the code the UI translates.
#[test]
fn an_invitation_from_another_organisation_is_refused() {
    let relay = TestRelay::start();
    let other = belfry_crypto::OrgKey::generate();
    let app = DesktopApp::new(Some(other.public()));
    let text = armor(INVITATION_LABEL, &relay.invite("dave").encode());
    assert_eq!(code(&app.call_args("inspect_invitation", json!({ "text": text }))), "invitationOtherOrg");
    let r = app.call(
        "enroll",
        json!({ "args": { "text": text, "deviceName": "Desk", "keyMode": "passphrase", "secret": PASSPHRASE },
                "onProgress": format!("__CHANNEL__:{PROGRESS}") }),
    );
    assert_eq!(code(&r), "invitationOtherOrg");
    assert_eq!(
        code(&app.call_args("inspect_invitation", json!({ "text": "not an invitation" }))),
        "invitationMalformed"
    );
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "welcome");
    assert!(!app.profile_dir().join("profile.json").exists());
}

/// Keychain mode: the app passcode set at enrollment is what unlocks; a
/// wrong one is refused, and after five the app makes the person wait.
#[test]
fn keychain_mode_unlocks_with_the_passcode_only() {
    let relay = TestRelay::start();
    let keychain = std::sync::Arc::new(belfry_store::testing::TestKeychain::default());
    let app = DesktopApp::with_keychain(Some(relay.org.public()), Some(keychain));
    let app = enroll_app(app, &relay, "erin", "keychain", "2468");
    let state = app.call("app_state", json!({})).unwrap();
    assert_eq!(state["profile"]["hasPasscode"], true);
    app.call("lock", json!({})).unwrap();
    app.wait(EVENTS, |e| e["type"] == "locked");
    assert_eq!(code(&app.call_args("unlock", json!({ "secret": "1357" }))), "wrongSecret");
    app.call_args("unlock", json!({ "secret": "2468" })).unwrap();
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "unlocked");
    app.call("lock", json!({})).unwrap();
    for _ in 0..5 {
        assert_eq!(code(&app.call_args("unlock", json!({ "secret": "0000" }))), "wrongSecret");
    }
    // After five wrong ones, even the right passcode waits.
    assert_eq!(code(&app.call_args("unlock", json!({ "secret": "2468" }))), "tooManyTries");
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "locked");
}

/// An image a contact sends is previewed as a PNG the engine made in
/// memory; a file that is no image has no preview. Files are sent and
/// saved through the host's own dialogs: a path the web view passes is
/// ignored, a cancelled dialog answers `null`, nothing is written over an
/// existing file, and no dialog opens while locked.
#[test]
fn files_go_through_the_hosts_dialogs_and_images_are_previewed() {
    use base64::Engine as _;
    let rt = runtime();
    let relay = TestRelay::start();
    let dialogs = Arc::new(Dialogs::default());
    let app = enroll_app(
        DesktopApp::with_dialogs(Some(relay.org.public()), dialogs.clone()),
        &relay,
        "frank",
        "passphrase",
        PASSPHRASE,
    );
    let bob = rt.block_on(Dev::enroll(&relay, "bob", "Bob laptop"));
    let frank = belfry_protocol::UserId::new("frank").unwrap();
    let room = rt.block_on(bob.engine.create_room(RoomKind::Direct, "b and f", std::slice::from_ref(&frank))).unwrap();
    app.wait(EVENTS, |e| e["type"] == "room" && e["room"] == json!(room.to_string()));
    let dir = tempfile::tempdir().unwrap();
    // A 1×1 PNG.
    let png = base64::engine::general_purpose::STANDARD
        .decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
        .unwrap();
    std::fs::write(dir.path().join("dot.png"), &png).unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not an image").unwrap();
    let image = rt.block_on(bob.engine.send_file(room, &dir.path().join("dot.png"))).unwrap();
    let text = rt.block_on(bob.engine.send_file(room, &dir.path().join("notes.txt"))).unwrap();
    let shown = app.wait(EVENTS, |e| e["type"] == "message" && e["message"]["id"] == json!(image.to_string()));
    assert_eq!(shown["message"]["attachment"]["isImage"], true);
    app.wait(EVENTS, |e| e["type"] == "message" && e["message"]["id"] == json!(text.to_string()));
    let preview = rt.block_on(belfry_desktop::preview::preview(&app.host, image)).expect("a preview");
    assert!(preview.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert_ne!(preview, png, "the engine re-encodes; the bytes from the network are not passed through");
    assert!(rt.block_on(belfry_desktop::preview::preview(&app.host, text)).is_none());
    // Saved where the person chose in the save dialog, which proposed the
    // file's name; a path from the web view is not even looked at.
    let out = dir.path().join("saved.png");
    let elsewhere = dir.path().join("chosen-by-the-page.png");
    dialogs.answer(Some(out.clone()));
    let saved = app
        .call_args("save_attachment", json!({ "message": image.to_string(), "path": elsewhere.display().to_string() }))
        .unwrap();
    assert_eq!(saved, json!(out.display().to_string()));
    assert_eq!(std::fs::read(&out).unwrap(), png);
    assert!(!elsewhere.exists(), "the web view's path was used");
    assert_eq!(*dialogs.proposed.lock().unwrap(), ["dot.png"]);
    // Never over an existing file.
    dialogs.answer(Some(out.clone()));
    assert_eq!(code(&app.call_args("save_attachment", json!({ "message": image.to_string() }))), "fileExists");
    assert_eq!(std::fs::read(&out).unwrap(), png);
    // Cancelled: null, nothing written.
    dialogs.answer(None);
    assert_eq!(app.call_args("save_attachment", json!({ "message": image.to_string() })).unwrap(), json!(null));
    // A message without a file: no dialog.
    let shown = dialogs.shown();
    let hello = rt.block_on(bob.engine.send_text(room, "no file here")).unwrap();
    app.wait(EVENTS, |e| e["type"] == "message" && e["message"]["id"] == json!(hello.to_string()));
    assert_eq!(code(&app.call_args("save_attachment", json!({ "message": hello.to_string() }))), "notFound");
    assert_eq!(dialogs.shown(), shown);

    // Sending: the file the open dialog answered, not one the page names.
    let report = dir.path().join("report.txt");
    std::fs::write(&report, b"the quarterly report").unwrap();
    dialogs.answer(Some(report.clone()));
    let sent = app.call_args("send_file", json!({ "room": room.to_string(), "path": "/etc/hostname" })).unwrap();
    assert_eq!(sent["attachment"]["name"], "report.txt");
    assert_eq!(sent["own"], true);
    dialogs.answer(None);
    assert_eq!(app.call_args("send_file", json!({ "room": room.to_string() })).unwrap(), json!(null));

    // Locked: refused before any dialog opens.
    app.call("lock", json!({})).unwrap();
    let shown = dialogs.shown();
    assert_eq!(code(&app.call_args("send_file", json!({ "room": room.to_string() }))), "locked");
    assert_eq!(code(&app.call_args("save_attachment", json!({ "message": image.to_string() }))), "locked");
    assert_eq!(code(&app.call("export_device", json!({}))), "locked");
    assert_eq!(dialogs.shown(), shown);
    drop(bob);
}

/// A file dropped into the window goes as base64 through
/// `send_file_bytes` and arrives whole; `cancel_transfer` after the
/// upload finished has nothing to stop; an admin renames a group with
/// `rename_room` and the other member's device follows; a direct room
/// cannot be renamed.
#[test]
fn dropped_files_renamed_rooms_and_cancelled_transfers_through_the_commands() {
    use base64::Engine as _;
    let rt = runtime();
    let relay = TestRelay::start();
    let app = enrolled_app(&relay, "grace");
    let mut bob = rt.block_on(Dev::enroll(&relay, "bob", "Bob laptop"));
    let room = app.call_args("create_group", json!({ "name": "Desk", "members": ["bob"] })).unwrap();
    let room_id = belfry_protocol::RoomId::from_hex(room.as_str().unwrap()).unwrap();
    rt.block_on(bob.joined(&room_id));

    let content = b"the minutes of the third meeting";
    let bytes = base64::engine::general_purpose::STANDARD.encode(content);
    let sent =
        app.call_args("send_file_bytes", json!({ "room": room, "name": "minutes.txt", "bytes": bytes })).unwrap();
    assert_eq!(sent["attachment"]["name"], "minutes.txt");
    assert_eq!(sent["attachment"]["size"], json!(content.len()));
    let id = belfry_protocol::MessageId::from_hex(sent["id"].as_str().unwrap()).unwrap();
    rt.block_on(bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)));
    let dir = tempfile::tempdir().unwrap();
    let saved = rt.block_on(bob.engine.download_file(id, dir.path())).unwrap();
    assert_eq!(std::fs::read(&saved).unwrap(), content);
    assert_eq!(saved.file_name().unwrap(), "minutes.txt");
    // Uploaded already: nothing to cancel.
    app.wait(EVENTS, |e| e["type"] == "status" && e["message"] == sent["id"] && e["status"] != "pending");
    assert_eq!(app.call_args("cancel_transfer", json!({ "message": sent["id"] })).unwrap(), json!(false));

    app.call_args("rename_room", json!({ "room": room, "name": "  Crisis desk " })).unwrap();
    assert_eq!(app.call_args("room_details", json!({ "room": room })).unwrap()["name"], "Crisis desk");
    rt.block_on(bob.wait(|e| *e == Event::Room(room_id)));
    assert_eq!(rt.block_on(bob.engine.room(&room_id)).unwrap().name, "Crisis desk");
    let direct = app.call_args("open_direct", json!({ "user": "bob" })).unwrap();
    assert_eq!(code(&app.call_args("rename_room", json!({ "room": direct, "name": "Bob" }))), "invalidInput");
    drop(bob);
}

/// IT revokes this device: the window gets `revoked`, the phase says so,
/// the engine stops (every command answers `revoked`), and reopening the
/// app says so too.
#[test]
fn a_revoked_device_says_so_and_stops() {
    let rt = runtime();
    let relay = TestRelay::start();
    let app = enrolled_app(&relay, "gina");
    let bob = rt.block_on(Dev::enroll(&relay, "bob", "Bob laptop"));
    let gina = belfry_protocol::UserId::new("gina").unwrap();
    let room = rt.block_on(bob.engine.create_room(RoomKind::Group, "Desk", std::slice::from_ref(&gina))).unwrap();
    app.wait(EVENTS, |e| e["type"] == "room" && e["room"] == json!(room.to_string()));
    let device = app.call("status", json!({})).unwrap()["device"].as_str().unwrap().to_owned();
    let revocation = belfry_protocol::Statement::Revocation(relay.org.revoke_device(
        gina,
        belfry_protocol::DeviceId::new(device).unwrap(),
        belfry_protocol::DisplayName::new("Lost").unwrap(),
        crate::support::now(),
    ));
    relay.distribute(&revocation);
    app.wait(EVENTS, |e| e["type"] == "revoked");
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "revoked");
    assert_eq!(code(&app.call("status", json!({}))), "revoked");
    assert_eq!(code(&app.call_args("unlock", json!({ "secret": PASSPHRASE }))), "revoked");
    drop(bob);
}
