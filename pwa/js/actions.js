// The case actions: which ones to offer, a small form for each from vocab.actions[].params,
// and how each is sent (field actions through the outbox, office actions straight away).
import { api } from "./api.js";
import { t, term } from "./i18n.js";
import * as outbox from "./outbox.js";
import { actionSpec, cachedGet, state } from "./state.js";
import { appendRef, html } from "./ui.js";

// An action inspectors may take is a field action: it works offline, through the outbox.
export function isFieldAction(spec) {
  return (spec.roles || []).includes("inspector");
}

// The status a case will have once the phone's waiting actions are applied.
export function effectiveStatus(item, pending, v) {
  let status = item.status;
  for (const p of pending) {
    const to = actionSpec(v, p.action).to;
    if (to && to !== "(same)") status = to;
  }
  return status;
}

// What to offer: the server's list for this user when nothing waits on the phone; with
// actions waiting, what the vocabulary allows this role from the status they lead to.
export function offeredActions(item, pending, v) {
  const role = state.session?.user?.role;
  const waiting = pending.filter((p) => p.state !== "failed" && p.state !== "conflict");
  if (!waiting.length && Array.isArray(item.actions)) return item.actions;
  const status = effectiveStatus(item, waiting, v);
  return (v?.actions || []).filter((a) => (a.from || []).includes(status)
    && (a.roles || []).includes(role) && (waiting.length ? isFieldAction(a) : true))
    .map((a) => a.action);
}

async function unitOptions(action) {
  const path = action === "transfer" ? "/api/units/all" : "/api/units";
  return (await cachedGet(path)).items || [];
}

async function usersFor(unitId) {
  if (!unitId) return [];
  const params = new URLSearchParams({ unit: unitId, role: "inspector" });
  return (await cachedGet(`/api/users?${params}`)).items || [];
}

function usersBox(name, users, unitId) {
  if (!unitId) return html`<p class="muted small">${t("pickUnitFirst")}</p>`;
  if (!users.length) return html`<p class="muted small">${t("noInspectors")}</p>`;
  return html`<div class="chips">${users.map((u) => html`<label class="chip"><input type="checkbox"
    name="${name}" value="${u.id}"> ${u.display_name || u.username}</label>`)}</div>`;
}

// The form for one action: a field per parameter, in the vocabulary's order.
export async function actionForm(item, action, v) {
  const spec = actionSpec(v, action);
  const fields = [];
  let unitField = null;
  for (const param of spec.params || []) {
    const star = param.required ? html` <span class="req" aria-hidden="true">*</span>` : html` <span class="muted small">(${t("optional")})</span>`;
    const req = param.required ? "required" : "";
    const id = `param-${param.name}`;
    const label = html`<label for="${id}">${term(param.name)}${star}</label>`;
    if (param.kind === "unit") {
      let units = [];
      try { units = await unitOptions(action); } catch { units = []; }
      unitField = param.name;
      const current = action === "dispatch" ? item.unit_id || item.unit?.id : "";
      fields.push(html`${label}<select id="${id}" name="${param.name}" data-kind="unit" ${req}>
        <option value=""></option>
        ${units.map((u) => html`<option value="${u.id}" ${u.id === current ? "selected" : ""}>${u.name}</option>`)}
      </select>`);
    } else if (param.kind === "users") {
      fields.push(html`<fieldset id="${id}" data-kind="users" data-name="${param.name}">
        <legend>${term(param.name)}${star}</legend><div class="users-box"></div></fieldset>`);
    } else if (param.kind === "verdict") {
      fields.push(html`${label}<select id="${id}" name="${param.name}" data-kind="verdict" ${req}>
        <option value=""></option>
        ${(v.verdicts || []).map((x) => html`<option value="${x}">${term(x)}</option>`)}</select>`);
    } else if (param.kind === "days") {
      fields.push(html`${label}<input id="${id}" name="${param.name}" data-kind="days" type="number"
        min="1" step="1" inputmode="numeric" ${req}>`);
    } else if (param.kind === "texts") {
      fields.push(html`${label}<textarea id="${id}" name="${param.name}" data-kind="texts" rows="3" ${req}></textarea>`);
    } else {
      fields.push(html`${label}<textarea id="${id}" name="${param.name}" data-kind="text" rows="2" ${req}></textarea>`);
    }
  }
  const node = document.createElement("form");
  node.id = "action-form";
  node.className = "card action-form";
  node.dataset.action = action;
  node.noValidate = true;
  node.innerHTML = html`<h2>${term(action)}</h2>${fields}
    <p class="error" id="action-error" role="alert" hidden></p>
    <div class="row"><button class="primary big" type="submit" id="action-send">${term(action)}</button>
    <button type="button" class="big" id="action-cancel">${t("cancel")}</button></div>`.toString();
  // People follow the unit picked (or the case's unit when the action names none).
  const box = node.querySelector("[data-kind=users]");
  if (box) {
    const fill = async () => {
      const unitId = unitField ? node.querySelector(`[name=${unitField}]`).value
        : item.unit_id || item.unit?.id;
      let users = [];
      try { users = await usersFor(unitId); } catch { users = []; }
      box.querySelector(".users-box").innerHTML = usersBox(box.dataset.name, users, unitId).toString();
    };
    if (unitField) node.querySelector(`[name=${unitField}]`).addEventListener("change", fill);
    await fill();
  }
  return node;
}

// The form's values as the API wants them; null and the errors when something is missing.
export function readParams(form, spec) {
  const params = {};
  const errors = {};
  for (const param of spec.params || []) {
    let value;
    if (param.kind === "users") {
      value = [...form.querySelectorAll(`input[name=${param.name}]:checked`)].map((i) => i.value);
      if (!value.length) value = undefined;
    } else {
      const raw = form.querySelector(`[name=${param.name}]`)?.value?.trim() || "";
      if (param.kind === "texts") value = raw ? raw.split("\n").map((x) => x.trim()).filter(Boolean) : undefined;
      else if (param.kind === "days") value = raw ? Number(raw) : undefined;
      else value = raw || undefined;
      if (param.kind === "days" && value !== undefined && !(Number.isInteger(value) && value >= 1)) {
        errors[param.name] = ["≥ 1"];
      }
    }
    if (value === undefined) {
      if (param.required) errors[param.name] = [t("required")];
    } else params[param.name] = value;
  }
  return { params, errors };
}

// error: the ApiError, whose request id is shown under the text (ui.js appendRef).
export function showErrors(form, problemOrErrors, detail, error = null) {
  const box = form.querySelector("#action-error, #form-error");
  const errors = problemOrErrors || {};
  form.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
  const lines = [];
  for (const [name, messages] of Object.entries(errors)) {
    form.querySelector(`[name=${name}]`)?.setAttribute("aria-invalid", "true");
    lines.push(`${term(name) === name ? t(name) : term(name)}: ${[].concat(messages).join(" ")}`);
  }
  box.textContent = [detail, ...lines].filter(Boolean).join(" · ");
  box.hidden = !box.textContent;
  if (!box.hidden) appendRef(box, error);
}

// One client_id per user action, kept while it is tried again: an action sent without an
// answer (offline, a timeout, a 5xx) may have committed, and the server answers a repeat of
// its client_id with the case as it left it instead of applying it twice. The same action
// from the same version of the case is the same action (a note edited meanwhile included).
const attempts = new Map(); // "case|action|version" -> client_id

export async function postTransition(caseId, body) {
  const key = `${caseId}|${body.action}|${body.version}`;
  const clientId = attempts.get(key) || outbox.uuid();
  attempts.set(key, clientId);
  try {
    const answer = await api("POST", `/api/cases/${caseId}/transitions`, {
      body: { ...body, client_id: clientId },
    });
    attempts.delete(key);
    return answer;
  } catch (error) {
    // A refusal (4xx) applied nothing: the next try is a new action.
    if (error.kind === "client") attempts.delete(key);
    throw error;
  }
}

// Send an action. Field actions go through the outbox (offline or not); office actions
// are sent now. Answers: {queued} | {case} | throws ApiError.
export async function sendAction(item, action, params, v) {
  const spec = actionSpec(v, action);
  if (isFieldAction(spec)) {
    const queued = await outbox.saveTransition({ caseId: item.id, action, params,
      version: item.version, subject: item.subject });
    outbox.syncNow({ force: true });
    return { queued };
  }
  const answer = await postTransition(item.id, { ...params, action, version: item.version });
  return { case: answer };
}

// The timeline's words live in timeline.js; re-exported for the screens that import here.
export { eventRow, eventSummary, phoneTime } from "./timeline.js";

