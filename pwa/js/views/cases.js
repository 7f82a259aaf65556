import { api } from "../api.js";
import {
  MAX_BATCH, batchBar, batchRefusal, isClosed, jobRequest, periodBar, periodFiles, pickBox, unitOptions,
} from "../batch.js";
import { colourOf, deadlineLine, filterParams, keyMark, leaderMark, statusChip } from "../caseui.js";
import { getCache, setCache } from "../db.js";
import { jobFollower } from "../jobfollow.js";
import { startDraw } from "../redraw.js";
import { t, term } from "../i18n.js";
import { bell } from "../notifications.js";
import { JOB_MEMORY, cachedGet, isManager, isOffice, isRevisitor, state, vocab } from "../state.js";
import { appendRef, distanceM, errorRef, errorText, fmtDistance, fmtTime, html } from "../ui.js";
import { isLeader } from "../leaders.js";
import { leaderSelect } from "./office/board.js";

// Most urgent first: earliest due, key cases first among equals.
export function byUrgency(a, b) {
  const due = (c) => Date.parse(c.deadline?.due_at || "") || Infinity;
  return due(a) - due(b) || Number(b.key) - Number(a.key)
    || (a.received_at || "").localeCompare(b.received_at || "");
}

// A case in the list. With `picked` (the office's batch download), a closed case's row
// leads with its checkbox and every other row keeps the column empty, so the rows align.
function caseRow(item, here, picked = null) {
  const colour = colourOf(item);
  const distance = item.location ? distanceM(here, item.location) : null;
  const pick = !picked ? "" : isClosed(item) ? pickBox(item, picked)
    : html`<span class="pick" aria-hidden="true"></span>`;
  return html`
    <li class="${picked ? "pickable" : ""}">${pick}
      <a class="case-row" href="#/case/${item.id}" data-case-id="${item.id}">
        <span class="colour colour-${colour}" title="${term(colour)}"
              aria-label="${t("deadline")}: ${term(colour)}"></span>
        <span class="case-main">
          <strong>${item.subject}</strong>
          <span class="muted">${item.address}</span>
          <span class="case-tags small">${statusChip(item.status)} ${keyMark(item)}
            ${deadlineLine(item, { milestone: false })} ${leaderMark(item)}
            <span class="muted">${term(item.category)}${item.unit?.name ? ` · ${item.unit.name}` : ""}</span></span>
        </span>
        <span class="distance">${fmtDistance(distance)}</span>
      </a>
    </li>`;
}

const FILTERS_KEY = "fieldcase.filters";
// A number looked up stays in this page's memory only: never in the browser's storage.
let phoneQuery = "";

function filtersForm(filters, v, units, leaders = []) {
  const options = (values, selected) => [html`<option value="">${t("any")}</option>`,
    ...values.map((x) => html`<option value="${x}" ${x === selected ? "selected" : ""}>${term(x)}</option>`)];
  // On a phone the list (and the revisit team's tasks) comes first: the filters fold, as
  // the board's do, unless one is set.
  // By number and by full name only for the office proper (the server's office role set):
  // the revisit team may not confirm a contact behind a masked one.
  const desk = isManager();
  const set = Object.entries(filters).filter(([k, x]) => k !== "sort" && x).length + (desk && phoneQuery ? 1 : 0);
  return html`
    <details class="filters-box" id="filters-box" ${globalThis.innerWidth >= 700 || set ? "open" : ""}>
    <summary>${t("filters")}${set ? ` (${set})` : ""}</summary>
    <form id="filters" class="filters" role="search">
      <label>${t("search")} <input name="q" value="${filters.q || ""}" placeholder="${t(desk ? "searchHint" : "searchHintPlain")}"></label>
      ${desk ? html`<label>${t("phoneSearch")} <input name="phone" id="phone-search" type="tel" inputmode="tel"
        autocomplete="off" value="${phoneQuery}" placeholder="${t("phoneSearchHint")}"></label>` : ""}
      <label>${t("unit")} <select name="unit"><option value="">${t("everyUnit")}</option>
        ${units.map((u) => html`<option value="${u.id}" ${u.id === filters.unit ? "selected" : ""}>${u.name}</option>`)}</select></label>
      <label>${t("from")} <input type="date" name="from" value="${filters.from || ""}"></label>
      <label>${t("to")} <input type="date" name="to" value="${filters.to || ""}"></label>
      <label>${t("openScope")} <select name="open"><option value="">${t("any")}</option>
        <option value="true" ${filters.open === "true" ? "selected" : ""}>${t("openTrue")}</option>
        <option value="false" ${filters.open === "false" ? "selected" : ""}>${t("openFalse")}</option></select></label>
      <label>${t("status")} <select name="status">${options(v.statuses || [], filters.status)}</select></label>
      <label>${t("category")} <select name="category">${options(v.categories || [], filters.category)}</select></label>
      <label>${t("channel")} <select name="channel">${options(v.channels || [], filters.channel)}</select></label>
      <label>${t("deadline")} <select name="colour">${options([...(v.colours || []), "overdue"], filters.colour)}</select></label>
      <label>${t("keyOnly")} <select name="key"><option value="">${t("any")}</option>
        <option value="true" ${filters.key === "true" ? "selected" : ""}>${t("yes")}</option></select></label>
      ${leaderSelect(filters.leader, leaders)}
      <label>${t("sortBy")} <select name="sort">
        <option value="received">${t("sortNewest")}</option>
        <option value="due" ${filters.sort === "due" ? "selected" : ""}>${t("sortUrgent")}</option></select></label>
      <button type="submit">${t("filters")}</button>
    </form></details>`;
}

export async function renderCases(view, query = null) {
  // Applying the filters draws the list again into this screen: see redraw.js.
  const drawing = startDraw(view);
  // A leader reads the office's list of their units' cases, with its filters (their own,
  // 我包案的, first).
  const leader = isLeader();
  const office = isOffice() || leader;
  const v = await vocab();
  if (drawing.stale()) return drawing.leave;
  if (query != null) {
    // Opened from a link (the board's counts, "see all"): its filters, kept for this tab
    // as if typed, and the address back to the plain list.
    sessionStorage.setItem(FILTERS_KEY, JSON.stringify(Object.fromEntries(new URLSearchParams(query))));
    history.replaceState(history.state, "", "#/cases");
  }
  const stored = sessionStorage.getItem(FILTERS_KEY);
  const filters = JSON.parse(stored || "{}");
  if (leader && stored === null) filters.leader = "me";
  let units = [];
  let leaders = [];
  if (office) {
    try { units = (await cachedGet("/api/units")).items || []; } catch { units = []; }
    try { leaders = (await cachedGet("/api/leaders")).items || []; } catch { leaders = []; }
    if (drawing.stale()) return drawing.leave;
  }
  const title = leader && filters.leader === "me" ? t("heldCases") : office ? t("allCases") : t("myCases");
  const cacheKey = office ? "cases:office" : "cases:mine";
  // The office ticks closed cases to download their files together (the server's office
  // role set: the revisit team makes no closure files).
  const batching = isManager();
  const selected = new Set();
  // Two photos a page, and the batch by closing period: kept for the session.
  let perPage = sessionStorage.getItem("fieldcase.perPage") === "2" ? 2 : 1;
  const period = JSON.parse(sessionStorage.getItem("fieldcase.batchPeriod") || "{}");
  let shownItems = [];
  const closedOf = (items) => (batching ? items.filter(isClosed) : []);
  let shown = { page: 1, total: null, exact: true };
  // A revisit user's calls still to make (calls scheduled back, then sampled cases
  // assigned to them), on top.
  let tasks = [];
  const fillTasks = () => {
    const slot = view.querySelector("#tasks-slot");
    if (!slot) return;
    slot.innerHTML = tasks.length ? html`<section class="tasks card" id="revisit-tasks">
      <h2>${t("revisitTasks")} <span class="badge">${tasks.length}</span></h2>
      <ul class="case-list">${tasks.map((task) => html`<li data-task-kind="${task.kind || "sample"}"><a class="lite" href="#/case/${task.case_id}"
        data-case-id="${task.case_id}"><strong>${task.subject}</strong>
        <span class="chip-status">${t(task.kind === "callback" ? "callbackTask" : "sampleTask")}${task.callback_at ? ` · ${fmtTime(task.callback_at)}` : ""}</span>
        <span class="muted small">${task.address} · ${term(task.status)}</span></a></li>`)}</ul>
    </section>`.toString() : "";
  };
  if (isRevisitor()) {
    cachedGet("/api/revisit-tasks").then((answer) => {
      if (drawing.stale()) return;
      tasks = answer.items || [];
      fillTasks();
    }).catch(() => {});
  }
  const draw = (items, note) => {
    const here = state.tracker.current();
    const sorted = office ? items : [...items].sort(byUrgency);
    shownItems = sorted;
    const closed = closedOf(sorted);
    // Only what is shown stays ticked (a case reopened since is no longer offered).
    const offered = new Set(closed.map((c) => c.id));
    for (const id of selected) if (!offered.has(id)) selected.delete(id);
    const picked = closed.length ? selected : null;
    view.innerHTML = html`
      <section>
        <div class="title-row"><h1 id="cases-title">${title}</h1>
          ${isManager() ? html`<a class="button" id="new-case" href="#/case-new">＋ ${t("newCase")}</a>` : ""}
          <span class="bell-slot"></span></div>
        <div id="tasks-slot"></div>
        ${office ? filtersForm(filters, v, units, leaders) : ""}
        ${note ? html`<p class="muted small" role="status">${note}</p>` : ""}
        ${office && shown.total !== null ? html`<p class="muted small" id="case-total">${t("total")} ${shown.total}${shown.exact ? "" : "+"}</p>` : ""}
        ${batching ? periodBar(period, units, { perPage }) : ""}
        ${closed.length ? batchBar(closed, selected, { perPage }) : ""}
        ${batching ? html`<section class="batch-job card" id="batch-job" aria-labelledby="job-title" hidden></section>` : ""}
        <ul class="case-list" id="case-list">${sorted.map((item) => caseRow(item, here, picked))}</ul>
        ${office && shown.total !== null && items.length < shown.total ? html`<button type="button" id="more-cases" class="lite">${t("more")}</button>` : ""}
      </section>`;
    view.querySelector("#more-cases")?.addEventListener("click", async () => {
      params.set("page", String(shown.page + 1));
      try {
        const next = await api("GET", `/api/cases?${params}`);
        shown = { page: shown.page + 1, total: next.total, exact: next.total_exact };
        draw([...items, ...next.items]);
      } catch (error) {
        const box = Object.assign(document.createElement("p"),
          { className: "error", role: "alert", textContent: errorText(error) });
        appendRef(box, error);
        view.querySelector("#more-cases").replaceWith(box);
      }
    });
    bell(view.querySelector(".bell-slot"));
    fillTasks();
    if (batching) {
      wirePeriod();
      resumeJob();
    }
    if (!closed.length) sight?.disconnect();
    else {
      wireBatch();
      view.querySelector("#case-list").addEventListener("change", (event) => {
        const box = event.target.closest(".batch-pick");
        if (!box) return;
        if (box.checked && selected.size < MAX_BATCH) selected.add(box.value);
        else selected.delete(box.value);
        redrawBatch();
      });
    }
    view.querySelector("#filters")?.addEventListener("submit", (event) => {
      event.preventDefault();
      const { phone = "", ...data } = Object.fromEntries(new FormData(event.target));
      phoneQuery = phone.trim();
      sessionStorage.setItem(FILTERS_KEY, JSON.stringify(data));
      renderCases(view);
    });
  };

  // The batch: ticks in the list and in "select all", the bar redrawn to match, and its
  // files fetched so that a refusal is said on the screen rather than saved as a file.
  const redrawBatch = () => {
    const closed = closedOf(shownItems);
    const old = view.querySelector("#batch");
    if (!old) return;
    old.outerHTML = batchBar(closed, selected, { perPage }).toString();
    for (const box of view.querySelectorAll("#case-list .batch-pick")) {
      box.checked = selected.has(box.value);
      box.disabled = !box.checked && selected.size >= MAX_BATCH;
      box.closest("label").title = box.disabled ? t("batchFull") : t("batchPick");
    }
    wireBatch();
  };
  // Further down a long list the files are out of sight: a button brings them back.
  let sight = null;
  drawing.onStop(() => sight?.disconnect());
  const wireBatch = () => {
    const bar = view.querySelector("#batch");
    const all = bar.querySelector("#batch-all");
    all.indeterminate = all.dataset.indeterminate === "1";
    sight?.disconnect();
    const files = bar.querySelector("#batch-downloads");
    const jump = bar.querySelector("#batch-jump");
    if (files && jump && "IntersectionObserver" in window) {
      // The top bar and the bottom bar cover the page's edges.
      sight = new IntersectionObserver(([entry]) => { jump.hidden = entry.isIntersecting; },
        { rootMargin: "-64px 0px -80px 0px" });
      sight.observe(files);
      jump.addEventListener("click", () => {
        bar.scrollIntoView({ block: "start" });
        files.querySelector("a")?.focus({ preventScroll: true });
      });
    }
    all.addEventListener("change", () => {
      const closed = closedOf(shownItems);
      if (all.checked) {
        for (const c of closed) if (selected.size < MAX_BATCH) selected.add(c.id);
      } else {
        for (const c of closed) selected.delete(c.id);
      }
      redrawBatch();
    });
    bar.querySelector("#batch-per-page")?.addEventListener("change", (event) => setPerPage(event.target.checked));
    downloads(bar, "#batch-busy", "#batch-problem");
  };

  const setPerPage = (two) => {
    perPage = two ? 2 : 1;
    sessionStorage.setItem("fieldcase.perPage", String(perPage));
    redrawBatch();
    const box = view.querySelector("#period-per-page");
    if (box) box.checked = two;
    redrawPeriodFiles();
  };
  const redrawPeriodFiles = () => {
    const files = view.querySelector("#period-files");
    if (files) files.innerHTML = periodFiles(period, { perPage }).toString();
  };
  // The batch by closing period: the form's values make the links (no request until one
  // is clicked); the units come from the server once.
  const wirePeriod = () => {
    const section = view.querySelector("#batch-period");
    const form = section.querySelector("#period-form");
    form.addEventListener("submit", (event) => event.preventDefault());
    form.addEventListener("change", (event) => {
      if (event.target.id === "period-per-page") {
        setPerPage(event.target.checked);
        return;
      }
      const data = Object.fromEntries(new FormData(form));
      Object.assign(period, { from: data.from || "", to: data.to || "", unit: data.unit || "" });
      sessionStorage.setItem("fieldcase.batchPeriod", JSON.stringify(period));
      section.querySelector("#period-problem").hidden = true;
      redrawPeriodFiles();
    });
    downloads(section, "#period-busy", "#period-problem", { period: true });
    if (!units.length) {
      cachedGet("/api/units").then((answer) => {
        units = answer.items || [];
        const select = view.querySelector("#period-unit");
        if (!select || !units.length) return;
        select.innerHTML = html`${unitOptions(units, period.unit)}`.toString();
      }).catch(() => {});
    }
  };

  // A click on one of a section's files starts a job on the server; the panel under the
  // bar follows it (polling) to its download. A refusal when it is asked for (a case
  // reopened, out of scope) is said where it was asked, in words.
  const downloads = (section, busySelector, problemSelector, options = {}) => {
    section.addEventListener("click", async (event) => {
      const link = event.target.closest("a[data-batch]");
      if (!link) return;
      event.preventDefault();
      if (link.getAttribute("aria-disabled") === "true" || section.dataset.busy) return;
      const busy = section.querySelector(busySelector);
      const problem = section.querySelector(problemSelector);
      section.dataset.busy = link.dataset.batch;
      link.setAttribute("aria-busy", "true");
      busy.textContent = `${t("batchMaking")} ${link.textContent.trim()}`;
      busy.hidden = false;
      problem.hidden = true;
      try {
        const job = await api("POST", "/api/jobs", { body: jobRequest(link.getAttribute("href")) });
        const label = link.textContent.trim();
        jobs.start(job, label);
        view.querySelector("#batch-job")?.scrollIntoView({ block: "nearest" });
      } catch (error) {
        const subjects = new Map(shownItems.map((c) => [c.id, c.subject]));
        problem.innerHTML = batchRefusal(error, subjects, options).toString();
        problem.dataset.code = error.problem?.code || error.kind || "";
        problem.hidden = false;
      } finally {
        delete section.dataset.busy;
        link.removeAttribute("aria-busy");
        busy.hidden = true;
      }
    });
  };

  // The job being followed: remembered on this device for this user, so leaving the list
  // (or the app) and coming back shows it again, still running or finished.
  const jobs = jobFollower(view, { slot: "#batch-job", memory: JOB_MEMORY.batch,
    subjects: () => new Map(shownItems.map((c) => [c.id, c.subject])) });
  const resumeJob = () => jobs.resume();

  // A lookup by number shows only its answer, never the last list saved on this phone.
  const cached = office && phoneQuery ? null : await getCache(cacheKey);
  if (drawing.stale()) return drawing.leave;
  if (cached) draw(cached.value, `${t("lastUpdated")} ${fmtTime(cached.at)}`);
  else view.innerHTML = html`<p class="muted">${t("loading")}</p>`;

  const params = new URLSearchParams({ per_page: office ? "50" : "100" });
  if (office) {
    filterParams(filters, params);
    if (phoneQuery && isManager()) params.set("phone", phoneQuery);
  } else {
    params.set("open", "true");
  }
  try {
    const page = await api("GET", `/api/cases?${params}`);
    if (drawing.stale()) return drawing.leave;
    shown = { page: 1, total: page.total, exact: page.total_exact };
    if (!phoneQuery || !office) await setCache(cacheKey, page.items);
    if (drawing.stale()) return drawing.leave;
    draw(page.items);
  } catch (error) {
    if (drawing.stale()) return drawing.leave;
    if (!cached) {
      // The form stays, so a refused lookup (a mistyped number) can be corrected.
      draw([]);
      view.querySelector("#case-list").insertAdjacentHTML("beforebegin",
        html`<p class="error" role="alert" id="cases-error">${errorText(error)}${errorRef(error)}</p>`.toString());
    }
  }
  // Distances follow the inspector while this list is open.
  state.tracker.start();
  const unsubscribe = state.tracker.onChange(async () => {
    const list = view.querySelector("#case-list");
    if (list && shownItems.length) {
      const here = state.tracker.current();
      const picked = closedOf(shownItems).length ? selected : null;
      list.innerHTML = html`${shownItems.map((item) => caseRow(item, here, picked))}`.toString();
    }
  });
  drawing.onStop(() => {
    unsubscribe();
    state.tracker.stop();
  });
  return drawing.leave;
}
