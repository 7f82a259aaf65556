// The case page's rectification plans (整改方案, seed 001 annex 1): made when a look-back
// re-check found the problem back or a new one; each with its fields, its 完成时限 and
// its acceptance (验收), which an office user of the acceptance unit records here with a
// note. The closure checklist waits for every plan's acceptance.
import { api } from "../api.js";
import { PLAN_FIELDS } from "../campaigns.js";
import { t } from "../i18n.js";
import { appendRef, errorText, fmtTime, html, toast } from "../ui.js";

// The case's plans, read beside the case (a server without plans, or a failure: none).
export async function loadPlans(caseId) {
  try {
    return (await api("GET", `/api/cases/${caseId}/plans`)).items || [];
  } catch {
    return [];
  }
}

function planValue(plan, name) {
  if (name === "acceptance_unit_id") return plan.acceptance_unit?.name || "";
  return plan[name] || "";
}

function planCard(plan) {
  const accepted = plan.status === "accepted";
  return html`<article class="plan" data-plan-id="${plan.id}" data-plan-status="${plan.status}">
    <p class="plan-head"><span class="chip-status plan-status" data-status="${plan.status}">${t(`planStatus.${plan.status}`)}</span>
      <span class="muted small">${t("planDueOn")} <b>${plan.due_on || ""}</b></span></p>
    <dl class="facts plan-fields">${PLAN_FIELDS.filter((f) => f.name !== "due_on").map((f) => html`
      <dt>${t(f.key)}</dt><dd data-field="${f.name}">${planValue(plan, f.name) || html`<span class="muted">—</span>`}</dd>`)}
      ${accepted ? html`<dt>${t("planAcceptedAt")}</dt><dd data-field="accepted_at">${fmtTime(plan.accepted_at)}${
        plan.accepted_by_name ? ` · ${plan.accepted_by_name}` : ""}</dd>
        ${plan.acceptance_note ? html`<dt>${t("planAcceptNote")}</dt><dd data-field="acceptance_note">${plan.acceptance_note}</dd>` : ""}` : ""}
    </dl>
    ${!accepted && plan.may_accept ? html`<form class="plan-accept" data-plan-id="${plan.id}">
      <label for="plan-note-${plan.id}">${t("planAcceptNote")} <span class="muted small">(${t("optional")})</span></label>
      <textarea id="plan-note-${plan.id}" name="note" rows="2" maxlength="2000"></textarea>
      <p class="error small plan-error" role="alert" hidden></p>
      <button type="submit" class="primary plan-accept-button">${t("planAccept")}</button>
    </form>` : ""}
    ${!accepted && !plan.may_accept ? html`<p class="muted small">${t("planAwaitsAcceptance")}</p>` : ""}
  </article>`;
}

export function planBlock(plans) {
  if (!plans?.length) return "";
  return html`<section class="card plans" id="plans">
    <h2>${t("plansTitle")}</h2>
    ${plans.map(planCard)}
  </section>`;
}

// The acceptance forms; `done` reloads the case page (its checklist and timeline change).
export function wirePlanBlock(view, done) {
  for (const form of view.querySelectorAll(".plan-accept")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const box = form.querySelector(".plan-error");
      button.disabled = true;
      box.hidden = true;
      const note = String(new FormData(form).get("note") || "").trim();
      try {
        await api("POST", `/api/plans/${form.dataset.planId}/accept`, { body: note ? { note } : {} });
        toast(t("planAccepted"));
        await done();
      } catch (error) {
        button.disabled = false;
        box.textContent = error.kind === "offline" ? t("needsNetwork") : errorText(error);
        appendRef(box, error);
        box.hidden = false;
      }
    });
  }
}
