// The field app: shell, router, session. Views live in views/, grouped by who uses them:
// field/, revisit/, office/, admin/; the screens everyone uses at the top.
import { api, probe } from "./api.js";
import { db } from "./db.js";
import { getLang, setLang, t } from "./i18n.js";
import * as outbox from "./outbox.js";
import { cachedVocab, isAdmin, isField, isManager, isOffice, loadQuestionnaires, loadSession, loadStandards, loadVocab, saveSession, state, warnIfStorageLow } from "./state.js";
import { go, setRouter } from "./nav.js";
import { html } from "./ui.js";
import { renderAdmin } from "./views/admin/admin.js";
import { renderBoard } from "./views/office/board.js";
import { renderCase } from "./views/case.js";
import { renderCaseForm } from "./views/office/caseform.js";
import { renderCases } from "./views/cases.js";
import { renderCheck } from "./views/field/check.js";
import { renderLogin } from "./views/login.js";
import { renderMap } from "./views/office/map.js";
import { renderOutbox } from "./views/outbox.js";
import { renderPhoneRevisit } from "./views/revisit/revisit.js";
import { renderReview } from "./views/office/review.js";
import { renderSample, renderSamples } from "./views/office/samples.js";
import { renderSurvey } from "./views/revisit/survey.js";
import { renderSettings } from "./views/settings.js";
// Intake screens' imports (below this line)
import { renderImport } from "./views/office/import.js";

// Repeat complaints screens' imports (below this line)
import { renderRepeat, renderRepeats } from "./views/office/repeats.js";

// Leaders screens' imports (below this line)
import { isLeader } from "./leaders.js";

// Campaigns screens' imports (below this line)
import { renderCampaign, renderCampaigns } from "./views/office/campaigns.js";
import { preloadRechecks, renderRecheck, renderRechecks } from "./views/field/recheck.js";

// Hard cases screens' imports (below this line)
import { renderHardCases } from "./views/hardcase.js";

// Rates and ledgers screens' imports (below this line)
import { mayReadStats, renderStats } from "./views/office/stats.js";

// Each screen with the key of its title (the document title names the screen).
const ROUTES = [
  [/^#\/login$/, renderLogin, "login"],
  [/^#\/cases(?:\?(.*))?$/, renderCases, () => (isOffice() ? "allCases" : "myCases")],
  [/^#\/case\/([\w-]+)$/, renderCase, "titleCase"],
  [/^#\/case\/([\w-]+)\/edit$/, renderCaseForm, "editCase"],
  [/^#\/review\/([\w-]+)$/, renderReview, "titleReview"],
  [/^#\/case-new$/, renderCaseForm, "newCase"],
  [/^#\/board$/, renderBoard, "board"],
  [/^#\/map$/, renderMap, "map"],
  [/^#\/check\/([\w-]+)\/([\w-]+)$/, renderCheck, "titleCheck"],
  [/^#\/revisit\/([\w-]+)\/([\w-]+)$/, renderPhoneRevisit, "titlePhoneRevisit"],
  [/^#\/survey\/([\w-]+)\/([\w-]+)(?:\/(\w+))?$/, renderSurvey, "titleSurvey"],
  [/^#\/samples$/, renderSamples, "samples"],
  [/^#\/samples\/([\w-]+)$/, renderSample, "titleSample"],
  [/^#\/outbox$/, renderOutbox, "outbox"],
  [/^#\/settings$/, renderSettings, "settings"],
  [/^#\/admin$/, renderAdmin, "admin"],
  // Intake routes (below this line)
  [/^#\/import(?:\/([\w-]+))?$/, renderImport, "importCases"],

  // Repeat complaints routes (below this line)
  [/^#\/repeats$/, renderRepeats, "repeats"],
  [/^#\/repeats\/([\w-]+)$/, renderRepeat, "titleRepeat"],

  // Leaders routes (below this line)

  // Campaigns routes (below this line)
  [/^#\/campaigns$/, renderCampaigns, "campaigns"],
  [/^#\/campaigns\/([\w-]+)$/, renderCampaign, "titleCampaign"],
  [/^#\/rechecks$/, renderRechecks, "rechecks"],
  [/^#\/recheck\/([\w-]+)$/, renderRecheck, "titleRecheck"],

  // Hard cases routes (below this line)
  [/^#\/hard-cases(?:\?(.*))?$/, renderHardCases, "hard.list"],

  // Rates and ledgers routes (below this line)
  [/^#\/stats$/, renderStats, "statsTitle"],
];

let cleanup = null;

async function route() {
  if (cleanup) {
    try { cleanup(); } catch { /* a view's cleanup must not block navigation */ }
    cleanup = null;
  }
  const hash = location.hash || "#/cases";
  if (!state.session && hash !== "#/login") {
    sessionStorage.setItem("fieldcase.returnTo", hash);
    return go("#/login");
  }
  renderNav();
  const view = document.getElementById("view");
  for (const [pattern, render, title] of ROUTES) {
    const match = hash.match(pattern);
    if (match) {
      markNav(hash);
      document.title = `${t(typeof title === "function" ? title() : title)} · ${t("appName")}`;
      // Each screen renders into its own element: a slow screen still waiting on the
      // network when the inspector moves on writes into a detached element, not over
      // the screen that is showing now.
      const screen = document.createElement("div");
      view.replaceChildren(screen);
      const stop = (await render(screen, ...match.slice(1))) || null;
      if (screen.isConnected) {
        cleanup = stop;
        // Move focus to the new screen unless the screen placed it itself (login).
        if (!screen.contains(document.activeElement)) view.focus({ preventScroll: true });
      } else {
        stop?.();
      }
      return;
    }
  }
  go("#/cases");
}

function markNav(hash) {
  for (const link of document.querySelectorAll("#nav a")) {
    const current = hash.startsWith(link.getAttribute("href"));
    link.setAttribute("aria-current", current ? "page" : "false");
    // The office's bar scrolls sideways on a phone: keep the screen's own link in sight.
    if (current && link.parentElement.scrollWidth > link.parentElement.clientWidth) {
      link.parentElement.scrollLeft = link.offsetLeft - (link.parentElement.clientWidth - link.offsetWidth) / 2;
    }
  }
}

// Inspectors keep "My cases" first; the office gets its own list, and reviewers and
// admins take in new cases. Redrawn when the user or the language changes.
let navFor = null;

function renderNav() {
  const role = state.session?.user?.role || "";
  const key = `${role}:${getLang()}:${isManager()}:${isLeader()}`;  // these need the vocabulary
  if (navFor === key) return;
  navFor = key;
  const office = isOffice();
  document.getElementById("nav").innerHTML = html`
    <a href="#/cases">${office || isLeader() ? t("allCases") : t("myCases")}</a>
    <a href="#/board">${t("board")}</a>
    <a href="#/map">${t("map")}</a>
    ${isManager() ? html`<a href="#/case-new" class="office-link">${t("newCase")}</a>
      <a href="#/repeats" class="office-link">${t("repeatsNav")}</a>
      <a href="#/samples" class="office-link">${t("samples")}</a>
      <a href="#/import" class="office-link">${t("importCases")}</a>` : ""}
    ${/* Campaigns nav (below this line) */ ""}
    ${isManager() ? html`<a href="#/campaigns" class="office-link">${t("campaignsNav")}</a>` : ""}
    ${!office && isField() ? html`<a href="#/rechecks" id="nav-rechecks">${t("rechecksNav")}</a>` : ""}
    ${/* Rates and ledgers nav (below this line) */ ""}
    ${mayReadStats() ? html`<a href="#/stats" class="office-link" id="nav-stats">${t("statsNav")}</a>` : ""}
    ${isLeader() ? html`<a href="#/cases?leader=me" id="nav-held">${t("heldCases")}</a>` : ""}
    ${isLeader() ? "" : html`<a href="#/outbox">${t("outbox")} <span id="badge" class="badge" hidden></span></a>`}
    ${isAdmin() ? html`<a href="#/admin" class="office-link">${t("admin")}</a>` : ""}
    ${isLeader() ? html`<a href="#/repeats">${t("repeatsNav")}</a>` : ""}
    ${isManager() || isLeader() ? html`<a href="#/hard-cases" class="${isManager() ? "office-link" : ""}" id="nav-hard">${t("hard.nav")}</a>` : ""}
    <a href="#/settings">${t("settings")}</a>`;
  renderStatus();
}

async function renderChrome() {
  document.getElementById("app-title").textContent = t("appName");
  navFor = null;
  renderNav();
  drawLangButton();
  await renderStatus();
}

// The button shows the other language, in that language; its name starts with what it
// shows (a voice user says what they see).
function drawLangButton() {
  const langButton = document.getElementById("lang");
  const other = getLang() === "zh" ? "EN" : "中文";
  langButton.textContent = other;
  langButton.lang = other === "EN" ? "en" : "zh-CN";
  langButton.setAttribute("aria-label", `${other}: Language / 语言`);
}

export async function renderStatus() {
  const waiting = (await outbox.items()).filter((item) => item.state !== "draft");
  const badge = document.getElementById("badge");
  if (badge) {
    badge.hidden = waiting.length === 0;
    badge.textContent = String(waiting.length);
  }
  const chip = document.getElementById("sync-chip");
  const s = outbox.status;
  chip.dataset.state = s.needsLogin ? "login" : s.running ? "running"
    : waiting.length ? "waiting" : "idle";
  chip.textContent = s.needsLogin ? t("needsLogin") : s.running ? t("syncing")
    : waiting.length ? `${t("waiting")} ${waiting.length}` : t("synced");
  const banner = document.getElementById("banner");
  if (s.needsLogin && state.session) {
    banner.hidden = false;
    banner.innerHTML = html`<span>${t("loginAgain")}</span>
      <a class="button" href="#/login">${t("login")}</a>`;
  } else if (!state.online) {
    banner.hidden = false;
    banner.textContent = t("offlineMode");
  } else {
    banner.hidden = true;
  }
}

async function checkStorage() {
  try {
    if (navigator.storage?.persist && !(await navigator.storage.persisted())) {
      await navigator.storage.persist();
    }
  } catch {
    // Not every browser can tell; the warning below still runs.
  }
  warnIfStorageLow();
}

async function refreshSession() {
  if (!state.session) return;
  try {
    const me = await api("GET", "/api/me");
    state.online = true;
    await saveSession({ user: { ...me, csrf_token: undefined }, csrf_token: me.csrf_token });
  } catch (error) {
    // A real request says whether the server is reachable; navigator.onLine does not.
    state.online = !["offline", "portal"].includes(error.kind);
    // Offline: keep working from the phone. Expired: the outbox will ask to log in when
    // it next needs the server; the inspector's work stays on the phone meanwhile.
    if (error.kind === "auth") outbox.status.needsLogin = true;
  }
}

async function start() {
  // The browser never submits a form itself: that reloads the app, and what was typed is
  // lost. A form tapped before its screen has wired it (the screen still writing to the
  // phone or waiting on the network) does nothing instead. A dialog's own form closes it.
  document.addEventListener("submit", (event) => {
    if (event.target.getAttribute("method") !== "dialog") event.preventDefault();
  });
  // The language button answers from the first moment: chosen while the phone's data is
  // still opening, it is the language the app is then drawn in.
  let drawn = false;
  // A screen opened while the session is still being checked (a slow network) is drawn
  // once: start() does not draw it again afterwards, over what was typed into it.
  let routed = false;
  drawLangButton();
  document.getElementById("lang").addEventListener("click", async () => {
    setLang(getLang() === "zh" ? "en" : "zh");
    if (!drawn) return drawLangButton();
    await renderChrome();
    routed = true;
    route();
  });
  document.getElementById("sync-chip").addEventListener("click", () => go("#/outbox"));
  await db();
  await loadSession();
  if (state.session) await cachedVocab();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js").catch(() => {});
  }
  if (localStorage.getItem("fieldcase.red") === "1") document.body.classList.add("red");
  document.addEventListener("focusin", keepFocusInSight);
  setRouter(route);
  window.addEventListener("hashchange", () => {
    routed = true;
    route();
  });
  const setOnline = async (online) => {
    state.online = online;
    renderStatus();
  };
  window.addEventListener("online", async () => setOnline(await probe()));
  window.addEventListener("offline", () => setOnline(false));
  outbox.onChange(() => renderStatus());
  drawn = true;
  await renderChrome();
  await refreshSession();
  if (state.session) {
    loadStandards();
    // The office's links follow the server's role sets; the revisit team's questionnaires
    // are kept on the phone for surveys with no signal.
    loadVocab().then(() => { renderNav(); loadQuestionnaires(); preloadRechecks(); });
  }
  if (!routed) await route();
  outbox.startTriggers();
  checkStorage();
}

// A field reached by Tab is scrolled clear of the fixed bars and the floating save button
// (Chromium's own focus scrolling leaves it under them: it ignores scroll-padding).
function keepFocusInSight(event) {
  const el = event.target;
  const covers = ".topbar, .bottombar, .actions > *";
  if (!(el instanceof Element) || el.closest(covers) || el.closest(".leaflet-container")) return;
  const r = el.getBoundingClientRect();
  if (!r.height) return;
  let top = 0;
  let bottom = window.innerHeight;
  for (const cover of document.querySelectorAll(covers)) {
    const c = cover.getBoundingClientRect();
    if (!c.height || c.bottom <= 0 || c.top >= window.innerHeight) continue;
    if (c.top + c.height / 2 < window.innerHeight / 2) top = Math.max(top, c.bottom);
    else bottom = Math.min(bottom, c.top);
  }
  if (r.bottom > bottom - 8) window.scrollBy(0, Math.min(r.bottom - bottom + 16, r.top - top - 16));
  else if (r.top < top + 8) window.scrollBy(0, r.top - top - 16);
}

start();
