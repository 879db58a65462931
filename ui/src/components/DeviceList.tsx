import { Button } from "react-aria-components";
import type { DeviceView } from "../bindings/DeviceView";
import { useI18n } from "../i18n";
import { TrustBadge } from "./TrustBadge";

export function DeviceList({
  user,
  devices,
  onVerify,
}: {
  user: string;
  devices: DeviceView[];
  onVerify: (user: string, device: string) => void;
}) {
  const { t } = useI18n();
  if (devices.length === 0) return <p className="muted small">{t("devices.none")}</p>;
  return (
    <ul className="device-list">
      {devices.map((d) => (
        <li key={d.device} className={`device${d.trust === "revoked" ? " device-revoked" : ""}`} data-testid={`device-${d.device}`}>
          <span className="device-text">
            <span className="device-name">
              {d.name}
              {d.current ? <span className="muted small"> · {t("devices.thisDevice")}</span> : null}
            </span>
            <span className="device-id mono small">{d.device}</span>
          </span>
          <TrustBadge trust={d.trust} />
          {!d.current && d.trust === "trusted" ? (
            <Button className="button button-small" onPress={() => onVerify(user, d.device)} data-testid={`device-verify-${d.device}`}>
              {t("devices.verify")}
            </Button>
          ) : null}
        </li>
      ))}
    </ul>
  );
}
