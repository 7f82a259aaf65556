// A check: kind, partners, findings, a noise reading against its limit, and photos.
// Everything is written to the phone as it is typed; "Save check" queues it for sending.
import { PreviewUrls, capturePhoto, makePreview } from "../../capture.js";
import { db, getCache } from "../../db.js";
import { t, term } from "../../i18n.js";
import { go } from "../../nav.js";
import { MicEstimate, isNight, phoneModel } from "../../noise.js";
import { FIELD_INPUTS, driftText, inputProblems, inputRules, noiseVocab, readRecord,
  recordSection, refusalNotes, roomClassPositions } from "../../noiserecord.js";
import * as outbox from "../../outbox.js";
import { afterFirst, saveChain, savedOrSaid } from "../../savechain.js";
import { cachedCase, isField, state, vocab, warnIfStorageLow } from "../../state.js";
import { fmtTime, html, safeUrl, toast } from "../../ui.js";
import { assess, leqLimit, rulesFor } from "../../verdict.js";
import { measurementBlock } from "../case.js";

const previews = new PreviewUrls();

function readForm(form, draft, standards) {
  const data = new FormData(form);
  const reading = data.get("value_dba");
  const measurements = [];
  if (reading !== null && reading !== "") {
    measurements.push({ kind: "noise", value_dba: Number(reading), zone_class: data.get("zone_class"),
      period: data.get("period"), source: "meter",
      ...readRecord((name) => data.get(name), draft.meterPhotoId, roomClassPositions(standards)) });
  }
  if (draft.estimate != null) {
    measurements.push({ kind: "noise", value_dba: draft.estimate, zone_class: data.get("zone_class"),
      period: data.get("period"), source: "phone_estimate", device: draft.device || phoneModel(),
      calibration_offset_db: Number(data.get("calibration") || 0) });
  }
  return {
    kind: data.get("kind"), started_at: draft.started_at, findings: data.get("findings") || "",
    participants: data.getAll("participants"), measurements,
    ...kept(draft, state.tracker.current()),
  };
}

// What a check keeps across saves whatever is typed: a check once offered to the server
// (refused, now mended: `mended`) keeps the place it was stored with, not the phone's fix
// at the office; and a saved check keeps the time it ended, however often it is reopened.
export function kept(draft, fix) {
  return {
    location: (draft.mended ? draft.location : fix || draft.location) || null,
    ...(draft.ended_at ? { ended_at: draft.ended_at } : {}),
  };
}

async function photoList(visitId) {
  const photos = (await outbox.items()).filter((i) => i.kind === "evidence" && i.visitClientId === visitId);
  const urls = await previews.load(photos);
  const rows = [];
  for (const photo of photos) {
    const url = urls.get(photo.id);
    rows.push(html`
      <li class="photo" data-photo-id="${photo.id}">
        ${url ? html`<img src="${safeUrl(url)}" alt="">` : html`<span class="noimg">${photo.contentType}</span>`}
        <span><b class="state" data-state="saved">${t("savedOnPhone")}</b>
          <span class="muted small">${fmtTime(photo.capturedAt)} ·
            ${photo.geo ? `±${Math.round(photo.geo.accuracy_m)} m` : t("fixWaiting")}</span>
          <span class="small">${photo.place} · ${photo.caption}</span></span>
      </li>`);
  }
  return { rows, count: photos.length };
}

export async function renderCheck(view, caseId, visitId) {
  const v = await vocab();
  const KINDS = v.visit_kinds || [];
  const PARTNERS = v.partners || [];
  const ZONES = v.zone_classes || [];
  const item = await cachedCase(caseId);
  let existing = (await outbox.items()).find((i) => i.id === visitId);
  if (existing && !outbox.isMine(existing)) {
    toast(t("draftOtherUser"), "warn"); // another user's, on this phone: not theirs to read
    return go(`#/case/${caseId}`, { replace: true });
  }
  // A check the server refused for what was typed opens again to be mended.
  if (outbox.isMendable(existing)) existing = await outbox.mend(visitId);
  const alreadySent = await (await db()).get("sent", visitId);
  if (alreadySent || (existing && existing.state !== "draft")) {
    return go(`#/case/${caseId}`, { replace: true }); // saved: not editable any more
  }
  // A kind chosen where the check was opened (a leader group's 带案下访), once.
  const chosen = sessionStorage.getItem(`fieldcase.checkKind.${visitId}`);
  sessionStorage.removeItem(`fieldcase.checkKind.${visitId}`);
  const draft = existing?.payload ? { ...existing.payload,
    mended: Boolean(existing.refusal || existing.offered) } : {
    kind: chosen && KINDS.includes(chosen) ? chosen : isNight() ? "night_check" : "site_check",
    started_at: new Date().toISOString(),
    participants: [], findings: "", measurements: [],
  };
  const meter = draft.measurements?.find((m) => m.source === "meter") || {};
  // A mended check keeps its microphone estimate as it was taken.
  const estimate = draft.measurements?.find((m) => m.source === "phone_estimate");
  if (estimate) Object.assign(draft, { estimate: estimate.value_dba, device: estimate.device });
  const period = meter.period || (isNight() ? "night" : "day");
  const zone = meter.zone_class || "1";
  const calibration = estimate?.calibration_offset_db ?? (localStorage.getItem("fieldcase.calibration") || "0");
  const standards = state.standards || (await getCache("standards"))?.value || null;
  const nvocab = noiseVocab(standards);
  const { ranges } = inputRules(standards);
  const refusal = existing?.refusal || null;
  // The photo of the meter's display: linked by its client id (it may be sent later).
  draft.meterPhotoId = meter.meter_photo_client_id || (await outbox.items())
    .find((i) => i.kind === "evidence" && i.visitClientId === visitId && i.meterPhoto)?.id || null;

  view.innerHTML = html`
    <section class="check">
      <a class="back" href="#/case/${caseId}">← ${t("back")}</a>
      <h1>${t("startCheck")}</h1>
      <p class="muted">${item.subject} · ${item.address}</p>
      <p id="fix" class="muted small" role="status">${t("fixWaiting")}</p>
      ${refusal ? html`<div class="refusal error" id="refusal" role="alert">
        <p><b>${t("checkRefused")}</b> ${t("mendHint")}</p>
        <ul>${refusalNotes(refusal.fields, standards, draft, refusal.localFields).map((n) => html`<li data-field="${n.field}">
          <b>${n.label}</b>: ${n.message}</li>`)}</ul></div>` : ""}
      <form id="check-form">
        <fieldset><legend>${t("kind")}</legend><div class="chips">
          ${KINDS.filter((k) => (k === "leader_visit" ? draft.kind === k : isField())).map((k) => html`<label class="chip"><input type="radio" name="kind" value="${k}"
            ${k === draft.kind ? "checked" : ""}> ${term(k)}</label>`)}</div></fieldset>
        <fieldset><legend>${t("partners")}</legend><div class="chips">
          ${PARTNERS.map((p) => html`<label class="chip"><input type="checkbox" name="participants"
            value="${p}" ${draft.participants?.includes(p) ? "checked" : ""}> ${term(p)}</label>`)}</div></fieldset>
        <label for="findings">${t("findings")}</label>
        <textarea id="findings" name="findings" rows="3">${draft.findings || ""}</textarea>
        ${/* A leader group's member who is not of the field records the visit in words: no
            meter, no photos (those are the field's to file). */ ""}
        <fieldset class="noise" ${isField() ? "" : "hidden"}><legend>${t("noise")}</legend>
          <label for="value_dba">${t("reading")}</label>
          <input id="value_dba" name="value_dba" type="number" inputmode="decimal" step="0.1"
                 min="${ranges.value_dba?.min ?? ""}" max="${ranges.value_dba?.max ?? ""}" value="${meter.value_dba ?? ""}">
          <label for="zone_class">${t("zoneClass")}</label>
          <select id="zone_class" name="zone_class">${ZONES.map((z) => html`<option value="${z}"
            ${z === zone ? "selected" : ""}>${z}</option>`)}</select>
          <label for="period">${t("period")}</label>
          <select id="period" name="period">
            <option value="day" ${period === "day" ? "selected" : ""}>${t("day")}</option>
            <option value="night" ${period === "night" ? "selected" : ""}>${t("night")}</option>
          </select>
          <div id="judgement"></div>
          ${recordSection(nvocab, { ...meter, meter_photo_client_id: draft.meterPhotoId || undefined }, standards)}
          <input id="meter-photo-input" type="file" accept="image/*" capture="environment" hidden>
          <details><summary>${t("micEstimate")}</summary>
            <label for="calibration">${t("calibration")}</label>
            <input id="calibration" name="calibration" type="number" step="0.5" value="${calibration}"
              min="${ranges.calibration_offset_db?.min ?? ""}" max="${ranges.calibration_offset_db?.max ?? ""}">
            <button type="button" id="mic">${t("startMic")}</button>
            <output id="mic-level"></output>
          </details>
        </fieldset>
        <fieldset id="check-evidence" ${isField() ? "" : "hidden"}><legend>${t("evidence")}</legend>
          <label for="place">${t("place")}</label>
          <input id="place" name="place" value="${item.address || ""}">
          <label for="caption">${t("caption")}</label>
          <input id="caption" name="caption" value="">
          <button type="button" class="big camera" id="take-photo">${t("takePhoto")}</button>
          <input id="photo-input" type="file" accept="image/*" capture="environment" hidden>
          <ul id="photos" class="photos"></ul>
        </fieldset>
      </form>
    </section>
    <div class="actions">
      <button class="primary big" id="save-check">${t("saveCheck")}</button>
    </div>`;

  const form = view.querySelector("#check-form");
  // The verdict as the server will make it (verdict.js runs the server's rules data):
  // the background correction, the Lmax rules, and whether the record can support
  // enforcement; shown as the case page shows the server's.
  const judge = () => {
    const box = view.querySelector("#judgement");
    const reading = readForm(form, draft, standards).measurements.find((m) => m.source === "meter");
    if (!standards?.rules?.defaults) { // a copy cached before the rules were served whole
      box.textContent = "";
      return;
    }
    if (!reading || inputProblems(standards, reading).length) {
      const limit = leqLimit(standards, item.category, form.zone_class.value, form.period.value,
        { position: form.nr_position.value || undefined, roomClass: form.nr_room_class.value || undefined });
      box.innerHTML = limit ? html`<p>${t("limit")} ${limit.limit_dba} dB(A)</p>`.toString() : "";
      return;
    }
    box.innerHTML = measurementBlock({ ...reading, ...assess(standards, reading, item.category) }).toString();
  };
  // Saves go through one chain: the field left by tapping "Save check" fires its change
  // event first, and that draft write must not land after the final one.
  const chain = saveChain();
  let saved = false;
  const persist = () => chain(() => (saved ? null : outbox.saveVisit(
    { id: visitId, caseId, payload: readForm(form, draft, standards) }, { draft: true })));
  const redrawPhotos = async () => {
    const { rows } = await photoList(visitId);
    const list = view.querySelector("#photos");
    if (list) list.innerHTML = html`${rows}`.toString();
  };

  // The fields the server named, marked where they are typed.
  for (const note of refusal ? refusalNotes(refusal.fields, standards, draft, refusal.localFields) : []) {
    const input = form[FIELD_INPUTS[note.field] || note.field];
    if (!input?.setAttribute) continue;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "refusal");
    if (view.querySelector("#full-record").contains(input)) view.querySelector("#full-record").open = true;
  }
  // The check exists on the phone from the moment it is opened. Its first save is awaited
  // last: the screen answers a tap (a photo, Save) as soon as it is drawn.
  const opened = persist();
  judge();
  redrawPhotos();
  form.addEventListener("input", () => { judge(); persist(); });
  form.addEventListener("change", () => { judge(); persist(); });

  // Location: watch while the check is open, keep the most accurate recent fix.
  state.tracker.start();
  const showFix = () => {
    const fix = state.tracker.current();
    view.querySelector("#fix").textContent = fix
      ? `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)} (±${Math.round(fix.accuracy_m)} m)` : t("fixWaiting");
  };
  showFix();
  const stopFix = state.tracker.onChange(showFix);

  view.querySelector("#take-photo").addEventListener("click", () => {
    view.querySelector("#photo-input").click();
  });
  // meter: the photo of the meter's display, linked to the reading by its client id.
  const takePhotos = async (event, { meterPhoto = false } = {}) => {
    const chosenAt = performance.now();
    const files = [...event.target.files];
    event.target.value = "";
    for (const file of files) {
      let photo;
      try {
        photo = await capturePhoto(file, {
          caseId, visitClientId: visitId, fix: state.tracker.current(),
          photographer: state.session?.user?.display_name || state.session?.user?.username,
          place: form.place.value, caption: meterPhoto ? t("meterPhotoCaption") : form.caption.value,
          meterPhoto,
        });
      } catch (error) {
        // A full phone (QuotaExceededError) or a broken store: say so loudly.
        toast(`${t("notSaved")} (${error.name || error.message})`, "error");
        continue;
      }
      // What the inspector waits for: choosing the photo -> "saved on this phone".
      performance.measure("fieldcase:chosen-to-saved", { start: chosenAt });
      document.body.dataset.lastSaved = photo.id;
      if (meterPhoto) {
        draft.meterPhotoId = photo.id;
        const box = view.querySelector("#meter-photo-state");
        box.textContent = t("meterPhotoLinked");
        box.dataset.linked = "1";
        box.dataset.photoId = photo.id;
        persist();
      }
      if (!(await warnIfStorageLow())) toast(t("savedOnPhone"));
      await redrawPhotos();
      const blob = await (await db()).get("blobs", photo.id);
      if (blob) makePreview(photo.id, blob).then(redrawPhotos);
    }
  };
  view.querySelector("#photo-input").addEventListener("change", (event) => takePhotos(event));
  view.querySelector("#take-meter-photo").addEventListener("click", () => {
    view.querySelector("#meter-photo-input").click();
  });
  view.querySelector("#meter-photo-input").addEventListener("change",
    (event) => takePhotos(event, { meterPhoto: true }));

  // The record's helpers: the room class for indoor positions, the calibration drift,
  // quick durations (1 min steady noise, 20 min construction).
  const recordBox = view.querySelector("#full-record");
  const maxDrift = standards?.rules?.defaults ? rulesFor(standards, item.category)[1].calibration.max_drift_db : undefined;
  const showRecordHints = () => {
    view.querySelector("#indoor-fields").hidden = !roomClassPositions(standards).includes(form.nr_position.value);
    const { text, over } = driftText(form.nr_cal_before.value, form.nr_cal_after.value, maxDrift);
    const drift = view.querySelector("#drift");
    drift.textContent = text;
    drift.className = `small${over ? " error" : ""}`;
  };
  showRecordHints();
  recordBox.addEventListener("input", showRecordHints);
  recordBox.addEventListener("change", showRecordHints);
  recordBox.addEventListener("click", (event) => {
    const quick = event.target.closest("[data-duration]");
    if (!quick) return;
    form.nr_duration.value = quick.dataset.duration;
    persist();
  });

  let mic = null;
  view.querySelector("#mic").addEventListener("click", async (event) => {
    if (mic) {
      mic.stop();
      mic = null;
      event.target.textContent = t("startMic");
      persist();
      return;
    }
    localStorage.setItem("fieldcase.calibration", form.calibration.value || "0");
    mic = new MicEstimate((level) => {
      draft.estimate = level;
      view.querySelector("#mic-level").textContent = `${level} dB(A) · ${t("indicative")} · ${phoneModel()}`;
    });
    try {
      await mic.start(Number(form.calibration.value || 0));
      event.target.textContent = t("stopMic");
    } catch (error) {
      mic = null;
      toast(error.message, "error");
    }
  });

  // Keep the screen on during the check, where the browser allows it.
  let wakeLock = null;
  const lock = async () => {
    try { wakeLock = await navigator.wakeLock?.request("screen"); } catch { wakeLock = null; }
  };
  const onVisible = () => { if (document.visibilityState === "visible") lock(); };
  lock();
  document.addEventListener("visibilitychange", onVisible);

  view.querySelector("#save-check").addEventListener("click", async () => {
    // What the server refuses outright (it would keep the whole check from being stored),
    // checked here with the server's own rules data.
    const offset = Number(form.calibration.value || 0);
    const { measurements } = readForm(form, draft, standards);
    const [problem] = [...measurements, { calibration_offset_db: offset }]
      .flatMap((m) => inputProblems(standards, m));
    if (problem) {
      toast(problem.message, "error");
      const input = form[FIELD_INPUTS[problem.field]];
      if (input && recordBox.contains(input)) recordBox.open = true;
      input?.focus();
      return;
    }
    mic?.stop();
    saved = true;
    // A mended check keeps the time it ended.
    const payload = { ...readForm(form, draft, standards), ended_at: draft.ended_at || new Date().toISOString() };
    if (!(await savedOrSaid(chain, () => outbox.saveVisit({ id: visitId, caseId, payload },
      { draft: false })))) {
      saved = false; // still a draft: the next tap tries again
      return;
    }
    const { count } = await photoList(visitId);
    toast(`${t("checkSaved")} (${count} ${t("photosSaved")})`);
    outbox.requestBackgroundSync();
    outbox.syncNow({ force: true });
    go(`#/case/${caseId}`, { replace: true }); // Back must not reopen the saved check
  });

  const stop = () => {
    stopFix();
    state.tracker.stop(); // high-accuracy GPS only while a check is open
    previews.revoke();
    mic?.stop();
    wakeLock?.release?.();
    document.removeEventListener("visibilitychange", onVisible);
  };
  return afterFirst(opened, stop);
}
