// A refusal the app has words for is shown in the user's language; any other keeps the
// server's detail (never a raw code).
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { setLang } = await import("../js/i18n.js");
const { errorText } = await import("../js/ui.js");

const refusal = (code, detail) => ({ kind: "problem", problem: { code, detail } });

test("a known code is said in Chinese, and in English when chosen", () => {
  setLang("zh");
  const closed = refusal("case.closed", "This case is closed; changes cannot be added.");
  assert.match(errorText(closed), /已办结封存/);
  assert.match(errorText(refusal("admin.district_only", "x")), /区级管理员/);
  setLang("en");
  assert.match(errorText(closed), /reopen it/);
  setLang("zh");
});

test("an unknown code keeps the server's words, not its code", () => {
  const other = refusal("case.something_new", "Something new went wrong.");
  assert.equal(errorText(other), "Something new went wrong.");
});
