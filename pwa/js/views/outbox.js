import { db } from "../db.js";
import { t, term } from "../i18n.js";
import * as outbox from "../outbox.js";
import { state } from "../state.js";
import { eventRow } from "../actions.js";
import { go } from "../nav.js";
import { refusalNotes } from "../noiserecord.js";
import { errorRef, fmtTime, html } from "../ui.js";

// A case action the server would not apply as it stood: what changed since the phone saw
// the case, and the two ways on (never dropped silently).
function conflictBlock(item) {
  const c = item.conflict || {};
  const unit = c.unit && typeof c.unit === "object" ? c.unit.name : c.unit;
  return html`<div class="conflict" data-state="conflict" role="alert">
    <b class="error">${t("conflict")}</b>
    <dl class="facts">
      ${c.status ? html`<dt>${t("currentStatus")}</dt><dd data-field="status">${term(c.status)}</dd>` : ""}
      ${unit ? html`<dt>${t("currentUnit")}</dt><dd data-field="unit">${unit}</dd>` : ""}
    </dl>
    ${c.changes?.length ? html`<p class="small muted">${t("whatChanged")}</p>
      <ol class="timeline changes">${c.changes.map(eventRow)}</ol>` : ""}
  </div>`;
}

function stateText(item, drafts, userId, failed, pendingIds, mendable) {
  const progress = outbox.status.progress[item.id];
  if (progress) {
    return html`<span data-state="sending">${t("sending")} ${Math.round(progress.fraction * 100)}%
      <progress max="1" value="${progress.fraction}"></progress></span>`;
  }
  if (item.state === "draft") {
    return html`<span data-state="draft">${t(item.kind === "revisit" ? "draftRevisit" : item.kind === "recheck" ? "draftRecheck" : "draft")}</span>`;
  }
  if (item.userId && item.userId !== userId) {
    return html`<span data-state="other-user">${t("otherUser")}</span>`;
  }
  if (item.state === "conflict") return conflictBlock(item);
  if (item.kind === "transition" && item.state === "failed") {
    return html`<span data-state="failed" class="error">${t("refused")}: ${item.lastError?.message || ""}${errorRef(item.lastError)}</span>`;
  }
  if (item.kind === "transition" && item.after && pendingIds.has(item.after)) {
    return html`<span data-state="waiting">${t("waitsForEarlier")}</span>`;
  }
  if (outbox.isMendable(item)) {
    // Refused for what was typed: the fields the server named, to be corrected.
    return html`<span data-state="failed" class="error">${t("checkRefused")}</span>
      <ul class="refused-fields small" aria-label="${t("refusedFields")}">${refusalNotes(
        item.lastError.fields, state.standards, item.payload,
        item.lastError.localFields).map((n) => html`<li data-field="${n.field}">
        <b>${n.label}</b>: ${n.message}</li>`)}</ul>`;
  }
  if (outbox.isRecheckMendable(item)) {
    // A re-check refused for what was typed: the server's words, to be corrected.
    return html`<span data-state="failed" class="error">${t("recheckRefused")}: ${item.lastError?.message || ""}${errorRef(item.lastError)}</span>`;
  }
  if (item.state === "failed") {
    return html`<span data-state="failed" class="error">${t("failed")}: ${item.lastError?.message || ""}${errorRef(item.lastError)}</span>`;
  }
  if (item.kind === "respondent" && failed.has(item.revisitClientId)) {
    return html`<span data-state="waiting" class="error">${t("waitsSurveyRefused")}</span>`;
  }
  if (item.kind === "respondent" && pendingIds.has(item.revisitClientId)) {
    return html`<span data-state="saved">${t("savedOnPhone")} · ${t("waitsForSurvey")}</span>`;
  }
  if (item.respondentClientId && pendingIds.has(item.respondentClientId) && !item.declaration) {
    return html`<span data-state="saved">${t("savedOnPhone")} · ${t("waitsForRespondent")}</span>`;
  }
  if (item.visitClientId && mendable.has(item.visitClientId) && !item.declaration) {
    // Mendable ids are kept with their kind: a re-check's photos wait for the re-check.
    const key = mendable.get(item.visitClientId) === "recheck" ? "waitsMendRecheck" : "waitsMend";
    return html`<span data-state="waiting">${t("savedOnPhone")} · ${t(key)}</span>`;
  }
  if (item.visitClientId && failed.has(item.visitClientId) && !item.declaration) {
    return html`<span data-state="saved">${t("savedOnPhone")} · ${t("waitsRefused")}</span>`;
  }
  if (item.visitClientId && drafts.has(item.visitClientId)) {
    return html`<span data-state="saved">${t("savedOnPhone")} · ${t("waitsForCheck")}</span>`;
  }
  if (item.lastError) {
    // A limit (429) is not an outage: the outbox tries again on its own.
    const why = item.lastError.status === 429 ? t("tooMany")
      : { offline: t("noNetwork"), portal: t("portal"), server: t("serverDown"),
        auth: t("needsLogin") }[item.lastError.kind] || item.lastError.message;
    return html`<span data-state="waiting">${t("waiting")}: ${why}</span>`;
  }
  return html`<span data-state="saved">${t("savedOnPhone")}</span>`;
}

function sentLabel(s) {
  if (s.kind === "visit") return t("check");
  if (s.kind === "transition") return `${t("caseAction")} · ${term(s.action)}`;
  if (s.kind === "revisit") return `${term(`method.${s.summary?.method}`)}${s.label ? ` · ${s.label}` : ""}`;
  if (s.kind === "recheck") return `${t("recheckItem")}${s.label ? ` · ${s.label}` : ""}`;
  if (s.kind === "respondent") return `${t("respondent")} · ${term(`respondent.${s.summary?.kind}`)}`;
  return s.summary?.media === "audio" ? t("recording") : t("photo");
}

async function row(item, drafts, userId, failed, pendingIds, mendable) {
  const mine = !item.userId || item.userId === userId;
  // Another user's items show no caption or place: a shared phone keeps cases apart.
  const media = item.media === "audio" ? t("recording") : t("photo");
  const label = item.kind === "visit" ? term(item.payload?.kind || "site_check")
    : item.kind === "transition" ? `${t("caseAction")} · ${term(item.action)}${mine && item.subject ? ` · ${item.subject}` : ""}`
    : item.kind === "revisit" ? `${term(`method.${item.payload?.method}`)}${mine && item.label ? ` · ${item.label}` : ""}`
    : item.kind === "recheck" ? `${t("recheckItem")}${mine && item.label ? ` · ${item.label}` : ""}`
    : item.kind === "respondent" ? `${t("respondent")} · ${term(`respondent.${item.payload?.kind}`)}${
      mine && item.payload?.satisfaction ? ` · ${term(item.payload.satisfaction)}` : ""}`
    : mine ? `${media} · ${item.caption || item.place || item.fileName || ""}` : media;
  const draftScreen = item.kind === "revisit" ? "revisit" : "check";
  const action = item.kind === "transition" && ["conflict", "failed"].includes(item.state) && mine
    ? html`${item.state === "conflict" && item.conflict?.current_version != null
      ? html`<button type="button" class="primary" data-retry-current="${item.id}">${t("retryCurrent")}</button>`
      : html`<button type="button" data-retry="${item.id}">${t("retry")}</button>`}
      <button type="button" data-discard-item="${item.id}">${t("discardMine")}</button>
      <a class="button" href="#/case/${item.caseId}">${t("openCase")}</a>`
    : outbox.isMendable(item) && mine
    ? html`<button type="button" class="primary" data-mend="${item.id}" data-case="${item.caseId}">${t("mendCheck")}</button>
      ${item.photosAlone ? "" : html`<button type="button" data-photos-alone="${item.id}">${t("sendPhotosAlone")}</button>`}`
    : outbox.isRecheckMendable(item) && mine
    ? html`<a class="button primary" href="#/recheck/${item.taskId}" data-mend-recheck="${item.id}">${t("mendRecheck")}</a>`
    : item.state === "failed"
    ? html`<button data-retry="${item.id}">${t("retry")}</button>`
    : item.state === "draft" && mine
      ? html`${item.kind === "recheck" ? html`<a class="button" href="#/recheck/${item.taskId}">${t("unfinishedRecheck")}</a>`
        : html`<a class="button" href="#/${draftScreen}/${item.caseId}/${item.id}">${item.kind === "revisit" ? t("unfinishedRevisit") : t("unfinished")}</a>`}
        <button type="button" data-discard="${item.id}" data-keeps-photos="${item.refusal || item.offered ? "1" : ""}">${t("discard")}</button>`
      : "";
  return html`<li class="outbox-item" data-outbox-id="${item.id}" data-kind="${item.kind}" data-item-state="${item.state}">
    <span><b>${label}</b> <span class="muted small">${fmtTime(item.createdAt)}</span></span>
    ${stateText(item, drafts, userId, failed, pendingIds, mendable)} <span class="item-buttons">${action}</span></li>`;
}

export async function renderOutbox(view) {
  // The frame is drawn once; updates touch only the lists and the button's state, so a
  // button is never replaced under the inspector's finger while progress events arrive.
  view.innerHTML = html`
    <section>
      <h1>${t("outbox")}</h1>
      <button class="primary big" id="sync-now" type="button">${t("syncNow")}</button>
      <p id="sync-progress" class="sync-progress" role="status" aria-live="polite" hidden></p>
      <div id="waiting"></div>
      <h2>${t("sent")}</h2>
      <ul class="sent" id="sent"></ul>
    </section>`;
  const button = view.querySelector("#sync-now");
  button.addEventListener("click", () => outbox.syncNow({ force: true }));
  view.querySelector("#waiting").addEventListener("click", (event) => {
    const retry = event.target.closest("[data-retry]");
    if (retry) outbox.retryFailed(retry.dataset.retry);
    const discard = event.target.closest("[data-discard]");
    // A mended check's photos stay and go to the case alone (outbox.discardDraft).
    if (discard && confirm(t(discard.dataset.keepsPhotos ? "confirmDiscardMended" : "confirmDiscard"))) {
      outbox.discardDraft(discard.dataset.discard);
    }
    const current = event.target.closest("[data-retry-current]");
    if (current) outbox.retryOnCurrent(current.dataset.retryCurrent);
    const drop = event.target.closest("[data-discard-item]");
    if (drop) outbox.discardItem(drop.dataset.discardItem);
    const mend = event.target.closest("[data-mend]");
    if (mend) go(`#/check/${mend.dataset.case}/${mend.dataset.mend}`); // opened to be mended
    const alone = event.target.closest("[data-photos-alone]");
    if (alone) outbox.sendPhotosAlone(alone.dataset.photosAlone);
  });
  // Each update reads the outbox afresh; only the latest one started may draw (an
  // earlier one, slower to read, would draw what was there before).
  let updates = 0;
  const update = async () => {
    const mine = ++updates;
    const waiting = await outbox.items();
    const drafts = new Set(waiting.filter((i) => i.state === "draft").map((i) => i.id));
    const failed = new Set(waiting.filter((i) => ["visit", "revisit", "recheck"].includes(i.kind)
      && i.state === "failed").map((i) => i.id));
    const pendingIds = new Set(waiting.map((i) => i.id));
    const mendable = new Map(waiting.filter((i) => (outbox.isMendable(i) || outbox.isRecheckMendable(i))
      && !i.photosAlone).map((i) => [i.id, i.kind]));
    // Only this user's: a sent item's label names its case (older records named nobody).
    const sent = (await (await db()).getAll("sent")).filter((s) => s.userId
      && s.userId === state.session?.user?.id).slice(-20).reverse();
    const rows = waiting.length
      ? await Promise.all(waiting.map((item) => row(item, drafts, state.session?.user?.id, failed, pendingIds, mendable)))
      : null;
    if (mine !== updates) return;
    button.disabled = outbox.status.running;
    button.textContent = outbox.status.running ? t("syncing") : t("syncNow");
    // While a pass runs: how far it got (22 respondents take a while on a weak signal).
    const run = outbox.status.run;
    const bar = view.querySelector("#sync-progress");
    bar.hidden = !(outbox.status.running && run && run.total > 0);
    if (!bar.hidden) {
      bar.innerHTML = html`${t("syncing")} <span id="sync-done">${run.done}</span>/<span id="sync-total">${run.total}</span>
        <progress max="${run.total}" value="${run.done}"></progress>
        ${run.failed ? html`<span class="error">${run.failed} ${t("refused")}</span>` : ""}`.toString();
    }
    view.querySelector("#waiting").innerHTML = rows
      ? html`<ul class="outbox" id="outbox-list">${rows}</ul>`
      : html`<p class="muted" id="outbox-empty">${t("nothingWaiting")}</p>`;
    view.querySelector("#sent").innerHTML = html`${sent.map((s) => html`<li data-sent-id="${s.id}">
      ${sentLabel(s)} ${fmtTime(s.sentAt)}
      <span class="muted small">${s.sha256 ? s.sha256.slice(0, 12) : ""}</span></li>`)}`;
  };
  // Listening before the first read: a sync that ends while it reads is drawn after it.
  let pending = false;
  const stop = outbox.onChange(() => {
    if (pending) return; // progress events come fast: at most one update a frame
    pending = true;
    requestAnimationFrame(async () => { pending = false; await update(); });
  });
  await update();
  return stop;
}
