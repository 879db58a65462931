import { Button } from "react-aria-components";
import { Icon } from "./Icon";
import type { AlertKind } from "../bindings/AlertKind";
import type { AlertView } from "../bindings/AlertView";
import { useI18n, type MessageKey } from "../i18n";
import { useMain } from "../screens/MainContext";

export const alertText: Record<AlertKind, MessageKey> = {
  newDevice: "alert.newDevice",
  deviceRevoked: "alert.deviceRevoked",
  stateConflict: "alert.stateConflict",
  rejected: "alert.rejected",
  delivery: "alert.delivery",
  undecryptable: "alert.undecryptable",
  verificationFailed: "alert.verificationFailed",
};
const severity: Record<AlertKind, "info" | "warning" | "danger"> = {
  newDevice: "info",
  deviceRevoked: "warning",
  stateConflict: "danger",
  rejected: "danger",
  delivery: "warning",
  undecryptable: "info",
  verificationFailed: "danger",
};

export function AlertRow({ alert }: { alert: AlertView }) {
  const { t, time } = useI18n();
  const { nameOf, dismissAlert, startVerification } = useMain();
  const name = alert.user ? nameOf(alert.user) : "";
  return (
    <div className={`inline-alert inline-alert-${severity[alert.kind]}`} role="note" data-testid={`alert-${alert.kind}`}>
      <Icon name={severity[alert.kind] === "info" ? "info" : "warning"} className="inline-alert-icon" />
      <div className="inline-alert-text">
        <p>
          {t(alertText[alert.kind], { name, device: alert.device ?? "" })} <span className="muted small">{time(alert.at)}</span>
        </p>
        {alert.detail ? <p className="note-detail">{alert.detail}</p> : null}
      </div>
      <div className="inline-alert-actions">
        {alert.kind === "newDevice" && alert.user && alert.device ? (
          <Button className="button button-small" onPress={() => startVerification(alert.user!, alert.device!)} data-testid="alert-verify">
            {t("devices.verify")}
          </Button>
        ) : null}
        <Button className="button button-small" onPress={() => dismissAlert(alert.id)} data-testid="alert-dismiss">
          {t("alert.dismiss")}
        </Button>
      </div>
    </div>
  );
}
