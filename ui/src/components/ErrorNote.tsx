import type { ErrorCode } from "../bindings/ErrorCode";
import type { UiError } from "../bindings/UiError";
import { useI18n, type MessageKey } from "../i18n";

/** Every error code's sentence, and what the person can do about it. */
export const errorText: Record<ErrorCode, [MessageKey, MessageKey]> = {
  invalidInput: ["error.invalidInput", "error.invalidInput.help"],
  locked: ["error.locked", "error.locked.help"],
  wrongSecret: ["error.wrongSecret", "error.wrongSecret.help"],
  tooManyTries: ["error.tooManyTries", "error.tooManyTries.help"],
  notEnrolled: ["error.notEnrolled", "error.notEnrolled.help"],
  alreadyEnrolled: ["error.alreadyEnrolled", "error.alreadyEnrolled.help"],
  invitationExpired: ["error.invitationExpired", "error.invitationExpired.help"],
  invitationRevoked: ["error.invitationRevoked", "error.invitationRevoked.help"],
  invitationOtherOrg: ["error.invitationOtherOrg", "error.invitationOtherOrg.help"],
  invitationMalformed: ["error.invitationMalformed", "error.invitationMalformed.help"],
  relayUnreachable: ["error.relayUnreachable", "error.relayUnreachable.help"],
  certificateMismatch: ["error.certificateMismatch", "error.certificateMismatch.help"],
  forbidden: ["error.forbidden", "error.forbidden.help"],
  notFound: ["error.notFound", "error.notFound.help"],
  tooLarge: ["error.tooLarge", "error.tooLarge.help"],
  fileExists: ["error.fileExists", "error.fileExists.help"],
  offline: ["error.offline", "error.offline.help"],
  wiped: ["error.wiped", "error.wiped.help"],
  revoked: ["error.revoked", "error.revoked.help"],
  internal: ["error.internal", "error.internal.help"],
};

export function ErrorNote({ error, testId }: { error: UiError | null; testId?: string }) {
  const { t } = useI18n();
  if (!error) return null;
  const [what, help] = errorText[error.code];
  return (
    <div className="note note-error" role="alert" data-testid={testId ?? "error"} data-code={error.code}>
      <p className="note-title">{t(what)}</p>
      <p>{t(help)}</p>
      {error.detail ? <p className="note-detail">{error.detail}</p> : null}
    </div>
  );
}
