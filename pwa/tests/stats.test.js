// The rates page's logic on answers shaped as GET /api/stats gives them: rate tiles with
// their definitions, the count groups as chart data and table rows (the same numbers),
// the query and ledger links for the chosen period, and Chart.js's configuration in the
// theme's colours.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { chartConfig, chartHeight, chartSummary, countSeries, defaultFilters, ledgerLinks,
  localDate, periodDays, periodLabel, pick, rateTiles, statsQuery } from "../js/stats.js";

const both = (zh, en) => ({ zh, en });

// The contract's shape (docs of wip-stats): seed 002's 600 of 607, and an empty rate.
const ANSWER = {
  as_of: "2026-06-30T16:00:00+00:00",
  period: { from: "2026-04-01", to: "2026-06-30" },
  scope: { unit: { id: "u1", name: "东湖街道" }, channel: null, category: null },
  rates: [
    { code: "closure_rate", label: both("办结率", "Closure rate"), numerator: 600, denominator: 607,
      value: 600 / 607, percent: "98.8%", definition: both("已办结件数 ÷ 受理件数", "Closed ÷ received"),
      numerator_means: both("截至时已办结的案件", "Cases closed as of the date"),
      denominator_means: both("时段内受理的案件", "Cases received in the period") },
    { code: "spot_check_dissatisfied_rate", label: both("抽查不满意率", "Dissatisfied in spot checks"),
      numerator: 0, denominator: 0, value: null, percent: null, definition: both("不满意 ÷ 有答复", "Dissatisfied ÷ answered"),
      numerator_means: both("不满意", "Dissatisfied"), denominator_means: both("有答复的抽查回访", "Answered spot-check revisits") },
  ],
  counts: {
    by_category: [
      { key: "noise_social", label: both("社会生活噪声", "Social noise"), count: 5 },
      { key: "odour", label: both("异味", "Odour"), count: 12 },
      { key: "fumes", label: both("油烟", "Cooking fumes"), count: 5 },
    ],
    by_channel: [{ key: "hotline", label: both("12345热线", "12345 hotline"), count: 22 }],
    by_unit: [{ key: "u1", label: "东湖街道", count: 22 }],
    by_period: [
      { key: "2026-W24", from: "2026-06-08", to: "2026-06-14", count: 7 },
      { key: "2026-W23", from: "2026-06-01", to: "2026-06-07", count: 15 },
    ],
  },
  limits: { max_days: 366 },
};

test("each rate becomes a tile with its figure, fraction and definition in the language", () => {
  const [closure, spot] = rateTiles(ANSWER, "zh");
  assert.equal(closure.code, "closure_rate");
  assert.equal(closure.label, "办结率");
  assert.equal(closure.percent, "98.8%");
  assert.equal(`${closure.numerator} / ${closure.denominator}`, "600 / 607");
  assert.equal(closure.numeratorMeans, "截至时已办结的案件");
  assert.equal(closure.denominatorMeans, "时段内受理的案件");
  assert.equal(spot.percent, null, "a zero denominator has no percent");
  assert.equal(rateTiles(ANSWER, "en")[0].definition, "Closed ÷ received");
  assert.deepEqual(rateTiles({}, "zh"), []);
});

test("a {zh, en} pair falls back to the other language, a plain string stays", () => {
  assert.equal(pick({ zh: "异味" }, "en"), "异味");
  assert.equal(pick("东湖街道", "en"), "东湖街道");
  assert.equal(pick(null, "zh"), "");
});

test("counts become chart series and table rows with the same numbers, largest first", () => {
  const s = countSeries(ANSWER, "by_category", "zh");
  assert.deepEqual(s.labels, ["异味", "油烟", "社会生活噪声"]);
  assert.deepEqual(s.values, [12, 5, 5]);
  assert.deepEqual(s.rows.map((r) => r.count), s.values);
  assert.equal(s.total, 22);
  const units = countSeries(ANSWER, "by_unit", "en");
  assert.deepEqual(units.labels, ["东湖街道"]);
  assert.equal(countSeries({ counts: {} }, "by_channel", "zh").rows.length, 0);
});

test("periods stay in time order, named as weeks or months", () => {
  const s = countSeries(ANSWER, "by_period", "zh");
  assert.deepEqual(s.rows.map((r) => r.key), ["2026-W23", "2026-W24"]);
  assert.deepEqual(s.values, [15, 7]);
  assert.equal(s.labels[0], "2026年第23周");
  assert.equal(periodLabel({ key: "2026-W05" }, "en"), "2026 wk 5");
  assert.equal(periodLabel({ key: "2026-06" }, "zh"), "2026年6月");
  assert.equal(periodLabel({ key: "2026-06" }, "en"), "2026-06");
});

test("the query keeps only chosen filters; the ledger links carry the period, unit (and case filters)", () => {
  const f = { from: "2026-04-01", to: "2026-06-30", at: "", unit_id: "u1", channel: "", category: "odour", bucket: "week" };
  assert.equal(statsQuery(f), "from=2026-04-01&to=2026-06-30&unit_id=u1&category=odour&bucket=week");
  const links = Object.fromEntries(ledgerLinks(f).map((l) => [l.key, l.href]));
  assert.equal(links.ledgerXlsx, "/api/reports/ledger.xlsx?from=2026-04-01&to=2026-06-30&unit_id=u1&category=odour");
  assert.equal(links.ledgerCsv, "/api/reports/ledger.csv?from=2026-04-01&to=2026-06-30&unit_id=u1&category=odour");
  assert.equal(links.revisitsXlsx, "/api/reports/revisits.xlsx?from=2026-04-01&to=2026-06-30&unit_id=u1");
  assert.equal(links.repeatsXlsx, "/api/reports/repeats.xlsx");
  assert.equal(ledgerLinks({}).find((l) => l.key === "ledgerXlsx").href, "/api/reports/ledger.xlsx");
  // Each made as a job of the same filters (the chosen ones only).
  const jobs = Object.fromEntries(ledgerLinks(f).map((l) => [l.key, l.job]));
  assert.deepEqual(jobs.ledgerXlsx, { kind: "case_ledger", params: {
    format: "xlsx", from: "2026-04-01", to: "2026-06-30", unit_id: "u1", category: "odour" } });
  assert.deepEqual(jobs.ledgerCsv.params.format, "csv");
  assert.deepEqual(jobs.revisitsXlsx, { kind: "revisit_ledger", params: {
    from: "2026-04-01", to: "2026-06-30", unit_id: "u1" } });
  assert.deepEqual(jobs.repeatsXlsx, { kind: "repeat_list", params: {} });
  assert.equal(statsQuery({ from: "2026-01-01&x=1" }), "from=2026-01-01%26x%3D1", "values are encoded");
});

test("dates are the offices' (Asia/Shanghai), the default period three months to today", () => {
  // 2026-06-30 20:00 UTC is already 07-01 in Shanghai.
  const now = new Date("2026-06-30T20:00:00Z");
  assert.equal(localDate(now), "2026-07-01");
  const f = defaultFilters(now);
  assert.equal(f.to, "2026-07-01");
  assert.equal(f.from, "2026-05-01");
  assert.equal(f.bucket, "week");
  assert.equal(defaultFilters(new Date("2026-02-10T04:00:00Z")).from, "2025-12-01");
  assert.equal(periodDays("2026-01-01", "2026-12-31"), 365);
  assert.equal(periodDays("2026-01-01", "bad"), null);
});

test("Chart.js gets bars by name (horizontal), a line by period, in the theme's colours", () => {
  const red = { accent: "#ff4040", text: "#ff4a4a", muted: "#e03a3a", grid: "#4a0000" };
  const bars = chartConfig(countSeries(ANSWER, "by_category", "zh"), { colours: red, title: "按类别", horizontal: true });
  assert.equal(bars.type, "bar");
  assert.equal(bars.options.indexAxis, "y");
  assert.deepEqual(bars.data.datasets[0].data, [12, 5, 5]);
  assert.equal(bars.data.datasets[0].backgroundColor, "#ff4040");
  assert.equal(bars.options.scales.x.ticks.color, "#e03a3a");
  assert.equal(bars.options.scales.y.grid.color, "#4a0000");
  assert.equal(bars.options.animation, false);
  const line = chartConfig(countSeries(ANSWER, "by_period", "en"), { colours: red, title: "By period" });
  assert.equal(line.type, "line");
  assert.equal(line.options.indexAxis, "x");
  assert.deepEqual(line.data.labels, ["2026 wk 23", "2026 wk 24"]);
});

test("a horizontal chart grows with its rows; the canvas is named by its biggest numbers", () => {
  const s = countSeries(ANSWER, "by_category", "zh");
  assert.ok(chartHeight({ rows: new Array(20) }, true) > chartHeight(s, true));
  assert.equal(chartHeight(s, false), 240);
  assert.equal(chartSummary(s, "按类别", "zh", 2), "按类别：异味 12，油烟 5……");
  assert.equal(chartSummary(countSeries(ANSWER, "by_period", "en"), "By period", "en"),
    "By period: 2026 wk 23 15, 2026 wk 24 7");
  assert.equal(chartSummary(countSeries({}, "by_unit", "en"), "By unit", "en"), "By unit: —");
});

test("the channel picker names channels, not the feedback or revisit methods of the same value", async () => {
  globalThis.localStorage ??= { getItem: () => null, setItem: () => {} };
  globalThis.document ??= { documentElement: {} };
  const { setLabels, setLang, term } = await import("../js/i18n.js");
  const labels = JSON.parse(readFileSync(new URL("../../server/domain/data/vocab_labels.json", import.meta.url), "utf8"));
  setLabels(labels);
  setLang("zh");
  for (const value of ["phone", "letter", "online"]) {
    assert.equal(term(value), labels.channels[value].zh, value);
  }
  assert.equal(term("method.phone"), labels.revisit_methods.phone.zh);
});
