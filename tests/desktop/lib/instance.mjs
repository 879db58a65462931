// One Belfry desktop "laptop" for the end-to-end test: its own X server
// (Xvfb), its own D-Bus session with a real Secret Service (gnome-keyring),
// its own HOME, and a tauri-driver in front of WebKitWebDriver, so that two
// apps run side by side without sharing a single-instance lock, a keyring or
// a file dialog.

import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Session } from "./webdriver.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Instance {
  /**
   * @param {string} name   who (for logs and screenshots)
   * @param {number} slot   0, 1, ...: picks the display and ports
   * @param {string} root   scratch directory
   */
  constructor(name, slot, root) {
    this.name = name;
    this.display = `:${90 + slot}`;
    this.port = 4444 + 2 * slot;
    this.nativePort = 4445 + 2 * slot;
    this.home = join(root, `${name}-home`);
    this.profile = join(root, `${name}-profile`);
    this.procs = [];
    this.log = "";
  }

  async start() {
    mkdirSync(join(this.home, "run"), { recursive: true, mode: 0o700 });
    const xvfb = spawn("Xvfb", [this.display, "-screen", "0", "1280x860x24", "-nolisten", "tcp"], {
      stdio: "ignore",
    });
    this.procs.push(xvfb);
    await sleep(500);
    const env = {
      ...process.env,
      DISPLAY: this.display,
      HOME: this.home,
      XDG_DATA_HOME: join(this.home, "data"),
      XDG_CONFIG_HOME: join(this.home, "config"),
      XDG_RUNTIME_DIR: join(this.home, "run"),
      // Leave WebKit's compositing on: with WEBKIT_DISABLE_COMPOSITING_MODE
      // set, WebKitWebDriver's screenshots never return under Xvfb.
      LANG: "en_GB.UTF-8",
    };
    delete env.DBUS_SESSION_BUS_ADDRESS;
    const script =
      "echo -n e2e | gnome-keyring-daemon --unlock --components=secrets >/dev/null; " +
      `exec tauri-driver --port ${this.port} --native-port ${this.nativePort}`;
    const driver = spawn("dbus-run-session", ["--", "sh", "-c", script], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    driver.stdout.on("data", (d) => (this.log += d));
    driver.stderr.on("data", (d) => (this.log += d));
    this.procs.push(driver);
    this.env = env;
    const base = `http://127.0.0.1:${this.port}`;
    for (let i = 0; ; i++) {
      try {
        await fetch(`${base}/status`);
        break;
      } catch {
        if (i > 100) throw new Error(`tauri-driver for ${this.name} did not start:\n${this.log}`);
        await sleep(100);
      }
    }
    this.base = base;
    return this;
  }

  /** Starts the app under WebDriver (the real binary, a debug build). */
  async open(app) {
    this.session = await Session.start(this.base, app, ["--profile", this.profile]);
    await this.session.setSize(1280, 820).catch(() => {});
    return this.session;
  }

  /** Answers a native GTK file dialog on this instance's display: types a path and Enter. */
  async answerFileDialog(path) {
    await sleep(1500);
    const x = (...args) => execFileSync("xdotool", args, { env: this.env });
    x("key", "ctrl+l");
    await sleep(300);
    x("type", "--delay", "20", path);
    await sleep(300);
    x("key", "Return");
  }

  async screenshot(dir, label) {
    mkdirSync(dir, { recursive: true });
    const png = await this.session.screenshot();
    const file = join(dir, `${label}.png`);
    writeFileSync(file, png);
    return file;
  }

  async stop() {
    await this.session?.quit();
    for (const p of this.procs.reverse()) {
      try {
        process.kill(-p.pid, "SIGTERM");
      } catch {
        p.kill("SIGTERM");
      }
    }
  }
}
