// Repeat complaints as the app says them: the case page's warning (count, list, leader, how
// matched, other units as a count), the repeat list's order, and the timeline's words for
// the repeat events, in Chinese and English, never a raw key.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { setLabels, setLang } = await import("../js/i18n.js");
setLabels(JSON.parse(readFileSync(new URL("../../server/domain/data/vocab_labels.json", import.meta.url), "utf8")));
const { bannerHtml, bannerModel, fill, headline, matchedText } = await import("../js/views/office/repeatbanner.js");
const { sortSubjects, subjectStatus } = await import("../js/views/office/repeats.js");
const { eventSummary, kindName } = await import("../js/timeline.js");

// GET /api/cases/<id>/repeat and GET /api/repeats/<id>, as the repeats API answers.
const ANSWER = {
  linked: true,
  may_decide: true,
  link: { state: "auto", matched_by: ["phone", "address"], decided_at: null, created_at: "2026-12-01T12:00:00Z" },
  subject: { id: "s1", title: "东湖路12号 夜色KTV", category: "noise_commercial", count: 3, listed: true,
    listed_at: "2026-12-01T12:00:00Z", leader: { id: "u9", name: "张局" }, resolved: false,
    visible_cases: 3, other_units: 1 },
};
const HISTORY = {
  ...ANSWER.subject,
  cases: [{ id: "c1", subject: "夜色KTV", received_at: "2026-11-01T12:00:00Z", status: "closed", state: "confirmed", matched_by: [] },
    { id: "c0", subject: "不是同一问题", received_at: "2026-11-10T12:00:00Z", status: "closed", state: "undone", matched_by: ["phone"] },
    { id: "c3", subject: "夜色KTV 又吵", received_at: "2026-12-01T12:00:00Z", status: "received", state: "auto", matched_by: ["address"] }],
};
const model = (answer = ANSWER, history = HISTORY) => bannerModel(answer, history);
const withSubject = (changes) => ({ ...ANSWER, subject: { ...ANSWER.subject, ...changes } });

test("the warning says the count, the list and the leader in charge, in both languages", () => {
  setLang("zh");
  assert.equal(headline(model()), "重复投诉：该对象已被投诉 3 次（已列入反复投诉清单） · 包案领导 张局");
  setLang("en");
  assert.equal(headline(model()), "Repeat complaint: complained about 3 times (on the repeat list) · Leader in charge 张局");
  // Not yet listed and no leader: the count alone; listed without a leader says so.
  assert.equal(headline(model(withSubject({ count: 2, listed: false, leader: null }))),
    "Repeat complaint: complained about 2 times");
  setLang("zh");
  assert.match(headline(model(withSubject({ leader: null }))), /尚未指定包案领导$/);
});

test("how two complaints were matched reads in words, in a fixed order, unknown ways left out", () => {
  setLang("zh");
  assert.equal(matchedText(["phone", "address"]), "地址相同、同一来电号码");
  assert.equal(matchedText("radius"), "位置相近");
  assert.equal(matchedText(["magic"]), "");
  setLang("en");
  assert.equal(matchedText(["radius", "phone"]), "nearby location, same caller's number");
});

test("the banner links the visible earlier cases and gives other units as a count only", () => {
  setLang("zh");
  const markup = String(bannerHtml(model(), "c3"));
  assert.match(markup, /href="#\/case\/c1"/);
  assert.doesNotMatch(markup, /href="#\/case\/c3"/); // not a link to itself
  assert.doesNotMatch(markup, /href="#\/case\/c0"/); // undone: not the same problem
  assert.match(markup, /另有 1 件在其他单位/);
  assert.match(markup, /确认关联/);
  assert.match(markup, /不是同一问题/);
  assert.match(markup, /data-listed="true"/);
  // Without the history (a subject no longer readable) the warning still stands.
  assert.match(String(bannerHtml(model(ANSWER, null), "c3")), /已被投诉 3 次/);
  // One who may not decide gets no buttons; an undone link says so, with a way to confirm.
  assert.doesNotMatch(String(bannerHtml(model({ ...ANSWER, may_decide: false }), "c3")), /data-decision/);
  const undone = String(bannerHtml(model({ ...ANSWER, link: { ...ANSWER.link, state: "undone",
    decided_at: "2026-12-02T01:00:00Z" } }), "c3"));
  assert.match(undone, /data-state="undone"/);
  assert.match(undone, /已撤销重复投诉关联/);
  assert.match(undone, /data-decision="confirm"/);
  assert.doesNotMatch(undone, /data-decision="undo"/);
  // Not linked: no banner at all.
  assert.equal(bannerModel({ linked: false, may_decide: false, link: null, subject: null }), null);
  assert.equal(String(bannerHtml(null, "c3")), "");
});

test("names from the data are escaped in the banner", () => {
  const evil = model(withSubject({ leader: { id: "u", name: "<img src=x onerror=alert(1)>" } }),
    { cases: [{ id: "c1", subject: "<script>x</script>", received_at: null, state: "auto" }] });
  const markup = String(bannerHtml(evil, "c3"));
  assert.doesNotMatch(markup, /<img|<script/);
});

test("the repeat list: most complaints first, then the latest complaint", () => {
  const items = [
    { id: "a", title: "甲", count: 3, last_at: "2026-12-01T00:00:00Z" },
    { id: "b", title: "乙", count: 5, last_at: "2026-10-01T00:00:00Z" },
    { id: "d", title: "Park south", count: 3, last_at: "2026-12-03T00:00:00Z" },
    { id: "c", title: "Park north", count: 3, last_at: "2026-12-03T00:00:00Z" },
  ];
  assert.deepEqual(sortSubjects(items).map((s) => s.id), ["b", "c", "d", "a"]);
  assert.deepEqual(items.map((s) => s.id), ["a", "b", "d", "c"]); // the answer itself kept
  assert.equal(subjectStatus({ resolved: true, listed: true }), "resolved");
  assert.equal(subjectStatus({ resolved_at: "2026-12-01T00:00:00Z" }), "resolved");
  assert.equal(subjectStatus({ resolved: false, listed: true }), "listed");
  // Two complaints: linked, not yet on the list.
  assert.equal(subjectStatus({ resolved: false, listed: false, listed_at: null }), "notListed");
  assert.equal(fill("另有 {n} 件", { n: 4 }), "另有 4 件");
});

test("the repeat events read in words on the timeline, never a key", () => {
  const data = { subject_id: "6f1c2d3e", count: 3, listed: true, matched_by: ["address", "radius"] };
  setLang("zh");
  assert.equal(kindName("repeat_link_undone"), "撤销重复投诉关联");
  assert.equal(eventSummary(data, "repeat_linked"), "累计投诉: 3 · 列入重复投诉清单: 是 · 关联依据: 地址相同、位置相近");
  setLang("en");
  assert.equal(kindName("repeat_link_confirmed"), "Repeat link confirmed");
  // Another kind's `count` is not read as complaints.
  assert.equal(eventSummary({ count: 3 }, "sealed"), "");
  assert.equal(kindName("never_heard_of"), "Entry");
});
