import { useI18n } from "../i18n";

export function PolicyHint({ locked }: { locked: boolean | undefined }) {
  const { t } = useI18n();
  if (!locked) return null;
  return <p className="policy-hint">{t("settings.setByOrganisation")}</p>;
}
