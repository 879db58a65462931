import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { mainReady, startApp } from "./fixtures";

type User = ReturnType<typeof userEvent.setup>;

/** Presses Tab until the element with this test id has the focus, as a keyboard user would. */
async function tabTo(user: User, testId: string, max = 120) {
  for (let i = 0; i < max; i++) {
    if (document.activeElement?.getAttribute("data-testid") === testId) return;
    await user.tab();
  }
  throw new Error(`could not reach ${testId} with Tab (focus is on ${document.activeElement?.outerHTML.slice(0, 120)})`);
}

describe("keyboard only", () => {
  it("enrolls from a pasted invitation", async () => {
    const user = userEvent.setup({ delay: null });
    startApp({ phase: "welcome" });
    await screen.findByTestId("welcome-invitation-text");
    await tabTo(user, "welcome-invitation-text");
    await user.keyboard("belfry:invitation-demo");
    await tabTo(user, "welcome-inspect");
    await user.keyboard("{Enter}");
    await screen.findByTestId("welcome-fingerprint");
    await tabTo(user, "welcome-device-name");
    await user.keyboard("Office laptop");
    await tabTo(user, "welcome-secret");
    await user.keyboard("246810");
    await tabTo(user, "welcome-secret-confirm");
    await user.keyboard("246810{Enter}");
    await mainReady();
    expect(screen.getByTestId("room-list")).toBeTruthy();
  });

  it("refuses to enroll with a passcode that does not match its confirmation", async () => {
    const user = userEvent.setup({ delay: null });
    const { backend } = startApp({ phase: "welcome" });
    await tabTo(user, "welcome-invitation-text");
    await user.keyboard("belfry:invitation-demo");
    await tabTo(user, "welcome-inspect");
    await user.keyboard("{Enter}");
    await tabTo(user, "welcome-device-name");
    await user.keyboard("Office laptop");
    await tabTo(user, "welcome-secret");
    await user.keyboard("246810");
    await tabTo(user, "welcome-secret-confirm");
    await user.keyboard("246811{Enter}");
    expect(await screen.findByText("The two entries are not the same.")).toBeTruthy();
    expect(backend.phase).toBe("welcome");
  });

  it("sends a message with Enter and writes a new line with Shift+Enter", async () => {
    const user = userEvent.setup({ delay: null });
    startApp();
    await mainReady();
    await tabTo(user, "composer-input");
    await user.keyboard("first line{Shift>}{Enter}{/Shift}second line");
    expect((document.activeElement as HTMLTextAreaElement).value).toBe("first line\nsecond line");
    await user.keyboard("{Enter}");
    const timeline = screen.getByTestId("timeline");
    await waitFor(() => expect(within(timeline).getByText(/first line\s+second line/)).toBeTruthy());
    expect((document.activeElement as HTMLTextAreaElement).value).toBe("");
    await waitFor(() => {
      const sent = within(timeline).getByText(/first line/).closest("[data-testid=message]");
      expect(sent?.getAttribute("data-status")).not.toBe("pending");
    });
  });

  it("edits the last own message with Up in an empty composer, and leaves with Esc", async () => {
    const user = userEvent.setup({ delay: null });
    startApp();
    await mainReady();
    await tabTo(user, "composer-input");
    await user.keyboard("{ArrowUp}");
    await screen.findByTestId("composer-mode-edit");
    expect((document.activeElement as HTMLTextAreaElement).value).toBe("Yes, on it. You will have it by 15:45.");
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByTestId("composer-mode-edit")).toBeNull());
    expect((document.activeElement as HTMLTextAreaElement).value).toBe("");
  });

  it("opens a room with the quick switcher (Ctrl+K)", async () => {
    const user = userEvent.setup({ delay: null });
    startApp();
    await mainReady();
    await user.keyboard("{Control>}k{/Control}");
    await screen.findByTestId("switcher");
    expect(document.activeElement?.getAttribute("data-testid")).toBe("switcher-input");
    await user.keyboard("cabi{Enter}");
    await waitFor(() => expect(screen.getByTestId("room-title").textContent).toBe("Cabinet"));
    expect(screen.queryByTestId("switcher")).toBeNull();
  });

  it("walks the room list with the arrow keys and opens a room with Enter", async () => {
    const user = userEvent.setup({ delay: null });
    startApp();
    await mainReady();
    const first = screen.getByTestId("room-title").textContent;
    await tabTo(user, "room-item-room-crisis");
    await user.keyboard("{ArrowDown}");
    expect(document.activeElement?.getAttribute("data-testid")).toBe("room-item-room-archive");
    await user.keyboard("{End}{Enter}");
    await waitFor(() => expect(screen.getByTestId("room-title").textContent).not.toBe(first));
    expect(document.activeElement?.getAttribute("aria-current")).toBe("page");
  });

  it("moves between rooms with Alt+Down and Alt+Up", async () => {
    const user = userEvent.setup({ delay: null });
    startApp();
    await mainReady();
    const first = screen.getByTestId("room-title").textContent;
    await user.keyboard("{Alt>}{ArrowDown}{/Alt}");
    await waitFor(() => expect(screen.getByTestId("room-title").textContent).not.toBe(first));
    await user.keyboard("{Alt>}{ArrowUp}{/Alt}");
    await waitFor(() => expect(screen.getByTestId("room-title").textContent).toBe(first));
  });

  it("opens dialogs with their shortcuts and closes them with Esc", async () => {
    const user = userEvent.setup({ delay: null });
    startApp();
    await mainReady();
    const cases: [string, string][] = [
      ["{F1}", "help"],
      ["{Control>}/{/Control}", "help"],
      ["{Control>}f{/Control}", "search"],
      ["{Control>}k{/Control}", "switcher"],
      ["{Control>},{/Control}", "settings"],
    ];
    for (const [keys, id] of cases) {
      await user.keyboard(keys);
      await screen.findByTestId(id);
      await user.keyboard("{Escape}");
      await waitFor(() => expect(screen.queryByTestId(id)).toBeNull());
    }
  });

  it("locks with Ctrl+L, shows nothing of the history, and unlocks with the passcode", async () => {
    const user = userEvent.setup({ delay: null });
    startApp();
    await mainReady();
    await user.keyboard("{Control>}l{/Control}");
    await screen.findByTestId("lock-secret");
    expect(screen.queryByTestId("room-list")).toBeNull();
    expect(screen.queryAllByTestId("message")).toEqual([]);
    expect(document.body.textContent).not.toContain("embassy");
    await waitFor(() => expect(document.activeElement?.getAttribute("data-testid")).toBe("lock-secret"));
    await user.keyboard("wrong{Enter}");
    await screen.findByTestId("lock-error");
    await user.keyboard("246810{Enter}");
    await mainReady();
  });
});
