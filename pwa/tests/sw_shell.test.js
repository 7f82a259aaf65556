// The service worker's shell lists every module of the app: one left out would break the
// app offline (a module graph fails as a whole).
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const PWA = fileURLToPath(new URL("..", import.meta.url));

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory()
    ? files(join(dir, entry.name)) : [join(dir, entry.name)]));
}

const shell = (() => {
  const source = readFileSync(join(PWA, "sw.js"), "utf8");
  const list = source.slice(source.indexOf("const SHELL = ["), source.indexOf("];"));
  return new Set([...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]));
})();

test("every module and stylesheet of the app is in the shell", () => {
  const wanted = [...files(join(PWA, "js")), join(PWA, "css", "app.css"), join(PWA, "vendor", "idb.js"),
    join(PWA, "vendor", "chart.umd.js")]
    .filter((f) => /\.(js|css)$/.test(f)).map((f) => `/${relative(PWA, f)}`);
  const missing = wanted.filter((path) => !shell.has(path));
  assert.deepEqual(missing, []);
});

test("everything the shell lists exists (vendor/ is built by make)", () => {
  const present = new Set(files(PWA).map((f) => `/${relative(PWA, f)}`));
  const gone = [...shell].filter((path) => path !== "/" && !path.startsWith("/vendor/")
    && !present.has(path));
  assert.deepEqual(gone, []);
});

test("every module the app imports is a file in the shell", () => {
  for (const file of files(join(PWA, "js"))) {
    const source = readFileSync(file, "utf8");
    for (const [, spec] of source.matchAll(/^import [^;]*?from "(\.[^"]+)"/gms)) {
      const target = `/${relative(PWA, join(file, "..", spec))}`;
      assert.ok(shell.has(target), `${relative(PWA, file)} imports ${spec}, not in the shell`);
    }
  }
});
