import { api } from "../api.js";
import { colourOf, deadlineLine, keyMark, leaderMark, statusChip } from "../caseui.js";
import { getCache, setCache } from "../db.js";
import { t, term } from "../i18n.js";
import { bell } from "../notifications.js";
import { cachedGet, isManager, isOffice, isRevisitor, state, vocab } from "../state.js";
import { distanceM, errorText, fmtDistance, fmtTime, html } from "../ui.js";

// Most urgent first: earliest due, key cases first among equals.
export function byUrgency(a, b) {
  const due = (c) => Date.parse(c.deadline?.due_at || "") || Infinity;
  return due(a) - due(b) || Number(b.key) - Number(a.key)
    || (a.received_at || "").localeCompare(b.received_at || "");
}

function caseRow(item, here) {
  const colour = colourOf(item);
  const distance = item.location ? distanceM(here, item.location) : null;
  return html`
    <li>
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

function filtersForm(filters, v) {
  const options = (values, selected) => [html`<option value="">${t("any")}</option>`,
    ...values.map((x) => html`<option value="${x}" ${x === selected ? "selected" : ""}>${term(x)}</option>`)];
  return html`
    <form id="filters" class="filters" role="search">
      <label>${t("search")} <input name="q" value="${filters.q || ""}"></label>
      <label>${t("status")} <select name="status">${options(v.statuses || [], filters.status)}</select></label>
      <label>${t("category")} <select name="category">${options(v.categories || [], filters.category)}</select></label>
      <label>${t("channel")} <select name="channel">${options(v.channels || [], filters.channel)}</select></label>
      <label>${t("deadline")} <select name="colour">${options([...(v.colours || []), "overdue"], filters.colour)}</select></label>
      <label>${t("keyOnly")} <select name="key"><option value="">${t("any")}</option>
        <option value="true" ${filters.key === "true" ? "selected" : ""}>${t("yes")}</option></select></label>
      <label>${t("sortBy")} <select name="sort">
        <option value="received">${t("sortNewest")}</option>
        <option value="due" ${filters.sort === "due" ? "selected" : ""}>${t("sortUrgent")}</option></select></label>
      <button type="submit">${t("filters")}</button>
    </form>`;
}

export async function renderCases(view) {
  const office = isOffice();
  const v = await vocab();
  const filters = JSON.parse(sessionStorage.getItem("fieldcase.filters") || "{}");
  const cacheKey = office ? "cases:office" : "cases:mine";
  let shown = { page: 1, total: null, exact: true };
  // A revisit user's calls still to make (sampled cases assigned to them), on top.
  let tasks = [];
  const fillTasks = () => {
    const slot = view.querySelector("#tasks-slot");
    if (!slot) return;
    slot.innerHTML = tasks.length ? html`<section class="tasks card" id="revisit-tasks">
      <h2>${t("revisitTasks")} <span class="badge">${tasks.length}</span></h2>
      <ul class="case-list">${tasks.map((task) => html`<li><a class="lite" href="#/case/${task.case_id}"
        data-case-id="${task.case_id}"><strong>${task.subject}</strong>
        <span class="muted small">${task.address} · ${term(task.status)}</span></a></li>`)}</ul>
    </section>`.toString() : "";
  };
  if (isRevisitor()) {
    cachedGet("/api/revisit-tasks").then((answer) => {
      tasks = answer.items || [];
      fillTasks();
    }).catch(() => {});
  }
  const draw = (items, note) => {
    const here = state.tracker.current();
    const sorted = office ? items : [...items].sort(byUrgency);
    view.innerHTML = html`
      <section>
        <div class="title-row"><h1>${office ? t("allCases") : t("myCases")}</h1>
          ${isManager() ? html`<a class="button" id="new-case" href="#/case-new">＋ ${t("newCase")}</a>` : ""}
          <span class="bell-slot"></span></div>
        <div id="tasks-slot"></div>
        ${office ? filtersForm(filters, v) : ""}
        ${note ? html`<p class="muted small" role="status">${note}</p>` : ""}
        ${office && shown.total !== null ? html`<p class="muted small" id="case-total">${t("total")} ${shown.total}${shown.exact ? "" : "+"}</p>` : ""}
        <ul class="case-list" id="case-list">${sorted.map((item) => caseRow(item, here))}</ul>
        ${office && shown.total !== null && items.length < shown.total ? html`<button type="button" id="more-cases" class="lite">${t("more")}</button>` : ""}
      </section>`;
    view.querySelector("#more-cases")?.addEventListener("click", async () => {
      params.set("page", String(shown.page + 1));
      try {
        const next = await api("GET", `/api/cases?${params}`);
        shown = { page: shown.page + 1, total: next.total, exact: next.total_exact };
        draw([...items, ...next.items]);
      } catch (error) {
        view.querySelector("#more-cases").replaceWith(Object.assign(document.createElement("p"),
          { className: "error", role: "alert", textContent: errorText(error) }));
      }
    });
    bell(view.querySelector(".bell-slot"));
    fillTasks();
    view.querySelector("#filters")?.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(event.target));
      sessionStorage.setItem("fieldcase.filters", JSON.stringify(data));
      renderCases(view);
    });
  };

  const cached = await getCache(cacheKey);
  if (cached) draw(cached.value, `${t("lastUpdated")} ${fmtTime(cached.at)}`);
  else view.innerHTML = html`<p class="muted">${t("loading")}</p>`;

  const params = new URLSearchParams({ per_page: office ? "50" : "100" });
  if (office) {
    for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  } else {
    params.set("open", "true");
  }
  try {
    const page = await api("GET", `/api/cases?${params}`);
    shown = { page: 1, total: page.total, exact: page.total_exact };
    await setCache(cacheKey, page.items);
    draw(page.items);
  } catch (error) {
    if (!cached) view.innerHTML = html`<p class="error" role="alert">${errorText(error)}</p>`;
  }
  // Distances follow the inspector while this list is open.
  state.tracker.start();
  const unsubscribe = state.tracker.onChange(async () => {
    const latest = await getCache(cacheKey);
    const list = view.querySelector("#case-list");
    if (latest && list) {
      const here = state.tracker.current();
      const items = office ? latest.value : [...latest.value].sort(byUrgency);
      list.innerHTML = items.map((item) => caseRow(item, here)).join("");
    }
  });
  return () => {
    unsubscribe();
    state.tracker.stop();
  };
}
