// The bell: reminders, overdue cases and supervision prods (GET /api/notifications),
// newest first, each linking to its case. The phone's last copy shows when offline.
import { api } from "./api.js";
import { getCache, setCache } from "./db.js";
import { t, term } from "./i18n.js";
import { onForget } from "./state.js";
import { fmtTime, html } from "./ui.js";

let last = null; // { at, answer }: one request serves the screens drawn within a minute
onForget(() => { last = null; }); // the next user's bell is their own

async function load() {
  if (last && Date.now() - last.at < 60000) return last.answer;
  try {
    const answer = await api("GET", "/api/notifications");
    last = { at: Date.now(), answer };
    await setCache("notifications", answer);
  } catch {
    const cached = (await getCache("notifications"))?.value;
    return cached?.items ? cached : { items: [], unread: 0 };
  }
  return last.answer;
}

function row(n) {
  return html`<li data-notification-id="${n.id}" data-kind="${n.kind}" class="${n.unread ? "unread" : ""}">
    <a href="#/case/${n.case_id}"><b>${term(n.kind)}${n.milestone ? ` · ${term(n.milestone)}` : ""}</b>
      ${n.data?.late ? html`<span class="chip late-raise" title="${t("raisedLateHint")}">${t("raisedLate")}</span>` : ""}
      ${n.subject} <span class="muted small">${n.unit?.name || ""} · ${fmtTime(n.at)}</span></a></li>`;
}

function showCount(count, unread) {
  count.hidden = !unread;
  count.textContent = unread > 99 ? "99+" : String(unread);
}

// Opening the list marks what it shows as seen (the server keeps one mark a user, so
// another device agrees); offline, the badge clears here and the mark waits for next time.
async function markSeen(answer, count) {
  const newest = answer.items?.[0]?.at;
  if (!newest || !answer.unread) return;
  showCount(count, 0);
  try {
    const mark = await api("POST", "/api/notifications/seen", { body: { up_to: newest } });
    answer.unread = mark.unread;
    for (const n of answer.items) n.unread = n.unread && n.at > newest;
    showCount(count, mark.unread);
    await setCache("notifications", answer);
  } catch {
    // Not fatal: the next load shows them unread again.
  }
}

// A bell button with the unread count; the list opens under it.
export async function bell(slot) {
  if (!slot) return;
  slot.innerHTML = html`<button type="button" class="bell" id="bell" aria-expanded="false"
      aria-controls="notification-list">${t("notifications")}
      <span class="badge" id="bell-count" hidden></span></button>
    <div class="notifications card" id="notification-list" hidden></div>`.toString();
  const button = slot.querySelector("#bell");
  const list = slot.querySelector("#notification-list");
  const count = slot.querySelector("#bell-count");
  let answer = null;
  button.addEventListener("click", () => {
    list.hidden = !list.hidden;
    button.setAttribute("aria-expanded", String(!list.hidden));
    if (!list.hidden && answer) markSeen(answer, count);
  });
  answer = await load();
  if (!slot.isConnected) return;
  const items = answer.items || [];
  showCount(count, answer.unread ?? items.length);
  list.innerHTML = (items.length
    ? html`<h2>${t("notifications")}</h2><ul>${items.slice(0, 50).map(row)}</ul>`
    : html`<p class="muted">${t("noNotifications")}</p>`).toString();
}

export function forgetNotifications() {
  last = null;
}
