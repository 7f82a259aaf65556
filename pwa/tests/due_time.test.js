// A deadline that ends at midnight reads as 24:00 of its last day, never 00:00 of the next
// (which reads a day late); any other deadline reads as any other time.
import assert from "node:assert/strict";
import { test } from "node:test";

process.env.TZ = "Asia/Shanghai";
globalThis.navigator ??= {};
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { setLang } = await import("../js/i18n.js");
const { fmtDue, fmtTime } = await import("../js/ui.js");

test("a deadline at local midnight is the last day's 24:00", () => {
  setLang("zh");
  // 2027-02-02 00:00 in Shanghai: the period ends with 1 February.
  const due = "2027-02-01T16:00:00Z";
  assert.match(fmtDue(due), /2027\/02\/01 24:00/);
  assert.doesNotMatch(fmtDue(due), /02\/02/);
  setLang("en");
  assert.match(fmtDue(due), /01\/02\/2027 24:00/);
  setLang("zh");
});

test("any other deadline reads as its time", () => {
  const due = "2027-02-01T09:30:00Z";
  assert.equal(fmtDue(due), fmtTime(due));
  assert.equal(fmtDue(null), "");
});
