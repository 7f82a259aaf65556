import { actionForm, eventRow, offeredActions, readParams, sendAction, showErrors }
  from "../actions.js";
import { api } from "../api.js";
import { PreviewUrls } from "../capture.js";
import { deadlineLine, keyMark, statusChip } from "../caseui.js";
import { db, getCache, setCache } from "../db.js";
import { has, t, term } from "../i18n.js";
import { go } from "../nav.js";
import * as outbox from "../outbox.js";
import { actionSpec, isField, isManager, isOffice, isRevisitor, loadQuestionnaires, revisitVocab, vocab } from "../state.js";
import { label } from "../questionnaire.js";
import { repeatBanner } from "./office/repeatbanner.js";
import { isAudio, respondentsBlock } from "../answers.js";
import { appendRef, errorRef, errorText, fmtTime, html, safeUrl, toast } from "../ui.js";
import { leaderName } from "../leaders.js";
import { leaderBlocks, loadLeaderFacts, wireLeaderBlocks } from "./caseleaders.js";
import { loadPlans, planBlock, wirePlanBlock } from "./caseplans.js";
import { hardCaseHtml, loadHardCase, wireHardCase } from "./hardcase.js";

function flagChips(flags) {
  return flags.map((flag) => html`<span class="flag" title="${flag.message}">${term(flag.code)}${
    flag.distance_m != null ? ` ${flag.distance_m} m` : ""}</span>`);
}

function evidenceCard(ev) {
  const taken = ev.captured_at; // the EXIF time, when it differs, shows as a flag
  const where = ev.location ? `${ev.location.lat.toFixed(5)}, ${ev.location.lon.toFixed(5)}` : "—";
  const thumb = ev.thumbnails?.small?.url || ev.thumbnails?.large?.url;
  return html`
    <figure class="evidence" data-evidence-id="${ev.id}">
      ${thumb ? html`<a href="${safeUrl(ev.thumbnails.large?.url || thumb)}" target="_blank" rel="noopener">
        <img src="${safeUrl(thumb)}" alt="${ev.caption || t("evidence")}" loading="lazy"></a>` : ""}
      <figcaption>
        <dl>
          <dt>${t("takenAt")}</dt><dd>${fmtTime(taken)}</dd>
          <dt>${t("photographer")}</dt><dd>${ev.photographer || ""}</dd>
          <dt>${t("place")}</dt><dd>${ev.place || ""}</dd>
          <dt>${t("caption")}</dt><dd>${ev.caption || ""}</dd>
          <dt>${t("gps")}</dt><dd>${where}${ev.location && has(`locationSource.${ev.location.source}`) ? html` <span class="muted small">(${t(`locationSource.${ev.location.source}`)})</span>` : ""}</dd>
          ${ev.short_code ? html`<dt>${t("shortCode")}</dt><dd class="short-code">${ev.short_code}</dd>` : ""}
        </dl>
        <div class="flags">${flagChips(ev.flags || [])}</div>
      </figcaption>
    </figure>`;
}

const previews = new PreviewUrls();

async function localPhotos(caseId) {
  const waiting = (await outbox.items()).filter((i) => i.kind === "evidence" && i.caseId === caseId);
  const urls = await previews.load(waiting);
  const cards = [];
  for (const item of waiting) {
    const url = urls.get(item.id);
    cards.push(html`
      <figure class="evidence local" data-outbox-id="${item.id}">
        ${url ? html`<img src="${safeUrl(url)}" alt="${item.caption || t("evidence")}">` : html`<div class="noimg">${item.contentType}</div>`}
        <figcaption><span class="state">${t("savedOnPhone")}</span>
          <span class="muted small">${fmtTime(item.capturedAt)} · ${item.place} · ${item.caption}</span></figcaption>
      </figure>`);
  }
  return cards;
}

// The phone's own actions on this case still waiting (or refused): shown, never hidden.
function pendingRows(pending) {
  if (!pending.length) return "";
  return html`<ul class="pending" id="pending-actions">${pending.map((p) => html`
    <li data-outbox-id="${p.id}" data-state="${p.state}"><b>${term(p.action)}</b>
      ${p.state === "conflict" ? html`<span class="error">${t("conflict")}</span>`
        : p.state === "failed" ? html`<span class="error">${t("refused")}: ${p.lastError?.message || ""}${errorRef(p.lastError)}</span>`
          : html`<span class="state">${t("queuedAction")}</span>`}
      ${p.state === "conflict" || p.state === "failed" ? html` <a href="#/outbox">${t("outbox")}</a>` : ""}
    </li>`)}</ul>`;
}

// A measurement as the server judged it: simple or full record, valid for enforcement or
// not (with why), the verdict and the rule that decided it.
export function measurementBlock(m) {
  const verdict = m.verdict;
  const rule = verdict?.rule;
  const exceeded = verdict ? verdict.exceeded : m.exceeded;
  // A record that cannot support enforcement (a drifted calibration: "the measurement is
  // invalid") never shows a red 超标 beside why: its verdict is shown as indicative.
  const indicative = m.valid_for_enforcement === false;
  return html`<div class="measurement" data-record="${m.record || "simple"}"
      data-valid="${m.valid_for_enforcement == null ? "" : String(m.valid_for_enforcement)}">
    <p><b>${m.value_dba} dB(A)</b>${m.corrected_dba != null && m.corrected_dba !== m.value_dba
      ? html` → <b class="corrected">${m.corrected_dba} dB(A)</b> <span class="muted small">(${t("backgroundCorrection")} ${m.background_correction_db})</span>` : ""}
      <span class="chip-status record-label">${m.record === "full" ? t("fullRecordLabel") : t("simpleReading")}</span>
      ${m.source === "phone_estimate" ? html`<span class="muted small">${t("indicative")}</span>` : ""}</p>
    ${m.valid_for_enforcement === true ? html`<p class="valid ok">${t("validForEnforcement")}</p>` : ""}
    ${m.valid_for_enforcement === false ? html`<div class="invalid"><p class="error">${t("notValidForEnforcement")}</p>
      <ul class="reasons">${(m.invalid_reasons || []).map((r) => html`<li data-code="${r.code}">${label(r.message)}
        ${r.clause ? html`<span class="muted small">(${r.clause})</span>` : ""}</li>`)}</ul></div>` : ""}
    ${exceeded == null ? "" : html`<p class="verdict ${indicative ? "indicative" : exceeded ? "exceeded" : "within"}"
        data-exceeded="${String(exceeded)}" data-indicative="${String(indicative)}">
      ${exceeded ? t("exceeded") : t("withinLimit")}${indicative ? html` <span class="small">· ${t("verdictIndicative")}</span>` : ""}
      ${verdict?.limit_dba != null ? html` · ${t("limit")} ${verdict.limit_dba} dB(A)` : m.limit_dba != null ? html` · ${t("limit")} ${m.limit_dba} dB(A)` : ""}
      ${verdict?.excess_dba != null && verdict.excess_dba > 0 ? ` +${verdict.excess_dba}` : ""}</p>`}
    ${rule ? html`<p class="rule small" data-rule="${rule.code}">${t("decidedBy")}: ${label(rule.text)}
      <span class="muted">${rule.clause || ""}</span></p>` : ""}
    ${m.meter_photo ? html`<p class="muted small">${t("meterPhoto")}: ${m.meter_photo.evidence_id ? "✓" : t("meterPhotoPending")}</p>` : ""}
  </div>`;
}

// One button per revisit method of the server's vocabulary: the phone call has its own
// screen, the others (door-to-door, a paper questionnaire, online) the survey screen.
function revisitButton(method) {
  if (method === "phone") {
    return html`<button type="button" class="primary big" id="start-phone-revisit" data-method="phone">${t("phoneRevisit")}</button>`;
  }
  return html`<button type="button" class="big" id="${method === "door" ? "start-survey" : `start-survey-${method}`}"
    data-method="${method}" data-survey-method="${method}">${term(`method.${method}`)}</button>`;
}

function revisitRow(r, mine, recordings) {
  const failedCalls = (r.attempts || []).filter((a) => a.outcome !== "answered").length;
  return html`<li class="revisit-row${r.satisfaction === "dissatisfied" ? " dissatisfied" : ""}" data-revisit-id="${r.id}" data-outcome="${r.outcome}" data-method="${r.method}">
    <b>${term(`method.${r.method}`)}</b> · ${fmtTime(r.at)}
    <span class="chip-status">${term(`revisitOutcome.${r.outcome}`)}</span>
    ${r.satisfaction ? html`<span class="chip-status satisfaction-${r.satisfaction}">${term(r.satisfaction)}</span>` : ""}
    <span class="muted small">${r.respondents?.length ? `${r.respondents.length} ${t("respondentsTaken")}` : ""}
      ${failedCalls ? ` · ${failedCalls} ${t("failedCalls")}` : ""}
      ${r.unreachable_reason ? ` · ${r.unreachable_reason}` : ""} · ${r.created_by?.name || ""}</span>
    ${r.callback_at ? html`<span class="chip-status callback-at">${t("callbackAt")} ${fmtTime(r.callback_at)}</span>` : ""}
    ${(r.flags || []).map((f) => html`<span class="chip-status flag" data-flag="${f.code}">${term(f.code)}</span>`)}
    ${r.answers_hidden ? html`<span class="muted small answers-hidden">${t("answersHidden")}</span>` : ""}
    ${mine && r.method !== "phone" ? html` <a href="#/survey/${r.case_id}/${r.client_id}">${t("continueSurvey")}</a>` : ""}
    ${respondentsBlock(r, r.answers_hidden ? [] : recordings)}
  </li>`;
}

// The phone's own revisits of the case not yet on the server (drafts, waiting, refused).
function localRevisitRows(caseId, local) {
  return local.map((r) => html`<li class="revisit-row local" data-outbox-id="${r.id}" data-state="${r.state}">
    <b>${term(`method.${r.payload?.method}`)}</b> · ${fmtTime(r.createdAt)}
    ${r.state === "draft" ? html`<a class="button" href="#/revisit/${caseId}/${r.id}">${t("unfinishedRevisit")}</a>`
      : r.state === "failed" ? html`<span class="error">${t("refused")}: ${r.lastError?.message || ""}${errorRef(r.lastError)}</span>`
        : html`<span class="state">${t("savedOnPhone")}</span>`}
    ${r.payload?.method && r.payload.method !== "phone" ? html` <a href="#/survey/${caseId}/${r.id}">${t("continueSurvey")}</a>` : ""}
  </li>`);
}

// A revealed contact stays in this page's memory only (never in the phone's storage, nor
// in the case's cached copy), and is forgotten when the page is left.
const revealed = new Map();

// The complainant masked (张* 138****1234); those who may see the contact reveal it with
// a reason, which the server logs on the case's timeline and the audit log.
function complainantFact(item) {
  const masked = item.complainant;
  if (!masked) return html`<dt>${t("complainant")}</dt><dd id="case-complainant" class="muted">${t("noContact")}</dd>`;
  const shown = revealed.get(item.id);
  if (shown) {
    const dial = (shown.phone || "").replace(/[^\d+]/g, "");
    return html`<dt>${t("complainant")}</dt><dd id="case-complainant">
      <span class="revealed" id="revealed-contact" tabindex="-1"><b id="revealed-name">${shown.name || ""}</b>
        ${shown.phone ? html`<a id="revealed-phone" href="tel:${dial}">${shown.phone}</a>` : ""}</span>
      <span class="muted small">${t("revealLogged")}</span></dd>`;
  }
  return html`<dt>${t("complainant")}</dt><dd id="case-complainant">
    <span id="masked-contact">${masked.name || ""} ${masked.phone || ""}</span>
    ${isOffice() && item.leads !== false ? html`<details class="reveal-box" id="reveal-box"><summary>${t("revealNumber")}</summary>
      <p class="muted small">${t("revealHidden")}</p>
      <label for="reveal-reason">${t("revealReason")} <span class="req" aria-hidden="true">*</span></label>
      <textarea id="reveal-reason" rows="2" placeholder="${t("revealReasonHint")}"></textarea>
      <p class="error small" id="reveal-error" role="alert" hidden></p>
      <button type="button" class="primary" id="reveal">${t("revealNumber")}</button></details>` : ""}</dd>`;
}

function facts(item) {
  const unit = item.unit?.name || "";
  return html`
    <p class="case-state">${statusChip(item.status)} ${keyMark(item)} ${deadlineLine(item)}
      ${item.deadline?.overdue ? html`<b class="overdue">${t("overdue")}</b>` : ""}</p>
    <dl class="facts">
      <dt>${t("unit")}</dt><dd id="case-unit">${unit}</dd>
      ${leaderName(item) ? html`<dt>${t("leader")}</dt><dd class="leader" id="case-leader">${leaderName(item)}</dd>` : ""}
      ${item.assignees?.length ? html`<dt>${t("assignees")}</dt><dd id="case-assignees">${item.assignees.map((a) => a.name || a.display_name).join("、")}</dd>` : ""}
      ${complainantFact(item)}
      ${item.co_units?.length ? html`<dt>${t("coUnits")}</dt><dd>${item.co_units.map((u) => `${u.name}${u.part ? `（${u.part}）` : ""}`).join("、")}</dd>` : ""}
      ${item.verdict ? html`<dt>${t("verdict")}</dt><dd>${term(item.verdict)}</dd>` : ""}
      ${item.result ? html`<dt>${t("result")}</dt><dd>${item.result}</dd>` : ""}
      ${item.external_ref ? html`<dt>${t("externalRef")}</dt><dd>${item.external_ref}</dd>` : ""}
    </dl>`;
}

const TRACKED = ["transition", "revisit", "visit", "evidence"];

export async function renderCase(view, caseId) {
  const v = await vocab();
  let detail = null;
  let openForm = null; // the action whose form is open survives redraws
  let seen = new Set();
  let signature = "";
  const sign = (list) => list.map((p) => `${p.id}:${p.state}`).join(",");

  const draw = async () => {
    const { item, visits } = detail;
    // Recordings play under their revisit; the gallery is photos.
    const evidence = detail.evidence.filter((ev) => !isAudio(ev));
    const recordings = detail.evidence.filter(isAudio);
    const timeline = detail.timeline || [];
    const revisits = detail.revisits || [];
    const all = await outbox.items();
    // Another user's items on this phone are theirs: not listed to continue here.
    const localRevisits = all.filter((i) => i.kind === "revisit" && i.caseId === caseId
      && outbox.isMine(i));
    const sentHere = new Set((await (await db()).getAll("sent"))
      .filter((x) => x.kind === "revisit" && x.caseId === caseId).map((x) => x.id));
    const drafts = all.filter((i) => i.kind === "visit" && i.caseId === caseId && i.state === "draft"
      && outbox.isMine(i));
    const pending = all.filter((i) => i.kind === "transition" && i.caseId === caseId);
    // What the page watches leave the outbox (then shows the case as the server has it):
    // its actions, revisits and checks.
    const tracked = all.filter((i) => TRACKED.includes(i.kind) && i.caseId === caseId
      && i.state !== "draft");
    seen = new Set(tracked.map((p) => p.id));
    signature = sign(tracked);
    const offered = offeredActions(item, pending, v);
    view.innerHTML = html`
      <section class="case-page" data-case-id="${caseId}" data-status="${item.status}" data-version="${item.version ?? ""}">
        <a class="back" href="#/cases">← ${t("back")}</a>
        <h1>${item.subject}</h1>
        ${facts(item)}
        <p>${item.address}</p>
        <p class="muted small">${term(item.category)} · ${term(item.channel)}
          · ${t("receivedAt")} ${fmtTime(item.received_at)}</p>
        <p>${item.description}</p>
        ${leaderBlocks(item, detail.leaders, (v.open_statuses || []).includes(item.status), v)}
        ${planBlock(detail.plans)}
        ${hardCaseHtml(detail.hard, (v.open_statuses || []).includes(item.status))}
        ${isManager() ? html`<p class="row">${(v.open_statuses || []).includes(item.status) && item.leads !== false
          ? html`<a class="button" id="edit-case" href="#/case/${caseId}/edit">${t("edit")}</a>` : ""}
          ${["submitted", "closed"].includes(item.status) ? html`<a class="button primary" id="review-case"
            href="#/review/${caseId}">${t("reviewCase")}</a>` : ""}</p>` : ""}
        ${pendingRows(pending)}
        <div class="action-buttons" id="case-actions" role="group" aria-label="${t("actionsTitle")}">
          ${offered.map((a) => html`<button type="button" class="big" data-action="${a}">${term(a)}</button>`)}
        </div>
        <div id="action-slot"></div>
        ${drafts.map((d) => html`<p><a class="button" href="#/check/${caseId}/${d.id}">${t("draft")}: ${t("unfinished")}</a></p>`)}
        <h2>${t("evidence")}</h2>
        <div class="gallery" id="gallery">
          ${await localPhotos(caseId)}
          ${evidence.length ? evidence.map(evidenceCard) : html`<p class="muted">${t("noEvidence")}</p>`}
        </div>
        <h2>${t("visits")}</h2>
        <ul class="visits" id="visits">${visits.map((x) => html`<li class="visit" data-visit-id="${x.id}">${term(x.kind)} · ${fmtTime(x.started_at)}
          <span class="muted small">${x.findings}</span>
          ${x.measurements.map(measurementBlock)}</li>`)}</ul>
        ${revisits.length || localRevisits.length || isRevisitor() ? html`<h2>${t("revisits")}</h2>
          ${isRevisitor() ? html`<div class="action-buttons" id="revisit-buttons">
            ${revisitVocab(v).revisit_methods.map(revisitButton)}</div>` : ""}
          <ul class="revisits" id="revisits">${localRevisitRows(caseId, localRevisits)}
            ${revisits.map((r) => revisitRow(r, sentHere.has(r.client_id), recordings))}</ul>` : ""}
        <h2>${t("timeline")}</h2>
        ${timeline.length ? html`<ol class="timeline" id="timeline">${timeline.map(eventRow)}</ol>`
          : html`<p class="muted" id="timeline-empty">${t("noTimeline")}</p>`}
      </section>
      ${item.status === "closed" || !isField() ? "" : html`<div class="actions">
        <button class="primary big" id="start-check">${t("startCheck")}</button>
      </div>`}`;
    wireLeaderBlocks(view, item, refresh);
    wirePlanBlock(view, refresh);
    wireHardCase(view, item, refresh);
    view.querySelector("#start-check")?.addEventListener("click", () => {
      go(`#/check/${caseId}/${outbox.uuid()}`);
    });
    view.querySelector("#reveal")?.addEventListener("click", reveal);
    repeatBanner(view, caseId, () => refresh()); // a repeat complaint's warning, under the title
    view.querySelector("#start-phone-revisit")?.addEventListener("click", () => {
      const draft = localRevisits.find((r) => r.state === "draft");
      go(`#/revisit/${caseId}/${draft ? draft.id : outbox.uuid()}`);
    });
    for (const button of view.querySelectorAll("#revisit-buttons [data-survey-method]")) {
      button.addEventListener("click", () => {
        go(`#/survey/${caseId}/${outbox.uuid()}/${button.dataset.surveyMethod}`);
      });
    }
    view.querySelector("#case-actions").addEventListener("click", (event) => {
      const button = event.target.closest("[data-action]");
      // Approving is decided on the reviewer's desk, checklist in view.
      if (button?.dataset.action === "approve") go(`#/review/${caseId}`);
      else if (button) openAction(button.dataset.action);
    });
    if (openForm && offered.includes(openForm)) await openAction(openForm);
    else openForm = null;
  };

  const reveal = async (event) => {
    const reason = view.querySelector("#reveal-reason").value.trim();
    const box = view.querySelector("#reveal-error");
    if (reason.length < 4) {
      box.textContent = t("revealNeedsReason");
      box.hidden = false;
      view.querySelector("#reveal-reason").focus();
      return;
    }
    event.target.disabled = true;
    try {
      revealed.set(caseId, await api("POST", `/api/cases/${caseId}/complainant/reveal`, { body: { reason } }));
      // Drawn again with the reveal on the timeline (or as it was, should that fail).
      if (!(await refresh())) await draw();
      view.querySelector("#revealed-contact")?.focus();
    } catch (error) {
      event.target.disabled = false;
      box.textContent = error.kind === "offline" ? t("needsNetwork")
        : error.problem?.errors?.reason?.join(" ") || errorText(error);
      appendRef(box, error);
      box.hidden = false;
    }
  };

  const openAction = async (action) => {
    openForm = action;
    const slot = view.querySelector("#action-slot");
    // Its form may wait on the network (the units to pick from): said at once.
    slot.innerHTML = html`<p class="muted" id="action-loading" role="status">${t("loading")}</p>`.toString();
    const form = await actionForm(detail.item, action, v);
    // Gone, or another action's form asked for meanwhile: that one shows.
    if (!slot.isConnected || openForm !== action) return;
    slot.replaceChildren(form);
    form.querySelector("#action-cancel").addEventListener("click", () => {
      openForm = null;
      slot.replaceChildren();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const spec = actionSpec(v, action);
      const { params, errors } = readParams(form, spec);
      if (Object.keys(errors).length) return showErrors(form, errors);
      const button = form.querySelector("#action-send");
      const label = button.textContent;
      // An office action waits on the server (20 s at most on a weak signal): said.
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      button.textContent = t("sending");
      try {
        const answer = await sendAction(detail.item, action, params, v);
        openForm = null;
        if (answer.queued) {
          toast(t("actionSaved"));
          await draw();
        } else {
          toast(`${term(action)} ✓`);
          await refresh();
        }
      } catch (error) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
        button.textContent = label;
        const p = error.problem || {};
        if (p.code === "case.version_conflict") {
          openForm = null;
          toast(t("versionConflict"), "warn");
          await refresh();
          const note = document.createElement("div");
          note.className = "notice";
          note.id = "conflict-note";
          note.setAttribute("role", "alert");
          note.innerHTML = html`<p>${t("versionConflict")}</p>
            <ol class="timeline">${(p.changes || []).map(eventRow)}</ol>`.toString();
          view.querySelector("#action-slot")?.replaceChildren(note);
        } else {
          showErrors(form, p.errors, errorText(error), error);
        }
      }
    });
  };

  const load = async () => {
    try {
      const [item, evidence, visits, timeline, revisits, leaders, plans, hard] = await Promise.all([
        api("GET", `/api/cases/${caseId}`),
        api("GET", `/api/cases/${caseId}/evidence`),
        api("GET", `/api/cases/${caseId}/visits`),
        api("GET", `/api/cases/${caseId}/timeline`).catch((error) => {
          if (error.status === 404 || error.status === 405) return { items: [] };
          throw error;
        }),
        api("GET", `/api/cases/${caseId}/revisits`).catch((error) => {
          if (error.status === 404 || error.status === 405) return { items: [] };
          throw error;
        }),
        loadLeaderFacts(caseId),
        loadPlans(caseId),
        loadHardCase(caseId),
      ]);
      detail = { item, evidence: evidence.items, visits: visits.items, timeline: timeline.items,
        revisits: revisits.items, leaders, plans, hard };
      await setCache(`case:${caseId}`, detail);
      await draw();
      return true;
    } catch (error) {
      if (error.status === 404 || error.status === 403) {
        // No longer one of this user's cases: drop the phone's copy too.
        await setCache(`case:${caseId}`, null);
        view.innerHTML = html`<p class="error" role="alert">${t("cachedGone")}</p>`;
        detail = null;
      } else if (!detail) {
        const list = [...((await getCache("cases:mine"))?.value || []),
          ...((await getCache("cases:office"))?.value || [])];
        const item = list.find((c) => c.id === caseId);
        if (item) {
          detail = { item, evidence: [], visits: [], timeline: [], revisits: [] };
          await draw();
        } else view.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
      }
      return false;
    }
  };

  // One load at a time; asked for again meanwhile, or with one of our queued items applied
  // while its answers were on their way, it loads once more, so what is drawn is never
  // older than the last change.
  let loading = null;
  let again = false;
  const refresh = async () => {
    if (loading) {
      again = true;
      return loading;
    }
    const queued = async () => new Set((await outbox.items())
      .filter((i) => TRACKED.includes(i.kind) && i.caseId === caseId).map((i) => i.id));
    loading = (async () => {
      let ok;
      do {
        again = false;
        const before = await queued();
        ok = await load();
        const after = await queued();
        // An item applied while the answers were on their way may be missing from them.
        if ([...before].some((id) => !after.has(id))) again = true;
      } while (again);
      return ok;
    })();
    try {
      return await loading;
    } finally {
      loading = null;
    }
  };

  // Listening before the first load: an item the outbox applies while it runs is not missed.
  let pending = false;
  const unsubscribe = outbox.onChange(() => {
    if (pending) return; // progress events come fast: at most one redraw a frame
    pending = true;
    requestAnimationFrame(async () => {
      pending = false;
      if (!detail || !view.isConnected) return;
      const now = (await outbox.items()).filter((i) => TRACKED.includes(i.kind)
        && i.caseId === caseId && i.state !== "draft");
      const ids = new Set(now.map((p) => p.id));
      const changed = sign(now) !== signature;
      if ([...seen].some((id) => !ids.has(id))) {
        await refresh(); // an action of ours was applied: show the case as it is now
        return;
      }
      if (changed && !openForm) {
        await draw();
        return;
      }
      const gallery = view.querySelector("#gallery");
      if (!gallery) return;
      const local = await localPhotos(caseId);
      gallery.querySelectorAll(".evidence.local").forEach((node) => node.remove());
      gallery.insertAdjacentHTML("afterbegin", html`${local}`.toString());
    });
  });
  loadQuestionnaires(); // for surveys where there is no signal
  const stored = await getCache(`case:${caseId}`);
  if (stored?.value) {
    detail = stored.value;
    await draw();
  } else view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  await refresh();

  return () => {
    unsubscribe();
    previews.revoke();
    revealed.delete(caseId);
  };
}
