// The case page's leaders' instructions (领导批示, newest first, with a form for a leader's
// own or the office's record of one given in writing or by word) and the feedback to the
// complainant (答复投诉人: how and when, recorded by the office and the revisit team).
import { api } from "../api.js";
import { t } from "../i18n.js";
import { canInstruct, canTellComplainant, feedbackName, isLeader } from "../leaders.js";
import { cachedGet } from "../state.js";
import { appendRef, errorText, fmtTime, html, toast } from "../ui.js";

// What the blocks show, read beside the case (a failure shows nothing, not an error).
export async function loadLeaderFacts(caseId) {
  const [instructions, feedback] = await Promise.all([
    api("GET", `/api/cases/${caseId}/instructions`).catch(() => ({ items: [] })),
    api("GET", `/api/cases/${caseId}/feedback`).catch(() => ({ items: [] })),
  ]);
  return { instructions: instructions.items || [], feedback: feedback.items || [] };
}

// A datetime-local value for now, in the user's time.
function nowLocal() {
  const d = new Date();
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}

export function leaderBlocks(item, facts, open, v) {
  const instructions = facts?.instructions || [];
  const feedback = facts?.feedback || [];
  const office = canInstruct() && !isLeader();
  const instructionForm = open && canInstruct() ? html`
    <details class="instruction-box" id="instruction-box"><summary>${t("addInstruction")}</summary>
      <form id="instruction-form" class="stack">
        ${office ? html`<label for="instruction-leader">${t("instructionLeader")} <span class="req" aria-hidden="true">*</span></label>
          <select id="instruction-leader" name="leader_id" required><option value="">—</option></select>
          <label for="instruction-given">${t("instructionGivenAt")}</label>
          <input id="instruction-given" name="given_at" type="datetime-local" value="${nowLocal()}">` : ""}
        <label for="instruction-text">${t("instructionText")} <span class="req" aria-hidden="true">*</span></label>
        <textarea id="instruction-text" name="text" rows="3" required></textarea>
        <p class="error small" id="instruction-error" role="alert" hidden></p>
        <button type="submit" class="primary" id="instruction-send">${t("saveInstruction")}</button>
      </form></details>` : "";
  const methods = v?.feedback_methods || [];
  const feedbackForm = open && canTellComplainant() ? html`
    <details class="feedback-box" id="feedback-box"><summary>${t("tellComplainant")}</summary>
      <form id="feedback-form" class="stack">
        <label for="feedback-method">${t("feedbackMethod")}</label>
        <select id="feedback-method" name="method">${methods.map((m) => html`<option value="${m}">${feedbackName(m)}</option>`)}</select>
        <label for="feedback-told">${t("feedbackToldAt")}</label>
        <input id="feedback-told" name="told_at" type="datetime-local" value="${nowLocal()}" required>
        <label for="feedback-note">${t("feedbackNote")}</label>
        <textarea id="feedback-note" name="note" rows="2"></textarea>
        <p class="error small" id="feedback-error" role="alert" hidden></p>
        <button type="submit" class="primary" id="feedback-send">${t("saveFeedback")}</button>
      </form></details>` : "";
  const showInstructions = instructions.length || instructionForm;
  const showFeedback = feedback.length || feedbackForm;
  return html`
    ${showInstructions ? html`<section class="card instructions" id="instructions">
      <h2>${t("instructions")}</h2>
      ${instructions.length ? html`<ol class="instruction-list" id="instruction-list">${instructions.map((i) => html`
        <li class="instruction"><b class="instruction-leader">${i.leader_name}</b>
          <span class="muted small">${fmtTime(i.given_at)}</span>
          <p class="instruction-text">${i.text}</p></li>`)}</ol>`
        : html`<p class="muted small">${t("noInstructions")}</p>`}
      ${instructionForm}</section>` : ""}
    ${showFeedback ? html`<section class="card feedback" id="feedback">
      <h2>${t("feedbackTitle")}</h2>
      ${feedback.length ? html`<ul class="feedback-list" id="feedback-list">${feedback.map((f) => html`
        <li class="feedback-item" data-method="${f.method}"><b>${feedbackName(f.method)}</b>
          <span class="muted small">${fmtTime(f.told_at)}</span>
          ${f.note ? html`<span class="feedback-note">${f.note}</span>` : ""}</li>`)}</ul>`
        : html`<p class="muted small" id="feedback-none">${t("noFeedback")}</p>`}
      ${feedbackForm}</section>` : ""}`;
}

// The forms' wiring; `done` reloads the case page.
export function wireLeaderBlocks(view, item, done) {
  const instruction = view.querySelector("#instruction-form");
  const select = view.querySelector("#instruction-leader");
  if (select) {
    cachedGet(`/api/leaders?unit=${encodeURIComponent(item.unit_id || item.unit?.id || "")}`)
      .then((answer) => {
        if (!select.isConnected) return;
        for (const l of answer.items || []) {
          const option = document.createElement("option");
          option.value = l.id;
          option.textContent = l.display_name;
          if (item.leader?.id === l.id) option.selected = true;
          select.append(option);
        }
      }).catch(() => {});
  }
  const send = (form, path, body, errorBox, okText) => async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const box = form.querySelector(errorBox);
    button.disabled = true;
    box.hidden = true;
    try {
      await api("POST", path, { body: body() });
      toast(okText);
      await done();
    } catch (error) {
      button.disabled = false;
      const fields = Object.values(error.problem?.errors || {}).flat().join(" ");
      box.textContent = [errorText(error), fields].filter(Boolean).join(" ");
      appendRef(box, error);
      box.hidden = false;
    }
  };
  const when = (value) => (value ? new Date(value).toISOString() : null);
  instruction?.addEventListener("submit", send(instruction, `/api/cases/${item.id}/instructions`, () => {
    const data = Object.fromEntries(new FormData(instruction));
    return { text: data.text || "", ...(data.leader_id ? { leader_id: data.leader_id } : {}),
      ...(data.given_at ? { given_at: when(data.given_at) } : {}) };
  }, "#instruction-error", t("instructionSaved")));
  const feedback = view.querySelector("#feedback-form");
  feedback?.addEventListener("submit", send(feedback, `/api/cases/${item.id}/feedback`, () => {
    const data = Object.fromEntries(new FormData(feedback));
    return { method: data.method, told_at: when(data.told_at), note: data.note || "" };
  }, "#feedback-error", t("feedbackSaved")));
}
