import { useCallback, useRef, useState } from "react";
import { Icon } from "./Icon";
import { Button } from "react-aria-components";
import type { MessageView } from "../bindings/MessageView";
import type { RoomSummary } from "../bindings/RoomSummary";
import type { EventBus } from "../events";
import { useI18n } from "../i18n";
import type { Jump } from "../screens/MainContext";
import { Avatar } from "./Avatar";
import { ClassificationBadge, classificationLevel } from "./ClassificationBadge";
import { Composer, type ComposerMode } from "./Composer";
import { RoomDetailsPanel } from "./RoomDetailsPanel";
import { Timeline } from "./Timeline";
import { retentionText } from "./retention";

export function RoomView({ room, jump, bus }: { room: RoomSummary; jump: Jump | null; bus: EventBus }) {
  const { t } = useI18n();
  const [mode, setMode] = useState<ComposerMode>({ kind: "new" });
  const [details, setDetails] = useState(false);
  const [focusComposer, setFocusComposer] = useState(0);
  const [dragging, setDragging] = useState(false);
  const filesRef = useRef<((files: File[]) => void) | null>(null);
  const dragDepth = useRef(0);
  const lastOwnRef = useRef<MessageView | null>(null);

  const reply = useCallback((m: MessageView) => {
    setMode({ kind: "reply", message: m });
    setFocusComposer((n) => n + 1);
  }, []);
  const edit = useCallback((m: MessageView) => {
    setMode({ kind: "edit", message: m });
    setFocusComposer((n) => n + 1);
  }, []);

  return (
    <div className={`room${details ? " room-with-details" : ""}`}>
      <section
        className={`room-main${dragging ? " room-dragging" : ""}`}
        aria-labelledby="room-title"
        onDragEnter={(e) => {
          if (!e.dataTransfer.types.includes("Files")) return;
          dragDepth.current += 1;
          setDragging(true);
        }}
        onDragOver={(e) => {
          if (e.dataTransfer.types.includes("Files")) e.preventDefault();
        }}
        onDragLeave={() => {
          dragDepth.current = Math.max(0, dragDepth.current - 1);
          if (dragDepth.current === 0) setDragging(false);
        }}
        onDrop={(e) => {
          e.preventDefault();
          dragDepth.current = 0;
          setDragging(false);
          const files = Array.from(e.dataTransfer.files);
          if (files.length > 0) filesRef.current?.(files);
        }}
      >
        {dragging ? (
          <div className="drop-overlay" aria-hidden="true">
            <p>{t("room.dropHere", { room: room.name })}</p>
          </div>
        ) : null}
        <header className="room-header">
          <Avatar id={room.id} name={room.name} />
          <div className="room-header-text">
            <h1 id="room-title" className="room-title" data-testid="room-title">
              {room.name}
            </h1>
            <p className="room-sub">
              {room.kind === "group" ? t("room.members", { count: room.memberCount }) : t("room.direct")}
              {room.retentionSecs ? (
                <span className="room-timer" data-testid="room-timer">
                  <span aria-hidden="true"> · </span>
                  <Icon name="timer" size={14} className="icon-inline" />{" "}
                  {t("room.disappearing", { time: retentionText(t, room.retentionSecs) })}
                </span>
              ) : null}
            </p>
          </div>
          <ClassificationBadge label={room.classification} />
          <Button
            className={`icon-button${details ? " icon-button-active" : ""}`}
            aria-label={t("room.detailsToggle")}
            aria-expanded={details}
            onPress={() => setDetails((d) => !d)}
            data-testid="room-details-toggle"
          >
            <Icon name="panel" />
          </Button>
        </header>
        {room.conflict ? (
          <div className="note note-warning banner-note" role="status" data-testid="room-conflict">
            {t("room.conflict")}
          </div>
        ) : null}
        {room.classification ? (
          <div className={`class-banner class-banner-${classificationLevel(room.classification)}`} data-testid="class-banner-top">
            {room.classification}
          </div>
        ) : null}
        <Timeline room={room} jump={jump} bus={bus} onReply={reply} onEdit={edit} lastOwnRef={lastOwnRef} />
        {room.classification ? (
          <div className={`class-banner class-banner-${classificationLevel(room.classification)}`} data-testid="class-banner-bottom">
            {room.classification}
          </div>
        ) : null}
        <Composer room={room} mode={mode} onModeChange={setMode} focusSignal={focusComposer} filesRef={filesRef} lastOwnRef={lastOwnRef} />
      </section>
      {details ? <RoomDetailsPanel room={room} bus={bus} onClose={() => setDetails(false)} /> : null}
    </div>
  );
}
