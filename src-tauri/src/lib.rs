//! `belfry-desktop`: the desktop app, a thin Tauri host on `belfry-client`'s
//! engine. It holds the open engine (none while locked), forwards commands
//! from the window to it and its events to the window, and checks every
//! input before the engine sees it. No crypto, storage or protocol logic
//! lives here.
//!
//! - [`commands`]: one module per area, each command one `<Name>Args`;
//! - [`host`]: the app state (engine, settings, event channel, idle lock);
//! - [`events`], [`views`]: what the window is shown;
//! - [`input`], [`links`]: checks on what comes from the web view or the system;
//! - [`bindings`]: the UI's TypeScript types, generated and checked;
//! - [`app`]: the window, tray, notifications, single instance.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod app;
pub mod bindings;
pub mod commands;
pub mod error;
pub mod events;
pub mod host;
pub mod input;
pub mod links;
pub mod preview;
pub mod views;

pub use error::{ErrorCode, UiError};
pub use host::{Host, HostConfig, NoShell, Shell};

/// Adds the host's commands and state to a Tauri builder (the desktop
/// app and the tests share this).
pub fn with_host<R: tauri::Runtime>(builder: tauri::Builder<R>, host: std::sync::Arc<Host>) -> tauri::Builder<R> {
    builder
        .manage(host)
        .invoke_handler(commands::handler())
        .register_asynchronous_uri_scheme_protocol(preview::SCHEME, preview::handle)
}
