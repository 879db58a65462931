import { useCallback, useEffect, useState } from "react";
import { Icon } from "./Icon";
import { Button, Input, Label, TextField } from "react-aria-components";
import { call, toUiError } from "../api";
import type { Contact } from "../bindings/Contact";
import type { RoomDetails } from "../bindings/RoomDetails";
import type { RoomSummary } from "../bindings/RoomSummary";
import type { UiError } from "../bindings/UiError";
import type { EventBus } from "../events";
import { useI18n } from "../i18n";
import { useMain } from "../screens/MainContext";
import { Avatar } from "./Avatar";
import { DeviceList } from "./DeviceList";
import { ErrorNote } from "./ErrorNote";
import { RETENTION_CHOICES, retentionText } from "./retention";

export function RoomDetailsPanel({ room, bus, onClose }: { room: RoomSummary; bus: EventBus; onClose: () => void }) {
  const { t } = useI18n();
  const { profile, startVerification } = useMain();
  const [details, setDetails] = useState<RoomDetails | null>(null);
  const [contacts, setContacts] = useState<Contact[]>([]);
  const [error, setError] = useState<UiError | null>(null);
  const [name, setName] = useState(room.name);
  const [label, setLabel] = useState(room.classification ?? "");
  const [adding, setAdding] = useState("");

  const load = useCallback(async () => {
    try {
      const d = await call("room_details", { room: room.id });
      setDetails(d);
      setName(d.name);
      setLabel(d.classification ?? "");
    } catch (e) {
      setError(toUiError(e));
    }
  }, [room.id]);

  useEffect(() => {
    void load();
    call("directory").then(setContacts, () => undefined);
  }, [load]);
  useEffect(() => bus.on((e) => {
    if (e.type === "room" && e.room === room.id) void load();
  }), [bus, load, room.id]);

  const act = async (p: Promise<unknown>) => {
    setError(null);
    try {
      await p;
      await load();
    } catch (e) {
      setError(toUiError(e));
    }
  };

  const admin = details?.myRole === "admin";
  const memberIds = new Set(details?.members.map((m) => m.user));
  const candidates = contacts.filter((c) => !memberIds.has(c.user));
  const retention = details?.retentionSecs ?? 0;
  const choices: number[] = RETENTION_CHOICES.includes(retention as (typeof RETENTION_CHOICES)[number])
    ? [...RETENTION_CHOICES]
    : [...RETENTION_CHOICES, retention];

  return (
    <aside className="details" aria-labelledby="details-title" data-testid="room-details">
      <header className="details-header">
        <h2 id="details-title" className="section-title">
          {t("details.title")}
        </h2>
        <Button className="icon-button" aria-label={t("common.close")} onPress={onClose} data-testid="room-details-close">
          <Icon name="close" />
        </Button>
      </header>
      <ErrorNote error={error} testId="details-error" />
      {!details ? (
        <p className="muted">{t("app.loading")}</p>
      ) : (
        <div className="details-body">
          {details.conflict ? (
            <div className="note note-warning" role="status">
              <p>{t("room.conflict")}</p>
              <p className="note-detail">{details.conflict}</p>
            </div>
          ) : null}
          {details.kind === "group" ? (
            <form
              className="inline-form"
              onSubmit={(e) => {
                e.preventDefault();
                if (name.trim() && name.trim() !== details.name) void act(call("rename_room", { room: room.id, name: name.trim() }));
              }}
            >
              <TextField value={name} onChange={setName} className="field" isDisabled={!admin}>
                <Label>{t("details.name")}</Label>
                <Input className="input" data-testid="details-name" />
              </TextField>
              {admin ? (
                <Button type="submit" className="button button-small" data-testid="details-rename">
                  {t("details.rename")}
                </Button>
              ) : null}
            </form>
          ) : null}
          <form
            className="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              void act(call("set_classification", { room: room.id, label: label.trim() || null }));
            }}
          >
            <TextField value={label} onChange={setLabel} className="field" isDisabled={!admin}>
              <Label>{t("details.classification")}</Label>
              <Input className="input" data-testid="details-classification" placeholder={t("details.classificationNone")} />
            </TextField>
            {admin ? (
              <Button type="submit" className="button button-small" data-testid="details-set-classification">
                {t("details.apply")}
              </Button>
            ) : null}
          </form>
          <div className="field">
            <label htmlFor="details-retention">{t("details.retention")}</label>
            <select
              id="details-retention"
              className="input select"
              value={retention}
              disabled={!admin}
              onChange={(e) => {
                const secs = Number(e.target.value);
                void act(call("set_retention", { room: room.id, secs: secs === 0 ? null : secs }));
              }}
              data-testid="details-retention"
            >
              {choices.map((c) => (
                <option key={c} value={c}>
                  {retentionText(t, c)}
                </option>
              ))}
            </select>
            <p className="field-hint">{t("details.retentionHint")}</p>
          </div>
          {!admin ? <p className="muted small">{t("details.adminOnly")}</p> : null}

          <h3 className="subsection-title">{t("details.membersTitle", { count: details.members.length })}</h3>
          <ul className="member-list" data-testid="details-members">
            {details.members.map((m) => (
              <li key={m.user} className="member">
                <div className="member-head">
                  <Avatar id={m.user} name={m.displayName} size="small" />
                  <span className="member-name">
                    {m.displayName}
                    {m.user === profile.user ? <span className="muted small"> · {t("details.you")}</span> : null}
                  </span>
                  <span className={`badge badge-role badge-role-${m.role}`}>{m.role === "admin" ? t("role.admin") : t("role.member")}</span>
                  {admin && m.user !== profile.user && details.kind === "group" ? (
                    <Button
                      className="link-button link-danger"
                      onPress={() => void act(call("remove_member", { room: room.id, user: m.user }))}
                      data-testid={`details-remove-${m.user}`}
                      aria-label={t("details.removeMember", { name: m.displayName })}
                    >
                      {t("details.remove")}
                    </Button>
                  ) : null}
                </div>
                <DeviceList user={m.user} devices={m.devices} onVerify={startVerification} />
              </li>
            ))}
          </ul>
          {admin && details.kind === "group" ? (
            <form
              className="inline-form"
              onSubmit={(e) => {
                e.preventDefault();
                if (adding) {
                  void act(call("add_member", { room: room.id, user: adding }));
                  setAdding("");
                }
              }}
            >
              <div className="field">
                <label htmlFor="details-add">{t("details.addMember")}</label>
                <select id="details-add" className="input select" value={adding} onChange={(e) => setAdding(e.target.value)} data-testid="details-add-select">
                  <option value="">{t("details.choosePerson")}</option>
                  {candidates.map((c) => (
                    <option key={c.user} value={c.user}>
                      {c.displayName}
                    </option>
                  ))}
                </select>
              </div>
              <Button type="submit" className="button button-small" isDisabled={!adding} data-testid="details-add">
                {t("details.add")}
              </Button>
            </form>
          ) : null}
        </div>
      )}
    </aside>
  );
}
