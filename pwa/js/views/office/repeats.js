// The repeat-complaint list (反复投诉清单, seed 002): subjects complained about 3 times or
// more, most complained about first, then the latest complaint; each with its history
// (the linked cases this user may see; other units' as a count only) and its leader in
// charge (包案领导), picked from the active leaders. A desk table that stacks on phones.
import { api } from "../../api.js";
import { t, term } from "../../i18n.js";
import { cachedGet, isManager } from "../../state.js";
import { appendRef, errorRef, errorText, fmtTime, html, toast } from "../../ui.js";
import { fill, matchedText } from "./repeatbanner.js";

// Most complaints first, then the latest complaint first, then the title (a stable order).
export function sortSubjects(items) {
  const at = (s) => Date.parse(s.last_at || "") || 0;
  return [...(items || [])].sort((a, b) => (b.count ?? 0) - (a.count ?? 0) || at(b) - at(a)
    || String(a.title || "").localeCompare(String(b.title || "")));
}

// "已化解", "在清单" or "未列入清单" (fewer complaints than the list takes).
export function subjectStatus(s) {
  if (s.resolved || s.resolved_at) return "resolved";
  return s.listed || (s.listed == null && s.listed_at) ? "listed" : "notListed";
}

const leaderName = (s) => s.leader?.name || s.leader?.display_name || "";

// How many of a subject's cases this user sees, and how many are other units' (a count).
function casesCell(s) {
  const seen = s.visible_cases ?? null;
  const other = s.other_units ?? 0;
  if (seen == null && !other) return "";
  // One element: a stacked cell on a phone puts its label and one value side by side.
  return html`<span>${seen != null ? `${seen}` : ""}${other ? html` <span class="muted small">${fill(t("repeatOtherUnitsShort"), { n: other })}</span>` : ""}</span>`;
}

function row(s) {
  const status = subjectStatus(s);
  return html`<tr data-subject-id="${s.id}" data-count="${s.count}">
    <th scope="row" data-label="${t("repeatPlace")}"><a href="#/repeats/${s.id}">${s.title || t("repeatNoTitle")}</a></th>
    <td data-label="${t("category")}">${s.category ? term(s.category) : ""}</td>
    <td data-label="${t("repeatCount")}" class="n repeat-count">${s.count ?? 0}</td>
    <td data-label="${t("repeatCases")}" class="n">${casesCell(s)}</td>
    <td data-label="${t("repeatFirst")}">${fmtTime(s.first_at)}</td>
    <td data-label="${t("repeatLast")}">${fmtTime(s.last_at)}</td>
    <td data-label="${t("leader")}" class="repeat-leader">${leaderName(s) || html`<span class="muted">${t("repeatNoLeader")}</span>`}</td>
    <td data-label="${t("status")}"><span class="chip-status repeat-status" data-status="${status}">${t(`repeatStatus.${status}`)}</span></td>
  </tr>`;
}

export async function renderRepeats(view) {
  view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  let answer;
  try {
    answer = await cachedGet("/api/repeats");
  } catch (error) {
    view.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
    return;
  }
  const items = sortSubjects(answer.items || []);
  view.innerHTML = html`<section class="repeats" id="repeats">
    <h1>${t("repeats")} <span class="muted h1-sub">${items.length}</span></h1>
    <p class="muted small">${answer.list_at ? `${fill(t("repeatsListAt"), { n: answer.list_at })} ` : ""}${t("repeatsHint")}</p>
    ${items.length ? html`<div class="table-wrap"><table class="data stack repeat-table" id="repeat-table">
      <thead><tr><th scope="col">${t("repeatPlace")}</th><th scope="col">${t("category")}</th>
        <th scope="col" class="n">${t("repeatCount")}</th><th scope="col" class="n">${t("repeatCases")}</th>
        <th scope="col">${t("repeatFirst")}</th><th scope="col">${t("repeatLast")}</th>
        <th scope="col">${t("leader")}</th><th scope="col">${t("status")}</th></tr></thead>
      <tbody>${items.map(row)}</tbody></table></div>`
    : html`<p class="muted" id="repeats-empty">${t("repeatsEmpty")}</p>`}
  </section>`;
}

// ---- one subject: its history and its leader ------------------------------------------
function historyRow(c) {
  return html`<tr data-case-id="${c.id}" data-state="${c.state || c.link_state || ""}">
    <td data-label="${t("receivedAt")}">${fmtTime(c.received_at)}</td>
    <th scope="row" data-label="${t("subject")}"><a href="#/case/${c.id}">${c.subject || t("titleCase")}</a></th>
    <td data-label="${t("status")}">${c.status ? html`<span class="chip-status" data-status="${c.status}">${term(c.status)}</span>` : ""}</td>
    <td data-label="${t("repeatMatchedBy")}">${matchedText(c.matched_by) || html`<span class="muted">${t("repeatFirstComplaint")}</span>`}</td>
    <td data-label="${t("repeatLinkState")}">${t(`repeatState.${c.state || c.link_state || "auto"}`)}</td>
  </tr>`;
}

function leaderForm(subject, leaders) {
  const current = subject.leader?.id || "";
  if (!leaders.length) return html`<p class="muted small" id="no-leaders">${t("repeatNoLeaders")}</p>`;
  return html`<form id="leader-form" class="card repeat-leader-form">
    <label for="leader-pick">${t("repeatSetLeader")}</label>
    <select id="leader-pick" name="leader_id">
      <option value="" ${current ? "" : "selected"} disabled>${t("repeatPickLeader")}</option>
      ${leaders.map((l) => html`<option value="${l.id}" ${l.id === current ? "selected" : ""}>${l.name || l.display_name || l.username}</option>`)}
    </select>
    <p class="error small" id="leader-error" role="alert" hidden></p>
    <button type="submit" class="primary" id="leader-save">${t("save")}</button>
  </form>`;
}

// The active leaders the office may pick (GET /api/leaders); a server without that list
// yet: the active people of the office's units who have the leader role.
async function leaderChoices() {
  try {
    return (await cachedGet("/api/leaders")).items || [];
  } catch (error) {
    if (error.kind === "offline") return [];
  }
  try {
    return ((await cachedGet("/api/users")).items || []).filter((u) => u.role === "leader");
  } catch {
    return [];
  }
}

export async function renderRepeat(view, subjectId) {
  view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  let subject;
  try {
    subject = await api("GET", `/api/repeats/${subjectId}`);
  } catch (error) {
    view.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
    return;
  }
  const leaders = isManager() ? await leaderChoices() : [];
  const cases = [...(subject.cases || [])].sort((a, b) => Date.parse(a.received_at) - Date.parse(b.received_at));
  const other = subject.other_units ?? 0;
  const status = subjectStatus(subject);
  view.innerHTML = html`<section class="repeat-subject" id="repeat-subject" data-subject-id="${subjectId}">
    <a class="back" href="#/repeats">← ${t("repeats")}</a>
    <h1>${subject.title || t("repeatNoTitle")}</h1>
    <dl class="facts">
      <dt>${t("category")}</dt><dd>${subject.category ? term(subject.category) : ""}</dd>
      <dt>${t("repeatCount")}</dt><dd id="subject-count">${subject.count ?? 0}</dd>
      <dt>${t("repeatFirst")}</dt><dd>${fmtTime(subject.first_at)}</dd>
      <dt>${t("repeatLast")}</dt><dd>${fmtTime(subject.last_at)}</dd>
      <dt>${t("status")}</dt><dd><span class="chip-status repeat-status" data-status="${status}">${t(`repeatStatus.${status}`)}</span>
        ${subject.listed_at ? html` <span class="muted small">${t("repeatListedAt")} ${fmtTime(subject.listed_at)}</span>` : ""}</dd>
      <dt>${t("leader")}</dt><dd id="subject-leader">${leaderName(subject) || html`<span class="muted">${t("repeatNoLeader")}</span>`}</dd>
    </dl>
    ${isManager() ? leaderForm(subject, leaders) : ""}
    <h2>${t("repeatHistory")}</h2>
    ${cases.length ? html`<div class="table-wrap"><table class="data stack" id="repeat-history">
      <thead><tr><th scope="col">${t("receivedAt")}</th><th scope="col">${t("subject")}</th><th scope="col">${t("status")}</th>
        <th scope="col">${t("repeatMatchedBy")}</th><th scope="col">${t("repeatLinkState")}</th></tr></thead>
      <tbody>${cases.map(historyRow)}</tbody></table></div>` : ""}
    ${other ? html`<p class="notice" id="history-other-units">${fill(t("repeatOtherUnits"), { n: other })}
      <span class="muted small">${t("repeatOtherUnitsWhy")}</span></p>` : ""}
  </section>`;
  const form = view.querySelector("#leader-form");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const pick = form.querySelector("#leader-pick").value;
    const box = form.querySelector("#leader-error");
    if (!pick) {
      box.textContent = t("repeatPickLeader");
      box.hidden = false;
      return;
    }
    const button = form.querySelector("#leader-save");
    button.disabled = true;
    try {
      await api("PUT", `/api/repeats/${subjectId}/leader`, { body: { leader_id: pick } });
      toast(t("repeatLeaderSaved"));
      await renderRepeat(view, subjectId);
      view.querySelector("#subject-leader")?.setAttribute("tabindex", "-1");
      view.querySelector("#subject-leader")?.focus();
    } catch (error) {
      button.disabled = false;
      box.textContent = error.kind === "offline" ? t("needsNetwork") : errorText(error);
      appendRef(box, error);
      box.hidden = false;
    }
  });
}
