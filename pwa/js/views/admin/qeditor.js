// The admin's questionnaire editor (on the admin desk): the templates (the newest version
// of each), any version read back, and a form that saves a new version (questions added,
// removed, reordered; kind, key, Chinese and English labels, required, options, scale
// range, the satisfaction question). The server checks the template; its 422 errors are
// shown by the question and field they name. Kinds and satisfaction values come from the
// server's vocabulary.
import { api } from "../../api.js";
import { getLang, t, term, termBoth } from "../../i18n.js";
import { label } from "../../questionnaire.js";
import { cachedGet } from "../../state.js";
import { errorRef, errorText, flatMessages, fmtTime, html, safeUrl, toast } from "../../ui.js";

const CHOICE = ["single", "multi"];

function blankQuestion(kinds) {
  return { key: "", kind: kinds.includes("single") ? "single" : kinds[0], label: { zh: "", en: "" },
    required: false, options: [blankOption(), blankOption()] };
}

function blankOption() {
  return { value: "", label: { zh: "", en: "" } };
}

// The satisfaction question's options: the server's satisfaction values, named in both
// languages.
function satisfactionOptions(v) {
  return (v.satisfaction || []).map((value) => ({ value, label: termBoth(value) }));
}

// A template as an editable copy (options kept even when the kind has none, so switching
// kinds back and forth loses nothing typed).
function editable(template, kinds) {
  return {
    code: template?.code || "",
    version: template?.version || 0,
    title: { zh: template?.title?.zh || "", en: template?.title?.en || "" },
    questions: (template?.questions || [blankQuestion(kinds)]).map((q) => ({
      key: q.key || "", kind: q.kind, label: { zh: q.label?.zh || "", en: q.label?.en || "" },
      required: Boolean(q.required), satisfaction: Boolean(q.satisfaction),
      options: (q.options || []).map((o) => ({ value: o.value, label: { zh: o.label?.zh || "", en: o.label?.en || "" } })),
      min: q.min ?? null, max: q.max ?? null,
    })),
  };
}

// The body of POST /api/questionnaires.
export function templateBody(model, v) {
  return {
    code: model.code.trim(),
    title: { zh: model.title.zh.trim(), en: model.title.en.trim() },
    questions: model.questions.map((q) => {
      const out = { key: q.key.trim(), kind: q.kind, label: { zh: q.label.zh.trim(), en: q.label.en.trim() },
        required: q.required };
      if (q.satisfaction) {
        out.satisfaction = true;
        out.options = satisfactionOptions(v);
      } else if (CHOICE.includes(q.kind)) {
        out.options = q.options.map((o) => ({ value: o.value.trim(), label: { zh: o.label.zh.trim(), en: o.label.en.trim() } }));
      }
      if (q.kind === "scale") {
        out.min = q.min === "" || q.min == null ? null : Number(q.min);
        out.max = q.max === "" || q.max == null ? null : Number(q.max);
      }
      return out;
    }),
  };
}

function questionSummary(q, n) {
  return html`<li class="q-summary" data-key="${q.key}">
    <b>${n}. ${label(q.label)}</b> <span class="chip-status">${term(`kind.${q.kind}`)}</span>
    ${q.required ? html`<span class="req">${t("requiredQuestion")}</span>` : ""}
    ${q.satisfaction ? html`<span class="chip-status satisfaction-satisfied">${t("satisfaction")}</span>` : ""}
    <span class="muted small"><code>${q.key}</code> · ${q.label?.zh || ""} / ${q.label?.en || ""}</span>
    ${q.options?.length ? html`<span class="small q-options">${q.options.map((o) => html`<span class="chip-status"><code>${o.value}</code> ${label(o.label)}</span> `)}</span>` : ""}
    ${q.kind === "scale" ? html`<span class="small">${q.min} – ${q.max}</span>` : ""}
  </li>`;
}

function versionView(template, latest) {
  const versions = Array.from({ length: latest }, (_, i) => latest - i);
  return html`<div class="card q-version" id="q-version" data-code="${template.code}" data-version="${template.version}">
    <div class="title-row"><h3>${label(template.title)} <span class="muted small">${template.code} · v${template.version}</span></h3>
      <label class="inline">${t("version")} <select id="q-version-pick">${versions.map((n) => html`<option value="${n}" ${n === template.version ? "selected" : ""}>v${n}</option>`)}</select></label></div>
    <p class="muted small">${template.title?.zh || ""} / ${template.title?.en || ""} · ${fmtTime(template.created_at)}</p>
    <ol class="q-summaries">${(template.questions || []).map((q, i) => questionSummary(q, i + 1))}</ol>
  </div>`;
}

function fieldError(name) {
  return html`<p class="error small q-field-error" data-field="${name}" role="alert" hidden></p>`;
}

function optionRows(q, i) {
  return html`<div class="q-options-edit">${q.options.map((o, j) => html`<div class="option-row" data-option="${j}">
    <input data-q="${i}" data-o="${j}" data-f="value" value="${o.value}" aria-label="${t("optionValue")} ${j + 1}" placeholder="${t("optionValue")}">
    <input data-q="${i}" data-o="${j}" data-f="zh" value="${o.label.zh}" aria-label="中文 ${j + 1}" placeholder="中文" lang="zh-CN">
    <input data-q="${i}" data-o="${j}" data-f="en" value="${o.label.en}" aria-label="English ${j + 1}" placeholder="English" lang="en">
    <button type="button" class="icon" data-op="remove-option" data-q="${i}" data-o="${j}" aria-label="${t("remove")} ${j + 1}" title="${t("remove")}">✕</button>
  </div>`)}
  <button type="button" data-op="add-option" data-q="${i}">＋ ${t("addOption")}</button></div>`;
}

function questionCard(q, i, count, v) {
  const kinds = v.question_kinds || [];
  const id = (name) => `q${i}-${name}`;
  return html`<li class="card q-edit" data-index="${i}" id="q-edit-${i}">
    <div class="q-head">
      <h4>${t("questionN").replace("{n}", i + 1)}</h4>
      <span class="q-moves">
        <button type="button" class="icon" data-op="up" data-q="${i}" ${i === 0 ? "disabled" : ""} aria-label="${t("moveUp")} ${i + 1}" title="${t("moveUp")}">↑</button>
        <button type="button" class="icon" data-op="down" data-q="${i}" ${i === count - 1 ? "disabled" : ""} aria-label="${t("moveDown")} ${i + 1}" title="${t("moveDown")}">↓</button>
        <button type="button" class="icon danger" data-op="remove" data-q="${i}" aria-label="${t("remove")} ${i + 1}" title="${t("remove")}">✕</button>
      </span>
    </div>
    ${fieldError("_")}
    <div class="q-grid">
      <label for="${id("kind")}">${t("questionKind")}
        <select id="${id("kind")}" data-q="${i}" data-f="kind" ${q.satisfaction ? "disabled" : ""}>${kinds.map((k) => html`<option value="${k}" ${k === q.kind ? "selected" : ""}>${term(`kind.${k}`)}</option>`)}</select></label>
      <label for="${id("key")}">${t("questionKey")} <span class="muted small">${t("keyHint")}</span>
        <input id="${id("key")}" data-q="${i}" data-f="key" value="${q.key}" autocomplete="off" spellcheck="false" maxlength="40"></label>
    </div>
    ${fieldError("kind")}${fieldError("key")}
    <label for="${id("zh")}">${t("labelZh")}</label>
    <input id="${id("zh")}" data-q="${i}" data-f="label.zh" value="${q.label.zh}" lang="zh-CN">
    <label for="${id("en")}">${t("labelEn")}</label>
    <input id="${id("en")}" data-q="${i}" data-f="label.en" value="${q.label.en}" lang="en">
    ${fieldError("label")}
    <div class="chips q-flags">
      <label class="chip"><input type="checkbox" data-q="${i}" data-f="required" ${q.required ? "checked" : ""}> ${t("requiredQuestion")}</label>
      <label class="chip"><input type="checkbox" data-q="${i}" data-f="satisfaction" ${q.satisfaction ? "checked" : ""}> ${t("satisfactionCheck")}</label>
    </div>
    ${fieldError("satisfaction")}
    ${q.satisfaction ? html`<p class="small q-fixed">${t("satisfactionFixed")} ${satisfactionOptions(v).map((o) => html`<span class="chip-status">${o.label.zh} / ${o.label.en}</span> `)}</p>`
      : CHOICE.includes(q.kind) ? html`<fieldset class="q-options-box"><legend>${t("options")}</legend>${optionRows(q, i)}</fieldset>` : ""}
    ${fieldError("options")}
    ${q.kind === "scale" && !q.satisfaction ? html`<div class="pair">
      <label>${t("scaleMin")} <input type="number" step="1" data-q="${i}" data-f="min" value="${q.min ?? ""}"></label>
      <label>${t("scaleMax")} <input type="number" step="1" data-q="${i}" data-f="max" value="${q.max ?? ""}"></label></div>` : ""}
    ${fieldError("min")}${fieldError("max")}
  </li>`;
}

function editorForm(model, v) {
  const editing = model.version > 0;
  return html`<form id="q-form" class="card q-form" novalidate data-code="${model.code}">
    <h3>${editing ? `${t("edit")} ${model.code} (v${model.version} → v${model.version + 1})` : t("newQuestionnaire")}</h3>
    <p class="muted small">${t("questionnaireHint")}</p>
    <label for="q-code">${t("code")} <span class="muted small">${t("codeHint")}</span></label>
    <input id="q-code" name="code" maxlength="60" required value="${model.code}" ${editing ? "readonly" : ""} autocomplete="off" spellcheck="false">
    <p class="error small q-top-error" data-field="code" role="alert" hidden></p>
    <div class="pair">
      <label>${t("title")} (中文) <input id="q-title-zh" name="title_zh" value="${model.title.zh}" lang="zh-CN"></label>
      <label>${t("title")} (English) <input id="q-title-en" name="title_en" value="${model.title.en}" lang="en"></label>
    </div>
    <p class="error small q-top-error" data-field="title" role="alert" hidden></p>
    <h4>${t("questions")}</h4>
    <p class="error small q-top-error" data-field="questions" role="alert" hidden></p>
    <ol class="q-edits" id="q-edits">${model.questions.map((q, i) => questionCard(q, i, model.questions.length, v))}</ol>
    <div class="row">
      <button type="button" id="q-add">＋ ${t("addQuestion")}</button>
      <button type="submit" class="primary" id="q-save">${t("saveVersion")}</button>
      <button type="button" id="q-cancel">${t("cancel")}</button>
    </div>
    <div id="q-result" role="status"></div>
  </form>`;
}

// What a field needs, in the app's language, before the server's own words (English):
// the server's rule for each field of a question (server/domain/revisits/questionnaires.py).
function hint(field) {
  if (getLang() === "en") return [];
  const key = `qerr.${field.split(".")[0]}`;
  return t(key) === key ? [] : [t(key)];
}

// Show the server's 422 by question and field: {questions: {"<i>": {field: [...]}}}, or
// {questions: ["…"]} for the template as a whole; code and title at their fields.
function showErrors(form, error) {
  for (const slot of form.querySelectorAll(".q-field-error, .q-top-error")) { slot.hidden = true; slot.textContent = ""; }
  for (const card of form.querySelectorAll(".q-edit[aria-invalid]")) card.removeAttribute("aria-invalid");
  const errors = error.problem?.errors || {};
  const put = (slot, messages) => {
    if (!slot || !messages.length) return false;
    slot.hidden = false;
    slot.textContent = [slot.textContent, ...messages].filter(Boolean).join(" ");
    return true;
  };
  for (const name of ["code", "title"]) {
    put(form.querySelector(`.q-top-error[data-field="${name}"]`), flatMessages(errors[name]));
  }
  const questions = errors.questions;
  if (Array.isArray(questions) || typeof questions === "string") {
    put(form.querySelector('.q-top-error[data-field="questions"]'), flatMessages(questions));
  } else if (questions) {
    for (const [index, fields] of Object.entries(questions)) {
      const card = form.querySelector(`.q-edit[data-index="${index}"]`);
      if (!card) {
        put(form.querySelector('.q-top-error[data-field="questions"]'), flatMessages(fields, index));
        continue;
      }
      card.setAttribute("aria-invalid", "true");
      for (const [field, messages] of Object.entries(typeof fields === "object" && !Array.isArray(fields) ? fields : { _: fields })) {
        // "label.en", "options.0.value": the first part names the slot.
        const slot = card.querySelector(`.q-field-error[data-field="${field}"]`)
          || card.querySelector('.q-field-error[data-field="_"]');
        const prefix = slot?.dataset.field === field ? "" : field;
        put(slot, [...hint(field), ...flatMessages(messages, prefix)]);
      }
    }
  }
  const others = Object.keys(errors).filter((k) => !["code", "title", "questions"].includes(k));
  form.querySelector("#q-result").innerHTML = html`<p class="error" role="alert">${error.status === 422 ? `${t("fieldsWrong")} · ` : ""}${errorText(error)}${errorRef(error)}</p>
    ${others.length ? html`<ul class="error small">${others.map((k) => html`<li>${k}: ${flatMessages(errors[k]).join(" ")}</li>`)}</ul>` : ""}`.toString();
  const first = form.querySelector(".q-edit[aria-invalid], .q-top-error:not([hidden])");
  first?.scrollIntoView({ block: "center" });
}

// `canSave` false (a street's admin: questionnaires are district-wide): read only.
export async function drawQuestionnaires(section, v, canSave = true) {
  const kinds = v.question_kinds || [];
  const items = (await api("GET", "/api/questionnaires")).items || [];
  section.innerHTML = html`<div class="title-row"><h2>${t("questionnaires")}</h2>
      ${canSave ? html`<button type="button" id="new-questionnaire">＋ ${t("newQuestionnaire")}</button>` : ""}</div>
    ${items.length ? html`<ul class="questionnaires">${items.map((q) => html`<li class="card q-item" data-code="${q.code}">
      <div class="title-row"><h3>${label(q.title)}</h3>
        <span class="muted small">${q.code} · v${q.version} · ${(q.questions || []).length} ${t("questions")} · ${fmtTime(q.created_at)}</span></div>
      <div class="row"><button type="button" class="view-questionnaire" data-code="${q.code}">${t("view")}</button>
        ${canSave ? html`<button type="button" class="edit-questionnaire" data-code="${q.code}">${t("edit")}</button>` : ""}
        <a class="button print-form" data-code="${q.code}" download
          href="${safeUrl(`/api/questionnaires/${encodeURIComponent(q.code)}/form.pdf?version=${q.version}`)}">${t("printForm")}</a></div>
    </li>`)}</ul>` : html`<p class="muted">${t("noQuestionnaires")}</p>`}
    <div id="q-viewer"></div>
    <div id="q-editor"></div>`;
  const viewer = section.querySelector("#q-viewer");
  const editor = section.querySelector("#q-editor");
  const latest = (code) => items.find((q) => q.code === code);

  const show = (code) => showVersion(section, code, latest(code).version, latest(code).version);

  const open = (template) => {
    viewer.innerHTML = "";
    const model = editable(template, kinds);
    const redraw = (focus) => {
      editor.innerHTML = editorForm(model, v).toString();
      wire();
      if (focus) editor.querySelector(focus)?.focus();
    };
    const wire = () => {
      const form = editor.querySelector("#q-form");
      form.addEventListener("input", (event) => {
        const el = event.target;
        if (el.name === "code") model.code = el.value;
        else if (el.name === "title_zh") model.title.zh = el.value;
        else if (el.name === "title_en") model.title.en = el.value;
        const i = el.dataset.q;
        if (i === undefined || el.type === "checkbox" || el.tagName === "SELECT") return;
        const q = model.questions[Number(i)];
        if (el.dataset.o !== undefined) {
          const o = q.options[Number(el.dataset.o)];
          if (el.dataset.f === "value") o.value = el.value;
          else o.label[el.dataset.f] = el.value;
        } else if (el.dataset.f === "key") q.key = el.value;
        else if (el.dataset.f === "label.zh") q.label.zh = el.value;
        else if (el.dataset.f === "label.en") q.label.en = el.value;
        else if (el.dataset.f === "min" || el.dataset.f === "max") q[el.dataset.f] = el.value;
      });
      form.addEventListener("change", (event) => {
        const el = event.target;
        const i = el.dataset.q;
        if (i === undefined) return;
        const q = model.questions[Number(i)];
        if (el.dataset.f === "required") q.required = el.checked;
        else if (el.dataset.f === "satisfaction") {
          q.satisfaction = el.checked;
          if (el.checked) q.kind = "single";
          redraw(`[data-q="${i}"][data-f="satisfaction"]`);
        } else if (el.dataset.f === "kind") {
          q.kind = el.value;
          if (CHOICE.includes(q.kind) && q.options.length < 2) {
            while (q.options.length < 2) q.options.push(blankOption());
          }
          if (q.kind === "scale" && q.min == null && q.max == null) { q.min = 1; q.max = 5; }
          redraw(`[data-q="${i}"][data-f="kind"]`);
        }
      });
      form.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-op]");
        if (!button) return;
        const i = Number(button.dataset.q);
        const qs = model.questions;
        const op = button.dataset.op;
        if (op === "up" && i > 0) {
          [qs[i - 1], qs[i]] = [qs[i], qs[i - 1]];
          redraw(`[data-op="up"][data-q="${i - 1}"]:not([disabled]), [data-op="down"][data-q="${i - 1}"]`);
        } else if (op === "down" && i < qs.length - 1) {
          [qs[i + 1], qs[i]] = [qs[i], qs[i + 1]];
          redraw(`[data-op="down"][data-q="${i + 1}"]:not([disabled]), [data-op="up"][data-q="${i + 1}"]`);
        } else if (op === "remove") {
          qs.splice(i, 1);
          redraw(qs.length ? `#q-edit-${Math.min(i, qs.length - 1)} [data-f="kind"]` : "#q-add");
        } else if (op === "add-option") {
          qs[i].options.push(blankOption());
          redraw(`[data-q="${i}"][data-o="${qs[i].options.length - 1}"][data-f="value"]`);
        } else if (op === "remove-option") {
          qs[i].options.splice(Number(button.dataset.o), 1);
          redraw(`[data-op="add-option"][data-q="${i}"]`);
        }
      });
      form.querySelector("#q-add").addEventListener("click", () => {
        model.questions.push(blankQuestion(kinds));
        redraw(`#q-edit-${model.questions.length - 1} [data-f="key"]`);
        editor.querySelector(`#q-edit-${model.questions.length - 1}`)?.scrollIntoView({ block: "center" });
      });
      form.querySelector("#q-cancel").addEventListener("click", () => { editor.innerHTML = ""; });
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const button = form.querySelector("#q-save");
        button.disabled = true;
        form.querySelector("#q-result").innerHTML = html`<p class="muted">${t("sending")}</p>`.toString();
        try {
          const saved = await api("POST", "/api/questionnaires", { body: templateBody(model, v) });
          toast(`${t("questionnaireSaved")}: ${saved.code} v${saved.version}`);
          cachedGet("/api/questionnaires").catch(() => {}); // the phone's copy, for surveys
          await drawQuestionnaires(section, v, canSave);
          await showVersion(section, saved.code, saved.version, saved.version);
        } catch (error) {
          button.disabled = false;
          showErrors(form, error);
        }
      });
    };
    redraw();
    editor.querySelector("#q-form").scrollIntoView({ block: "start" });
  };

  section.querySelector("#new-questionnaire")?.addEventListener("click", () => open(null));
  for (const button of section.querySelectorAll(".view-questionnaire")) {
    button.addEventListener("click", () => show(button.dataset.code));
  }
  for (const button of section.querySelectorAll(".edit-questionnaire")) {
    button.addEventListener("click", () => open(latest(button.dataset.code)));
  }
}

// One version of a template, read back from the server (GET ?version=), with a picker of
// the others.
async function showVersion(section, code, version, newest) {
  const viewer = section.querySelector("#q-viewer");
  section.querySelector("#q-editor").innerHTML = "";
  try {
    const template = await api("GET", `/api/questionnaires/${encodeURIComponent(code)}?version=${version}`);
    viewer.innerHTML = versionView(template, newest).toString();
    viewer.querySelector("#q-version-pick").addEventListener("change", (event) => {
      showVersion(section, code, Number(event.target.value), newest);
    });
    viewer.scrollIntoView({ block: "start" });
  } catch (error) {
    viewer.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`.toString();
  }
}
