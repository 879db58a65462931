import { memo, useState } from "react";
import { Icon } from "./Icon";
import { Button, Menu, MenuItem, MenuTrigger, Popover, Separator } from "react-aria-components";
import { call, previewUrl, toUiError } from "../api";
import type { MessageStatus } from "../bindings/MessageStatus";
import type { MessageView } from "../bindings/MessageView";
import type { UiError } from "../bindings/UiError";
import { useI18n, type MessageKey } from "../i18n";
import { useMain } from "../screens/MainContext";
import { AppDialog } from "./Dialog";
import { Avatar } from "./Avatar";
import { ErrorNote } from "./ErrorNote";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "✅", "👀"] as const;

const statusText: Record<MessageStatus, MessageKey> = {
  pending: "status.pending",
  sent: "status.sent",
  delivered: "status.delivered",
  read: "status.read",
  failed: "status.failed",
  received: "status.received",
};
const statusIcon: Record<MessageStatus, string> = {
  pending: "◷",
  sent: "✓",
  delivered: "✓✓",
  read: "✓✓",
  failed: "!",
  received: "",
};

export const MessageRow = memo(function MessageRow({
  m,
  grouped,
  replyTarget,
  highlighted,
  onReply,
  onEdit,
  onOpenReply,
  isMine,
}: {
  m: MessageView;
  grouped: boolean;
  replyTarget: MessageView | null;
  highlighted: boolean;
  onReply: (m: MessageView) => void;
  onEdit: (m: MessageView) => void;
  onOpenReply: (id: string) => void;
  isMine: boolean;
}) {
  const { t, time, dateTime, bytes } = useI18n();
  const { nameOf, transfers } = useMain();
  const [error, setError] = useState<UiError | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const transfer = transfers[m.id];

  const act = (p: Promise<unknown>) => p.catch((e) => setError(toUiError(e)));
  const react = (key: string) => act(call("react", { room: m.room, message: m.id, key }));
  const saveFile = async () => {
    if (!m.attachment) return;
    try {
      // The host shows the save dialog (proposing the file's name) and writes there; no path
      // comes from this page.
      await call("save_attachment", { message: m.id });
    } catch (e) {
      setError(toUiError(e));
    }
  };

  const readers = m.readBy.map(nameOf).join(", ");
  const status =
    m.own && m.status !== "received"
      ? m.status === "read" && readers
        ? t("status.readBy", { names: readers })
        : t(statusText[m.status])
      : null;

  return (
    <article
      className={`msg${grouped ? " msg-grouped" : ""}${isMine ? " msg-own" : ""}${highlighted ? " msg-highlight" : ""}${m.status === "failed" ? " msg-failed" : ""}`}
      aria-label={t("message.label", { name: m.senderName, time: time(m.sentAt) })}
      data-testid="message"
      data-message-id={m.id}
      data-status={m.status}
    >
      <div className="msg-gutter">
        {grouped ? (
          <time className="msg-hover-time" dateTime={new Date(m.sentAt).toISOString()}>
            {time(m.sentAt)}
          </time>
        ) : (
          <Avatar id={m.sender} name={m.senderName} />
        )}
      </div>
      <div className="msg-content">
        {!grouped ? (
          <header className="msg-header">
            <span className="msg-sender">{m.senderName}</span>
            <time className="msg-time" dateTime={new Date(m.sentAt).toISOString()} title={dateTime(m.sentAt)}>
              {time(m.sentAt)}
            </time>
            {m.expiresAt ? (
              <span className="msg-timer" title={t("message.expires", { time: dateTime(m.expiresAt) })}>
                <Icon name="timer" size={13} />
                <span className="visually-hidden">{t("message.expires", { time: dateTime(m.expiresAt) })}</span>
              </span>
            ) : null}
          </header>
        ) : null}
        {m.replyTo ? (
          <button type="button" className="msg-quote" onClick={() => onOpenReply(m.replyTo!)} data-testid="message-quote">
            <span className="visually-hidden">{t("message.inReplyTo")}</span>
            {replyTarget ? (
              <>
                <span className="msg-quote-sender">{replyTarget.senderName}</span>
                <span className="msg-quote-body">{replyTarget.body || (replyTarget.attachment ? replyTarget.attachment.name : "")}</span>
              </>
            ) : (
              <span className="msg-quote-body">{t("message.quoteNotLoaded")}</span>
            )}
          </button>
        ) : null}
        {/* A file's message body only names the file, which its card shows. */}
        {m.body && !m.attachment ? <p className="msg-body">{m.body}</p> : null}
        {m.attachment ? (
          <div className="attachment" data-testid="attachment">
            {m.attachment.isImage && m.attachment.downloaded ? (
              <img className="attachment-image" src={previewUrl(m.id)} alt={m.attachment.name} loading="lazy" />
            ) : null}
            <div className="attachment-card">
              <Icon name="file" size={22} className="attachment-icon" />
              <span className="attachment-text">
                <span className="attachment-name">{m.attachment.name}</span>
                <span className="attachment-size">{bytes(m.attachment.size)}</span>
              </span>
              {transfer ? (
                <>
                  <progress
                    className="progress"
                    max={transfer.total}
                    value={transfer.done}
                    aria-label={transfer.direction === "up" ? t("transfer.uploading", { name: m.attachment.name }) : t("transfer.downloading", { name: m.attachment.name })}
                  />
                  <Button className="button button-small" onPress={() => act(call("cancel_transfer", { message: m.id }))} data-testid="attachment-cancel">
                    {t("common.cancel")}
                  </Button>
                </>
              ) : m.status !== "pending" ? (
                <Button className="button button-small" onPress={() => void saveFile()} data-testid="attachment-save">
                  {t("message.save")}
                </Button>
              ) : null}
            </div>
          </div>
        ) : null}
        <div className="msg-meta">
          {m.edited ? <span className="msg-edited">{t("message.edited")}</span> : null}
          {status ? (
            <span className={`msg-status msg-status-${m.status}`} data-testid="message-status">
              <span aria-hidden="true" className="msg-status-icon">
                {statusIcon[m.status]}
              </span>
              <span className="msg-status-text">{status}</span>
            </span>
          ) : null}
          {m.status === "failed" && m.own ? (
            <Button className="link-button" onPress={() => act(call("retry", { message: m.id }))} data-testid="message-retry">
              {t("message.retry")}
            </Button>
          ) : null}
        </div>
        {m.reactions.length > 0 ? (
          <ul className="reactions" aria-label={t("message.reactions")}>
            {m.reactions.map((r) => (
              <li key={r.key}>
                <button
                  type="button"
                  className={`reaction${r.mine ? " reaction-mine" : ""}`}
                  aria-pressed={r.mine}
                  aria-label={t("message.reaction", { key: r.key, count: r.users.length, names: r.users.map(nameOf).join(", ") })}
                  title={r.users.map(nameOf).join(", ")}
                  onClick={() => void react(r.key)}
                  data-testid="message-reaction"
                >
                  <span aria-hidden="true">
                    {r.key} {r.users.length}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        ) : null}
        <ErrorNote error={error} testId="message-error" />
      </div>
      <div className="msg-actions">
        <MenuTrigger>
          <Button className="icon-button icon-button-small" aria-label={t("message.actions")} data-testid="message-actions">
            <Icon name="more" />
          </Button>
          <Popover className="popover" placement="bottom end">
            <Menu
              className="menu"
              aria-label={t("message.actions")}
              onAction={(key) => {
                const k = String(key);
                if (k === "reply") onReply(m);
                else if (k === "edit") onEdit(m);
                else if (k === "delete") setConfirmDelete(true);
                else if (k === "save") void saveFile();
                else if (k.startsWith("react:")) void react(k.slice(6));
              }}
            >
              <MenuItem id="reply" className="menu-item" data-testid="message-action-reply">
                {t("message.reply")}
              </MenuItem>
              {m.own && !m.attachment ? (
                <MenuItem id="edit" className="menu-item" data-testid="message-action-edit">
                  {t("message.edit")}
                </MenuItem>
              ) : null}
              {m.attachment && m.status !== "pending" ? (
                <MenuItem id="save" className="menu-item" data-testid="message-action-save">
                  {t("message.save")}
                </MenuItem>
              ) : null}
              {m.own ? (
                <MenuItem id="delete" className="menu-item menu-item-danger" data-testid="message-action-delete">
                  {t("message.delete")}
                </MenuItem>
              ) : null}
              <Separator className="menu-sep" />
              {QUICK_REACTIONS.map((k) => (
                <MenuItem key={k} id={`react:${k}`} className="menu-item" textValue={t("message.reactWith", { key: k })} data-testid={`message-react-${k}`}>
                  {t("message.reactWith", { key: k })}
                </MenuItem>
              ))}
            </Menu>
          </Popover>
        </MenuTrigger>
      </div>
      {confirmDelete ? (
        <AppDialog title={t("message.deleteTitle")} onClose={() => setConfirmDelete(false)} testId="delete-dialog" size="small" role="alertdialog">
          <p>{t("message.deleteBody")}</p>
          <div className="row row-end">
            <Button className="button" onPress={() => setConfirmDelete(false)} data-testid="delete-cancel" autoFocus>
              {t("common.cancel")}
            </Button>
            <Button
              className="button button-danger"
              onPress={() => {
                setConfirmDelete(false);
                void act(call("delete_message", { room: m.room, message: m.id }));
              }}
              data-testid="delete-confirm"
            >
              {t("message.delete")}
            </Button>
          </div>
        </AppDialog>
      ) : null}
    </article>
  );
});
