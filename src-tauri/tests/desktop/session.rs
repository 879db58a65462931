//! Enroll, talk, lock and unlock, and be wiped: the app's commands and its
//! event channel against a real relay and a headless device.

use crate::harness::{DesktopApp, EVENTS, PROGRESS, code};
use crate::support::{Dev, TestRelay};
use belfry_client::Event;
use belfry_protocol::armor::{INVITATION_LABEL, armor};
use belfry_protocol::{Wire as _, room::RoomKind};
use serde_json::json;
use std::time::Duration;

const PASSPHRASE: &str = "correct horse battery staple";

/// Enrolls the app as `user` from an invitation IT issued, through
/// `inspect_invitation` and `enroll`, and subscribes to its events.
fn enrolled_app(relay: &TestRelay, user: &str) -> DesktopApp {
    let app = DesktopApp::new(Some(relay.org.public()));
    assert_eq!(app.call("app_state", json!({})).unwrap()["phase"], "welcome");
    let text = armor(INVITATION_LABEL, &relay.invite(user).encode());
    let info = app.call_args("inspect_invitation", json!({ "text": text })).unwrap();
    assert_eq!(info["user"], user);
    assert_eq!(info["orgFingerprint"], relay.org.public().fingerprint());
    let summary = app
        .call(
            "enroll",
            json!({
                "args": { "text": text, "deviceName": "Desk", "keyMode": "passphrase", "secret": PASSPHRASE },
                "onProgress": format!("__CHANNEL__:{PROGRESS}"),
            }),
        )
        .unwrap();
    assert_eq!(summary["user"], user);
    assert_eq!(summary["deviceName"], "Desk");
    assert_eq!(summary["keyMode"], "passphrase");
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
    let app = enrolled_app(&relay, "alice");
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
    app.wait(EVENTS, |e| e["type"] == "message" && e["message"]["body"] == "still there?");
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
