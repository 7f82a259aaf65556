// The colour board (四色管理): counts per colour per unit with totals, overdue apart, and
// the cases of each colour linking to the case page. A table at desk width, cards on phones.
import { api } from "../../api.js";
import { SHARED_FILTERS, casesQuery, colourChip, filterParams, keyMark, leaderMark, statusChip }
  from "../../caseui.js";
import { getCache, setCache } from "../../db.js";
import { t, term } from "../../i18n.js";
import { bell } from "../../notifications.js";
import { cachedGet, vocab } from "../../state.js";
import { isLeader } from "../../leaders.js";
import { startDraw } from "../../redraw.js";
import { errorRef, errorText, fmtDue, fmtTime, html } from "../../ui.js";

const KEY = "fieldcase.boardFilters";

// The leaders to filter by (GET /api/leaders); a leader also has "my cases" (leader=me).
export function leaderSelect(selected, leaders) {
  return html`<label>${t("leaderFilter")} <select name="leader" id="leader-filter"><option value="">${t("any")}</option>
    ${isLeader() ? html`<option value="me" ${selected === "me" ? "selected" : ""}>${t("heldCases")}</option>` : ""}
    ${leaders.map((l) => html`<option value="${l.id}" ${l.id === selected ? "selected" : ""}>${l.display_name}</option>`)}</select></label>`;
}

function filtersForm(f, v, units, leaders = []) {
  const options = (values, selected) => [html`<option value="">${t("any")}</option>`,
    ...values.map((x) => html`<option value="${x}" ${x === selected ? "selected" : ""}>${term(x)}</option>`)];
  return html`
    <details class="filters-box" ${globalThis.innerWidth >= 700 || Object.values(f).some(Boolean) ? "open" : ""}>
    <summary>${t("filters")}</summary>
    <form id="board-filters" class="filters" role="search">
      <label>${t("unit")} <select name="unit"><option value="">${t("everyUnit")}</option>
        ${units.map((u) => html`<option value="${u.id}" ${u.id === f.unit ? "selected" : ""}>${u.name}</option>`)}</select></label>
      <label>${t("channel")} <select name="channel">${options(v.channels || [], f.channel)}</select></label>
      <label>${t("category")} <select name="category">${options(v.categories || [], f.category)}</select></label>
      <label>${t("keyOnly")} <select name="key"><option value="">${t("any")}</option>
        <option value="true" ${f.key === "true" ? "selected" : ""}>${t("yes")}</option></select></label>
      ${leaderSelect(f.leader, leaders)}
      <label>${t("from")} <input type="date" name="from" value="${f.from || ""}"></label>
      <label>${t("to")} <input type="date" name="to" value="${f.to || ""}"></label>
      <button type="submit">${t("filters")}</button>
    </form></details>`;
}

// The open cases a count stands for, on the list, most urgent first: the board's
// filters, the row's unit (none on the totals row) and the column's colour (none: all).
function countQuery(f, unit, colour) {
  const kept = Object.fromEntries(SHARED_FILTERS.filter((k) => f[k]).map((k) => [k, f[k]]));
  return casesQuery({ ...kept, ...(unit ? { unit } : {}), ...(colour ? { colour } : {}),
    open: "true", sort: "due" });
}

// A count that is not zero opens its cases; its name says which ("东湖街道 · 红色: 3").
function countCell(f, row, colour, n, name) {
  const cls = colour ? `n n-${colour}` : "n all";
  if (!n) return html`<td class="${cls} zero" data-colour="${colour || "all"}">${n ?? 0}</td>`;
  return html`<td class="${cls}" data-colour="${colour || "all"}"><a class="count-link"
    href="#/cases?${countQuery(f, row?.unit?.id, colour)}" aria-label="${name} · ${colour ? term(colour) : t("total")}: ${n}">${n}</a></td>`;
}

function countChip(f, row, colour, n) {
  const label = html`${term(colour)} <b>${n ?? 0}</b>`;
  if (!n) return html`<span class="count-chip chip-${colour}" data-colour="${colour}">${label}</span>`;
  return html`<a class="count-chip chip-${colour} count-link" data-colour="${colour}"
    href="#/cases?${countQuery(f, row?.unit?.id, colour)}">${label}</a>`;
}

function table(board, colours, f) {
  const heads = [...colours, "overdue"];
  const total = t("total");
  return html`
    <div class="board-table-wrap" tabindex="0"><table class="board-table" id="board-table">
      <thead><tr><th scope="col">${t("unit")}</th>
        ${heads.map((c) => html`<th scope="col">${colourChip(c)}</th>`)}<th scope="col">${total}</th></tr></thead>
      <tbody>${(board.units || []).map((row) => html`<tr data-unit-id="${row.unit?.id}">
        <th scope="row">${row.unit?.name || t("unknownUnit")}</th>
        ${heads.map((c) => countCell(f, row, c, row.counts?.[c], row.unit?.name))}${countCell(f, row, null, row.counts?.all, row.unit?.name)}</tr>`)}</tbody>
      <tfoot><tr id="board-totals"><th scope="row">${total}</th>
        ${heads.map((c) => countCell(f, null, c, board.totals?.[c], total))}${countCell(f, null, null, board.totals?.all, total)}</tr></tfoot>
    </table></div>
    <div class="board-cards">${(board.units || []).map((row) => html`
      <div class="card unit-card"><h2>${row.unit?.name || ""}</h2><div class="chips">
        ${heads.map((c) => countChip(f, row, c, row.counts?.[c]))}
      </div></div>`)}
      <div class="card unit-card"><h2>${total} · ${board.totals?.all ?? 0}</h2><div class="chips">
        ${heads.map((c) => countChip(f, null, c, board.totals?.[c]))}
      </div></div>
    </div>`;
}

function caseLite(c, colour) {
  return html`<li><a class="lite" href="#/case/${c.id}" data-case-id="${c.id}" data-colour="${colour}">
    <strong>${c.subject}</strong> ${keyMark(c)}
    <span class="muted small">${c.unit?.name || ""} · ${c.address || ""}</span>
    <span class="small">${statusChip(c.status)} ${c.due_at ? html`${t("due")} ${fmtDue(c.due_at)}` : ""} ${leaderMark(c)}</span>
  </a></li>`;
}

function lists(board, colours) {
  // Overdue first: it is what needs a leader's attention.
  return ["overdue", ...[...colours].reverse()].map((colour) => {
    const cases = board.cases?.[colour] || [];
    return html`<section class="colour-list list-${colour}" id="list-${colour}" data-colour="${colour}">
      <h2>${colourChip(colour)} <span class="muted small">${board.totals?.[colour] ?? cases.length}</span></h2>
      ${cases.length ? html`<ul>${cases.map((c) => caseLite(c, colour))}</ul>` : html`<p class="muted small">${t("noCases")}</p>`}
      ${(board.totals?.[colour] ?? 0) > cases.length ? html`<button type="button" class="lite see-all" data-colour="${colour}">${t("seeAll")} ${board.totals[colour]}</button>` : ""}
    </section>`;
  });
}

export async function renderBoard(view) {
  // Applying the filters draws the board again into this screen: see redraw.js.
  const drawing = startDraw(view);
  const v = await vocab();
  const f = JSON.parse(sessionStorage.getItem(KEY) || "{}");
  let units = [];
  try { units = (await cachedGet("/api/units")).items || []; } catch { units = []; }
  let leaders = [];
  try { leaders = (await cachedGet("/api/leaders")).items || []; } catch { leaders = []; }
  if (drawing.stale()) return drawing.leave;
  const params = filterParams(f);
  const cacheKey = `board:${params}`;
  const draw = (board, note) => {
    const colours = board.colours || v.colours || [];
    view.innerHTML = html`
      <section class="board" id="board">
        <div class="title-row"><h1>${t("board")}</h1><span class="bell-slot"></span></div>
        ${filtersForm(f, v, units, leaders)}
        <p class="muted small" role="status">${note || `${t("lastUpdated")} ${fmtTime(board.at)}`}</p>
        ${board.calendar_missing_year ? html`<p class="error" role="alert" id="calendar-warning">${t("calendarMissing").replaceAll("{year}", board.calendar_missing_year)}</p>` : ""}
        ${table(board, colours, f)}
        <div class="colour-lists">${lists(board, colours)}</div>
      </section>`;
    bell(view.querySelector(".bell-slot"));
    // The board shows each colour's most urgent; the case list pages through all of them,
    // with the board's unit and filters, most urgent first.
    for (const button of view.querySelectorAll(".see-all")) {
      button.addEventListener("click", () => {
        location.hash = `#/cases?${countQuery(f, null, button.dataset.colour)}`;
      });
    }
    view.querySelector("#board-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, JSON.stringify(Object.fromEntries(new FormData(event.target))));
      renderBoard(view);
    });
  };
  const cached = await getCache(cacheKey);
  if (drawing.stale()) return drawing.leave;
  if (cached?.value) draw(cached.value, `${t("lastUpdated")} ${fmtTime(cached.at)}`);
  else view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  try {
    const board = await api("GET", `/api/board${params.size ? `?${params}` : ""}`);
    await setCache(cacheKey, board);
    if (view.isConnected && !drawing.stale()) draw(board);
  } catch (error) {
    if (!cached?.value && !drawing.stale()) {
      view.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`;
    }
  }
  return drawing.leave;
}
