import { useCallback, useEffect, useState } from "react";
import { Button, Label, Radio, RadioGroup, Switch, Tab, TabList, TabPanel, Tabs } from "react-aria-components";
import { call, toUiError } from "../api";
import type { DeviceView } from "../bindings/DeviceView";
import type { Language } from "../bindings/Language";
import type { NotificationMode } from "../bindings/NotificationMode";
import type { Settings } from "../bindings/Settings";
import type { StatusView } from "../bindings/StatusView";
import type { Theme } from "../bindings/Theme";
import type { UiError } from "../bindings/UiError";
import { useApp } from "../App";
import { languageNames, languages, useI18n } from "../i18n";
import { groupFingerprint } from "../lib/format";
import { useMain } from "../screens/MainContext";
import { DeviceList } from "./DeviceList";
import { AppDialog } from "./Dialog";
import { ErrorNote } from "./ErrorNote";
import { PolicyHint } from "./PolicyHint";

const LOCK_CHOICES = [0, 1, 5, 10, 15, 30, 60];

export function SettingsDialog({ onClose, onLock }: { onClose: () => void; onLock: () => void }) {
  const { t } = useI18n();
  return (
    <AppDialog title={t("settings.title")} onClose={onClose} testId="settings" size="large">
      <Tabs className="tabs">
        <TabList aria-label={t("settings.title")} className="tab-list">
          <Tab id="general" className="tab" data-testid="settings-tab-general">
            {t("settings.tab.general")}
          </Tab>
          <Tab id="privacy" className="tab" data-testid="settings-tab-privacy">
            {t("settings.tab.privacy")}
          </Tab>
          <Tab id="devices" className="tab" data-testid="settings-tab-devices">
            {t("settings.tab.devices")}
          </Tab>
          <Tab id="status" className="tab" data-testid="settings-tab-status">
            {t("settings.tab.status")}
          </Tab>
        </TabList>
        <TabPanel id="general" className="tab-panel">
          <GeneralSettings />
        </TabPanel>
        <TabPanel id="privacy" className="tab-panel">
          <PrivacySettings onLock={onLock} />
        </TabPanel>
        <TabPanel id="devices" className="tab-panel">
          <OwnDevices />
        </TabPanel>
        <TabPanel id="status" className="tab-panel">
          <StatusPanel />
        </TabPanel>
      </Tabs>
    </AppDialog>
  );
}

function useSettingsEditor() {
  const { settings, saveSettings, policy } = useApp();
  const [error, setError] = useState<UiError | null>(null);
  const set = (patch: Partial<Settings>) => {
    setError(null);
    saveSettings({ ...settings, ...patch }).catch((e) => setError(toUiError(e)));
  };
  return { settings, set, policy, error };
}

function GeneralSettings() {
  const { t } = useI18n();
  const { settings, set, policy, error } = useSettingsEditor();
  return (
    <div className="stack">
      <RadioGroup
        value={settings.language}
        onChange={(v) => set({ language: v as Language })}
        isDisabled={policy.language}
        className="field"
        orientation="horizontal"
      >
        <Label>{t("settings.language")}</Label>
        <div className="segmented">
          {languages.map((l) => (
            <Radio key={l} value={l} className="segment" data-testid={`settings-language-${l}`}>
              <span lang={l}>{languageNames[l]}</span>
            </Radio>
          ))}
        </div>
        <PolicyHint locked={policy.language} />
      </RadioGroup>
      <RadioGroup value={settings.theme} onChange={(v) => set({ theme: v as Theme })} isDisabled={policy.theme} className="field" orientation="horizontal">
        <Label>{t("settings.theme")}</Label>
        <div className="segmented">
          <Radio value="light" className="segment" data-testid="settings-theme-light">
            {t("settings.theme.light")}
          </Radio>
          <Radio value="dark" className="segment" data-testid="settings-theme-dark">
            {t("settings.theme.dark")}
          </Radio>
          <Radio value="system" className="segment" data-testid="settings-theme-system">
            {t("settings.theme.system")}
          </Radio>
        </div>
        <PolicyHint locked={policy.theme} />
      </RadioGroup>
      <ErrorNote error={error} testId="settings-error" />
    </div>
  );
}

function PrivacySettings({ onLock }: { onLock: () => void }) {
  const { t } = useI18n();
  const { settings, set, policy, error } = useSettingsEditor();
  return (
    <div className="stack">
      <RadioGroup
        value={settings.notifications}
        onChange={(v) => set({ notifications: v as NotificationMode })}
        isDisabled={policy.notifications}
        className="field"
      >
        <Label>{t("settings.notifications")}</Label>
        <Radio value="off" className="choice" data-testid="settings-notifications-off">
          <span className="choice-title">{t("settings.notifications.off")}</span>
        </Radio>
        <Radio value="senderOnly" className="choice" data-testid="settings-notifications-senderOnly">
          <span className="choice-title">{t("settings.notifications.senderOnly")}</span>
          <span className="choice-hint">{t("settings.notifications.senderOnlyHint")}</span>
        </Radio>
        <Radio value="withContent" className="choice" data-testid="settings-notifications-withContent">
          <span className="choice-title">{t("settings.notifications.withContent")}</span>
          <span className="choice-hint">{t("settings.notifications.withContentHint")}</span>
        </Radio>
        <PolicyHint locked={policy.notifications} />
      </RadioGroup>
      <div className="field">
        <Switch isSelected={settings.showPreviews} onChange={(v) => set({ showPreviews: v })} isDisabled={policy.showPreviews} className="switch" data-testid="settings-previews">
          <span className="switch-track" aria-hidden="true">
            <span className="switch-thumb" />
          </span>
          {t("settings.previews")}
        </Switch>
        <PolicyHint locked={policy.showPreviews} />
      </div>
      <div className="field">
        <label htmlFor="settings-lock-after">{t("settings.lockAfter")}</label>
        <select
          id="settings-lock-after"
          className="input select"
          value={settings.lockAfterMinutes}
          disabled={policy.lockAfterMinutes}
          onChange={(e) => set({ lockAfterMinutes: Number(e.target.value) })}
          data-testid="settings-lock-after"
        >
          {[...new Set([...LOCK_CHOICES, settings.lockAfterMinutes])]
            .sort((a, b) => a - b)
            .map((m) => (
              <option key={m} value={m}>
                {m === 0 ? t("settings.lockAfter.never") : t("settings.lockAfter.minutes", { count: m })}
              </option>
            ))}
        </select>
        <PolicyHint locked={policy.lockAfterMinutes} />
      </div>
      <div className="field">
        <Switch isSelected={settings.closeToTray} onChange={(v) => set({ closeToTray: v })} isDisabled={policy.closeToTray} className="switch" data-testid="settings-close-to-tray">
          <span className="switch-track" aria-hidden="true">
            <span className="switch-thumb" />
          </span>
          {t("settings.closeToTray")}
        </Switch>
        <PolicyHint locked={policy.closeToTray} />
      </div>
      <div className="row">
        <Button className="button" onPress={onLock} data-testid="settings-lock-now">
          {t("settings.lockNow")}
        </Button>
      </div>
      <ErrorNote error={error} testId="settings-error" />
    </div>
  );
}

function OwnDevices() {
  const { t } = useI18n();
  const { profile, startVerification } = useMain();
  const [devices, setDevices] = useState<DeviceView[] | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  useEffect(() => {
    call("devices", { user: profile.user }).then(setDevices, (e) => setError(toUiError(e)));
  }, [profile.user]);
  return (
    <div className="stack">
      <p className="muted">{t("devices.ownIntro")}</p>
      {devices ? <DeviceList user={profile.user} devices={devices} onVerify={startVerification} /> : <p className="muted">{t("app.loading")}</p>}
      <ErrorNote error={error} testId="devices-error" />
    </div>
  );
}

function StatusPanel() {
  const { t } = useI18n();
  const [status, setStatus] = useState<StatusView | null>(null);
  const [error, setError] = useState<UiError | null>(null);
  const load = useCallback(() => {
    call("status").then(setStatus, (e) => setError(toUiError(e)));
  }, []);
  useEffect(load, [load]);
  if (!status) return <ErrorNote error={error} testId="status-error" />;
  return (
    <div className="stack" data-testid="status-panel">
      <dl className="facts">
        <dt>{t("status.connection")}</dt>
        <dd>{!status.online ? t("conn.offline") : status.caughtUp ? t("conn.online") : t("conn.syncing")}</dd>
        <dt>{t("status.pending")}</dt>
        <dd>{t("status.pendingCount", { count: status.pendingCount })}</dd>
        <dt>{t("status.org")}</dt>
        <dd>{status.orgName}</dd>
        <dt>{t("welcome.invitation.fingerprint")}</dt>
        <dd>
          <span className="fingerprint">
            {groupFingerprint(status.orgFingerprint).map((g, i) => (
              <span key={i} className="fp-group">
                {g}
              </span>
            ))}
          </span>
        </dd>
        <dt>{t("welcome.invitation.relay")}</dt>
        <dd className="mono">{status.relayUrl}</dd>
        <dt>{t("welcome.invitation.user")}</dt>
        <dd className="mono">{status.user}</dd>
        <dt>{t("status.device")}</dt>
        <dd>
          {status.deviceName} <span className="mono small muted">({status.device})</span>
        </dd>
        <dt>{t("status.version")}</dt>
        <dd className="mono">{status.version}</dd>
      </dl>
      <div className="row">
        <Button className="button" onPress={load} data-testid="status-refresh">
          {t("status.refresh")}
        </Button>
      </div>
    </div>
  );
}
