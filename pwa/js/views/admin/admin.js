// The admin's desk: deadline rules (each save is a new version, tried first as a dry
// run that says what it would do to open cases), questionnaire templates (qeditor.js), the
// working-day calendar by year, and the webhooks reminders are posted to. Every list and
// check is the server's.
import { api } from "../../api.js";
import { has, t, term } from "../../i18n.js";
import { isAdmin, state, vocab } from "../../state.js";
import { errorRef, errorText, fmtTime, html, toast } from "../../ui.js";
import { drawPlatforms } from "./platforms.js";
import { drawQuestionnaires } from "./qeditor.js";

const COLOUR_ROWS = 4;
const MILESTONE_ROWS = 4;

function ruleSummary(rule) {
  const b = rule.body;
  const unit = b.counting === "hours" ? "from_hour" : "from_day";
  return html`<li class="card rule" data-code="${rule.code}">
    <div class="title-row"><h3>${b.title?.zh || b.title?.en || rule.code}</h3>
      <span class="muted small">${rule.code} · v${rule.version} · ${fmtTime(rule.created_at)}</span></div>
    <p class="small">${term(b.counting)} · ${t("dueIn")} ${b.due} · ${(b.channels || []).map(term).join("、")}
      ${b.key === true ? ` · ${t("keyOnly")}` : ""}</p>
    <p>${(b.colours || []).map((c) => html`<span class="chip chip-colour" data-colour="${c.colour}">${term(c.colour)} ${c[unit] ?? ""}</span> `)}</p>
    <button type="button" class="lite edit-rule" data-code="${rule.code}">${t("edit")}</button>
  </li>`;
}

// Deadline rules, questionnaires and calendar years are district-wide: only an admin whose
// units cover every unit saves them (the server says so in /api/me; it refuses the rest).
function districtWide() {
  return state.session?.user?.sees_every_unit !== false;
}

function ruleForm(rule, v) {
  const b = rule?.body || { channels: [], colours: [], milestones: [], counting: "calendar_days", due: 7, priority: 100 };
  const opt = (values, selected) => values.map((x) => html`<option value="${x}" ${x === selected ? "selected" : ""}>${term(x)}</option>`);
  const colours = [...(b.colours || [])];
  while (colours.length < COLOUR_ROWS) colours.push({});
  const milestones = [...(b.milestones || [])];
  while (milestones.length < MILESTONE_ROWS) milestones.push({});
  return html`<form id="rule-form" class="card" data-code="${rule?.code || ""}">
    <h2>${rule ? `${t("edit")} ${rule.code} (v${rule.version} → v${rule.version + 1})` : t("newRule")}</h2>
    <label>${t("code")} <input name="code" required maxlength="40" value="${rule?.code || ""}" ${rule ? "readonly" : ""}></label>
    <label>${t("title")} (中文) <input name="title_zh" value="${b.title?.zh || ""}"></label>
    <label>${t("title")} (English) <input name="title_en" value="${b.title?.en || ""}"></label>
    <label>${t("source")} <input name="source" maxlength="300" value="${b.source || ""}"></label>
    <fieldset><legend>${t("channel")}</legend>
      ${(v.channels || []).map((c) => html`<label class="chip"><input type="checkbox" name="channels" value="${c}" ${(b.channels || []).includes(c) ? "checked" : ""}> ${term(c)}</label>`)}
    </fieldset>
    <div class="row">
      <label>${t("keyOnly")} <select name="key">
        <option value="">${t("any")}</option>
        <option value="true" ${b.key === true ? "selected" : ""}>${t("yes")}</option>
        <option value="false" ${b.key === false ? "selected" : ""}>${t("no")}</option></select></label>
      <label>${t("priority")} <input name="priority" type="number" value="${b.priority ?? 100}"></label>
      <label>${t("counting")} <select name="counting">${opt(v.countings || [], b.counting)}</select></label>
      <label>${t("dueIn")} <input name="due" type="number" min="1" required value="${b.due ?? ""}"></label>
      <label>${t("maxExtension")} <input name="max_extension" type="number" min="0" value="${b.max_extension ?? ""}"></label>
      <label class="chip"><input type="checkbox" name="restart_on_transfer" ${b.restart_on_transfer ? "checked" : ""}> ${t("restartOnTransfer")}</label>
      <label class="chip"><input type="checkbox" name="rest_day_rollover" ${b.rest_day_rollover ? "checked" : ""}> ${t("restDayRollover")}</label>
    </div>
    <fieldset><legend>${t("colours")} <span class="muted small">${t("coloursHint")}</span></legend>
      ${colours.map((c, i) => html`<div class="row colour-row">
        <select name="colour_${i}"><option value="">—</option>${opt(v.colours || [], c.colour)}</select>
        <input name="colour_from_${i}" type="number" min="0" aria-label="${t("from")}" value="${c.from_day ?? c.from_hour ?? ""}"></div>`)}
    </fieldset>
    <fieldset><legend>${t("milestones")} <span class="muted small">${t("milestonesHint")}</span></legend>
      ${milestones.map((m, i) => html`<div class="row milestone-row">
        <input name="milestone_${i}" aria-label="${t("name")}" value="${m.name || ""}">
        <input name="milestone_day_${i}" type="number" min="1" aria-label="${t("ruleDay")}" placeholder="${t("ruleDay")}" value="${m.day ?? ""}">
        <input name="milestone_hours_${i}" type="number" min="1" aria-label="${t("hours")}" placeholder="${t("hours")}" value="${m.hours ?? ""}">
        <label class="chip"><input type="checkbox" name="milestone_until_${i}" ${m.until === "dispatched" ? "checked" : ""}> ${t("untilDispatched")}</label></div>`)}
    </fieldset>
    <div class="row">
      <button type="button" id="rule-dry-run" class="lite">${t("dryRun")}</button>
      ${districtWide() ? html`<button type="submit" id="rule-save">${t("saveVersion")}</button>` : ""}
    </div>
    <div id="rule-result" role="status"></div>
  </form>`;
}

// The form as the API's rule body; empty rows left out.
function ruleBody(form) {
  const f = new FormData(form);
  const num = (name) => (f.get(name) === "" || f.get(name) === null ? undefined : Number(f.get(name)));
  const hours = f.get("counting") === "hours";
  const colours = [];
  for (let i = 0; i < COLOUR_ROWS; i++) {
    if (!f.get(`colour_${i}`)) continue;
    colours.push({ colour: f.get(`colour_${i}`), [hours ? "from_hour" : "from_day"]: num(`colour_from_${i}`) });
  }
  const milestones = [];
  for (let i = 0; i < MILESTONE_ROWS; i++) {
    const name = (f.get(`milestone_${i}`) || "").trim();
    if (!name) continue;
    const m = { name };
    if (num(`milestone_day_${i}`) !== undefined) m.day = num(`milestone_day_${i}`);
    if (num(`milestone_hours_${i}`) !== undefined) m.hours = num(`milestone_hours_${i}`);
    if (f.get(`milestone_until_${i}`)) m.until = "dispatched";
    milestones.push(m);
  }
  const key = f.get("key");
  return {
    code: f.get("code").trim(),
    title: { zh: f.get("title_zh"), en: f.get("title_en") },
    source: f.get("source"),
    channels: f.getAll("channels"),
    key: key === "" ? null : key === "true",
    priority: num("priority") ?? 100,
    counting: f.get("counting"),
    due: num("due"),
    colours,
    milestones,
    restart_on_transfer: Boolean(f.get("restart_on_transfer")),
    // Only a calendar-day count moves off a rest day (the server refuses it elsewhere).
    rest_day_rollover: f.get("counting") === "calendar_days" && Boolean(f.get("rest_day_rollover")),
    max_extension: num("max_extension") ?? null,
  };
}

function impactText(impact) {
  return html`<p><b>${t("impact")}</b>: ${t("openCasesUnderRule")} ${impact.open_cases};
    ${t("examined")} ${impact.examined}; ${t("wouldMoveDue")} ${impact.would_move_due}
    (${t("earlier")} ${impact.would_be_due_earlier}). <span class="muted">${t("newCasesOnly")}</span></p>`;
}

function problemText(error) {
  const code = error.problem?.code;
  if (code && has(code)) return html`<p class="error" role="alert" data-code="${code}">${errorText(error)}${errorRef(error)}</p>`;
  const fields = error.problem?.errors ? Object.entries(error.problem.errors)
    .map(([k, v]) => `${k}: ${[].concat(v).map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" ")}`) : [];
  return html`<p class="error" role="alert">${errorText(error)}${errorRef(error)}</p>${fields.length ? html`<ul class="error small">${fields.map((x) => html`<li>${x}</li>`)}</ul>` : ""}`;
}

async function drawRules(section, v) {
  const rules = (await api("GET", "/api/deadline-rules")).items || [];
  section.innerHTML = html`<div class="title-row"><h2>${t("deadlineRules")}</h2>
      <button type="button" class="lite" id="new-rule">＋ ${t("newRule")}</button></div>
    <ul class="rules">${rules.map(ruleSummary)}</ul><div id="rule-editor"></div>`;
  const editor = section.querySelector("#rule-editor");
  const open = (rule) => {
    editor.innerHTML = ruleForm(rule, v);
    const form = editor.querySelector("#rule-form");
    const result = form.querySelector("#rule-result");
    const send = async (dryRun) => {
      result.innerHTML = html`<p class="muted">${t("sending")}</p>`;
      try {
        const answer = await api("POST", `/api/deadline-rules${dryRun ? "?dry_run=true" : ""}`, { body: ruleBody(form) });
        result.innerHTML = impactText(answer.impact);
        if (!dryRun) {
          toast(`${answer.rule.code} v${answer.rule.version} ${t("saved")}`);
          await drawRules(section, v);
        }
      } catch (error) {
        result.innerHTML = problemText(error);
      }
    };
    form.querySelector("#rule-dry-run").addEventListener("click", () => send(true));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      send(!districtWide()); // Enter in a street admin's form only tries the rule
    });
    form.scrollIntoView({ block: "start" });
  };
  section.querySelector("#new-rule").addEventListener("click", () => open(null));
  for (const button of section.querySelectorAll(".edit-rule")) {
    button.addEventListener("click", () => open(rules.find((r) => r.code === button.dataset.code)));
  }
}

async function drawCalendar(section) {
  const answer = await api("GET", "/api/calendar");
  section.innerHTML = html`<h2>${t("workCalendar")}</h2>
    ${answer.missing_year ? html`<p class="error" role="alert">${t("calendarMissing").replaceAll("{year}", answer.missing_year)}</p>` : ""}
    <div class="table-wrap" tabindex="0"><table class="calendar-years"><thead><tr><th>${t("year")}</th><th>${t("daysLoaded")}</th><th>${t("source")}</th><th>${t("loadedAt")}</th></tr></thead>
      <tbody>${(answer.items || []).map((y) => html`<tr data-year="${y.year}"><td>${y.year}</td><td>${y.days}</td><td class="small">${y.source}</td><td class="small">${fmtTime(y.loaded_at)}</td></tr>`)}</tbody></table></div>
    ${districtWide() ? html`<form id="calendar-form" class="row">
      <label>${t("year")} <input name="year" type="number" min="2000" max="2099" required value="${new Date().getFullYear() + 1}"></label>
      <label>${t("calendarFile")} <input name="file" type="file" accept="application/json,.json" required></label>
      <button type="submit">${t("loadYear")}</button>
    </form>
    <p class="muted small">${t("calendarHint")}</p>` : ""}
    <div id="calendar-result" role="status"></div>`;
  section.querySelector("#calendar-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const out = section.querySelector("#calendar-result");
    try {
      const parsed = JSON.parse(await form.file.files[0].text());
      const body = Array.isArray(parsed) ? { days: parsed } : parsed;
      const loaded = await api("PUT", `/api/calendar/${form.year.value}`, { body });
      toast(`${loaded.year}: ${loaded.days.length} ${t("daysLoaded")}`);
      await drawCalendar(section);
    } catch (error) {
      out.innerHTML = error instanceof SyntaxError
        ? html`<p class="error" role="alert">${t("notJson")}</p>` : problemText(error);
    }
  });
}

async function drawWebhooks(section) {
  const hooks = (await api("GET", "/api/webhooks")).items || [];
  section.innerHTML = html`<h2>${t("webhooks")}</h2>
    <ul class="hooks">${hooks.map((h) => html`<li class="card" data-hook-id="${h.id}">
      <code>${h.url}</code> <span class="chip">${h.active ? t("active") : t("inactive")}</span>
      <span class="muted small">${fmtTime(h.created_at)}</span>
      ${h.active ? html`<button type="button" class="lite deactivate" data-hook-id="${h.id}">${t("deactivate")}</button>` : ""}</li>`)}</ul>
    <form id="hook-form" class="row">
      <label>URL <input name="url" type="url" required placeholder="https://"></label>
      <button type="submit">${t("addWebhook")}</button>
    </form>
    <p class="muted small">${t("webhookHint")}</p>
    <div id="hook-result" role="status"></div>`;
  const out = section.querySelector("#hook-result");
  section.querySelector("#hook-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = new FormData(event.target);
    try {
      const hook = await api("POST", "/api/webhooks", { body: { url: f.get("url") } });
      await drawWebhooks(section);
      section.querySelector("#hook-result").innerHTML = html`<p>${t("secretOnce")} <code id="hook-secret">${hook.secret}</code></p>`;
    } catch (error) {
      // Why an address is refused, in the user's language, above the server's reason.
      out.innerHTML = html`${error.code === "webhook.bad_url" ? html`<p class="error">${t("webhook.bad_url")}</p>` : ""}${problemText(error)}`;
    }
  });
  for (const button of section.querySelectorAll(".deactivate")) {
    button.addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/webhooks/${button.dataset.hookId}`);
        await drawWebhooks(section);
      } catch (error) {
        out.innerHTML = problemText(error);
      }
    });
  }
}

export async function renderAdmin(view) {
  const v = await vocab();
  if (!isAdmin()) {
    view.innerHTML = html`<p class="error" role="alert">${t("adminOnly")}</p>`;
    return;
  }
  view.innerHTML = html`<section class="admin" id="admin"><h1>${t("admin")}</h1>
    ${districtWide() ? "" : html`<p class="notice" id="district-only" role="note">${t("districtOnlyNotice")}</p>`}
    <nav class="admin-toc" aria-label="${t("admin")}">
      <a href="#/admin" data-jump="admin-rules">${t("deadlineRules")}</a>
      <a href="#/admin" data-jump="admin-questionnaires">${t("questionnaires")}</a>
      <a href="#/admin" data-jump="admin-calendar">${t("workCalendar")}</a>
      <a href="#/admin" data-jump="admin-webhooks">${t("webhooks")}</a>
      ${districtWide() ? html`<a href="#/admin" data-jump="admin-platforms">${t("platforms")}</a>` : ""}</nav>
    <section id="admin-rules"><p class="muted">${t("loading")}</p></section>
    <section id="admin-questionnaires"></section>
    <section id="admin-calendar"></section>
    <section id="admin-webhooks"></section>
    ${districtWide() ? html`<section id="admin-platforms"></section>` : ""}</section>`;
  // In-page links: the router owns the hash, so they scroll instead.
  view.querySelector(".admin-toc").addEventListener("click", (event) => {
    const link = event.target.closest("[data-jump]");
    if (!link) return;
    event.preventDefault();
    view.querySelector(`#${link.dataset.jump}`)?.scrollIntoView({ block: "start" });
  });
  const parts = [[drawRules, "#admin-rules", v],
    [drawQuestionnaires, "#admin-questionnaires", v, districtWide()],
    [drawCalendar, "#admin-calendar"], [drawWebhooks, "#admin-webhooks"],
    // Connecting the platforms is the district admin's (the server refuses a street's).
    ...(districtWide() ? [[drawPlatforms, "#admin-platforms", v]] : [])];
  await Promise.all(parts.map(async ([draw, selector, ...rest]) => {
    const section = view.querySelector(selector);
    try {
      await draw(section, ...rest);
    } catch (error) {
      section.innerHTML = problemText(error);
    }
  }));
}
