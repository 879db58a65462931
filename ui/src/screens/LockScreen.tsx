import { useEffect, useState } from "react";
import { Icon } from "../components/Icon";
import { Button, Input, Label, TextField } from "react-aria-components";
import { call, toUiError } from "../api";
import type { UiError } from "../bindings/UiError";
import { useApp } from "../App";
import { ErrorNote } from "../components/ErrorNote";
import { useI18n } from "../i18n";

/** Seconds to wait after too many tries: the first number in the host's `detail`, else 30. */
export function backoffSeconds(e: UiError): number {
  const n = Number.parseInt(/\d+/.exec(e.detail ?? "")?.[0] ?? "", 10);
  return Number.isFinite(n) && n > 0 ? n : 30;
}

export function LockScreen() {
  const { t } = useI18n();
  const { state, refreshState } = useApp();
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [wait, setWait] = useState(0);
  const profile = state.profile;
  const passphrase = profile?.keyMode === "passphrase";

  useEffect(() => {
    if (wait <= 0) return;
    const id = window.setTimeout(() => setWait((w) => w - 1), 1000);
    return () => window.clearTimeout(id);
  }, [wait]);

  const unlock = async () => {
    if (!secret || wait > 0) return;
    setBusy(true);
    setError(null);
    try {
      await call("unlock", { secret });
      setSecret("");
      await refreshState();
    } catch (e) {
      const err = toUiError(e);
      setError(err);
      setSecret("");
      if (err.code === "tooManyTries") setWait(backoffSeconds(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="center-screen lock">
      <section className="card card-narrow" aria-labelledby="lock-title">
        <div className="lock-icon">
          <Icon name="lock" size={40} />
        </div>
        <h1 id="lock-title" className="card-title">
          {t("lock.title")}
        </h1>
        {profile ? (
          <p className="muted center" data-testid="lock-profile">
            {t("lock.who", { name: profile.displayName, org: profile.orgName })}
          </p>
        ) : null}
        <form
          className="stack"
          onSubmit={(e) => {
            e.preventDefault();
            void unlock();
          }}
        >
          <TextField type="password" value={secret} onChange={setSecret} className="field" isDisabled={wait > 0} autoFocus>
            <Label>{passphrase ? t("lock.passphrase") : t("lock.passcode")}</Label>
            <Input className="input" data-testid="lock-secret" autoComplete="current-password" />
          </TextField>
          {wait > 0 ? (
            <p className="note note-warning" role="timer" aria-live="off" data-testid="lock-countdown">
              {t("lock.wait", { count: wait })}
            </p>
          ) : null}
          <Button type="submit" className="button button-primary button-wide" isDisabled={busy || wait > 0 || !secret} data-testid="lock-unlock">
            {t("lock.unlock")}
          </Button>
        </form>
        {error && error.code !== "tooManyTries" ? <ErrorNote error={error} testId="lock-error" /> : null}
      </section>
    </main>
  );
}
