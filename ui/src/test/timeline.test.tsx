import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { buildRows } from "../components/Timeline";
import { ARCHIVE_ROOM } from "../dev/mockBackend";
import { mainReady, startApp } from "./fixtures";

describe("timeline", () => {
  it("renders a bounded number of rows for 100,000 messages", async () => {
    const user = userEvent.setup({ delay: null });
    startApp({ archiveSize: 100_000, minPage: 100_000 });
    await mainReady();
    await user.click(screen.getByTestId(`room-item-${ARCHIVE_ROOM}`));
    const timeline = screen.getByTestId("timeline");
    await waitFor(() => expect(timeline.getAttribute("data-loaded")).toBe("100000"), { timeout: 10_000 });
    await waitFor(() => expect(within(timeline).getByText(/\(#100000\)/)).toBeTruthy());
    const rows = screen.getAllByTestId("timeline-row");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(100);
    expect(timeline.querySelectorAll("li").length).toBeLessThan(100);
    // The list is as tall as every row together: the rows are virtual, not missing.
    const height = Number.parseFloat(timeline.querySelector("ol")!.style.height);
    expect(height).toBeGreaterThan(100_000 * 30);
  });

  it("loads an older page when scrolled to the top, without dropping what it has", async () => {
    const user = userEvent.setup({ delay: null });
    startApp({ archiveSize: 2_000 });
    await mainReady();
    await user.click(screen.getByTestId(`room-item-${ARCHIVE_ROOM}`));
    const timeline = screen.getByTestId("timeline");
    await waitFor(() => expect(timeline.getAttribute("data-loaded")).toBe("50"));
    await waitFor(() => expect(timeline.scrollTop).toBeGreaterThan(1000));
    timeline.scrollTop = 0;
    fireEvent.scroll(timeline);
    await waitFor(() => expect(timeline.getAttribute("data-loaded")).toBe("100"));
    // The view moved down by the height of the prepended rows, so the same messages stay in sight.
    expect(timeline.scrollTop).toBeGreaterThan(1000);
  });

  it("opens a search hit in its room with the page around it", async () => {
    const user = userEvent.setup({ delay: null });
    startApp({ archiveSize: 2_000 });
    await mainReady();
    await user.keyboard("{Control>}f{/Control}");
    await user.type(await screen.findByTestId("search-input"), "#700");
    await waitFor(() => expect(screen.getAllByTestId("search-option").length).toBe(1));
    await user.keyboard("{Enter}");
    await waitFor(() => expect(screen.getByTestId("room-title").textContent).toBe("Archive 2019–2025"));
    await waitFor(() => expect(screen.getByText(/\(#700\)/)).toBeTruthy());
    expect(screen.getByText(/\(#700\)/).closest("[data-testid=message]")?.className).toContain("msg-highlight");
    expect(screen.getByTestId("timeline-jump-latest")).toBeTruthy();
  });

  it("groups by sender and separates days", () => {
    const base = { room: "r", status: "received" as const, replyTo: null, edited: false, own: false, attachment: null, reactions: [], readBy: [], expiresAt: null };
    const day = 86_400_000;
    const t0 = Date.UTC(2025, 0, 1, 9);
    const rows = buildRows(
      [
        { ...base, id: "1", sender: "a", senderName: "A", sentAt: t0, body: "x" },
        { ...base, id: "2", sender: "a", senderName: "A", sentAt: t0 + 60_000, body: "y" },
        { ...base, id: "3", sender: "b", senderName: "B", sentAt: t0 + 120_000, body: "z" },
        { ...base, id: "4", sender: "b", senderName: "B", sentAt: t0 + day, body: "w" },
      ],
      [{ id: 9, at: t0 + 90_000, kind: "newDevice", room: "r", user: "b", device: "d", detail: "" }],
      false,
    );
    expect(rows.map((r) => `${r.day !== null ? "|" : ""}${r.kind === "msg" ? r.m.id + (r.grouped ? "g" : "") : "alert"}`)).toEqual([
      "|1",
      "2g",
      "alert",
      "3",
      "|4",
    ]);
  });
});
