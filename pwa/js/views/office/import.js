// Importing a hotline platform's sheet (导入工单): pick the source and the file, upload it,
// check how its columns map to the case's fields, map the values the source's tables do
// not know, read the preview (which writes nothing) and confirm: every new row is created
// in one go, or none. A desk screen (1280 px) that still works on a tablet. Cell text
// comes from a platform's export and is hostile: everything goes through html``.
import { ApiError, api, readAnswer } from "../../api.js";
import { getLang, t, term } from "../../i18n.js";
import {
  ACCEPT, PER_PAGE, STATUSES, acceptable, columnMapBody, confirmLabel, countsOf, fieldName,
  initialMapping, namedCases, pageOf, reasons, repeatsByRef, repeatCount, repeatText, sameMapping, sourceName,
  sourcesOf, unknownValues, valueMapsWith, valueName,
} from "../../importing.js";
import { cachedGet, isManager, state, vocab } from "../../state.js";
import { errorRef, errorText, flatMessages, fmtTime, html, toast } from "../../ui.js";

// Links to the new cases shown after confirming; the rest are on the case list.
const SHOWN_CASES = 50;

// POST a form (the file) with the upload's progress (fetch cannot report it); the answer
// is read as every API answer is (problem+json refusals become an ApiError).
export function postForm(path, form, onProgress, timeout = 300000) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.timeout = timeout;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("Accept-Language", getLang());
    const csrf = state.session?.csrf_token;
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded / event.total);
    };
    xhr.upload.onload = () => onProgress?.(1);
    xhr.onload = () => {
      const headers = {};
      for (const name of ["Content-Type", "Retry-After"]) {
        const value = xhr.getResponseHeader(name);
        if (value) headers[name] = value;
      }
      const body = xhr.status === 204 ? null : xhr.responseText;
      readAnswer(new Response(body, { status: xhr.status, headers })).then(resolve, reject);
    };
    xhr.onerror = () => reject(new ApiError("offline", 0, null, "network"));
    xhr.ontimeout = () => reject(new ApiError("offline", 0, null, "timed out"));
    xhr.send(form);
  });
}

// ---- the pieces of the screen ----------------------------------------------------------
function uploadForm(sources, chosen) {
  return html`<form id="import-form" class="card import-form" novalidate>
    <div class="import-pick">
      <label>${t("impSource")}
        <select name="source" id="import-source" required>
          ${sources.map((s) => html`<option value="${s.code}" ${s.code === chosen ? "selected" : ""}>${sourceName(s)}</option>`)}
        </select></label>
      <label>${t("impFile")}
        <input type="file" name="file" id="import-file" accept="${ACCEPT.join(",")}" required></label>
      <button type="submit" class="primary" id="import-upload">${t("impUpload")}</button>
    </div>
    <div class="import-progress" id="import-progress" hidden>
      <progress id="import-bar" max="1" value="0"></progress>
      <span id="import-progress-text" class="muted small" aria-live="polite"></span>
    </div>
    <div id="import-message" role="alert"></div>
  </form>`;
}

function facts(preview) {
  return t("impFileFacts").replace("{file}", preview.filename || "")
    .replace("{row}", String(preview.header_row ?? "")).replace("{n}", String((preview.rows || []).length));
}

function countButton(filter, key, n, current) {
  return html`<button type="button" class="count-filter imp-count imp-count-${filter || "all"}"
    data-filter="${filter}" aria-pressed="${filter === current ? "true" : "false"}">
    ${t(key)} <b data-count="${filter || "all"}">${n}</b></button>`;
}

function summary(view) {
  const { preview, filter } = view;
  const c = countsOf(preview);
  const total = (preview.rows || []).length;
  return html`<section class="card import-summary" id="import-summary" aria-labelledby="import-summary-title">
    <div class="import-summary-head">
      <h2 id="import-summary-title">${t("impPreview")}</h2>
      <span class="muted small" id="import-facts">${sourceName(view.source)} · ${facts(preview)}</span>
    </div>
    <div class="import-counts" role="group" aria-label="${t("impPreview")}">
      ${countButton("", "impAll", total, filter)}
      ${countButton("new", "impCountNew", c.new, filter)}
      ${countButton("duplicate", "impCountDuplicate", c.duplicate, filter)}
      ${countButton("invalid", "impCountInvalid", c.invalid, filter)}
      ${countButton("repeat", "impCountRepeat", c.repeat, filter)}
    </div>
    <div id="import-confirm">${confirmArea(view)}</div>
  </section>`;
}

function confirmArea(view) {
  const c = countsOf(view.preview);
  const dirty = !sameMapping(view.mapping, view.appliedMapping);
  if (view.preview.status === "expired") return html`<p class="notice" id="import-expired">${t("impExpired")}</p>`;
  if (view.asking) {
    return html`<div class="import-ask notice" id="import-ask" role="alertdialog" aria-labelledby="import-ask-text">
      <p id="import-ask-text">${t("impConfirmAsk").replace("{n}", String(c.new))
        .replace("{dup}", String(c.duplicate)).replace("{bad}", String(c.invalid))}</p>
      <div class="row">
        <button type="button" class="primary" id="import-yes" ${view.busy ? "disabled" : ""}>${t("impConfirmYes")}</button>
        <button type="button" id="import-no" ${view.busy ? "disabled" : ""}>${t("cancel")}</button>
        ${view.busy ? html`<span class="muted" aria-live="polite">${t("impImporting")}</span>` : ""}
      </div></div>`;
  }
  return html`<div class="row import-go">
    <button type="button" class="primary big" id="import-confirm-button" ${c.new && !dirty ? "" : "disabled"}>${confirmLabel(c.new)}</button>
    ${!c.new ? html`<span class="muted">${t("impNothing")}</span>` : ""}
    ${dirty ? html`<span class="error">${t("impMappingDirty")}</span>` : ""}
  </div>`;
}

function fieldOptions(fields, selected) {
  return [html`<option value="">${t("impIgnore")}</option>`,
    ...fields.map((f) => html`<option value="${f.name}" ${f.name === selected ? "selected" : ""}>${fieldName(f)}${f.required ? " *" : ""}</option>`)];
}

function mappingCard(view, headers, { missing = [], reupload = false } = {}) {
  const byName = new Map(view.fields.map((f) => [f.name, f]));
  return html`<section class="card import-mapping" id="import-mapping" aria-labelledby="import-mapping-title">
    <h2 id="import-mapping-title">${t("impMapping")}</h2>
    <p class="muted small">${t("impMappingHint")}</p>
    ${missing.length ? html`<p class="error" id="import-missing">${t("impMissing").replace("{fields}",
      missing.map((f) => fieldName(byName.get(f) || { name: f })).join("、"))}</p>` : ""}
    <table class="data import-table mapping-table">
      <thead><tr><th scope="col">${t("impColumn")}</th><th scope="col">${t("impField")}</th></tr></thead>
      <tbody>${headers.map((header, i) => html`<tr>
        <th scope="row"><label for="map-${i}">${header}</label></th>
        <td><select id="map-${i}" class="map-select" data-header="${header}">${fieldOptions(view.fields, view.mapping[header])}</select></td>
      </tr>`)}</tbody>
    </table>
    <p class="muted small">* ${t("required")}</p>
    <div id="mapping-message" role="alert"></div>
    <div class="row">${reupload
      ? html`<button type="button" class="primary" id="save-mapping" data-reupload="1">${t("impSaveMappingUpload")}</button>`
      : html`<button type="button" id="save-mapping">${t("impSaveMapping")}</button>`}</div>
  </section>`;
}

function choices(kind, v, units) {
  const list = kind === "unit" ? units.map((u) => [u.id, u.name]) : (v.categories || []).map((c) => [c, term(c)]);
  return [html`<option value="">${t("impChoose")}</option>`,
    ...list.map(([value, name]) => html`<option value="${value}">${name}</option>`)];
}

function unknownCard(view, v, units) {
  const values = unknownValues(view.preview);
  if (!values.length) return "";
  const kinds = [...new Set(values.map((x) => x.kind))];
  return html`<section class="card import-unknown" id="import-unknown" aria-labelledby="import-unknown-title">
    <h2 id="import-unknown-title">${t("impUnknown")}</h2>
    <p class="muted small">${t("impUnknownHint")}</p>
    ${kinds.map((kind) => html`<h3>${t(kind === "unit" ? "impUnknownUnit" : "impUnknownCategory")}</h3>
      <table class="data import-table unknown-table" data-kind="${kind}">
        <thead><tr><th scope="col">${t("impRawValue")}</th><th scope="col" class="n">${t("impRows")}</th>
          <th scope="col">${t("impMapTo")}</th><th scope="col"><span class="sr">${t("save")}</span></th></tr></thead>
        <tbody>${values.filter((x) => x.kind === kind).map((x, i) => html`<tr class="unknown-row" data-kind="${kind}" data-raw="${x.raw}">
          <th scope="row" class="raw-value">${x.raw}</th>
          <td class="n">${x.count}</td>
          <td><select class="unknown-select" id="unknown-${kind}-${i}" aria-label="${x.raw} · ${t("impMapTo")}">${choices(kind, v, units)}</select></td>
          <td><button type="button" class="map-value">${t("impMapValue")}</button></td>
        </tr>`)}</tbody>
      </table>`)}
    <div id="unknown-message" role="alert"></div>
  </section>`;
}

function statusChips(row) {
  return html`<span class="imp-chip imp-${row.status}" data-status="${row.status}">${t(`impStatus.${row.status}`)}</span>
    ${row.repeat ? html`<span class="imp-chip imp-repeat" data-repeat="${repeatCount(row.repeat)}">${t("impRepeatShort")}</span>` : ""}`;
}

function notes(row, nameOf) {
  const said = reasons(row, getLang(), nameOf);
  return html`${said.length ? html`<ul class="reasons">${said.map((r) => html`<li>${r}</li>`)}</ul>` : ""}
    ${row.status === "duplicate" ? (row.duplicate_of
      ? html`<a class="dup-link" href="#/case/${row.duplicate_of}">${t("impDuplicateOf")}</a>`
      : html`<span class="muted">${t("impDuplicateHidden")}</span>`) : ""}
    ${row.repeat ? html`<p class="repeat-hint">${repeatText(row.repeat)}${row.repeat.listed ? html` · ${t("impRepeatListed")}` : ""}${row.repeat.leader?.name ? html` · ${t("leader")}：${row.repeat.leader.name}` : ""}</p>` : ""}`;
}

function rowLine(row, units, nameOf) {
  const c = row.case || {};
  return html`<tr class="import-row" data-row="${row.row}" data-status="${row.status}">
    <td class="n">${row.row}</td>
    <td>${statusChips(row)}</td>
    <td class="imp-ref">${c.external_ref ?? ""}</td>
    <td class="imp-when">${c.received_at ? fmtTime(c.received_at) : ""}</td>
    <td class="what"><b>${c.subject ?? ""}</b>${c.address ? html`<span class="muted small">${c.address}</span>` : ""}</td>
    <td>${c.category ? valueName("category", c.category) : html`<span class="raw-value">${c.category_raw ?? ""}</span>`}
      ${c.unit_id ? html`<span class="muted small">${valueName("unit", c.unit_id, units)}</span>`
        : c.unit_raw ? html`<span class="small raw-value">${c.unit_raw}</span>` : ""}</td>
    <td class="notes">${notes(row, nameOf)}</td>
  </tr>`;
}

function rowsCard(view, units) {
  const page = pageOf(view.preview.rows, { filter: view.filter, page: view.page });
  const byName = new Map(view.fields.map((f) => [f.name, f]));
  const nameOf = (name) => fieldName(byName.get(name === "unit_id" ? "unit" : name) || { name });
  const filters = ["", ...STATUSES, "repeat"];
  const label = (f) => t(f ? (f === "repeat" ? "impCountRepeat" : `impStatus.${f}`) : "impAll");
  return html`<section class="card import-rows" id="import-rows" aria-labelledby="import-rows-title">
    <div class="import-rows-head">
      <h2 id="import-rows-title">${t("impRowsTitle")}</h2>
      <label class="inline">${t("status")}
        <select id="row-filter">${filters.map((f) => html`<option value="${f}" ${f === view.filter ? "selected" : ""}>${label(f)}</option>`)}</select></label>
      ${pager(page)}
    </div>
    ${page.total ? html`<div class="import-table-wrap" tabindex="0" role="region" aria-labelledby="import-rows-title"><table class="data import-table rows-table" id="rows-table">
      <thead><tr><th scope="col" class="n">${t("impRow")}</th><th scope="col">${t("status")}</th>
        <th scope="col">${t("externalRef")}</th><th scope="col">${t("receivedAt")}</th>
        <th scope="col">${t("subject")} / ${t("address")}</th><th scope="col">${t("category")} / ${t("unit")}</th>
        <th scope="col">${t("impDetails")}</th></tr></thead>
      <tbody>${page.items.map((row) => rowLine(row, units, nameOf))}</tbody>
    </table></div>${pager(page)}` : html`<p class="muted">${t("impNoRows")}</p>`}
  </section>`;
}

function pager(page) {
  return html`<div class="pager"><span class="muted small pager-text">${t("impShowing").replace("{from}", String(page.from))
    .replace("{to}", String(page.to)).replace("{total}", String(page.total))}</span>
    ${page.pages > 1 ? html`<button type="button" class="page-prev" data-page="${page.page - 1}" ${page.page <= 1 ? "disabled" : ""}>${t("impPrev")}</button>
      <span class="small">${t("impPage").replace("{page}", String(page.page)).replace("{pages}", String(page.pages))}</span>
      <button type="button" class="page-next" data-page="${page.page + 1}" ${page.page >= page.pages ? "disabled" : ""}>${t("impNext")}</button>` : ""}</div>`;
}

// Each new case named as its row was (reference, subject), with its row's repeat hint.
function resultCard(result, named = new Map()) {
  const ids = result.case_ids || [];
  return html`<section class="card import-result" id="import-result" aria-labelledby="import-result-title">
    <h2 id="import-result-title">${t("impDone")}</h2>
    <dl class="facts import-result-facts">
      <dt>${t("impCreated")}</dt><dd id="result-created"><b>${result.created ?? 0}</b></dd>
      <dt>${t("impSkipped")}</dt><dd id="result-skipped">${result.skipped_duplicates ?? 0}</dd>
      <dt>${t("impInvalidSkipped")}</dt><dd id="result-invalid">${result.invalid ?? 0}</dd>
    </dl>
    ${ids.length ? html`<h3>${t("impNewCases")}</h3>
      <ul class="import-new-cases" id="import-new-cases">${ids.slice(0, SHOWN_CASES).map((id, i) => {
        const row = named.get(id);
        return html`<li data-case-id="${id}"><a href="#/case/${id}">${row?.ref || `${t("case")} ${i + 1}`}</a>
          ${row?.subject ? html`<span class="muted">${row.subject}</span>` : ""}
          ${row?.repeat ? html`<span class="imp-chip imp-repeat" data-repeat="${repeatCount(row.repeat)}">${repeatText(row.repeat)}</span>` : ""}</li>`;
      })}</ul>
      ${ids.length > SHOWN_CASES ? html`<p><a href="#/cases">${t("impMoreCases").replace("{n}", String(ids.length - SHOWN_CASES))}</a></p>` : ""}` : ""}
    <div class="row"><a class="button" href="#/import" id="import-another">${t("impAnother")}</a></div>
  </section>`;
}

// ---- the screen ------------------------------------------------------------------------
export async function renderImport(el, importId) {
  if (!isManager()) {
    el.innerHTML = html`<section class="import-page"><h1>${t("importCases")}</h1><p class="notice">${t("impOfficeOnly")}</p></section>`;
    return null;
  }
  el.innerHTML = html`<section class="import-page"><h1>${t("importCases")}</h1><p class="muted">${t("loading")}</p></section>`;
  let listing;
  let units = [];
  let v;
  try {
    [listing, v] = await Promise.all([api("GET", "/api/intake-sources"), vocab()]);
    try { units = (await cachedGet("/api/units")).items || []; } catch { units = []; }
  } catch (error) {
    el.innerHTML = html`<section class="import-page"><h1>${t("importCases")}</h1><p class="error">${errorText(error)}${errorRef(error)}</p></section>`;
    return null;
  }
  const { sources, fields } = sourcesOf(listing);
  const unitNames = new Map(units.map((u) => [u.id, u.name]));
  if (!sources.length) {
    el.innerHTML = html`<section class="import-page"><h1>${t("importCases")}</h1><p class="notice">${t("impNoSources")}</p></section>`;
    return null;
  }

  // What the screen shows: the preview in hand and the user's choices on it.
  const view = { source: sources[0], preview: null, fields, mapping: {}, appliedMapping: {},
    filter: "", page: 1, asking: false, busy: false, result: null, refused: null,
    named: new Map(), hints: new Map() };

  el.innerHTML = html`<section class="import-page">
    <h1>${t("importCases")}</h1>
    <p class="muted">${t("impHint")}</p>
    ${uploadForm(sources, view.source.code)}
    <div id="import-preview"></div>
  </section>`;
  const form = el.querySelector("#import-form");
  const message = el.querySelector("#import-message");
  const progress = el.querySelector("#import-progress");
  const bar = el.querySelector("#import-bar");
  const progressText = el.querySelector("#import-progress-text");
  const area = el.querySelector("#import-preview");

  const sourceOf = (code) => sources.find((s) => s.code === code) || sources[0];

  function show(preview) {
    view.preview = preview;
    view.source = sourceOf(preview.source);
    view.fields = view.source.fields.length ? view.source.fields : fields;
    view.appliedMapping = initialMapping(preview.headers, { applied: preview.column_map,
      saved: view.source.column_map, recognised: view.source.recognised });
    view.mapping = { ...view.appliedMapping };
    view.asking = false;
    view.refused = null;
    view.result = preview.status === "confirmed" && preview.result ? preview.result : null;
    if (view.result) view.named = namedCases(view.result, preview, view.hints);
    draw();
  }

  function draw() {
    if (view.result) {
      area.innerHTML = html`${resultCard(view.result, view.named)}`;
      return;
    }
    if (view.refused) {
      area.innerHTML = html`${mappingCard(view, view.refused.headers, { missing: view.refused.missing, reupload: true })}`;
      return;
    }
    if (!view.preview) { area.innerHTML = ""; return; }
    area.innerHTML = html`${summary(view)}
      <div class="import-grid">${mappingCard(view, view.preview.headers || [])}${unknownCard(view, v, units)}</div>
      ${rowsCard(view, unitNames)}`;
  }

  function drawRows() {
    const old = area.querySelector("#import-rows");
    if (!old) return draw();
    const box = document.createElement("div");
    box.innerHTML = html`${rowsCard(view, unitNames)}`;
    old.replaceWith(box.firstElementChild);
    for (const b of area.querySelectorAll(".count-filter")) {
      b.setAttribute("aria-pressed", b.dataset.filter === view.filter ? "true" : "false");
    }
  }

  function drawConfirm() {
    const box = area.querySelector("#import-confirm");
    if (box) box.innerHTML = html`${confirmArea(view)}`;
  }

  // The stored rows evaluated again against the source's updated tables (no re-upload).
  async function refresh() {
    let preview;
    try {
      preview = await api("POST", `/api/imports/${view.preview.id}/remap`, { timeout: 120000 });
    } catch (error) {
      if (![404, 405].includes(error.status) || error.problem?.code === "import.not_found") throw error;
      preview = await api("GET", `/api/imports/${view.preview.id}`, { timeout: 120000 });
    }
    const { filter, page } = view;
    show(preview);
    Object.assign(view, { filter, page });
    draw();
  }

  async function saveSource(body) {
    const saved = await api("PUT", `/api/intake-sources/${encodeURIComponent(view.source.code)}/mapping`, { body });
    // The answer is the source as saved, or nothing to go on: keep what was sent.
    view.source.column_map = saved?.column_map || body.column_map || view.source.column_map;
    view.source.value_maps = saved?.value_maps || body.value_maps || view.source.value_maps;
  }

  async function upload(event) {
    event.preventDefault();
    message.innerHTML = "";
    const file = form.querySelector("#import-file").files[0];
    const code = form.querySelector("#import-source").value;
    if (!file) { message.innerHTML = html`<p class="error">${t("impPickFile")}</p>`; return; }
    if (!acceptable(file.name)) { message.innerHTML = html`<p class="error">${t("impBadType")}</p>`; return; }
    const button = form.querySelector("#import-upload");
    button.disabled = true;
    progress.hidden = false;
    bar.value = 0;
    progressText.textContent = `${t("impUploading")} 0%`;
    view.result = null;
    const body = new FormData();
    body.append("source", code);
    body.append("file", file, file.name);
    try {
      const preview = await postForm("/api/imports", body, (share) => {
        if (share >= 1) {
          bar.removeAttribute("value"); // the server reads and checks now: no figure to show
          progressText.textContent = t("impReading");
        } else {
          bar.value = share;
          progressText.textContent = `${t("impUploading")} ${Math.round(share * 100)}%`;
        }
      });
      view.filter = "";
      view.page = 1;
      show(preview);
      if (el.isConnected && preview.id) history.replaceState(null, "", `#/import/${preview.id}`);
    } catch (error) {
      view.preview = null;
      view.refused = null;
      const columns = error.problem?.columns || error.problem?.headers;
      if (error.problem?.code === "import.wrong_header" && Array.isArray(columns) && columns.length) {
        // Map the sheet's columns here, then the same file goes up again.
        const source = sourceOf(code);
        view.source = source;
        view.fields = source.fields.length ? source.fields : fields;
        view.refused = { headers: columns, missing: error.problem.missing || [] };
        view.appliedMapping = initialMapping(view.refused.headers, { saved: source.column_map, recognised: source.recognised });
        view.mapping = { ...view.appliedMapping };
      }
      draw();
      const lines = flatMessages(error.problem?.errors);
      message.innerHTML = html`<p class="error" data-code="${error.problem?.code || ""}">${errorText(error)}${errorRef(error)}</p>
        ${lines.length ? html`<ul class="error small">${lines.map((l) => html`<li>${l}</li>`)}</ul>` : ""}`;
    } finally {
      button.disabled = false;
      progress.hidden = true;
    }
  }

  async function saveMapping(button) {
    const box = area.querySelector("#mapping-message");
    const { body, errors } = columnMapBody(view.mapping, view.fields, view.appliedMapping);
    if (errors) {
      const byName = new Map(view.fields.map((f) => [f.name, f]));
      const name = (f) => fieldName(byName.get(f) || { name: f });
      box.innerHTML = html`<ul class="error">
        ${Object.entries(errors.twice).map(([f, headers]) => html`<li>${t("impFieldTwice").replace("{field}", name(f)).replace("{headers}", headers.join("、"))}</li>`)}
        ${errors.missing.length ? html`<li>${t("impMissing").replace("{fields}", errors.missing.map(name).join("、"))}</li>` : ""}
      </ul>`;
      return;
    }
    button.disabled = true;
    box.innerHTML = "";
    try {
      await saveSource(body);
      if (button.dataset.reupload) {
        form.requestSubmit();
        return;
      }
      await refresh();
      toast(t("impMappingSaved"));
    } catch (error) {
      const slot = area.querySelector("#mapping-message");
      if (slot) slot.innerHTML = html`<p class="error">${errorText(error)}${errorRef(error)}</p>`;
    } finally {
      button.disabled = false;
    }
  }

  async function mapValue(button) {
    const tr = button.closest(".unknown-row");
    const ours = tr.querySelector(".unknown-select").value;
    const box = area.querySelector("#unknown-message");
    if (!ours) { box.innerHTML = html`<p class="error">${t("impChoose")}: ${tr.dataset.raw}</p>`; return; }
    button.disabled = true;
    box.innerHTML = "";
    try {
      await saveSource({ value_maps: valueMapsWith(view.source.value_maps, tr.dataset.kind, tr.dataset.raw, ours) });
      await refresh();
      toast(t("impValueSaved"));
    } catch (error) {
      const slot = area.querySelector("#unknown-message");
      if (slot) slot.innerHTML = html`<p class="error">${errorText(error)}${errorRef(error)}</p>`;
      button.disabled = false;
    }
  }

  async function confirm() {
    view.busy = true;
    drawConfirm();
    try {
      const before = view.preview;
      const result = await api("POST", `/api/imports/${before.id}/confirm`, { timeout: 300000 });
      view.busy = false;
      view.hints = repeatsByRef(before);
      // Looked at again, the created rows are duplicates of the new cases: their names.
      try {
        show(await api("GET", `/api/imports/${before.id}`, { timeout: 120000 }));
      } catch {
        view.result = result;
        view.named = new Map();
      }
      draw();
      area.querySelector("#import-result")?.scrollIntoView({ block: "start" });
    } catch (error) {
      view.busy = false;
      view.asking = false;
      drawConfirm();
      const box = area.querySelector("#import-confirm");
      box?.insertAdjacentHTML("beforeend", html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`);
    }
  }

  form.addEventListener("submit", upload);
  el.addEventListener("change", (event) => {
    const target = event.target;
    if (target.matches(".map-select")) {
      view.mapping[target.dataset.header] = target.value;
      drawConfirm();
    } else if (target.id === "row-filter") {
      view.filter = target.value;
      view.page = 1;
      drawRows();
      area.querySelector("#row-filter")?.focus();
    }
  });
  el.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target || target.disabled || !area.contains(target)) return;
    if (target.matches(".count-filter")) {
      view.filter = target.dataset.filter;
      view.page = 1;
      drawRows();
    } else if (target.matches(".page-prev, .page-next")) {
      view.page = Number(target.dataset.page);
      drawRows();
      area.querySelector("#import-rows")?.scrollIntoView({ block: "start" });
    } else if (target.id === "save-mapping") {
      saveMapping(target);
    } else if (target.matches(".map-value")) {
      mapValue(target);
    } else if (target.id === "import-confirm-button") {
      view.asking = true;
      drawConfirm();
      area.querySelector("#import-yes")?.focus();
    } else if (target.id === "import-no") {
      view.asking = false;
      drawConfirm();
    } else if (target.id === "import-yes") {
      confirm();
    }
  });

  // A preview opened by its address (#/import/<id>): shown as the server keeps it.
  if (importId) {
    try {
      show(await api("GET", `/api/imports/${importId}`));
      form.querySelector("#import-source").value = view.source.code;
    } catch (error) {
      message.innerHTML = html`<p class="error">${errorText(error)}${errorRef(error)}</p>`;
    }
  }
  return null;
}
