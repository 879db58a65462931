//! One desktop app on the mock runtime: commands are invoked as the web
//! view invokes them, and channel messages (events, enrollment progress)
//! are captured as the web view would receive them.

use belfry_desktop::{Host, HostConfig, NoShell};
use belfry_protocol::Ed25519Public;
use belfry_store::passphrase::KdfCost;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use tauri::ipc::{CallbackFn, InvokeBody, InvokeResponseBody};
use tauri::test::{INVOKE_KEY, MockRuntime, mock_builder, mock_context, noop_assets};
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

/// The channel id the UI's event stream uses in these tests.
pub const EVENTS: u32 = 1000;
/// The channel id of enrollment progress.
pub const PROGRESS: u32 = 2000;

pub struct DesktopApp {
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    #[allow(dead_code)]
    pub host: Arc<Host>,
    channel: Receiver<(u32, Value)>,
    home: tempfile::TempDir,
}

impl DesktopApp {
    /// An app with an empty profile that trusts `org`.
    pub fn new(org: Option<Ed25519Public>) -> Self {
        Self::with_keychain(org, None)
    }

    /// An app whose keychain-mode keys live in `keychain` (a test keychain,
    /// never the developer's).
    pub fn with_keychain(org: Option<Ed25519Public>, keychain: Option<Arc<dyn belfry_store::KeychainBackend>>) -> Self {
        belfry_client::hardening::harden_process();
        let home = tempfile::tempdir().unwrap();
        let config = HostConfig {
            profile_dir: home.path().join("profile"),
            org_key: org,
            org_name: "Test Ministry".into(),
            kdf: KdfCost::INSECURE_FAST,
            keychain,
        };
        let host = Host::new(config, Arc::new(NoShell));
        let (tx, channel) = std::sync::mpsc::channel();
        let builder = mock_builder().channel_interceptor(move |_webview, callback, _index, body| {
            let value = match body {
                InvokeResponseBody::Json(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                InvokeResponseBody::Raw(b) => json!(b),
            };
            let _ = tx.send((callback.0, value));
            true
        });
        let app = belfry_desktop::with_host(builder, host.clone()).build(mock_context(noop_assets())).unwrap();
        let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
        Self { _app: app, window, host, channel, home }
    }

    pub fn profile_dir(&self) -> std::path::PathBuf {
        self.home.path().join("profile")
    }

    /// Invokes `cmd` with `body` (the object the UI passes to `invoke`).
    pub fn call(&self, cmd: &str, body: Value) -> Result<Value, Value> {
        let request = tauri::webview::InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        tauri::test::get_ipc_response(&self.window, request).map(|b| b.deserialize::<Value>().unwrap())
    }

    /// Invokes `cmd` with `{ args }`.
    pub fn call_args(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        self.call(cmd, json!({ "args": args }))
    }

    /// Subscribes to the event stream (as `events({ channel })`).
    pub fn subscribe(&self) {
        self.call("events", json!({ "channel": format!("__CHANNEL__:{EVENTS}") })).unwrap();
    }

    /// Waits (up to 60 s) for a message on channel `id` matching `f`;
    /// returns it. Earlier messages are dropped.
    pub fn wait(&self, id: u32, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.channel.recv_timeout(left) {
                Ok((cb, v)) if cb == id && f(&v) => return v,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no matching message on channel {id} within 60 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("the channel closed"),
            }
        }
    }

    /// Every message on channel `id` received so far.
    pub fn drain(&self, id: u32) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok((cb, v)) = self.channel.try_recv() {
            if cb == id {
                out.push(v);
            }
        }
        out
    }
}

/// The error code of a failed call.
pub fn code(r: &Result<Value, Value>) -> String {
    match r {
        Err(e) => e["code"].as_str().unwrap_or("<not a UiError>").to_owned(),
        Ok(v) => panic!("expected an error, got {v}"),
    }
}
