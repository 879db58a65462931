import { createContext, useContext, useMemo, type ReactNode } from "react";
import type { Language } from "../bindings/Language";
import de from "./de.json";
import en from "./en.json";
import fr from "./fr.json";
import nl from "./nl.json";

export type Plural = Partial<Record<Intl.LDMLPluralRule, string>> & { other: string };
export type Catalogue = Record<string, string | Plural>;
export type MessageKey = keyof typeof en;
export type Vars = Record<string, string | number>;

export const catalogues: Record<Language, Catalogue> = { en, fr, nl, de };
export const languages: readonly Language[] = ["en", "fr", "nl", "de"];
/** Each language's name in itself (never translated). */
export const languageNames: Record<Language, string> = {
  en: "English",
  fr: "Français",
  nl: "Nederlands",
  de: "Deutsch",
};

/** Where a key missing from a catalogue is reported (the tests listen; the app falls back to English). */
export const missing = {
  report: (_lang: Language, _key: string): void => undefined,
};

export type Translate = (key: MessageKey, vars?: Vars) => string;

export interface I18n {
  lang: Language;
  t: Translate;
  time: (ms: number) => string;
  dateTime: (ms: number) => string;
  day: (ms: number) => string;
  bytes: (n: number) => string;
  number: (n: number) => string;
  /** Today: the time; this week: the weekday; else a short date. */
  shortWhen: (ms: number) => string;
}

/** Builds the translator for one language: plurals through the platform's Intl.PluralRules. */
export function makeI18n(lang: Language): I18n {
  const cat = catalogues[lang];
  const rules = new Intl.PluralRules(lang);
  const t: Translate = (key, vars) => {
    if (cat[key] === undefined) missing.report(lang, key);
    const entry = cat[key] ?? (en as Catalogue)[key];
    let text: string;
    if (entry === undefined) {
      text = key;
    } else if (typeof entry === "string") {
      text = entry;
    } else {
      const n = Number(vars?.count ?? 0);
      text = entry[rules.select(n)] ?? entry.other;
    }
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, (m, name: string) => {
      const v = vars[name];
      if (v === undefined) return m;
      return typeof v === "number" ? nf.format(v) : v;
    });
  };
  const nf = new Intl.NumberFormat(lang);
  const tf = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
  const dtf = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  const df = new Intl.DateTimeFormat(lang, { weekday: "long", day: "numeric", month: "long", year: "numeric" });
  const wf = new Intl.DateTimeFormat(lang, { weekday: "short" });
  const sf = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short" });
  const shortWhen = (ms: number) => {
    const d = new Date(ms);
    const now = new Date();
    if (d.toDateString() === now.toDateString()) return tf.format(ms);
    if (now.getTime() - ms < 6 * 86_400_000 && now.getTime() >= ms) return wf.format(ms);
    return sf.format(ms);
  };
  const units = ["B", "kB", "MB", "GB"];
  const bytes = (n: number) => {
    let i = 0;
    let v = n;
    while (v >= 1000 && i < units.length - 1) {
      v /= 1000;
      i++;
    }
    return `${new Intl.NumberFormat(lang, { maximumFractionDigits: i === 0 ? 0 : 1 }).format(v)} ${units[i]}`;
  };
  return {
    lang,
    t,
    time: (ms) => tf.format(ms),
    dateTime: (ms) => dtf.format(ms),
    day: (ms) => df.format(ms),
    bytes,
    number: (n) => nf.format(n),
    shortWhen,
  };
}

const I18nContext = createContext<I18n>(makeI18n("en"));

export function I18nProvider({ lang, children }: { lang: Language; children: ReactNode }) {
  const value = useMemo(() => makeI18n(lang), [lang]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function useI18n(): I18n {
  return useContext(I18nContext);
}

/** The browser's preferred language if we have it, else English (before settings are readable). */
export function guessLanguage(): Language {
  const nav = typeof navigator !== "undefined" ? navigator.language.slice(0, 2) : "en";
  return (languages as readonly string[]).includes(nav) ? (nav as Language) : "en";
}
