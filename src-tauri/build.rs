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
    "rename_room",
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
    "send_file_bytes",
    "cancel_transfer",
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

/// The interface `tauri.conf.json` embeds (`frontendDist`).
const DIST: &str = "../ui/dist";

/// Without a built interface the app cannot compile (Tauri embeds it), and
/// `cargo clippy --workspace` on a fresh clone would fail: a page that says
/// so is written in its place (ui/dist is build output, never committed),
/// with a warning. `npm --prefix ui run build` replaces it.
fn ensure_dist() {
    let dist = std::path::Path::new(DIST);
    if dist.join("index.html").exists() {
        return;
    }
    let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Belfry</title></head>\
                <body><p>Belfry's interface was not built. Run <code>npm --prefix ui ci</code> and \
                <code>npm --prefix ui run build</code>, then build the app again.</p></body></html>\n";
    match std::fs::create_dir_all(dist).and_then(|()| std::fs::write(dist.join("index.html"), page)) {
        Ok(()) => println!(
            "cargo::warning=ui/dist was not built: the app embeds a page saying so (npm --prefix ui run build)"
        ),
        Err(e) => println!("cargo::warning=ui/dist was not built and could not be stood in for: {e}"),
    }
}

fn main() {
    ensure_dist();
    let attributes = tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo::error=tauri build step failed: {e:#}");
    }
}
