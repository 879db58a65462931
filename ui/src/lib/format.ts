/** Groups a fingerprint in blocks of four for reading aloud over the phone. */
export function groupFingerprint(fp: string): string[] {
  const clean = fp.replace(/[^0-9a-zA-Z]/g, "").toUpperCase();
  const groups: string[] = [];
  for (let i = 0; i < clean.length; i += 4) groups.push(clean.slice(i, i + 4));
  return groups;
}

export type Strength = "weak" | "fair" | "strong";

/** A rough hint only: length counts most; the host and engine decide what is accepted. */
export function passphraseStrength(p: string): Strength {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((r) => r.test(p)).length;
  const words = p.trim().split(/\s+/).filter(Boolean).length;
  if (p.length >= 20 || (p.length >= 14 && (classes >= 3 || words >= 4))) return "strong";
  if (p.length >= 12) return "fair";
  return "weak";
}

export function sameDay(a: number, b: number): boolean {
  const x = new Date(a);
  const y = new Date(b);
  return x.getFullYear() === y.getFullYear() && x.getMonth() === y.getMonth() && x.getDate() === y.getDate();
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = parts[0]?.[0] ?? "?";
  const last = parts.length > 1 ? parts[parts.length - 1][0] : "";
  return (first + last).toUpperCase();
}

/** A stable hue per user, for the avatar (colour is never the only signal: the name is shown). */
export function hueOf(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) % 360;
  return h;
}
