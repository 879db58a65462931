import { useState } from "react";
import { Button, Checkbox, CheckboxGroup, Input, Label, TextField } from "react-aria-components";
import { call, toUiError } from "../api";
import type { Contact } from "../bindings/Contact";
import type { UiError } from "../bindings/UiError";
import { useI18n } from "../i18n";
import { useMain } from "../screens/MainContext";
import { Avatar } from "./Avatar";
import { AppDialog } from "./Dialog";
import { ErrorNote } from "./ErrorNote";
import { PickList } from "./PickList";

export function NewChatDialog({ contacts, onClose, onOpened }: { contacts: Contact[]; onClose: () => void; onOpened: (room: string) => void }) {
  const { t } = useI18n();
  const { profile } = useMain();
  const [q, setQ] = useState("");
  const [error, setError] = useState<UiError | null>(null);
  const people = contacts.filter((c) => c.user !== profile.user);
  return (
    <AppDialog title={t("newDirect.title")} onClose={onClose} testId="new-direct">
      <PickList
        label={t("newDirect.label")}
        placeholder={t("newDirect.placeholder")}
        items={people}
        filter={(c, query) => c.displayName.toLowerCase().includes(query) || c.user.toLowerCase().includes(query)}
        itemKey={(c) => c.user}
        render={(c) => (
          <span className="pick-room">
            <Avatar id={c.user} name={c.displayName} size="small" />
            <span className="pick-room-name">{c.displayName}</span>
            <span className="muted small mono">{c.user}</span>
          </span>
        )}
        onPick={(c) => {
          call("open_direct", { user: c.user }).then(onOpened, (e) => setError(toUiError(e)));
        }}
        query={q}
        onQuery={setQ}
        testId="new-direct"
        empty={t("newDirect.empty")}
      />
      <ErrorNote error={error} testId="new-direct-error" />
    </AppDialog>
  );
}

export function NewGroupDialog({ contacts, onClose, onCreated }: { contacts: Contact[]; onClose: () => void; onCreated: (room: string) => void }) {
  const { t } = useI18n();
  const { profile } = useMain();
  const [name, setName] = useState("");
  const [members, setMembers] = useState<string[]>([]);
  const [error, setError] = useState<UiError | null>(null);
  const people = contacts.filter((c) => c.user !== profile.user);
  const create = async () => {
    if (!name.trim()) return;
    try {
      onCreated(await call("create_group", { name: name.trim(), members }));
    } catch (e) {
      setError(toUiError(e));
    }
  };
  return (
    <AppDialog title={t("newGroup.title")} onClose={onClose} testId="new-group">
      <form
        className="stack"
        onSubmit={(e) => {
          e.preventDefault();
          void create();
        }}
      >
        <TextField value={name} onChange={setName} className="field" isRequired autoFocus>
          <Label>{t("newGroup.name")}</Label>
          <Input className="input" data-testid="new-group-name" />
        </TextField>
        <CheckboxGroup value={members} onChange={setMembers} className="field">
          <Label>{t("newGroup.members")}</Label>
          <div className="check-list">
            {people.map((c) => (
              <Checkbox key={c.user} value={c.user} className="check" data-testid={`new-group-member-${c.user}`}>
                <span className="check-box" aria-hidden="true" />
                <Avatar id={c.user} name={c.displayName} size="small" />
                <span>{c.displayName}</span>
              </Checkbox>
            ))}
          </div>
        </CheckboxGroup>
        <ErrorNote error={error} testId="new-group-error" />
        <div className="row row-end">
          <Button className="button" onPress={onClose} data-testid="new-group-cancel">
            {t("common.cancel")}
          </Button>
          <Button type="submit" className="button button-primary" isDisabled={!name.trim()} data-testid="new-group-create">
            {t("newGroup.create", { count: members.length })}
          </Button>
        </div>
      </form>
    </AppDialog>
  );
}
