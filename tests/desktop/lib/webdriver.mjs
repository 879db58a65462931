// A small W3C WebDriver client over fetch (Node 18+), enough to drive the
// real Belfry window through tauri-driver and WebKitWebDriver. No
// dependencies: the protocol is a handful of JSON requests.

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

export class WebDriverError extends Error {
  constructor(method, path, status, value) {
    super(`${method} ${path}: ${status} ${value?.error ?? ""} ${value?.message ?? ""}`.trim());
    this.error = value?.error;
  }
}

async function request(base, method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new WebDriverError(method, path, res.status, json.value);
  return json.value;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One app window driven through a WebDriver server (tauri-driver). */
export class Session {
  static async start(base, application, args = [], env = {}) {
    const caps = {
      capabilities: {
        alwaysMatch: {
          browserName: "wry",
          "tauri:options": { application, args, env },
        },
      },
    };
    // The first start of a debug build under a loaded machine is slow.
    const value = await request(base, "POST", "/session", caps);
    return new Session(base, value.sessionId);
  }

  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  cmd(method, path, body) {
    return request(this.base, method, `/session/${this.id}${path}`, body);
  }

  async quit() {
    await this.cmd("DELETE", "").catch(() => {});
  }

  /** All elements matching a CSS selector (possibly none). */
  async all(css) {
    const found = await this.cmd("POST", "/elements", { using: "css selector", value: css });
    return found.map((e) => new Element(this, e[ELEMENT]));
  }

  /** Waits for an element matching `css` (and `pred`, if given). */
  async find(css, { timeout = 20_000, visible = true, pred } = {}) {
    const until = Date.now() + timeout;
    let last = "";
    for (;;) {
      try {
        for (const el of await this.all(css)) {
          if (visible && !(await el.displayed())) continue;
          if (pred && !(await pred(el))) continue;
          return el;
        }
      } catch (e) {
        last = String(e);
      }
      if (Date.now() > until) throw new Error(`no element ${css} after ${timeout} ms ${last}`);
      await sleep(150);
    }
  }

  /** The text content of the first element matching `css` ("" if none). */
  textOf(css) {
    return this.script("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css);
  }

  /** Waits until the first element matching `css` contains `text`. */
  async waitText(css, text, timeout = 20_000) {
    let last = "";
    try {
      await this.until(`${css} to contain ${text}`, async () => (last = await this.textOf(css)).includes(text), timeout);
    } catch (e) {
      throw new Error(`${e.message} (it shows "${last}")`);
    }
  }

  /** Waits for an element whose text contains `text`. */
  findText(css, text, opts = {}) {
    return this.find(css, { ...opts, pred: async (el) => (await el.text()).includes(text) });
  }

  /** Waits until `fn` returns a truthy value. */
  async until(what, fn, timeout = 20_000) {
    const until = Date.now() + timeout;
    for (;;) {
      const v = await fn().catch(() => undefined);
      if (v) return v;
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await sleep(200);
    }
  }

  async gone(css, timeout = 20_000) {
    await this.until(`${css} to disappear`, async () => (await this.all(css)).length === 0, timeout);
  }

  script(source, ...args) {
    return this.cmd("POST", "/execute/sync", { script: source, args });
  }

  /** Keys to the focused element (W3C key codes, e.g. "\uE007" for Enter). */
  async keys(...chords) {
    for (const chord of chords) {
      const down = [...chord.keys].map((k) => ({ type: "keyDown", value: k }));
      const up = [...chord.keys].reverse().map((k) => ({ type: "keyUp", value: k }));
      await this.cmd("POST", "/actions", {
        actions: [{ type: "key", id: "keyboard", actions: [...down, ...up] }],
      });
    }
    await this.cmd("DELETE", "/actions");
  }

  /** The window as PNG bytes. */
  async screenshot() {
    return Buffer.from(await this.cmd("GET", "/screenshot"), "base64");
  }

  async setSize(width, height) {
    await this.cmd("POST", "/window/rect", { width, height });
  }
}

export class Element {
  constructor(session, id) {
    this.s = session;
    this.id = id;
  }
  cmd(method, path, body) {
    return this.s.cmd(method, `/element/${this.id}${path}`, body);
  }
  click() {
    return this.cmd("POST", "/click", {});
  }
  clear() {
    return this.cmd("POST", "/clear", {});
  }
  type(text) {
    return this.cmd("POST", "/value", { text });
  }
  text() {
    return this.cmd("GET", "/text");
  }
  displayed() {
    return this.cmd("GET", "/displayed");
  }
  attr(name) {
    return this.cmd("GET", `/attribute/${name}`);
  }
  prop(name) {
    return this.cmd("GET", `/property/${name}`);
  }
}

export const Keys = {
  enter: { keys: ["\uE007"] },
  escape: { keys: ["\uE00C"] },
  tab: { keys: ["\uE004"] },
  ctrl: (k) => ({ keys: ["\uE009", k] }),
  shiftEnter: { keys: ["\uE008", "\uE007"] },
};
