//! The desktop around the window: the main window (content protection,
//! navigation and new windows refused), the tray (unread count, Show,
//! Lock, Quit), notifications, one instance, `belfry://` links.

use crate::events::UiEvent;
use crate::host::{Host, HostConfig, Shell};
use crate::links::{self, Link};
use belfry_protocol::RoomId;
use std::sync::{Arc, OnceLock};
use tauri::menu::{Menu, MenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::webview::NewWindowResponse;
use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder, WindowEvent, Wry};
use tauri_plugin_deep_link::DeepLinkExt as _;
use tauri_plugin_notification::NotificationExt as _;

/// The main window's label (the only window; the capability names it).
pub const MAIN: &str = "main";
const TRAY: &str = "belfry";
const UNREAD_ITEM: &str = "unread";

/// Whether the main window may load `url`: only the app's own pages.
pub fn navigation_allowed(url: &tauri::Url) -> bool {
    match url.scheme() {
        "tauri" => url.host_str() == Some("localhost"),
        // Windows serves the app as http://tauri.localhost.
        "http" | "https" => url.host_str() == Some("tauri.localhost"),
        _ => false,
    }
}

/// The shell's hooks into the running app (set once it exists).
#[derive(Default)]
pub struct DesktopShell {
    app: OnceLock<AppHandle<Wry>>,
}

impl std::fmt::Debug for DesktopShell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopShell").field("running", &self.app.get().is_some()).finish()
    }
}

impl DesktopShell {
    fn app(&self) -> Option<&AppHandle<Wry>> {
        self.app.get()
    }
}

impl Shell for DesktopShell {
    fn notify(&self, title: &str, body: &str, _room: RoomId) {
        let Some(app) = self.app() else { return };
        let mut n = app.notification().builder().title(title);
        if !body.is_empty() {
            n = n.body(body);
        }
        if let Err(e) = n.show() {
            tracing::debug!(error = %e, "notification not shown");
        }
    }

    fn unread(&self, count: u32) {
        let Some(app) = self.app() else { return };
        let text = if count == 0 { "No unread messages".to_owned() } else { format!("{count} unread") };
        if let Some(tray) = app.tray_by_id(TRAY) {
            let tooltip = if count == 0 { "Belfry".to_owned() } else { format!("Belfry: {count} unread") };
            let _ = tray.set_tooltip(Some(tooltip));
        }
        if let Some(menu) = app.menu().or_else(|| tray_menu(app))
            && let Some(item) = menu.get(UNREAD_ITEM)
            && let Some(item) = item.as_menuitem()
        {
            let _ = item.set_text(text);
        }
    }

    fn locked(&self, locked: bool) {
        let Some(app) = self.app() else { return };
        if let Some(menu) = tray_menu(app)
            && let Some(item) = menu.get("lock")
            && let Some(item) = item.as_menuitem()
        {
            let _ = item.set_enabled(!locked);
        }
    }

    fn focused(&self) -> bool {
        self.app().and_then(|a| a.get_webview_window(MAIN)).and_then(|w| w.is_focused().ok()).unwrap_or(false)
    }
}

static TRAY_MENU: OnceLock<Menu<Wry>> = OnceLock::new();

fn tray_menu(_app: &AppHandle<Wry>) -> Option<Menu<Wry>> {
    TRAY_MENU.get().cloned()
}

fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window(MAIN) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// A `belfry://` link from the system (first launch, a second launch, the
/// deep-link handler), validated here; anything else is dropped.
fn open_link(host: &Host, raw: &str) {
    match links::parse(raw) {
        Some(Link::Room(room)) => host.emit_or_keep(UiEvent::OpenRoom { room: room.to_string() }),
        Some(Link::Invite(_)) => {
            host.emit_or_keep(UiEvent::Invitation { text: crate::events::SecretText(raw.to_owned()) })
        }
        None => tracing::info!("ignored a link that is not a belfry:// link this app opens"),
    }
}

fn build_window(app: &AppHandle<Wry>) -> tauri::Result<()> {
    WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App("index.html".into()))
        .title("Belfry")
        .inner_size(1100.0, 760.0)
        .min_inner_size(720.0, 480.0)
        .content_protected(true)
        .devtools(cfg!(debug_assertions))
        .on_navigation(navigation_allowed)
        .on_new_window(|_, _| NewWindowResponse::Deny)
        .build()?;
    Ok(())
}

fn build_tray(app: &AppHandle<Wry>) -> tauri::Result<()> {
    let unread = MenuItem::with_id(app, UNREAD_ITEM, "No unread messages", false, None::<&str>)?;
    let show = MenuItem::with_id(app, "show", "Show Belfry", true, None::<&str>)?;
    let lock = MenuItem::with_id(app, "lock", "Lock", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&unread, &show, &lock, &quit])?;
    let _ = TRAY_MENU.set(menu.clone());
    let mut tray = TrayIconBuilder::with_id(TRAY).tooltip("Belfry").menu(&menu).show_menu_on_left_click(true);
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.on_menu_event(|app, event| match event.id.as_ref() {
        "show" => show_main(app),
        "lock" => {
            let host = app.state::<Arc<Host>>().inner().clone();
            tauri::async_runtime::spawn(async move { host.lock().await });
        }
        "quit" => {
            let host = app.state::<Arc<Host>>().inner().clone();
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                host.lock().await;
                app.exit(0);
            });
        }
        _ => {}
    })
    .build(app)?;
    Ok(())
}

/// Runs the desktop app until it quits.
pub fn run(config: HostConfig) -> Result<(), Box<dyn std::error::Error>> {
    let shell = Arc::new(DesktopShell::default());
    let host = Host::new(config, shell.clone());
    let first_args: Vec<String> = std::env::args().skip(1).collect();
    let builder = tauri::Builder::default()
        // First: a second launch hands its link over here and exits.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            show_main(app);
            let host = app.state::<Arc<Host>>();
            for arg in argv.iter().skip(1).filter(|a| a.starts_with("belfry://")) {
                open_link(&host, arg);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init());
    let app = crate::with_host(builder, host.clone())
        .on_window_event(|window, event| {
            let host = window.state::<Arc<Host>>();
            match event {
                WindowEvent::CloseRequested { api, .. } if host.settings().close_to_tray => {
                    api.prevent_close();
                    let _ = window.hide();
                }
                WindowEvent::Focused(true) => host.touch(),
                _ => {}
            }
        })
        .setup(move |app| {
            let handle = app.handle().clone();
            let _ = shell.app.set(handle.clone());
            build_window(&handle)?;
            build_tray(&handle)?;
            let links_host = host.clone();
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    open_link(&links_host, url.as_str());
                }
            });
            for arg in first_args.iter().filter(|a| a.starts_with("belfry://")) {
                open_link(&host, arg);
            }
            tauri::async_runtime::spawn(host.clone().idle_timer(std::time::Duration::from_secs(15)));
            tauri::async_runtime::spawn(host.clone().unread_counter());
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|app, event| {
        if let tauri::RunEvent::ExitRequested { api, code: None, .. } = &event {
            // Closing the last window with "close to tray" keeps running.
            if app.state::<Arc<Host>>().settings().close_to_tray {
                api.prevent_exit();
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_apps_own_pages_load() {
        for ok in ["tauri://localhost/index.html", "http://tauri.localhost/", "https://tauri.localhost/x"] {
            assert!(navigation_allowed(&ok.parse().unwrap()), "{ok}");
        }
        for bad in [
            "https://example.org/",
            "http://localhost:5173/",
            "tauri://evil/",
            "file:///etc/passwd",
            "data:text/html,hi",
            "javascript:alert(1)",
            "belfry-preview://localhost/00",
        ] {
            assert!(!navigation_allowed(&bad.parse().unwrap()), "{bad}");
        }
    }
}
