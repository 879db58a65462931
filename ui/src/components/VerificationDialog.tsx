import { useState } from "react";
import { Button } from "react-aria-components";
import { call, toUiError } from "../api";
import type { UiError } from "../bindings/UiError";
import type { VerificationView } from "../bindings/VerificationView";
import { catalogues, useI18n, type MessageKey } from "../i18n";
import { useMain } from "../screens/MainContext";
import { AppDialog } from "./Dialog";
import { ErrorNote } from "./ErrorNote";

/** The emoji comparison: both screens show the same seven symbols, or someone is in between. */
export function VerificationDialog({ view, onClose }: { view: VerificationView; onClose: () => void }) {
  const { t } = useI18n();
  const { nameOf } = useMain();
  const [error, setError] = useState<UiError | null>(null);
  const name = nameOf(view.user);
  // The engine names the emoji in English (the SAS table); each side reads them in its own language.
  const emojiName = (english: string) => {
    const key = `sas.${english.replace(/\s+/g, "")}`;
    return key in catalogues.en ? t(key as MessageKey) : english;
  };
  const act = (p: Promise<unknown>) => p.catch((e) => setError(toUiError(e)));
  const cancel = () => {
    if (view.state !== "done" && view.state !== "cancelled") void act(call("cancel_verification", { flow: view.flow }));
    onClose();
  };

  return (
    <AppDialog title={t("verify.title", { name })} onClose={cancel} testId="verify" role="alertdialog">
      <p className="muted small mono">{t("verify.device", { device: view.device })}</p>
      {view.state === "requested" && !view.weStarted ? (
        <>
          <p>{t("verify.incoming", { name })}</p>
          <div className="row row-end">
            <Button className="button" onPress={cancel} data-testid="verify-decline">
              {t("verify.decline")}
            </Button>
            <Button className="button button-primary" onPress={() => void act(call("accept_verification", { flow: view.flow }))} data-testid="verify-accept" autoFocus>
              {t("verify.accept")}
            </Button>
          </div>
        </>
      ) : view.state === "requested" || view.state === "accepted" ? (
        <>
          <p role="status">{view.state === "requested" ? t("verify.waitingAccept", { name }) : t("verify.waitingKeys")}</p>
          <div className="row row-end">
            <Button className="button" onPress={cancel} data-testid="verify-cancel">
              {t("common.cancel")}
            </Button>
          </div>
        </>
      ) : view.state === "comparing" ? (
        <>
          <p>{t("verify.compare", { name })}</p>
          <ol className="emoji-grid" data-testid="verify-emojis">
            {view.emojis.map((e, i) => (
              <li key={i} className="emoji">
                <span className="emoji-symbol" aria-hidden="true">
                  {e.symbol}
                </span>
                <span className="emoji-name">{emojiName(e.name)}</span>
              </li>
            ))}
          </ol>
          <div className="row row-end">
            <Button className="button button-danger" onPress={() => void act(call("confirm_verification", { flow: view.flow, matches: false }))} data-testid="verify-mismatch">
              {t("verify.mismatch")}
            </Button>
            <Button className="button button-primary" onPress={() => void act(call("confirm_verification", { flow: view.flow, matches: true }))} data-testid="verify-match">
              {t("verify.match")}
            </Button>
          </div>
        </>
      ) : view.state === "done" ? (
        <>
          <p className="note note-success" role="status" data-testid="verify-done">
            {t("verify.done", { name })}
          </p>
          <div className="row row-end">
            <Button className="button button-primary" onPress={onClose} data-testid="verify-finish" autoFocus>
              {t("common.close")}
            </Button>
          </div>
        </>
      ) : (
        <>
          <p className="note note-error" role="alert" data-testid="verify-cancelled">
            {t("verify.cancelled")}
          </p>
          {view.cancelReason ? <p className="note-detail">{view.cancelReason}</p> : null}
          <div className="row row-end">
            <Button className="button" onPress={onClose} data-testid="verify-finish" autoFocus>
              {t("common.close")}
            </Button>
          </div>
        </>
      )}
      <ErrorNote error={error} testId="verify-error" />
    </AppDialog>
  );
}
