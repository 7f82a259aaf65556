// A survey: door-to-door (入户调查), a paper questionnaire entered afterwards (问卷调查) or
// answers received online (网上回访), the revisit methods of the server's vocabulary other
// than the phone call (which has its own screen). The revisit is started on the case (its
// method, questionnaire, and for door-to-door only where it was taken), then each
// respondent is added as their own outbox item with their own client UUID, sent after the
// survey itself. Works with no signal at all: the questionnaire is the phone's copy,
// everything waits in the outbox.
import { AudioRecorder, capturePhoto, captureAudio, makePreview } from "../../capture.js";
import { db } from "../../db.js";
import { t, term } from "../../i18n.js";
import * as outbox from "../../outbox.js";
import { clearErrorsOnAnswer, label, questionnaires, readQuestions, renderQuestions, satisfactionOf }
  from "../../questionnaire.js";
import { go } from "../../nav.js";
import { afterFirst } from "../../savechain.js";
import { cachedCase, revisitVocab, state, vocab, warnIfStorageLow } from "../../state.js";
import { errorRef, fmtTime, html, raw, toast } from "../../ui.js";
import { DOOR_QUESTIONNAIRE, PHONE_QUESTIONNAIRE, template } from "./revisit.js";

// The methods with their own screen (the phone call) and the one that records where it
// was taken (the server refuses a location on any other).
const PHONE = "phone";
const DOOR = "door";

// What this screen says and offers for each method.
function methodText(method) {
  return {
    hint: method === DOOR ? t("surveyHint") : method === "questionnaire" ? t("surveyHintQuestionnaire")
      : t("surveyHintOnline"),
    photo: method === DOOR ? t("takeSurveyPhoto") : method === "questionnaire"
      ? t("takeQuestionnairePhoto") : t("addScreenshot"),
    at: method === "questionnaire" ? t("surveyAtQuestionnaire") : t("surveyAt"),
  };
}

// The questionnaire a method starts with (the picker offers the others).
function defaultQuestionnaire(method, list) {
  const wanted = method === "online" ? PHONE_QUESTIONNAIRE : DOOR_QUESTIONNAIRE;
  return list.some((q) => q.code === wanted) ? wanted : list[0]?.code;
}

// Who is asked first: residents around the site at the door and on paper; online it is
// mostly the complainant who answers.
function defaultKind(method, kinds) {
  const wanted = method === "online" ? "complainant" : "resident";
  return kinds.includes(wanted) ? wanted : kinds[0];
}

// <input type="datetime-local"> value for a time, in the phone's own time.
function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

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
    status = html`<span class="error" data-state="failed">${t("refused")}: ${r.lastError?.message || ""}${errorRef(r.lastError)}</span>`;
  } else if (revisit?.state === "failed") {
    status = html`<span class="error" data-state="waiting">${t("waitsSurveyRefused")}</span>`;
  } else status = html`<span class="state" data-state="saved">${t("savedOnPhone")}</span>`;
  const { kind, satisfaction } = r.payload || r.summary || {};
  return html`<li class="respondent" data-respondent-id="${r.id}" data-state="${r.state}">
    <b>${n}.</b> ${term(`respondent.${kind || "resident"}`)}
    ${satisfaction ? html`<span class="chip-status">${term(satisfaction)}</span>` : ""}
    <span class="muted small">${fmtTime(r.createdAt)}</span> ${status}</li>`;
}

export async function renderSurvey(view, caseId, revisitId, routeMethod) {
  const v = await vocab();
  const KINDS = revisitVocab(v).respondent_kinds;
  const METHODS = revisitVocab(v).revisit_methods.filter((m) => m !== PHONE);
  const item = await cachedCase(caseId);
  let current = await survey(revisitId);
  if (current && !outbox.isMine(current)) {
    toast(t("draftOtherUser"), "warn"); // another user's survey, on this phone
    return go(`#/case/${caseId}`, { replace: true });
  }
  // The method: the survey's own once started; else the one asked for, if the server's
  // vocabulary has it; else door-to-door.
  let method = current?.payload?.method
    || (routeMethod && (!METHODS.length || METHODS.includes(routeMethod)) ? routeMethod : null)
    || (routeMethod === PHONE ? PHONE : DOOR);
  if (method === PHONE) return go(`#/revisit/${caseId}/${revisitId}`, { replace: true });
  let list = [];
  try { list = await questionnaires(); } catch { list = []; }
  const cleanups = [];
  const track = () => {
    if (cleanups.tracking) return;
    cleanups.tracking = true;
    state.tracker.start();
    cleanups.push(() => state.tracker.stop());
  };

  // Not started yet: the method, the questionnaire (and when, for one done before it is
  // entered), then start (the revisit is queued at once).
  if (!current) {
    view.innerHTML = html`
      <section class="survey" data-case-id="${caseId}" data-method="${method}">
        <a class="back" href="#/case/${caseId}">← ${t("back")}</a>
        <h1 id="survey-title">${term(`method.${method}`)}</h1>
        <p class="muted">${item.subject}${item.address ? ` · ${item.address}` : ""}</p>
        ${METHODS.length > 1 ? html`<fieldset id="survey-methods"><legend>${t("revisitMethod")}</legend>
          <div class="chips">${METHODS.map((m) => html`<label class="chip"><input type="radio" name="survey_method"
            value="${m}" ${m === method ? "checked" : ""}> ${term(`method.${m}`)}</label>`)}</div></fieldset>` : ""}
        <p id="fix" class="muted small" role="status"></p>
        <div id="survey-at-box">
          <label for="survey-at" id="survey-at-label"></label>
          <input id="survey-at" type="datetime-local" required>
          <p class="error small" id="survey-at-error" role="alert" hidden></p>
        </div>
        ${list.length ? html`<label for="survey-questionnaire">${t("questionnaire")}</label>
          <select id="survey-questionnaire">${list.map((q) => html`<option value="${q.code}">${label(q.title)} (v${q.version})</option>`)}</select>`
          : html`<p class="error" role="alert">${t("noQuestionnaire")}</p>`}
        <p class="hint small" id="survey-hint"></p>
      </section>
      <div class="actions"><button class="primary big" id="begin-survey" type="button"
        ${list.length ? "" : "disabled"}>${t("beginSurvey")}</button></div>`;
    const atInput = view.querySelector("#survey-at");
    atInput.value = localInput(new Date());
    atInput.max = localInput(new Date(Date.now() + 60000));
    const showFix = () => {
      const box = view.querySelector("#fix");
      box.hidden = method !== DOOR;
      box.textContent = method === DOOR ? fixText(state.tracker.current()) : "";
    };
    const showMethod = (chosen) => {
      method = chosen;
      view.querySelector(".survey").dataset.method = method;
      view.querySelector("#survey-title").textContent = term(`method.${method}`);
      view.querySelector("#survey-hint").textContent = methodText(method).hint;
      view.querySelector("#survey-at-label").textContent = methodText(method).at;
      // Door-to-door is taken now, where the phone is; the others are entered afterwards.
      view.querySelector("#survey-at-box").hidden = method === DOOR;
      const picker = view.querySelector("#survey-questionnaire");
      if (picker) picker.value = defaultQuestionnaire(method, list);
      if (method === DOOR) track();
      showFix();
    };
    showMethod(method);
    cleanups.push(state.tracker.onChange(showFix));
    view.querySelector("#survey-methods")?.addEventListener("change", (event) => {
      if (event.target.name === "survey_method") showMethod(event.target.value);
    });
    view.querySelector("#begin-survey").addEventListener("click", async (event) => {
      let at = new Date();
      if (method !== DOOR) {
        const error = view.querySelector("#survey-at-error");
        const given = atInput.value ? new Date(atInput.value) : null;
        const problem = !given || Number.isNaN(given.getTime()) ? t("notADate")
          : given.getTime() > Date.now() + 60000 ? t("atInFuture") : "";
        error.hidden = !problem;
        error.textContent = problem;
        if (problem) {
          atInput.setAttribute("aria-invalid", "true");
          atInput.focus();
          return;
        }
        atInput.removeAttribute("aria-invalid");
        at = given;
      }
      event.target.disabled = true;
      // Where a door-to-door survey is taken: wait a little for a first fix if none yet.
      if (method === DOOR && !state.tracker.current()) {
        await new Promise((resolve) => {
          const stop = state.tracker.onChange(() => { if (state.tracker.current()) done(); });
          const timer = setTimeout(() => done(), 5000);
          function done() { stop(); clearTimeout(timer); resolve(); }
        });
      }
      const chosen = list.find((q) => q.code === view.querySelector("#survey-questionnaire").value);
      await outbox.saveRevisit({ id: revisitId, caseId, label: item.subject, payload: {
        method, at: at.toISOString(),
        questionnaire: { code: chosen.code, version: chosen.version },
        ...(method === DOOR ? { location: location(state.tracker.current()) } : {}), notes: "",
      } }, { draft: false });
      cleanups.forEach((f) => f());
      const stop = await renderSurvey(view, caseId, revisitId);
      cleanups.splice(0, cleanups.length, stop);
    });
    return () => cleanups.forEach((f) => f());
  }

  const door = method === DOOR;
  if (door) track();
  const words = methodText(method);
  const q = current.payload?.questionnaire;
  const form = q ? await template(q.code, q.version) : null;
  view.innerHTML = html`
    <section class="survey" data-case-id="${caseId}" data-revisit-id="${revisitId}" data-method="${method}">
      <a class="back" href="#/case/${caseId}">← ${t("back")}</a>
      <h1>${term(`method.${method}`)}</h1>
      <p class="muted">${item.subject}${item.address ? ` · ${item.address}` : ""}</p>
      ${door ? html`<p id="fix" class="muted small" role="status"></p>`
        : html`<p class="muted small" id="survey-when">${words.at}: ${fmtTime(current.payload?.at || current.createdAt)}</p>`}
      <p class="survey-count"><b id="respondent-count">0</b> ${t("respondentsTaken")}
        <span class="muted small" id="survey-progress" aria-live="polite"></span></p>
      <form id="respondent-form" novalidate>
        <h2 id="respondent-title">${t("respondent")}</h2>
        <fieldset><legend>${t("respondentKind")}</legend><div class="chips">
          ${KINDS.map((k) => html`<label class="chip"><input type="radio" name="respondent_kind" value="${k}"
            ${k === defaultKind(method, KINDS) ? "checked" : ""}> ${term(`respondent.${k}`)}</label>`)}</div></fieldset>
        <details class="personal"><summary>${t("nameAndContact")}</summary>
          <p class="muted small">${t("personalDataHint")}</p>
          <label for="respondent-name">${t("personName")}</label>
          <input id="respondent-name" name="name" autocomplete="off">
          <label for="respondent-contact">${t("contact")}</label>
          <input id="respondent-contact" name="contact" type="tel" autocomplete="off">
        </details>
        <p class="muted small">${form ? `${label(form.title)} · v${form.version}` : t("noQuestionnaire")}</p>
        <div id="questions">${form ? renderQuestions(form) : ""}</div>
        <fieldset class="consent" ${door ? "" : "hidden"}><legend>${t("audioRecording")}</legend>
          <label class="chip"><input type="checkbox" id="audio-consent" name="audio_consent">
            ${t("audioConsent")}</label>
          <div id="recorder" hidden>
            <button type="button" class="big" id="record">${t("startRecording")}</button>
            <output id="record-state" class="muted small"></output>
          </div>
        </fieldset>
      </form>
      <fieldset class="survey-photos"><legend>${t("evidence")}</legend>
        <button type="button" class="big camera" id="survey-photo">${words.photo}</button>
        <input id="survey-photo-input" type="file" accept="image/*" ${method === "online" ? "" : raw('capture="environment"')} hidden>
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
  // Door-to-door only: where the survey was taken.
  const showFix = () => {
    const fix = state.tracker.current();
    view.querySelector("#fix").textContent = fixText(fix);
    // The survey's place: its first good fix, while the survey has not left the phone.
    if (fix && !current.sent) {
      outbox.amendUnsent(revisitId, (payload) => (payload.location ? null
        : { ...payload, location: location(fix) }));
    }
  };
  if (door) {
    showFix();
    cleanups.push(state.tracker.onChange(showFix));
  }

  // Only the latest draw writes: the first one runs while the screen is already live.
  let draws = 0;
  const drawList = async () => {
    const n = ++draws;
    const found = await survey(revisitId);
    const rows = await respondentsOf(revisitId);
    if (n !== draws) return;
    current = found || current;
    view.querySelector("#respondent-count").textContent = String(rows.length);
    view.querySelector("#respondents").innerHTML = html`${rows.map((r, i) => respondentRow(r, i + 1,
      current))}`.toString();
    const sent = rows.filter((r) => r.state === "sent").length;
    const run = outbox.status.run;
    view.querySelector("#survey-progress").textContent = `· ${t("sent")} ${sent}/${rows.length}`
      + (outbox.status.running && run ? ` · ${t("syncing")} ${run.done}/${run.total}` : "");
  };
  const listed = drawList(); // awaited last: the screen answers a tap as soon as it is drawn
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
          place: item.address || "", caption: `${term(`method.${method}`)} · ${item.subject}` });
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
    const payload = { kind: data.get("respondent_kind") || defaultKind(method, KINDS), answers,
      audio_consent: door && consent.checked, ...(satisfaction ? { satisfaction } : {}),
      ...(name ? { name } : {}), ...(contact ? { contact } : {}) };
    const id = outbox.uuid();
    event.target.disabled = true;
    try {
      await outbox.saveRespondent({ id, revisitClientId: revisitId, caseId, payload });
      if (door && recording && consent.checked) {
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

  return afterFirst(listed, () => cleanups.forEach((f) => f()));
}
