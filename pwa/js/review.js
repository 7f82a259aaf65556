// The reviewer's screen in pieces (验收销号): the checklist with links to what each rule
// refers to, the evidence cards (flags, check code and QR code, distance to the case), the
// server's refusals of an approval in words, the seal and its files. Markup and data
// only: the requests and the wiring are in views/office/review.js.
import { getLang, has, t, term } from "./i18n.js";
import { distanceM, fmtDistance, fmtTime, html, safeUrl } from "./ui.js";

// A rule's title or reason: {zh, en} from the server, or plain text.
export function titleOf(value) {
  if (!value || typeof value !== "object") return value || "";
  return value[getLang()] || value.zh || value.en || "";
}

export function photoLabel(n) {
  return t("photoN").replace("{n}", String(n));
}

// The office's notes on flags, from the timeline: "evidence|code" -> {note, at, by}.
export function acknowledgements(timeline) {
  const found = new Map();
  for (const e of timeline || []) {
    if (e.kind !== "flag_acknowledged" || !e.data) continue;
    found.set(`${e.data.evidence_id}|${e.data.code}`,
      { note: e.data.note, at: e.at, by: e.actor?.name || "" });
  }
  return found;
}

// Photo numbers as the gallery shows them (1, 2, … in the order taken).
export function numbering(evidence) {
  return new Map((evidence || []).map((ev, i) => [ev.id, i + 1]));
}

// Where a photo stands against the case: metres, or null when either has no position.
export function photoDistance(ev, caseLocation) {
  return ev.location && caseLocation ? distanceM(caseLocation, ev.location) : null;
}

// What a rule refers to, as links to the place on this screen that shows it.
export function refLinks(rule, numbers) {
  return (rule.refs || []).map((ref) => {
    if (ref.evidence_id) {
      const n = numbers.get(ref.evidence_id);
      const what = [n ? photoLabel(n) : t("photo"), ref.code ? term(ref.code) : "",
        ref.distance_m != null ? fmtDistance(ref.distance_m) : ""].filter(Boolean).join(" · ");
      return html`<a class="ref" href="#ev-${ref.evidence_id}" data-goto="ev-${ref.evidence_id}"
        ${ref.code ? html`data-flag="${ref.code}"` : ""}>${what}</a>`;
    }
    if (ref.measurement_id) {
      return html`<a class="ref" href="#m-${ref.measurement_id}" data-goto="m-${ref.measurement_id}">${t("seeReading")}</a>`;
    }
    if (ref.revisit_id) {
      return html`<a class="ref" href="#rv-${ref.revisit_id}" data-goto="rv-${ref.revisit_id}">${t("seeRevisit")}</a>`;
    }
    if (ref.visit_id) {
      return html`<a class="ref" href="#visit-${ref.visit_id}" data-goto="visit-${ref.visit_id}">${t("visits")}</a>`;
    }
    return "";
  });
}

export function checklistBlock(checklist, numbers) {
  if (!checklist) return html`<p class="muted">${t("loading")}</p>`;
  const rules = checklist.rules || [];
  return html`
    <p class="checklist-state ${checklist.ready ? "ready" : "not-ready"}" id="checklist-state"
       data-ready="${String(!!checklist.ready)}">${checklist.ready ? "✓" : "✗"}
      ${checklist.ready ? t("checklistReady") : t("checklistNotReady")}</p>
    <ol class="rules" id="rules">${rules.map((rule, i) => {
      const links = refLinks(rule, numbers);
      return html`<li class="rule" data-code="${rule.code}" data-index="${i}" data-met="${String(!!rule.met)}">
        <span class="rule-mark" aria-hidden="true">${rule.met ? "✓" : "✗"}</span>
        <div class="rule-body"><b class="rule-title">${titleOf(rule.title)}</b>
          <span class="rule-state">${rule.met ? t("ruleMet") : t("ruleUnmet")}</span>
          ${rule.why ? html`<p class="why small">${titleOf(rule.why)}</p>` : ""}
          ${links.length ? html`<p class="refs">${links}</p>` : ""}</div></li>`;
    })}</ol>
    <p class="muted small">${t("rulesVersion")} ${checklist.rules_version || ""}</p>`;
}

function flagRow(ev, flag, acks) {
  const ack = acks.get(`${ev.id}|${flag.code}`);
  return html`<li class="flag-row" data-flag="${flag.code}" data-acknowledged="${String(!!ack)}">
    <span class="flag" title="${flag.message || ""}">${term(flag.code)}${flag.distance_m != null ? ` ${fmtDistance(flag.distance_m)}` : ""}</span>
    ${flag.message ? html`<span class="muted small" lang="en">${flag.message}</span>` : ""}
    ${ack ? html`<p class="ack small"><b>✓ ${t("acknowledged")}</b>: ${ack.note}
        <span class="muted">${ack.by} ${fmtTime(ack.at)}</span></p>`
      : html`<button type="button" class="ack-open" data-ack="${flag.code}">${t("acknowledge")}</button>`}
  </li>`;
}

export function evidenceCard(ev, n, { caseLocation, acks }) {
  const thumb = ev.thumbnails?.large?.url || ev.thumbnails?.small?.url;
  const distance = photoDistance(ev, caseLocation);
  const code = ev.short_code;
  const flags = ev.flags || [];
  return html`
    <figure class="review-photo" id="ev-${ev.id}" tabindex="-1" data-evidence-id="${ev.id}"
        data-short-code="${code || ""}" data-flags="${String(flags.length)}">
      ${thumb ? html`<button type="button" class="photo-open" data-open="${ev.id}" title="${t("openLarge")}">
          <img src="${safeUrl(thumb)}" alt="${ev.caption || photoLabel(n)}" loading="lazy">
          <span class="photo-no">${n}</span></button>`
        : html`<div class="noimg">${ev.content_type || ""}</div>`}
      <figcaption>
        <div class="photo-head"><b>${photoLabel(n)}</b>
          ${code ? html`<span class="short-code" title="${t("shortCode")}">${code}</span>` : ""}</div>
        <div class="photo-body">
          <dl>
            <dt>${t("takenAt")}</dt><dd>${fmtTime(ev.captured_at)}</dd>
            <dt>${t("photographer")}</dt><dd>${ev.photographer || ""}</dd>
            <dt>${t("place")}</dt><dd>${ev.place || ""}</dd>
            <dt>${t("caption")}</dt><dd>${ev.caption || ""}</dd>
            <dt>${t("distanceToCase")}</dt><dd class="distance-to-case" data-metres="${distance == null ? "" : String(Math.round(distance))}">${
              distance == null ? (ev.location ? "—" : t("noPhotoLocation")) : fmtDistance(distance)}</dd>
            <dt>SHA-256</dt><dd class="hash" title="${ev.sha256 || ""}">${(ev.sha256 || "").slice(0, 16)}…</dd>
          </dl>
          ${code ? html`<img class="qr" src="/api/verify/${encodeURIComponent(code)}/qr.svg"
              alt="${t("qrFor")} ${code}" width="104" height="104" loading="lazy">` : ""}
        </div>
        <h3 class="integrity-title">${t("integrity")}</h3>
        ${flags.length ? html`<ul class="integrity">${flags.map((f) => flagRow(ev, f, acks))}</ul>`
          : html`<p class="muted small no-flags">${t("noFlags")}</p>`}
      </figcaption>
    </figure>`;
}

// Why the server refused an approval, in words: the unmet rules (422), the reviewer's own
// case (403), photos still on their way (409), or whatever the problem says.
export function refusal(error) {
  const p = error?.problem || {};
  if (p.code === "closure.unmet") {
    return html`<p><b>${t("unmetTitle")}</b></p>
      <ul class="unmet" id="unmet-list">${(p.unmet || []).map((u) => html`<li data-code="${u.code}">
        <b>${titleOf(u.title) || u.code}</b>${u.why ? html` <span class="small">${titleOf(u.why)}</span>` : ""}</li>`)}</ul>`;
  }
  if (p.code === "closure.own_case") {
    return html`<p id="own-case"><b>${t("ownCase")}</b></p>`;
  }
  if (p.code === "closure.evidence_pending") {
    return html`<p id="evidence-pending"><b>${t("evidencePending")}</b> ${p.messages?.[getLang()] || p.detail || ""}</p>`;
  }
  if (p.code === "case.version_conflict") {
    return html`<p>${t("versionConflict")}</p>`;
  }
  return null;
}

export function closureLinks(caseId) {
  const base = `/api/cases/${encodeURIComponent(caseId)}`;
  const links = [
    ["closure-docx", `${base}/closure-file.docx`, t("closureDocx")],
    ["closure-pdf", `${base}/closure-file.pdf`, t("closurePdf")],
    ["public-docx", `${base}/closure-file.docx?public=1`, t("publicDocx")],
    ["public-pdf", `${base}/closure-file.pdf?public=1`, t("publicPdf")],
    ["archive-zip", `${base}/archive.zip`, t("archiveZip")],
  ];
  return html`<ul class="downloads" id="downloads">${links.map(([id, href, label]) => html`
    <li><a class="button" id="dl-${id}" href="${safeUrl(href)}" download>${label}</a></li>`)}</ul>`;
}

// The seal check's parts (server/domain/closure/seal_check.py: Finding.what, in English)
// and the phrases its `field` may carry, in the user's words; ids and paths stay as sent.
const SEAL_TABLES = { cases: "case", case_events: "timelineEvent", evidence: "evidence",
  visits: "visits", measurements: "measurements", revisits: "revisits",
  revisit_respondents: "respondents" };
const SEAL_FIELDS = { "cannot be read": "sealField.unreadable",
  "cannot be recomputed": "sealField.recompute", "malformed data column": "sealField.malformed" };

export function sealWhere({ what = "", field = "" } = {}) {
  const seal = (n) => t("sealOf").replace("{n}", n);
  let m;
  let where = t("sealPart.other");
  if ((m = /^seal (\d+) evidence (\S+)$/.exec(what))) where = `${seal(m[1])} · ${t("sealPart.evidence")} ${m[2]}`;
  else if ((m = /^seal (\d+) (.+)$/.exec(what)) && has(`sealPart.${m[2]}`)) {
    where = `${seal(m[1])} · ${t(`sealPart.${m[2]}`)}`;
  } else if ((m = /^timeline event (\d+)$/.exec(what))) where = `${t("sealPart.timelineEvent")} #${m[1]}`;
  else if ((m = /^(\w+) (?:id|seq) (\S+)$/.exec(what)) && SEAL_TABLES[m[1]]) {
    where = `${t(`sealPart.${SEAL_TABLES[m[1]]}`)} ${m[2]}`;
  }
  // A path (case.result) as it is; a phrase in words; any other English left out.
  let part = "";
  if ((m = /^column (\w+)$/.exec(field))) part = `${t("sealField.column")} ${m[1]}`;
  else if (SEAL_FIELDS[field]) part = t(SEAL_FIELDS[field]);
  else if (field && !/\s/.test(field)) part = field;
  return { where, field: part };
}

export function sealBlock(seal, caseId) {
  const current = seal?.current;
  if (!current) return html`<p class="muted" id="not-sealed">${t("notSealed")}</p>`;
  const earlier = (seal.seals || []).filter((s) => s.id !== current.id);
  const altered = seal.altered || [];
  return html`
    ${altered.length ? html`<div class="notice warning" id="seal-altered" role="alert">
      <p><b>${t("sealAltered")}</b></p>
      <ul>${altered.map((a) => sealWhere(a)).map((w, i) => html`<li data-what="${altered[i].what}">${w.where}${
        w.field ? html` · <code>${w.field}</code>` : ""}</li>`)}</ul>
      <p class="small">${t("sealAlteredHelp")}</p></div>` : ""}
    <dl class="facts seal-facts" id="seal" data-number="${String(current.number)}" data-sha256="${current.sha256}">
      <dt>${t("sealNumber")}</dt><dd id="seal-number">${current.number}</dd>
      <dt>${t("sealSha")}</dt><dd class="hash" id="seal-sha256">${current.sha256}</dd>
      <dt>${t("sealedAt")}</dt><dd>${fmtTime(current.sealed_at)}</dd>
      ${current.sealed_by ? html`<dt>${t("sealedBy")}</dt><dd>${current.sealed_by.name || ""}</dd>` : ""}
    </dl>
    ${earlier.length ? html`<details class="earlier-seals"><summary>${t("earlierSeals")}</summary><ul>
      ${earlier.map((s) => html`<li>#${s.number} · ${fmtTime(s.sealed_at)} · <span class="hash">${s.sha256}</span></li>`)}</ul></details>` : ""}
    <h3>${t("downloads")}</h3>
    ${closureLinks(caseId)}
    <p class="muted small">${t("hashNote")}</p>`;
}
