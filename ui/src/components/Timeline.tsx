import { useVirtualizer } from "@tanstack/react-virtual";
import { Icon } from "./Icon";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { Button } from "react-aria-components";
import { call, toUiError } from "../api";
import type { AlertView } from "../bindings/AlertView";
import type { MessageView } from "../bindings/MessageView";
import type { RoomSummary } from "../bindings/RoomSummary";
import type { UiError } from "../bindings/UiError";
import type { EventBus } from "../events";
import { useI18n } from "../i18n";
import { sameDay } from "../lib/format";
import { useMain, type Jump } from "../screens/MainContext";
import { AlertRow } from "./AlertRow";
import { ErrorNote } from "./ErrorNote";
import { MessageRow } from "./MessageRow";

export const PAGE = 50;
const GROUP_GAP_MS = 5 * 60_000;

/** A row is a message or an inline alert; a day separator belongs to the first row of its day. */
export type Row =
  | { kind: "msg"; key: string; m: MessageView; grouped: boolean; day: number | null }
  | { kind: "alert"; key: string; a: AlertView; day: number | null };

/** Height of the line above the first row ("beginning of the conversation" / "loading"). */
export const TOP_HEIGHT = 56;

/**
 * Flattens messages and this room's alerts into rows: day separators, sender grouping. Keys are
 * the messages' and alerts' own, so prepending a page keeps every key and the view can stay put.
 */
export function buildRows(msgs: MessageView[], alerts: AlertView[], hasOlder: boolean): Row[] {
  const rows: Row[] = [];
  const first = msgs[0]?.sentAt ?? Number.POSITIVE_INFINITY;
  // Alerts older than the loaded window wait until their page is loaded.
  const inline = alerts.filter((a) => !hasOlder || a.at >= first).sort((a, b) => a.at - b.at);
  let ai = 0;
  let prevAt: number | null = null;
  let prevSender: string | null = null;
  const newDay = (at: number) => prevAt === null || !sameDay(prevAt, at);
  const pushAlert = (a: AlertView) => {
    rows.push({ kind: "alert", key: `alert-${a.id}`, a, day: newDay(a.at) ? a.at : null });
    prevAt = a.at;
    prevSender = null;
  };
  for (const m of msgs) {
    while (ai < inline.length && inline[ai].at <= m.sentAt) pushAlert(inline[ai++]);
    const day = newDay(m.sentAt) ? m.sentAt : null;
    const grouped = day === null && prevSender === m.sender && prevAt !== null && m.sentAt - prevAt < GROUP_GAP_MS;
    rows.push({ kind: "msg", key: `m-${m.id}`, m, grouped, day });
    prevAt = m.sentAt;
    prevSender = m.sender;
  }
  while (ai < inline.length) pushAlert(inline[ai++]);
  return rows;
}

/** The first of the last `unread` messages from others, if any. */
export function firstUnread(msgs: MessageView[], unread: number): string | null {
  if (unread <= 0) return null;
  let left = unread;
  for (let i = msgs.length - 1; i >= 0; i--) {
    if (msgs[i].own) continue;
    left -= 1;
    if (left === 0) return msgs[i].id;
  }
  return msgs[0]?.id ?? null;
}

function estimateRow(row: Row | undefined): number {
  if (!row) return 44;
  const sep = row.day !== null ? 40 : 0;
  if (row.kind === "alert") return 56 + sep;
  return (row.grouped ? 36 : 64) + sep;
}

export function Timeline({
  room,
  jump,
  bus,
  onReply,
  onEdit,
  lastOwnRef,
  initialHeight = 800,
}: {
  room: RoomSummary;
  jump: Jump | null;
  bus: EventBus;
  onReply: (m: MessageView) => void;
  onEdit: (m: MessageView) => void;
  /** Told the newest own text message loaded (for Up in an empty composer). */
  lastOwnRef?: { current: MessageView | null };
  /** Height assumed before the first layout (and in tests, where nothing is laid out). */
  initialHeight?: number;
}) {
  const { t, day } = useI18n();
  const { alerts, jumpTo, profile, refreshRooms } = useMain();
  const markedRef = useRef<string | null>(null);
  const [msgs, setMsgs] = useState<MessageView[]>([]);
  const [hasOlder, setHasOlder] = useState(true);
  const [atLatest, setAtLatest] = useState(true);
  const [loading, setLoading] = useState(false);
  const [highlight, setHighlight] = useState<string | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [stuck, setStuck] = useState(true);
  // Older pages load only once the first scroll to the bottom (or to a jump target) has settled.
  const [settled, setSettled] = useState(false);
  // "New messages" line above the first message unread when the room was opened.
  const [unreadMark, setUnreadMark] = useState<string | null>(null);
  const unreadAtOpen = useRef(room.unread);
  const scrollRef = useRef<HTMLDivElement>(null);
  const stuckRef = useRef(true);
  // After a page is prepended, wait for the scroll position to be reported again before the next.
  const awaitScroll = useRef(false);
  const pendingScroll = useRef<{ align: "end" | "center" } | null>(null);
  const msgsRef = useRef(msgs);
  msgsRef.current = msgs;

  const roomAlerts = useMemo(() => alerts.filter((a) => a.room === room.id), [alerts, room.id]);
  const rows = useMemo(() => buildRows(msgs, roomAlerts, hasOlder), [msgs, roomAlerts, hasOlder]);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;

  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (i) => estimateRow(rows[i]),
    scrollMargin: TOP_HEIGHT,
    getItemKey: (i) => rows[i]?.key ?? i,
    overscan: 6,
    initialRect: { width: 800, height: initialHeight },
    // Chat mode: prepending older rows or re-measuring keeps what is on screen in place, and new
    // rows follow the bottom when the view is already there.
    anchorTo: "end",
    followOnAppend: true,
  });

  const scrollToEnd = useCallback(() => virtualizer.scrollToEnd(), [virtualizer]);

  // First page, or the page around a search hit / reply target.
  const loadLatest = useCallback(async () => {
    setLoading(true);
    try {
      const page = await call("messages_before", { room: room.id, before: null, limit: PAGE });
      setSettled(false);
      // Once per opening (StrictMode and "latest messages" load this page again).
      setUnreadMark((cur) => cur ?? firstUnread(page, unreadAtOpen.current));
      setMsgs(page);
      setHasOlder(page.length === PAGE);
      setAtLatest(true);
      stuckRef.current = true;
      setStuck(true);
      pendingScroll.current = { align: "end" };
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setLoading(false);
    }
  }, [room.id]);

  useEffect(() => {
    if (jump) return;
    void loadLatest();
  }, [loadLatest, jump]);

  useEffect(() => {
    if (!jump) return;
    const local = msgsRef.current.findIndex((m) => m.id === jump.message);
    if (local >= 0) {
      setHighlight(jump.message);
      const ri = rowsRef.current.findIndex((r) => r.kind === "msg" && r.m.id === jump.message);
      virtualizer.scrollToIndex(ri, { align: "center" });
      return;
    }
    let cancelled = false;
    setLoading(true);
    call("messages_around", { room: room.id, message: jump.message, limit: PAGE })
      .then((page) => {
        if (cancelled) return;
        setSettled(false);
        setMsgs(page);
        setHasOlder(page.length > 0);
        setAtLatest(false);
        stuckRef.current = false;
        setStuck(false);
        setHighlight(jump.message);
        pendingScroll.current = { align: "center" };
      })
      .catch((e) => setError(toUiError(e)))
      .finally(() => setLoading(false));
    return () => {
      cancelled = true;
    };
  }, [jump, room.id, virtualizer]);

  const loadOlder = useCallback(async () => {
    const first = msgsRef.current[0];
    if (loading || !hasOlder || !first) return;
    setLoading(true);
    try {
      const page = await call("messages_before", { room: room.id, before: first.id, limit: PAGE });
      awaitScroll.current = page.length > 0;
      setMsgs((cur) => {
        const seen = new Set(cur.map((m) => m.id));
        return [...page.filter((m) => !seen.has(m.id)), ...cur];
      });
      setHasOlder(page.length === PAGE);
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setLoading(false);
    }
  }, [hasOlder, loading, room.id]);

  // A first page goes to the bottom, a page around a message centres it.
  useLayoutEffect(() => {
    const s = pendingScroll.current;
    if (!s) return;
    pendingScroll.current = null;
    if (s.align === "end") virtualizer.scrollToEnd();
    else {
      const idx = rows.findIndex((r) => r.kind === "msg" && r.m.id === highlight);
      if (idx >= 0) virtualizer.scrollToIndex(idx, { align: "center" });
    }
    requestAnimationFrame(() => setSettled(true));
  }, [rows, virtualizer, highlight]);

  // Live updates from the engine.
  useEffect(
    () =>
      bus.on((e) => {
        if (e.type === "message" && e.message.room === room.id) {
          const m = e.message;
          setMsgs((cur) => {
            const i = cur.findIndex((x) => x.id === m.id);
            if (i >= 0) {
              const next = cur.slice();
              next[i] = m;
              return next;
            }
            return atLatestRef.current ? [...cur, m] : cur;
          });
          // followOnAppend keeps the bottom in view when already there; one's own message always shows.
          if (atLatestRef.current && m.own && !stuckRef.current) requestAnimationFrame(() => virtualizer.scrollToEnd());
        } else if (e.type === "reaction") {
          // The event names the message; its new reactions come with a fresh read of it.
          const id = e.message;
          if (!msgsRef.current.some((x) => x.id === id)) return;
          call("messages_around", { room: room.id, message: id, limit: 1 }).then(
            (page) => {
              const fresh = page.find((x) => x.id === id);
              if (fresh) setMsgs((cur) => cur.map((x) => (x.id === id ? fresh : x)));
            },
            () => undefined,
          );
        } else if (e.type === "status") {
          setMsgs((cur) => {
            const i = cur.findIndex((x) => x.id === e.message);
            if (i < 0) return cur;
            const next = cur.slice();
            next[i] = { ...cur[i], status: e.status };
            return next;
          });
        } else if (e.type === "removed") {
          setMsgs((cur) => (cur.some((x) => x.id === e.message) ? cur.filter((x) => x.id !== e.message) : cur));
        }
      }),
    [bus, room.id, virtualizer],
  );
  const atLatestRef = useRef(atLatest);
  atLatestRef.current = atLatest;

  // Read receipts: whatever is at the bottom of an open, visible room has been read.
  const last = msgs[msgs.length - 1];
  useEffect(() => {
    if (!last || !atLatest || !stuck) return;
    if (typeof document !== "undefined" && document.visibilityState === "hidden") return;
    if (room.unread === 0 && markedRef.current === last.id) return;
    markedRef.current = last.id;
    call("mark_read", { room: room.id, upTo: last.id }).then(refreshRooms, () => undefined);
  }, [last, atLatest, stuck, room.id, room.unread, refreshRooms]);

  const items = virtualizer.getVirtualItems();
  const firstIndex = items[0]?.index ?? 0;
  useEffect(() => {
    if (settled && !awaitScroll.current && firstIndex <= 2 && hasOlder && msgs.length > 0 && !loading) void loadOlder();
  }, [settled, firstIndex, hasOlder, msgs.length, loading, loadOlder]);

  const onScroll = () => {
    const el = scrollRef.current;
    if (!el) return;
    awaitScroll.current = false;
    const near = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    stuckRef.current = near;
    if (near !== stuck) setStuck(near);
  };

  const openReply = useCallback((id: string) => {
    const ri = rows.findIndex((r) => r.kind === "msg" && r.m.id === id);
    if (ri >= 0) {
      setHighlight(id);
      virtualizer.scrollToIndex(ri, { align: "center" });
    } else {
      jumpTo(room.id, id);
    }
  }, [rows, virtualizer, jumpTo, room.id]);

  useEffect(() => {
    if (!lastOwnRef) return;
    let found: MessageView | null = null;
    for (let i = msgs.length - 1; i >= 0 && i >= msgs.length - 200; i--) {
      if (msgs[i].own && !msgs[i].attachment && msgs[i].status !== "pending") {
        found = msgs[i];
        break;
      }
    }
    lastOwnRef.current = atLatest ? found : null;
  }, [msgs, atLatest, lastOwnRef]);

  const byId = useMemo(() => new Map(msgs.map((m) => [m.id, m])), [msgs]);

  return (
    <div className="timeline">
      <ErrorNote error={error} testId="timeline-error" />
      <div
        ref={scrollRef}
        className="timeline-scroll"
        onScroll={onScroll}
        tabIndex={0}
        role="region"
        aria-label={t("timeline.label", { room: room.name })}
        data-testid="timeline"
        data-loaded={msgs.length}
      >
        <p className="timeline-top muted">
          {hasOlder ? (loading ? t("timeline.loadingOlder") : t("timeline.scrollForOlder")) : t("timeline.beginning")}
        </p>
        <ol className="timeline-list" style={{ height: virtualizer.getTotalSize() - TOP_HEIGHT }}>
          {items.map((vi) => {
            const row = rows[vi.index];
            return (
              <li
                key={vi.key}
                data-index={vi.index}
                ref={virtualizer.measureElement}
                className={`trow trow-${row.kind}`}
                style={{ transform: `translateY(${vi.start - TOP_HEIGHT}px)` }}
                data-testid={row.kind === "msg" ? "timeline-row" : undefined}
              >
                {row.day !== null ? (
                  <div className="day-sep" role="separator" aria-label={dayLabel(row.day, t, day)}>
                    <span aria-hidden="true">{dayLabel(row.day, t, day)}</span>
                  </div>
                ) : null}
                {row.kind === "msg" && row.m.id === unreadMark ? (
                  <div className="unread-sep" role="separator" aria-label={t("timeline.newMessages")} data-testid="timeline-unread">
                    <span aria-hidden="true">{t("timeline.newMessages")}</span>
                  </div>
                ) : null}
                {row.kind === "alert" ? (
                  <AlertRow alert={row.a} />
                ) : (
                  <MessageRow
                    m={row.m}
                    grouped={row.grouped}
                    replyTarget={row.m.replyTo ? byId.get(row.m.replyTo) ?? null : null}
                    highlighted={highlight === row.m.id}
                    onReply={onReply}
                    onEdit={onEdit}
                    onOpenReply={openReply}
                    isMine={row.m.sender === profile.user || row.m.own}
                  />
                )}
              </li>
            );
          })}
        </ol>
      </div>
      {!atLatest || !stuck ? (
        <Button
          className="button button-small jump-latest"
          onPress={() => (atLatest ? scrollToEnd() : void loadLatest())}
          data-testid="timeline-jump-latest"
        >
          {t("timeline.jumpLatest")} <Icon name="down" size={16} />
        </Button>
      ) : null}
    </div>
  );
}

function dayLabel(at: number, t: (k: "timeline.today" | "timeline.yesterday") => string, day: (ms: number) => string): string {
  const now = Date.now();
  if (sameDay(at, now)) return t("timeline.today");
  if (sameDay(at, now - 86_400_000)) return t("timeline.yesterday");
  return day(at);
}
