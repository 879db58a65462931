import userEvent from "@testing-library/user-event";
import axe from "axe-core";
import { describe, expect, it } from "vitest";
import { rawKeysIn, startApp } from "./fixtures";
import { SCREENS } from "./screens";

async function axeViolations(): Promise<string[]> {
  const result = await axe.run(document.body, {
    // jsdom applies no style sheet: contrast is checked on the palettes by contrast.test.ts.
    rules: { "color-contrast": { enabled: false } },
  });
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

/** Ids meant to name one element each, found on more than one (lists of things are exempt). */
function repeatedTestIds(): string[] {
  const seen = new Map<string, number>();
  document.querySelectorAll("[data-testid]").forEach((e) => {
    const id = e.getAttribute("data-testid")!;
    seen.set(id, (seen.get(id) ?? 0) + 1);
  });
  const lists = /^(message|timeline-row|attachment|alert-|device-|.*-option$)/;
  return [...seen].filter(([id, n]) => n > 1 && !lists.test(id)).map(([id]) => id);
}

describe("accessibility (axe-core)", () => {
  for (const s of SCREENS) {
    it(`${s.name}: no violation, no raw key`, async () => {
      const user = userEvent.setup({ delay: null });
      const { backend } = startApp({ ...s.options, phase: s.phase });
      await s.open(user, backend);
      expect(await axeViolations(), s.name).toEqual([]);
      expect(rawKeysIn(document.body.innerHTML), s.name).toEqual([]);
      expect(repeatedTestIds(), s.name).toEqual([]);
    });
  }
});
