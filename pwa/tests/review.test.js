// The reviewer's screen's pieces: the office's notes read from the timeline, a rule's links
// to what it refers to, an approval's refusal in words, the photo's distance to the case,
// the closure files' links, and the vocabulary named from the server's labels.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { setLabels, setLang, term, termBoth } = await import("../js/i18n.js");
const { acknowledgements, checklistBlock, closureLinks, numbering, photoDistance, refLinks, refusal,
  sealBlock } = await import("../js/review.js");

const text = (markup) => String(markup).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").trim();

test("the office's notes on flags come from the timeline, the latest per flag", () => {
  const acks = acknowledgements([
    { kind: "submitted", at: "2026-12-01T10:00:00Z", data: {} },
    { kind: "flag_acknowledged", at: "2026-12-01T11:00:00Z", actor: { name: "陈静" },
      data: { evidence_id: "e1", code: "no_gps", note: "第一次" } },
    { kind: "flag_acknowledged", at: "2026-12-01T12:00:00Z", actor: { name: "陈静" },
      data: { evidence_id: "e1", code: "no_gps", note: "补充说明" } },
  ]);
  assert.deepEqual([...acks.keys()], ["e1|no_gps"]);
  assert.equal(acks.get("e1|no_gps").note, "补充说明");
  assert.equal(acks.get("e1|no_gps").by, "陈静");
});

test("a rule links to the photos, readings and revisits it names", () => {
  setLang("zh");
  const numbers = numbering([{ id: "e1" }, { id: "e2" }]);
  const links = refLinks({ refs: [{ evidence_id: "e2", code: "no_gps" },
    { evidence_id: "e1", distance_m: 1234 }, { measurement_id: "m1", visit_id: "v1" },
    { revisit_id: "r1" }] }, numbers).map(String);
  assert.match(links[0], /data-goto="ev-e2"/);
  assert.match(links[0], /data-flag="no_gps"/);
  assert.equal(text(links[0]), "照片2 · 照片无GPS");
  assert.equal(text(links[1]), "照片1 · 1.2 km");
  assert.match(links[2], /data-goto="m-m1"/);
  assert.match(links[3], /data-goto="rv-r1"/);
  const block = String(checklistBlock({ ready: false, rules_version: "2026-12", rules: [
    { code: "site_photo", met: true, title: { zh: "现场照片", en: "Site photo" }, why: "ok", refs: [] },
    { code: "flags_explained", met: false, title: { zh: "提示已说明", en: "Flags" }, why: { zh: "1 项提示尚未说明", en: "1 flag" }, refs: [] }] },
  numbers));
  assert.match(block, /data-ready="false"/);
  assert.match(block, /data-code="flags_explained" data-index="1" data-met="false"/);
  assert.match(text(block), /提示已说明 未满足/);
  assert.match(text(block), /1 项提示尚未说明/);  // the server's reason, in the screen's language
});

test("a refused approval says which rules are unmet, or that it is the reviewer's own case", () => {
  setLang("zh");
  const unmet = String(refusal({ problem: { code: "closure.unmet", unmet: [
    { code: "revisit", title: { zh: "已回访", en: "Revisited" }, why: { zh: "没有回访", en: "No revisit." } }] } }));
  assert.match(unmet, /<li data-code="revisit">/);
  assert.match(text(unmet), /以下项目未满足，不能验收：.*已回访 没有回访/);
  assert.match(text(refusal({ problem: { code: "closure.own_case" } })), /你处理过此案件/);
  assert.match(text(refusal({ problem: { code: "closure.evidence_pending", detail: "1 photo" } })),
    /尚未上传完成.*1 photo/);
  assert.equal(refusal({ problem: { code: "case.forbidden" } }), null);
  setLang("en");
  assert.match(text(refusal({ problem: { code: "closure.own_case" } })), /^You handled this case/);
  setLang("zh");
});

test("a photo's distance to the case, none without both positions", () => {
  const here = { lat: 24.3265, lon: 109.4152 };
  const d = photoDistance({ location: { lat: 24.3265 + 0.0018, lon: 109.4152 } }, here);
  assert.ok(Math.abs(d - 200) < 2, String(d));
  assert.equal(photoDistance({ location: null }, here), null);
  assert.equal(photoDistance({ location: here }, null), null);
});

test("a sealed case offers its files: closure and public, DOCX and PDF, and the archive", () => {
  const links = String(closureLinks("c/1"));
  const hrefs = [...links.matchAll(/href="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(hrefs, ["/api/cases/c%2F1/closure-file.docx", "/api/cases/c%2F1/closure-file.pdf",
    "/api/cases/c%2F1/closure-file.docx?public=1", "/api/cases/c%2F1/closure-file.pdf?public=1",
    "/api/cases/c%2F1/archive.zip"]);
  assert.equal((links.match(/ download>/g) || []).length, 5);
  assert.match(text(sealBlock(null, "c1")), /尚未封存/);
  const sealed = String(sealBlock({ current: { id: "s2", number: 2, sha256: "ab".repeat(32),
    sealed_at: "2026-12-01T12:00:00Z", sealed_by: { name: "陈静" } },
  seals: [{ id: "s1", number: 1, sha256: "cd".repeat(32), sealed_at: "2026-11-01T12:00:00Z" },
    { id: "s2", number: 2 }] }, "c1"));
  assert.match(sealed, /id="seal-number">2</);
  assert.match(sealed, /以前的封存/);
  assert.match(sealed, new RegExp("cd".repeat(32)));
});

test("the vocabulary's values are named from the server's labels, revisit methods apart", () => {
  setLabels({ channels: { phone: { zh: "电话", en: "Phone" } },
    revisit_methods: { phone: { zh: "电话回访", en: "Phone revisit" } },
    verdicts: { true: { zh: "属实", en: "True" } } });
  setLang("zh");
  assert.equal(term("phone"), "电话");
  assert.equal(term("method.phone"), "电话回访");
  assert.equal(term("true"), "属实");
  assert.equal(term("no_gps"), "照片无GPS"); // a flag: the app's own name
  assert.equal(term("unknown_value"), "unknown_value");
  assert.deepEqual(termBoth("method.phone"), { zh: "电话回访", en: "Phone revisit" });
  setLang("en");
  assert.equal(term("method.phone"), "Phone revisit");
  setLabels({});
  assert.equal(term("method.phone"), "method.phone"); // the app keeps no copy of its own
  setLang("zh");
});

test("the seal warns, in the user's language, where a sealed value no longer matches", () => {
  setLang("zh");
  const current = { id: "s1", number: 1, sha256: "ab".repeat(32), sealed_at: "2026-12-01T10:00:00Z" };
  assert.doesNotMatch(String(sealBlock({ current, seals: [current], altered: [] }, "c1")), /seal-altered/);
  const warned = String(sealBlock({ current, seals: [current],
    altered: [{ what: "seal 1 case", field: "case.result" }] }, "c1"));
  assert.match(warned, /id="seal-altered"/);
  assert.match(warned, /role="alert"/);
  assert.match(text(warned), /与封存时不一致/);
  assert.match(text(warned), /第 1 次封存 · 案件信息 · case\.result/);
  // Every part the seal check names, in words: no English on the Chinese screen.
  const all = [{ what: "seal 1 case", field: "case.result" }, { what: "seal 2 manifest", field: "cannot be read" },
    { what: "seal 1 timeline", field: "" }, { what: "seal 1 personal data", field: "" },
    { what: "seal 1 stored copy", field: "" }, { what: "seal 1 rows", field: "cannot be recomputed" },
    { what: "seal 1 visits", field: "visits[0].findings" }, { what: "seal 1 evidence ev-1", field: "" },
    { what: "timeline event 3", field: "malformed data column" }, { what: "visits id v-1", field: "column data" },
    { what: "something new", field: "an English sentence" }];
  const zh = text(String(sealBlock({ current, seals: [current], altered: all }, "c1")));
  // The list only (ids and paths as sent), up to the help line.
  const listed = zh.split("请勿")[0].replace(/case\.result|visits\[0\]\.findings|ev-1|v-1|数据列 data/g, "");
  assert.doesNotMatch(listed, /[A-Za-z]{3,}/, zh);
  assert.match(zh, /时间线事件 #3 · 数据列格式错误/);
  assert.match(zh, /检查记录 v-1 · 数据列 data/);
  setLang("en");
  const en = text(String(sealBlock({ current, seals: [current],
    altered: [{ what: "timeline event 3", field: "" }, { what: "seal 2 manifest", field: "" }] }, "c1")));
  assert.match(en, /no longer match what was sealed/);
  assert.match(en, /Timeline event #3/);
  assert.match(en, /Seal 2 · manifest/);
  setLang("zh");
});
