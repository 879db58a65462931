// The desktop app end to end: two real Belfry windows (debug builds of
// belfry-desktop, WebKitGTK under Xvfb, driven by tauri-driver) on two
// "laptops", a real relay over TLS on loopback, IT's real admin tool.
// Run by tests/desktop/run.sh (which builds and installs what it needs).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Org } from "./lib/org.mjs";
import { Instance } from "./lib/instance.mjs";
import { Keys } from "./lib/webdriver.mjs";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = process.env.BELFRY_BIN ?? join(ROOT, "target", "debug");
const APP = join(BIN, "belfry-desktop");
const SHOTS = process.env.BELFRY_SCREENSHOTS ?? join(ROOT, "target", "e2e-screenshots");
const WORK = mkdtempSync(join(tmpdir(), "belfry-e2e-"));

const ALICE_PASSPHRASE = "alice end-to-end passphrase";
const BOB_PASSCODE = "bob passcode 2468";

let org, alice, bob;
const $ = (s) => `[data-testid="${s}"]`;

async function shot(inst, label) {
  const file = await inst.screenshot(SHOTS, `${inst.name}-${label}`);
  console.log(`screenshot ${file}`);
}

before(async () => {
  org = await new Org(BIN, join(WORK, "org")).start();
  process.env.BELFRY_ORG_KEY = org.orgKey;
  process.env.BELFRY_ORG_NAME = "Ministry of Foreign Affairs (test)";
  process.env.BELFRY_TEST_FAST_KDF = "1";
  alice = await new Instance("alice", 0, WORK).start();
  bob = await new Instance("bob", 1, WORK).start();
});

after(async () => {
  // What each window showed at the end (the last screen of a failure).
  for (const inst of [alice, bob]) {
    if (inst?.session) await shot(inst, "99-last").catch(() => {});
  }
  await alice?.stop();
  await bob?.stop();
  org?.stop();
  if (process.env.BELFRY_E2E_VERBOSE) {
    console.log(org?.relayLog?.());
    console.log(alice?.log, bob?.log);
  }
});

async function enroll(inst, invitation, { deviceName, mode, secret }) {
  const s = await inst.open(APP);
  await s.find($("welcome-dropzone"), { timeout: 90_000 });
  await shot(inst, "01-welcome");
  // The hidden file input behind "Choose file": WebDriver hands it a path.
  const input = await s.find($("welcome-file-input"), { visible: false });
  await input.type(invitation);
  await s.find($("welcome-invitation"));
  await shot(inst, "02-invitation");
  assert.match(await (await s.find($("welcome-invitation"))).text(), /Ministry of Foreign Affairs/);
  const name = await s.find($("welcome-device-name"));
  await name.clear();
  await name.type(deviceName);
  await (await s.find($(`welcome-keymode-${mode}`))).click();
  await (await s.find($("welcome-secret"))).type(secret);
  await (await s.find($("welcome-secret-confirm"))).type(secret);
  await (await s.find($("welcome-enroll"))).click();
  await s.find($("room-list"), { timeout: 60_000 });
  await s.until("connected", async () => (await (await s.find($("connection-state"))).attr("data-state")) === "online");
  await shot(inst, "03-no-rooms");
  return s;
}

async function send(s, text) {
  const input = await s.find($("composer-input"));
  await input.click();
  await input.type(text);
  await s.keys(Keys.enter);
}

async function messageWith(s, text, timeout = 30_000) {
  return s.findText($("message"), text, { timeout });
}

test("two people enroll, talk, send a file, verify each other, lock, and IT wipes a lost laptop", async () => {
  const aliceInvite = org.invite("alice.martin", "Alice Martin");
  const bobInvite = org.invite("bob.okafor", "Bob Okafor");

  const a = await enroll(alice, aliceInvite, { deviceName: "Travel laptop", mode: "passphrase", secret: ALICE_PASSPHRASE });
  const b = await enroll(bob, bobInvite, { deviceName: "Office laptop", mode: "keychain", secret: BOB_PASSCODE });

  // Alice opens a group with Bob and writes.
  await (await a.find($("sidebar-new-group"))).click();
  await (await a.find($("new-group-name"))).type("Crisis cell");
  await (await a.find($("new-group-member-bob.okafor"))).click();
  await shot(alice, "04-new-group");
  await (await a.find($("new-group-create"))).click();
  await a.waitText($("room-title"), "Crisis cell");
  await send(a, "The draft communiqué is ready.");
  const mine = await messageWith(a, "The draft communiqué is ready.");
  await a.until("sent", async () => ["sent", "delivered", "read"].includes(await mine.attr("data-status")));

  // Bob sees the room and the message, and answers.
  const room = await b.find(`[data-room-name="Crisis cell"]`, { timeout: 60_000 });
  await room.click();
  await messageWith(b, "The draft communiqué is ready.");
  await send(b, "Read it. Two changes in paragraph 3.");
  await messageWith(a, "Read it. Two changes in paragraph 3.");
  // Bob read Alice's message: her window says so.
  await a.until("read by Bob", async () => (await mine.attr("data-status")) === "read", 30_000);
  await shot(alice, "05-conversation");
  await shot(bob, "05-conversation");

  // Alice sends a file; Bob saves it where he chooses (the native dialog).
  const annex = join(WORK, "annex-b.txt");
  writeFileSync(annex, "Annex B: evacuation routes and assembly points (test file)\n");
  await (await a.find($("composer-file-input"), { visible: false })).type(annex);
  await b.find($("attachment"), { timeout: 60_000 });
  await shot(bob, "06-file");
  // Not yet driven here: saving it through the host's native save dialog
  // (xdotool did not reach the GTK dialog under Xvfb); the command layer's
  // test saves through a scripted dialog.
  // They verify each other's laptops: the same seven emoji on both screens.
  await (await a.find($("room-details-toggle"))).click();
  const verifyBob = await a.find(`[data-testid^="device-verify-"]`);
  const bobDevice = (await verifyBob.attr("data-testid")).replace("device-verify-", "");
  await shot(alice, "07-room-details");
  await verifyBob.click();
  await (await b.find($("verify-accept"), { timeout: 30_000 })).click();
  const aEmoji = await (await a.find($("verify-emojis"), { timeout: 30_000 })).text();
  const bEmoji = await (await b.find($("verify-emojis"), { timeout: 30_000 })).text();
  assert.equal(aEmoji, bEmoji);
  await shot(alice, "08-verify-emoji");
  await shot(bob, "08-verify-emoji");
  await (await a.find($("verify-match"))).click();
  await (await b.find($("verify-match"))).click();
  await a.find($("verify-done"), { timeout: 30_000 });
  await b.find($("verify-done"), { timeout: 30_000 });
  await (await a.find($("verify-close"))).click();
  await (await b.find($("verify-close"))).click();

  // Lock: the engine is dropped; only the passphrase brings it back.
  await a.keys(Keys.ctrl("l"));
  const secret = await a.find($("lock-secret"));
  await shot(alice, "09-locked");
  await secret.type("not the passphrase");
  await a.keys(Keys.enter);
  await a.find($("lock-error"), { timeout: 30_000 });
  const again = await a.find($("lock-secret"));
  await again.clear();
  await again.type(ALICE_PASSPHRASE);
  await a.keys(Keys.enter);
  await messageWith(a, "Read it. Two changes in paragraph 3.", 60_000);

  // Every language, both themes: screenshots of the main window and settings.
  for (const [lang, theme] of [["fr", "dark"], ["nl", "light"], ["de", "dark"], ["en", "light"]]) {
    await (await a.find($("sidebar-settings"))).click();
    for (const id of [`settings-language-${lang}`, `settings-theme-${theme}`]) {
      const choice = await a.find($(id));
      await choice.click();
      const chosen = async () =>
        (await choice.attr("data-selected")) === "true" || (await choice.attr("aria-checked")) === "true";
      await a.until(`${id} chosen`, chosen);
    }
    await shot(alice, `10-settings-${lang}-${theme}`);
    await a.keys(Keys.escape);
    await a.gone($("settings"));
    await shot(alice, `11-main-${lang}-${theme}`);
  }

  // Bob's laptop is lost: IT revokes it and orders a wipe; it erases itself.
  org.revokeAndWipe(`bob.okafor/${bobDevice}`);
  await b.find($("wiped-screen"), { timeout: 60_000 });
  await shot(bob, "12-wiped");
  const left = existsSync(bob.profile) ? readdirSync(bob.profile, { recursive: true }) : [];
  assert.deepEqual(left.filter((f) => !f.startsWith(".")), [], `files left in Bob's profile: ${left}`);
  await shot(alice, "13-bob-revoked");
});
