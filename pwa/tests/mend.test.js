// A check reopened to be mended (refused by the server for what was typed): what it keeps
// whatever the form says. views/field/check.js's kept(), in Node.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { kept } = await import("../js/views/field/check.js");

const SITE = { lat: 39.9, lon: 116.4, accuracy_m: 8, fixed_at: "2026-12-04T14:10:00Z" };
const OFFICE = { lat: 39.95, lon: 116.3, accuracy_m: 5, fixed_at: "2026-12-05T02:00:00Z" };

test("a mended check keeps the place it was stored with, not the fix at the office", () => {
  assert.deepEqual(kept({ mended: true, location: SITE }, OFFICE).location, SITE);
  assert.equal(kept({ mended: true }, OFFICE).location, null, "none then: none now");
  // A check being taken follows the phone's best fix.
  assert.deepEqual(kept({ location: SITE }, OFFICE).location, OFFICE);
  assert.deepEqual(kept({ location: SITE }, null).location, SITE);
});

test("a saved check keeps its end time through every draft save", () => {
  const ended = "2026-12-04T14:40:00.000Z";
  assert.equal(kept({ mended: true, ended_at: ended }, null).ended_at, ended);
  assert.equal("ended_at" in kept({}, null), false, "a check never saved has none yet");
});
