// Look-back campaigns (回头看, seed 001) at the office's desk: the list and the form that
// starts one over closed cases (previewed first: how many cases it takes, how many another
// campaign holds), and one campaign's progress as annex 2's table by checking unit and by
// week, with its re-check tasks. Tables stack on a phone.
import { api } from "../../api.js";
import { campaignBody, pctText, tableTotals, weekLabel, weekOptions } from "../../campaigns.js";
import { t, term } from "../../i18n.js";
import { go } from "../../nav.js";
import { cachedGet, isManager, isOffice, vocab } from "../../state.js";
import { errorRef, errorText, flatMessages, fmtTime, html, safeUrl, toast } from "../../ui.js";

const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => String(values[k] ?? ""));
const unitName = (u) => (u && typeof u === "object" ? u.name : u) || "";

// "channel: 12345热线 · unit: 东湖街道": what a campaign selected, in words.
function filtersText(c, units) {
  const f = c.filters || {};
  const parts = [];
  if (f.channel) parts.push(term(f.channel));
  if (f.category) parts.push(term(f.category));
  if (f.unit || f.unit_id) parts.push(units.get(f.unit || f.unit_id) || unitName(f.unit_name) || "");
  return parts.filter(Boolean).join(" · ") || t("campaignAllCases");
}

function countsText(c) {
  const n = c.counts || {};
  return `${n.done ?? 0}/${n.total ?? 0}`;
}

// ---- the list and the form ------------------------------------------------------------
function startForm(v, units) {
  const today = new Date();
  const day = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  const options = (values, name) => [html`<option value="">${t("any")}</option>`,
    ...values.map((x) => html`<option value="${x}">${name(x)}</option>`)];
  const unitOptions = (empty) => [html`<option value="">${empty}</option>`,
    ...units.map((u) => html`<option value="${u.id}">${u.name}</option>`)];
  return html`<form id="campaign-form" class="card campaign-form" novalidate>
    <h2>${t("campaignStart")}</h2>
    <p class="muted small">${t("campaignHint")}</p>
    <div class="campaign-fields">
      <div class="wide"><label for="campaign-title">${t("campaignTitle")} <span class="req" aria-hidden="true">*</span></label>
        <input id="campaign-title" name="title" maxlength="200" required autocomplete="off" placeholder="${t("campaignTitleHint")}">
        <p class="error small field-error" data-for="title" hidden></p></div>
      <div><label for="campaign-from">${t("campaignFrom")} <span class="req" aria-hidden="true">*</span></label>
        <input type="date" id="campaign-from" name="from" required min="2000-01-01" max="${day(today)}" value="${today.getFullYear()}-01-01">
        <p class="error small field-error" data-for="from" hidden></p></div>
      <div><label for="campaign-to">${t("periodTo")} <span class="req" aria-hidden="true">*</span></label>
        <input type="date" id="campaign-to" name="to" required min="2000-01-01" max="${day(today)}" value="${day(today)}">
        <p class="error small field-error" data-for="to" hidden></p></div>
      <div><label for="campaign-channel">${t("channel")}</label>
        <select id="campaign-channel" name="channel">${options(v.channels || [], term)}</select>
        <p class="error small field-error" data-for="channel" hidden></p></div>
      <div><label for="campaign-category">${t("category")}</label>
        <select id="campaign-category" name="category">${options(v.categories || [], term)}</select>
        <p class="error small field-error" data-for="category" hidden></p></div>
      <div><label for="campaign-unit">${t("unit")}</label>
        <select id="campaign-unit" name="unit_id">${unitOptions(t("everyUnit"))}</select>
        <p class="error small field-error" data-for="unit_id" hidden></p></div>
      <div class="wide2"><label for="campaign-check-unit">${t("campaignCheckUnit")} <span class="muted small">(${t("optional")})</span></label>
        <select id="campaign-check-unit" name="check_unit_id">${unitOptions(t("campaignSameUnit"))}</select>
        <p class="muted small">${t("campaignCheckUnitHint")}</p>
        <p class="error small field-error" data-for="check_unit_id" hidden></p></div>
    </div>
    <div class="row">
      <button type="button" id="campaign-preview">${t("campaignPreview")}</button>
      <button type="submit" class="primary" id="campaign-create" disabled>${t("campaignCreate")}</button>
    </div>
    <div id="campaign-result" role="status" aria-live="polite"></div>
  </form>`;
}

function campaignRow(c, units) {
  return html`<tr data-campaign-id="${c.id}">
    <th scope="row" data-label="${t("campaignTitle")}"><a href="#/campaigns/${c.id}">${c.title}</a></th>
    <td data-label="${t("campaignPeriod")}" class="period">${c.from} – ${c.to}</td>
    <td data-label="${t("campaignSelection")}">${filtersText(c, units)}</td>
    <td data-label="${t("campaignCheckUnit")}"><span>${c.check_unit ? html`${unitName(c.check_unit)} <span class="chip-status">${t("crossCheck")}</span>` : html`<span class="muted">${t("campaignSameUnit")}</span>`}</span></td>
    <td data-label="${t("campaignDone")}" class="n">${countsText(c)}</td>
    <td data-label="${t("campaignRebound")}" class="n">${c.counts?.rebound ?? 0}</td>
    <td data-label="${t("status")}"><span class="chip-status" data-status="${c.status}">${t(`campaignStatus.${c.status}`)}</span></td>
  </tr>`;
}

// The form's problems by field (ours or the server's); the rest in the result box.
function showProblem(form, errors, headline, error = null) {
  for (const slot of form.querySelectorAll(".field-error")) {
    const messages = errors?.[slot.dataset.for];
    slot.hidden = !messages;
    slot.textContent = messages ? flatMessages(messages).join(" ") : "";
    if (messages) form.querySelector(`[name="${slot.dataset.for}"]`)?.setAttribute("aria-invalid", "true");
  }
  form.querySelector("#campaign-result").innerHTML = headline
    ? html`<p class="error" role="alert" id="campaign-problem">${headline}${errorRef(error)}</p>`.toString() : "";
}

function readForm(form, preview) {
  const values = Object.fromEntries(new FormData(form));
  const { body, errors } = campaignBody(values, { preview });
  if (!errors) return { body };
  const words = Object.fromEntries(Object.entries(errors).map(([k, keys]) => [k, keys.map((key) => t(key))]));
  return { errors: words };
}

export async function renderCampaigns(view) {
  if (!isOffice()) {
    view.innerHTML = html`<p class="error" role="alert">${t("officeOnly")}</p>`;
    return;
  }
  const v = await vocab();
  let units = [];
  try { units = (await cachedGet("/api/units")).items || []; } catch { units = []; }
  const unitNames = new Map(units.map((u) => [u.id, u.name]));
  view.innerHTML = html`<section class="campaigns" id="campaigns">
    <div class="title-row"><h1>${t("campaigns")}</h1>
      <a class="button" href="#/rechecks">${t("rechecks")}</a></div>
    ${isManager() ? startForm(v, units) : ""}
    <h2>${t("campaignList")}</h2>
    <div id="campaign-list"><p class="muted">${t("loading")}</p></div>
  </section>`;
  const list = view.querySelector("#campaign-list");
  const loadList = async () => {
    try {
      const items = (await api("GET", "/api/campaigns")).items || [];
      list.innerHTML = items.length ? html`<div class="table-wrap"><table class="data stack" id="campaign-table">
        <thead><tr><th scope="col">${t("campaignTitle")}</th><th scope="col">${t("campaignPeriod")}</th>
          <th scope="col">${t("campaignSelection")}</th><th scope="col">${t("campaignCheckUnit")}</th>
          <th scope="col" class="n">${t("campaignDone")}</th><th scope="col" class="n">${t("campaignRebound")}</th>
          <th scope="col">${t("status")}</th></tr></thead>
        <tbody>${items.map((c) => campaignRow(c, unitNames))}</tbody></table></div>`.toString()
        : html`<p class="muted" id="no-campaigns">${t("noCampaigns")}</p>`.toString();
    } catch (error) {
      list.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`.toString();
    }
  };
  // The list loads while the form is made ready: a preview clicked before the list
  // arrived (a slow network) used to find no handler yet and do nothing.
  const listed = loadList();

  const form = view.querySelector("#campaign-form");
  if (!form) {
    await listed;
    return;
  }
  const create = form.querySelector("#campaign-create");
  const result = form.querySelector("#campaign-result");
  // "Create" follows a preview of the same values: any change asks for a new one.
  // Any change of the selection asks for a new preview (the title is no part of it); what
  // was said about the old values goes.
  let previewed = null;
  const selection = (body) => JSON.stringify({ ...body, title: undefined, preview: undefined });
  const changed = (event) => {
    event.target.removeAttribute?.("aria-invalid");
    if (event.target.name === "title") return;
    previewed = null;
    create.disabled = true;
    result.innerHTML = "";
  };
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  form.querySelector("#campaign-preview").addEventListener("click", async (event) => {
    showProblem(form, null, "");
    const { body, errors } = readForm(form, true);
    if (errors) {
      showProblem(form, errors, t("fieldsWrong"));
      form.querySelector("[aria-invalid]")?.focus();
      return;
    }
    event.target.disabled = true;
    try {
      const answer = await api("POST", "/api/campaigns", { body });
      const count = answer.count ?? 0;
      // Start follows any preview: over no case the server refuses it in its own words.
      previewed = selection(body);
      create.disabled = false;
      result.innerHTML = html`<p class="${count ? "notice" : "error"}" id="campaign-preview-result"
          data-count="${count}" data-held="${answer.skipped_held ?? 0}">
        ${count ? fill(t("campaignPreviewCount"), { n: count }) : t("campaignPreviewNone")}
        ${answer.skipped_held ? html`<br><span class="small">${fill(t("campaignHeldSkipped"), { n: answer.skipped_held })}</span>` : ""}
        ${answer.skipped_own ? html`<br><span class="small" id="campaign-own-skipped">${fill(t("campaignOwnSkipped"), { n: answer.skipped_own })}</span>` : ""}
      </p>`.toString();
    } catch (error) {
      showProblem(form, error.problem?.errors, error.kind === "offline" ? t("needsNetwork") : errorText(error), error);
    } finally {
      event.target.disabled = false;
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { body, errors } = readForm(form, false);
    if (errors) {
      showProblem(form, errors, t("fieldsWrong"));
      return;
    }
    if (previewed !== selection(body)) {
      create.disabled = true;
      return;
    }
    create.disabled = true;
    try {
      const campaign = await api("POST", "/api/campaigns", { body });
      toast(fill(t("campaignCreated"), { n: campaign.counts?.total ?? 0 }));
      go(`#/campaigns/${campaign.id}`);
    } catch (error) {
      create.disabled = false;
      showProblem(form, error.problem?.errors, error.kind === "offline" ? t("needsNetwork") : errorText(error), error);
    }
  });
  await listed;
}

// ---- one campaign: annex 2 by week, and its tasks -------------------------------------
const COLUMNS = [
  ["total", "annexTotal"], ["week_done", "annexWeekDone"], ["done", "annexDone"],
  ["rate", "annexRate"], ["week_new", "annexWeekNew"], ["new_total", "annexNewTotal"],
];

function cell(row, key, label) {
  if (key === "rate") {
    // One element: a stacked cell on a phone puts its label and one value side by side.
    return html`<td data-label="${label}" class="n" data-field="rate"><span class="rate"><b>${pctText(row.rate)}</b>
      <span class="muted small">${row.rate?.numerator ?? 0}/${row.rate?.denominator ?? 0}</span></span></td>`;
  }
  return html`<td data-label="${label}" class="n" data-field="${key}">${row[key] ?? 0}</td>`;
}

function progressTable(progress, week) {
  const rows = progress.rows || [];
  const totals = tableTotals(rows, progress.totals);
  const head = COLUMNS.map(([, key]) => html`<th scope="col" class="n">${t(key)}</th>`);
  return html`<div class="table-wrap"><table class="data stack annex2" id="progress-table">
    <caption class="muted small" id="progress-week" data-week="${week}">${t("annex2Caption")} · ${t("week")} ${weekLabel(week)}</caption>
    <thead><tr><th scope="col">${t("annexUnit")}</th>${head}<th scope="col">${t("annexNote")}</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr data-unit-id="${r.unit_id}">
      <th scope="row" data-label="${t("annexUnit")}">${r.unit}</th>
      ${COLUMNS.map(([key, label]) => cell(r, key, t(label)))}
      <td data-label="${t("annexNote")}">${r.note || ""}</td></tr>`)}</tbody>
    <tfoot><tr id="progress-totals"><th scope="row" data-label="${t("annexUnit")}">${t("annexTotals")}</th>
      ${COLUMNS.map(([key, label]) => cell(totals, key, t(label)))}<td data-label="${t("annexNote")}">${totals.note || ""}</td></tr></tfoot>
  </table></div>`;
}

function taskRow(task) {
  const c = task.case || {};
  const linked = c.id && c.visible !== false;
  return html`<tr data-task-id="${task.id}" data-status="${task.status}">
    <th scope="row" data-label="${t("subject")}"><span>${linked ? html`<a href="#/case/${c.id}">${c.subject}</a>` : c.subject}
      <span class="muted small task-address">${c.address || ""}${c.external_ref ? ` · ${c.external_ref}` : ""}</span></span></th>
    <td data-label="${t("unit")}">${unitName(c.unit)}</td>
    <td data-label="${t("annexUnit")}"><span>${unitName(task.check_unit)}${task.cross_check ? html` <span class="chip-status">${t("crossCheck")}</span>` : ""}</span></td>
    <td data-label="${t("status")}"><span class="chip-status" data-task-status="${task.status}">${t(`taskStatus.${task.status}`)}</span></td>
    <td data-label="${t("recheckRebound")}">${task.rebound == null ? "" : task.rebound ? html`<b class="error">${t("yes")}</b>` : t("no")}</td>
    <td data-label="${t("recheckNewProblem")}">${task.new_problem || ""}</td>
    <td data-label="${t("recheckCheckedAt")}">${fmtTime(task.checked_at)}</td>
  </tr>`;
}

export async function renderCampaign(view, campaignId) {
  if (!isOffice()) {
    view.innerHTML = html`<p class="error" role="alert">${t("officeOnly")}</p>`;
    return;
  }
  view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  let campaign;
  try {
    campaign = await api("GET", `/api/campaigns/${campaignId}`);
  } catch (error) {
    view.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
    return;
  }
  let units = [];
  try { units = (await cachedGet("/api/units")).items || []; } catch { units = []; }
  const unitNames = new Map(units.map((u) => [u.id, u.name]));
  const n = campaign.counts || {};
  view.innerHTML = html`<section class="campaign" id="campaign" data-campaign-id="${campaignId}">
    <a class="back" href="#/campaigns">← ${t("campaigns")}</a>
    <h1>${campaign.title}</h1>
    <dl class="facts">
      <dt>${t("campaignPeriod")}</dt><dd>${campaign.from} – ${campaign.to}</dd>
      <dt>${t("campaignSelection")}</dt><dd>${filtersText(campaign, unitNames)}</dd>
      <dt>${t("campaignCheckUnit")}</dt><dd>${campaign.check_unit ? html`${unitName(campaign.check_unit)} <span class="chip-status">${t("crossCheck")}</span>` : t("campaignSameUnit")}</dd>
      <dt>${t("campaignDone")}</dt><dd id="campaign-counts">${countsText(campaign)} · ${t("campaignRebound")} ${n.rebound ?? 0} · ${t("annexNewTotal")} ${n.new_problems ?? 0}</dd>
      <dt>${t("status")}</dt><dd>${t(`campaignStatus.${campaign.status}`)}</dd>
    </dl>
    <h2>${t("annex2Title")}</h2>
    <div class="row inline-row week-row">
      <label for="week-pick">${t("week")}</label>
      <select id="week-pick" name="week"></select>
      <a class="button" id="progress-xlsx" download>${t("downloadProgress")}</a>
      <a class="button" id="problems-xlsx" href="${safeUrl(`/api/reports/problems.xlsx?campaign=${encodeURIComponent(campaignId)}`)}" download>${t("downloadProblems")}</a>
    </div>
    <div id="progress"><p class="muted">${t("loading")}</p></div>
    <h2>${t("campaignTasks")}</h2>
    <div class="row inline-row"><label for="task-status">${t("status")}</label>
      <select id="task-status">
        <option value="">${t("any")}</option>
        <option value="pending">${t("taskStatus.pending")}</option>
        <option value="done">${t("taskStatus.done")}</option>
      </select>
      <label for="task-unit">${t("annexUnit")}</label>
      <select id="task-unit"><option value="">${t("everyUnit")}</option></select></div>
    <div id="tasks"><p class="muted">${t("loading")}</p></div>
  </section>`;

  const pick = view.querySelector("#week-pick");
  const unitPick = view.querySelector("#task-unit");
  const box = view.querySelector("#progress");
  const xlsx = view.querySelector("#progress-xlsx");
  const loadProgress = async (week) => {
    const query = week ? `?week=${encodeURIComponent(week)}` : "";
    try {
      const progress = await api("GET", `/api/campaigns/${campaignId}/progress${query}`);
      if (!box.isConnected) return;
      const chosen = progress.week?.from || week || "";
      pick.innerHTML = html`${weekOptions(progress.weeks, chosen).map((w) => html`<option value="${w.start}"
        ${w.selected ? "selected" : ""}>${w.label}</option>`)}`.toString();
      // The tasks' unit filter: the checking units of the table.
      const current = unitPick.value;
      unitPick.innerHTML = html`<option value="">${t("everyUnit")}</option>${(progress.rows || [])
        .filter((r) => r.unit_id).map((r) => html`<option value="${r.unit_id}" ${r.unit_id === current ? "selected" : ""}>${r.unit}</option>`)}`.toString();
      xlsx.href = safeUrl(`/api/reports/progress.xlsx?campaign=${encodeURIComponent(campaignId)}&week=${encodeURIComponent(chosen)}`);
      box.innerHTML = progressTable(progress, chosen).toString();
    } catch (error) {
      box.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`.toString();
    }
  };
  pick.addEventListener("change", () => loadProgress(pick.value));

  const tasksBox = view.querySelector("#tasks");
  const statusPick = view.querySelector("#task-status");
  // Two filters changed in quick succession send two requests: only the latest one's
  // answer may fill the table (an earlier one arriving last would show the wrong rows).
  let tasksAsked = 0;
  const loadTasks = async () => {
    const asked = ++tasksAsked;
    const query = new URLSearchParams();
    if (statusPick.value) query.set("status", statusPick.value);
    if (unitPick.value) query.set("unit_id", unitPick.value);
    try {
      const qs = query.toString();
      const items = (await api("GET", `/api/campaigns/${campaignId}/tasks${qs ? `?${qs}` : ""}`)).items || [];
      if (!tasksBox.isConnected || asked !== tasksAsked) return;
      tasksBox.innerHTML = items.length ? html`<div class="table-wrap"><table class="data stack" id="task-table">
        <thead><tr><th scope="col">${t("subject")}</th><th scope="col">${t("unit")}</th><th scope="col">${t("annexUnit")}</th>
          <th scope="col">${t("status")}</th><th scope="col">${t("recheckRebound")}</th>
          <th scope="col">${t("recheckNewProblem")}</th><th scope="col">${t("recheckCheckedAt")}</th></tr></thead>
        <tbody>${items.map(taskRow)}</tbody></table></div>`.toString()
        : html`<p class="muted" id="no-tasks">${t("noTasks")}</p>`.toString();
    } catch (error) {
      if (asked !== tasksAsked) return;
      tasksBox.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`.toString();
    }
  };
  statusPick.addEventListener("change", loadTasks);
  unitPick.addEventListener("change", loadTasks);
  await Promise.all([loadProgress(null), loadTasks()]);
}
