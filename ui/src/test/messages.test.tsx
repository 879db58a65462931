import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { mainReady, startApp } from "./fixtures";

const setup = () => userEvent.setup({ delay: null });

function messageWith(text: RegExp): HTMLElement {
  const el = within(screen.getByTestId("timeline")).getByText(text, { selector: ".msg-body, .attachment-name" }).closest<HTMLElement>("[data-testid=message]");
  if (!el) throw new Error(`no message with ${text}`);
  return el;
}

async function chooseAction(user: ReturnType<typeof setup>, message: HTMLElement, action: string) {
  await user.click(within(message).getByTestId("message-actions"));
  await user.click(await screen.findByTestId(action));
}

describe("messages", () => {
  it("replies with a quote that jumps to the original", async () => {
    const user = setup();
    const { backend } = startApp();
    await mainReady();
    await chooseAction(user, messageWith(/Short and factual/), "message-action-reply");
    expect(screen.getByTestId("composer-mode-reply").textContent).toContain("Jan de Vries");
    await user.keyboard("Will do.{Enter}");
    await waitFor(() => expect(messageWith(/Will do\./)).toBeTruthy());
    const send = backend.calls.find((c) => c.cmd === "send_text");
    expect(send?.args).toMatchObject({ body: "Will do.", replyTo: expect.any(String) });
    const quote = within(messageWith(/Will do\./)).getByTestId("message-quote");
    expect(quote.textContent).toContain("Short and factual");
    await user.click(quote);
    await waitFor(() => expect(messageWith(/^Short and factual/).className).toContain("msg-highlight"));
  });

  it("edits and deletes one's own message", async () => {
    const user = setup();
    startApp();
    await mainReady();
    await chooseAction(user, messageWith(/Yes, on it/), "message-action-edit");
    const input = screen.getByTestId("composer-input") as HTMLTextAreaElement;
    expect(input.value).toBe("Yes, on it. You will have it by 15:45.");
    await user.clear(input);
    await user.keyboard("Yes, on it. By 15:30.{Enter}");
    await waitFor(() => expect(within(messageWith(/By 15:30/)).getByText("(edited)")).toBeTruthy());
    await chooseAction(user, messageWith(/By 15:30/), "message-action-delete");
    await user.click(await screen.findByTestId("delete-confirm"));
    await waitFor(() => expect(within(screen.getByTestId("timeline")).queryByText(/By 15:30/)).toBeNull());
  });

  it("reacts and shows who reacted", async () => {
    const user = setup();
    startApp();
    await mainReady();
    await chooseAction(user, messageWith(/Short and factual/), "message-react-👍");
    const reaction = await waitFor(() => within(messageWith(/Short and factual/)).getByTestId("message-reaction"));
    expect(reaction.getAttribute("aria-pressed")).toBe("true");
    expect(reaction.getAttribute("aria-label")).toContain("Claire Dubois");
  });

  it("retries a failed message", async () => {
    const user = setup();
    startApp();
    await mainReady();
    await user.click(screen.getByTestId("room-item-room-dm-jan"));
    const failed = await waitFor(() => messageWith(/comments on the note/));
    expect(within(failed).getByTestId("message-status").textContent).toContain("Not sent");
    await user.click(within(failed).getByTestId("message-retry"));
    await waitFor(() => expect(messageWith(/comments on the note/).getAttribute("data-status")).not.toBe("failed"));
  });

  it("refuses a file over the relay's limit before sending anything", async () => {
    const user = setup();
    const { backend } = startApp({ maxFileSize: 1000 });
    await mainReady();
    const big = new File([new Uint8Array(5000)], "report.pdf", { type: "application/pdf" });
    await user.upload(screen.getByTestId("composer-file-input"), big);
    const refused = await screen.findByTestId("composer-refused");
    expect(refused.textContent).toContain("report.pdf");
    expect(backend.calls.some((c) => c.cmd === "send_file_bytes")).toBe(false);
    const small = new File([new Uint8Array(10)], "note.txt", { type: "text/plain" });
    await user.upload(screen.getByTestId("composer-file-input"), small);
    await waitFor(() => expect(backend.calls.some((c) => c.cmd === "send_file_bytes")).toBe(true));
    await waitFor(() => expect(within(screen.getByTestId("timeline")).getByText("note.txt")).toBeTruthy());
  });

  it("attaching asks the host, which shows the open dialog: no path goes from the page", async () => {
    const user = setup();
    const { backend } = startApp();
    await mainReady();
    await user.click(screen.getByTestId("composer-attach"));
    await waitFor(() => expect(backend.calls.some((c) => c.cmd === "send_file")).toBe(true));
    expect(backend.calls.find((c) => c.cmd === "send_file")?.args).toEqual({ room: expect.any(String) });
    expect(backend.calls.some((c) => c.cmd.startsWith("plugin:"))).toBe(false);
    await waitFor(() => expect(within(screen.getByTestId("timeline")).getByText("briefing-note.pdf")).toBeTruthy());
  });

  it("shows delivery states with words, not only icons", async () => {
    startApp();
    await mainReady();
    const states = within(screen.getByTestId("timeline")).getAllByTestId("message-status").map((s) => s.textContent);
    expect(states.some((s) => s?.includes("Delivered"))).toBe(true);
    expect(states.some((s) => s?.includes("Sent"))).toBe(true);
  });

  it("a notification click (openRoom) opens its room", async () => {
    const { backend } = startApp();
    await mainReady();
    backend.emit({ type: "openRoom", room: "room-cabinet" });
    await waitFor(() => expect(screen.getByTestId("room-title").textContent).toBe("Cabinet"));
  });

  it("an invitation link handed over by the host is inspected", async () => {
    const { backend } = startApp({ phase: "welcome" });
    await screen.findByTestId("welcome-invitation-text");
    await backend.openLink("belfry://invite/abc");
    expect(await screen.findByTestId("welcome-fingerprint")).toBeTruthy();
  });
});

describe("drag and drop", () => {
  it("a file dropped anywhere on the room is sent (and refused when too large)", async () => {
    const { backend } = startApp({ maxFileSize: 1000 });
    await mainReady();
    const room = screen.getByTestId("timeline").closest("section")!;
    const drop = (file: File) =>
      fireEvent.drop(room, { dataTransfer: { files: [file], types: ["Files"], getData: () => "" } });
    drop(new File([new Uint8Array(5000)], "too-big.zip"));
    expect((await screen.findByTestId("composer-refused")).textContent).toContain("too-big.zip");
    drop(new File([new Uint8Array(10)], "minutes.txt"));
    await waitFor(() => expect(backend.calls.find((c) => c.cmd === "send_file_bytes")?.args).toMatchObject({ name: "minutes.txt", bytes: "AAAAAAAAAAAAAA==" }));
  });

  it("a running transfer can be cancelled; its progress goes when the host says it was", async () => {
    const user = setup();
    const { backend } = startApp();
    await mainReady();
    const room = screen.getByTestId("timeline").closest("section")!;
    fireEvent.drop(room, { dataTransfer: { files: [new File([new Uint8Array(10)], "agenda.txt")], types: ["Files"], getData: () => "" } });
    await waitFor(() => expect(within(screen.getByTestId("timeline")).getByText("agenda.txt")).toBeTruthy());
    const id = messageWith(/agenda\.txt/).dataset.messageId!;
    act(() => backend.emit({ type: "transfer", message: id, direction: "up", done: 5, total: 10, cancelled: false }));
    await user.click(await within(messageWith(/agenda\.txt/)).findByTestId("attachment-cancel"));
    await waitFor(() => expect(backend.calls.find((c) => c.cmd === "cancel_transfer")?.args).toEqual({ message: id }));
    act(() => backend.emit({ type: "transfer", message: id, direction: "up", done: 5, total: 10, cancelled: true }));
    await waitFor(() => expect(within(messageWith(/agenda\.txt/)).queryByTestId("attachment-cancel")).toBeNull());
  });
});

describe("room details", () => {
  it("an admin renames a group through rename_room", async () => {
    const user = setup();
    const { backend } = startApp();
    await mainReady();
    await user.click(screen.getByTestId("room-details-toggle"));
    const field = await within(await screen.findByTestId("room-details")).findByTestId("details-name");
    await user.clear(field);
    await user.type(field, "Crisis desk{Enter}");
    await waitFor(() => expect(backend.calls.find((c) => c.cmd === "rename_room")?.args).toMatchObject({ name: "Crisis desk" }));
  });
});

describe("read state", () => {
  it("a line marks where the unread messages begin", async () => {
    const user = userEvent.setup({ delay: null });
    startApp();
    await mainReady();
    await user.click(screen.getByTestId("room-item-room-dm-jan"));
    const line = await screen.findByTestId("timeline-unread");
    const next = line.closest("li")?.querySelector("[data-testid=message]");
    expect(next?.textContent).toContain("Could you call me");
  });

  it("opening a room at its newest message marks it read and clears its badge", async () => {
    const { backend } = startApp();
    await mainReady();
    await waitFor(() => expect(backend.calls.some((c) => c.cmd === "mark_read")).toBe(true));
    await waitFor(() => expect(screen.queryByTestId("room-unread-room-crisis")).toBeNull());
  });
});
