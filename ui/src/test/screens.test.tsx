import { waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import axe from "axe-core";
import { describe, expect, it } from "vitest";
import type { Language } from "../bindings/Language";
import { languages } from "../i18n";
import { rawKeysIn, startApp, trackMissingKeys } from "./fixtures";
import { SCREENS } from "./screens";

async function axeViolations(): Promise<string[]> {
  const result = await axe.run(document.body, {
    // jsdom has no layout or rendering: contrast cannot be computed here (the themes' colours
    // are chosen for WCAG AA and checked in the screenshots).
    rules: { "color-contrast": { enabled: false } },
  });
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

describe("every screen in every language", () => {
  for (const s of SCREENS) {
    it(`${s.name}: all four languages, no missing key`, async () => {
      for (const lang of languages) {
        const found = trackMissingKeys();
        const user = userEvent.setup();
        const { backend, unmount } = startApp({ phase: s.phase, lang: lang as Language });
        await waitFor(() => expect(document.documentElement.lang).toBe(lang));
        await s.open(user, backend);
        expect(found, `${s.name} in ${lang}`).toEqual([]);
        expect(rawKeysIn(document.body.innerHTML), `${s.name} in ${lang}`).toEqual([]);
        unmount();
        backend.uninstall();
      }
    });
  }
});

describe("accessibility (axe-core)", () => {
  for (const s of SCREENS) {
    it(`${s.name}: no violation in the light and the dark theme`, async () => {
      for (const theme of ["light", "dark"] as const) {
        const user = userEvent.setup();
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
