// Questionnaires (回访话术, residents' surveys): a template from the server rendered as a
// form, the answers read back as the API wants them ({key: value}), and the checks the
// server makes (required, kind, range) made here first, so nothing is queued that the
// server would refuse. Templates come from GET /api/questionnaires, kept on the phone.
import { getLang, t } from "./i18n.js";
import { cachedGet } from "./state.js";
import { html } from "./ui.js";

// A {zh, en} label in the app's language (the other one when it is missing).
export function label(text, lang = getLang()) {
  if (text == null) return "";
  if (typeof text === "string") return text;
  return text[lang] ?? text.zh ?? text.en ?? "";
}

// The questionnaires the phone knows: the server's latest versions, else the phone's copy
// (a door-to-door survey in a block with no signal).
export async function questionnaires() {
  return (await cachedGet("/api/questionnaires")).items || [];
}

export async function questionnaire(code) {
  return (await questionnaires()).find((q) => q.code === code) || null;
}

export function satisfactionQuestion(template) {
  return (template?.questions || []).find((q) => q.satisfaction) || null;
}

// The answers from a form's values: `values(name)` gives every value of a field (FormData's
// getAll). Answers the API's way: single -> option value, multi -> list, scale -> integer,
// yesno -> boolean, text -> string; unanswered optional questions are left out.
export function collect(questions, values) {
  const answers = {};
  for (const q of questions) {
    const given = values(`q-${q.key}`).map((v) => String(v).trim()).filter((v) => v !== "");
    if (!given.length) continue;
    if (q.kind === "multi") answers[q.key] = given;
    else if (q.kind === "scale") answers[q.key] = Number(given[0]);
    else if (q.kind === "yesno") answers[q.key] = given[0] === "true";
    else answers[q.key] = given[0];
  }
  return answers;
}

// What the server would refuse, by question key: {key: [message]} (empty when fine).
export function check(questions, answers) {
  const errors = {};
  for (const q of questions) {
    const value = answers[q.key];
    const missing = value === undefined || value === null || value === ""
      || (Array.isArray(value) && !value.length);
    if (missing) {
      if (q.required) errors[q.key] = [t("required")];
      continue;
    }
    const options = (q.options || []).map((o) => o.value);
    if (q.kind === "single" && !options.includes(value)) errors[q.key] = [t("notAnOption")];
    if (q.kind === "multi" && (!Array.isArray(value) || value.some((v) => !options.includes(v)))) {
      errors[q.key] = [t("notAnOption")];
    }
    if (q.kind === "scale" && !(Number.isInteger(value) && value >= (q.min ?? 1)
        && value <= (q.max ?? 5))) {
      errors[q.key] = [`${q.min ?? 1}–${q.max ?? 5}`];
    }
    if (q.kind === "yesno" && typeof value !== "boolean") errors[q.key] = [t("required")];
  }
  return errors;
}

// The satisfaction given in the answers (满意 / 基本满意 / 不满意), or null.
export function satisfactionOf(template, answers) {
  const q = satisfactionQuestion(template);
  return q ? answers[q.key] ?? null : null;
}

function chip(type, name, value, text, checked) {
  return html`<label class="chip"><input type="${type}" name="${name}" value="${value}"
    ${checked ? "checked" : ""}> ${text}</label>`;
}

// One question as a fieldset: the label in the app's language, a required mark, and
// big chips for choices (one thumb), a textarea for text. `answers` refills a draft.
function questionField(q, answers, prefix) {
  const name = `q-${q.key}`;
  const value = answers?.[q.key];
  const star = q.required ? html` <span class="req" aria-label="${t("required")}">*</span>` : "";
  let body;
  if (q.kind === "single" || q.kind === "multi") {
    const type = q.kind === "single" ? "radio" : "checkbox";
    body = html`<div class="chips">${(q.options || []).map((o) => chip(type, name, o.value,
      label(o.label), q.kind === "single" ? value === o.value : (value || []).includes(o.value)))}</div>`;
  } else if (q.kind === "scale") {
    const min = q.min ?? 1;
    const max = q.max ?? 5;
    const steps = Array.from({ length: max - min + 1 }, (_, i) => min + i);
    body = html`<div class="chips scale">${steps.map((n) => chip("radio", name, n, n, value === n))}</div>
      <p class="muted small scale-ends"><span>${min}</span><span>${max}</span></p>`;
  } else if (q.kind === "yesno") {
    body = html`<div class="chips">${chip("radio", name, "true", t("yes"), value === true)}
      ${chip("radio", name, "false", t("no"), value === false)}</div>`;
  } else {
    body = html`<textarea id="${prefix}${name}" name="${name}" rows="2"
      aria-labelledby="${prefix}${name}-legend">${value ?? ""}</textarea>`;
  }
  return html`<fieldset class="question${q.satisfaction ? " satisfaction" : ""}" data-key="${q.key}"
      data-kind="${q.kind}" ${q.required ? "data-required" : ""}>
    <legend id="${prefix}${name}-legend">${label(q.label)}${star}</legend>
    ${q.satisfaction ? html`<p class="muted small">${t("satisfactionQuestion")}</p>` : ""}
    ${body}
    <p class="error small q-error" role="alert" hidden></p>
  </fieldset>`;
}

export function renderQuestions(template, answers = {}, prefix = "") {
  return html`<div class="questionnaire" data-code="${template.code}" data-version="${template.version}">
    ${(template.questions || []).map((q) => questionField(q, answers, prefix))}</div>`;
}

// A question's error goes as soon as it is answered (the others keep theirs).
export function clearErrorsOnAnswer(root) {
  const clear = (event) => {
    const box = event.target.closest?.(".question");
    if (!box || !box.hasAttribute("aria-invalid")) return;
    box.removeAttribute("aria-invalid");
    const error = box.querySelector(".q-error");
    error.hidden = true;
    error.textContent = "";
  };
  root.addEventListener("change", clear);
  root.addEventListener("input", clear);
}

// Read a rendered questionnaire: {answers, errors}; errors are shown by their question.
export function readQuestions(root, template) {
  const values = (name) => [...root.querySelectorAll(`[name="${name}"]`)]
    .filter((el) => (el.type === "radio" || el.type === "checkbox" ? el.checked : true))
    .map((el) => el.value);
  const answers = collect(template.questions || [], values);
  const errors = check(template.questions || [], answers);
  for (const box of root.querySelectorAll(".question")) {
    const error = box.querySelector(".q-error");
    const messages = errors[box.dataset.key];
    error.hidden = !messages;
    error.textContent = messages ? messages.join(" ") : "";
    if (messages) box.setAttribute("aria-invalid", "true");
    else box.removeAttribute("aria-invalid");
  }
  const first = root.querySelector(".question[aria-invalid]");
  first?.scrollIntoView({ block: "center" });
  first?.querySelector("input, textarea")?.focus({ preventScroll: true });
  return { answers, errors };
}
