import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { expect } from "vitest";
import type { Phase } from "../bindings/Phase";
import type { MockBackend, MockOptions } from "../dev/mockBackend";
import { mainReady } from "./fixtures";

type User = ReturnType<typeof userEvent.setup>;

export interface ScreenCase {
  name: string;
  phase: Phase;
  open: (user: User, backend: MockBackend) => Promise<void>;
  options?: MockOptions;
}

const openDialog = async (user: User, button: string, dialog: string) => {
  await mainReady();
  await user.click(screen.getByTestId(button));
  await screen.findByTestId(dialog);
};

const settingsTab = (tab: string): ScreenCase => ({
  name: `settings-${tab}`,
  phase: "unlocked",
  open: async (user) => {
    await openDialog(user, "sidebar-settings", "settings");
    await user.click(screen.getByTestId(`settings-tab-${tab}`));
    if (tab === "devices") await screen.findByTestId("device-DEV-7Q4K-LAPTOP");
    if (tab === "status") await screen.findByTestId("status-panel");
  },
});

/** Every screen and dialog, reached the way a person reaches it. */
export const SCREENS: ScreenCase[] = [
  { name: "welcome", phase: "welcome", open: async () => void (await screen.findByTestId("welcome-invitation-text")) },
  {
    name: "welcome-invitation",
    phase: "welcome",
    open: async (user) => {
      await user.type(await screen.findByTestId("welcome-invitation-text"), "belfry:invitation-demo");
      await user.click(screen.getByTestId("welcome-inspect"));
      await screen.findByTestId("welcome-fingerprint");
    },
  },
  {
    name: "welcome-error",
    phase: "welcome",
    open: async (user) => {
      await user.type(await screen.findByTestId("welcome-invitation-text"), "belfry expired");
      await user.click(screen.getByTestId("welcome-inspect"));
      await screen.findByTestId("welcome-error");
    },
  },
  {
    name: "enrolling",
    phase: "welcome",
    options: { delay: 2000 },
    open: async (user) => {
      await user.type(await screen.findByTestId("welcome-invitation-text"), "belfry:invitation-demo");
      await user.click(screen.getByTestId("welcome-inspect"));
      await user.type(await screen.findByTestId("welcome-device-name"), "Office laptop");
      await user.type(screen.getByTestId("welcome-secret"), "246810");
      await user.type(screen.getByTestId("welcome-secret-confirm"), "246810");
      await user.click(screen.getByTestId("welcome-enroll"));
      await screen.findByTestId("enroll-steps");
    },
  },
  { name: "lock", phase: "locked", open: async () => void (await screen.findByTestId("lock-secret")) },
  {
    name: "lock-too-many",
    phase: "locked",
    open: async (user) => {
      await user.type(await screen.findByTestId("lock-secret"), "many{Enter}");
      await screen.findByTestId("lock-countdown");
    },
  },
  { name: "main", phase: "unlocked", open: async () => mainReady() },
  {
    name: "room-details",
    phase: "unlocked",
    open: async (user) => {
      await openDialog(user, "room-details-toggle", "room-details");
      await within(screen.getByTestId("room-details")).findByTestId("details-members");
    },
  },
  {
    name: "message-menu",
    phase: "unlocked",
    open: async (user) => {
      await mainReady();
      await user.click(screen.getAllByTestId("message-actions")[0]);
      await screen.findByTestId("message-action-reply");
    },
  },
  settingsTab("general"),
  settingsTab("privacy"),
  settingsTab("devices"),
  settingsTab("status"),
  { name: "help", phase: "unlocked", open: (user) => openDialog(user, "sidebar-help", "help") },
  {
    name: "search",
    phase: "unlocked",
    open: async (user) => {
      await openDialog(user, "sidebar-search", "search");
      await user.type(screen.getByTestId("search-input"), "embassy");
      await waitFor(() => expect(screen.getAllByTestId("search-option").length).toBeGreaterThan(0));
    },
  },
  { name: "new-direct", phase: "unlocked", open: (user) => openDialog(user, "sidebar-new-direct", "new-direct") },
  { name: "new-group", phase: "unlocked", open: (user) => openDialog(user, "sidebar-new-group", "new-group") },
  {
    name: "verification",
    phase: "unlocked",
    open: async (user, backend) => {
      await mainReady();
      backend.incomingVerification();
      await user.click(await screen.findByTestId("verify-accept"));
      await screen.findByTestId("verify-emojis");
    },
  },
  {
    name: "verification-done",
    phase: "unlocked",
    open: async (user, backend) => {
      await mainReady();
      backend.incomingVerification();
      await user.click(await screen.findByTestId("verify-accept"));
      await user.click(await screen.findByTestId("verify-match"));
      await screen.findByTestId("verify-done");
    },
  },
  { name: "wiped", phase: "wiped", open: async () => void (await screen.findByTestId("wiped-screen")) },
  { name: "revoked", phase: "revoked", open: async () => void (await screen.findByTestId("revoked-screen")) },
];
