// The repeat-complaint warning on the case page (seed 002: the same subject complained
// about again): how often, whether it is on the repeat list, the leader in charge, how the
// complaints were matched, the earlier cases this user may open and, for other units'
// cases, a count only. The office confirms the link or undoes it ("not the same"), after
// a confirm step. The case page calls repeatBanner() each time it draws; the answer is
// kept per case for a few seconds so a redraw does not ask the server again.
import { api } from "../../api.js";
import { getLang, t, term } from "../../i18n.js";
import { state } from "../../state.js";
import { appendRef, errorText, fmtTime, html, toast } from "../../ui.js";

const MATCHES = ["address", "radius", "phone"];

// "同一地址、附近" / "same address, nearby": the ways two complaints were matched, in a fixed
// order; a way this app has no words for is left out, never shown as its key.
export function matchedText(matchedBy) {
  const list = Array.isArray(matchedBy) ? matchedBy : matchedBy ? [matchedBy] : [];
  return MATCHES.filter((m) => list.includes(m)).map((m) => t(`repeatMatch.${m}`))
    .join(getLang() === "zh" ? "、" : ", ");
}

// "{n}" and "{name}" in a sentence.
export function fill(text, values) {
  return Object.entries(values).reduce((out, [k, v]) => out.replaceAll(`{${k}}`, String(v ?? "")), text);
}

// GET /api/cases/<id>/repeat (and the subject's history, GET /api/repeats/<id>, for the
// earlier cases this user may open) as the banner reads it: linked or not, the link's
// state, the subject's count, list and leader, the other units' count.
export function bannerModel(answer, history = null) {
  if (!answer || typeof answer !== "object" || !answer.linked) return null;
  const subject = answer.subject || {};
  const link = answer.link || {};
  return {
    subjectId: subject.id || null,
    title: subject.title || "",
    category: subject.category || null,
    count: subject.count ?? 0,
    listed: Boolean(subject.listed),
    leader: subject.leader || null,
    state: link.state || "auto",
    matchedBy: link.matched_by || [],
    decidedAt: link.decided_at || null,
    // Undone links are the office's "not the same": not offered as earlier complaints.
    earlier: (history?.cases || []).filter((c) => c?.id && c.state !== "undone"),
    otherUnits: Number(subject.other_units ?? 0) || 0,
    canDecide: Boolean(answer.may_decide),
  };
}

// The banner's first line: "重复投诉：该对象已被投诉 3 次（已列入反复投诉清单） · 包案领导 张局".
export function headline(model) {
  const parts = [fill(t("repeatWarning"), { n: model.count }) + (model.listed ? t("repeatOnList") : "")];
  if (model.listed || model.leader) {
    parts.push(model.leader?.name ? `${t("leader")} ${model.leader.name}` : t("repeatNoLeader"));
  }
  return parts.join(" · ");
}

function earlierList(model, caseId) {
  const others = model.earlier.filter((c) => c.id !== caseId);
  if (!others.length && !model.otherUnits) return "";
  return html`<ul class="repeat-cases" id="repeat-cases">${others.map((c) => html`<li>
      <a href="#/case/${c.id}" data-case-id="${c.id}">${c.subject || t("titleCase")}</a>
      <span class="muted small">${fmtTime(c.received_at)}${c.status ? ` · ${term(c.status)}` : ""}</span></li>`)}
    ${model.otherUnits ? html`<li class="repeat-other-units" id="repeat-other-units">${fill(t("repeatOtherUnits"), { n: model.otherUnits })}</li>` : ""}</ul>`;
}

// What was decided and when ("已确认关联 · 2026-12-05 10:00"; who: on the timeline).
function decisionLine(model) {
  if (model.state === "auto") return html`<p class="small muted repeat-state">${t("repeatAuto")}</p>`;
  return html`<p class="small repeat-state" data-state="${model.state}"><b>${t(`repeatState.${model.state}`)}</b>${
    model.decidedAt ? ` · ${fmtTime(model.decidedAt)}` : ""}</p>`;
}

function buttons(model) {
  if (!model.canDecide) return "";
  return html`<div class="row repeat-decide" id="repeat-decide">
      ${model.state !== "confirmed" ? html`<button type="button" class="repeat-confirm" data-decision="confirm">${t("repeatConfirm")}</button>` : ""}
      ${model.state !== "undone" ? html`<button type="button" class="danger repeat-undo" data-decision="undo">${t("repeatUndo")}</button>` : ""}
    </div>
    <div class="repeat-ask notice" id="repeat-ask" role="alertdialog" aria-labelledby="repeat-ask-text" hidden>
      <p id="repeat-ask-text"></p>
      <div class="row"><button type="button" class="primary" id="repeat-ask-yes"></button>
        <button type="button" id="repeat-ask-no">${t("cancel")}</button></div>
      <p class="error small" id="repeat-error" role="alert" hidden></p>
    </div>`;
}

export function bannerHtml(model, caseId) {
  if (!model) return "";
  if (model.state === "undone") {
    // Undone: the case is not the same problem; said quietly, with when (who: on the timeline).
    return html`<section class="repeat-banner undone" id="repeat-banner" data-state="undone" aria-label="${t("repeatTitle")}">
      <p class="repeat-head">${t("repeatUndoneNote")}${model.subjectId ? html` <a href="#/repeats/${model.subjectId}">${t("repeatOpenSubject")}</a>` : ""}</p>
      ${decisionLine(model)}${buttons(model)}</section>`;
  }
  const how = matchedText(model.matchedBy);
  return html`<section class="repeat-banner${model.listed ? " listed" : ""}" id="repeat-banner"
      data-state="${model.state}" data-count="${model.count}" data-listed="${String(model.listed)}" aria-label="${t("repeatTitle")}">
    <p class="repeat-head"><span class="repeat-mark" aria-hidden="true">⚠</span> <b id="repeat-headline">${headline(model)}</b></p>
    ${how ? html`<p class="small repeat-how">${t("repeatMatchedBy")}: ${how}</p>` : ""}
    ${earlierList(model, caseId)}
    ${model.subjectId ? html`<p class="small"><a href="#/repeats/${model.subjectId}" id="repeat-subject-link">${t("repeatOpenSubject")}</a></p>` : ""}
    ${decisionLine(model)}${buttons(model)}</section>`;
}

// Kept in this page's memory only, per user and case (another user on this phone never
// sees the last one's answer, which may name cases they may not open).
const answers = new Map(); // "user:case" -> { at, model }
const asking = new Map(); // "user:case" -> the request on its way
const keyOf = (caseId) => `${state.session?.user?.id || ""}:${caseId}`;
const FRESH_MS = 5000;
const asked = new WeakMap(); // the case page's element -> the case it asked about

// The case's link, then (linked and not undone) its subject's history for the earlier
// cases; a subject this user may no longer read leaves the banner without them.
async function ask(caseId) {
  const answer = await api("GET", `/api/cases/${caseId}/repeat`);
  let history = null;
  if (answer?.linked && answer.subject?.id && answer.link?.state !== "undone") {
    history = await api("GET", `/api/repeats/${answer.subject.id}`).catch(() => null);
  }
  return bannerModel(answer, history);
}

async function fetchModel(caseId) {
  const key = keyOf(caseId);
  if (asking.has(key)) return asking.get(key);
  // A read overtaken by a decision (its entry gone from `asking`) keeps its answer to itself.
  const current = () => asking.get(key) === request;
  const request = ask(caseId)
    .then((model) => {
      if (current()) answers.set(key, { at: Date.now(), model });
      return model;
    })
    .catch((error) => {
      // No rights, no network: no banner, or the one last shown.
      if (current() && (error.status === 404 || error.status === 403)) answers.set(key, { at: Date.now(), model: null });
      return answers.get(key)?.model ?? null;
    })
    .finally(() => { if (current()) asking.delete(key); });
  asking.set(key, request);
  return request;
}

function slotIn(view) {
  let slot = view.querySelector("#repeat-slot");
  if (slot) return slot;
  const page = view.querySelector(".case-page");
  const title = page?.querySelector("h1");
  if (!title) return null;
  slot = document.createElement("div");
  slot.id = "repeat-slot";
  title.after(slot);
  return slot;
}

// The question open on a case ("not the same?"): it stays open when the page redraws.
const opened = new Map(); // caseId -> "confirm" | "undo"

function openAsk(slot, caseId, decision, focus) {
  const ask = slot.querySelector("#repeat-ask");
  const yes = ask.querySelector("#repeat-ask-yes");
  if (!slot.querySelector(`#repeat-decide [data-decision="${decision}"]`)) {
    opened.delete(caseId); // decided meanwhile: nothing left to ask
    return;
  }
  opened.set(caseId, decision);
  ask.querySelector("#repeat-ask-text").textContent = t(decision === "undo" ? "repeatUndoAsk" : "repeatConfirmAsk");
  yes.textContent = t(decision === "undo" ? "repeatUndo" : "repeatConfirm");
  yes.className = decision === "undo" ? "danger" : "primary";
  ask.hidden = false;
  if (focus) yes.focus();
}

function wire(slot, model, caseId, onChange) {
  const ask = slot.querySelector("#repeat-ask");
  if (!ask) return;
  for (const button of slot.querySelectorAll("#repeat-decide button")) {
    button.addEventListener("click", () => {
      ask.querySelector("#repeat-error").hidden = true;
      openAsk(slot, caseId, button.dataset.decision, true);
    });
  }
  ask.querySelector("#repeat-ask-no").addEventListener("click", () => {
    const decision = opened.get(caseId);
    opened.delete(caseId);
    ask.hidden = true;
    slot.querySelector(`#repeat-decide [data-decision="${decision}"]`)?.focus();
  });
  ask.querySelector("#repeat-ask-yes").addEventListener("click", async (event) => {
    const decision = opened.get(caseId);
    event.target.disabled = true;
    try {
      await api("POST", `/api/cases/${caseId}/repeat/${decision}`);
      opened.delete(caseId);
      answers.delete(keyOf(caseId));
      asking.delete(keyOf(caseId)); // a read begun before the decision is not its answer
      toast(t(decision === "undo" ? "repeatUndoneToast" : "repeatConfirmedToast"));
      const next = await fetchModel(caseId);
      if (slot.isConnected) draw(slot, next, caseId, onChange);
      await onChange?.(); // the case page again: the decision is on its timeline
      const banner = document.querySelector("#repeat-banner");
      banner?.setAttribute("tabindex", "-1");
      banner?.focus({ preventScroll: true });
    } catch (error) {
      event.target.disabled = false;
      const box = ask.querySelector("#repeat-error");
      box.textContent = error.kind === "offline" ? t("needsNetwork") : errorText(error);
      appendRef(box, error);
      box.hidden = false;
    }
  });
  if (opened.has(caseId)) openAsk(slot, caseId, opened.get(caseId), document.activeElement === document.body);
}

function draw(slot, model, caseId, onChange) {
  const hadFocus = slot.contains(document.activeElement) ? document.activeElement.id : null;
  slot.innerHTML = bannerHtml(model, caseId).toString();
  slot.dataset.drawn = JSON.stringify(model);
  if (model) wire(slot, model, caseId, onChange);
  if (hadFocus) slot.querySelector(`#${hadFocus}`)?.focus();
}

// Called by the case page after each draw: shows the last answer at once, then asks again
// on a new visit, or when the answer is older than a few seconds. `onChange` reloads the case page after a decision.
export async function repeatBanner(view, caseId, onChange) {
  const slot = slotIn(view);
  if (!slot) return;
  const known = answers.get(keyOf(caseId));
  if (known) draw(slot, known.model, caseId, onChange);
  // Each visit to the page asks once (a leader named meanwhile shows); its redraws reuse it.
  const visited = asked.get(view) === caseId;
  asked.set(view, caseId);
  if (visited && known && Date.now() - known.at < FRESH_MS) return;
  const model = await fetchModel(caseId);
  // Into the banner's place as the page is now (it may have redrawn meanwhile); the same
  // answer as drawn is left as it is (a question open, the focus where it was).
  const now = view.isConnected ? view.querySelector("#repeat-slot") : null;
  if (now && now.dataset.drawn !== JSON.stringify(model)) draw(now, model, caseId, onChange);
}
