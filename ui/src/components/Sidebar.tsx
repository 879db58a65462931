import type { KeyboardEvent } from "react";
import { Button } from "react-aria-components";
import { Icon } from "./Icon";
import { useMain } from "../screens/MainContext";
import type { DialogKind } from "../screens/MainScreen";
import { useI18n } from "../i18n";
import { Avatar } from "./Avatar";
import { ClassificationBadge } from "./ClassificationBadge";

export function Sidebar({
  selected,
  connection,
  onOpenDialog,
  onLock,
}: {
  selected: string | null;
  connection: { online: boolean; caughtUp: boolean };
  onOpenDialog: (d: DialogKind) => void;
  onLock: () => void;
}) {
  const { t, shortWhen } = useI18n();
  const { rooms, openRoom, profile, showPreviews } = useMain();
  const conn = !connection.online ? "offline" : connection.caughtUp ? "online" : "syncing";
  const connText = conn === "offline" ? t("conn.offline") : conn === "online" ? t("conn.online") : t("conn.syncing");

  const onListKey = (e: KeyboardEvent<HTMLUListElement>) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const buttons = Array.from(e.currentTarget.querySelectorAll<HTMLButtonElement>("button.room-item"));
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (at < 0) return;
    const next =
      e.key === "ArrowDown" ? Math.min(buttons.length - 1, at + 1) : e.key === "ArrowUp" ? Math.max(0, at - 1) : e.key === "Home" ? 0 : e.key === "End" ? buttons.length - 1 : -1;
    if (next < 0) return;
    e.preventDefault();
    buttons[next].focus();
  };

  return (
    <nav className="sidebar" aria-label={t("sidebar.label")}>
      <header className="sidebar-header">
        <div className="sidebar-profile">
          <Avatar id={profile.user} name={profile.displayName} />
          <div className="sidebar-profile-text">
            <span className="sidebar-name">{profile.displayName}</span>
            <span className="sidebar-org">{profile.orgName}</span>
          </div>
        </div>
        <div className="sidebar-tools">
          <Button className="icon-button" aria-label={t("sidebar.search")} onPress={() => onOpenDialog("search")} data-testid="sidebar-search">
            <Icon name="search" />
          </Button>
          <Button className="icon-button" aria-label={t("sidebar.settings")} onPress={() => onOpenDialog("settings")} data-testid="sidebar-settings">
            <Icon name="settings" />
          </Button>
          <Button className="icon-button" aria-label={t("sidebar.lock")} onPress={onLock} data-testid="sidebar-lock">
            <Icon name="lock" />
          </Button>
        </div>
      </header>

      <div className="conn" role="status" data-testid="connection-state" data-state={conn}>
        <span className={`conn-dot conn-${conn}`} aria-hidden="true" />
        {connText}
      </div>

      <div className="sidebar-actions">
        <Button className="button button-small" onPress={() => onOpenDialog("newDirect")} data-testid="sidebar-new-direct">
          {t("sidebar.newDirect")}
        </Button>
        <Button className="button button-small" onPress={() => onOpenDialog("newGroup")} data-testid="sidebar-new-group">
          {t("sidebar.newGroup")}
        </Button>
      </div>

      <h2 className="visually-hidden">{t("sidebar.rooms")}</h2>
      {/* One Tab stop for the whole list; the arrow keys, Home and End move within it. */}
      <ul className="room-list" data-testid="room-list" onKeyDown={onListKey}>
        {rooms.map((r, i) => {
          const isSel = r.id === selected;
          const tabStop = isSel || (!rooms.some((x) => x.id === selected) && i === 0);
          const preview = !showPreviews || !r.last ? "" : r.last.text || (r.last.hasAttachment ? t("sidebar.attachment") : "");
          const when = r.lastActivity ? shortWhen(r.lastActivity) : "";
          return (
            <li key={r.id}>
              <button
                type="button"
                className={`room-item${isSel ? " room-item-selected" : ""}${r.unread > 0 ? " room-item-unread" : ""}`}
                aria-current={isSel ? "page" : undefined}
                tabIndex={tabStop ? 0 : -1}
                onClick={() => openRoom(r.id)}
                data-testid={`room-item-${r.id}`}
                data-room-name={r.name}
              >
                <Avatar id={r.id} name={r.name} />
                <span className="room-item-main">
                  <span className="room-item-top">
                    <span className="room-item-name">{r.name}</span>
                    <time className="room-item-time" dateTime={r.lastActivity ? new Date(r.lastActivity).toISOString() : undefined}>
                      {when}
                    </time>
                  </span>
                  <span className="room-item-bottom">
                    {r.classification ? <ClassificationBadge label={r.classification} /> : null}
                    {r.conflict ? <span className="badge badge-warn">{t("room.conflictBadge")}</span> : null}
                    <span className="room-item-preview">
                      {preview && r.last && r.last.sender === profile.user
                        ? t("sidebar.youSaid", { text: preview })
                        : preview && r.last && r.kind === "group"
                          ? t("sidebar.theySaid", { name: r.last.senderName, text: preview })
                          : preview}
                    </span>
                    {r.unread > 0 ? (
                      <span className="badge badge-unread" data-testid={`room-unread-${r.id}`}>
                        <span aria-hidden="true">{r.unread > 99 ? "99+" : r.unread}</span>
                        <span className="visually-hidden">{t("sidebar.unread", { count: r.unread })}</span>
                      </span>
                    ) : null}
                  </span>
                </span>
              </button>
            </li>
          );
        })}
      </ul>
      <footer className="sidebar-footer">
        <Button className="link-button" onPress={() => onOpenDialog("help")} data-testid="sidebar-help">
          {t("sidebar.shortcuts")}
        </Button>
      </footer>
    </nav>
  );
}
