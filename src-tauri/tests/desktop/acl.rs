//! The real ACL (build.rs's command list and capabilities/main.json, as
//! generated into the app's context): the main window may call the app's
//! commands, no other window may, and nothing of core is granted.

use belfry_desktop::{Host, HostConfig, NoShell};
use belfry_store::passphrase::KdfCost;
use serde_json::json;
use std::sync::Arc;
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, mock_builder};
use tauri::{WebviewUrl, WebviewWindowBuilder};

fn invoke(
    window: &tauri::WebviewWindow<tauri::test::MockRuntime>,
    cmd: &str,
) -> Result<serde_json::Value, serde_json::Value> {
    let request = tauri::webview::InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(json!({})),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    tauri::test::get_ipc_response(window, request).map(|b| b.deserialize().unwrap())
}

#[test]
fn only_the_main_window_may_call_commands() {
    belfry_client::hardening::harden_process();
    let home = tempfile::tempdir().unwrap();
    let config = HostConfig {
        profile_dir: home.path().join("profile"),
        org_key: None,
        org_name: String::new(),
        kdf: KdfCost::INSECURE_FAST,
        keychain: None,
    };
    let host = Host::new(config, Arc::new(NoShell));
    let app = belfry_desktop::with_host(mock_builder(), host)
        .build(tauri::generate_context!("tauri.conf.json", test = true))
        .unwrap();
    let main = WebviewWindowBuilder::new(&app, "main", WebviewUrl::default()).build().unwrap();
    let other = WebviewWindowBuilder::new(&app, "other", WebviewUrl::default()).build().unwrap();
    assert_eq!(invoke(&main, "app_state").unwrap()["phase"], "welcome");
    let refused = invoke(&other, "app_state").unwrap_err();
    assert!(refused.to_string().contains("not allowed"), "{refused}");
    // Nothing of core:default (no window, event or path commands).
    for cmd in ["plugin:event|listen", "plugin:window|close", "plugin:path|resolve_directory", "plugin:app|version"] {
        let r = invoke(&main, cmd).unwrap_err();
        assert!(r.to_string().contains("not allowed"), "{cmd}: {r}");
    }
}
