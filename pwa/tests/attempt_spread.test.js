// The phone's rule for "unreachable" is the server's (GET /api/vocab attempt_rules): three
// failed calls spread out (two hours apart, not all in one half-day in Shanghai), one
// wrong number, and never for a refusal, which is its own outcome.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const store = new Map();
globalThis.localStorage ??= { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v),
  removeItem: (k) => store.delete(k) };
globalThis.document ??= { documentElement: {} };

const { spreadOf, unreachableAllowed } = await import("../js/views/revisit/revisit.js");

const call = (iso, outcome = "no_answer") => ({ at: iso, outcome });

test("three calls in a minute count once", () => {
  const burst = [call("2026-11-27T10:00:00Z"), call("2026-11-27T10:00:20Z"), call("2026-11-27T10:00:40Z")];
  assert.deepEqual(spreadOf(burst), { counted: 1, halves: 1 });
  assert.equal(unreachableAllowed(burst), false);
});

test("two hours apart but one evening is still one half-day", () => {
  // 14:00, 16:00, 18:00 in Shanghai.
  const evening = [call("2026-11-27T06:00:00Z"), call("2026-11-27T08:00:00Z"), call("2026-11-27T10:00:00Z")];
  assert.equal(unreachableAllowed(evening), false);
  // 10:00, 13:00, 18:00 in Shanghai: morning and afternoon.
  const spread = [call("2026-11-27T02:00:00Z"), call("2026-11-27T05:00:00Z"), call("2026-11-27T10:00:00Z")];
  assert.equal(unreachableAllowed(spread), true);
  assert.equal(unreachableAllowed(spread, { min_attempts: 3, gap_min: 240, timezone: "Asia/Shanghai",
    final: ["wrong_number"] }), false);
});

test("a wrong number ends it at once; a refusal is not unreachable", () => {
  assert.equal(unreachableAllowed([call("2026-11-27T02:00:00Z", "wrong_number")]), true);
  assert.equal(unreachableAllowed([call("2026-11-27T02:00:00Z", "refused")]), false);
});
