/** A room's classification label, as the organisation wrote it (never translated). */
export function ClassificationBadge({ label }: { label: string | null }) {
  if (!label) return null;
  const level = classificationLevel(label);
  return <span className={`badge badge-class badge-class-${level}`}>{label}</span>;
}

/** Colour by keyword only; the text always says it. */
export function classificationLevel(label: string): "high" | "mid" | "low" {
  const l = label.toLowerCase();
  if (/(secret|geheim|confidenti|vertrouwelijk|vertraulich|top)/.test(l)) return "high";
  if (/(restrict|restreint|beperkt|verschluss|dienstgebrauch|sensitive)/.test(l)) return "mid";
  return "low";
}
