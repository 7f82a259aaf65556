// The case's clock on the timeline (issue 19): an action done offline shows when the phone
// did it beside when the server got it, and whether that was on time; a reminder raised
// late says so. Never the raw field names.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const memory = new Map([["fieldcase.lang", "en"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { eventRow } = await import("../js/actions.js");
const { setLang } = await import("../js/i18n.js");

const SUBMITTED = {
  kind: "submitted", at: "2026-12-05T00:00:05Z", seq: 4, actor: { name: "检查员" },
  data: { action: "submit", from: "in_progress", verdict: "true", result: "已整改",
    device_time: "2026-12-04T15:50:00Z", done_at: "2026-12-04T15:50:00Z",
    received_at: "2026-12-05T00:00:05Z", on_time: true },
};

for (const lang of ["en", "zh"]) {
  test(`a submit done offline shows both times and "on time" (${lang})`, () => {
    setLang(lang);
    const row = String(eventRow(SUBMITTED));
    assert.match(row, /class="phone-time"/);
    assert.match(row, /data-on-time="true"/);
    for (const raw of ["device_time", "done_at", "received_at", "on_time", "doneAtPhone", "doneOnTime"]) {
      assert.ok(!row.replace(/data-[a-z-]+="[^"]*"|class="[^"]*"/g, "").includes(raw), `${raw} shown raw`);
    }
  });
}

test("a clamped phone time says which bound, and what the phone said", () => {
  setLang("en");
  const row = String(eventRow({ ...SUBMITTED, data: { ...SUBMITTED.data, on_time: false,
    device_time_clamped: "before_contact" } }));
  assert.match(row, /before its last contact/);
  assert.match(row, /data-on-time="false"/);
});

test("a reminder raised late is marked late", () => {
  setLang("zh");
  const row = String(eventRow({ kind: "reminded", at: "2026-12-05T00:00:00Z", seq: 2, actor: null,
    data: { milestone: "dispatch", due_at: "2026-12-03T01:00:00Z", late: true } }));
  assert.match(row, /class="chip late-raise"/);
  assert.match(row, /迟发/);
  assert.ok(!row.includes("late:"));
});

test("a rule refused for its colour order is explained in both languages", async () => {
  const { t } = await import("../js/i18n.js");
  setLang("zh");
  assert.match(t("deadline_rule.colour_order"), /绿 < 蓝 < 黄 < 红/);
  setLang("en");
  assert.match(t("deadline_rule.colour_order"), /green < blue < yellow < red/);
});
