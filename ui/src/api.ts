import { Channel, invoke } from "@tauri-apps/api/core";
import type { Commands } from "./bindings/commands";
import type { EnrollArgs } from "./bindings/EnrollArgs";
import type { EnrollStep } from "./bindings/EnrollStep";
import type { ErrorCode } from "./bindings/ErrorCode";
import type { ProfileSummary } from "./bindings/ProfileSummary";
import type { UiError } from "./bindings/UiError";
import type { UiEvent } from "./bindings/UiEvent";

type Cmd = keyof Commands;
type NoArgs = { [K in Cmd]: Commands[K]["args"] extends null ? K : never }[Cmd];
type WithArgs = Exclude<Cmd, NoArgs>;

/** Calls a host command with its one argument struct (`{ args }`), typed by the generated `Commands` map. */
export function call<K extends NoArgs>(cmd: K): Promise<Commands[K]["result"]>;
export function call<K extends WithArgs>(cmd: K, args: Commands[K]["args"]): Promise<Commands[K]["result"]>;
export async function call(cmd: Cmd, args?: unknown): Promise<unknown> {
  try {
    return await invoke(cmd, args === undefined ? undefined : { args });
  } catch (e) {
    throw toUiError(e);
  }
}

/** Standard (padded) base64 of `bytes`, as `send_file_bytes` takes them (a third larger than the bytes through the IPC, where a number array costs about 3.6 characters per byte). */
export function toBase64(bytes: Uint8Array): string {
  let out = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) out += String.fromCharCode(...bytes.subarray(i, i + chunk));
  return btoa(out);
}

const CODES: ReadonlySet<string> = new Set<ErrorCode>([
  "invalidInput", "locked", "wrongSecret", "tooManyTries", "notEnrolled", "alreadyEnrolled",
  "invitationExpired", "invitationRevoked", "invitationOtherOrg", "invitationMalformed",
  "relayUnreachable", "certificateMismatch", "forbidden", "notFound", "tooLarge", "fileExists",
  "offline", "wiped", "revoked", "internal",
]);

/** Normalises whatever a rejected invoke gave into a `UiError` (unknown shapes become "internal"). */
export function toUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && CODES.has(String((e as UiError).code))) {
    const detail = (e as UiError).detail;
    return { code: (e as UiError).code, detail: typeof detail === "string" ? detail : null };
  }
  return { code: "internal", detail: typeof e === "string" ? e : e instanceof Error ? e.message : null };
}

export function isUiError(e: unknown): e is UiError {
  return !!e && typeof e === "object" && "code" in e && CODES.has(String((e as UiError).code));
}

/** Enrolls, reporting each step through a Tauri channel. */
export async function enroll(args: EnrollArgs, onStep: (s: EnrollStep) => void): Promise<ProfileSummary> {
  const onProgress = new Channel<EnrollStep>();
  onProgress.onmessage = onStep;
  try {
    return await invoke<ProfileSummary>("enroll", { args, onProgress });
  } catch (e) {
    throw toUiError(e);
  }
}

/** Subscribes to the one stream of engine events. Returns a function that stops listening. */
export async function subscribe(onEvent: (e: UiEvent) => void): Promise<() => void> {
  const channel = new Channel<UiEvent>();
  let live = true;
  channel.onmessage = (e) => {
    if (live) onEvent(e);
  };
  await invoke("events", { channel });
  return () => {
    live = false;
  };
}

/** The URL of an image preview, decoded and re-encoded by the engine and served from memory. */
export function previewUrl(message: string): string {
  return `belfry-preview://localhost/${encodeURIComponent(message)}`;
}
