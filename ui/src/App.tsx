import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import { call, subscribe } from "./api";
import type { AppState } from "./bindings/AppState";
import type { Settings } from "./bindings/Settings";
import type { UiEvent } from "./bindings/UiEvent";
import { EventBus } from "./events";
import { guessLanguage, I18nProvider, useI18n } from "./i18n";
import { LockScreen } from "./screens/LockScreen";
import { MainScreen } from "./screens/MainScreen";
import { EndScreen } from "./screens/EndScreen";
import { WelcomeScreen } from "./screens/WelcomeScreen";

export const defaultSettings: Settings = {
  language: "en",
  theme: "system",
  notifications: "senderOnly",
  lockAfterMinutes: 10,
  closeToTray: true,
  showPreviews: true,
};

/** Settings an organisation's policy fixes (rendered greyed, "set by your organisation"). */
export type PolicyLocks = Partial<Record<keyof Settings, boolean>>;

export interface AppContextValue {
  state: AppState;
  settings: Settings;
  policy: PolicyLocks;
  saveSettings: (s: Settings) => Promise<void>;
  chooseLanguage: (l: Settings["language"]) => void;
  refreshState: () => Promise<void>;
  bus: EventBus;
}

const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const v = useContext(AppContext);
  if (!v) throw new Error("useApp outside App");
  return v;
}

export function App({ policy = {} }: { policy?: PolicyLocks }) {
  const [state, setState] = useState<AppState | null>(null);
  const [settings, setSettings] = useState<Settings>({ ...defaultSettings, language: guessLanguage() });
  const [bus] = useState(() => new EventBus());

  const refreshState = useCallback(async () => {
    try {
      setState(await call("app_state"));
    } catch {
      setState({ phase: "welcome", profile: null });
    }
  }, []);

  useEffect(() => {
    void refreshState();
  }, [refreshState]);

  // Settings are a plain file in the profile: readable while locked, so the lock screen speaks the
  // person's language.
  const phase = state?.phase;
  useEffect(() => {
    if (!phase) return;
    call("settings").then(setSettings, () => undefined);
  }, [phase]);

  // One event stream for the whole app. If the host refuses it (it may want a profile first),
  // it is asked again at the next phase change; it ends only when the app does.
  const stream = useRef<{ stop: (() => void) | null; asking: boolean }>({ stop: null, asking: false });
  useEffect(() => {
    const st = stream.current;
    if (st.stop || st.asking) return;
    st.asking = true;
    const onEvent = (e: UiEvent) => {
      if (e.type === "locked") setState((s) => (s ? { ...s, phase: "locked" } : s));
      else if (e.type === "wiped") setState((s) => ({ phase: "wiped", profile: s?.profile ?? null }));
      else if (e.type === "revoked") setState((s) => ({ phase: "revoked", profile: s?.profile ?? null }));
      bus.emit(e);
    };
    subscribe(onEvent).then(
      (stop) => {
        st.stop = stop;
        st.asking = false;
      },
      () => {
        st.asking = false;
      },
    );
  }, [bus, phase]);
  useEffect(() => () => stream.current.stop?.(), []);

  useThemeAttribute(settings.theme);
  useEffect(() => {
    document.documentElement.lang = settings.language;
  }, [settings.language]);

  const saveSettings = useCallback(async (s: Settings) => {
    setSettings(s);
    await call("set_settings", { settings: s });
  }, []);
  /** Before enrollment there is no profile to keep settings in: the choice lives in memory. */
  const chooseLanguage = useCallback((language: Settings["language"]) => {
    setSettings((s) => ({ ...s, language }));
    void call("set_settings", { settings: { ...settings, language } }).catch(() => undefined);
  }, [settings]);

  const value = useMemo<AppContextValue | null>(
    () => (state ? { state, settings, policy, saveSettings, chooseLanguage, refreshState, bus } : null),
    [state, settings, policy, saveSettings, chooseLanguage, refreshState, bus],
  );

  return (
    <I18nProvider lang={settings.language}>
      {value ? (
        <AppContext.Provider value={value}>
          <Screen />
        </AppContext.Provider>
      ) : (
        <Loading />
      )}
    </I18nProvider>
  );
}

function Loading() {
  const { t } = useI18n();
  return (
    <main className="center-screen" aria-busy="true">
      <p className="muted">{t("app.loading")}</p>
    </main>
  );
}

function Screen() {
  const { state } = useApp();
  switch (state.phase) {
    case "welcome":
      return <WelcomeScreen />;
    case "locked":
      return <LockScreen />;
    case "unlocked":
      return <MainScreen />;
    case "wiped":
      return <EndScreen kind="wiped" />;
    case "revoked":
      return <EndScreen kind="revoked" />;
  }
}

function useThemeAttribute(theme: Settings["theme"]) {
  useEffect(() => {
    const root = document.documentElement;
    if (theme === "system") root.removeAttribute("data-theme");
    else root.setAttribute("data-theme", theme);
  }, [theme]);
}
