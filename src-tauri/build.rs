//! Lists the app's commands: each gets an `allow-<name>` permission, and
//! only what `capabilities/main.json` grants to the main window can be
//! called. A test (`build_rs_lists_every_command`) fails when this list and
//! the command table differ.

const COMMANDS: &[&str] = &[
    "app_state",
    "inspect_invitation",
    "enroll",
    "unlock",
    "lock",
    "events",
    "report_activity",
    "status",
    "room_summaries",
    "room_details",
    "directory",
    "create_group",
    "open_direct",
    "add_member",
    "remove_member",
    "set_retention",
    "set_classification",
    "messages_before",
    "messages_around",
    "send_text",
    "edit_message",
    "delete_message",
    "react",
    "mark_read",
    "retry",
    "search",
    "send_file",
    "save_attachment",
    "max_file_size",
    "devices",
    "start_verification",
    "accept_verification",
    "confirm_verification",
    "cancel_verification",
    "verifications",
    "export_device",
    "settings",
    "set_settings",
    "alerts",
    "dismiss_alert",
];

fn main() {
    let attributes = tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo::error=tauri build step failed: {e:#}");
    }
}
