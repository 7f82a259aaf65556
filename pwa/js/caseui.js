// How a case's state shows wherever a case appears (list, case page, board, map popups):
// status, the deadline colour as a chip with its name (never colour alone), due time,
// next milestone, overdue, key case ★ and the leader in charge (包案领导).
import { t, term } from "./i18n.js";
import { fmtDue, fmtTime, html } from "./ui.js";
import { leaderName } from "./leaders.js";

export function colourOf(item) {
  const d = item.deadline || item;
  if (d?.overdue) return "overdue";
  return d?.colour || "none";
}

export function colourChip(colour) {
  if (!colour || colour === "none") return "";
  return html`<span class="chip-colour chip-${colour}" data-colour="${colour}">${term(colour)}</span>`;
}

export function statusChip(status) {
  return status ? html`<span class="chip-status" data-status="${status}">${term(status)}</span>` : "";
}

export function keyMark(item) {
  return item.key ? html`<span class="key" data-key="1" title="${t("keyFlag")}">★ ${t("keyCase")}</span>` : "";
}

export function leaderMark(item) {
  const name = leaderName(item);
  return name ? html`<span class="leader">${t("leader")}: ${name}</span>` : "";
}

// The deadline in one line: chip, due, next milestone (and overdue, apart).
export function deadlineLine(item, { milestone = true } = {}) {
  const d = item.deadline;
  const due = d?.due_at || item.due_at;
  if (!d && !due) return "";
  const next = d?.next_milestone;
  return html`<span class="deadline">${colourChip(colourOf(item))}
    ${due ? html`<span>${t("due")} ${fmtDue(due)}</span>` : ""}
    ${milestone && next ? html`<span class="muted">${t("nextMilestone")}: ${next.name === "overdue" ? t("closureDeadline") : term(next.name)} ${fmtTime(next.at)}</span>` : ""}
    ${d?.extended_days ? html`<span class="muted">${t("extendedDays")} ${d.extended_days}</span>` : ""}
    ${d?.provisional ? html`<span class="provisional" title="${t("provisionalHint")}">${t("provisional")}</span>` : ""}</span>`;
}

// ---- filters shared by the board and the case list ----------------------------------
// The filters the board and the list share; the board's carry on to the list.
export const SHARED_FILTERS = ["unit", "channel", "category", "key", "from", "to", "leader"];

// A form's filters as the API's query: "from" and "to" are whole days in the office's
// time, from the start of "from" to the end of "to".
export function filterParams(filters, params = new URLSearchParams()) {
  for (const [k, value] of Object.entries(filters)) {
    if (!value) continue;
    if (k === "from") params.set(k, new Date(`${value}T00:00:00`).toISOString());
    else if (k === "to") params.set(k, new Date(`${value}T23:59:59.999`).toISOString());
    else params.set(k, value);
  }
  return params;
}

// The query of a link to the case list with these filters (#/cases?…: the list takes
// them from its address).
export function casesQuery(filters) {
  return String(new URLSearchParams(Object.entries(filters).filter(([, v]) => v)));
}
