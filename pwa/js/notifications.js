// The bell: reminders, overdue cases and supervision prods (GET /api/notifications),
// newest first, each linking to its case. The phone's last copy shows when offline.
import { api } from "./api.js";
import { getCache, setCache } from "./db.js";
import { t, term } from "./i18n.js";
import { fmtTime, html } from "./ui.js";

let last = null; // { at, items }: one request serves the screens drawn within a minute

async function load() {
  if (last && Date.now() - last.at < 60000) return last.items;
  try {
    const answer = await api("GET", "/api/notifications");
    last = { at: Date.now(), items: answer.items || [] };
    await setCache("notifications", last.items);
  } catch {
    return (await getCache("notifications"))?.value || [];
  }
  return last.items;
}

function row(n) {
  return html`<li data-notification-id="${n.id}" data-kind="${n.kind}">
    <a href="#/case/${n.case_id}"><b>${term(n.kind)}${n.milestone ? ` · ${term(n.milestone)}` : ""}</b>
      ${n.subject} <span class="muted small">${n.unit?.name || ""} · ${fmtTime(n.at)}</span></a></li>`;
}

// A bell button with the count; the list opens under it.
export async function bell(slot) {
  if (!slot) return;
  slot.innerHTML = html`<button type="button" class="bell" id="bell" aria-expanded="false"
      aria-controls="notification-list">${t("notifications")}
      <span class="badge" id="bell-count" hidden></span></button>
    <div class="notifications card" id="notification-list" hidden></div>`.toString();
  const button = slot.querySelector("#bell");
  const list = slot.querySelector("#notification-list");
  button.addEventListener("click", () => {
    list.hidden = !list.hidden;
    button.setAttribute("aria-expanded", String(!list.hidden));
  });
  const items = await load();
  if (!slot.isConnected) return;
  const count = slot.querySelector("#bell-count");
  count.hidden = items.length === 0;
  count.textContent = String(items.length);
  list.innerHTML = (items.length
    ? html`<h2>${t("notifications")}</h2><ul>${items.slice(0, 50).map(row)}</ul>`
    : html`<p class="muted">${t("noNotifications")}</p>`).toString();
}

export function forgetNotifications() {
  last = null;
}
