import type { DeviceTrust } from "../bindings/DeviceTrust";
import { useI18n, type MessageKey } from "../i18n";

const text: Record<DeviceTrust, MessageKey> = {
  verified: "trust.verified",
  trusted: "trust.trusted",
  revoked: "trust.revoked",
};
const icon: Record<DeviceTrust, string> = { verified: "✔", trusted: "●", revoked: "⊘" };

export function TrustBadge({ trust }: { trust: DeviceTrust }) {
  const { t } = useI18n();
  return (
    <span className={`badge badge-trust badge-trust-${trust}`}>
      <span aria-hidden="true">{icon[trust]} </span>
      {t(text[trust])}
    </span>
  );
}
