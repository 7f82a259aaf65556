// Revisit samples (回访抽样, seed 000's yearly 10% phone spot check): the office draws a
// share of the handled cases of a period, stratified by unit and channel, from a recorded
// seed; assigns it to revisit staff; and follows its figures (回访率, 满意度, 不满意率) by
// unit and channel. A desk screen first (tables), usable on a phone (tables stack).
import { api } from "../../api.js";
import { t, term } from "../../i18n.js";
import { go } from "../../nav.js";
import { cachedGet, isManager, state, vocab } from "../../state.js";
import { appendRef, errorRef, errorText, flatMessages, fmtTime, html, safeUrl, toast } from "../../ui.js";

// The strata a sample may use, from the server (GET /api/vocab).
function strataChoices(v) {
  return v.sample_strata || [];
}

export function pct(rate) {
  if (rate == null) return "—";
  return `${(rate * 100).toFixed(1).replace(/\.0$/, "")}%`;
}

// "3/5 (60%)": the numerator and denominator always shown beside the rate.
function rateCell(r) {
  return html`<span class="rate"><b>${pct(r?.rate)}</b> <span class="muted small">${r?.numerator ?? 0}/${r?.denominator ?? 0}</span></span>`;
}

function sharePct(share) {
  return `${+(share * 100).toFixed(2)}%`;
}

function strataNames(strata) {
  return strata?.length ? strata.map(term).join(" × ") : t("notStratified");
}

function dayOf(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

// The period as the office reads it: its first day to its last (the server's "to" is the
// first moment after it).
function periodText(s) {
  return `${dayOf(s.from)} — ${dayOf(new Date(Date.parse(s.to) - 1).toISOString())}`;
}

// "unit=<id>|channel=online" as "东湖街道 · 网络投诉".
export function stratumText(stratum, units) {
  if (!stratum || stratum === "all") return t("notStratified");
  return stratum.split("|").map((part) => {
    const [name, value] = part.split("=");
    return name === "unit" ? units.get(value) || value : term(value);
  }).join(" · ");
}

// ---- the list and the draw ------------------------------------------------------------
function drawForm(v) {
  const year = new Date().getFullYear();
  return html`<form id="sample-form" class="card sample-form" novalidate>
    <h2>${t("drawSample")}</h2>
    <div class="sample-fields">
      <div><label for="sample-from">${t("from")}</label>
        <input type="date" name="from" id="sample-from" required value="${year}-01-01">
        <p class="error small field-error" data-for="from" hidden></p></div>
      <div><label for="sample-to">${t("periodTo")}</label>
        <input type="date" name="to" id="sample-to" required value="${dayOf(new Date().toISOString())}">
        <p class="error small field-error" data-for="to" hidden></p></div>
      <div><label for="sample-share">${t("sharePct")}</label>
        <input type="number" name="share" id="sample-share" required min="0.1" max="100" step="0.1" value="10" inputmode="decimal">
        <p class="error small field-error" data-for="share" hidden></p></div>
      <div><label for="sample-seed">${t("seed")} <span class="muted small">(${t("optional")})</span></label>
        <input name="seed" id="sample-seed" maxlength="40" autocomplete="off" placeholder="${t("seedHint")}">
        <p class="error small field-error" data-for="seed" hidden></p></div>
    </div>
    <fieldset><legend>${t("strata")}</legend>
      <div class="chips">${strataChoices(v).map((s) => html`<label class="chip"><input type="checkbox" name="strata" value="${s}" checked> ${term(s)}</label>`)}</div>
      <p class="muted small">${t("strataHint")}</p>
      <p class="error small field-error" data-for="strata" hidden></p>
    </fieldset>
    <div class="row"><button type="submit" class="primary" id="draw-sample">${t("drawNow")}</button></div>
    <div id="sample-result" role="alert"></div>
  </form>`;
}

function sampleRow(s) {
  return html`<tr data-sample-id="${s.id}">
    <td data-label="${t("drawnAt")}"><a href="#/samples/${s.id}">${fmtTime(s.created_at)}</a></td>
    <td data-label="${t("samplePeriod")}">${periodText(s)}</td>
    <td data-label="${t("share")}" class="n">${sharePct(s.share)}</td>
    <td data-label="${t("strata")}">${strataNames(s.strata)}</td>
    <td data-label="${t("drawn")}" class="n">${s.drawn} / ${s.population}</td>
    <td data-label="${t("seed")}"><code>${s.seed}</code></td>
  </tr>`;
}

// What the server refused, each message by its field; the rest above the button.
function showProblem(form, error) {
  const box = form.querySelector("#sample-result");
  const errors = error.problem?.errors || {};
  const known = new Set();
  for (const slot of form.querySelectorAll(".field-error")) {
    const name = slot.dataset.for;
    const messages = errors[name];
    slot.hidden = !messages;
    slot.textContent = messages ? flatMessages(messages).join(" ") : "";
    if (messages) {
      known.add(name);
      form.querySelector(`[name="${name}"]`)?.setAttribute("aria-invalid", "true");
    }
  }
  // The server's words are English: the known refusals are said in the app's language.
  const special = { "sample.empty": t("emptyPopulation"), "sample.bad_period": t("badPeriod") };
  const where = { "sample.empty": "from", "sample.bad_period": "to" }[error.problem?.code];
  if (where) {
    const slot = form.querySelector(`.field-error[data-for="${where}"]`);
    slot.hidden = false;
    slot.textContent = special[error.problem.code];
    form.querySelector(`[name="${where}"]`).setAttribute("aria-invalid", "true");
    known.add(where);
  }
  const others = Object.keys(errors).filter((k) => !known.has(k));
  // Messages shown by their fields: above the button, only that there are some.
  const headline = known.size ? t("fieldsWrong") : special[error.problem?.code] || errorText(error);
  box.innerHTML = html`<p class="error">${headline}${errorRef(error)}</p>
    ${others.length ? html`<ul class="error small">${others.map((k) => html`<li>${k}: ${flatMessages(errors[k]).join(" ")}</li>`)}</ul>` : ""}`;
}

function clearErrors(form) {
  for (const slot of form.querySelectorAll(".field-error")) { slot.hidden = true; slot.textContent = ""; }
  for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  form.querySelector("#sample-result").innerHTML = "";
}

// The form's values as the API wants them: {body}, or {errors} by field when the server
// would refuse (checked here first). Dates are whole days in the office's time: from the
// start of "from" to the start of the day after "to" (the server's period is [from, to)).
export function sampleBody({ from, to, share, seed, strata }) {
  const errors = {};
  const pctValue = Number(String(share ?? "").replace(",", "."));
  if (!from) errors.from = [t("required")];
  if (!to) errors.to = [t("required")];
  if (from && to && to < from) errors.to = [t("badPeriod")];
  if (!(String(share ?? "").trim() !== "" && pctValue > 0 && pctValue <= 100)) errors.share = [t("badShare")];
  if (Object.keys(errors).length) return { errors };
  const end = new Date(`${to}T00:00:00`);
  end.setDate(end.getDate() + 1);
  const given = String(seed || "").trim();
  return { body: {
    from: new Date(`${from}T00:00:00`).toISOString(), to: end.toISOString(),
    share: Math.round(pctValue * 100) / 10000, strata: [...strata],
    ...(given ? { seed: given } : {}),
  } };
}

function readForm(form) {
  const f = new FormData(form);
  return sampleBody({ from: f.get("from"), to: f.get("to"), share: f.get("share"),
    seed: f.get("seed"), strata: f.getAll("strata") });
}

export async function renderSamples(view) {
  const v = await vocab();
  if (!isManager() && !(v.role_sets?.revisit || []).includes(state.session?.user?.role)) {
    view.innerHTML = html`<p class="error" role="alert">${t("officeOnly")}</p>`;
    return;
  }
  view.innerHTML = html`<section class="samples" id="samples">
    <div class="title-row"><h1>${t("samples")}</h1></div>
    ${isManager() ? drawForm(v) : ""}
    <h2>${t("allSamples")}</h2>
    <div id="sample-list"><p class="muted">${t("loading")}</p></div>
  </section>`;
  const list = view.querySelector("#sample-list");
  const loadList = async () => {
    try {
      const items = (await api("GET", "/api/revisit-samples")).items || [];
      list.innerHTML = items.length ? html`<div class="table-wrap" tabindex="0"><table class="data stack" id="sample-table">
        <thead><tr><th>${t("drawnAt")}</th><th>${t("samplePeriod")}</th><th class="n">${t("share")}</th>
          <th>${t("strata")}</th><th class="n">${t("drawn")} / ${t("population")}</th><th>${t("seed")}</th></tr></thead>
        <tbody>${items.map(sampleRow)}</tbody></table></div>`.toString()
        : html`<p class="muted" id="no-samples">${t("noSamples")}</p>`.toString();
    } catch (error) {
      list.innerHTML = html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>`.toString();
    }
  };
  // The list loads while the form is made ready: "Draw now" pressed before the list
  // arrived (a slow network) found no handler yet, and the browser submitted the form
  // itself, reloading the app and losing what was typed.
  const listed = loadList();
  const form = view.querySelector("#sample-form");
  if (!form) {
    await listed;
    return;
  }
  form.addEventListener("input", (event) => {
    event.target.removeAttribute?.("aria-invalid");
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const { body, errors } = readForm(form);
    if (errors) {
      showProblem(form, { problem: { errors }, message: "" });
      form.querySelector("[aria-invalid]")?.focus();
      return;
    }
    const button = form.querySelector("#draw-sample");
    button.disabled = true;
    try {
      const sample = await api("POST", "/api/revisit-samples", { body });
      toast(`${t("sampleDrawn")}: ${sample.cases?.length ?? 0}`);
      go(`#/samples/${sample.id}`);
    } catch (error) {
      button.disabled = false;
      showProblem(form, error);
      form.querySelector("[aria-invalid]")?.focus();
    }
  });
  await listed;
}

// ---- one sample ----------------------------------------------------------------------
function figureTiles(f) {
  const tile = (key, r, extra = "") => html`<div class="figure card" data-figure="${key}">
    <span class="figure-name">${t(key)}</span>
    <b class="figure-rate${r?.rate == null ? " none" : ""}">${pct(r?.rate)}</b>
    <span class="figure-parts"><span class="numerator">${r?.numerator ?? 0}</span> / <span class="denominator">${r?.denominator ?? 0}</span>${extra}</span>
  </div>`;
  return html`<div class="figures" id="figures">
    ${tile("revisitRate", f.revisit_rate)}
    ${tile("satisfactionRate", f.satisfaction_rate)}
    ${tile("dissatisfiedRate", f.dissatisfied_rate)}
  </div>
  <p class="muted small figure-counts">${t("sampled")} <b>${f.sampled}</b> · ${t("revisited")} <b>${f.revisited}</b>
    · ${t("reached")} <b>${f.reached}</b> · ${t("unreachable")} <b>${f.unreachable}</b></p>`;
}

function groupTable(id, title, rows, key, nameOf) {
  if (!rows?.length) return "";
  return html`<h2>${title}</h2><div class="table-wrap" tabindex="0"><table class="data stack" id="${id}">
    <thead><tr><th>${t(key)}</th><th class="n">${t("sampled")}</th><th class="n">${t("revisited")}</th>
      <th class="n">${t("reached")}</th><th class="n">${t("unreachable")}</th><th class="n">${t("revisitRate")}</th>
      <th class="n">${t("satisfactionRate")}</th><th class="n">${t("dissatisfiedRate")}</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr data-key="${r[key]?.id}">
      <th scope="row" data-label="${t(key)}">${nameOf(r[key])}</th>
      <td class="n" data-label="${t("sampled")}">${r.sampled}</td>
      <td class="n" data-label="${t("revisited")}">${r.revisited}</td>
      <td class="n" data-label="${t("reached")}">${r.reached}</td>
      <td class="n" data-label="${t("unreachable")}">${r.unreachable}</td>
      <td class="n" data-label="${t("revisitRate")}">${rateCell(r.revisit_rate)}</td>
      <td class="n" data-label="${t("satisfactionRate")}">${rateCell(r.satisfaction_rate)}</td>
      <td class="n" data-label="${t("dissatisfiedRate")}">${rateCell(r.dissatisfied_rate)}</td></tr>`)}</tbody>
  </table></div>`;
}

function allocationTable(s, units) {
  return html`<div class="table-wrap" tabindex="0"><table class="data stack allocation" id="allocation">
    <thead><tr><th>${t("stratum")}</th><th class="n">${t("population")}</th><th class="n">${t("proportional")}</th><th class="n">${t("drawn")}</th></tr></thead>
    <tbody>${(s.strata_figures || []).map((a) => html`<tr data-stratum="${a.stratum}">
      <th scope="row" data-label="${t("stratum")}">${stratumText(a.stratum, units)}</th>
      <td class="n" data-label="${t("population")}">${a.population}</td>
      <td class="n muted" data-label="${t("proportional")}">${+(a.population * s.share).toFixed(2)}</td>
      <td class="n" data-label="${t("drawn")}"><b>${a.drawn}</b></td></tr>`)}</tbody>
    <tfoot><tr><th scope="row" data-label="${t("stratum")}">${t("total")}</th><td class="n" data-label="${t("population")}">${s.population}</td>
      <td class="n muted" data-label="${t("proportional")}">${+(s.population * s.share).toFixed(2)}</td>
      <td class="n" data-label="${t("drawn")}"><b>${(s.strata_figures || []).reduce((n, a) => n + a.drawn, 0)}</b></td></tr></tfoot>
  </table></div>`;
}

function revisitCell(r) {
  if (!r) return html`<span class="muted">${t("notRevisited")}</span>`;
  return html`<span class="chip-status" data-outcome="${r.outcome}">${term(`revisitOutcome.${r.outcome}`)}</span>
    ${r.satisfaction ? html` <span class="chip-status satisfaction-${r.satisfaction}">${term(r.satisfaction)}</span>` : ""}
    <span class="muted small">${fmtTime(r.at)}</span>`;
}

function casesTable(s, units) {
  return html`<div class="table-wrap" tabindex="0"><table class="data stack" id="sample-cases">
    <thead><tr><th>${t("case")}</th><th>${t("unit")}</th><th>${t("channel")}</th><th>${t("assignee")}</th><th>${t("revisitState")}</th></tr></thead>
    <tbody>${(s.cases || []).map((c) => html`<tr data-case-id="${c.case_id}" data-outcome="${c.revisit?.outcome || ""}">
      <td data-label="${t("case")}"><a href="#/case/${c.case_id}">${c.subject}</a></td>
      <td data-label="${t("unit")}">${c.unit?.name || units.get(c.unit?.id) || ""}</td>
      <td data-label="${t("channel")}">${term(c.channel)}</td>
      <td data-label="${t("assignee")}" class="assignee">${c.assignee ? c.assignee.name : html`<span class="muted">${t("unassigned")}</span>`}</td>
      <td data-label="${t("revisitState")}" class="revisit-state">${revisitCell(c.revisit)}</td></tr>`)}</tbody>
  </table></div>`;
}

function assignForm(s, people) {
  const open = (s.cases || []).filter((c) => !c.assignee).length;
  if (!open) return html`<p class="muted" id="all-assigned">${t("allAssigned")}</p>`;
  if (!people.length) return html`<p class="muted">${t("noRevisitStaff")}</p>`;
  return html`<form id="assign-form" class="card" novalidate>
    <h2>${t("assignTo")} <span class="muted small">${t("unassigned")} ${open}</span></h2>
    <div class="chips">${people.map((p) => html`<label class="chip"><input type="checkbox" name="user_ids" value="${p.id}">
      ${p.display_name || p.username} <span class="muted small">${term(`role.${p.role}`)}</span></label>`)}</div>
    <p class="muted small">${t("assignHint")}</p>
    <p class="error small" id="assign-error" role="alert" hidden></p>
    <div class="row"><button type="submit" class="primary" id="assign-sample">${t("assign")}</button></div>
  </form>`;
}

// Voiding a sample drawn wrongly (audited; its tasks go with it), folded away.
function voidForm() {
  return html`<details class="card" id="void-box"><summary>${t("voidSample")}</summary>
    <form id="void-form" novalidate>
      <label for="void-reason">${t("voidReason")} <span class="req" aria-hidden="true">*</span></label>
      <textarea id="void-reason" name="reason" rows="2"></textarea>
      <p class="error small" id="void-error" role="alert" hidden></p>
      <button type="submit" id="void-sample">${t("voidSample")}</button>
    </form></details>`;
}

// Revisit staff the office may assign: the server's revisit role set, from GET /api/users.
async function revisitStaff(v) {
  const roles = v.role_sets?.revisit || [];
  const people = (await cachedGet("/api/users")).items || [];
  return people.filter((p) => roles.includes(p.role))
    .sort((a, b) => roles.indexOf(a.role) - roles.indexOf(b.role)
      || (a.display_name || a.username).localeCompare(b.display_name || b.username));
}

export async function renderSample(view, sampleId) {
  const v = await vocab();
  if (!isManager() && !(v.role_sets?.revisit || []).includes(state.session?.user?.role)) {
    view.innerHTML = html`<p class="error" role="alert">${t("officeOnly")}</p>`;
    return;
  }
  view.innerHTML = html`<p class="muted">${t("loading")}</p>`;
  let units = new Map();
  let people = [];
  const [sample, unitList, staff] = await Promise.all([
    api("GET", `/api/revisit-samples/${sampleId}`).catch((error) => ({ error })),
    cachedGet("/api/units").catch(() => ({ items: [] })),
    isManager() ? revisitStaff(v).catch(() => []) : [],
  ]);
  if (sample.error) {
    view.innerHTML = html`<a class="back" href="#/samples">← ${t("samples")}</a>
      <p class="error" role="alert">${errorText(sample.error)}${errorRef(sample.error)}</p>`;
    return;
  }
  units = new Map((unitList.items || []).map((u) => [u.id, u.name]));
  for (const c of sample.cases || []) if (c.unit?.id) units.set(c.unit.id, c.unit.name);
  people = staff;

  const draw = (s) => {
    view.innerHTML = html`<section class="sample" id="sample" data-sample-id="${s.id}">
      <a class="back" href="#/samples">← ${t("samples")}</a>
      <div class="title-row"><h1>${t("samples")} <span class="muted h1-sub">${periodText(s)}</span></h1>
        <span class="row"><a class="button" id="export-sample" download
          href="${safeUrl(`/api/revisit-samples/${encodeURIComponent(s.id)}/export.xlsx`)}">${t("exportXlsx")}</a>
        <button type="button" id="refresh-sample">${t("refresh")}</button></span></div>
      ${s.voided_at ? html`<p class="notice" id="sample-voided" role="status">${t("sampleVoided")} · ${fmtTime(s.voided_at)} · ${s.void_reason || ""}</p>` : ""}
      <dl class="facts sample-facts">
        <dt>${t("samplePeriod")}</dt><dd>${periodText(s)}</dd>
        <dt>${t("share")}</dt><dd>${sharePct(s.share)}</dd>
        <dt>${t("strata")}</dt><dd>${strataNames(s.strata)}</dd>
        <dt>${t("drawn")}</dt><dd>${(s.cases || []).length} / ${s.population}</dd>
        <dt>${t("drawnBy")}</dt><dd>${s.created_by?.name || ""} · ${fmtTime(s.created_at)}</dd>
      </dl>
      <section class="card redraw" aria-labelledby="redraw-title">
        <h2 id="redraw-title">${t("seed")}: <code id="sample-seed-value">${s.seed}</code></h2>
        <p class="small">${t("populationHash")} (${t("population")} ${s.population}):
          <code class="hash" id="population-hash">${s.population_hash}</code></p>
        <p class="muted small">${t("redrawHint")}</p>
      </section>
      <h2>${t("figures")}</h2>
      ${figureTiles(s.figures || {})}
      <div class="sample-grid">
        <div><h2>${t("allocation")}</h2>${allocationTable(s, units)}</div>
        <div>${groupTable("by-unit", t("byUnit"), s.by_unit, "unit", (u) => u?.name || units.get(u?.id) || "")}</div>
        <div>${groupTable("by-channel", t("byChannel"), s.by_channel, "channel", (c) => term(c?.id))}</div>
      </div>
      <h2>${t("sampleCases")}</h2>
      ${casesTable(s, units)}
      ${s.voided_at ? "" : html`<div id="assign-slot">${isManager() ? assignForm(s, people) : ""}</div>`}
      ${isManager() && !s.voided_at ? voidForm() : ""}
    </section>`;
    view.querySelector("#refresh-sample").addEventListener("click", async () => {
      try {
        draw(await api("GET", `/api/revisit-samples/${s.id}`));
        toast(t("reloaded"));
      } catch (error) {
        toast(errorText(error), "error", error);
      }
    });
    view.querySelector("#void-form")?.addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      const box = form.querySelector("#void-error");
      const reason = form.reason.value.trim();
      if (!reason) {
        box.hidden = false;
        box.textContent = t("sample.void_reason");
        return;
      }
      try {
        draw(await api("POST", `/api/revisit-samples/${s.id}/void`, { body: { reason } }));
        toast(t("sampleVoided"));
      } catch (error) {
        box.hidden = false;
        box.textContent = errorText(error);
        appendRef(box, error);
      }
    });
    view.querySelector("#assign-form")?.addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = event.target;
      const box = form.querySelector("#assign-error");
      const ids = new FormData(form).getAll("user_ids");
      if (!ids.length) {
        box.hidden = false;
        box.textContent = t("pickSomeone");
        return;
      }
      form.querySelector("#assign-sample").disabled = true;
      try {
        const answer = await api("POST", `/api/revisit-samples/${s.id}/assign`, { body: { user_ids: ids } });
        const open = (s.cases || []).filter((c) => !c.assignee).length;
        draw(answer);
        toast(`${open} ${t("assignedCount")}`);
      } catch (error) {
        form.querySelector("#assign-sample").disabled = false;
        box.hidden = false;
        box.textContent = [errorText(error), ...flatMessages(error.problem?.errors?.user_ids)].join(" ");
        appendRef(box, error);
      }
    });
  };
  if (view.isConnected) draw(sample);
}
