// The sheet import screen's logic: the mapping a sheet starts with and the body that
// saves it, the unknown values and the tables they go into, the preview's pages and how
// a row's reasons and repeat hint read. Shapes as API.md gives them (GET
// /api/intake-sources, POST /api/imports).
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const memory = new Map([["fieldcase.lang", "zh"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { setLang } = await import("../js/i18n.js");
const imp = await import("../js/importing.js");

const FIELDS = [
  { name: "external_ref", zh: "工单编号", en: "Reference", required: true },
  { name: "received_at", zh: "受理时间", en: "Received at", required: true },
  { name: "description", zh: "诉求内容", en: "Description", required: false },
  { name: "category", zh: "类别", en: "Category", required: true },
  { name: "unit", zh: "承办单位", en: "Unit", required: false },
];

test("the sources' answer: fields and recognised headers at the top or on each source", () => {
  const top = imp.sourcesOf({ items: [{ code: "hotline_12345", name_zh: "12345热线", name_en: "12345 hotline" }],
    fields: FIELDS, recognised: { external_ref: ["工单编号", "工单号"], category: ["诉求类别"] } });
  assert.equal(top.sources[0].fields.length, 5);
  assert.equal(top.sources[0].recognised.get("工单号"), "external_ref");
  assert.deepEqual(top.sources[0].column_map, {});
  // {header: field} and a bare list of sources are read the same way.
  const bare = imp.sourcesOf([{ code: "petition", fields: ["external_ref"], known_headers: { "编号": "external_ref" } }]);
  assert.equal(bare.sources[0].recognised.get("编号"), "external_ref");
  assert.deepEqual(bare.sources[0].fields, [{ name: "external_ref" }]);
});

test("a sheet's mapping: what the server applied, else the saved one, else recognised; a field once", () => {
  const recognised = imp.recognisedHeaders({ external_ref: ["工单编号", "编号"], received_at: ["来电时间"] });
  const headers = ["工单编号 ", "编号", "来电时间", "诉求内容", "备注"];
  const start = imp.initialMapping(headers, { saved: { description: "诉求内容" }, recognised });
  // Spaces and full-width forms do not hide a header; "编号" does not take the reference twice.
  assert.deepEqual(start, { "工单编号 ": "external_ref", "编号": "", "来电时间": "received_at",
    "诉求内容": "description", "备注": "" });
  // The preview's applied mapping, when there is one, is the mapping.
  const applied = imp.initialMapping(headers, { applied: { external_ref: "编号" }, recognised });
  assert.deepEqual(applied, { "工单编号 ": "", "编号": "external_ref", "来电时间": "", "诉求内容": "", "备注": "" });
  // A saved mapping's claim beats a recognised header's, whatever the column order.
  const claimed = imp.initialMapping(["工单编号", "编号"], { saved: { external_ref: "编号" }, recognised });
  assert.deepEqual(claimed, { "工单编号": "", "编号": "external_ref" });
});

test("the mapping saved as {field: header}; a field twice or a required one missing is said", () => {
  const ok = imp.columnMapBody({ "工单编号": "external_ref", "来电时间": "received_at", "类别": "category", "备注": "" }, FIELDS);
  assert.deepEqual(ok.body, { column_map: { external_ref: "工单编号", received_at: "来电时间", category: "类别" } });
  const bad = imp.columnMapBody({ "工单编号": "external_ref", "编号": "external_ref", "来电时间": "received_at" }, FIELDS);
  assert.deepEqual(bad.errors.twice, { external_ref: ["工单编号", "编号"] });
  assert.deepEqual(bad.errors.missing, ["category"]);
  // A recognised column the office sets to "not imported" stays so (saved as "").
  const off = imp.columnMapBody({ "工单编号": "external_ref", "来电时间": "received_at", "类别": "category", "来电人": "" },
    FIELDS, { "工单编号": "external_ref", "来电时间": "received_at", "类别": "category", "来电人": "complainant_name" });
  assert.deepEqual(off.body.column_map, { external_ref: "工单编号", received_at: "来电时间", category: "类别", complainant_name: "" });
  // A required field cannot be taken off.
  const req = imp.columnMapBody({ "工单编号": "external_ref", "来电时间": "received_at", "类别": "" }, FIELDS,
    { "类别": "category" });
  assert.deepEqual(req.errors.missing, ["category"]);
  assert.equal(imp.sameMapping({ a: "x", b: "" }, { a: "x" }), true);
  assert.equal(imp.sameMapping({ a: "x" }, { a: "y" }), false);
});

test("unknown values in any listed form, most frequent first; a mapping keeps the rest of the tables", () => {
  const values = imp.unknownValues({ unknown: {
    category: [{ value: "油烟扰民", count: 2 }, ["夜间施工", 5], "无名"], unit: { "城南街道": 3 } } });
  assert.deepEqual(values.map((v) => [v.kind, v.raw, v.count]),
    [["category", "夜间施工", 5], ["unit", "城南街道", 3], ["category", "油烟扰民", 2], ["category", "无名", 0]]);
  const before = { category: { "噪音扰民": "noise_social" }, unit: { "东湖街道": "u1" } };
  const after = imp.valueMapsWith(before, "category", "夜间施工", "noise_construction");
  assert.deepEqual(after, { category: { "噪音扰民": "noise_social", "夜间施工": "noise_construction" }, unit: { "东湖街道": "u1" } });
  assert.deepEqual(before.category, { "噪音扰民": "noise_social" }); // the source's copy unchanged
});

test("10,000 rows: a page at a time, filtered by status or by repeat", () => {
  const rows = Array.from({ length: 10000 }, (_, i) => ({ row: i + 2,
    status: i % 10 === 0 ? "invalid" : i % 7 === 0 ? "duplicate" : "new", ...(i % 50 === 1 ? { repeat: { count: 3 } } : {}) }));
  const first = imp.pageOf(rows);
  assert.equal(first.items.length, imp.PER_PAGE);
  assert.equal(first.pages, 100);
  assert.deepEqual([first.from, first.to, first.total], [1, 100, 10000]);
  const bad = imp.pageOf(rows, { filter: "invalid", page: 10 });
  assert.equal(bad.total, 1000);
  assert.ok(bad.items.every((r) => r.status === "invalid"));
  assert.equal(bad.items[0].row, 9000 + 2);
  const beyond = imp.pageOf(rows, { filter: "repeat", page: 99 });
  assert.equal(beyond.total, 200);
  assert.equal(beyond.page, 2); // clamped to the last page
  const none = imp.pageOf([], { filter: "new" });
  assert.deepEqual([none.total, none.from, none.pages], [0, 0, 1]);
  const counts = imp.countsOf({ rows });
  assert.deepEqual(counts, { new: rows.filter((r) => r.status === "new").length, duplicate: rows.filter((r) => r.status === "duplicate").length,
    invalid: 1000, repeat: 200 });
  assert.equal(imp.countsOf({ counts: { new: 1, duplicate: 2, invalid: 3, repeat: 4 }, rows }).repeat, 4);
});

test("a bad row's reasons in the user's language, a repeat in words, never a raw key", () => {
  const row = { row: 7, status: "invalid", errors: [
    { field: "received_at", code: "import.bad_date", message_zh: "受理时间不是日期", message_en: "Not a date" },
    { field: "category", code: "import.unknown_category" }] };
  setLang("zh");
  assert.deepEqual(imp.reasons(row), ["受理时间不是日期", "该行有误"]);
  const names = { received_at: "来电时间", category: "诉求类别" };
  assert.deepEqual(imp.reasons(row, "zh", (f) => names[f]), ["来电时间：受理时间不是日期", "诉求类别：该行有误"]);
  const named = { errors: [{ field: "category", message_zh: "诉求类别“噪音”尚未对应" }] };
  assert.deepEqual(imp.reasons(named, "zh", (f) => names[f]), ["诉求类别“噪音”尚未对应"]);
  assert.equal(imp.repeatText({ count: 4, listed: true }), "疑似重复投诉：已投诉 4 次");
  assert.equal(imp.confirmLabel(12), "导入 12 件");
  setLang("en");
  assert.deepEqual(imp.reasons(row, "en"), ["Not a date", "This row is invalid"]);
  assert.equal(imp.confirmLabel(12), "Import 12 cases");
  assert.equal(imp.repeatCount({ linked: [1, 2, 3] }), 3);
  assert.equal(imp.fieldName({ name: "external_ref", zh: "工单编号", en: "Reference" }, "en"), "Reference");
  assert.equal(imp.fieldName({ name: "complainant_phone" }, "en"), "Complainant's phone");
  assert.equal(imp.fieldName({ name: "mystery" }, "en"), "Other field");
  setLang("zh");
});

test("only spreadsheets are offered for upload", () => {
  assert.ok(imp.acceptable("12345导出.XLSX"));
  assert.ok(imp.acceptable("a.csv"));
  assert.equal(imp.acceptable("report.pdf"), false);
  assert.equal(imp.acceptable("x.xlsx.exe"), false);
});

test("the new cases named by the rows they came from, with the preview's repeat hints", () => {
  const before = { rows: [
    { row: 3, status: "new", case: { external_ref: "A1", subject: "酒吧" }, repeat: { count: 3, listed: true } },
    { row: 4, status: "new", case: { external_ref: "A2", subject: "工地" } },
    { row: 5, status: "invalid", case: { external_ref: "A3" } }] };
  const after = { rows: [
    { row: 3, status: "duplicate", duplicate_of: "c1", case: { external_ref: "A1", subject: "酒吧" } },
    { row: 4, status: "duplicate", duplicate_of: "c2", case: { external_ref: "A2", subject: "工地" } },
    { row: 5, status: "invalid", case: { external_ref: "A3" } },
    { row: 6, status: "duplicate", duplicate_of: "older", case: { external_ref: "A0" } },
    { row: 7, status: "duplicate", duplicate_of: "c1", case: { external_ref: "A1", subject: "编号重复" } }] };
  const named = imp.namedCases({ case_ids: ["c1", "c2"] }, after, imp.repeatsByRef(before));
  assert.deepEqual([...named.keys()], ["c1", "c2"]); // an older case is not one of the new
  assert.deepEqual(named.get("c1"), { ref: "A1", subject: "酒吧", repeat: { count: 3, listed: true } });
  assert.equal(named.get("c2").repeat, null);
});
