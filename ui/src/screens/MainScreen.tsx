import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { call, toUiError } from "../api";
import type { AlertView } from "../bindings/AlertView";
import type { Contact } from "../bindings/Contact";
import type { RoomSummary } from "../bindings/RoomSummary";
import type { UiError } from "../bindings/UiError";
import type { UiEvent } from "../bindings/UiEvent";
import type { VerificationView } from "../bindings/VerificationView";
import { useApp } from "../App";
import { ErrorNote } from "../components/ErrorNote";
import { HelpDialog } from "../components/HelpDialog";
import { NewChatDialog, NewGroupDialog } from "../components/NewChatDialogs";
import { QuickSwitcher } from "../components/QuickSwitcher";
import { RoomView } from "../components/RoomView";
import { SearchDialog } from "../components/SearchDialog";
import { SettingsDialog } from "../components/SettingsDialog";
import { Sidebar } from "../components/Sidebar";
import { VerificationDialog } from "../components/VerificationDialog";
import { useI18n } from "../i18n";
import { MainContext, type Jump, type MainContextValue, type Transfer } from "./MainContext";

export type DialogKind = "switcher" | "search" | "help" | "settings" | "newDirect" | "newGroup";

export function MainScreen() {
  const { t } = useI18n();
  const { state, settings, bus, refreshState } = useApp();
  const profile = state.profile!;
  const [rooms, setRooms] = useState<RoomSummary[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [jump, setJump] = useState<Jump | null>(null);
  const [alerts, setAlerts] = useState<AlertView[]>([]);
  const [contacts, setContacts] = useState<Contact[]>([]);
  const [connection, setConnection] = useState({ online: false, caughtUp: false });
  const [verifications, setVerifications] = useState<Record<string, VerificationView>>({});
  const [activeFlow, setActiveFlow] = useState<string | null>(null);
  const [closedFlows, setClosedFlows] = useState<ReadonlySet<string>>(new Set());
  const [transfers, setTransfers] = useState<Record<string, Transfer>>({});
  const [dialog, setDialog] = useState<DialogKind | null>(null);
  const [maxFileSize, setMaxFileSize] = useState(0);
  const [error, setError] = useState<UiError | null>(null);
  const [announce, setAnnounce] = useState("");

  const loadRooms = useCallback(async () => {
    try {
      const list = await call("room_summaries");
      setRooms(list);
      setSelected((s) => s ?? list[0]?.id ?? null);
    } catch (e) {
      setError(toUiError(e));
    }
  }, []);

  // Room list refreshes are coalesced: a burst of events costs one call.
  const pending = useRef<number | null>(null);
  const scheduleRooms = useCallback(() => {
    if (pending.current !== null) return;
    pending.current = window.setTimeout(() => {
      pending.current = null;
      void loadRooms();
    }, 120);
  }, [loadRooms]);
  useEffect(() => () => {
    if (pending.current !== null) window.clearTimeout(pending.current);
  }, []);

  // The organisation's directory changes as colleagues enroll: asked again
  // (the engine asks the relay) whenever a new chat or group is started.
  useEffect(() => {
    if (dialog === "newDirect" || dialog === "newGroup") {
      call("directory").then(setContacts, () => undefined);
    }
  }, [dialog]);

  useEffect(() => {
    void loadRooms();
    call("alerts").then(setAlerts, () => undefined);
    call("directory").then(setContacts, () => undefined);
    call("max_file_size").then(setMaxFileSize, () => undefined);
    call("status").then((s) => setConnection({ online: s.online, caughtUp: s.caughtUp }), () => undefined);
    call("verifications").then(
      (vs) => setVerifications(Object.fromEntries(vs.map((v) => [v.flow, v]))),
      () => undefined,
    );
  }, [loadRooms]);

  const nameOf = useMemo(() => {
    const names = new Map(contacts.map((c) => [c.user, c.displayName]));
    names.set(profile.user, profile.displayName);
    return (user: string) => names.get(user) ?? user;
  }, [contacts, profile]);

  useEffect(
    () =>
      bus.on((e: UiEvent) => {
        switch (e.type) {
          case "connection":
            setConnection({ online: e.online, caughtUp: e.caughtUp });
            break;
          case "message":
            if (!e.message.own) {
              setAnnounce(t("a11y.newMessage", { name: e.message.senderName, room: roomName(e.message.room) }));
            }
            scheduleRooms();
            break;
          case "status":
          case "removed":
          case "room":
            scheduleRooms();
            break;
          case "alert":
            setAlerts((a) => [...a.filter((x) => x.id !== e.alert.id), e.alert]);
            break;
          case "transfer":
            setTransfers((tr) => {
              const next = { ...tr };
              if (e.done >= e.total || e.cancelled) delete next[e.message];
              else next[e.message] = { direction: e.direction, done: e.done, total: e.total };
              return next;
            });
            break;
          case "verification":
            setVerifications((v) => ({ ...v, [e.verification.flow]: e.verification }));
            if (!e.verification.weStarted && e.verification.state === "requested") setActiveFlow(e.verification.flow);
            break;
          case "openRoom":
            setSelected(e.room);
            setDialog(null);
            break;
          default:
            break;
        }
      }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [bus, scheduleRooms, t],
  );

  const roomsRef = useRef(rooms);
  roomsRef.current = rooms;
  const roomName = (id: string) => roomsRef.current.find((r) => r.id === id)?.name ?? "";

  const lock = useCallback(async () => {
    try {
      await call("lock");
    } finally {
      await refreshState();
    }
  }, [refreshState]);

  const openRoom = useCallback((room: string) => {
    setSelected(room);
    setJump(null);
    setDialog(null);
  }, []);

  const jumpTo = useCallback((room: string, message: string) => {
    setSelected(room);
    setJump({ room, message, nonce: Date.now() + Math.random() });
    setDialog(null);
  }, []);

  const dismissAlert = useCallback((id: number) => {
    setAlerts((a) => a.filter((x) => x.id !== id));
    void call("dismiss_alert", { id }).catch(() => undefined);
  }, []);

  const startVerification = useCallback(async (user: string, device: string) => {
    try {
      const flow = await call("start_verification", { user, device });
      setVerifications((v) => ({
        ...v,
        [flow]: v[flow] ?? { flow, user, device, weStarted: true, state: "requested", emojis: [], cancelReason: null },
      }));
      setActiveFlow(flow);
    } catch (e) {
      setError(toUiError(e));
    }
  }, []);

  // Keyboard shortcuts (also listed in the help dialog).
  const stateRef = useRef({ rooms, selected, dialog });
  stateRef.current = { rooms, selected, dialog };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      const { rooms: rs, selected: sel } = stateRef.current;
      if (mod && !e.altKey && key === "k") {
        e.preventDefault();
        setDialog("switcher");
      } else if (mod && !e.altKey && key === "f") {
        e.preventDefault();
        setDialog("search");
      } else if (mod && !e.altKey && key === "l") {
        e.preventDefault();
        void lock();
      } else if (e.key === "F1" || (mod && e.key === "/")) {
        e.preventDefault();
        setDialog("help");
      } else if (mod && e.key === ",") {
        e.preventDefault();
        setDialog("settings");
      } else if (e.altKey && !mod && (e.key === "ArrowUp" || e.key === "ArrowDown") && rs.length > 0) {
        if (stateRef.current.dialog) return;
        e.preventDefault();
        const i = rs.findIndex((r) => r.id === sel);
        const next = e.key === "ArrowUp" ? Math.max(0, i - 1) : Math.min(rs.length - 1, i + 1);
        setSelected(rs[i < 0 ? 0 : next].id);
        setJump(null);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [lock]);

  useActivityReport();

  const ctx = useMemo<MainContextValue>(
    () => ({
      profile,
      rooms,
      nameOf,
      openRoom,
      jumpTo,
      transfers,
      maxFileSize,
      alerts,
      dismissAlert,
      startVerification: (u, d) => void startVerification(u, d),
      showPreviews: settings.showPreviews,
      refreshRooms: scheduleRooms,
    }),
    [profile, rooms, nameOf, openRoom, jumpTo, transfers, maxFileSize, alerts, dismissAlert, startVerification, settings.showPreviews, scheduleRooms],
  );

  const room = rooms.find((r) => r.id === selected) ?? null;
  const active = activeFlow ? verifications[activeFlow] : undefined;
  const incoming = Object.values(verifications).filter((v) => !v.weStarted && v.state === "requested" && !closedFlows.has(v.flow));

  return (
    <MainContext.Provider value={ctx}>
      <div className="main-layout">
        <Sidebar
          selected={selected}
          connection={connection}
          onOpenDialog={setDialog}
          onLock={() => void lock()}
        />
        <main className="room-area" aria-label={t("room.region")}>
          <ErrorNote error={error} testId="main-error" />
          {room ? (
            <RoomView key={room.id} room={room} jump={jump && jump.room === room.id ? jump : null} bus={bus} />
          ) : (
            <div className="empty-room">
              <p className="muted">{rooms.length === 0 ? t("room.noneYet") : t("room.pick")}</p>
            </div>
          )}
        </main>
      </div>
      {incoming.length > 0 && !active ? (
        <div className="toast" role="status">
          <span>{t("verify.incomingToast", { name: nameOf(incoming[0].user) })}</span>
          <button type="button" className="button button-small" onClick={() => setActiveFlow(incoming[0].flow)} data-testid="verify-incoming-open">
            {t("verify.open")}
          </button>
        </div>
      ) : null}
      <div className="visually-hidden" aria-live="polite" aria-atomic="true">
        {announce}
      </div>
      {dialog === "switcher" ? <QuickSwitcher onClose={() => setDialog(null)} /> : null}
      {dialog === "search" ? <SearchDialog onClose={() => setDialog(null)} /> : null}
      {dialog === "help" ? <HelpDialog onClose={() => setDialog(null)} /> : null}
      {dialog === "settings" ? <SettingsDialog onClose={() => setDialog(null)} onLock={() => void lock()} /> : null}
      {dialog === "newDirect" ? <NewChatDialog contacts={contacts} onClose={() => setDialog(null)} onOpened={openRoom} /> : null}
      {dialog === "newGroup" ? <NewGroupDialog contacts={contacts} onClose={() => setDialog(null)} onCreated={(id) => {
        void loadRooms();
        openRoom(id);
      }} /> : null}
      {active && !dialog ? (
        <VerificationDialog
          view={active}
          onClose={() => {
            setClosedFlows((c) => new Set(c).add(active.flow));
            setActiveFlow(null);
          }}
        />
      ) : null}
    </MainContext.Provider>
  );
}

/**
 * Tells the host the person is here (any key, pointer or wheel event, at most every 15 seconds):
 * the host counts the idle time and locks after the chosen minutes.
 */
function useActivityReport() {
  const last = useRef(0);
  useEffect(() => {
    const touch = () => {
      const now = Date.now();
      if (now - last.current < 15_000) return;
      last.current = now;
      void call("report_activity").catch(() => undefined);
    };
    const evs = ["keydown", "pointerdown", "pointermove", "wheel"] as const;
    evs.forEach((n) => window.addEventListener(n, touch, { passive: true }));
    touch();
    return () => evs.forEach((n) => window.removeEventListener(n, touch));
  }, []);
}
