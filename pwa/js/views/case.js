import { api } from "../api.js";
import { PreviewUrls } from "../capture.js";
import { getCache, setCache } from "../db.js";
import { t, term } from "../i18n.js";
import { go } from "../nav.js";
import * as outbox from "../outbox.js";
import { fmtTime, html } from "../ui.js";

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

export async function renderCase(view, caseId) {
  const draw = async (detail) => {
    const { item, evidence, visits } = detail;
    const drafts = (await outbox.items()).filter((i) => i.kind === "visit" && i.caseId === caseId
      && i.state === "draft");
    view.innerHTML = html`
      <section>
        <a class="back" href="#/cases">← ${t("back")}</a>
        <h1>${item.subject}</h1>
        <p>${item.address}</p>
        <p class="muted small">${term(item.category)} · ${term(item.channel)} · ${term(item.status)}
          · ${t("receivedAt")} ${fmtTime(item.received_at)}
          ${item.deadline ? html` · ${t("due")} ${fmtTime(item.deadline.due_at)}` : ""}</p>
        <p>${item.description}</p>
        ${drafts.map((d) => html`<p><a class="button" href="#/check/${caseId}/${d.id}">${t("draft")}: ${t("unfinished")}</a></p>`)}
        <h2>${t("evidence")}</h2>
        <div class="gallery" id="gallery">
          ${await localPhotos(caseId)}
          ${evidence.length ? evidence.map(evidenceCard) : html`<p class="muted">${t("noEvidence")}</p>`}
        </div>
        <h2>${t("visits")}</h2>
        <ul class="visits">${visits.map((v) => html`<li>${term(v.kind)} · ${fmtTime(v.started_at)}
          ${v.measurements.map((m) => html` · ${m.value_dba} dB(A)${m.exceeded ? html` <b class="overdue">${t("exceeded")}</b>` : ""}`)}
          <span class="muted small">${v.findings}</span></li>`)}</ul>
      </section>
      <div class="actions">
        <button class="primary big" id="start-check">${t("startCheck")}</button>
      </div>`;
    view.querySelector("#start-check").addEventListener("click", () => {
      go(`#/check/${caseId}/${outbox.uuid()}`);
    });
  };

  const stored = await getCache(`case:${caseId}`);
  const cached = stored?.value ? stored : null;
  if (cached) await draw(cached.value);
  else view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  try {
    const [item, evidence, visits] = await Promise.all([
      api("GET", `/api/cases/${caseId}`),
      api("GET", `/api/cases/${caseId}/evidence`),
      api("GET", `/api/cases/${caseId}/visits`),
    ]);
    const detail = { item, evidence: evidence.items, visits: visits.items };
    await setCache(`case:${caseId}`, detail);
    await draw(detail);
  } catch (error) {
    if (error.status === 404 || error.status === 403) {
      // No longer one of this user's cases: drop the phone's copy too.
      await setCache(`case:${caseId}`, null);
      view.innerHTML = html`<p class="error" role="alert">${t("cachedGone")}</p>`;
    } else if (!cached) {
      const list = (await getCache("cases:mine"))?.value || [];
      const item = list.find((c) => c.id === caseId);
      if (item) await draw({ item, evidence: [], visits: [] });
      else view.innerHTML = html`<p class="error" role="alert">${error.message}</p>`;
    }
  }
  let pending = false;
  const unsubscribe = outbox.onChange(() => {
    if (pending) return; // progress events come fast: at most one redraw a frame
    pending = true;
    requestAnimationFrame(async () => {
      pending = false;
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
