// The office's batch download on the case list (批量下载): closed cases ticked, or every
// case closed in a period (and unit), then their closure file (办结材料), its public
// version (办结公示) and their archive (归档包) in one file each. The files come from the
// server's batch endpoints (`case=` repeated, or `closed_from`/`closed_to`/`unit`; at most
// MAX_BATCH); the documents may put two photos on a page (`per_page=2`). A refusal is read
// from the server's problem and said in words.
import { ApiError, readAnswer } from "./api.js";
import { getLang, has, t, term } from "./i18n.js";
import { errorRef, errorText, html, safeUrl } from "./ui.js";

// The server's limit on the cases of one file or archive (BatchOnlySchema, MAX_BATCH).
export const MAX_BATCH = 50;

export const isClosed = (item) => item?.status === "closed";

// The files a batch downloads: [id, path, query beside the cases, label key].
const FILES = [
  ["closure-docx", "/api/closure-files.docx", "", "closureDocx"],
  ["closure-pdf", "/api/closure-files.pdf", "", "closurePdf"],
  ["public-docx", "/api/closure-files.docx", "public=1", "publicDocx"],
  ["public-pdf", "/api/closure-files.pdf", "public=1", "publicPdf"],
  ["archive-zip", "/api/archives.zip", "", "archiveZip"],
];

// The five links for a batch named by `query` (the cases, or a period); `perPage` 2 asks
// the documents (not the archive, whose files are the office's own) for two photos a page.
function fileLinks(query, perPage) {
  const twoUp = perPage === 2 ? "per_page=2" : "";
  return FILES.map(([id, path, extra, label]) => ({
    id, label: t(label),
    href: `${path}?${[query, extra, id === "archive-zip" ? "" : twoUp].filter(Boolean).join("&")}`,
  }));
}

export function batchLinks(ids, { perPage = 1 } = {}) {
  return fileLinks(ids.map((id) => `case=${encodeURIComponent(id)}`).join("&"), perPage);
}

// The links for the cases closed from `from` to `to` (YYYY-MM-DD, both days included), of
// `unit` and the units below it when one is chosen; none until both days are given.
export function periodLinks({ from = "", to = "", unit = "" } = {}, { perPage = 1 } = {}) {
  if (!from || !to) return [];
  const query = new URLSearchParams({ closed_from: from, closed_to: to });
  if (unit) query.set("unit", unit);
  return fileLinks(String(query), perPage).map((link) => ({ ...link, id: `period-${link.id}` }));
}

// "Two photos a page": 50 photos on 25 pages instead of 50.
function perPageBox(id, perPage) {
  return html`<label class="per-page small"><input type="checkbox" id="${id}" class="per-page-box"
    ${perPage === 2 ? "checked" : ""}> <span>${t("batchTwoUp")}</span></label>`;
}

// The links as buttons; disabled while the batch is over the limit.
function downloadList(id, links, disabled = false) {
  return html`<ul class="batch-downloads" id="${id}">${links.map((link) => html`
    <li><a class="button" id="batch-${link.id}" data-batch="${link.id}"
      ${disabled ? html`aria-disabled="true"` : html`href="${safeUrl(link.href)}" download`}>${link.label}</a></li>`)}</ul>`;
}

// A batch by closing period (a month's files at once) and unit: always offered to the
// office, whatever the list shows, folded until used (on a phone it would push the list a
// screen down). `units`: [{id, name}] the user sees. The files part is redrawn alone as
// the form changes (the form keeps its focus).
export function periodBar(period, units, { perPage = 1 } = {}) {
  return html`
    <details class="batch-period card" id="batch-period" ${period.from || period.to ? "open" : ""}>
      <summary><h2 id="period-title">${t("batchByPeriod")}</h2></summary>
      <form class="period-form" id="period-form">
        <label>${t("batchClosedFrom")} <input type="date" name="from" id="period-from" value="${period.from || ""}"></label>
        <label>${t("batchClosedTo")} <input type="date" name="to" id="period-to" value="${period.to || ""}"></label>
        <label>${t("unit")} <select name="unit" id="period-unit">${unitOptions(units, period.unit)}</select></label>
        ${perPageBox("period-per-page", perPage)}
      </form>
      <div id="period-files">${periodFiles(period, { perPage })}</div>
      <p class="small batch-busy" id="period-busy" role="status" hidden></p>
      <div class="refusal" id="period-problem" role="alert" hidden></div>
    </details>`;
}

export function unitOptions(units, selected = "") {
  return [html`<option value="">${t("batchAllUnits")}</option>`,
    ...units.map((u) => html`<option value="${u.id}" ${u.id === selected ? "selected" : ""}>${u.name}</option>`)];
}

export function periodFiles(period, { perPage = 1 } = {}) {
  const links = periodLinks(period, { perPage });
  return html`<p class="muted small" id="period-note">${links.length
    ? t("batchPeriodNote").replace("{n}", String(MAX_BATCH)) : t("batchPeriodHint")}</p>
    ${links.length ? downloadList("period-downloads", links) : ""}`;
}

// The checkbox in a closed case's row; the unticked ones are disabled once MAX_BATCH are.
export function pickBox(item, selected) {
  const on = selected.has(item.id);
  const full = !on && selected.size >= MAX_BATCH;
  return html`<label class="pick" title="${full ? t("batchFull") : t("batchPick")}">
    <input type="checkbox" class="batch-pick" value="${item.id}" ${on ? "checked" : ""}
      ${full ? "disabled" : ""} aria-label="${t("batchPick")}: ${item.subject || item.id}"></label>`;
}

// "3 件已选", the limit, and what to do about it.
export function batchCount(size) {
  return t("batchSelected").replace("{n}", String(size));
}

// The bar above the list: select all shown, how many are ticked, the five files; and a
// button that brings the bar back into view from further down the list (shown by the view
// while the files are off screen).
export function batchBar(closedShown, selected, { perPage = 1 } = {}) {
  const ids = closedShown.map((c) => c.id).filter((id) => selected.has(id));
  const all = closedShown.length > 0 && closedShown.slice(0, MAX_BATCH).every((c) => selected.has(c.id));
  const some = ids.length > 0 && !all;
  const over = ids.length > MAX_BATCH;
  const links = batchLinks(ids, { perPage });
  return html`
    <section class="batch card" id="batch" aria-labelledby="batch-title" data-selected="${String(ids.length)}">
      <div class="batch-head">
        <h2 id="batch-title">${t("batchTitle")}</h2>
        <label class="pick-all"><input type="checkbox" id="batch-all" ${all ? "checked" : ""}
          ${some ? html`data-indeterminate="1"` : ""}>
          <span>${t("batchSelectAll").replace("{n}", String(Math.min(closedShown.length, MAX_BATCH)))}</span></label>
        <span class="batch-count" id="batch-count" role="status" aria-live="polite">${batchCount(ids.length)}</span>
      </div>
      <p class="muted small batch-limit ${selected.size >= MAX_BATCH ? "at-limit" : ""}" id="batch-limit">${
        closedShown.length > MAX_BATCH ? t("batchFirstOnly").replace(/\{n\}/g, String(MAX_BATCH))
          : t("batchLimit").replace("{n}", String(MAX_BATCH))}
        ${ids.length ? "" : html`<span id="batch-hint">${t("batchHint")}</span>`}</p>
      ${ids.length ? perPageBox("batch-per-page", perPage) : ""}
      ${ids.length ? downloadList("batch-downloads", links, over) : ""}
      <p class="small batch-busy" id="batch-busy" role="status" hidden></p>
      <div class="refusal" id="batch-problem" role="alert" hidden></div>
      ${ids.length ? html`<button type="button" class="primary batch-jump" id="batch-jump" hidden>
        ↑ ${t("batchJump").replace("{n}", String(ids.length))}</button>` : ""}
    </section>`;
}

// The name the server gives the file (Content-Disposition, RFC 6266).
export function fileName(disposition, fallback) {
  const star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition || "");
  if (star) {
    try {
      return decodeURIComponent(star[1].trim());
    } catch { /* the plain name below */ }
  }
  const plain = /filename\s*=\s*"?([^";]+)"?/i.exec(disposition || "");
  return plain ? plain[1].trim() : fallback;
}

// The file's bytes, or an ApiError with the server's problem (a refusal is JSON; a hotel
// Wi-Fi's login page is HTML, which is not the file either).
export async function fetchFile(href) {
  let response;
  try {
    response = await fetch(href, { credentials: "same-origin", cache: "no-store" });
  } catch {
    throw new ApiError("offline", 0, null, "network");
  }
  const type = response.headers.get("Content-Type") || "";
  if (!response.ok || /json|text\/html/.test(type)) {
    await readAnswer(response); // throws the problem (or "portal")
    throw new Error(t("error"));
  }
  const fallback = href.split("?")[0].split("/").pop();
  return { blob: await response.blob(), name: fileName(response.headers.get("Content-Disposition"), fallback) };
}

// Hand the bytes to the browser as a download.
export function saveFile({ blob, name }) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = safeUrl(url);
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// Why the server made no file, in words (Chinese first; the server's English detail after
// where it adds the numbers). `subjects` names the cases by id.
export function batchRefusal(error, subjects = new Map(), { period = false } = {}) {
  const p = error?.problem || {};
  const [open, close] = getLang() === "zh" ? ["「", "」"] : ["“", "”"];
  const named = (id) => (subjects.get(id) ? `${open}${subjects.get(id)}${close}` : id || "");
  const detail = p.detail ? html` <span class="small" lang="en">${p.detail}</span>` : "";
  switch (p.code) {
    case "closure.too_many_photos":
      return html`<p data-code="${p.code}"><b>${t("batchTooManyPhotos")}</b>${detail}</p>`;
    case "closure.too_many_cases":
      return html`<p data-code="${p.code}"><b>${t(period ? "batchPeriodTooMany" : "batchTooManyCases")
        .replace("{n}", String(MAX_BATCH))}</b></p>`;
    case "closure.not_closed":
      return html`<p data-code="${p.code}"><b>${t("batchNotClosed").replace("{case}", named(p.case_id))
        .replace("{status}", p.case_status ? term(p.case_status) : "")}</b></p>`;
    case "closure.not_sealed":
      return html`<p data-code="${p.code}"><b>${t("batchNotSealed").replace("{case}", named(p.case_id))}</b></p>`;
    case "case.not_found":
      return html`<p data-code="${p.code}"><b>${t("batchNotFound").replace("{case}", named(p.case_id))}</b></p>`;
    case "closure.forbidden":
      return html`<p data-code="${p.code}"><b>${t("batchForbidden")}</b></p>`;
    case "closure.no_cases":
      return html`<p data-code="${p.code}"><b>${t("batchHint")}</b></p>`;
    case "closure.none_in_period":
      return html`<p data-code="${p.code}"><b>${t("batchNoneInPeriod")}</b></p>`;
    case "closure.bad_period":
      return html`<p data-code="${p.code}"><b>${t("batchBadPeriod")}</b></p>`;
    default:
      return html`<p data-code="${p.code || error?.kind || ""}"><b>${t("batchFailed")}</b> ${errorText(error)}${errorRef(error)}</p>`;
  }
}

// ---- batch files as jobs (the server makes them in the background) ---------------------
// A click on one of the files starts a job (POST /api/jobs) with the link's own batch: its
// path says the kind and format, its query the cases (or period), audience and layout. The
// links keep their hrefs (the synchronous downloads) for a browser without scripts.
export function jobRequest(href) {
  const url = new URL(href, "http://local");
  const query = url.searchParams;
  const params = {};
  const cases = query.getAll("case");
  if (cases.length) params.case = cases;
  for (const key of ["closed_from", "closed_to", "unit"]) if (query.get(key)) params[key] = query.get(key);
  if (url.pathname.endsWith("/archives.zip")) return { kind: "archive", params };
  params.format = url.pathname.endsWith(".docx") ? "docx" : "pdf";
  if (query.get("public") === "1") params.public = true;
  if (query.get("per_page") === "2") params.per_page = 2;
  return { kind: "closure_file", params };
}

export const jobFinished = (job) => job?.state === "done" || job?.state === "failed";

// "1.2 MB": the size of the file made.
export function fmtSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

// The share done, 0–100 (a finished job is 100; one not started 0).
export function jobPercent(job) {
  if (job?.state === "done") return 100;
  const { done = 0, total = 0 } = job?.progress || {};
  return total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
}

// The job's panel: what it makes, its stage and progress bar while it runs, then the
// download with the file's name, size and SHA-256; a failed job says why, in words.
// Codes batchRefusal says in its own words (the job's words may add the detail); any other
// (job.failed, job.unavailable, job.worker_lost...) is said once, in the server's words.
const OWN_WORDS = new Set(["closure.too_many_photos", "closure.too_many_cases", "closure.not_closed",
  "closure.not_sealed", "case.not_found", "closure.forbidden", "closure.no_cases",
  "closure.none_in_period", "closure.bad_period"]);

// While following a job: how long to wait before the next look (ms), after `failures`
// failed looks in a row: 0.7 s, then doubling up to 30 s.
export function pollDelay(failures = 0) {
  return Math.min(30000, 700 * 2 ** Math.max(0, Math.min(failures, 10)));
}

// What a failed look means: "gone" (404: not ours, or no longer), "session" (401: stop,
// log in again), else "retry" (no network, 5xx, 429: say so and try again later).
export function pollTrouble(error) {
  if (error?.status === 404) return "gone";
  if (error?.status === 401 || error?.kind === "auth") return "session";
  return "retry";
}

export function jobPanel(job, label = "", subjects = new Map(), { note = "" } = {}) {
  const pct = jobPercent(job);
  const { done = 0, total = 0 } = job.progress || {};
  const key = `jobStage.${job.stage || job.state}`;
  const stage = t(has(key) ? key : "jobStage.running");
  const title = { done: "jobTitleDone", failed: "jobTitleFailed" }[job.state] || "jobTitle";
  const head = html`<h2 id="job-title">${t(title)}${label ? html`：<span id="job-label">${label}</span>` : ""}</h2>${
    note ? html`<p class="job-note" id="job-note" role="status">${note}</p>` : ""}`;
  if (job.state === "done" && job.result) {
    const r = job.result;
    return html`${head}
      <p class="job-ready" role="status">${t("jobReady")}</p>
      <a class="button primary job-download" id="job-download" href="${safeUrl(r.url)}" download="${r.filename}">
        ⬇ ${t("jobDownload")} <span class="job-file" id="job-file">${r.filename}</span></a>
      <dl class="job-facts">
        <dt>${t("jobSize")}</dt><dd id="job-size">${fmtSize(r.size)}</dd>
        <dt>SHA-256</dt><dd><code class="job-sha" id="job-sha">${r.sha256}</code></dd>
      </dl>
      <p class="muted small">${t("hashNote")}</p>
      <button type="button" class="lite" id="job-close">${t("jobClose")}</button>`;
  }
  if (job.state === "done") {  // done, its file no longer kept (job.expired): no download
    return html`${head}
      <p class="refusal" id="job-error" role="alert" data-code="job.expired">${t("jobExpired")}</p>
      <button type="button" class="lite" id="job-close">${t("jobClose")}</button>`;
  }
  if (job.state === "failed") {
    const code = job.error?.code || "";
    const error = { problem: { ...(job.error || {}), code } };
    const words = job.error?.messages?.[getLang()] || "";
    const said = OWN_WORDS.has(code)
      ? html`${batchRefusal(error, subjects)}${words ? html`<p class="small">${words}</p>` : ""}`
      : html`<p data-code="${code}"><b>${t("batchFailed")}</b> ${words || t("jobStage.failed")}</p>`;
    return html`${head}
      <div class="refusal" id="job-error" role="alert" data-code="${code}">${said}</div>
      <button type="button" class="lite" id="job-close">${t("jobClose")}</button>`;
  }
  return html`${head}
    <p class="job-stage" id="job-stage" role="status" aria-live="polite">${stage}${total
      ? html` · <span id="job-count">${done}/${total}</span>` : ""} · <b id="job-percent">${pct}%</b></p>
    <progress id="job-progress" max="100" value="${String(pct)}" aria-labelledby="job-title"></progress>
    <p class="muted small">${t("jobLeave")}</p>`;
}
