// The inspector's look-back re-checks (回头看核查) on the phone: the pending tasks of their
// units, kept on the phone for places with no signal, and the re-check form: rebound or
// not, any new problem, findings, location and photos, and when the case must reopen the
// rectification plan (seed 001 annex 1). Written to the phone as typed; "Save re-check"
// queues it in the outbox under its client id, and its photos follow it there.
import { PreviewUrls, capturePhoto, makePreview } from "../../capture.js";
import { PLAN_FIELDS, localToday, needsPlan, planDefaults, recheckBody, recheckProblems,
  tasksWithLocal } from "../../campaigns.js";
import { db, getCache } from "../../db.js";
import { t, term } from "../../i18n.js";
import { go } from "../../nav.js";
import * as outbox from "../../outbox.js";
import { afterFirst, saveChain, savedOrSaid } from "../../savechain.js";
import { cachedGet, isField, isOffice, state, warnIfStorageLow } from "../../state.js";
import { errorRef, errorText, fmtTime, html, safeUrl, toast } from "../../ui.js";

const TASKS = "/api/recheck-tasks?status=pending";
const previews = new PreviewUrls();
const unitName = (u) => (u && typeof u === "object" ? u.name : u) || "";

// The tasks as the server last gave them: fetched when online, the phone's copy otherwise.
async function pendingTasks() {
  try {
    return { items: (await cachedGet(TASKS)).items || [], error: null };
  } catch (error) {
    return { items: [], error };
  }
}

function localChip(task) {
  if (!task.local) return "";
  const key = { draft: "recheckLocalDraft", queued: "recheckLocalQueued", failed: "recheckLocalFailed" }[task.local];
  return html`<span class="chip-status recheck-local" data-local="${task.local}">${t(key)}</span>`;
}

function taskItem(task) {
  const c = task.case || {};
  return html`<li><a class="case-row recheck-task" href="#/recheck/${task.id}" data-task-id="${task.id}">
    <span class="case-main">
      <strong>${c.subject || ""}</strong>
      <span class="muted">${c.address || ""}</span>
      <span class="case-tags small">${localChip(task)}
        ${task.cross_check ? html`<span class="chip-status">${t("crossCheck")}</span>` : ""}
        <span class="muted">${task.campaign_title || ""}${c.category ? ` · ${term(c.category)}` : ""}${
          c.closed_at ? ` · ${t("closedAt")} ${fmtTime(c.closed_at)}` : ""}</span></span>
    </span></a></li>`;
}

// At the app's start, for those who re-check: the tasks go on the phone before the signal
// does, whether or not the list was opened.
export function preloadRechecks() {
  if (isField() && !isOffice()) cachedGet(TASKS).catch(() => {});
}

// The tasks whose re-check this phone already sent (a list cached before is stale there).
async function sentTaskIds() {
  const sent = await (await db()).getAll("sent");
  return new Set(sent.filter((x) => x.kind === "recheck" && x.taskId).map((x) => x.taskId));
}

export async function renderRechecks(view) {
  view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  const { items, error } = await pendingTasks();
  const done = await sentTaskIds();
  const tasks = tasksWithLocal(items.filter((x) => !done.has(x.id)), await outbox.items());
  view.innerHTML = html`<section class="rechecks" id="rechecks">
    <h1>${t("rechecks")} <span class="muted h1-sub">${tasks.length}</span></h1>
    <p class="muted small">${t("rechecksHint")}</p>
    ${error ? html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>` : ""}
    ${tasks.length ? html`<ul class="case-list" id="recheck-list">${tasks.map(taskItem)}</ul>`
      : error ? "" : html`<p class="muted" id="no-rechecks">${t("noRechecks")}</p>`}
  </section>`;
}

// ---- the re-check form ----------------------------------------------------------------
async function photoRows(clientId) {
  const photos = (await outbox.items()).filter((i) => i.kind === "evidence" && i.visitClientId === clientId);
  const urls = await previews.load(photos);
  return photos.map((photo) => {
    const url = urls.get(photo.id);
    return html`<li class="photo" data-photo-id="${photo.id}">
      ${url ? html`<img src="${safeUrl(url)}" alt="">` : html`<span class="noimg">${photo.contentType}</span>`}
      <span><b class="state" data-state="saved">${t("savedOnPhone")}</b>
        <span class="muted small">${fmtTime(photo.capturedAt)} ·
          ${photo.geo ? `±${Math.round(photo.geo.accuracy_m)} m` : t("fixWaiting")}</span>
        <span class="small">${photo.place} · ${photo.caption}</span></span></li>`;
  });
}

// The units a plan's 验收（监管）单位 may be: exactly those the server lists for the task
// (the case's unit and above it, the organiser's unit and above it); any other is refused.
// A task cached before the server listed them offers the case's own unit only.
export function acceptanceUnits(task) {
  const seen = new Map();
  const add = (u) => { if (u && typeof u === "object" && u.id && !seen.has(u.id)) seen.set(u.id, u); };
  if (Array.isArray(task?.acceptance_units)) task.acceptance_units.forEach(add);
  else add(task?.case?.unit);
  return [...seen.values()];
}

function planField(field, value, units) {
  const id = `plan-${field.name}`;
  const name = `plan_${field.name}`;
  const mark = field.required ? html` <span class="req" aria-hidden="true">*</span>` : "";
  const label = html`<label for="${id}">${t(field.key)}${mark}</label>`;
  const req = field.required ? "required" : "";
  if (field.input === "textarea") {
    return html`${label}<textarea id="${id}" name="${name}" rows="2" ${req}>${value || ""}</textarea>`;
  }
  if (field.input === "unit") {
    return html`${label}<select id="${id}" name="${name}" ${req}><option value="">${t("planPickUnit")}</option>
      ${units.map((u) => html`<option value="${u.id}" ${u.id === value ? "selected" : ""}>${u.name}</option>`)}</select>`;
  }
  if (field.input === "date") {
    return html`${label}<input id="${id}" name="${name}" type="date" min="${localToday()}" value="${value || ""}" ${req}>`;
  }
  return html`${label}<input id="${id}" name="${name}" value="${value || ""}" autocomplete="off" ${req}>`;
}

// Where a server refusal's code points on the form.
const REFUSED_FIELD = { "plan.due_missing": "due_on", "plan.acceptance_unit_missing": "acceptance_unit_id",
  "plan.due_past": "due_on", "plan.acceptance_unit_out_of_scope": "acceptance_unit_id", "plan.due_too_far": "due_on" };

export async function renderRecheck(view, taskId) {
  const all = await outbox.items();
  // Another user's draft on this phone is not theirs to read: this user starts their own.
  let existing = all.find((i) => i.kind === "recheck" && i.taskId === taskId && outbox.isMine(i)
    && (i.state === "draft" || outbox.isRecheckMendable(i)));
  // Refused for what was typed (nothing stored under its client id): opened to be mended.
  if (outbox.isRecheckMendable(existing)) existing = await outbox.mendRecheck(existing.id);
  const waiting = all.find((i) => i.kind === "recheck" && i.taskId === taskId && i.state !== "draft"
    && i.id !== existing?.id);
  if (waiting) {
    toast(t("recheckLocalQueued"));
    return go("#/outbox", { replace: true }); // saved already: not editable any more
  }
  if ((await sentTaskIds()).has(taskId)) {
    toast(t("recheckSent"));
    return go("#/rechecks", { replace: true });
  }
  const cached = ((await getCache(`get:${TASKS}`))?.value?.items || []).find((x) => x.id === taskId);
  const task = cached || existing?.task;
  if (!task) {
    view.innerHTML = html`<a class="back" href="#/rechecks">← ${t("rechecks")}</a>
      <p class="error" role="alert" id="recheck-missing">${t("recheckNotOnPhone")}</p>`;
    return null;
  }
  const choices = acceptanceUnits(task);
  const clientId = existing?.id || outbox.uuid();
  const form0 = existing?.form || { rebound: null, new_problem: "", findings: "", plan: planDefaults(task, term) };
  const refusal = existing?.refusal || null;
  const c = task.case || {};

  view.innerHTML = html`
    <section class="recheck check" id="recheck" data-task-id="${taskId}">
      <a class="back" href="#/rechecks">← ${t("rechecks")}</a>
      <h1>${t("titleRecheck")}</h1>
      <p><b>${c.subject || ""}</b><br><span class="muted">${c.address || ""}</span></p>
      <dl class="facts small">
        <dt>${t("campaign")}</dt><dd>${task.campaign_title || ""}${task.cross_check ? html` <span class="chip-status">${t("crossCheck")}</span>` : ""}</dd>
        ${c.category ? html`<dt>${t("category")}</dt><dd>${term(c.category)}</dd>` : ""}
        ${c.unit ? html`<dt>${t("unit")}</dt><dd>${unitName(c.unit)}</dd>` : ""}
        ${c.closed_at ? html`<dt>${t("closedAt")}</dt><dd>${fmtTime(c.closed_at)}</dd>` : ""}
        ${c.result ? html`<dt>${t("result")}</dt><dd>${c.result}</dd>` : ""}
        ${c.external_ref ? html`<dt>${t("externalRef")}</dt><dd>${c.external_ref}</dd>` : ""}
      </dl>
      <p id="fix" class="muted small" role="status">${t("fixWaiting")}</p>
      ${refusal ? html`<div class="refusal error" id="refusal" role="alert">
        <p><b>${t("recheckRefused")}:</b> ${refusal.message || ""}</p></div>` : ""}
      <form id="recheck-form" novalidate>
        <fieldset id="rebound-set"><legend>${t("recheckRebound")} <span class="req" aria-hidden="true">*</span></legend>
          <div class="chips">
            <label class="chip"><input type="radio" name="rebound" value="yes" ${form0.rebound === true ? "checked" : ""}> ${t("recheckReboundYes")}</label>
            <label class="chip"><input type="radio" name="rebound" value="no" ${form0.rebound === false ? "checked" : ""}> ${t("recheckReboundNo")}</label>
          </div></fieldset>
        <label for="new_problem">${t("recheckNewProblem")} <span class="muted small">(${t("optional")})</span></label>
        <textarea id="new_problem" name="new_problem" rows="2">${form0.new_problem || ""}</textarea>
        <label for="findings">${t("recheckFindings")}</label>
        <textarea id="findings" name="findings" rows="3">${form0.findings || ""}</textarea>
        <fieldset><legend>${t("evidence")}</legend>
          <label for="place">${t("place")}</label>
          <input id="place" name="place" value="${form0.place ?? c.address ?? ""}">
          <label for="caption">${t("caption")}</label>
          <input id="caption" name="caption" value="${form0.caption || ""}">
          <button type="button" class="big camera" id="take-photo">${t("takePhoto")}</button>
          <input id="photo-input" type="file" accept="image/*" capture="environment" hidden>
          <ul id="photos" class="photos"></ul>
        </fieldset>
        <fieldset id="plan-set" class="plan-set" hidden><legend>${t("planFormTitle")}</legend>
          <p class="notice small">${t("planFormHint")}</p>
          ${PLAN_FIELDS.map((f) => planField(f, form0.plan?.[f.name], choices))}
        </fieldset>
        <div id="recheck-problems" role="alert"></div>
      </form>
    </section>
    <div class="actions">
      <button class="primary big" id="save-recheck" type="button">${t("saveRecheck")}</button>
    </div>`;

  const form = view.querySelector("#recheck-form");
  const readValues = () => {
    const data = new FormData(form);
    const answer = data.get("rebound");
    const plan = {};
    for (const f of PLAN_FIELDS) plan[f.name] = String(data.get(`plan_${f.name}`) ?? "");
    return { rebound: answer === "yes" ? true : answer === "no" ? false : null,
      new_problem: String(data.get("new_problem") || ""), findings: String(data.get("findings") || ""),
      place: String(data.get("place") || ""), caption: String(data.get("caption") || ""), plan };
  };
  const showPlan = () => {
    view.querySelector("#plan-set").hidden = !needsPlan(readValues());
  };
  // Every write goes through one chain: the last field's change must not land after the
  // final save.
  const chain = saveChain();
  let saved = false;
  const record = (values, payload, draft) => outbox.saveRecheck({
    id: clientId, caseId: c.id, taskId, campaignId: task.campaign_id, label: c.subject || "",
    payload, form: values, task }, { draft });
  const persist = () => chain(() => {
    if (saved) return null;
    const values = readValues();
    return record(values, recheckBody(task, values, state.tracker.current(), null), true);
  });
  const redrawPhotos = async () => {
    const list = view.querySelector("#photos");
    const rows = await photoRows(clientId);
    if (list?.isConnected) list.innerHTML = html`${rows}`.toString();
  };
  const clearMarks = () => {
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    view.querySelector("#recheck-problems").innerHTML = "";
  };
  const markProblems = (problems) => {
    clearMarks();
    const lines = [];
    for (const p of problems) {
      const el = p.field === "rebound" ? view.querySelector("#rebound-set")
        : form.querySelector(`[name="plan_${p.field}"]`);
      el?.setAttribute("aria-invalid", "true");
      const name = p.field === "rebound" ? t("recheckRebound")
        : t(PLAN_FIELDS.find((f) => f.name === p.field)?.key || p.field);
      lines.push(html`<li data-field="${p.field}"><b>${name}</b>: ${t(p.key)}</li>`);
    }
    view.querySelector("#recheck-problems").innerHTML = problems.length
      ? html`<div class="refusal error"><p>${t("fieldsWrong")}</p><ul>${lines}</ul></div>`.toString() : "";
    return problems.length;
  };

  showPlan();
  if (refusal) {
    const field = REFUSED_FIELD[refusal.code];
    if (field) form.querySelector(`[name="plan_${field}"]`)?.setAttribute("aria-invalid", "true");
  }
  // The re-check exists on the phone from the moment it is opened; its first save is
  // awaited last, so the screen answers a tap as soon as it is drawn.
  const opened = persist();
  redrawPhotos();
  // Once a save was refused here, the list of what is missing follows the typing.
  let tried = false;
  const changed = (event) => {
    event.target.removeAttribute?.("aria-invalid");
    showPlan();
    if (tried) markProblems(recheckProblems(readValues()));
    persist();
  };
  form.addEventListener("input", changed);
  form.addEventListener("change", changed);

  // Location: watched while the form is open, the most accurate recent fix kept.
  state.tracker.start();
  const showFix = () => {
    const fix = state.tracker.current();
    const box = view.querySelector("#fix");
    if (box) {
      box.textContent = fix
        ? `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)} (±${Math.round(fix.accuracy_m)} m)` : t("fixWaiting");
    }
  };
  showFix();
  const stopFix = state.tracker.onChange(showFix);

  view.querySelector("#take-photo").addEventListener("click", () => view.querySelector("#photo-input").click());
  view.querySelector("#photo-input").addEventListener("change", async (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    for (const file of files) {
      let photo;
      try {
        photo = await capturePhoto(file, {
          caseId: c.id, visitClientId: clientId, fix: state.tracker.current(),
          photographer: state.session?.user?.display_name || state.session?.user?.username,
          place: form.place.value, caption: form.caption.value,
        });
      } catch (error) {
        toast(`${t("notSaved")} (${error.name || error.message})`, "error");
        continue;
      }
      document.body.dataset.lastSaved = photo.id;
      if (!(await warnIfStorageLow())) toast(t("savedOnPhone"));
      await redrawPhotos();
      const blob = await (await db()).get("blobs", photo.id);
      if (blob) makePreview(photo.id, blob).then(redrawPhotos);
    }
  });

  view.querySelector("#save-recheck").addEventListener("click", async () => {
    const values = readValues();
    tried = true;
    if (markProblems(recheckProblems(values))) {
      (form.querySelector("[aria-invalid=true] input, [aria-invalid=true]:not(fieldset)")
        || form.querySelector("[aria-invalid=true] input"))?.focus();
      return;
    }
    saved = true;
    const fix = state.tracker.current() || null;
    const payload = recheckBody(task, values, fix, new Date().toISOString());
    if (!(await savedOrSaid(chain, () => record(values, payload, false)))) {
      saved = false; // still a draft: the next tap tries again
      return;
    }
    const count = (await outbox.items()).filter((i) => i.kind === "evidence" && i.visitClientId === clientId).length;
    toast(`${t("recheckSaved")} (${count} ${t("photosSaved")})`);
    outbox.requestBackgroundSync();
    outbox.syncNow({ force: true });
    go("#/rechecks", { replace: true }); // Back must not reopen the saved re-check
  });

  const stop = () => {
    stopFix();
    state.tracker.stop();
    previews.revoke();
  };
  return afterFirst(opened, stop);
}
