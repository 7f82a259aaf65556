// Look-back campaigns (回头看, seed 001) without the DOM, so node tests run it: the body
// that starts a campaign, the week picker's labels, annex 2's totals and rates, the
// re-check's body and the rectification plan's fields (annex 1) with their checks.

// ---- dates as the office types them ("YYYY-MM-DD", whole local days) ----------------
const DAY_MS = 86400000;

function utcDay(iso) {
  const [y, m, d] = String(iso).slice(0, 10).split("-").map(Number);
  return Date.UTC(y, m - 1, d);
}

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

// Today on this phone's calendar (a plan's 完成时限 is a local day).
export function localToday(now = new Date()) {
  const d = new Date(now.getTime() - now.getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 10);
}

export function addDays(day, n) {
  return isoDay(utcDay(day) + n * DAY_MS);
}

// A week picked by its Monday: "2026-11-30 – 12-06" (the year once, the end month-day).
export function weekLabel(start) {
  if (!start) return "";
  const end = addDays(start, 6);
  const tail = end.slice(0, 4) === start.slice(0, 4) ? end.slice(5) : end;
  return `${start.slice(0, 10)} – ${tail}`;
}

// The weeks to pick from, newest first; the chosen one marked (the server's default week
// when none was asked for).
export function weekOptions(weeks, chosen) {
  return [...new Set(weeks || [])].sort().reverse()
    .map((start) => ({ start, label: weekLabel(start), selected: start === chosen }));
}

// ---- annex 2: rates and totals -------------------------------------------------------
// "60%" of a rate {numerator, denominator, value}; "—" when there is nothing to divide.
export function pctText(rate) {
  if (!rate || !rate.denominator) return "—";
  const value = rate.value ?? rate.numerator / rate.denominator;
  return `${(Math.round(value * 1000) / 10).toFixed(1).replace(/\.0$/, "")}%`;
}

const COUNTS = ["total", "week_done", "done", "week_new", "new_total"];

// The totals row: the server's when it sends one, else summed from the rows (a rate is
// recomputed from its parts, never averaged).
export function tableTotals(rows, served = null) {
  if (served) return served;
  const totals = Object.fromEntries(COUNTS.map((k) => [k, 0]));
  for (const row of rows || []) {
    for (const k of COUNTS) totals[k] += Number(row[k] || 0);
  }
  totals.rate = { numerator: totals.done, denominator: totals.total,
    value: totals.total ? totals.done / totals.total : null };
  return totals;
}

// ---- starting a campaign --------------------------------------------------------------
// The form's values as POST /api/campaigns wants them: {body} or {errors} by field
// (checked here first; the server checks again and says why in both languages).
export function campaignBody(values, { preview = false } = {}) {
  const errors = {};
  const title = String(values.title || "").trim();
  // A preview needs no title (it counts); starting does.
  if (!title && !preview) errors.title = ["required"];
  if (title.length > 200) errors.title = ["campaignTitleLong"];
  if (!values.from) errors.from = ["required"];
  if (!values.to) errors.to = ["required"];
  if (values.from && values.to && values.to < values.from) errors.to = ["badPeriod"];
  if (Object.keys(errors).length) return { errors };
  const body = { ...(title ? { title } : {}), from: values.from, to: values.to };
  for (const key of ["channel", "category", "unit_id", "check_unit_id"]) {
    if (values[key]) body[key] = values[key];
  }
  if (preview) body.preview = true;
  return { body };
}

// ---- the re-check and its plan (annex 1) ---------------------------------------------
// Annex 1's columns in order: the field, its label key, required, and how it is typed.
export const PLAN_FIELDS = [
  { name: "problem_type", key: "planProblemType", required: false, input: "text" },
  { name: "original_problem", key: "planOriginal", required: false, input: "textarea" },
  { name: "new_problem", key: "planNewProblem", required: false, input: "textarea" },
  { name: "measures", key: "planMeasures", required: true, input: "textarea" },
  { name: "target", key: "planTarget", required: true, input: "textarea" },
  { name: "implementer", key: "planImplementer", required: true, input: "text" },
  { name: "acceptance_unit_id", key: "planAcceptanceUnit", required: true, input: "unit" },
  { name: "due_on", key: "planDueOn", required: true, input: "date" },
];

// A rebound or a new problem reopens the case, and then the plan is required.
export function needsPlan({ rebound, new_problem: found }) {
  return rebound === true || String(found || "").trim() !== "";
}

// What keeps a plan from being queued: [{field, key}] (key: the message's i18n key).
export function planProblems(plan, today = localToday()) {
  const problems = [];
  for (const field of PLAN_FIELDS) {
    if (field.required && !String(plan?.[field.name] ?? "").trim()) {
      problems.push({ field: field.name, key: "planRequired" });
    }
  }
  const due = String(plan?.due_on || "");
  if (due && !/^\d{4}-\d{2}-\d{2}$/.test(due)) problems.push({ field: "due_on", key: "planDueBad" });
  else if (due && due < today) problems.push({ field: "due_on", key: "planDuePast" });
  return problems;
}

// What the phone checks before a re-check is queued: rebound answered, and the plan
// when it is needed.
export function recheckProblems(values, today = localToday()) {
  const problems = [];
  if (values.rebound !== true && values.rebound !== false) {
    problems.push({ field: "rebound", key: "recheckReboundMissing" });
  }
  if (needsPlan(values)) problems.push(...planProblems(values.plan, today));
  return problems;
}

// The plan's first values, from the task: 问题类型 "按原交办问题来源填写" (the channel's
// name), 原交办具体问题 the case's subject, 新发现问题 what the checker found.
export function planDefaults(task, channelName = (x) => x) {
  const c = task?.case || {};
  return {
    problem_type: c.channel ? channelName(c.channel) : "",
    original_problem: c.subject || "",
    new_problem: "", measures: "", target: "", implementer: "",
    acceptance_unit_id: "", due_on: "",
  };
}

const trimmed = (value) => String(value ?? "").trim();

// POST /api/campaigns/<id>/rechecks's body (without client_id, which the outbox adds):
// only the contract's fields, so the same save always sends the same body.
export function recheckBody(task, values, fix, checkedAt) {
  const body = { task_id: task.id, rebound: values.rebound === true };
  const found = trimmed(values.new_problem);
  if (found) body.new_problem = found;
  if (trimmed(values.findings)) body.findings = trimmed(values.findings);
  if (fix) Object.assign(body, { lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy_m });
  if (checkedAt) body.checked_at = checkedAt;
  if (needsPlan(values)) {
    const plan = {};
    for (const { name } of PLAN_FIELDS) {
      const value = trimmed(values.plan?.[name]);
      if (value) plan[name] = value;
    }
    // 新发现问题 of the plan defaults to what the re-check found.
    if (!plan.new_problem && found) plan.new_problem = found;
    body.plan = plan;
  }
  return body;
}

// The phone's own list: the pending tasks, each with whether a re-check of it is already
// saved on the phone (waiting to be sent) or in the outbox as a draft.
export function tasksWithLocal(tasks, outboxItems) {
  const local = new Map();
  for (const item of outboxItems || []) {
    if (item.kind === "recheck" && item.taskId) local.set(item.taskId, item);
  }
  return (tasks || []).map((task) => {
    const item = local.get(task.id);
    return { ...task, local: item ? (item.state === "draft" ? "draft" : item.state === "failed" ? "failed" : "queued") : null };
  });
}
