// Rates and counts (办结率、及时率、回访率、满意度…) for the office and leaders: a period of
// received cases, an "as of" date, a unit, channel and category; each rate with its
// numerator, denominator and definition beside it; the counts as charts (Chart.js) with
// their numbers as a real table under each; and the ledgers' downloads for the same period.
import { api } from "../../api.js";
import { drawChart, loadChartJs, themeColours } from "../../charts.js";
import { getLang, t, term } from "../../i18n.js";
import { isLeader } from "../../leaders.js";
import { jobFollower } from "../../jobfollow.js";
import { go } from "../../nav.js";
import { JOB_MEMORY, cachedGet, isManager, state, vocab } from "../../state.js";
import { BUCKETS, COUNT_GROUPS, chartConfig, chartHeight, chartSummary, countSeries,
  defaultFilters, ledgerLinks, rateTiles, statsQuery } from "../../stats.js";
import { errorRef, errorText, fmtTime, html, safeUrl } from "../../ui.js";

const KEY = "fieldcase.statsFilters";
const TITLES = { by_category: "countsByCategory", by_channel: "countsByChannel",
  by_unit: "countsByUnit", by_period: "countsByPeriod" };

// Who reads the rates: the server's role set when it names one, else the office and leaders.
export function mayReadStats() {
  const set = state.vocab?.role_sets?.report;
  if (set) return set.includes(state.session?.user?.role);
  return isManager() || isLeader();
}

function fill(text, values) {
  return Object.entries(values).reduce((out, [k, v]) => out.replaceAll(`{${k}}`, v), text);
}

function filtersForm(f, v, units) {
  const options = (values, selected) => [html`<option value="">${t("any")}</option>`,
    ...values.map((x) => html`<option value="${x}" ${x === selected ? "selected" : ""}>${term(x)}</option>`)];
  return html`<form id="stats-filters" class="filters stats-filters" role="search">
    <label>${t("statsFrom")} <input type="date" name="from" id="stats-from" value="${f.from}" required></label>
    <label>${t("statsTo")} <input type="date" name="to" id="stats-to" value="${f.to}" required></label>
    <label>${t("statsAt")} <input type="date" name="at" id="stats-at" value="${f.at}"
      aria-describedby="stats-at-hint"></label>
    <label>${t("unit")} <select name="unit_id" id="stats-unit"><option value="">${t("everyUnit")}</option>
      ${units.map((u) => html`<option value="${u.id}" ${u.id === f.unit_id ? "selected" : ""}>${u.name}</option>`)}</select></label>
    <label>${t("channel")} <select name="channel" id="stats-channel">${options(v.channels || [], f.channel)}</select></label>
    <label>${t("category")} <select name="category" id="stats-category">${options(v.categories || [], f.category)}</select></label>
    <label>${t("statsBucket")} <select name="bucket" id="stats-bucket">
      ${BUCKETS.map((b) => html`<option value="${b}" ${b === f.bucket ? "selected" : ""}>${t(`statsBucket.${b}`)}</option>`)}</select></label>
    <button type="submit" class="primary" id="stats-apply">${t("statsApply")}</button>
    <p class="muted small stats-hint" id="stats-at-hint">${t("statsAtHint")}</p>
  </form>`;
}

function tile(r) {
  const none = r.percent == null;
  return html`<li class="rate-tile card" id="rate-${r.code}" data-code="${r.code}">
    <div class="rate-figure">
      <h3 class="rate-name">${r.label}</h3>
      <p class="rate-percent" data-value="${r.value ?? ""}">${none ? "—" : r.percent}</p>
      <p class="rate-fraction"><span class="rate-numerator">${r.numerator}</span> / <span class="rate-denominator">${r.denominator}</span></p>
      ${none ? html`<p class="muted small">${t("statsNoDenominator")}</p>` : ""}
    </div>
    <dl class="rate-definition">
      ${r.definition ? html`<dt>${t("statsDefinition")}</dt><dd class="rate-def">${r.definition}</dd>` : ""}
      <dt>${t("statsNumerator")} <span class="muted">${r.numerator}</span></dt><dd class="rate-num-means">${r.numeratorMeans}</dd>
      <dt>${t("statsDenominator")} <span class="muted">${r.denominator}</span></dt><dd class="rate-den-means">${r.denominatorMeans}</dd>
    </dl>
  </li>`;
}

function dataTable(series, title) {
  const period = series.group === "by_period";
  return html`<details class="data-table" id="table-${series.group}">
    <summary>${t("statsDataTable")}</summary>
    <div class="table-wrap"><table class="data">
      <caption class="sr-only">${title}</caption>
      <thead><tr><th scope="col">${period ? t("statsPeriodCol") : t("statsName")}</th>
        ${period ? html`<th scope="col">${t("statsDates")}</th>` : ""}
        <th scope="col" class="n">${t("statsCount")}</th></tr></thead>
      <tbody>${series.rows.map((r) => html`<tr data-key="${r.key}">
        <th scope="row">${r.label}</th>
        ${period ? html`<td>${r.from || ""}${r.to ? ` – ${r.to}` : ""}</td>` : ""}
        <td class="n">${r.count}</td></tr>`)}</tbody>
      <tfoot><tr><th scope="row">${t("total")}</th>${period ? html`<td></td>` : ""}<td class="n">${series.total}</td></tr></tfoot>
    </table></div>
  </details>`;
}

function chartFigure(series) {
  const title = t(TITLES[series.group]);
  return html`<figure class="stat-chart card" id="chart-${series.group}" data-group="${series.group}">
    <figcaption><h3>${title}</h3> <span class="muted small">${t("total")} ${series.total}</span></figcaption>
    ${series.rows.length ? html`<div class="chart-box"><canvas role="img" id="canvas-${series.group}"
      aria-label="${chartSummary(series, title, getLang())}">${t("statsSeeTable")}</canvas></div>
      <p class="muted small chart-failed" hidden>${t("statsChartFailed")}</p>`
    : html`<p class="muted">${t("statsNoData")}</p>`}
    ${dataTable(series, title)}
  </figure>`;
}

// Each ledger is made on the server as a job: a click asks for it, and the panel under the
// links follows it to its download (the batch closure files' panel, jobfollow.js).
function ledgersSection(links) {
  return html`<section class="ledgers card" id="ledgers" aria-labelledby="ledgers-title">
    <h2 id="ledgers-title">${t("ledgersTitle")}</h2>
    <p class="muted small">${t("ledgersHint")}</p>
    <ul class="ledger-links">${links.map((l) => html`<li>
      <a class="button ledger-link" id="ledger-${l.key}" href="${safeUrl(l.href)}" download data-kind="${l.kind}"
        data-ledger="${l.key}">${t(l.key)}</a></li>`)}</ul>
    <p class="small batch-busy" id="ledger-busy" role="status" hidden></p>
    <div class="refusal" id="ledger-problem" role="alert" hidden></div>
    <section class="batch-job card" id="ledger-job" aria-labelledby="job-title" hidden></section>
  </section>`;
}

// A click on a ledger asks the server for it as a job; a refusal (a period too long, a
// unit not one's own) is said beside the links, in words.
function wireLedgers(view, links) {
  const section = view.querySelector("#ledgers");
  const jobs = jobFollower(view, { slot: "#ledger-job", memory: JOB_MEMORY.ledger });
  section.addEventListener("click", async (event) => {
    const link = event.target.closest("a[data-ledger]");
    if (!link) return;
    event.preventDefault();
    if (section.dataset.busy) return;
    const wanted = links.find((l) => l.key === link.dataset.ledger);
    const busy = section.querySelector("#ledger-busy");
    const problem = section.querySelector("#ledger-problem");
    const label = link.textContent.trim();
    section.dataset.busy = wanted.key;
    link.setAttribute("aria-busy", "true");
    busy.textContent = `${t("batchMaking")} ${label}`;
    busy.hidden = false;
    problem.hidden = true;
    try {
      jobs.start(await api("POST", "/api/jobs", { body: wanted.job }), label);
      section.querySelector("#ledger-job")?.scrollIntoView({ block: "nearest" });
    } catch (error) {
      problem.innerHTML = html`<p data-code="${error.problem?.code || error.kind || ""}"><b>${t("batchFailed")}</b>
        ${errorText(error)}${errorRef(error)}</p>`.toString();
      problem.hidden = false;
    } finally {
      delete section.dataset.busy;
      link.removeAttribute("aria-busy");
      busy.hidden = true;
    }
  });
  jobs.resume();
}

function scopeLine(answer) {
  const parts = [fill(t("statsPeriodLine"), { from: answer.period?.from || "", to: answer.period?.to || "" })];
  const unit = answer.scope?.unit;
  if (unit?.name) parts.push(unit.name);
  if (answer.scope?.channel) parts.push(term(answer.scope.channel));
  if (answer.scope?.category) parts.push(term(answer.scope.category));
  return parts.join(" · ");
}

function body(answer, series) {
  return html`
    <p class="stats-asof" id="stats-asof" role="status"><strong>${fill(t("statsAsOf"), { at: fmtTime(answer.as_of) })}</strong>
      <span class="muted small">${scopeLine(answer)}</span></p>
    <h2>${t("statsRates")}</h2>
    <ul class="rate-tiles" id="rate-tiles">${rateTiles(answer, getLang()).map(tile)}</ul>
    <h2>${t("statsCounts")}</h2>
    <div class="stat-charts">${series.map(chartFigure)}</div>`;
}

// Charts drawn onto the canvases just rendered; a library that fails to load leaves the
// tables, which hold every number.
async function drawAll(root, series, charts) {
  let Chart;
  try {
    Chart = await loadChartJs();
  } catch {
    for (const note of root.querySelectorAll(".chart-failed")) note.hidden = false;
    return;
  }
  if (!root.isConnected) return;
  const colours = themeColours();
  for (const s of series) {
    const canvas = root.querySelector(`#canvas-${s.group}`);
    if (!canvas) continue;
    const horizontal = s.group !== "by_period";
    canvas.parentElement.style.height = `${chartHeight(s, horizontal)}px`;
    charts.push(drawChart(Chart, canvas, chartConfig(s, { colours, title: t(TITLES[s.group]), horizontal }), colours.font));
  }
  root.dataset.drawn = String(charts.length);  // for tests: the charts are on their canvases
}

export async function renderStats(view) {
  if (!mayReadStats()) {
    view.innerHTML = html`<p class="error" role="alert">${t("statsForbidden")}</p>`;
    return null;
  }
  const v = await vocab();
  const f = { ...defaultFilters(), ...JSON.parse(sessionStorage.getItem(KEY) || "{}") };
  let units = [];
  try { units = (await cachedGet("/api/units")).items || []; } catch { units = []; }
  const links = ledgerLinks(f);
  view.innerHTML = html`<section class="stats" id="stats">
    <h1>${t("statsTitle")}</h1>
    <details class="filters-box stats-filters-box" ${globalThis.innerWidth >= 700 ? "open" : ""}>
      <summary>${t("filters")}</summary>
      ${filtersForm(f, v, units)}</details>
    <div id="stats-body" aria-live="polite"><p class="muted">${t("loading")}</p></div>
    ${ledgersSection(links)}
  </section>`;
  wireLedgers(view, links);
  const charts = [];
  const clear = () => { while (charts.length) charts.pop().destroy(); };
  const out = view.querySelector("#stats-body");
  view.querySelector("#stats-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, JSON.stringify(Object.fromEntries(new FormData(event.target))));
    go("#/stats");  // the router destroys these charts and draws the page again
  });
  let answer;
  try {
    answer = await api("GET", `/api/stats?${statsQuery(f)}`);
  } catch (error) {
    out.innerHTML = html`<p class="error" role="alert" id="stats-error">${errorText(error)}${errorRef(error)}</p>`;
    view.querySelector(".stats-filters-box").open = true;  // the dates to mend, in sight
    return clear;
  }
  if (!view.isConnected) return clear;
  const series = COUNT_GROUPS.map((g) => countSeries(answer, g, getLang()));
  out.innerHTML = body(answer, series);
  await drawAll(out, series, charts);
  return clear;
}
