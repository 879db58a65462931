/**
 * A pretend host for looking at the screens in a plain browser (`vite --mode mock`) and for the
 * component tests. It is never part of a production build: main.tsx imports it only when the
 * compile-time flag __MOCK__ is set, and the tests import it directly.
 */
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { AlertView } from "../bindings/AlertView";
import type { AppState } from "../bindings/AppState";
import type { Contact } from "../bindings/Contact";
import type { DeviceView } from "../bindings/DeviceView";
import type { EnrollStep } from "../bindings/EnrollStep";
import type { MessageView } from "../bindings/MessageView";
import type { Phase } from "../bindings/Phase";
import type { ProfileSummary } from "../bindings/ProfileSummary";
import type { RoomDetails } from "../bindings/RoomDetails";
import type { RoomSummary } from "../bindings/RoomSummary";
import type { Settings } from "../bindings/Settings";
import type { UiError } from "../bindings/UiError";
import type { UiEvent } from "../bindings/UiEvent";
import type { VerificationView } from "../bindings/VerificationView";

export interface MockOptions {
  phase?: Phase;
  settings?: Partial<Settings>;
  /** Milliseconds for simulated network steps (0 in tests). */
  delay?: number;
  /** Colleagues answer in the crisis cell. */
  liveReplies?: boolean;
  /** Size of the archive room (100,000 by default). */
  archiveSize?: number;
  /** Answer every page request with at least this many messages (the 100,000-row test). */
  minPage?: number;
  /** The relay's file size limit (100 MiB by default). */
  maxFileSize?: number;
  /** Fixed "now" so fixtures render the same every time. */
  now?: number;
  /** The host's save dialog picks a file that exists (save_attachment answers fileExists). */
  saveExists?: boolean;
}

interface Channelish<T> {
  onmessage: (m: T) => void;
}

const ME = "claire.dubois";
const ORG = "Ministry of Foreign Affairs";
const FINGERPRINT = "8F3A 21C4 9B7E D052 6A11 F0C3 47E9 B2D8";

export const people: Contact[] = [
  { user: "ahmed.elamrani", displayName: "Ahmed El Amrani" },
  { user: "anna.kowalska", displayName: "Anna Kowalska" },
  { user: ME, displayName: "Claire Dubois" },
  { user: "ingrid.janssens", displayName: "Ingrid Janssens" },
  { user: "jan.devries", displayName: "Jan de Vries" },
  { user: "katharina.mueller", displayName: "Katharina Müller" },
  { user: "lukas.wagner", displayName: "Lukas Wagner" },
  { user: "marie.lambert", displayName: "Marie Lambert" },
  { user: "pieter.claes", displayName: "Pieter Claes" },
  { user: "sofia.rossi", displayName: "Sofia Rossi" },
];
const nameOf = (u: string) => people.find((p) => p.user === u)?.displayName ?? u;

export const ARCHIVE_ROOM = "room-archive";
const ARCHIVE_LINES = [
  "Noted, thank you.",
  "The minutes of the committee are attached to the file.",
  "Can we move the call to 15:00?",
  "Agreed. I will inform the embassy.",
  "Draft statement v3 is in the shared folder.",
  "Please keep this within the cabinet for now.",
];

export function createMockBackend(opts: MockOptions = {}) {
  const delay = opts.delay ?? 400;
  const now = opts.now ?? Date.now();
  const archiveSize = opts.archiveSize ?? 100_000;
  let phase: Phase = opts.phase ?? "unlocked";
  let settings: Settings = {
    language: "en",
    theme: "system",
    notifications: "senderOnly",
    lockAfterMinutes: 10,
    closeToTray: true,
    showPreviews: true,
    ...opts.settings,
  };
  const profile: ProfileSummary = {
    user: ME,
    displayName: "Claire Dubois",
    device: "DEV-7Q4K-LAPTOP",
    deviceName: "Office laptop",
    orgName: ORG,
    keyMode: "keychain",
    hasPasscode: true,
  };
  let channel: Channelish<UiEvent> | null = null;
  const emit = (e: UiEvent) => channel?.onmessage(e);
  const later = (ms: number, f: () => void) => setTimeout(f, delay === 0 ? 0 : ms);
  let seq = 1;
  const mkId = () => `m-${seq++}`;

  const msg = (room: string, sender: string, minsAgo: number, body: string, extra: Partial<MessageView> = {}): MessageView => ({
    id: mkId(),
    room,
    sender,
    senderName: nameOf(sender),
    sentAt: now - minsAgo * 60_000,
    status: sender === ME ? "read" : "received",
    body,
    replyTo: null,
    edited: false,
    own: sender === ME,
    attachment: null,
    reactions: [],
    readBy: [],
    expiresAt: null,
    ...extra,
  });

  const rooms: (Omit<RoomSummary, "last" | "lastActivity" | "unread"> & { members: { user: string; role: "admin" | "member" }[]; unread: number })[] = [
    {
      id: "room-crisis",
      kind: "group",
      name: "Crisis cell — RESTRICTED",
      classification: "RESTRICTED",
      retentionSecs: 7 * 86_400,
      conflict: null,
      memberCount: 6,
      unread: 3,
      members: [
        { user: ME, role: "admin" },
        { user: "jan.devries", role: "admin" },
        { user: "katharina.mueller", role: "member" },
        { user: "ahmed.elamrani", role: "member" },
        { user: "sofia.rossi", role: "member" },
        { user: "pieter.claes", role: "member" },
      ],
    },
    {
      id: "room-cabinet",
      kind: "group",
      name: "Cabinet",
      classification: "INTERNAL",
      retentionSecs: null,
      conflict: null,
      memberCount: 8,
      unread: 0,
      members: [
        { user: "marie.lambert", role: "admin" },
        { user: ME, role: "member" },
        { user: "jan.devries", role: "member" },
        { user: "lukas.wagner", role: "member" },
        { user: "anna.kowalska", role: "member" },
        { user: "ingrid.janssens", role: "member" },
        { user: "katharina.mueller", role: "member" },
        { user: "sofia.rossi", role: "member" },
      ],
    },
    {
      id: "room-dm-jan",
      kind: "direct",
      name: "Jan de Vries",
      classification: null,
      retentionSecs: null,
      conflict: null,
      memberCount: 2,
      unread: 1,
      members: [
        { user: ME, role: "admin" },
        { user: "jan.devries", role: "admin" },
      ],
    },
    {
      id: "room-dm-katharina",
      kind: "direct",
      name: "Katharina Müller",
      classification: null,
      retentionSecs: 86_400,
      conflict: null,
      memberCount: 2,
      unread: 0,
      members: [
        { user: ME, role: "admin" },
        { user: "katharina.mueller", role: "admin" },
      ],
    },
    {
      id: "room-press",
      kind: "group",
      name: "Press office",
      classification: null,
      retentionSecs: null,
      conflict: "Two admins changed the members at the same time.",
      memberCount: 4,
      unread: 0,
      members: [
        { user: "ingrid.janssens", role: "admin" },
        { user: ME, role: "member" },
        { user: "lukas.wagner", role: "member" },
        { user: "anna.kowalska", role: "member" },
      ],
    },
    {
      id: ARCHIVE_ROOM,
      kind: "group",
      name: "Archive 2019–2025",
      classification: "INTERNAL",
      retentionSecs: null,
      conflict: null,
      memberCount: 3,
      unread: 0,
      members: [
        { user: ME, role: "admin" },
        { user: "marie.lambert", role: "member" },
        { user: "pieter.claes", role: "member" },
      ],
    },
  ];

  const history: Record<string, MessageView[]> = {};
  {
    const c = "room-crisis";
    const a = msg(c, "jan.devries", 26 * 60, "Good morning. The embassy in the capital reports road closures near the airport since 06:00.");
    const b = msg(c, "katharina.mueller", 26 * 60 - 3, "Bestätigt. Our liaison officer is on site; 42 nationals registered so far.");
    const d = msg(c, ME, 26 * 60 - 1, "Thank you both. Let us prepare the evacuation list by 11:00.", { reactions: [{ key: "👍", users: ["jan.devries", "katharina.mueller"], mine: false }], readBy: ["jan.devries", "katharina.mueller", "ahmed.elamrani"] });
    const e = msg(c, "ahmed.elamrani", 95, "The charter company confirms two aircraft, departure window 18:00–21:00 local time.");
    const f = msg(c, "sofia.rossi", 90, "Consular team ready. We need the final passenger list two hours before boarding.", { replyTo: e.id });
    const g = msg(c, ME, 40, "Draft passenger list attached. Please check the names of your region.", {
      attachment: { name: "passenger-list-draft.pdf", mime: "application/pdf", size: 284_112, isImage: false, downloaded: true },
      readBy: ["jan.devries"],
      status: "delivered",
      expiresAt: now + 7 * 86_400_000 - 40 * 60_000,
    });
    const h = msg(c, "pieter.claes", 12, "Ik controleer de lijst voor de Benelux-onderdanen en meld me voor 14:00.", { expiresAt: now + 7 * 86_400_000 - 12 * 60_000 });
    const i = msg(c, "jan.devries", 6, "The minister wants a briefing at 16:30. Claire, can you prepare the one-pager?", { expiresAt: now + 7 * 86_400_000 - 6 * 60_000 });
    const j = msg(c, "jan.devries", 5, "Short and factual please: numbers, flights, risks.", { edited: true, expiresAt: now + 7 * 86_400_000 - 5 * 60_000 });
    const k = msg(c, ME, 2, "Yes, on it. You will have it by 15:45.", { status: "sent", replyTo: i.id, expiresAt: now + 7 * 86_400_000 - 2 * 60_000 });
    history[c] = [a, b, d, e, f, g, h, i, j, k];
  }
  {
    const c = "room-cabinet";
    history[c] = [
      msg(c, "marie.lambert", 3 * 24 * 60, "Reminder: cabinet meeting moved to Thursday 09:30, room 4.12."),
      msg(c, "lukas.wagner", 3 * 24 * 60 - 10, "Danke. I will bring the budget figures for the development programme."),
      msg(c, "anna.kowalska", 2 * 24 * 60, "The Polish delegation confirmed their visit on the 14th."),
      msg(c, ME, 2 * 24 * 60 - 5, "Noted. I'll coordinate the bilateral with the Secretary-General.", { readBy: ["marie.lambert", "anna.kowalska"] }),
      msg(c, "ingrid.janssens", 24 * 60 + 30, "Persbericht over het handelsakkoord staat klaar voor goedkeuring."),
      msg(c, "marie.lambert", 3 * 60, "Approved, thank you Ingrid. Publish at 12:00.", { reactions: [{ key: "✅", users: ["ingrid.janssens", ME], mine: true }] }),
      msg(c, "sofia.rossi", 50, "Photo of the signing ceremony, for the newsletter.", {
        attachment: { name: "signing-ceremony.jpg", mime: "image/jpeg", size: 1_840_220, isImage: true, downloaded: false },
      }),
    ];
  }
  {
    const c = "room-dm-jan";
    history[c] = [
      msg(c, "jan.devries", 5 * 24 * 60, "Heb je even tijd voor de NAVO-nota?"),
      msg(c, ME, 5 * 24 * 60 - 2, "Yes, after lunch. Shall I call you?", { readBy: ["jan.devries"] }),
      msg(c, ME, 3 * 60, "I have sent the comments on the note.", { status: "failed" }),
      msg(c, "jan.devries", 20, "Could you call me when you are out of the meeting?"),
    ];
  }
  {
    const c = "room-dm-katharina";
    history[c] = [
      msg(c, "katharina.mueller", 2 * 24 * 60, "Die Unterlagen für Brüssel sind fertig.", { expiresAt: now + 86_400_000 - 2 * 24 * 60 * 60_000 }),
      msg(c, ME, 2 * 24 * 60 - 4, "Merci Katharina, parfait.", { readBy: ["katharina.mueller"] }),
    ];
  }
  {
    const c = "room-press";
    history[c] = [msg(c, "ingrid.janssens", 8 * 60, "Press line on the trade agreement: see the draft below.")];
  }

  const archiveMsg = (n: number): MessageView => {
    const senders = [ME, "marie.lambert", "pieter.claes"];
    const sender = senders[(n * 7) % 3];
    return {
      id: `arch-${n}`,
      room: ARCHIVE_ROOM,
      sender,
      senderName: nameOf(sender),
      sentAt: now - (archiveSize - n) * 17 * 60_000,
      status: sender === ME ? "read" : "received",
      body: `${ARCHIVE_LINES[n % ARCHIVE_LINES.length]} (#${n + 1})`,
      replyTo: null,
      edited: false,
      own: sender === ME,
      attachment: null,
      reactions: [],
      readBy: [],
      expiresAt: null,
    };
  };

  const alerts: AlertView[] = [
    { id: 1, at: now - 30 * 60_000, kind: "newDevice", room: "room-crisis", user: "katharina.mueller", device: "KM-TABLET-02", detail: "" },
    { id: 2, at: now - 8 * 60_000, kind: "undecryptable", room: "room-crisis", user: "sofia.rossi", device: null, detail: "The session key has not arrived yet." },
    { id: 3, at: now - 2 * 24 * 3_600_000 - 60_000, kind: "deviceRevoked", room: "room-cabinet", user: "lukas.wagner", device: "LW-OLD-PHONE", detail: "" },
    { id: 4, at: now - 7 * 60 * 60_000, kind: "stateConflict", room: "room-press", user: null, device: null, detail: "Member list signed at version 12 differs from the relay's version 13." },
  ];

  const verifications: Record<string, VerificationView> = {};
  const EMOJIS = [
    { symbol: "🐶", name: "Dog" },
    { symbol: "🔑", name: "Key" },
    { symbol: "🌍", name: "Globe" },
    { symbol: "🎸", name: "Guitar" },
    { symbol: "⚓", name: "Anchor" },
    { symbol: "🍎", name: "Apple" },
    { symbol: "🚲", name: "Bicycle" },
  ];

  const devicesOf = (user: string): DeviceView[] => {
    if (user === ME)
      return [
        { device: "DEV-7Q4K-LAPTOP", name: "Office laptop", trust: "verified", own: true, current: true },
        { device: "DEV-2M8P-TRAVEL", name: "Travel laptop", trust: "trusted", own: true, current: false },
        { device: "DEV-0X1Z-OLD", name: "Old desktop", trust: "revoked", own: true, current: false },
      ];
    const base = user.split(".")[0].toUpperCase().slice(0, 3);
    const list: DeviceView[] = [{ device: `${base}-LAPTOP-01`, name: "Laptop", trust: user === "jan.devries" ? "verified" : "trusted", own: false, current: false }];
    if (user === "katharina.mueller") list.push({ device: "KM-TABLET-02", name: "Tablet", trust: "trusted", own: false, current: false });
    if (user === "lukas.wagner") list.push({ device: "LW-OLD-PHONE", name: "Old phone", trust: "revoked", own: false, current: false });
    return list;
  };

  const roomList = (): RoomSummary[] =>
    rooms
      .map((r) => {
        const last = r.id === ARCHIVE_ROOM ? archiveMsg(archiveSize - 1) : history[r.id]?.[history[r.id].length - 1];
        return {
          id: r.id,
          kind: r.kind,
          name: r.name,
          classification: r.classification,
          retentionSecs: r.retentionSecs,
          conflict: r.conflict,
          memberCount: r.members.length,
          unread: r.unread,
          lastActivity: last?.sentAt ?? 0,
          last: last
            ? {
                sender: last.sender,
                senderName: last.senderName,
                text: settings.showPreviews ? last.body.slice(0, 80) : "",
                at: last.sentAt,
                hasAttachment: !!last.attachment,
              }
            : null,
        };
      })
      .sort((a, b) => b.lastActivity - a.lastActivity);

  const fail = (code: UiError["code"], detail: string | null = null): never => {
    throw { code, detail } satisfies UiError;
  };
  const roomOf = (id: string) => rooms.find((r) => r.id === id) ?? fail("notFound");
  const findMsg = (id: string): MessageView | undefined => {
    for (const list of Object.values(history)) {
      const m = list.find((x) => x.id === id);
      if (m) return m;
    }
    return undefined;
  };
  const page = (room: string, before: string | null, limit: number): MessageView[] => {
    if (room === ARCHIVE_ROOM) {
      const end = before === null ? archiveSize : Number(before.slice(5));
      const out: MessageView[] = [];
      for (let n = Math.max(0, end - limit); n < end; n++) out.push(archiveMsg(n));
      return out;
    }
    const list = history[room] ?? [];
    const end = before === null ? list.length : list.findIndex((m) => m.id === before);
    return list.slice(Math.max(0, end - limit), Math.max(0, end));
  };

  const progress = (m: MessageView) => {
    const steps: [number, MessageView["status"]][] = [
      [300, "sent"],
      [1200, "delivered"],
      [3000, "read"],
    ];
    for (const [ms, status] of steps)
      later(ms, () => {
        m.status = status;
        if (status === "read") m.readBy = roomOf(m.room).members.filter((x) => x.user !== ME).slice(0, 2).map((x) => x.user);
        emit({ type: "status", message: m.id, status });
        if (status === "read") emit({ type: "message", message: { ...m } });
      });
  };

  const replies = ["Thank you, received.", "Verstanden, ich kümmere mich darum.", "Bien noté, merci.", "Prima, dank je."];
  let replyN = 0;

  /** Every command received, for the tests. */
  const calls: { cmd: string; args: unknown }[] = [];
  const cancelled = new Set<string>();
  const handler = async (cmd: string, payload: Record<string, unknown> | undefined): Promise<unknown> => {
    calls.push({ cmd, args: payload?.args });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const args = (payload?.args ?? {}) as any;
    const unlocked = () => {
      if (phase !== "unlocked") fail("locked");
    };
    switch (cmd) {
      case "app_state":
        return { phase, profile: phase === "welcome" ? null : profile } satisfies AppState;
      case "events":
        channel = (payload as { channel: Channelish<UiEvent> }).channel;
        return null;
      case "settings":
        return settings;
      case "set_settings":
        settings = (args as { settings: Settings }).settings;
        return null;
      case "inspect_invitation": {
        const text = String((args as { text: string }).text);
        if (/expired/i.test(text)) fail("invitationExpired");
        if (/revoked/i.test(text)) fail("invitationRevoked");
        if (/other/i.test(text)) fail("invitationOtherOrg");
        if (!/BEGIN BELFRY INVITATION|^belfry/i.test(text.trim())) fail("invitationMalformed", "no BELFRY INVITATION block and no belfry:// link");
        return { orgName: ORG, orgFingerprint: FINGERPRINT, relayUrl: "https://relay.diplo.example:8443", user: ME, expiresAt: now + 3 * 86_400_000 };
      }
      case "enroll": {
        const onProgress = (payload as { onProgress: Channelish<EnrollStep> }).onProgress;
        const steps: EnrollStep[] = ["checking", "connecting", "registering", "storingKeys", "done"];
        for (const s of steps) {
          onProgress.onmessage(s);
          await new Promise((r) => setTimeout(r, delay));
        }
        phase = "unlocked";
        return profile;
      }
      case "unlock": {
        const secret = String((args as { secret: string }).secret);
        if (secret === "many") fail("tooManyTries", "30");
        if (secret === "wrong") fail("wrongSecret");
        phase = "unlocked";
        return null;
      }
      case "lock":
        phase = "locked";
        emit({ type: "locked" });
        return null;
      case "report_activity":
        return null;
      case "status":
        return {
          online: true,
          caughtUp: true,
          relayUrl: "https://relay.diplo.example:8443",
          user: ME,
          device: profile.device,
          deviceName: profile.deviceName,
          orgName: ORG,
          orgFingerprint: FINGERPRINT,
          pendingCount: 1,
          version: "0.1.0",
        };
      case "room_summaries":
        unlocked();
        return roomList();
      case "room_details": {
        const r = roomOf((args as { room: string }).room);
        return {
          id: r.id,
          kind: r.kind,
          name: r.name,
          classification: r.classification,
          retentionSecs: r.retentionSecs,
          conflict: r.conflict ? "Member list signed at version 12 differs from the relay's version 13." : null,
          myRole: r.members.find((m) => m.user === ME)?.role ?? "member",
          members: r.members.map((m) => ({ user: m.user, displayName: nameOf(m.user), role: m.role, devices: devicesOf(m.user) })),
        } satisfies RoomDetails;
      }
      case "directory":
        return people;
      case "create_group": {
        const a = args as { name: string; members: string[] };
        const id = `room-${seq++}`;
        rooms.push({ id, kind: "group", name: a.name, classification: null, retentionSecs: null, conflict: null, memberCount: a.members.length + 1, unread: 0, members: [{ user: ME, role: "admin" }, ...a.members.map((u) => ({ user: u, role: "member" as const }))] });
        history[id] = [];
        return id;
      }
      case "open_direct": {
        const user = (args as { user: string }).user;
        const existing = rooms.find((r) => r.kind === "direct" && r.members.some((m) => m.user === user));
        if (existing) return existing.id;
        const id = `room-dm-${seq++}`;
        rooms.push({ id, kind: "direct", name: nameOf(user), classification: null, retentionSecs: null, conflict: null, memberCount: 2, unread: 0, members: [{ user: ME, role: "admin" }, { user, role: "admin" }] });
        history[id] = [];
        return id;
      }
      case "add_member": {
        const a = args as { room: string; user: string };
        roomOf(a.room).members.push({ user: a.user, role: "member" });
        emit({ type: "room", room: a.room });
        return null;
      }
      case "remove_member": {
        const a = args as { room: string; user: string };
        const r = roomOf(a.room);
        r.members = r.members.filter((m) => m.user !== a.user);
        emit({ type: "room", room: a.room });
        return null;
      }
      case "rename_room": {
        const a = args as { room: string; name: string };
        roomOf(a.room).name = a.name;
        emit({ type: "room", room: a.room });
        return null;
      }
      case "set_retention": {
        const a = args as { room: string; secs: number | null };
        roomOf(a.room).retentionSecs = a.secs;
        emit({ type: "room", room: a.room });
        return null;
      }
      case "set_classification": {
        const a = args as { room: string; label: string | null };
        roomOf(a.room).classification = a.label;
        emit({ type: "room", room: a.room });
        return null;
      }
      case "messages_before": {
        unlocked();
        const a = args as { room: string; before: string | null; limit: number };
        return page(a.room, a.before, Math.max(a.limit, opts.minPage ?? 0));
      }
      case "messages_around": {
        const a = args as { room: string; message: string; limit: number };
        if (a.room === ARCHIVE_ROOM) {
          const n = Number(a.message.slice(5));
          const out: MessageView[] = [];
          const before = Math.floor((a.limit - 1) / 2);
          for (let i = Math.max(0, n - before); i < Math.min(archiveSize, n + (a.limit - before)); i++) out.push(archiveMsg(i));
          return out;
        }
        const list = history[a.room] ?? [];
        const i = list.findIndex((m) => m.id === a.message);
        if (i < 0) return [];
        const before = Math.floor((a.limit - 1) / 2);
        return list.slice(Math.max(0, i - before), i + (a.limit - before));
      }
      case "send_text": {
        const a = args as { room: string; body: string; replyTo: string | null };
        const r = roomOf(a.room);
        const m = msg(a.room, ME, 0, a.body, { status: "pending", replyTo: a.replyTo, sentAt: Date.now(), expiresAt: r.retentionSecs ? Date.now() + r.retentionSecs * 1000 : null });
        (history[a.room] ??= []).push(m);
        emit({ type: "message", message: { ...m } });
        progress(m);
        if (opts.liveReplies !== false && delay > 0 && r.kind === "group") {
          const who = r.members.find((x) => x.user !== ME)?.user ?? ME;
          later(4000, () => {
            const reply = msg(a.room, who, 0, replies[replyN++ % replies.length], { sentAt: Date.now(), replyTo: m.id });
            history[a.room].push(reply);
            emit({ type: "message", message: { ...reply } });
          });
        }
        return { ...m };
      }
      case "edit_message": {
        const a = args as { message: string; body: string };
        const m = findMsg(a.message) ?? fail("notFound");
        m.body = a.body;
        m.edited = true;
        emit({ type: "message", message: { ...m } });
        return null;
      }
      case "delete_message": {
        const a = args as { room: string; message: string };
        history[a.room] = (history[a.room] ?? []).filter((m) => m.id !== a.message);
        emit({ type: "removed", message: a.message });
        return null;
      }
      case "react": {
        const a = args as { message: string; key: string };
        const m = findMsg(a.message) ?? fail("notFound");
        const r = m.reactions.find((x) => x.key === a.key);
        if (r && r.mine) {
          r.users = r.users.filter((u) => u !== ME);
          r.mine = false;
          if (r.users.length === 0) m.reactions = m.reactions.filter((x) => x !== r);
        } else if (r) {
          r.users.push(ME);
          r.mine = true;
        } else {
          m.reactions = [...m.reactions, { key: a.key, users: [ME], mine: true }].sort((x, y) => x.key.localeCompare(y.key));
        }
        emit({ type: "reaction", message: m.id });
        return null;
      }
      case "mark_read": {
        const r = rooms.find((x) => x.id === (args as { room: string }).room);
        if (r && r.unread > 0) {
          r.unread = 0;
          emit({ type: "room", room: r.id });
        }
        return null;
      }
      case "retry": {
        const m = findMsg((args as { message: string }).message) ?? fail("notFound");
        m.status = "pending";
        emit({ type: "status", message: m.id, status: "pending" });
        progress(m);
        return null;
      }
      case "search": {
        const q = String((args as { query: string }).query).toLowerCase();
        const hits = [];
        for (const r of rooms) for (const m of history[r.id] ?? []) if (m.body.toLowerCase().includes(q)) hits.push({ message: m, roomName: r.name });
        if (q.includes("#")) {
          const n = Number.parseInt(q.split("#")[1], 10);
          if (n > 0 && n <= archiveSize) hits.push({ message: archiveMsg(n - 1), roomName: "Archive 2019–2025" });
        }
        return hits.slice(0, (args as { limit: number }).limit);
      }
      case "send_file":
      case "send_file_bytes": {
        // send_file: the host's open dialog "picks" a briefing note; send_file_bytes: base64 bytes.
        const a = args as { room: string; name?: string; bytes?: string };
        const name = a.name ?? "briefing-note.pdf";
        const size = a.bytes !== undefined ? atob(a.bytes).length : 523_000;
        const m = msg(a.room, ME, 0, "", { status: "pending", sentAt: Date.now(), attachment: { name, mime: "application/octet-stream", size, isImage: false, downloaded: true } });
        (history[a.room] ??= []).push(m);
        emit({ type: "message", message: { ...m } });
        for (let i = 1; i <= 4; i++)
          later(i * 300, () => {
            if (!cancelled.has(m.id)) emit({ type: "transfer", message: m.id, direction: "up", done: (size * i) / 4, total: size, cancelled: false });
          });
        later(1300, () => {
          if (!cancelled.has(m.id)) progress(m);
        });
        return { ...m };
      }
      case "cancel_transfer": {
        const m = findMsg((args as { message: string }).message) ?? fail("notFound");
        if (m.status !== "pending" || cancelled.has(m.id)) return false;
        cancelled.add(m.id);
        m.status = "failed";
        emit({ type: "transfer", message: m.id, direction: "up", done: 0, total: m.attachment?.size ?? 0, cancelled: true });
        emit({ type: "status", message: m.id, status: "failed" });
        return true;
      }
      case "save_attachment": {
        // The host's save dialog "chooses" Downloads, proposing the file's name.
        const m = findMsg((args as { message: string }).message) ?? fail("notFound");
        if (!m.attachment) fail("notFound");
        if (opts.saveExists) fail("fileExists");
        return `/home/claire/Downloads/${m.attachment!.name}`;
      }
      case "max_file_size":
        return opts.maxFileSize ?? 100 * 1024 * 1024;
      case "devices":
        return devicesOf((args as { user: string }).user);
      case "start_verification": {
        const a = args as { user: string; device: string };
        const flow = `flow-${seq++}`;
        verifications[flow] = { flow, user: a.user, device: a.device, weStarted: true, state: "requested", emojis: [], cancelReason: null };
        later(800, () => {
          verifications[flow] = { ...verifications[flow], state: "accepted" };
          emit({ type: "verification", verification: verifications[flow] });
        });
        later(1600, () => {
          verifications[flow] = { ...verifications[flow], state: "comparing", emojis: EMOJIS };
          emit({ type: "verification", verification: verifications[flow] });
        });
        return flow;
      }
      case "accept_verification": {
        const flow = (args as { flow: string }).flow;
        verifications[flow] = { ...verifications[flow], state: "comparing", emojis: EMOJIS };
        later(300, () => emit({ type: "verification", verification: verifications[flow] }));
        return null;
      }
      case "confirm_verification": {
        const a = args as { flow: string; matches: boolean };
        verifications[a.flow] = { ...verifications[a.flow], state: a.matches ? "done" : "cancelled", cancelReason: a.matches ? null : "The emoji did not match." };
        later(300, () => emit({ type: "verification", verification: verifications[a.flow] }));
        return null;
      }
      case "cancel_verification": {
        const flow = (args as { flow: string }).flow;
        if (verifications[flow]) verifications[flow] = { ...verifications[flow], state: "cancelled" };
        return null;
      }
      case "verifications":
        return Object.values(verifications);
      case "alerts":
        return alerts;
      case "dismiss_alert": {
        const id = (args as { id: number }).id;
        const i = alerts.findIndex((a) => a.id === id);
        if (i >= 0) alerts.splice(i, 1);
        return null;
      }
      default:
        return fail("internal", `mock: unknown command ${cmd}`);
    }
  };

  return {
    handler,
    calls,
    emit,
    get phase() {
      return phase;
    },
    set phase(p: Phase) {
      phase = p;
    },
    /** Pretends the host handed over a belfry:// link (deep link or second launch). */
    openLink(link: string) {
      emit({ type: "invitation", text: link });
    },
    /** Pretends a colleague started a verification with us. */
    incomingVerification() {
      const flow = `flow-${seq++}`;
      verifications[flow] = { flow, user: "jan.devries", device: "JAN-LAPTOP-01", weStarted: false, state: "requested", emojis: [], cancelReason: null };
      emit({ type: "verification", verification: verifications[flow] });
      return flow;
    },
    install() {
      mockIPC((cmd, payload) => handler(cmd, payload as Record<string, unknown> | undefined), { shouldMockEvents: true });
    },
    uninstall() {
      clearMocks();
    },
  };
}

export type MockBackend = ReturnType<typeof createMockBackend>;

/** Dev entry: `?phase=welcome|locked|unlocked|wiped|revoked&lang=de&theme=dark&verify=1`. */
export function installMockBackend(): MockBackend {
  const q = new URLSearchParams(window.location.search);
  const phase = (q.get("phase") as Phase | null) ?? "unlocked";
  const lang = q.get("lang") as Settings["language"] | null;
  const theme = q.get("theme") as Settings["theme"] | null;
  const backend = createMockBackend({
    phase,
    settings: { ...(lang ? { language: lang } : {}), ...(theme ? { theme } : {}) },
  });
  backend.install();
  if (q.get("verify")) setTimeout(() => backend.incomingVerification(), 1500);
  const invite = q.get("invite");
  if (invite) setTimeout(() => backend.openLink(invite), 600);
  const room = q.get("room");
  if (room) setTimeout(() => backend.emit({ type: "openRoom", room }), 300);
  // `?probe=older`: scrolls the open timeline to the top three times and records, on <body
  // data-probe>, how many messages were loaded and where the view stood each time (dev check of paging).
  if (q.get("probe") === "older") {
    const log: string[] = [];
    const step = (n: number) =>
      setTimeout(() => {
        const tl = document.querySelector<HTMLElement>('[data-testid="timeline"]');
        if (!tl) return;
        const first = tl.querySelector(".msg-body")?.textContent?.slice(-8) ?? "";
        log.push(`${tl.dataset.loaded}@${Math.round(tl.scrollTop)}:${first}`);
        document.body.dataset.probe = log.join(" ");
        if (n < 4) {
          tl.scrollTop = 0;
          // Headless Chromium under virtual time sends no scroll event; send the one a browser would.
          tl.dispatchEvent(new Event("scroll"));
          step(n + 1);
        }
      }, 1500);
    step(0);
  }
  // For screenshots: `?click=testid,testid` presses those elements one after the other;
  // `?type=text` types into the focused field afterwards.
  const clicks = (q.get("click") ?? "").split(",").filter(Boolean);
  const typed = q.get("type");
  clicks.forEach((id, i) =>
    setTimeout(() => {
      document.querySelector<HTMLElement>(`[data-testid="${id}"]`)?.click();
      if (i === clicks.length - 1 && typed) {
        setTimeout(() => {
          const el = document.activeElement as HTMLInputElement | HTMLTextAreaElement | null;
          if (!el || !("value" in el)) return;
          const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el), "value")?.set;
          setter?.call(el, typed);
          el.dispatchEvent(new Event("input", { bubbles: true }));
        }, 300);
      }
    }, 700 + i * 500),
  );
  return backend;
}
