import { waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Language } from "../bindings/Language";
import { languages } from "../i18n";
import { rawKeysIn, startApp, trackMissingKeys } from "./fixtures";
import { SCREENS } from "./screens";

// English is the reference catalogue (and what screens-axe.test.tsx renders); here the three others.
describe("every screen in every language", () => {
  for (const s of SCREENS) {
    it(`${s.name}: French, Dutch and German, no missing key`, async () => {
      for (const lang of languages.filter((l) => l !== "en")) {
        const found = trackMissingKeys();
        const user = userEvent.setup({ delay: null });
        const { backend, unmount } = startApp({ ...s.options, phase: s.phase, lang: lang as Language });
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

