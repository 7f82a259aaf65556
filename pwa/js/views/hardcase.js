// The case page's hard-case block (seed 000): why the case is hard (a repeat, a backlog case
// 信访积案, or flagged difficult 重点疑难 by the office, with why), its remediation plan
// (整治方案: approach, people responsible, deadline, open or done) and its leader group
// (包案小组: the lead, who is the case's leader in charge, and members). The office of the
// case's unit edits them; a group member records the group's visit to the complainant
// (带案下访) on the visit screen, kind leader_visit. Also the #/hard-cases list.
import { api } from "../api.js";
import { t, term } from "../i18n.js";
import { go } from "../nav.js";
import * as outbox from "../outbox.js";
import { cachedGet } from "../state.js";
import { appendRef, errorRef, errorText, fmtTime, html, toast } from "../ui.js";

export const KINDS = ["repeat", "backlog", "difficult"];
export const LEADER_VISIT = "leader_visit";

// What the block reads, beside the case (a failure, or a case that is not hard and that
// this user may not flag, shows nothing).
export async function loadHardCase(caseId) {
  const hard = await api("GET", `/api/cases/${caseId}/hard-case`).catch(() => null);
  if (!hard) return null;
  if (!hard.hard) return { hard, plan: null, group: null };
  const [plan, group] = await Promise.all([
    api("GET", `/api/cases/${caseId}/remediation-plan`).catch(() => null),
    api("GET", `/api/cases/${caseId}/group`).catch(() => null),
  ]);
  return { hard, plan, group };
}

// "重复信访 · 信访积案（逾期超过30天）· 重点疑难：理由" as chips, in the one order.
export function kindChips(hard) {
  const kinds = KINDS.filter((k) => (hard?.kinds || []).includes(k));
  return kinds.map((k) => html`<span class="chip-status hard-kind" data-kind="${k}">${t(`hard.kind.${k}`)}${
    k === "backlog" ? `（${t("hard.backlogDays").replace("{n}", hard.backlog_days ?? "")}）` : ""}${
    k === "difficult" && hard.flag?.reason ? `：${hard.flag.reason}` : ""}</span>`);
}

// A date as the plan keeps it (a local date, YYYY-MM-DD).
const today = () => {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 10);
};

export function planView(plan) {
  if (!plan) return html`<p class="muted small" id="plan-none">${t("hard.noPlan")}</p>`;
  const people = [...(plan.responsible || []).map((p) => p.name), plan.responsible_text].filter(Boolean);
  return html`<dl class="facts plan-facts" id="plan-facts" data-status="${plan.status}" data-version="${plan.version}">
    <dt>${t("hard.approach")}</dt><dd class="plan-approach">${plan.approach}</dd>
    <dt>${t("hard.responsible")}</dt><dd>${people.join("、")}</dd>
    <dt>${t("hard.deadline")}</dt><dd>${plan.deadline}</dd>
    <dt>${t("status")}</dt><dd><span class="chip-status" data-status="${plan.status === "done" ? "closed" : "in_progress"}">${t(`hard.plan.${plan.status}`)}</span>
      <span class="muted small">${t("hard.version").replace("{n}", plan.version)} · ${fmtTime(plan.updated_at)} ${plan.updated_by?.name || ""}</span></dd>
    ${plan.closing_note ? html`<dt>${t("hard.closingNote")}</dt><dd>${plan.closing_note}</dd>` : ""}
  </dl>`;
}

function planForm(plan) {
  const ids = new Set((plan?.responsible || []).map((p) => p.id));
  return html`<details class="plan-box" id="plan-box"><summary>${plan ? t("hard.editPlan") : t("hard.makePlan")}</summary>
    <form id="plan-form" class="stack" data-version="${plan?.version ?? ""}">
      <label for="plan-approach">${t("hard.approach")} <span class="req" aria-hidden="true">*</span></label>
      <textarea id="plan-approach" name="approach" rows="3" required>${plan?.approach || ""}</textarea>
      <fieldset><legend>${t("hard.responsible")}</legend>
        <div class="chips" id="plan-people" data-chosen="${[...ids].join(",")}"></div>
        <label for="plan-people-text">${t("hard.responsibleText")}</label>
        <input id="plan-people-text" name="responsible_text" value="${plan?.responsible_text || ""}"></fieldset>
      <label for="plan-deadline">${t("hard.deadline")} <span class="req" aria-hidden="true">*</span></label>
      <input id="plan-deadline" name="deadline" type="date" min="${today()}" value="${plan?.deadline || ""}" required>
      <label for="plan-status">${t("status")}</label>
      <select id="plan-status" name="status">${["open", "done"].map((s) => html`<option value="${s}" ${s === (plan?.status || "open") ? "selected" : ""}>${t(`hard.plan.${s}`)}</option>`)}</select>
      <label for="plan-note">${t("hard.closingNote")}</label>
      <textarea id="plan-note" name="closing_note" rows="2">${plan?.closing_note || ""}</textarea>
      <p class="error small" id="plan-error" role="alert" hidden></p>
      <button type="submit" class="primary" id="plan-save">${t("hard.savePlan")}</button>
    </form></details>`;
}

export function groupView(group) {
  if (!group?.lead && !group?.members?.length) return html`<p class="muted small" id="group-none">${t("hard.noGroup")}</p>`;
  return html`<ul class="group-list" id="group-list">
    ${group.lead ? html`<li class="group-member" data-role="lead"><b>${group.lead.name}</b> <span class="chip-status">${t("hard.lead")}</span></li>` : ""}
    ${(group.members || []).map((m) => html`<li class="group-member" data-role="member">${m.name} <span class="muted small">${t("hard.member")}</span></li>`)}
  </ul>`;
}

function groupForm(group) {
  const members = (group?.members || []).map((m) => m.id).join(",");
  return html`<details class="group-box" id="group-box"><summary>${group?.lead ? t("hard.editGroup") : t("hard.makeGroup")}</summary>
    <form id="group-form" class="stack">
      <label for="group-lead">${t("hard.lead")} <span class="req" aria-hidden="true">*</span></label>
      <select id="group-lead" name="lead" required data-chosen="${group?.lead?.id || ""}"><option value="">—</option></select>
      <fieldset><legend>${t("hard.members")}</legend><div class="chips" id="group-people" data-chosen="${members}"></div></fieldset>
      <p class="error small" id="group-error" role="alert" hidden></p>
      <button type="submit" class="primary" id="group-save">${t("hard.saveGroup")}</button>
    </form></details>`;
}

function flagForm(hard) {
  const flagged = Boolean(hard.flag);
  return html`<details class="flag-box" id="flag-box"><summary>${t(flagged ? "hard.unflag" : "hard.flag")}</summary>
    <form id="flag-form" class="stack" data-flagged="${String(!flagged)}">
      <label for="flag-reason">${t("hard.flagReason")} <span class="req" aria-hidden="true">*</span></label>
      <textarea id="flag-reason" name="reason" rows="2" required></textarea>
      <p class="error small" id="flag-error" role="alert" hidden></p>
      <button type="submit" class="${flagged ? "" : "primary"}" id="flag-save">${t(flagged ? "hard.unflag" : "hard.flag")}</button>
    </form></details>`;
}

export function hardCaseHtml(facts, open) {
  const hard = facts?.hard;
  if (!hard) return "";
  const office = hard.may_decide && open;
  if (!hard.hard) {
    return office ? html`<section class="card hardcase not-hard" id="hardcase" data-hard="false">${flagForm(hard)}</section>` : "";
  }
  const plan = facts.plan?.plan || null;
  const group = facts.group;
  return html`<section class="card hardcase" id="hardcase" data-hard="true" aria-labelledby="hardcase-title">
    <h2 id="hardcase-title"><span class="hard-mark" aria-hidden="true">◆</span> ${t("hard.title")}</h2>
    <p class="hard-kinds" id="hard-kinds">${kindChips(hard)}</p>
    <h3>${t("hard.plan")}</h3>
    ${planView(plan)}
    ${facts.plan?.may_edit ? planForm(plan) : ""}
    <h3>${t("hard.group")}</h3>
    ${groupView(group)}
    ${group?.may_edit ? groupForm(group) : ""}
    ${group?.may_record_visit ? html`<button type="button" class="primary big" id="leader-visit">${t("hard.recordVisit")}</button>` : ""}
    ${office ? flagForm(hard) : ""}
  </section>`;
}

// Options for the pickers: people of the case's unit and the leaders over it.
async function fillPickers(view, item) {
  const unit = encodeURIComponent(item.unit_id || item.unit?.id || "");
  const [leaders, people] = await Promise.all([
    cachedGet(`/api/leaders?unit=${unit}`).then((a) => a.items || []).catch(() => []),
    cachedGet(`/api/users?unit=${unit}`).then((a) => a.items || []).catch(() => []),
  ]);
  const name = (u) => u.display_name || u.username;
  const lead = view.querySelector("#group-lead");
  if (lead?.isConnected) {
    for (const l of leaders) {
      const option = document.createElement("option");
      option.value = l.id;
      option.textContent = name(l);
      option.selected = l.id === lead.dataset.chosen;
      lead.append(option);
    }
  }
  const everyone = [...new Map([...leaders, ...people].map((u) => [u.id, u])).values()];
  for (const [box, field] of [["#plan-people", "responsible_ids"], ["#group-people", "members"]]) {
    const slot = view.querySelector(box);
    if (!slot?.isConnected) continue;
    const chosen = new Set((slot.dataset.chosen || "").split(",").filter(Boolean));
    slot.innerHTML = html`${everyone.map((u) => html`<label class="chip"><input type="checkbox" name="${field}" value="${u.id}"
      ${chosen.has(u.id) ? "checked" : ""}> ${name(u)}</label>`)}`;
  }
}

export function wireHardCase(view, item, done) {
  const block = view.querySelector("#hardcase");
  if (!block) return;
  if (block.querySelector("#plan-form, #group-form")) fillPickers(view, item);
  const send = (form, method, path, body, okText) => async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const box = form.querySelector(".error");
    button.disabled = true;
    box.hidden = true;
    try {
      await api(method, path, { body: body() });
      toast(okText);
      await done();
    } catch (error) {
      button.disabled = false;
      box.textContent = errorText(error);
      appendRef(box, error);
      box.hidden = false;
    }
  };
  const plan = block.querySelector("#plan-form");
  plan?.addEventListener("submit", send(plan, "PUT", `/api/cases/${item.id}/remediation-plan`, () => {
    const data = new FormData(plan);
    return { approach: data.get("approach") || "", responsible_ids: data.getAll("responsible_ids"),
      responsible_text: data.get("responsible_text") || "", deadline: data.get("deadline") || null,
      status: data.get("status") || "open", closing_note: data.get("closing_note") || "",
      ...(plan.dataset.version ? { version: Number(plan.dataset.version) } : {}) };
  }, t("hard.planSaved")));
  const group = block.querySelector("#group-form");
  group?.addEventListener("submit", send(group, "PUT", `/api/cases/${item.id}/group`, () => {
    const data = new FormData(group);
    const lead = data.get("lead");
    return { members: [{ user_id: lead, role: "lead" },
      ...data.getAll("members").filter((id) => id !== lead).map((id) => ({ user_id: id, role: "member" }))] };
  }, t("hard.groupSaved")));
  const flag = block.querySelector("#flag-form");
  flag?.addEventListener("submit", send(flag, "PUT", `/api/cases/${item.id}/hard-flag`, () => ({
    flagged: flag.dataset.flagged === "true", reason: new FormData(flag).get("reason") || "",
  }), t("hard.flagSaved")));
  block.querySelector("#leader-visit")?.addEventListener("click", () => {
    // The visit screen opens with the kind chosen (it reads this once, for a new check).
    const id = outbox.uuid();
    sessionStorage.setItem(`fieldcase.checkKind.${id}`, LEADER_VISIT);
    go(`#/check/${item.id}/${id}`);
  });
}

// ---- #/hard-cases ------------------------------------------------------------------------
function row(c) {
  return html`<tr data-case-id="${c.id}">
    <th scope="row" data-label="${t("subject")}"><a href="#/case/${c.id}">${c.subject}</a>
      <span class="muted small">${c.address}</span></th>
    <td data-label="${t("hard.kinds")}">${KINDS.filter((k) => c.kinds.includes(k)).map((k) => t(`hard.kind.${k}`)).join("、")}</td>
    <td data-label="${t("status")}"><span class="chip-status" data-status="${c.status}">${term(c.status)}</span></td>
    <td data-label="${t("leader")}">${c.leader?.name || html`<span class="muted">—</span>`}</td>
    <td data-label="${t("hard.plan")}">${c.plan ? `${t(`hard.plan.${c.plan.status}`)} · ${c.plan.deadline}` : html`<span class="muted">${t("hard.noPlanShort")}</span>`}</td>
    <td data-label="${t("hard.groupSize")}" class="n">${c.group_size}</td>
  </tr>`;
}

export async function renderHardCases(view, query = "") {
  const params = new URLSearchParams(query || "");
  const kind = KINDS.includes(params.get("kind")) ? params.get("kind") : "";
  const plan = ["true", "false"].includes(params.get("has_plan")) ? params.get("has_plan") : "";
  const wanted = new URLSearchParams({ per_page: "100", ...(kind ? { kind } : {}), ...(plan ? { has_plan: plan } : {}) });
  view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  let answer;
  try {
    answer = await api("GET", `/api/hard-cases?${wanted}`);
  } catch (error) {
    view.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
    return;
  }
  const items = answer.items || [];
  view.innerHTML = html`<section class="hard-cases" id="hard-cases">
    <h1>${t("hard.list")} <span class="muted h1-sub">${answer.total ?? items.length}</span></h1>
    <form class="row filters" id="hard-filters">
      <label for="hard-kind">${t("hard.kinds")}</label>
      <select id="hard-kind" name="kind"><option value="">${t("hard.allKinds")}</option>
        ${KINDS.map((k) => html`<option value="${k}" ${k === kind ? "selected" : ""}>${t(`hard.kind.${k}`)}</option>`)}</select>
      <label for="hard-plan">${t("hard.plan")}</label>
      <select id="hard-plan" name="has_plan"><option value="">${t("hard.allKinds")}</option>
        <option value="true" ${plan === "true" ? "selected" : ""}>${t("hard.withPlan")}</option>
        <option value="false" ${plan === "false" ? "selected" : ""}>${t("hard.noPlanShort")}</option></select>
    </form>
    ${items.length ? html`<div class="table-wrap"><table class="data stack" id="hard-table">
      <thead><tr><th scope="col">${t("subject")}</th><th scope="col">${t("hard.kinds")}</th><th scope="col">${t("status")}</th>
        <th scope="col">${t("leader")}</th><th scope="col">${t("hard.plan")}</th><th scope="col" class="n">${t("hard.groupSize")}</th></tr></thead>
      <tbody>${items.map(row)}</tbody></table></div>`
    : html`<p class="muted" id="hard-empty">${t("hard.empty")}</p>`}
  </section>`;
  view.querySelector("#hard-filters").addEventListener("change", (event) => {
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams([...form].filter(([, v]) => v));
    go(`#/hard-cases${next.toString() ? `?${next}` : ""}`);
  });
}
