// @vitest-environment node
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * jsdom applies no style sheet, so axe cannot judge colours there. This reads the two palettes from
 * theme.css and checks the WCAG 2.2 contrast of every pair the interface draws text or controls with.
 */
const css = readFileSync(join(__dirname, "..", "styles", "theme.css"), "utf8");

function block(selector: string): Record<string, string> {
  const start = css.indexOf(selector);
  const open = css.indexOf("{", start);
  const close = css.indexOf("}", open);
  const vars: Record<string, string> = {};
  for (const m of css.slice(open + 1, close).matchAll(/--([\w-]+):\s*([^;]+);/g)) vars[m[1]] = m[2].trim();
  return vars;
}

const light = block(":root {");
const dark = { ...light, ...block(':root[data-theme="dark"]') };
const systemDark = { ...light, ...block(":root:not([data-theme])") };

function rgb(hex: string): [number, number, number] {
  const h = hex.replace("#", "");
  const full = h.length === 3 ? h.split("").map((c) => c + c).join("") : h;
  return [0, 2, 4].map((i) => Number.parseInt(full.slice(i, i + 2), 16)) as [number, number, number];
}
function luminance(hex: string): number {
  const [r, g, b] = rgb(hex).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

// [foreground, background, minimum ratio]: 4.5 for text, 3 for controls' outlines and focus rings.
const PAIRS: [string, string, number][] = [
  ["text", "bg", 4.5],
  ["text", "surface", 4.5],
  ["text", "surface-2", 4.5],
  ["text", "sidebar", 4.5],
  ["text-2", "surface", 4.5],
  ["text-2", "surface-2", 4.5],
  ["text-2", "sidebar", 4.5],
  ["text-3", "surface", 4.5],
  ["text-3", "sidebar", 4.5],
  ["accent", "surface", 4.5],
  ["accent", "accent-soft", 4.5],
  ["accent-text", "accent", 4.5],
  ["danger", "surface", 4.5],
  ["danger", "danger-soft", 4.5],
  ["warning", "warning-soft", 4.5],
  ["success", "success-soft", 4.5],
  ["text", "own-bubble", 4.5],
  ["text", "highlight", 4.5],
  ["text", "info-soft", 4.5],
  ["class-high-fg", "class-high-bg", 4.5],
  ["class-mid-fg", "class-mid-bg", 4.5],
  ["class-low-fg", "class-low-bg", 4.5],
  ["focus", "surface", 3],
  ["focus", "bg", 3],
  ["border-strong", "surface", 3],
];

describe("theme colours meet WCAG AA", () => {
  for (const [name, palette] of [
    ["light", light],
    ["dark", dark],
  ] as const) {
    it(`${name} theme`, () => {
      const failing = PAIRS.filter(([fg, bg, min]) => contrast(palette[fg], palette[bg]) < min).map(
        ([fg, bg, min]) => `${fg} on ${bg}: ${contrast(palette[fg], palette[bg]).toFixed(2)} < ${min}`,
      );
      expect(failing).toEqual([]);
    });
  }

  it("the system's dark mode uses the same palette as the dark theme", () => {
    expect(systemDark).toEqual(dark);
  });
});
