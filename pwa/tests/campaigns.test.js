// Look-back campaigns in the app: the start form's body, the week picker, annex 2's totals
// and rates, the re-check's checks and body (the plan required on a rebound or a new
// problem), every string in both languages, and the outbox chain: a re-check sent under
// its client id, then its photos declared under the visit the server answered.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { beforeEach, test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { has, setLang, t } = await import("../js/i18n.js");
const c = await import("../js/campaigns.js");
const { db } = await import("../js/db.js");
const outbox = await import("../js/outbox.js");

test("a week is labelled by its Monday and the Sunday after, across a year's end", () => {
  assert.equal(c.weekLabel("2026-11-30"), "2026-11-30 – 12-06");
  assert.equal(c.weekLabel("2026-12-28"), "2026-12-28 – 2027-01-03");
  assert.equal(c.addDays("2028-02-27", 2), "2028-02-29");
});

test("the weeks offered newest first, the chosen one selected, duplicates once", () => {
  const options = c.weekOptions(["2026-11-16", "2026-11-30", "2026-11-23", "2026-11-30"], "2026-11-23");
  assert.deepEqual(options.map((o) => o.start), ["2026-11-30", "2026-11-23", "2026-11-16"]);
  assert.deepEqual(options.map((o) => o.selected), [false, true, false]);
});

test("annex 2's totals add the counts and recompute the rate from its parts", () => {
  const rows = [
    { total: 4, week_done: 1, done: 3, week_new: 1, new_total: 2 },
    { total: 6, week_done: 2, done: 2, week_new: 0, new_total: 1 },
  ];
  const totals = c.tableTotals(rows);
  assert.deepEqual([totals.total, totals.week_done, totals.done, totals.week_new, totals.new_total],
    [10, 3, 5, 1, 3]);
  assert.deepEqual([totals.rate.numerator, totals.rate.denominator], [5, 10]);
  assert.equal(c.pctText(totals.rate), "50%");
  // The server's own totals row is shown as it comes.
  const served = { total: 1, rate: { numerator: 1, denominator: 1, value: 1 } };
  assert.equal(c.tableTotals(rows, served), served);
});

test("a rate reads as a percentage with one decimal, a dash with nothing to divide", () => {
  assert.equal(c.pctText({ numerator: 1, denominator: 3, value: 1 / 3 }), "33.3%");
  assert.equal(c.pctText({ numerator: 2, denominator: 3 }), "66.7%");
  assert.equal(c.pctText({ numerator: 0, denominator: 0, value: null }), "—");
  assert.equal(c.pctText(null), "—");
});

test("the campaign body: only what was chosen, preview flagged, bad periods refused here", () => {
  const { body } = c.campaignBody({ title: " 噪声回头看 ", from: "2021-01-01", to: "2026-06-30",
    channel: "hotline_12345", category: "", unit_id: "u1", check_unit_id: "" }, { preview: true });
  assert.deepEqual(body, { title: "噪声回头看", from: "2021-01-01", to: "2026-06-30",
    channel: "hotline_12345", unit_id: "u1", preview: true });
  assert.equal(c.campaignBody({ title: "x", from: "2026-01-01", to: "2026-06-30", check_unit_id: "u2" })
    .body.check_unit_id, "u2");
  assert.deepEqual(c.campaignBody({ title: "x", from: "2026-06-30", to: "2026-01-01" }).errors,
    { to: ["badPeriod"] });
  assert.deepEqual(Object.keys(c.campaignBody({ title: "", from: "", to: "" }).errors).sort(),
    ["from", "title", "to"]);
  // A preview counts without a title.
  assert.deepEqual(c.campaignBody({ title: " ", from: "2026-01-01", to: "2026-06-30" }, { preview: true }).body,
    { from: "2026-01-01", to: "2026-06-30", preview: true });
});

const TASK = { id: "task-1", campaign_id: "camp-1", case: { id: "case-1", subject: "夜色酒吧深夜噪声扰民",
  channel: "hotline_12345", address: "东湖路88号" } };
const PLAN = { measures: "限时整改音响", target: "夜间噪声达标", implementer: "东湖街道",
  acceptance_unit_id: "u-district", due_on: "2026-12-31" };

test("a rebound or a new problem needs the plan; its required fields and due date are checked", () => {
  assert.equal(c.needsPlan({ rebound: false, new_problem: "  " }), false);
  assert.equal(c.needsPlan({ rebound: false, new_problem: "新增油烟" }), true);
  assert.equal(c.needsPlan({ rebound: true }), true);
  const fields = (problems) => problems.map((p) => `${p.field}:${p.key}`);
  assert.deepEqual(fields(c.recheckProblems({ rebound: null }, "2026-12-05")), ["rebound:recheckReboundMissing"]);
  assert.deepEqual(fields(c.recheckProblems({ rebound: false }, "2026-12-05")), []);
  assert.deepEqual(fields(c.recheckProblems({ rebound: true, plan: { ...PLAN, due_on: "", acceptance_unit_id: " " } }, "2026-12-05")),
    ["acceptance_unit_id:planRequired", "due_on:planRequired"]);
  assert.deepEqual(fields(c.recheckProblems({ rebound: true, plan: { ...PLAN, due_on: "2026-12-04" } }, "2026-12-05")),
    ["due_on:planDuePast"]);
  assert.deepEqual(fields(c.recheckProblems({ rebound: true, plan: { ...PLAN, due_on: "2026-12-05" } }, "2026-12-05")), []);
  assert.deepEqual(c.PLAN_FIELDS.filter((f) => f.required).map((f) => f.name),
    ["measures", "target", "implementer", "acceptance_unit_id", "due_on"]);
});

test("the plan starts from the task: the channel's name as its type, the subject as its problem", () => {
  const plan = c.planDefaults(TASK, (x) => `<${x}>`);
  assert.equal(plan.problem_type, "<hotline_12345>");
  assert.equal(plan.original_problem, "夜色酒吧深夜噪声扰民");
});

test("the re-check body holds only the contract's fields; the plan only when needed", () => {
  const fix = { lat: 24.3267, lon: 109.4152, accuracy_m: 8, fixed_at: "x", source: "gps" };
  const noPlan = c.recheckBody(TASK, { rebound: false, new_problem: "", findings: " 已整改到位 ",
    plan: PLAN }, fix, "2026-12-05T08:00:00.000Z");
  assert.deepEqual(noPlan, { task_id: "task-1", rebound: false, findings: "已整改到位",
    lat: 24.3267, lon: 109.4152, accuracy_m: 8, checked_at: "2026-12-05T08:00:00.000Z" });
  const rebound = c.recheckBody(TASK, { rebound: true, new_problem: "夜间仍外放", findings: "",
    plan: { ...PLAN, problem_type: "12345热线", original_problem: "", new_problem: "" } }, null, null);
  assert.deepEqual(rebound, { task_id: "task-1", rebound: true, new_problem: "夜间仍外放",
    plan: { ...PLAN, problem_type: "12345热线", new_problem: "夜间仍外放" } });
});

test("the task list marks what the phone already holds for a task", () => {
  const tasks = c.tasksWithLocal([{ id: "a" }, { id: "b" }, { id: "c" }], [
    { kind: "recheck", taskId: "a", state: "queued" }, { kind: "recheck", taskId: "b", state: "draft" },
    { kind: "visit", taskId: "c", state: "queued" }]);
  assert.deepEqual(tasks.map((x) => x.local), ["queued", "draft", null]);
});

test("the accepting units offered: the organiser's when the task names it, the user's, the case's, once each", async () => {
  const { acceptanceUnits } = await import("../js/views/field/recheck.js");
  const task = { organiser_unit: { id: "d", name: "分局" }, case: { unit: { id: "s1", name: "东湖街道" } },
    check_unit: { id: "s2", name: "西城街道" } };
  assert.deepEqual(acceptanceUnits(task, [{ id: "s1", name: "东湖街道" }]).map((u) => u.id), ["d", "s1", "s2"]);
  assert.deepEqual(acceptanceUnits({ case: { unit: "东湖街道" } }, []), [], "a unit without its id is no choice");
});

test("every campaign string is in Chinese and English, the English free of Chinese", () => {
  const source = readFileSync(new URL("../js/i18n.js", import.meta.url), "utf8");
  const used = new Set();
  for (const file of ["../js/views/office/campaigns.js", "../js/views/field/recheck.js",
    "../js/views/caseplans.js", "../js/campaigns.js"]) {
    const text = readFileSync(new URL(file, import.meta.url), "utf8");
    for (const [, key] of text.matchAll(/\bt\("([\w.]+)"\)/g)) used.add(key);
    for (const [, key] of text.matchAll(/key: "(\w+)"/g)) used.add(key);
  }
  for (const status of ["open", "closed"]) used.add(`campaignStatus.${status}`);
  for (const status of ["pending", "done"]) used.add(`taskStatus.${status}`);
  for (const status of ["open", "accepted"]) used.add(`planStatus.${status}`);
  assert.ok(used.size > 60, `only ${used.size} keys found`);
  for (const lang of ["zh", "en"]) {
    setLang(lang);
    for (const key of used) {
      assert.ok(has(key), `${key} missing`);
      // Chinese where the app speaks Chinese (no English fallback), none in English.
      if (lang === "zh") assert.match(t(key), /[\u4e00-\u9fff]/, key);
      else assert.doesNotMatch(t(key), /[\u4e00-\u9fff]/, key);
    }
  }
  setLang("zh");
  // The server's words for a campaign over no case are shown as they come (errorText).
  assert.equal(has("campaign.empty"), false);
  assert.match(source, /Look-back campaigns, re-checks and rectification plans/);
});

// ---- the outbox: a re-check, then its photos under the visit it made -----------------
const json = (status, body) => new Response(JSON.stringify(body), {
  status, headers: { "Content-Type": status < 400 ? "application/json" : "application/problem+json" },
});
let calls;
let routes;
globalThis.fetch = async (path, init = {}) => {
  calls.push({ call: `${init.method || "GET"} ${path}`, body: init.body ? JSON.parse(init.body) : null });
  for (const [pattern, answer] of routes) {
    if (pattern.test(`${init.method || "GET"} ${path}`)) return answer(init);
  }
  throw new TypeError("network down");
};
class FakeXHR {
  open(method, url) { this.url = url; }
  setRequestHeader() {}
  send() { this.status = 200; setTimeout(() => this.onload(), 0); }
  upload = {};
}
globalThis.XMLHttpRequest = FakeXHR;

const RECHECK_ID = "33333333-3333-4333-8333-333333333333";
const PHOTO = { id: "44444444-4444-4444-8444-444444444444", caseId: "case-1", sha256: "ab".repeat(32),
  size: 3, contentType: "image/jpeg", capturedAt: "2026-12-05T08:00:00Z", geo: null,
  visitClientId: RECHECK_ID };

beforeEach(async () => {
  const database = await db();
  for (const store of ["outbox", "blobs", "previews", "sent", "cache", "meta"]) await database.clear(store);
  Object.assign(outbox.status, { running: false, needsLogin: false, lastError: null, progress: {} });
  calls = [];
  routes = [];
});

function evidenceStores() {
  routes.push([/POST \/api\/evidence$/, () => json(201, { id: "ev-1", client_id: PHOTO.id, state: "pending",
    upload: { method: "PUT", url: "/api/blobs/t", headers: {} } })]);
  routes.push([/complete$/, () => json(200, { id: "ev-1", client_id: PHOTO.id, state: "stored", sha256: PHOTO.sha256 })]);
}

const recheck = (draft, payload = c.recheckBody(TASK, { rebound: true, plan: PLAN }, null, "2026-12-05T08:00:00Z")) =>
  outbox.saveRecheck({ id: RECHECK_ID, caseId: "case-1", taskId: "task-1", campaignId: "camp-1",
    label: "夜色酒吧", payload, form: { rebound: true }, task: TASK }, { draft });

test("a draft re-check holds its photos; saved, it is sent first and they follow under its visit", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  await recheck(true);
  evidenceStores();
  await outbox.syncNow({ force: true });
  assert.deepEqual(calls, [], "nothing leaves while the re-check is a draft");
  await recheck(false);
  routes.unshift([/POST \/api\/campaigns\/camp-1\/rechecks$/, () => json(201, {
    task: { id: "task-1", status: "done" }, visit_id: "visit-7", plan: { id: "plan-1" },
    case: { id: "case-1", status: "in_progress" } })]);
  await outbox.syncNow({ force: true });
  assert.equal(calls[0].call, "POST /api/campaigns/camp-1/rechecks");
  assert.equal(calls[0].body.client_id, RECHECK_ID);
  assert.deepEqual(calls[0].body.plan, PLAN);
  const declared = calls.find((x) => x.call === "POST /api/evidence").body;
  assert.equal(declared.visit_id, "visit-7");
  assert.deepEqual(await outbox.items(), []);
  const sent = await (await db()).get("sent", RECHECK_ID);
  assert.deepEqual([sent.kind, sent.serverId, sent.taskId], ["recheck", "visit-7", "task-1"]);
});

test("a re-check refused for its plan is kept with the server's words, opens again, and its photos wait", async () => {
  await outbox.savePhoto(PHOTO, new Blob(["abc"]));
  await recheck(false);
  routes.push([/rechecks$/, () => json(422, { code: "plan.due_missing", detail: "The plan needs its due date.",
    messages: { zh: "整改方案须填写完成时限。", en: "The plan needs its due date." } })]);
  evidenceStores();
  await outbox.syncNow({ force: true });
  const items = await outbox.items();
  const item = items.find((x) => x.kind === "recheck");
  const photo = items.find((x) => x.kind === "evidence");
  assert.equal(item.state, "failed");
  assert.equal(item.lastError.message, "整改方案须填写完成时限。");
  assert.equal(outbox.isRecheckMendable(item), true);
  assert.equal(photo.state, "queued");
  assert.equal(calls.filter((x) => x.call === "POST /api/evidence").length, 0, "the photo waits");
  const mended = await outbox.mendRecheck(RECHECK_ID);
  assert.equal(mended.state, "draft");
  assert.equal(mended.refusal.code, "plan.due_missing");
});

test("a retry sends the very body that was saved (the server answers it once)", async () => {
  await recheck(false);
  routes.push([/rechecks$/, () => json(503, { code: "server.unavailable", detail: "down" })]);
  await outbox.syncNow({ force: true });
  routes = [[/rechecks$/, () => json(200, { task: { id: "task-1" }, visit_id: null, plan: null,
    case: { id: "case-1", status: "in_progress" } })]];
  await outbox.syncNow({ force: true });
  const bodies = calls.filter((x) => x.call.endsWith("/rechecks")).map((x) => JSON.stringify(x.body));
  assert.equal(bodies.length, 2);
  assert.equal(bodies[0], bodies[1]);
  assert.deepEqual(await outbox.items(), []);
});
