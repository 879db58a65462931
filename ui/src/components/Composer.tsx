import { useEffect, useRef, useState, type ClipboardEvent, type KeyboardEvent } from "react";
import { Icon } from "./Icon";
import { Button, Label, TextArea, TextField } from "react-aria-components";
import { call, toBase64, toUiError } from "../api";
import type { MessageView } from "../bindings/MessageView";
import type { RoomSummary } from "../bindings/RoomSummary";
import type { UiError } from "../bindings/UiError";
import { useI18n } from "../i18n";
import { useMain } from "../screens/MainContext";
import { ErrorNote } from "./ErrorNote";

export type ComposerMode = { kind: "new" } | { kind: "reply"; message: MessageView } | { kind: "edit"; message: MessageView };

export function Composer({
  room,
  mode,
  onModeChange,
  focusSignal,
  filesRef,
  lastOwnRef,
}: {
  room: RoomSummary;
  mode: ComposerMode;
  onModeChange: (m: ComposerMode) => void;
  focusSignal: number;
  /** Where the room view hands over files dropped anywhere on it. */
  filesRef?: { current: ((files: File[]) => void) | null };
  /** The newest own message, which Up in an empty composer edits. */
  lastOwnRef?: { current: MessageView | null };
}) {
  const { t, bytes } = useI18n();
  const { maxFileSize } = useMain();
  const [text, setText] = useState("");
  const [error, setError] = useState<UiError | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (mode.kind === "edit") setText(mode.message.body);
    if (focusSignal > 0) area.current?.focus();
  }, [mode, focusSignal]);

  const send = async () => {
    const body = text.trim();
    if (!body) return;
    setError(null);
    try {
      if (mode.kind === "edit") {
        await call("edit_message", { room: room.id, message: mode.message.id, body });
      } else {
        await call("send_text", { room: room.id, body, replyTo: mode.kind === "reply" ? mode.message.id : null });
      }
      setText("");
      onModeChange({ kind: "new" });
    } catch (e) {
      setError(toUiError(e));
    }
  };

  /** Files from a drop or a paste: refused here, before anything is sent, when over the relay's limit. */
  const sendFiles = async (files: File[]) => {
    setRefused(null);
    setError(null);
    for (const f of files) {
      if (maxFileSize > 0 && f.size > maxFileSize) {
        setRefused(t("composer.tooLarge", { name: f.name, size: bytes(f.size), max: bytes(maxFileSize) }));
        continue;
      }
      try {
        const data = new Uint8Array(await f.arrayBuffer());
        await call("send_file_bytes", { room: room.id, name: f.name, bytes: toBase64(data) });
      } catch (e) {
        setError(toUiError(e));
      }
    }
  };

  useEffect(() => {
    if (!filesRef) return;
    filesRef.current = (files) => void sendFiles(files);
    return () => {
      filesRef.current = null;
    };
  });

  const pickFile = async () => {
    try {
      // The host shows the open dialog and sends what the person picks (null: cancelled):
      // no path ever comes from this page.
      await call("send_file", { room: room.id });
    } catch (e) {
      setError(toUiError(e));
    }
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void send();
    } else if (e.key === "ArrowUp" && text === "" && mode.kind === "new" && lastOwnRef?.current) {
      e.preventDefault();
      onModeChange({ kind: "edit", message: lastOwnRef.current });
    } else if (e.key === "Escape" && mode.kind !== "new") {
      e.preventDefault();
      e.stopPropagation();
      onModeChange({ kind: "new" });
      if (mode.kind === "edit") setText("");
    }
  };

  const onPaste = (e: ClipboardEvent) => {
    const files = Array.from(e.clipboardData.files);
    if (files.length > 0) {
      e.preventDefault();
      void sendFiles(files);
    }
  };

  return (
    <div className="composer" data-testid="composer">
      {mode.kind !== "new" ? (
        <div className="composer-mode" data-testid={`composer-mode-${mode.kind}`}>
          <span className="composer-mode-text">
            {mode.kind === "reply" ? t("composer.replyingTo", { name: mode.message.senderName }) : t("composer.editing")}
            <span className="composer-mode-quote">{mode.message.body}</span>
          </span>
          <Button
            className="icon-button icon-button-small"
            aria-label={t("composer.cancelMode")}
            onPress={() => {
              onModeChange({ kind: "new" });
              if (mode.kind === "edit") setText("");
            }}
            data-testid="composer-cancel-mode"
          >
            <Icon name="close" size={16} />
          </Button>
        </div>
      ) : null}
      {refused ? (
        <p className="note note-error" role="alert" data-testid="composer-refused">
          {refused}
        </p>
      ) : null}
      <ErrorNote error={error} testId="composer-error" />
      <div className="composer-row">
        <Button className="icon-button" aria-label={t("composer.attach")} onPress={() => void pickFile()} data-testid="composer-attach">
          <Icon name="clip" />
        </Button>
        <input
          ref={fileInput}
          type="file"
          className="visually-hidden"
          tabIndex={-1}
          aria-hidden="true"
          data-testid="composer-file-input"
          onChange={(e) => {
            const files = Array.from(e.target.files ?? []);
            e.target.value = "";
            void sendFiles(files);
          }}
        />
        <TextField value={text} onChange={setText} className="composer-field">
          <Label className="visually-hidden">{t("composer.label", { room: room.name })}</Label>
          <TextArea
            ref={area}
            rows={Math.min(8, text.split("\n").length)}
            className="composer-input"
            placeholder={t("composer.placeholder", { room: room.name })}
            onKeyDown={onKeyDown}
            onPaste={onPaste}
            data-testid="composer-input"
          />
        </TextField>
        <Button className="button button-primary" onPress={() => void send()} isDisabled={!text.trim()} data-testid="composer-send">
          {mode.kind === "edit" ? t("composer.save") : t("composer.send")}
        </Button>
      </div>
      <p className="composer-hint muted small" aria-hidden="true">
        {t("composer.hint")}
      </p>
    </div>
  );
}
