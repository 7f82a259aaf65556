// A refusal is shown in the user's language: the app's own words for a code, else the
// words the server sends in both languages; a 429 says when to try again.
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

const { ApiError, localized, readAnswer, retryMoment } = await import("../js/api.js");

// A response as fetch gives it, for readAnswer.
function answer(status, body, headers = {}) {
  const all = { "Content-Type": "application/problem+json", ...headers };
  return { status, ok: status < 400, headers: { get: (name) => all[name] ?? null },
    json: async () => body };
}

test("a refusal without the app's own words is said in the user's language", () => {
  const noise = { kind: "client", status: 422, problem: { code: "case.bad_params",
    detail: "The extend action's parameters are not right.",
    messages: { zh: "操作的填写内容有误，请按提示修改。", en: "The action's fields are not right." } } };
  setLang("zh");
  assert.equal(errorText(noise), "操作的填写内容有误，请按提示修改。");
  setLang("en");
  assert.equal(errorText(noise), "The action's fields are not right.");
  setLang("zh");
});

test("a 429 says when to try again, not that the server is down", async () => {
  const at = new Date(Date.now() + 90 * 1000);
  let error;
  try {
    await readAnswer(answer(429, { code: "auth.locked", status: 429,
      messages: { zh: "该账号密码错误次数过多", en: "Too many wrong passwords" } }, { "Retry-After": "90" }));
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof ApiError);
  assert.ok(Math.abs(error.retryAt - at) < 5000);
  setLang("zh");
  const hhmm = error.retryAt.toLocaleTimeString("zh-CN", { hour: "2-digit", minute: "2-digit", hour12: false });
  assert.equal(errorText(error), `尝试次数过多，请于 ${hhmm} 后再试`);
  assert.doesNotMatch(errorText(error), /服务器暂不可用/);
  setLang("en");
  assert.match(errorText(error), /^Too many attempts; try again at \d\d:\d\d$/);
  setLang("zh");
  // Without Retry-After (a proxy's 429): still a limit, not an outage.
  assert.equal(errorText(new ApiError("server", 429, null)), "尝试次数过多，请稍后再试");
});

test("Retry-After as seconds or as a date", () => {
  assert.equal(retryMoment("60", 1000).getTime(), 61000);
  assert.equal(retryMoment("Wed, 21 Oct 2026 07:28:00 GMT").toISOString(), "2026-10-21T07:28:00.000Z");
  assert.equal(retryMoment(null), null);
});

test("the per-field messages come in Chinese in the Chinese UI", () => {
  const problem = { code: "request.invalid", errors: { days: ["Must be greater than or equal to 1."] },
    errors_zh: { days: ["应不小于 1。"] } };
  assert.deepEqual(localized(problem, "zh").errors, { days: ["应不小于 1。"] });
  assert.deepEqual(localized(problem, "en").errors, problem.errors);
});
