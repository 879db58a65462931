import { render, screen, waitFor } from "@testing-library/react";
import { expect } from "vitest";
import { App } from "../App";
import type { Language } from "../bindings/Language";
import type { Phase } from "../bindings/Phase";
import type { Theme } from "../bindings/Theme";
import { createMockBackend, type MockOptions } from "../dev/mockBackend";
import en from "../i18n/en.json";
import { missing } from "../i18n";

/** A fixed clock for the fixtures: Wednesday 3 December 2025, 14:00 UTC. */
export const NOW = Date.UTC(2025, 11, 3, 14, 0, 0);

export function startApp(opts: MockOptions & { phase?: Phase; lang?: Language; theme?: Theme } = {}) {
  const backend = createMockBackend({
    delay: 0,
    liveReplies: false,
    now: NOW,
    archiveSize: 2_000,
    ...opts,
    settings: { language: opts.lang ?? "en", theme: opts.theme ?? "light", ...opts.settings },
  });
  backend.install();
  const result = render(<App />);
  return { backend, ...result };
}

export async function mainReady() {
  await screen.findByTestId("room-title", {}, { timeout: 5000 });
  await waitFor(() => expect(screen.getAllByTestId("message").length).toBeGreaterThan(0));
}

/** Collects keys a catalogue lacks while a test runs. */
export function trackMissingKeys(): string[] {
  const found: string[] = [];
  missing.report = (lang, key) => {
    found.push(`${lang}:${key}`);
  };
  return found;
}

const KEYS = new Set(Object.keys(en));
/** Any catalogue key that shows up raw in the page (a key rendered instead of its text). */
export function rawKeysIn(text: string): string[] {
  const words = text.match(/[a-zA-Z0-9]+(?:\.[a-zA-Z0-9]+)+/g) ?? [];
  return words.filter((w) => KEYS.has(w));
}
