import type { Translate } from "../i18n";

export const RETENTION_CHOICES = [0, 3600, 86_400, 7 * 86_400, 30 * 86_400] as const;

export function retentionText(t: Translate, secs: number | null): string {
  if (!secs) return t("retention.off");
  if (secs % 86_400 === 0) return t("retention.days", { count: secs / 86_400 });
  if (secs % 3600 === 0) return t("retention.hours", { count: secs / 3600 });
  return t("retention.minutes", { count: Math.max(1, Math.round(secs / 60)) });
}
