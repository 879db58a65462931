import { useState } from "react";
import { useI18n } from "../i18n";
import { useMain } from "../screens/MainContext";
import { Avatar } from "./Avatar";
import { ClassificationBadge } from "./ClassificationBadge";
import { AppDialog } from "./Dialog";
import { PickList } from "./PickList";

export function QuickSwitcher({ onClose }: { onClose: () => void }) {
  const { t } = useI18n();
  const { rooms, openRoom } = useMain();
  const [q, setQ] = useState("");
  return (
    <AppDialog title={t("switcher.title")} onClose={onClose} testId="switcher">
      <PickList
        label={t("switcher.label")}
        placeholder={t("switcher.placeholder")}
        items={rooms}
        filter={(r, query) => r.name.toLowerCase().includes(query)}
        itemKey={(r) => r.id}
        render={(r) => (
          <span className="pick-room">
            <Avatar id={r.id} name={r.name} size="small" />
            <span className="pick-room-name">{r.name}</span>
            <ClassificationBadge label={r.classification} />
            {r.unread > 0 ? <span className="badge badge-unread">{r.unread}</span> : null}
          </span>
        )}
        onPick={(r) => openRoom(r.id)}
        query={q}
        onQuery={setQ}
        testId="switcher"
        empty={t("switcher.empty")}
      />
    </AppDialog>
  );
}
