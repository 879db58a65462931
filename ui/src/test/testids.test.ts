// @vitest-environment node
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === "test" || n === "dev" || n === "bindings" ? [] : files(p);
    return /\.tsx$/.test(n) ? [p] : [];
  });
}

it("every test id in the code is listed in TESTIDS.md", () => {
  const doc = readFileSync(join(ROOT, "TESTIDS.md"), "utf8");
  const code = files(join(ROOT, "src")).map((f) => readFileSync(f, "utf8")).join("\n");
  const literal = [...code.matchAll(/(?:data-testid|testId)=(?:\{)?"([^"]+)"/g)].map((m) => m[1]);
  const ternary = [...code.matchAll(/data-testid=\{[^}]*?\?\s*"([^"]+)"\s*:\s*"([^"]+)"/g)].flatMap((m) => [m[1], m[2]]);
  const prefixes = [...code.matchAll(/data-testid=\{`([a-z-]+)\$\{/g)].map((m) => m[1]);
  expect(literal.length).toBeGreaterThan(50);
  const missing = [...new Set([...literal, ...ternary])].filter((id) => !doc.includes(`\`${id}\``) && !doc.includes(` ${id},`));
  expect(missing).toEqual([]);
  expect(prefixes.filter((p) => !doc.includes(`\`${p}<`))).toEqual([]);
});
