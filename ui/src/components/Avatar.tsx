import { hueOf, initials } from "../lib/format";

const HUES = 12;

/** Initials on a colour picked from the id; decorative (the name is always shown beside it). */
export function Avatar({ id, name, size = "medium" }: { id: string; name: string; size?: "small" | "medium" }) {
  const bucket = Math.floor(hueOf(id) / (360 / HUES));
  return (
    <span className={`avatar avatar-${size} avatar-hue-${bucket}`} aria-hidden="true">
      {initials(name)}
    </span>
  );
}
