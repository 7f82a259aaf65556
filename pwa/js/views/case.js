import { actionForm, eventRow, offeredActions, readParams, sendAction, showErrors }
  from "../actions.js";
import { api } from "../api.js";
import { PreviewUrls } from "../capture.js";
import { deadlineLine, keyMark, statusChip } from "../caseui.js";
import { getCache, setCache } from "../db.js";
import { t, term } from "../i18n.js";
import { go } from "../nav.js";
import * as outbox from "../outbox.js";
import { actionSpec, isManager, vocab } from "../state.js";
import { errorText, fmtTime, html, toast } from "../ui.js";

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
      ${thumb ? html`<a href="${ev.thumbnails.large?.url || thumb}" target="_blank" rel="noopener">
        <img src="${thumb}" alt="${ev.caption || t("evidence")}" loading="lazy"></a>` : ""}
      <figcaption>
        <dl>
          <dt>${t("takenAt")}</dt><dd>${fmtTime(taken)}</dd>
          <dt>${t("photographer")}</dt><dd>${ev.photographer || ""}</dd>
          <dt>${t("place")}</dt><dd>${ev.place || ""}</dd>
          <dt>${t("caption")}</dt><dd>${ev.caption || ""}</dd>
          <dt>${t("gps")}</dt><dd>${where}${ev.location ? html` <span class="muted small">(${ev.location.source})</span>` : ""}</dd>
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
        ${url ? html`<img src="${url}" alt="${item.caption || t("evidence")}">` : html`<div class="noimg">${item.contentType}</div>`}
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
        : p.state === "failed" ? html`<span class="error">${t("refused")}: ${p.lastError?.message || ""}</span>`
          : html`<span class="state">${t("queuedAction")}</span>`}
      ${p.state === "conflict" || p.state === "failed" ? html` <a href="#/outbox">${t("outbox")}</a>` : ""}
    </li>`)}</ul>`;
}

function facts(item) {
  const unit = item.unit?.name || "";
  return html`
    <p class="case-state">${statusChip(item.status)} ${keyMark(item)} ${deadlineLine(item)}
      ${item.deadline?.overdue ? html`<b class="overdue">${t("overdue")}</b>` : ""}</p>
    <dl class="facts">
      <dt>${t("unit")}</dt><dd id="case-unit">${unit}</dd>
      ${item.leader ? html`<dt>${t("leader")}</dt><dd class="leader" id="case-leader">${item.leader}</dd>` : ""}
      ${item.assignees?.length ? html`<dt>${t("assignees")}</dt><dd>${item.assignees.map((a) => a.display_name).join("、")}</dd>` : ""}
      ${item.co_units?.length ? html`<dt>${t("coUnits")}</dt><dd>${item.co_units.map((u) => `${u.name}${u.part ? `（${u.part}）` : ""}`).join("、")}</dd>` : ""}
      ${item.verdict ? html`<dt>${t("verdict")}</dt><dd>${term(item.verdict)}</dd>` : ""}
      ${item.result ? html`<dt>${t("result")}</dt><dd>${item.result}</dd>` : ""}
      ${item.external_ref ? html`<dt>${t("externalRef")}</dt><dd>${item.external_ref}</dd>` : ""}
    </dl>`;
}

export async function renderCase(view, caseId) {
  const v = await vocab();
  let detail = null;
  let openForm = null; // the action whose form is open survives redraws
  let seen = new Set();
  let signature = "";
  const sign = (list) => list.map((p) => `${p.id}:${p.state}`).join(",");

  const draw = async () => {
    const { item, evidence, visits } = detail;
    const timeline = detail.timeline || [];
    const all = await outbox.items();
    const drafts = all.filter((i) => i.kind === "visit" && i.caseId === caseId && i.state === "draft");
    const pending = all.filter((i) => i.kind === "transition" && i.caseId === caseId);
    seen = new Set(pending.map((p) => p.id));
    signature = sign(pending);
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
        ${isManager() ? html`<p><a class="button" id="edit-case" href="#/case/${caseId}/edit">${t("edit")}</a></p>` : ""}
        ${pendingRows(pending)}
        <div class="action-buttons" id="case-actions" aria-label="${t("actionsTitle")}">
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
        <ul class="visits">${visits.map((x) => html`<li>${term(x.kind)} · ${fmtTime(x.started_at)}
          ${x.measurements.map((m) => html` · ${m.value_dba} dB(A)${m.exceeded ? html` <b class="overdue">${t("exceeded")}</b>` : ""}`)}
          <span class="muted small">${x.findings}</span></li>`)}</ul>
        <h2>${t("timeline")}</h2>
        ${timeline.length ? html`<ol class="timeline" id="timeline">${timeline.map(eventRow)}</ol>`
          : html`<p class="muted" id="timeline-empty">${t("noTimeline")}</p>`}
      </section>
      ${item.status === "closed" ? "" : html`<div class="actions">
        <button class="primary big" id="start-check">${t("startCheck")}</button>
      </div>`}`;
    view.querySelector("#start-check")?.addEventListener("click", () => {
      go(`#/check/${caseId}/${outbox.uuid()}`);
    });
    view.querySelector("#case-actions").addEventListener("click", (event) => {
      const button = event.target.closest("[data-action]");
      if (button) openAction(button.dataset.action);
    });
    if (openForm && offered.includes(openForm)) await openAction(openForm);
    else openForm = null;
  };

  const openAction = async (action) => {
    openForm = action;
    const slot = view.querySelector("#action-slot");
    const form = await actionForm(detail.item, action, v);
    if (!slot.isConnected) return;
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
      button.disabled = true;
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
          showErrors(form, p.errors, errorText(error));
        }
      }
    });
  };

  const refresh = async () => {
    try {
      const [item, evidence, visits, timeline] = await Promise.all([
        api("GET", `/api/cases/${caseId}`),
        api("GET", `/api/cases/${caseId}/evidence`),
        api("GET", `/api/cases/${caseId}/visits`),
        api("GET", `/api/cases/${caseId}/timeline`).catch((error) => {
          if (error.status === 404 || error.status === 405) return { items: [] };
          throw error;
        }),
      ]);
      detail = { item, evidence: evidence.items, visits: visits.items, timeline: timeline.items };
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
          detail = { item, evidence: [], visits: [], timeline: [] };
          await draw();
        } else view.innerHTML = html`<p class="error" role="alert">${errorText(error)}</p>`;
      }
      return false;
    }
  };

  const stored = await getCache(`case:${caseId}`);
  if (stored?.value) {
    detail = stored.value;
    await draw();
  } else view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  await refresh();

  let pending = false;
  const unsubscribe = outbox.onChange(() => {
    if (pending) return; // progress events come fast: at most one redraw a frame
    pending = true;
    requestAnimationFrame(async () => {
      pending = false;
      if (!detail || !view.isConnected) return;
      const now = (await outbox.items()).filter((i) => i.kind === "transition" && i.caseId === caseId);
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
      gallery.insertAdjacentHTML("afterbegin", local.join(""));
    });
  });
  return () => {
    unsubscribe();
    previews.revoke();
  };
}
