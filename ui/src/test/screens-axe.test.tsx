import { waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import axe from "axe-core";
import { describe, expect, it } from "vitest";
import { startApp } from "./fixtures";
import { SCREENS } from "./screens";

async function axeViolations(): Promise<string[]> {
  const result = await axe.run(document.body, {
    // jsdom has no layout or rendering: contrast cannot be computed here (the themes' colours
    // are chosen for WCAG AA and checked in the screenshots).
    rules: { "color-contrast": { enabled: false } },
  });
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

describe("accessibility (axe-core)", () => {
  for (const s of SCREENS) {
    it(`${s.name}: no violation in the light and the dark theme`, async () => {
      for (const theme of ["light", "dark"] as const) {
        const user = userEvent.setup({ delay: null });
        const { backend, unmount } = startApp({ phase: s.phase, theme });
        await waitFor(() => expect(document.documentElement.getAttribute("data-theme")).toBe(theme));
        await s.open(user, backend);
        expect(await axeViolations(), `${s.name} (${theme})`).toEqual([]);
        unmount();
        backend.uninstall();
      }
    });
  }
});
