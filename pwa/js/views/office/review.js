// The reviewer's screen (验收销号), laid out for a desk: the case, its evidence (large
// photos with their flags, check codes and QR codes, each placed on a map against the
// case), the computed closure checklist with links to what each rule refers to, flags
// explained with a note, then approve or return. Once approved: the seal and the files.
import { eventRow, postTransition } from "../../actions.js";
import { api } from "../../api.js";
import { deadlineLine, keyMark, statusChip } from "../../caseui.js";
import { getLang, t, term } from "../../i18n.js";
import { BaseMap, basemapSelect, loadLeaflet } from "../../mapkit.js";
import { acknowledgements, checklistBlock, evidenceCard, numbering, photoDistance, photoLabel,
  refusal, sealBlock } from "../../review.js";
import { isManager, vocab } from "../../state.js";
import { appendRef, errorRef, errorText, fmtDistance, fmtTime, html, safeUrl, toast } from "../../ui.js";
import { measurementBlock } from "../case.js";
import { isAudio, respondentsBlock } from "../../answers.js";

// Answers a screen can do without (an endpoint this server lacks, a case never sealed).
const optional = (promise, fallback) => promise.catch((error) => {
  if (error.status === 404 || error.status === 405) return fallback;
  throw error;
});

function summary(item) {
  return html`
    <p class="case-state">${statusChip(item.status)} ${keyMark(item)} ${item.status === "closed" ? "" : deadlineLine(item)}</p>
    <dl class="facts review-facts">
      <dt>${t("address")}</dt><dd>${item.address || ""}</dd>
      <dt>${t("category")}</dt><dd>${term(item.category)}</dd>
      <dt>${t("channel")}</dt><dd>${term(item.channel)}</dd>
      <dt>${t("receivedAt")}</dt><dd>${fmtTime(item.received_at)}</dd>
      <dt>${t("unit")}</dt><dd>${item.unit?.name || ""}</dd>
      ${item.assignees?.length ? html`<dt>${t("assignees")}</dt><dd>${item.assignees.map((a) => a.name || a.display_name).join("、")}</dd>` : ""}
      ${item.external_ref ? html`<dt>${t("externalRef")}</dt><dd>${item.external_ref}</dd>` : ""}
      <dt>${t("description")}</dt><dd>${item.description || ""}</dd>
      <dt>${t("verdict")}</dt><dd id="case-verdict">${item.verdict ? term(item.verdict) : "—"}</dd>
      <dt>${t("result")}</dt><dd id="case-result">${item.result || "—"}</dd>
      ${item.closed_at ? html`<dt>${t("closedAt")}</dt><dd>${fmtTime(item.closed_at)}</dd>` : ""}
    </dl>`;
}

function readings(visits, revisits, recordings) {
  const rows = visits.map((x) => html`<li class="visit" id="visit-${x.id}" data-visit-id="${x.id}">
    <b>${term(x.kind)}</b> · ${fmtTime(x.started_at)} <span class="muted small">${x.findings || ""}</span>
    ${(x.measurements || []).map((m) => html`<div id="m-${m.id}" class="reading" tabindex="-1">${measurementBlock(m)}</div>`)}</li>`);
  const calls = revisits.map((r) => html`<li class="revisit-row${r.satisfaction === "dissatisfied" ? " dissatisfied" : ""}" id="rv-${r.id}" tabindex="-1" data-revisit-id="${r.id}">
    <b>${term(`method.${r.method}`)}</b> · ${fmtTime(r.at)}
    <span class="chip-status">${term(`revisitOutcome.${r.outcome}`)}</span>
    ${r.satisfaction ? html`<span class="chip-status">${term(r.satisfaction)}</span>` : ""}
    ${r.unreachable_reason ? html`<span class="muted small">${r.unreachable_reason}</span>` : ""}
    ${(r.flags || []).map((f) => html`<span class="chip-status flag" data-flag="${f.code}">${term(f.code)}</span>`)}
    <span class="muted small">${r.created_by?.name || ""}</span>
    ${respondentsBlock(r, recordings)}</li>`);
  return html`
    <h3>${t("visits")}</h3>
    ${rows.length ? html`<ul class="visits">${rows}</ul>` : html`<p class="muted">${t("noReadings")}</p>`}
    <h3>${t("revisits")}</h3>
    ${calls.length ? html`<ul class="revisits">${calls}</ul>` : html`<p class="muted">${t("noRevisits")}</p>`}`;
}

// Approve not offered to this user (the server's rule, e.g. they handled the case): say why
// rather than show no button at all.
function withheldNote(withheld) {
  return withheld.map((w) => html`<div class="refusal" id="approve-withheld" data-code="${w.code}">${
    refusal({ problem: { code: w.code, detail: w.detail } })
    || html`<p>${w.message?.[getLang()] || w.detail || ""}</p>`}</div>`);
}

// Approve (a note if wanted) first; returning, with its reasons, folded away below it.
// Each only when the server offers it to this user.
function decisionForm(offered) {
  return html`
    <form id="decision-form" class="decision" novalidate>
      ${offered.includes("approve") ? html`
        <label for="approve-note">${t("approveNote")} <span class="muted small">(${t("optional")})</span></label>
        <textarea id="approve-note" name="note" rows="2"></textarea>
        <button type="button" class="primary big" id="approve">${t("approveCase")}</button>` : ""}
      <div class="refusal" id="decision-problem" role="alert" hidden></div>
      ${offered.includes("return") ? html`<details class="return-box" id="return-box">
        <summary>${t("returnCase")}</summary>
        <label for="return-reasons">${t("returnReasons")} <span class="req" aria-hidden="true">*</span></label>
        <textarea id="return-reasons" name="reasons" rows="3"></textarea>
        <button type="button" class="big" id="return">${t("returnCase")}</button>
      </details>` : ""}
    </form>`;
}

// After a dissatisfied revisit the revisit rule stays unmet until the case is handled again
// and revisited, or someone records why closing stands (and then someone else approves).
function revisitDecisionForm() {
  return html`
    <form id="revisit-decision-form" class="decision" novalidate>
      <p class="muted small">${t("revisitDecisionHint")}</p>
      <label for="revisit-decision-reason">${t("revisitDecisionReason")} <span class="req" aria-hidden="true">*</span></label>
      <textarea id="revisit-decision-reason" name="reason" rows="3"></textarea>
      <p class="error small" id="revisit-decision-error" role="alert" hidden></p>
      <button type="submit" class="big" id="save-revisit-decision">${t("saveRevisitDecision")}</button>
    </form>`;
}

function awaitsDecision(item, checklist, revisits) {
  const rule = (checklist?.rules || []).find((r) => r.code === "revisit");
  if (!rule || rule.met || item.status !== "submitted" || !isManager()) return false;
  const ids = new Set((rule.refs || []).map((ref) => ref.revisit_id));
  return revisits.some((r) => ids.has(r.id) && r.satisfaction === "dissatisfied");
}

// Bring an element of the side column into view: the column scrolls on its own at desk
// width (it stays in place while the photos scroll past), the page on a phone.
function reveal(element) {
  const side = element?.closest(".review-side");
  if (!side || side.scrollHeight <= side.clientHeight) {
    element?.scrollIntoView({ block: "nearest" });
    return;
  }
  const outer = side.getBoundingClientRect();
  const inner = element.getBoundingClientRect();
  if (inner.bottom > outer.bottom) side.scrollTop += inner.bottom - outer.bottom + 12;
  else if (inner.top < outer.top) side.scrollTop -= outer.top - inner.top + 12;
}

export async function renderReview(view, caseId) {
  const v = await vocab();
  let data = null;
  let base = null;
  let ackOpen = null; // "evidence|code" of the note being written, kept across redraws
  view.innerHTML = html`<p class="muted">${t("loading")}</p>`;

  const load = async () => {
    const get = (path) => api("GET", `/api/cases/${caseId}${path}`);
    const [item, evidence, visits, revisits, timeline, checklist] = await Promise.all([
      get(""), get("/evidence"), get("/visits"), optional(get("/revisits"), { items: [] }),
      optional(get("/timeline"), { items: [] }), optional(get("/closure-checklist"), null),
    ]);
    const seal = item.status === "closed" || item.closed_at
      ? await optional(get("/seal"), null) : null;
    // Photos for the gallery, the map and their numbers; recordings play under their
    // revisit (an audio file is no "照片2").
    data = { item, evidence: evidence.items.filter((ev) => !isAudio(ev)).map(steadyLinks),
      recordings: evidence.items.filter(isAudio), visits: visits.items,
      revisits: revisits.items, timeline: timeline.items, checklist, seal };
  };

  // Each answer signs the photos' links anew: the links first seen are kept while they
  // are still good, so a redraw (a flag explained) does not fetch every photo again.
  const links = new Map();
  const steadyLinks = (ev) => {
    const kept = links.get(ev.id);
    const ttl = (ev.links_expire_in || 0) * 1000;
    if (kept && kept.sha256 === ev.sha256 && Date.now() - kept.at < ttl / 2) {
      return { ...ev, thumbnails: kept.thumbnails };
    }
    links.set(ev.id, { sha256: ev.sha256, thumbnails: ev.thumbnails, at: Date.now() });
    return ev;
  };

  const draw = () => {
    const { item, evidence, checklist } = data;
    const numbers = numbering(evidence);
    const acks = acknowledgements(data.timeline);
    const caseLocation = item.location;
    const offered = item.status === "submitted" && isManager()
      ? (item.actions || ["approve", "return"]).filter((a) => a === "approve" || a === "return") : [];
    const withheld = item.status === "submitted" && isManager()
      ? (item.withheld || []).filter((w) => w.action === "approve") : [];
    view.innerHTML = html`
      <section class="review-page" id="review" data-case-id="${caseId}" data-status="${item.status}"
          data-version="${item.version ?? ""}">
        <div class="review-grid">
          <div class="review-head">
            <a class="back" href="#/case/${caseId}">← ${t("back")}</a>
            <div class="title-row"><h1>${t("reviewTitle")} · ${item.subject}</h1></div>
            <section class="card review-summary" aria-labelledby="summary-h"><h2 id="summary-h" class="sr">${t("case")}</h2>
              ${summary(item)}</section>
          </div>
          <aside class="review-side" aria-label="${t("checklist")}">
            ${item.status === "closed" ? html`<section class="card" id="seal-box" aria-labelledby="seal-h">
                <h2 id="seal-h">${t("seal")}</h2>${sealBlock(data.seal, caseId)}</section>` : ""}
            <section class="card" id="checklist" aria-labelledby="checklist-h" tabindex="0">
              <h2 id="checklist-h">${t("checklist")}</h2>
              ${checklistBlock(checklist, numbers)}
            </section>
            ${awaitsDecision(item, checklist, data.revisits) ? html`<section class="card" id="revisit-decision" aria-labelledby="revisit-decision-h">
                <h2 id="revisit-decision-h">${t("revisitDecisionTitle")}</h2>${revisitDecisionForm()}</section>` : ""}
            ${offered.length || withheld.length ? html`<section class="card" id="decision" aria-labelledby="decision-h">
                <h2 id="decision-h">${t("decision")}</h2>${withheldNote(withheld)}${decisionForm(offered)}</section>` : ""}
            ${["submitted", "closed"].includes(item.status) ? ""
              : html`<p class="notice" id="not-submitted">${t("notSubmitted")}</p>`}
          </aside>
          <div class="review-main">
            <h2>${t("evidence")} <span class="muted small">${evidence.length} ${t("evidenceCount")}</span></h2>
            ${evidence.length ? html`<div class="review-gallery" id="review-gallery">
                ${evidence.map((ev, i) => evidenceCard(ev, i + 1, { caseLocation, acks }))}</div>`
              : html`<p class="muted" id="no-evidence">${t("noEvidence")}</p>`}
            <h2>${t("photoMap")}</h2>
            ${caseLocation ? "" : html`<p class="notice small">${t("noCaseLocation")}</p>`}
            <div class="title-row">${basemapSelect(v)}</div>
            <p class="notice small" id="basemap-note" hidden>${t("basemapDown")}</p>
            <div id="review-map" class="map review-map" role="application" aria-label="${t("photoMap")}"></div>
            <ul class="map-distances" id="map-distances">${evidence.map((ev) => {
              const d = photoDistance(ev, caseLocation);
              return html`<li><a href="#ev-${ev.id}" data-goto="ev-${ev.id}">${photoLabel(numbers.get(ev.id))}</a>
                ${d == null ? t("noPhotoLocation") : `${t("distanceToCase")} ${fmtDistance(d)}`}</li>`;
            })}</ul>
            <h2>${t("readingsAndRevisits")}</h2>
            ${readings(data.visits, data.revisits, data.recordings)}
            <h2>${t("timeline")}</h2>
            ${data.timeline.length ? html`<ol class="timeline" id="timeline">${data.timeline.map(eventRow)}</ol>`
              : html`<p class="muted">${t("noTimeline")}</p>`}
          </div>
        </div>
        <dialog class="photo-dialog" id="photo-dialog" aria-label="${t("evidence")}">
          <div class="dialog-body"></div>
          <form method="dialog"><button class="big" id="dialog-close">${t("close")}</button></form>
        </dialog>
      </section>`;
    wire();
    drawMap();
    if (ackOpen) openAck(...ackOpen.split("|"));
  };

  // A link to what a rule refers to: scroll there and mark it for a moment.
  const goTo = (id) => {
    const target = view.querySelector(`#${CSS.escape(id)}`);
    if (!target) return;
    target.scrollIntoView({ behavior: "smooth", block: "center" });
    target.classList.add("spotlight");
    target.focus?.({ preventScroll: true });
    setTimeout(() => target.classList.remove("spotlight"), 2000);
  };

  const openPhoto = (id) => {
    const ev = data.evidence.find((x) => x.id === id);
    const dialog = view.querySelector("#photo-dialog");
    if (!ev || !dialog) return;
    const n = numbering(data.evidence).get(id);
    dialog.querySelector(".dialog-body").innerHTML = html`
      <img src="${safeUrl(ev.thumbnails?.large?.url || ev.thumbnails?.small?.url)}" alt="${ev.caption || photoLabel(n)}">
      <p><b>${photoLabel(n)}</b> ${ev.short_code ? html`<span class="short-code">${ev.short_code}</span>` : ""}
        ${fmtTime(ev.captured_at)} · ${ev.place || ""} · ${ev.caption || ""}</p>`.toString();
    dialog.showModal();
  };

  const openAck = (evidenceId, code) => {
    const row = view.querySelector(`#ev-${CSS.escape(evidenceId)} .flag-row[data-flag="${CSS.escape(code)}"]`);
    if (!row || row.querySelector(".ack-form")) return;
    ackOpen = `${evidenceId}|${code}`;
    const form = document.createElement("form");
    form.className = "ack-form";
    form.noValidate = true;
    form.innerHTML = html`<label for="ack-note-${evidenceId}-${code}">${t("ackNote")}</label>
      <textarea id="ack-note-${evidenceId}-${code}" name="note" rows="2" required></textarea>
      <p class="error small ack-error" role="alert" hidden></p>
      <div class="row"><button type="submit" class="primary ack-save">${t("ackSave")}</button>
        <button type="button" class="ack-cancel">${t("cancel")}</button></div>`.toString();
    row.querySelector(".ack-open")?.setAttribute("hidden", "");
    row.append(form);
    form.querySelector("textarea").focus();
    form.querySelector(".ack-cancel").addEventListener("click", () => {
      ackOpen = null;
      form.remove();
      row.querySelector(".ack-open")?.removeAttribute("hidden");
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const note = form.note.value.trim();
      const box = form.querySelector(".ack-error");
      if (!note) {
        box.textContent = t("ackNeedsNote");
        box.hidden = false;
        form.note.setAttribute("aria-invalid", "true");
        return;
      }
      const button = form.querySelector(".ack-save");
      button.disabled = true;
      try {
        await api("POST", `/api/evidence/${evidenceId}/acknowledgements`, { body: { code, note } });
        ackOpen = null;
        toast(t("ackSaved"));
        await reload();
      } catch (error) {
        button.disabled = false;
        box.textContent = errorText(error);
        appendRef(box, error);
        box.hidden = false;
      }
    });
  };

  const decide = async (action) => {
    const form = view.querySelector("#decision-form");
    const box = view.querySelector("#decision-problem");
    const params = {};
    if (action === "approve") {
      const note = form.note?.value.trim();
      if (note) params.note = note;
    } else {
      const reasons = form.reasons.value.split("\n").map((x) => x.trim()).filter(Boolean);
      if (!reasons.length) {
        form.reasons.setAttribute("aria-invalid", "true");
        box.innerHTML = html`<p>${t("reasonsRequired")}</p>`.toString();
        box.hidden = false;
        return;
      }
      params.reasons = reasons;
    }
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    box.hidden = true;
    try {
      await postTransition(caseId, { ...params, action, version: data.item.version });
      toast(action === "approve" ? t("approved") : t("returned"));
      await reload();
      const side = view.querySelector(".review-side");
      if (side) side.scrollTop = 0;
      view.querySelector("#seal-box, #not-submitted")?.scrollIntoView({ block: "nearest" });
    } catch (error) {
      const code = error.problem?.code || error.kind;
      const words = refusal(error) || html`<p>${errorText(error)}${errorRef(error)}</p>`;
      // Unmet rules or a newer version: the checklist and the case as the server sees them
      // now, drawn first, the refusal shown in them.
      // Something landed while it was being approved: look at it before approving again.
      if (["closure.unmet", "case.version_conflict", "case.changed_while_approving"].includes(code)) {
        await reload();
      }
      else buttons.forEach((b) => { b.disabled = false; });
      const shown = view.querySelector("#decision-problem");
      if (shown) {
        shown.dataset.code = code;
        shown.innerHTML = html`${words}`.toString();
        shown.hidden = false;
        reveal(shown);
      } else toast(code === "case.version_conflict" ? t("versionConflict") : errorText(error), "warn", error);
    }
  };

  const recordDecision = async (event) => {
    event.preventDefault();
    const form = event.target;
    const box = form.querySelector("#revisit-decision-error");
    const reason = form.reason.value.trim();
    if (reason.length < 4) {
      form.reason.setAttribute("aria-invalid", "true");
      box.textContent = t("closure.decision_reason");
      box.hidden = false;
      form.reason.focus();
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await api("POST", `/api/cases/${caseId}/revisit-decision`, { body: { reason } });
      toast(t("revisitDecisionSaved"));
      await reload();
    } catch (error) {
      button.disabled = false;
      box.textContent = errorText(error);
      appendRef(box, error);
      box.hidden = false;
    }
  };

  const wire = () => {
    view.querySelector("#review").addEventListener("click", (event) => {
      const link = event.target.closest("[data-goto]");
      if (link) {
        event.preventDefault(); // the hash is the router's
        goTo(link.dataset.goto);
        return;
      }
      const open = event.target.closest("[data-open]");
      if (open) openPhoto(open.dataset.open);
      const ack = event.target.closest("[data-ack]");
      if (ack) openAck(ack.closest("[data-evidence-id]").dataset.evidenceId, ack.dataset.ack);
    });
    view.querySelector("#photo-dialog").addEventListener("click", (event) => {
      if (event.target.id === "photo-dialog") event.target.close(); // the backdrop
    });
    view.querySelector("#revisit-decision-form")?.addEventListener("submit", recordDecision);
    view.querySelector("#approve")?.addEventListener("click", () => decide("approve"));
    view.querySelector("#return")?.addEventListener("click", () => decide("return"));
    view.querySelector("#basemap")?.addEventListener("change", (event) => base?.use(event.target.value));
  };

  // The case and every photo with a position, a line between them with the distance.
  const drawMap = async () => {
    const element = view.querySelector("#review-map");
    if (base) {
      base.map.remove();
      base = null;
    }
    let L;
    try {
      L = await loadLeaflet();
    } catch {
      return;
    }
    if (!element?.isConnected) return;
    base = new BaseMap(L, element, v, view.querySelector("#basemap-note"));
    const layer = L.featureGroup().addTo(base.map);
    const { item, evidence, checklist } = data;
    const near = new Set((checklist?.rules || []).filter((r) => r.code === "site_photo")
      .flatMap((r) => (r.refs || []).map((ref) => ref.evidence_id)));
    const place = () => {
      layer.clearLayers();
      const here = item.location ? base.toMap(item.location.lat, item.location.lon) : null;
      evidence.forEach((ev, i) => {
        if (!ev.location) return;
        const at = base.toMap(ev.location.lat, ev.location.lon);
        const d = photoDistance(ev, item.location);
        if (here) {
          // Green: a photo the site-photo rule counts; amber, dashed: one it does not.
          L.polyline([here, at], { color: near.has(ev.id) ? "#5fd38d" : "#ffc857", weight: 3,
            dashArray: near.has(ev.id) ? null : "6 6", className: "photo-line" }).addTo(layer);
        }
        const pin = L.marker(at, { icon: L.divIcon({ className: "photo-pin", html: html`<span>${i + 1}</span>`.toString(),
          iconSize: [26, 26] }), title: photoLabel(i + 1), keyboard: true, zIndexOffset: 1000 });
        pin.bindTooltip(html`${photoLabel(i + 1)}${d == null ? "" : ` · ${fmtDistance(d)}`}`.toString(), {
          permanent: evidence.length <= 8, direction: "right", offset: [14, 0], className: "distance-label" });
        pin.on("click", () => goTo(`ev-${ev.id}`));
        pin.addTo(layer);
        pin.getElement()?.setAttribute("data-evidence-id", ev.id);
      });
      if (here) {
        // A ring, labelled: a photo taken on the spot shows inside it.
        const mark = L.circleMarker(here, { radius: 18, color: "#4fa3ff", weight: 3,
          fillColor: "#4fa3ff", fillOpacity: 0.25, className: "marker-case" })
          .bindTooltip(html`${t("caseOnMap")} · ${item.address || ""}`.toString(), { permanent: true,
            direction: "left", offset: [-18, 0], className: "distance-label" }).addTo(layer);
        mark.getElement()?.setAttribute("data-case-id", item.id);
      }
      if (layer.getLayers().length) {
        base.map.fitBounds(layer.getBounds(), { padding: [36, 36], maxZoom: 17 });
      }
      element.dataset.photos = String(evidence.filter((ev) => ev.location).length);
    };
    base.onChange(place);
    base.use();
  };

  const reload = async () => {
    try {
      await load();
      if (view.isConnected) draw();
    } catch (error) {
      if (!data) {
        view.innerHTML = html`<p class="error" role="alert">${error.status === 404 || error.status === 403
          ? t("cachedGone") : errorText(error)}</p>`;
      } else toast(errorText(error), "error", error);
    }
  };

  await reload();
  return () => base?.map.remove();
}
