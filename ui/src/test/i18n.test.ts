// @vitest-environment node
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { catalogues, languages, makeI18n, type Catalogue } from "../i18n";

const SRC = join(__dirname, "..");

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name === "test" || name === "bindings" || name === "dev") continue;
      out.push(...sources(p));
    } else if (/\.(ts|tsx)$/.test(name) && !/\.test\.tsx?$/.test(name)) {
      out.push(p);
    }
  }
  return out;
}

const code = sources(SRC).map((f) => readFileSync(f, "utf8")).join("\n");
const en = catalogues.en;
const keys = Object.keys(en);

function placeholders(v: Catalogue[string]): string[] {
  const texts = typeof v === "string" ? [v] : Object.values(v);
  return [...new Set(texts.flatMap((t) => (t ?? "").match(/\{\w+\}/g) ?? []))].sort();
}

describe("catalogues", () => {
  for (const lang of languages) {
    it(`${lang} has exactly the English keys`, () => {
      const have = Object.keys(catalogues[lang]);
      expect(have.filter((k) => !(k in en)), "extra keys").toEqual([]);
      expect(keys.filter((k) => !(k in catalogues[lang])), "missing keys").toEqual([]);
    });

    it(`${lang} uses the same placeholders and valid plural forms`, () => {
      const rules = new Intl.PluralRules(lang).resolvedOptions().pluralCategories;
      for (const k of keys) {
        const v = catalogues[lang][k];
        expect(placeholders(v), `${lang} ${k}`).toEqual(placeholders(en[k]));
        expect(typeof v, `${lang} ${k} plural or not`).toBe(typeof en[k]);
        if (typeof v !== "string") {
          expect(v.other, `${lang} ${k} has "other"`).toBeTruthy();
          for (const cat of Object.keys(v)) expect(rules, `${lang} ${k}: "${cat}"`).toContain(cat);
          if (rules.includes("one")) expect(v.one, `${lang} ${k} has "one"`).toBeTruthy();
        } else {
          expect(v.trim().length, `${lang} ${k} empty`).toBeGreaterThan(0);
        }
      }
    });
  }

  it("every key is used somewhere in the code", () => {
    // The 64 SAS emoji names are looked up by the English name the engine sends.
    const unused = keys.filter((k) => !k.startsWith("sas.") && !code.includes(`"${k}"`));
    expect(unused).toEqual([]);
  });

  it("every key the code asks for exists", () => {
    const asked = [...code.matchAll(/\bt\(\s*"([^"]+)"/g)].map((m) => m[1]);
    expect(asked.length).toBeGreaterThan(100);
    expect(asked.filter((k) => !(k in en))).toEqual([]);
  });

  it("has the engine's 64 verification emoji names", () => {
    const rust = readFileSync(join(SRC, "..", "..", "crates", "crypto", "src", "sas.rs"), "utf8");
    const names = [...rust.matchAll(/\("[^"]+", "([^"]+)"\)/g)].map((m) => `sas.${m[1].replace(/\s+/g, "")}`);
    expect(names.length).toBe(64);
    expect(names.filter((n) => !(n in en))).toEqual([]);
    expect(keys.filter((k) => k.startsWith("sas.") && !names.includes(k))).toEqual([]);
  });

  it("plurals follow each language's rules", () => {
    expect(makeI18n("en").t("room.members", { count: 1 })).toBe("1 member");
    expect(makeI18n("en").t("room.members", { count: 3 })).toBe("3 members");
    expect(makeI18n("fr").t("room.members", { count: 0 })).toBe("0 membre");
    expect(makeI18n("de").t("room.members", { count: 2 })).toBe("2 Mitglieder");
    expect(makeI18n("nl").t("sidebar.unread", { count: 1 })).toBe("1 ongelezen bericht");
  });
});
