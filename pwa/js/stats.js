// Rates and counts (GET /api/stats) turned into what the page draws: rate tiles, chart
// data and the table rows under each chart, and the ledger links for the chosen period.
// Pure functions (no DOM, no network): the node tests run them on the API's answers.

const FILTERS = ["from", "to", "at", "unit_id", "channel", "category", "bucket"];
export const COUNT_GROUPS = ["by_category", "by_channel", "by_unit", "by_period"];
export const BUCKETS = ["day", "week", "month"];
const MS_DAY = 86400000;

// A date (YYYY-MM-DD) as the offices' clock reads it (Asia/Shanghai), whatever the phone's
// own time zone: the server reads the period's dates the same way.
export function localDate(now = new Date()) {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric",
    month: "2-digit", day: "2-digit" }).format(now);
}

function addDays(date, days) {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * MS_DAY).toISOString().slice(0, 10);
}

// The period the page opens on: the last three calendar months to today, by week.
export function defaultFilters(now = new Date()) {
  const today = localDate(now);
  const [y, m] = today.split("-").map(Number);
  const start = new Date(Date.UTC(y, m - 3, 1)).toISOString().slice(0, 10);
  return { from: start, to: today, at: "", unit_id: "", channel: "", category: "", bucket: "week" };
}

// Days in [from, to], both ends counted; null when a date is missing or malformed.
export function periodDays(from, to) {
  const a = Date.parse(`${from}T00:00:00Z`);
  const b = Date.parse(`${to}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(from || "") || !/^\d{4}-\d{2}-\d{2}$/.test(to || "")
    || Number.isNaN(a) || Number.isNaN(b)) return null;
  return Math.round((b - a) / MS_DAY) + 1;
}

// The query string of the chosen filters, empty ones left out (the server's defaults).
export function statsQuery(filters) {
  const params = new URLSearchParams();
  for (const key of FILTERS) {
    const value = String(filters?.[key] ?? "").trim();
    if (value) params.set(key, value);
  }
  return params.toString();
}

// The ledgers' downloads for the same period and unit; the case ledger also narrows by
// channel and category, the revisit ledger does not; the repeat list has no period (it is
// the list as it stands). `job`: what POST /api/jobs is asked to make the same file (the
// page makes each ledger as a job; `href` is the same file made while one waits).
export function ledgerLinks(filters) {
  const f = filters || {};
  const withQuery = (path, query) => (query ? `${path}?${query}` : path);
  const cases = statsQuery({ from: f.from, to: f.to, unit_id: f.unit_id, channel: f.channel, category: f.category });
  const period = statsQuery({ from: f.from, to: f.to, unit_id: f.unit_id });
  // The job's parameters: the same chosen filters as the link's query.
  const caseFilters = Object.fromEntries(new URLSearchParams(cases));
  const periodFilters = Object.fromEntries(new URLSearchParams(period));
  return [
    { key: "ledgerXlsx", href: withQuery("/api/reports/ledger.xlsx", cases), kind: "xlsx",
      job: { kind: "case_ledger", params: { format: "xlsx", ...caseFilters } } },
    { key: "ledgerCsv", href: withQuery("/api/reports/ledger.csv", cases), kind: "csv",
      job: { kind: "case_ledger", params: { format: "csv", ...caseFilters } } },
    { key: "repeatsXlsx", href: "/api/reports/repeats.xlsx", kind: "xlsx",
      job: { kind: "repeat_list", params: {} } },
    { key: "revisitsXlsx", href: withQuery("/api/reports/revisits.xlsx", period), kind: "xlsx",
      job: { kind: "revisit_ledger", params: periodFilters } },
  ];
}

// A {zh, en} pair (or a plain string) in the language asked, the other one failing that.
export function pick(text, lang) {
  if (text == null) return "";
  if (typeof text !== "object") return String(text);
  return text[lang] ?? text.en ?? text.zh ?? "";
}

// Each rate as a tile: its name, percent, "numerator / denominator" and its definition.
export function rateTiles(answer, lang) {
  return (answer?.rates || []).map((rate) => ({
    code: rate.code,
    label: pick(rate.label, lang) || rate.code,
    percent: rate.percent ?? null,
    value: rate.value ?? null,
    numerator: rate.numerator ?? 0,
    denominator: rate.denominator ?? 0,
    definition: pick(rate.definition, lang),
    numeratorMeans: pick(rate.numerator_means, lang),
    denominatorMeans: pick(rate.denominator_means, lang),
  }));
}

// A period bucket's name: "2026-W23" as "2026年第23周" / "2026 wk 23", a month as it is.
export function periodLabel(item, lang) {
  const week = /^(\d{4})-W(\d{1,2})$/.exec(item?.key || "");
  if (week) return lang === "zh" ? `${week[1]}年第${Number(week[2])}周` : `${week[1]} wk ${Number(week[2])}`;
  const month = /^(\d{4})-(\d{2})$/.exec(item?.key || "");
  if (month) return lang === "zh" ? `${month[1]}年${Number(month[2])}月` : `${month[1]}-${month[2]}`;
  return String(item?.key ?? "");
}

// One group of counts as table rows and chart series: by period in time order, the others
// largest first (ties by name), as the server labels them.
export function countSeries(answer, group, lang) {
  const items = answer?.counts?.[group] || [];
  let rows = items.map((item) => ({
    key: String(item.key ?? ""),
    label: group === "by_period" ? periodLabel(item, lang) : pick(item.label, lang) || String(item.key ?? ""),
    count: Number(item.count) || 0,
    from: item.from || null,
    to: item.to || null,
  }));
  if (group === "by_period") rows = rows.sort((a, b) => String(a.from || a.key).localeCompare(String(b.from || b.key)));
  else rows = rows.sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
  const total = rows.reduce((sum, row) => sum + row.count, 0);
  return { group, rows, total, labels: rows.map((r) => r.label), values: rows.map((r) => r.count) };
}

// Chart.js's configuration for one series, in the page's colours (read from the theme's
// CSS variables, so night-vision red draws red on black). No animation: the numbers are
// there at once, and a phone spends no battery on them.
export function chartConfig(series, { colours, title, horizontal = false }) {
  const line = series.group === "by_period";
  const c = { accent: "#4fa3ff", text: "#e8eaed", muted: "#9aa3ad", grid: "#2a3038", ...colours };
  const axis = {
    ticks: { color: c.muted, precision: 0, autoSkip: true, maxRotation: 0, font: { size: 13 } },
    grid: { color: c.grid },
    border: { color: c.grid },
  };
  return {
    type: line ? "line" : "bar",
    data: {
      labels: series.labels,
      datasets: [{
        label: title,
        data: series.values,
        backgroundColor: c.accent,
        borderColor: c.accent,
        borderWidth: line ? 2 : 0,
        pointRadius: line ? 3 : undefined,
        fill: false,
        tension: 0,
        maxBarThickness: 36,
      }],
    },
    options: {
      indexAxis: horizontal ? "y" : "x",
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      color: c.text,
      plugins: {
        legend: { display: false },
        title: { display: false },
        tooltip: { enabled: true },
      },
      scales: {
        x: { ...axis, beginAtZero: true },
        y: { ...axis, beginAtZero: true },
      },
    },
  };
}

// A bar per row needs room: horizontal bars (names read across) get 28 px a row.
export function chartHeight(series, horizontal) {
  if (!horizontal) return 240;
  return Math.max(120, 40 + 28 * series.rows.length);
}

// The canvas's name for a screen reader: what it shows and its biggest numbers (the
// table below holds them all).
export function chartSummary(series, title, lang, top = 3) {
  const sep = lang === "zh" ? "：" : ": ";
  const join = lang === "zh" ? "，" : ", ";
  if (!series.rows.length) return `${title}${sep}—`;
  const shown = (series.group === "by_period" ? series.rows.slice(-top) : series.rows.slice(0, top))
    .map((r) => `${r.label} ${r.count}`);
  return `${title}${sep}${shown.join(join)}${series.rows.length > top ? (lang === "zh" ? "……" : "…") : ""}`;
}
