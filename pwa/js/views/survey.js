// A door-to-door survey (入户调查): the revisit is started on the case (method door, the
// residents' questionnaire, where it was taken), then each respondent is added as their
// own outbox item with their own client UUID, sent after the survey itself. Works with no
// signal at all: the questionnaire is the phone's copy, everything waits in the outbox.
import { AudioRecorder, capturePhoto, captureAudio, makePreview } from "../capture.js";
import { db } from "../db.js";
import { t, term } from "../i18n.js";
import * as outbox from "../outbox.js";
import { clearErrorsOnAnswer, label, questionnaires, readQuestions, renderQuestions, satisfactionOf }
  from "../questionnaire.js";
import { cachedCase, revisitVocab, state, vocab, warnIfStorageLow } from "../state.js";
import { fmtTime, html, toast } from "../ui.js";
import { DOOR_QUESTIONNAIRE, template } from "./revisit.js";

function fixText(fix) {
  return fix ? `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)} (±${Math.round(fix.accuracy_m)} m)`
    : t("fixWaiting");
}

function location(fix) {
  return fix ? { lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy_m } : null;
}

// The survey as the phone knows it: its outbox item, or once sent its "sent" record.
async function survey(revisitId) {
  const database = await db();
  const waiting = await database.get("outbox", revisitId);
  if (waiting) return { ...waiting, sent: false };
  const sent = await database.get("sent", revisitId);
  return sent ? { ...sent, sent: true, payload: { ...sent.summary } } : null;
}

// This survey's respondents, in the order they were taken: on the phone or sent.
export async function respondentsOf(revisitId) {
  const database = await db();
  const waiting = (await outbox.items()).filter((i) => i.kind === "respondent"
    && i.revisitClientId === revisitId);
  const sent = (await database.getAll("sent")).filter((s) => s.kind === "respondent"
    && s.parent === revisitId);
  return [...sent.map((s) => ({ ...s, state: "sent", createdAt: s.createdAt || s.sentAt })),
    ...waiting].sort((a, b) => (a.createdAt || "").localeCompare(b.createdAt || ""));
}

function respondentRow(r, n, revisit) {
  let status;
  if (r.state === "sent") status = html`<span class="state" data-state="sent">${t("sent")}</span>`;
  else if (r.state === "failed") {
    status = html`<span class="error" data-state="failed">${t("refused")}: ${r.lastError?.message || ""}</span>`;
  } else if (revisit?.state === "failed") {
    status = html`<span class="error" data-state="waiting">${t("waitsSurveyRefused")}</span>`;
  } else status = html`<span class="state" data-state="saved">${t("savedOnPhone")}</span>`;
  const { kind, satisfaction } = r.payload || r.summary || {};
  return html`<li class="respondent" data-respondent-id="${r.id}" data-state="${r.state}">
    <b>${n}.</b> ${term(`respondent.${kind || "resident"}`)}
    ${satisfaction ? html`<span class="chip-status">${term(satisfaction)}</span>` : ""}
    <span class="muted small">${fmtTime(r.createdAt)}</span> ${status}</li>`;
}

export async function renderSurvey(view, caseId, revisitId) {
  const v = await vocab();
  const KINDS = revisitVocab(v).respondent_kinds;
  const item = await cachedCase(caseId);
  let current = await survey(revisitId);
  let list = [];
  try { list = await questionnaires(); } catch { list = []; }
  state.tracker.start();
  const cleanups = [() => state.tracker.stop()];

  // Not started yet: pick the questionnaire, then start (the revisit is queued at once).
  if (!current) {
    const code = list.some((q) => q.code === DOOR_QUESTIONNAIRE) ? DOOR_QUESTIONNAIRE : list[0]?.code;
    view.innerHTML = html`
      <section class="survey" data-case-id="${caseId}">
        <a class="back" href="#/case/${caseId}">← ${t("back")}</a>
        <h1>${t("doorSurvey")}</h1>
        <p class="muted">${item.subject}${item.address ? ` · ${item.address}` : ""}</p>
        <p id="fix" class="muted small" role="status">${fixText(state.tracker.current())}</p>
        ${list.length ? html`<label for="survey-questionnaire">${t("questionnaire")}</label>
          <select id="survey-questionnaire">${list.map((q) => html`<option value="${q.code}"
            ${q.code === code ? "selected" : ""}>${label(q.title)} (v${q.version})</option>`)}</select>`
          : html`<p class="error" role="alert">${t("noQuestionnaire")}</p>`}
        <p class="hint small">${t("surveyHint")}</p>
      </section>
      <div class="actions"><button class="primary big" id="begin-survey" type="button"
        ${list.length ? "" : "disabled"}>${t("beginSurvey")}</button></div>`;
    const showFix = () => { view.querySelector("#fix").textContent = fixText(state.tracker.current()); };
    cleanups.push(state.tracker.onChange(showFix));
    view.querySelector("#begin-survey").addEventListener("click", async (event) => {
      event.target.disabled = true;
      // Where the survey is taken: wait a little for a first fix if there is none yet.
      if (!state.tracker.current()) {
        await new Promise((resolve) => {
          const stop = state.tracker.onChange(() => { if (state.tracker.current()) done(); });
          const timer = setTimeout(() => done(), 5000);
          function done() { stop(); clearTimeout(timer); resolve(); }
        });
      }
      const chosen = list.find((q) => q.code === view.querySelector("#survey-questionnaire").value);
      await outbox.saveRevisit({ id: revisitId, caseId, label: item.subject, payload: {
        method: "door", at: new Date().toISOString(),
        questionnaire: { code: chosen.code, version: chosen.version },
        location: location(state.tracker.current()), notes: "",
      } }, { draft: false });
      cleanups.forEach((f) => f());
      const stop = await renderSurvey(view, caseId, revisitId);
      cleanups.splice(0, cleanups.length, stop);
    });
    return () => cleanups.forEach((f) => f());
  }

  const q = current.payload?.questionnaire;
  const form = q ? await template(q.code, q.version) : null;
  view.innerHTML = html`
    <section class="survey" data-case-id="${caseId}" data-revisit-id="${revisitId}">
      <a class="back" href="#/case/${caseId}">← ${t("back")}</a>
      <h1>${t("doorSurvey")}</h1>
      <p class="muted">${item.subject}${item.address ? ` · ${item.address}` : ""}</p>
      <p id="fix" class="muted small" role="status"></p>
      <p class="survey-count"><b id="respondent-count">0</b> ${t("respondentsTaken")}
        <span class="muted small" id="survey-progress" aria-live="polite"></span></p>
      <form id="respondent-form" novalidate>
        <h2 id="respondent-title">${t("respondent")}</h2>
        <fieldset><legend>${t("respondentKind")}</legend><div class="chips">
          ${KINDS.map((k) => html`<label class="chip"><input type="radio" name="respondent_kind" value="${k}"
            ${k === "resident" ? "checked" : ""}> ${term(`respondent.${k}`)}</label>`)}</div></fieldset>
        <details class="personal"><summary>${t("nameAndContact")}</summary>
          <p class="muted small">${t("personalDataHint")}</p>
          <label for="respondent-name">${t("personName")}</label>
          <input id="respondent-name" name="name" autocomplete="off">
          <label for="respondent-contact">${t("contact")}</label>
          <input id="respondent-contact" name="contact" type="tel" autocomplete="off">
        </details>
        <p class="muted small">${form ? `${label(form.title)} · v${form.version}` : t("noQuestionnaire")}</p>
        <div id="questions">${form ? renderQuestions(form) : ""}</div>
        <fieldset class="consent"><legend>${t("audioRecording")}</legend>
          <label class="chip"><input type="checkbox" id="audio-consent" name="audio_consent">
            ${t("audioConsent")}</label>
          <div id="recorder" hidden>
            <button type="button" class="big" id="record">${t("startRecording")}</button>
            <output id="record-state" class="muted small"></output>
          </div>
        </fieldset>
      </form>
      <fieldset class="survey-photos"><legend>${t("evidence")}</legend>
        <button type="button" class="big camera" id="survey-photo">${t("takeSurveyPhoto")}</button>
        <input id="survey-photo-input" type="file" accept="image/*" capture="environment" hidden>
        <p class="muted small" id="survey-photo-count"></p>
      </fieldset>
      <h2>${t("respondents")}</h2>
      <ol class="respondents" id="respondents"></ol>
      <p><a class="button big" id="end-survey" href="#/case/${caseId}">${t("endSurvey")}</a></p>
    </section>
    <div class="actions"><button class="primary big" id="save-respondent" type="button"
      ${form ? "" : "disabled"}>${t("saveRespondent")}</button></div>`;

  const rform = view.querySelector("#respondent-form");
  clearErrorsOnAnswer(rform);
  const showFix = () => {
    const fix = state.tracker.current();
    view.querySelector("#fix").textContent = fixText(fix);
    // The survey's place: its first good fix, while the survey has not left the phone.
    if (fix && !current.sent) {
      outbox.amendUnsent(revisitId, (payload) => (payload.location ? null
        : { ...payload, location: location(fix) }));
    }
  };
  showFix();
  cleanups.push(state.tracker.onChange(showFix));

  const drawList = async () => {
    current = (await survey(revisitId)) || current;
    const rows = await respondentsOf(revisitId);
    view.querySelector("#respondent-count").textContent = String(rows.length);
    view.querySelector("#respondents").innerHTML = rows.map((r, i) => respondentRow(r, i + 1,
      current)).join("");
    const sent = rows.filter((r) => r.state === "sent").length;
    const run = outbox.status.run;
    view.querySelector("#survey-progress").textContent = `· ${t("sent")} ${sent}/${rows.length}`
      + (outbox.status.running && run ? ` · ${t("syncing")} ${run.done}/${run.total}` : "");
  };
  await drawList();
  let pending = false;
  cleanups.push(outbox.onChange(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(async () => {
      pending = false;
      if (view.isConnected) await drawList();
    });
  }));

  // A recording only once the respondent's consent is ticked.
  let recorder = null;
  let recording = null; // {blob, mimeType, durationS}
  const consent = view.querySelector("#audio-consent");
  const recordButton = view.querySelector("#record");
  const recordState = view.querySelector("#record-state");
  const stopRecorder = async () => {
    if (!recorder) return;
    recording = await recorder.stop();
    recorder = null;
    recordButton.textContent = t("startRecording");
    recordState.textContent = recording ? `${t("recorded")} ${recording.durationS} s` : "";
  };
  consent.addEventListener("change", async () => {
    view.querySelector("#recorder").hidden = !consent.checked || !AudioRecorder.supported();
    if (!consent.checked) {
      await stopRecorder();
      recording = null; // no consent, no recording kept
      recordState.textContent = "";
    }
  });
  recordButton.addEventListener("click", async () => {
    if (recorder) {
      await stopRecorder();
      return;
    }
    if (!consent.checked) return;
    recorder = new AudioRecorder();
    try {
      await recorder.start();
      recording = null;
      recordButton.textContent = t("stopRecording");
      recordState.textContent = t("recordingNow");
    } catch (error) {
      recorder = null;
      toast(error.message || t("error"), "error");
    }
  });
  cleanups.push(() => { recorder?.cancel(); });

  // Photos of the survey (the door visited, a signed paper questionnaire): filed with
  // the survey's server id once it is sent.
  const countPhotos = async () => {
    const n = (await outbox.items()).filter((i) => i.kind === "evidence"
      && i.revisitClientId === revisitId).length;
    view.querySelector("#survey-photo-count").textContent = n ? `${n} · ${t("savedOnPhone")}` : "";
  };
  countPhotos();
  view.querySelector("#survey-photo").addEventListener("click", () => {
    view.querySelector("#survey-photo-input").click();
  });
  view.querySelector("#survey-photo-input").addEventListener("change", async (event) => {
    const files = [...event.target.files];
    event.target.value = "";
    for (const file of files) {
      try {
        const photo = await capturePhoto(file, { caseId, revisitClientId: revisitId,
          fix: state.tracker.current(),
          photographer: state.session?.user?.display_name || state.session?.user?.username,
          place: item.address || "", caption: `${t("doorSurvey")} · ${item.subject}` });
        const blob = await (await db()).get("blobs", photo.id);
        if (blob) makePreview(photo.id, blob);
      } catch (error) {
        toast(`${t("notSaved")} (${error.name || error.message})`, "error");
        continue;
      }
      if (!(await warnIfStorageLow())) toast(t("savedOnPhone"));
    }
    await countPhotos();
    outbox.syncNow();
  });

  const reset = () => {
    rform.reset();
    view.querySelector("#questions").innerHTML = renderQuestions(form).toString();
    view.querySelector("#recorder").hidden = true;
    recording = null;
    recordState.textContent = "";
    rform.querySelector("details.personal").open = false;
    view.querySelector(".survey-count").scrollIntoView({ block: "start" });
  };

  view.querySelector("#save-respondent").addEventListener("click", async (event) => {
    const { answers, errors } = readQuestions(view.querySelector("#questions"), form);
    if (Object.keys(errors).length) {
      toast(t("answerRequired"), "error");
      return;
    }
    await stopRecorder();
    const data = new FormData(rform);
    const satisfaction = satisfactionOf(form, answers);
    const name = (data.get("name") || "").trim();
    const contact = (data.get("contact") || "").trim();
    const payload = { kind: data.get("respondent_kind") || "resident", answers,
      audio_consent: consent.checked, ...(satisfaction ? { satisfaction } : {}),
      ...(name ? { name } : {}), ...(contact ? { contact } : {}) };
    const id = outbox.uuid();
    event.target.disabled = true;
    try {
      await outbox.saveRespondent({ id, revisitClientId: revisitId, caseId, payload });
      if (recording && consent.checked) {
        await captureAudio(recording, { caseId, respondentClientId: id, fix: state.tracker.current(),
          photographer: state.session?.user?.display_name || state.session?.user?.username,
          place: item.address || "", caption: `${t("interview")} · ${item.subject}` });
      }
    } catch (error) {
      toast(`${t("notSavedRespondent")} (${error.name || error.message})`, "error");
      event.target.disabled = false;
      return;
    }
    event.target.disabled = false;
    const count = (await respondentsOf(revisitId)).length;
    if (!(await warnIfStorageLow())) toast(`${t("respondentSaved")} (${count})`);
    reset();
    outbox.syncNow();
  });

  return () => cleanups.forEach((f) => f());
}
