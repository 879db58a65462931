// The organisation side of the desktop end-to-end test, with the real
// binaries: IT's org key and invitations (belfry-admin), a real relay on
// loopback over TLS (belfry-relay), and confirmations and orders that the
// relay distributes.

import { spawn, execFileSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

export class Org {
  constructor(bin, dir) {
    this.bin = bin;
    this.dir = dir;
    this.env = {
      ...process.env,
      BELFRY_ORG_PASSPHRASE: "end-to-end test passphrase, never for a real organisation",
    };
  }

  admin(...args) {
    return execFileSync(join(this.bin, "belfry-admin"), ["--dir", join(this.dir, "org"), ...args], {
      env: this.env,
      encoding: "utf8",
    });
  }

  relayCmd(...args) {
    return execFileSync(join(this.bin, "belfry-relay"), args, { env: this.env, encoding: "utf8" });
  }

  /** Creates the org key and the relay, and starts the relay. */
  async start(name = "Ministry of Foreign Affairs (test)") {
    mkdirSync(this.dir, { recursive: true });
    this.admin("org", "init", "--name", name);
    const org = JSON.parse(readFileSync(join(this.dir, "org", "org.json"), "utf8"));
    this.orgKey = org.public_key;
    const relayDir = join(this.dir, "relay");
    this.relayCmd("init", "--dir", relayDir, "--name", "localhost", "--listen", "127.0.0.1:0", "--org-key", this.orgKey);
    this.relay = spawn(join(this.bin, "belfry-relay"), ["serve", "--dir", relayDir], {
      env: this.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let log = "";
    this.relay.stderr.on("data", (d) => (log += d));
    this.url = await new Promise((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`the relay did not start:\n${log}`)), 30_000);
      this.relay.stdout.on("data", (d) => {
        out += d;
        const m = out.match(/listening on (wss:\/\/[^/\s]*)\/v1\/ws/);
        if (m) {
          clearTimeout(timer);
          resolve(m[1].replace("127.0.0.1", "localhost"));
        }
      });
      this.relay.on("exit", (code) => reject(new Error(`the relay exited (${code}):\n${log}`)));
    });
    this.relay.removeAllListeners("exit");
    this.relayLog = () => log;
    return this;
  }

  /** An invitation for `user`, registered with the relay; returns its path. */
  invite(user, name) {
    const out = join(this.dir, `${user}.belfry-invite`);
    this.admin("invite", "--user", user, "--name", name, "--no-qr", "--relay", this.url,
      "--relay-ca", join(this.dir, "relay", "ca.pem"), "--out", out);
    this.relayCmd("register", "--dir", join(this.dir, "relay"), join(this.dir, `${user}.belfry-registration`));
    return out;
  }

  /** IT confirms a device from the .belfry-device file its enrollment wrote. */
  confirm(deviceFile) {
    const out = `${deviceFile}.confirm`;
    this.admin("confirm", deviceFile, "--out", out);
    this.relayCmd("statement", "--dir", join(this.dir, "relay"), out);
  }

  /** IT revokes and orders a wipe of `device`; the relay distributes both. */
  revokeAndWipe(device, reason = "Laptop lost in transit") {
    const slug = device.replace("/", "-");
    const revoke = join(this.dir, `revoke-${slug}.belfry-statement`);
    const wipe = join(this.dir, `wipe-${slug}.belfry-statement`);
    this.admin("revoke", "--device", device, "--reason", reason, "--out", revoke);
    this.admin("wipe", "--device", device, "--out", wipe);
    this.relayCmd("statement", "--dir", join(this.dir, "relay"), revoke, wipe);
  }

  /** The .belfry-device files written by enrollments under `dir`. */
  static deviceFiles(dir) {
    return readdirSync(dir).filter((f) => f.endsWith(".belfry-device")).map((f) => join(dir, f));
  }

  stop() {
    this.relay?.kill("SIGTERM");
  }
}

export function writeText(path, text) {
  writeFileSync(path, text);
  return path;
}
