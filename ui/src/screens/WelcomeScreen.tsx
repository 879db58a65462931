import { useEffect, useRef, useState, type DragEvent } from "react";
import { Button, FieldError, Input, Label, Radio, RadioGroup, Text, TextArea, TextField } from "react-aria-components";
import { call, enroll, toUiError } from "../api";
import type { EnrollStep } from "../bindings/EnrollStep";
import type { InvitationInfo } from "../bindings/InvitationInfo";
import type { KeyMode } from "../bindings/KeyMode";
import type { UiError } from "../bindings/UiError";
import { useApp } from "../App";
import { ErrorNote } from "../components/ErrorNote";
import { languageNames, languages, useI18n, type MessageKey } from "../i18n";
import type { Language } from "../bindings/Language";
import { groupFingerprint, passphraseStrength } from "../lib/format";
import logo from "../../../icons/icon.svg";

const STEPS: EnrollStep[] = ["checking", "connecting", "registering", "storingKeys", "done"];
const stepText: Record<EnrollStep, MessageKey> = {
  checking: "enroll.step.checking",
  connecting: "enroll.step.connecting",
  registering: "enroll.step.registering",
  storingKeys: "enroll.step.storingKeys",
  done: "enroll.step.done",
};
const strengthText = {
  weak: "welcome.strength.weak",
  fair: "welcome.strength.fair",
  strong: "welcome.strength.strong",
} as const;

export const MIN_PASSCODE = 6;
export const MIN_PASSPHRASE = 12;


export function WelcomeScreen() {
  const { t, dateTime } = useI18n();
  const { refreshState, settings, chooseLanguage, bus } = useApp();
  const [text, setText] = useState("");
  const [info, setInfo] = useState<InvitationInfo | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);
  const [deviceName, setDeviceName] = useState("");
  const [keyMode, setKeyMode] = useState<KeyMode>("keychain");
  const [secret, setSecret] = useState("");
  const [confirm, setConfirm] = useState("");
  const [submitted, setSubmitted] = useState(false);
  const [step, setStep] = useState<EnrollStep | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  const inspect = async (value: string) => {
    const trimmed = value.trim();
    if (!trimmed) return;
    setText(trimmed);
    setBusy(true);
    setError(null);
    try {
      setInfo(await call("inspect_invitation", { text: trimmed }));
    } catch (e) {
      setError(toUiError(e));
    } finally {
      setBusy(false);
    }
  };

  // A belfry:// invitation link handed over by the host (deep link or a second launch).
  const inspectRef = useRef(inspect);
  inspectRef.current = inspect;
  useEffect(
    () =>
      bus.on((e) => {
        if (e.type === "invitation") void inspectRef.current(e.text);
      }),
    [bus],
  );

  const readFile = async (file: File | undefined) => {
    if (!file) return;
    if (file.size > 64 * 1024) {
      setError({ code: "invitationMalformed", detail: null });
      return;
    }
    await inspect(await file.text());
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const file = e.dataTransfer.files[0];
    if (file) void readFile(file);
    else {
      const dropped = e.dataTransfer.getData("text/plain");
      if (dropped) void inspect(dropped);
    }
  };

  const min = keyMode === "keychain" ? MIN_PASSCODE : MIN_PASSPHRASE;
  const tooShort = secret.length < min;
  const mismatch = secret !== confirm;
  const nameMissing = deviceName.trim() === "";

  const start = async () => {
    setSubmitted(true);
    if (!info || tooShort || mismatch || nameMissing) return;
    setError(null);
    setStep("checking");
    try {
      await enroll({ text, deviceName: deviceName.trim(), keyMode, secret }, setStep);
      setStep("done");
      setSecret("");
      setConfirm("");
      await refreshState();
    } catch (e) {
      setStep(null);
      setError(toUiError(e));
    }
  };

  if (step) {
    const current = STEPS.indexOf(step);
    return (
      <main className="center-screen">
        <section className="card card-narrow" aria-labelledby="enroll-title">
          <h1 id="enroll-title" className="card-title">
            {t("enroll.title")}
          </h1>
          <ol className="steps" data-testid="enroll-steps" aria-live="polite">
            {STEPS.map((s, i) => {
              const state = i < current || step === "done" ? "done" : i === current ? "current" : "todo";
              return (
                <li key={s} className={`step step-${state}`} aria-current={state === "current" ? "step" : undefined}>
                  <span className="step-mark" aria-hidden="true">
                    {state === "done" ? "✓" : i + 1}
                  </span>
                  <span>{t(stepText[s])}</span>
                  <span className="visually-hidden">
                    {state === "done" ? t("enroll.state.done") : state === "current" ? t("enroll.state.current") : t("enroll.state.todo")}
                  </span>
                </li>
              );
            })}
          </ol>
        </section>
      </main>
    );
  }

  return (
    <main className="center-screen welcome">
      <section className="card" aria-labelledby="welcome-title">
        <div className="card-top">
          <div className="brand">
            <img src={logo} alt="" className="brand-logo" width={48} height={48} />
          </div>
          <div className="lang-pick">
            <label htmlFor="welcome-language" className="visually-hidden">
              {t("settings.language")}
            </label>
            <select
              id="welcome-language"
              className="input select"
              value={settings.language}
              onChange={(e) => chooseLanguage(e.target.value as Language)}
              data-testid="welcome-language"
            >
              {languages.map((l) => (
                <option key={l} value={l} lang={l}>
                  {languageNames[l]}
                </option>
              ))}
            </select>
          </div>
        </div>
        <h1 id="welcome-title" className="card-title">
          {t("welcome.title")}
        </h1>
        <p className="lead">{t("welcome.intro")}</p>

        {!info ? (
          <div
            className={`dropzone${dragging ? " dropzone-active" : ""}`}
            data-testid="welcome-dropzone"
            onDragOver={(e) => {
              e.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={onDrop}
          >
            <TextField value={text} onChange={setText} className="field">
              <Label>{t("welcome.paste.label")}</Label>
              <TextArea rows={4} className="input mono" data-testid="welcome-invitation-text" spellCheck={false} />
              <Text slot="description" className="field-hint">
                {t("welcome.paste.hint")}
              </Text>
            </TextField>
            <div className="row">
              <Button className="button button-primary" onPress={() => void inspect(text)} isDisabled={busy || !text.trim()} data-testid="welcome-inspect">
                {busy ? t("welcome.checking") : t("welcome.continue")}
              </Button>
              <Button className="button" onPress={() => fileInput.current?.click()} data-testid="welcome-open-file">
                {t("welcome.openFile")}
              </Button>
              <input
                ref={fileInput}
                type="file"
                accept=".belfry-invite,.txt,text/plain"
                className="visually-hidden"
                tabIndex={-1}
                aria-hidden="true"
                data-testid="welcome-file-input"
                onChange={(e) => void readFile(e.target.files?.[0])}
              />
            </div>
            <p className="muted small">{t("welcome.dropHint")}</p>
          </div>
        ) : (
          <form
            className="stack"
            onSubmit={(e) => {
              e.preventDefault();
              void start();
            }}
          >
            <section className="invitation" aria-labelledby="inv-title" data-testid="welcome-invitation">
              <h2 id="inv-title" className="section-title">
                {t("welcome.invitation.title")}
              </h2>
              <dl className="facts">
                {info.orgName ? (
                  <>
                    <dt>{t("welcome.invitation.org")}</dt>
                    <dd data-testid="welcome-org">{info.orgName}</dd>
                  </>
                ) : null}
                <dt>{t("welcome.invitation.fingerprint")}</dt>
                <dd>
                  <span className="fingerprint" data-testid="welcome-fingerprint">
                    {groupFingerprint(info.orgFingerprint).map((g, i) => (
                      <span key={i} className="fp-group">
                        {g}
                      </span>
                    ))}
                  </span>
                  <span className="field-hint">{t("welcome.invitation.fingerprintHint")}</span>
                </dd>
                <dt>{t("welcome.invitation.relay")}</dt>
                <dd className="mono">{info.relayUrl}</dd>
                <dt>{t("welcome.invitation.user")}</dt>
                <dd className="mono">{info.user}</dd>
                <dt>{t("welcome.invitation.expires")}</dt>
                <dd>{dateTime(info.expiresAt)}</dd>
              </dl>
            </section>

            <TextField
              value={deviceName}
              onChange={setDeviceName}
              className="field"
              isRequired
              isInvalid={submitted && nameMissing}
              validationBehavior="aria"
            >
              <Label>{t("welcome.deviceName.label")}</Label>
              <Input className="input" data-testid="welcome-device-name" autoComplete="off" />
              <Text slot="description" className="field-hint">
                {t("welcome.deviceName.hint")}
              </Text>
              <FieldError className="field-error">{t("welcome.deviceName.missing")}</FieldError>
            </TextField>

            <RadioGroup
              value={keyMode}
              onChange={(v) => {
                setKeyMode(v as KeyMode);
                setSubmitted(false);
              }}
              className="field"
            >
              <Label>{t("welcome.keyMode.label")}</Label>
              <Radio value="keychain" className="choice" data-testid="welcome-keymode-keychain">
                <span className="choice-title">{t("welcome.keyMode.keychain")}</span>
                <span className="choice-hint">{t("welcome.keyMode.keychainHint")}</span>
              </Radio>
              <Radio value="passphrase" className="choice" data-testid="welcome-keymode-passphrase">
                <span className="choice-title">{t("welcome.keyMode.passphrase")}</span>
                <span className="choice-hint">{t("welcome.keyMode.passphraseHint")}</span>
              </Radio>
            </RadioGroup>

            <div className="two-cols">
              <TextField
                type="password"
                value={secret}
                onChange={setSecret}
                className="field"
                isRequired
                isInvalid={submitted && tooShort}
                validationBehavior="aria"
              >
                <Label>{keyMode === "keychain" ? t("welcome.passcode.label") : t("welcome.passphrase.label")}</Label>
                <Input className="input" data-testid="welcome-secret" autoComplete="new-password" />
                <Text slot="description" className="field-hint">
                  {keyMode === "keychain"
                    ? t("welcome.passcode.hint", { count: MIN_PASSCODE })
                    : secret
                      ? t(strengthText[passphraseStrength(secret)])
                      : t("welcome.passphrase.hint", { count: MIN_PASSPHRASE })}
                </Text>
                <FieldError className="field-error">{t("welcome.secret.tooShort", { count: min })}</FieldError>
              </TextField>
              <TextField
                type="password"
                value={confirm}
                onChange={setConfirm}
                className="field"
                isRequired
                isInvalid={submitted && mismatch}
                validationBehavior="aria"
              >
                <Label>{t("welcome.confirm.label")}</Label>
                <Input className="input" data-testid="welcome-secret-confirm" autoComplete="new-password" />
                <FieldError className="field-error">{t("welcome.confirm.mismatch")}</FieldError>
              </TextField>
            </div>

            <div className="row row-end">
              <Button
                className="button"
                onPress={() => {
                  setInfo(null);
                  setError(null);
                }}
                data-testid="welcome-back"
              >
                {t("common.back")}
              </Button>
              <Button type="submit" className="button button-primary" data-testid="welcome-enroll">
                {t("welcome.enroll")}
              </Button>
            </div>
          </form>
        )}
        <ErrorNote error={error} testId="welcome-error" />
      </section>
    </main>
  );
}
