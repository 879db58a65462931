import { cleanup } from "@testing-library/react";
import { afterEach, vi } from "vitest";
import { clearMocks } from "@tauri-apps/api/mocks";

// Tests that need no DOM run in plain Node (`// @vitest-environment node`); the stand-ins below
// are for the jsdom ones.
if (typeof window !== "undefined") {
  // jsdom lacks layout APIs the widgets probe for; these stand-ins do nothing.
  class NoopResizeObserver {
    observe() {}
    unobserve() {}
    disconnect() {}
  }
  globalThis.ResizeObserver ??= NoopResizeObserver as unknown as typeof ResizeObserver;
  window.matchMedia ??= ((query: string) => ({
    matches: false,
    media: query,
    onchange: null,
    addListener: () => undefined,
    removeListener: () => undefined,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
    dispatchEvent: () => false,
  })) as unknown as typeof window.matchMedia;
  globalThis.CSS ??= {} as typeof CSS;
  CSS.escape ??= (v: string) => v.replace(/[^a-zA-Z0-9_-]/g, (c) => `\\${c}`);
  // Scrolling the timeline: keep the offset and announce it, as a browser would.
  const offsets = new WeakMap<Element, number>();
  Object.defineProperty(HTMLElement.prototype, "scrollTop", {
    configurable: true,
    get(this: HTMLElement) {
      return offsets.get(this) ?? 0;
    },
    set(this: HTMLElement, v: number) {
      offsets.set(this, Math.max(0, v));
    },
  });
  Element.prototype.scrollTo = function (this: Element, opts?: ScrollToOptions | number, y?: number) {
    const top = typeof opts === "number" ? y ?? 0 : opts?.top;
    if (top !== undefined) {
      (this as HTMLElement).scrollTop = top;
      // Browsers report a scroll asynchronously.
      setTimeout(() => this.dispatchEvent(new Event("scroll")), 0);
    }
  } as typeof Element.prototype.scrollTo;
  Element.prototype.scrollIntoView ??= function () {};

  // jsdom lays nothing out. Give the timeline's scroll box a window-sized height and each row a
  // plausible one, so the virtualiser computes its range as it would in the app.
  const realRect = Element.prototype.getBoundingClientRect;
  Element.prototype.getBoundingClientRect = function (this: Element) {
    const size = (w: number, h: number) => ({ x: 0, y: 0, top: 0, left: 0, right: w, bottom: h, width: w, height: h, toJSON: () => ({}) }) as DOMRect;
    if (this.classList.contains("timeline-scroll")) return size(1000, 800);
    // Rows measure what the timeline estimates for them (64, 36 when grouped, 56 for an alert, + 40 with a day line).
    if (this.classList.contains("trow")) {
      const sep = this.querySelector(".day-sep") ? 40 : 0;
      if (!this.classList.contains("trow-msg")) return size(1000, 56 + sep);
      return size(1000, (this.querySelector(".msg-grouped") ? 36 : 64) + sep);
    }
    return realRect.call(this);
  };
  Object.defineProperty(HTMLElement.prototype, "scrollHeight", {
    configurable: true,
    get(this: HTMLElement) {
      if (!this.classList.contains("timeline-scroll")) return 0;
      const list = this.querySelector("ol");
      return Math.max(800, 56 + (Number.parseFloat(list?.style.height ?? "0") || 0));
    },
  });
  for (const prop of ["clientHeight", "offsetHeight"] as const) {
    const real = Object.getOwnPropertyDescriptor(HTMLElement.prototype, prop);
    Object.defineProperty(HTMLElement.prototype, prop, {
      configurable: true,
      get(this: HTMLElement) {
        if (this.classList.contains("timeline-scroll")) return 800;
        if (this.classList.contains("trow")) return this.getBoundingClientRect().height;
        return real?.get?.call(this) ?? 0;
      },
    });
  }



  // axe probes icon fonts with a canvas; jsdom has none.
  HTMLCanvasElement.prototype.getContext = (() => null) as typeof HTMLCanvasElement.prototype.getContext;
}

afterEach(() => {
  if (typeof window === "undefined") return;
  cleanup();
  clearMocks();
  document.documentElement.removeAttribute("data-theme");
  vi.useRealTimers();
});
