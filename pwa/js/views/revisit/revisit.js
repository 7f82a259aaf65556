// Phone revisits (回访): reveal the complainant's number with a reason, call it through a
// tel: link, log each attempt, then fill in the questionnaire (or schedule a call back at
// the time the complainant names), record a refusal, or after three failed attempts
// spread out record "unreachable" with a reason. Kept on the phone as a draft while the
// call goes on; saved to the outbox as one revisit (idempotent on its client UUID).
import { api } from "../../api.js";
import { db } from "../../db.js";
import { t, term } from "../../i18n.js";
import { go } from "../../nav.js";
import * as outbox from "../../outbox.js";
import { clearErrorsOnAnswer, label, questionnaires, readQuestions, renderQuestions, satisfactionOf }
  from "../../questionnaire.js";
import { saveChain, savedOrSaid } from "../../savechain.js";
import { cachedCase, cachedGet, onForget, revisitVocab, vocab } from "../../state.js";
import { appendRef, errorText, fmtTime, html, toast } from "../../ui.js";

// A revealed number stays in this page's memory only (never on the phone's storage): a
// reload asks again, and the server logs each reveal.
// Forgotten at logout and when someone else logs in (state.forgetUserData).
const revealed = new Map();
onForget(() => revealed.clear());

export const PHONE_QUESTIONNAIRE = "phone-revisit";
export const DOOR_QUESTIONNAIRE = "residents-survey";

// A template by code (and version, when a revisit was begun under an older one).
export async function template(code, version) {
  let list = [];
  try { list = await questionnaires(); } catch { list = []; }
  const latest = list.find((q) => q.code === code);
  if (latest && (version == null || latest.version === version)) return latest;
  try {
    return await cachedGet(`/api/questionnaires/${encodeURIComponent(code)}?version=${version}`);
  } catch {
    return latest || null;
  }
}

function questionnairePicker(list, chosen) {
  if (list.length < 2) return "";
  return html`<select id="questionnaire-code" aria-label="${t("questionnaire")}">${list.map((q) => html`<option value="${q.code}"
      ${q.code === chosen ? "selected" : ""}>${label(q.title)} (v${q.version})</option>`)}</select>`;
}

// The server's rule (GET /api/vocab attempt_rules), with its defaults when not served.
const RULES = { min_attempts: 3, gap_min: 120, timezone: "Asia/Shanghai", final: ["wrong_number"] };

// The local half-day ("2026-11-27 am") an attempt falls in, in the server's time zone.
function halfDay(at, timeZone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", hourCycle: "h23" })
    .formatToParts(new Date(at)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${Number(parts.hour) < 12 ? "am" : "pm"}`;
}

// Failed calls that count: each at least gap_min after the last one counted (a burst
// counts once), and the half-days they fall in.
export function spreadOf(attempts, rules = RULES) {
  const counted = [];
  for (const a of [...attempts].sort((x, y) => new Date(x.at) - new Date(y.at))) {
    if (!counted.length || new Date(a.at) - new Date(counted.at(-1).at) >= rules.gap_min * 60000) counted.push(a);
  }
  return { counted: counted.length, halves: new Set(counted.map((a) => halfDay(a.at, rules.timezone))).size };
}

// Failed attempts so far; "unreachable" is open after 3 spread out (at least gap_min
// apart, not all in one half-day), or one wrong number. A refusal is its own outcome.
export function unreachableAllowed(attempts, rules = RULES) {
  const failed = attempts.filter((a) => a.outcome !== "answered");
  if (failed.length !== attempts.length || !failed.length) return false;
  if (failed.some((a) => a.outcome === "refused")) return false;
  if (failed.some((a) => (rules.final || []).includes(a.outcome))) return true;
  const { counted, halves } = spreadOf(failed, rules);
  return counted >= rules.min_attempts && halves >= 2;
}

function attemptRows(attempts) {
  if (!attempts.length) return html`<p class="muted small" id="no-attempts">${t("noAttempts")}</p>`;
  return html`<ol class="attempts" id="attempt-list">${attempts.map((a, i) => html`
    <li data-outcome="${a.outcome}"><span class="muted">${i + 1}.</span>
      <time datetime="${a.at}">${fmtTime(a.at)}</time> <b>${term(`outcome.${a.outcome}`)}</b></li>`)}</ol>`;
}

export async function renderPhoneRevisit(view, caseId, revisitId) {
  const v = await vocab();
  const OUTCOMES = revisitVocab(v).attempt_outcomes;
  const rules = { ...RULES, ...(v?.attempt_rules || {}) };
  const item = await cachedCase(caseId);
  const database = await db();
  const existing = await database.get("outbox", revisitId);
  if (existing && !outbox.isMine(existing)) {
    toast(t("draftOtherUser"), "warn"); // another user's, on this phone: not theirs to read
    return go(`#/case/${caseId}`, { replace: true });
  }
  if ((await database.get("sent", revisitId)) || (existing && existing.state !== "draft")) {
    return go(`#/case/${caseId}`, { replace: true }); // saved: not editable any more
  }
  const draft = existing?.payload ? { ...existing.payload } : {
    method: "phone", attempts: [], notes: "", answers: {}, questionnaire: null,
    unreachable_reason: "",
  };
  let list = [];
  try { list = await questionnaires(); } catch { list = []; }
  let code = draft.questionnaire?.code
    || (list.some((q) => q.code === PHONE_QUESTIONNAIRE) ? PHONE_QUESTIONNAIRE : list[0]?.code);
  let form = code ? await template(code, draft.questionnaire?.version) : null;
  const masked = item.complainant;

  view.innerHTML = html`
    <section class="revisit" data-case-id="${caseId}" data-revisit-id="${revisitId}">
      <a class="back" href="#/case/${caseId}">← ${t("back")}</a>
      <h1>${t("phoneRevisit")}</h1>
      <p class="muted">${item.subject}${item.address ? ` · ${item.address}` : ""}</p>
      <section class="card step" id="reveal-box" aria-labelledby="reveal-title">
        <h2 id="reveal-title">${t("complainantContact")}</h2>
        <p id="masked-contact">${masked ? `${masked.name || ""} ${masked.phone || ""}` : t("noContact")}</p>
        <div id="reveal-slot"></div>
      </section>
      <section class="card step" id="attempts-box" aria-labelledby="attempts-title">
        <h2 id="attempts-title">${t("callAttempts")}</h2>
        <div id="attempt-log"></div>
        <p class="muted small">${t("howDidItGo")}</p>
        <div class="outcomes" id="outcomes">${OUTCOMES.map((o) => html`<button type="button"
          class="${o === "answered" ? "primary big" : "big"}" data-outcome="${o}">${term(`outcome.${o}`)}</button>`)}</div>
        <button type="button" class="link-button" id="undo-attempt" hidden>${t("undoAttempt")}</button>
      </section>
      <section class="card step" id="unreachable-box" hidden aria-labelledby="unreachable-title">
        <h2 id="unreachable-title">${t("unreachable")}</h2>
        <p class="muted small">${t("unreachableHint")}</p>
        <label for="unreachable-reason">${t("unreachableReason")} <span class="req">*</span></label>
        <textarea id="unreachable-reason" rows="2">${draft.unreachable_reason || ""}</textarea>
        <p class="error small" id="unreachable-error" role="alert" hidden></p>
        <button type="button" class="primary big" id="save-unreachable">${t("recordUnreachable")}</button>
      </section>
      <section class="card step" id="refused-box" hidden aria-labelledby="refused-title">
        <h2 id="refused-title">${t("refusedRevisit")}</h2>
        <button type="button" class="primary big" id="save-refused">${t("refusedRevisit")}</button>
      </section>
      <section class="card step" id="callback-box" hidden aria-labelledby="callback-title">
        <h2 id="callback-title">${t("callbackTitle")}</h2>
        <label for="callback-at">${t("callbackAt")}</label>
        <input type="datetime-local" id="callback-at">
        <p class="error small" id="callback-error" role="alert" hidden></p>
        <button type="button" class="big" id="save-callback">${t("scheduleCallback")}</button>
      </section>
      <form id="questionnaire-form" class="step" hidden novalidate>
        <h2>${t("questionnaire")}</h2>
        <div id="questionnaire-pick">${questionnairePicker(list, code)}</div>
        <p class="muted small" id="questionnaire-title" ${form && list.length > 1 ? "hidden" : ""}>${form ? `${label(form.title)} · v${form.version}` : t("noQuestionnaire")}</p>
        <div id="questions">${form ? renderQuestions(form, draft.answers) : ""}</div>
        <label for="revisit-notes">${t("notes")}</label>
        <textarea id="revisit-notes" name="notes" rows="2">${draft.notes || ""}</textarea>
      </form>
    </section>
    <div class="actions" id="save-bar" hidden>
      <button class="primary big" id="save-revisit" type="button">${t("saveRevisit")}</button>
    </div>`;

  const answered = () => draft.attempts.some((a) => a.outcome === "answered");
  const qform = view.querySelector("#questionnaire-form");
  clearErrorsOnAnswer(qform);

  const readDraftAnswers = () => {
    if (!form) return {};
    const values = (name) => [...qform.querySelectorAll(`[name="${name}"]`)]
      .filter((el) => (el.type === "radio" || el.type === "checkbox" ? el.checked : true))
      .map((el) => el.value);
    return Object.fromEntries((form.questions || []).map((q) => [q.key, values(`q-${q.key}`)]));
  };
  const chain = saveChain();
  let saved = false;
  const persist = () => {
    draft.notes = view.querySelector("#revisit-notes").value;
    draft.unreachable_reason = view.querySelector("#unreachable-reason").value;
    draft.rawAnswers = readDraftAnswers();
    draft.questionnaire = form ? { code: form.code, version: form.version } : null;
    return chain(() => (saved ? null : outbox.saveRevisit(
      { id: revisitId, caseId, label: item.subject, payload: { ...draft } }, { draft: true })));
  };

  // Draft answers come back as the form's raw values (re-read through the template).
  if (draft.rawAnswers && form) {
    for (const [key, values] of Object.entries(draft.rawAnswers)) {
      for (const value of values) {
        const field = qform.querySelector(`[name="q-${key}"][value="${CSS.escape(value)}"]`);
        if (field) field.checked = true;
        else {
          const text = qform.querySelector(`textarea[name="q-${key}"]`);
          if (text) text.value = value;
        }
      }
    }
  }

  const drawReveal = () => {
    const slot = view.querySelector("#reveal-slot");
    const contact = revealed.get(caseId);
    if (contact) {
      slot.innerHTML = html`<p class="revealed" id="revealed"><b id="revealed-name">${contact.name || ""}</b>
          <span id="revealed-phone">${contact.phone || ""}</span></p>
        ${contact.phone ? html`<a class="button primary big call" id="call-link"
          href="tel:${contact.phone.replace(/[^\d+]/g, "")}">${t("call")} ${contact.phone}</a>` : ""}
        <p class="muted small">${t("revealLogged")}</p>`.toString();
      return;
    }
    slot.innerHTML = html`
      <label for="reveal-reason">${t("revealReason")} <span class="req">*</span></label>
      <textarea id="reveal-reason" rows="2" placeholder="${t("revealReasonHint")}"></textarea>
      <button type="button" class="chip quick-reason" id="quick-reason">${t("revealQuickReason")}</button>
      <p class="error small" id="reveal-error" role="alert" hidden></p>
      <button type="button" class="primary big wide" id="reveal">${t("revealNumber")}</button>`.toString();
    slot.querySelector("#quick-reason").addEventListener("click", () => {
      slot.querySelector("#reveal-reason").value = t("revealQuickReason");
    });
    slot.querySelector("#reveal").addEventListener("click", async (event) => {
      const reason = slot.querySelector("#reveal-reason").value.trim();
      const box = slot.querySelector("#reveal-error");
      if (reason.length < 4) {
        box.textContent = t("revealNeedsReason");
        box.hidden = false;
        slot.querySelector("#reveal-reason").focus();
        return;
      }
      event.target.disabled = true;
      try {
        const contact = await api("POST", `/api/cases/${caseId}/complainant/reveal`, { body: { reason } });
        revealed.set(caseId, contact);
        drawReveal();
      } catch (error) {
        event.target.disabled = false;
        box.textContent = error.kind === "offline" ? t("needsNetwork")
          : error.problem?.errors?.reason?.join(" ") || errorText(error);
        appendRef(box, error);
        box.hidden = false;
      }
    });
  };

  const drawSteps = () => {
    view.querySelector("#attempt-log").innerHTML = attemptRows(draft.attempts).toString();
    view.querySelector("#undo-attempt").hidden = !draft.attempts.length;
    const reached = answered();
    view.querySelector("#outcomes").hidden = reached;
    const refused = draft.attempts.some((a) => a.outcome === "refused");
    view.querySelector("#outcomes").hidden = reached || refused;
    view.querySelector("#unreachable-box").hidden = reached || !unreachableAllowed(draft.attempts, rules);
    view.querySelector("#refused-box").hidden = !refused;
    view.querySelector("#callback-box").hidden = !reached;
    qform.hidden = !reached;
    view.querySelector("#save-bar").hidden = !reached;
  };

  const swapQuestionnaire = async (newCode) => {
    code = newCode;
    form = await template(code);
    view.querySelector("#questionnaire-title").textContent = form
      ? `${label(form.title)} · v${form.version}` : t("noQuestionnaire");
    view.querySelector("#questions").innerHTML = form ? renderQuestions(form, {}).toString() : "";
    persist();
  };

  drawReveal();
  drawSteps();
  // The revisit exists on the phone from the moment it is opened; its first save is awaited
  // last, so the screen answers a tap as soon as it is drawn.
  const opened = persist();

  view.querySelector("#outcomes").addEventListener("click", async (event) => {
    const button = event.target.closest("[data-outcome]");
    if (!button) return;
    draft.attempts = [...draft.attempts, { at: new Date().toISOString(), outcome: button.dataset.outcome }];
    // Shown once it is on the phone: a call listed is a call a crash or reload keeps.
    await persist();
    if (!view.isConnected) return;
    drawSteps();
    if (button.dataset.outcome === "answered") {
      qform.scrollIntoView({ block: "start" });
    } else if (button.dataset.outcome === "refused") {
      view.querySelector("#refused-box").scrollIntoView({ block: "center" });
    } else if (unreachableAllowed(draft.attempts, rules)) {
      view.querySelector("#unreachable-box").scrollIntoView({ block: "center" });
    } else if (draft.attempts.length >= rules.min_attempts) {
      toast(t("attemptsTooClose").replace("{n}", draft.attempts.length), "warn");
    } else toast(`${t("attemptLogged")} (${draft.attempts.length})`);
  });
  view.querySelector("#undo-attempt").addEventListener("click", () => {
    draft.attempts = draft.attempts.slice(0, -1);
    drawSteps();
    persist();
  });
  view.querySelector("#questionnaire-pick").addEventListener("change", (event) => {
    if (event.target.id === "questionnaire-code") swapQuestionnaire(event.target.value);
  });
  qform.addEventListener("input", () => persist());
  qform.addEventListener("change", () => persist());
  view.querySelector("#unreachable-reason").addEventListener("input", () => persist());

  const finish = async (payload) => {
    saved = true;
    if (!(await savedOrSaid(chain, () => outbox.saveRevisit({ id: revisitId, caseId,
      label: item.subject, payload }, { draft: false })))) {
      saved = false; // still a draft: the next tap tries again
      return;
    }
    toast(t("revisitSaved"));
    outbox.requestBackgroundSync();
    outbox.syncNow({ force: true });
    go(`#/case/${caseId}`, { replace: true }); // Back must not reopen the saved revisit
  };

  view.querySelector("#save-unreachable").addEventListener("click", async () => {
    const reason = view.querySelector("#unreachable-reason").value.trim();
    const box = view.querySelector("#unreachable-error");
    if (!reason) {
      box.textContent = t("unreachableNeedsReason");
      box.hidden = false;
      view.querySelector("#unreachable-reason").focus();
      return;
    }
    await finish({ method: "phone", at: draft.attempts.at(-1).at, attempts: draft.attempts,
      unreachable_reason: reason, notes: view.querySelector("#revisit-notes").value.trim() });
  });

  // A refusal (拒绝回访) is the complainant's answer: saved as it is, no more calls owed.
  view.querySelector("#save-refused").addEventListener("click", async () => {
    await finish({ method: "phone", at: draft.attempts.at(-1).at, attempts: draft.attempts,
      notes: view.querySelector("#revisit-notes").value.trim() });
  });

  // The complainant answered but asked to be called at another time: a task for later.
  view.querySelector("#save-callback").addEventListener("click", async () => {
    const value = view.querySelector("#callback-at").value;
    const when = value ? new Date(value) : null;
    const box = view.querySelector("#callback-error");
    if (!when || Number.isNaN(when.getTime()) || when <= new Date()) {
      box.textContent = t("callbackNeedsTime");
      box.hidden = false;
      view.querySelector("#callback-at").focus();
      return;
    }
    const at = draft.attempts.find((a) => a.outcome === "answered")?.at || new Date().toISOString();
    await finish({ method: "phone", at, attempts: draft.attempts, callback_at: when.toISOString(),
      notes: view.querySelector("#revisit-notes").value.trim() });
  });

  view.querySelector("#save-revisit").addEventListener("click", async () => {
    if (!form) {
      toast(t("noQuestionnaire"), "error");
      return;
    }
    const { answers, errors } = readQuestions(view.querySelector("#questions"), form);
    if (Object.keys(errors).length) {
      toast(t("answerRequired"), "error");
      return;
    }
    const satisfaction = satisfactionOf(form, answers);
    const at = draft.attempts.find((a) => a.outcome === "answered")?.at || new Date().toISOString();
    const respondent = { client_id: outbox.uuid(), kind: "complainant", answers,
      ...(satisfaction ? { satisfaction } : {}) };
    await finish({
      method: "phone", at, questionnaire: { code: form.code, version: form.version },
      respondents: [respondent], ...(satisfaction ? { satisfaction } : {}),
      attempts: draft.attempts, notes: view.querySelector("#revisit-notes").value.trim(),
    });
  });

  await opened;
  return () => {};
}
