import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { App } from "../App";
import type { MessageView } from "../bindings/MessageView";
import { createMockBackend } from "../dev/mockBackend";
import { mainReady, NOW, startApp } from "./fixtures";

const setup = () => userEvent.setup({ delay: null });

describe("settings", () => {
  it("switches language and theme at once and saves them", async () => {
    const user = setup();
    const { backend } = startApp();
    await mainReady();
    await user.click(screen.getByTestId("sidebar-settings"));
    await user.click(await screen.findByTestId("settings-language-de"));
    await waitFor(() => expect(screen.getByTestId("sidebar-new-group").textContent).toBe("Neue Gruppe"));
    expect(document.documentElement.lang).toBe("de");
    await user.click(screen.getByTestId("settings-theme-dark"));
    expect(document.documentElement.getAttribute("data-theme")).toBe("dark");
    await user.click(screen.getByTestId("settings-theme-system"));
    expect(document.documentElement.hasAttribute("data-theme")).toBe(false);
    const saved = backend.calls.filter((c) => c.cmd === "set_settings").at(-1)?.args as { settings: { language: string; theme: string } };
    expect(saved.settings).toMatchObject({ language: "de", theme: "system" });
  });

  it("notifications default to the sender only", async () => {
    const user = setup();
    startApp();
    await mainReady();
    await user.click(screen.getByTestId("sidebar-settings"));
    await user.click(await screen.findByTestId("settings-tab-privacy"));
    const senderOnly = within(screen.getByTestId("settings-notifications-senderOnly")).getByRole("radio");
    expect((senderOnly as HTMLInputElement).checked).toBe(true);
  });

  it("renders a setting fixed by the organisation as disabled, and says so", async () => {
    const user = setup();
    const backend = createMockBackend({ delay: 0, liveReplies: false, now: NOW, settings: { language: "en" } });
    backend.install();
    render(<App policy={{ notifications: true }} />);
    await mainReady();
    await user.click(screen.getByTestId("sidebar-settings"));
    await user.click(await screen.findByTestId("settings-tab-privacy"));
    const off = within(screen.getByTestId("settings-notifications-off")).getByRole("radio") as HTMLInputElement;
    expect(off.disabled).toBe(true);
    expect(screen.getByText("Set by your organisation")).toBeTruthy();
    await user.click(screen.getByTestId("settings-notifications-off"));
    expect(backend.calls.some((c) => c.cmd === "set_settings")).toBe(false);
  });

  it("hides message previews in the room list when asked", async () => {
    const user = setup();
    startApp();
    await mainReady();
    const list = screen.getByTestId("room-list");
    expect(list.textContent).toContain("Could you call me");
    await user.click(screen.getByTestId("sidebar-settings"));
    await user.click(await screen.findByTestId("settings-tab-privacy"));
    await user.click(screen.getByTestId("settings-previews"));
    await waitFor(() => expect(list.textContent).not.toContain("Could you call me"));
  });
});

describe("devices and verification", () => {
  it("verifies a contact's device with the seven emoji", async () => {
    const user = setup();
    const { backend } = startApp();
    await mainReady();
    await user.click(screen.getByTestId("room-details-toggle"));
    await user.click(await screen.findByTestId("device-verify-KAT-LAPTOP-01"));
    const emojis = await screen.findByTestId("verify-emojis");
    expect(emojis.querySelectorAll("li").length).toBe(7);
    await user.click(screen.getByTestId("verify-match"));
    await screen.findByTestId("verify-done");
    expect(backend.calls.find((c) => c.cmd === "confirm_verification")?.args).toMatchObject({ matches: true });
    await user.click(screen.getByTestId("verify-finish"));
    await waitFor(() => expect(screen.queryByTestId("verify")).toBeNull());
  });

  it("an incoming request opens as a dialog; declining cancels it", async () => {
    const user = setup();
    const { backend } = startApp();
    await mainReady();
    backend.incomingVerification();
    await user.click(await screen.findByTestId("verify-decline"));
    await waitFor(() => expect(screen.queryByTestId("verify")).toBeNull());
    expect(backend.calls.some((c) => c.cmd === "cancel_verification")).toBe(true);
    expect(screen.queryByTestId("verify-incoming-open")).toBeNull();
  });
});

describe("files", () => {
  it("asks where to save a received file", async () => {
    const user = setup();
    const { backend } = startApp();
    await mainReady();
    await user.click(screen.getByTestId("room-item-room-cabinet"));
    const file = await within(screen.getByTestId("timeline")).findByText("signing-ceremony.jpg");
    const message = file.closest<HTMLElement>("[data-testid=message]")!;
    await user.click(within(message).getByTestId("attachment-save"));
    await waitFor(() => expect(backend.calls.some((c) => c.cmd === "save_attachment")).toBe(true));
    expect(backend.calls.some((c) => c.cmd === "plugin:dialog|save")).toBe(true);
  });

  it("shows an image preview from the engine's scheme once the file is here", async () => {
    const { backend } = startApp();
    await mainReady();
    const user = setup();
    await user.click(screen.getByTestId("room-item-room-cabinet"));
    await within(screen.getByTestId("timeline")).findByText("signing-ceremony.jpg");
    expect(screen.queryByRole("img", { name: "signing-ceremony.jpg" })).toBeNull();
    const page = (await backend.handler("messages_before", { args: { room: "room-cabinet", before: null, limit: 50 } })) as MessageView[];
    const photo = page.find((m) => m.attachment?.isImage)!;
    backend.emit({ type: "message", message: { ...photo, attachment: { ...photo.attachment!, downloaded: true } } });
    const img = await screen.findByRole("img", { name: "signing-ceremony.jpg" });
    expect(img.getAttribute("src")).toBe(`belfry-preview://localhost/${photo.id}`);
  });
});
