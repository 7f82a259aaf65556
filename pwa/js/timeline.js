// One timeline event (or a conflict's change) in words: when, who, what, why.
// Each member of an event's data has an entry below: its label and how its value reads.
// A member without one is not shown (ids, hashes, internals), so the timeline never
// shows a raw key; the same key may read differently by event kind (a visit's `kind` is
// the kind of check, a survey respondent's is who was asked).
import { getLang, has, t, term } from "./i18n.js";
import { fmtDue, fmtTime, html } from "./ui.js";
import { feedbackName } from "./leaders.js";

// A list read out: 、 in Chinese, a comma in English.
const joined = (items) => items.join(getLang() === "zh" ? "、" : ", ");
const text = (value) => (typeof value === "string" ? value : "");
const count = (value) => (Number.isFinite(value) ? String(value) : "");
const time = (value) => (value ? fmtTime(value) : "");
const named = (value) => (value && typeof value === "object" ? value.name || value.display_name || "" : text(value));
const names = (value) => (Array.isArray(value) ? joined(value.map(named).filter(Boolean)) : named(value));
const texts = (value) => (Array.isArray(value) ? value.filter((x) => typeof x === "string").join("；") : text(value));
// A vocabulary value by its name (served labels or the app's own); "" when it has none.
const vocab = (prefix = "") => (value) => {
  if (typeof value !== "string" || !value) return "";
  const name = term(`${prefix}${value}`);
  return name === `${prefix}${value}` ? "" : name;
};
const vocabList = (prefix = "") => (value) => joined((Array.isArray(value) ? value : [value])
  .map(vocab(prefix)).filter(Boolean));
const yesNo = (value) => (typeof value === "boolean" ? t(value ? "yes" : "no") : "");
const milestone = (value) => (value === "overdue" ? t("closureDeadline") : vocab()(value));
const size = (value) => (Number.isFinite(value) ? `${Math.max(1, Math.round(value / 1024))} KB` : "");
const shortHash = (value) => (typeof value === "string" ? `${value.slice(0, 12)}…` : "");
// Values named among the app's own strings (`prefix.value`), read out as a list.
const ownList = (prefix) => (value) => joined((Array.isArray(value) ? value : [value])
  .filter((v) => typeof v === "string" && has(`${prefix}${v}`)).map((v) => t(`${prefix}${v}`)));
// The case's fields an edit changed, by their names on the case form.
const FIELD_NAMES = {
  channel: "channel", category: "category", subject: "subject", address: "address",
  description: "description", received_at: "receivedAt", key: "keyFlag", leader: "leader", leader_id: "leader",
  external_ref: "externalRef", unit_id: "unit", lat: "lat", lon: "lon",
  complainant_name: "complainantName", complainant_phone: "complainantPhone",
};
const fieldNames = (value) => joined((Array.isArray(value) ? value : [])
  .map((f) => (FIELD_NAMES[f] ? t(FIELD_NAMES[f]) : "")).filter(Boolean));
// The deadline rule a case is under, with its version.
const rule = (value, data) => (typeof value === "string" && value
  ? `${value}${Number.isFinite(data.rule_version) ? ` ${t("tl.ruleVersion").replace("{n}", data.rule_version)}` : ""}` : "");
// Who answered dissatisfied, by kind of respondent.
const dissatisfied = (value) => (Array.isArray(value)
  ? joined(value.map((r) => vocab("respondent.")(r?.kind)).filter(Boolean)) : "");

// key -> [label key in i18n.js, how the value reads (value, data) -> text], in the order
// they are read out.
export const FIELDS = {
  from: ["tl.from", vocab()],
  from_unit: ["tl.fromUnit", named],
  leader_released: ["tl.leaderReleased", named],
  unit: ["tl.unit", text],
  assignees: ["assignees", names],
  verdict: ["verdict", vocab()],
  result: ["result", text],
  reasons: ["tl.reasons", texts],
  reason: ["tl.reason", text],
  days: ["tl.days", count],
  part: ["tl.part", text],
  note: ["tl.note", text],
  received_at: ["receivedAt", time],
  corrected: ["tl.corrected", yesNo],
  backfilled: ["tl.backfilled", yesNo],
  channel: ["tl.channel", vocab()],
  category: ["category", vocab()],
  rule: ["tl.rule", rule],
  milestone: ["tl.milestone", milestone],
  due_at: ["due", (value) => (value ? fmtDue(value) : "")],
  started_at: ["tl.startedAt", time],
  measurements: ["tl.measurements", count],
  captured_at: ["takenAt", time],
  place: ["place", text],
  code: ["flags", vocab()],
  flags: ["flags", vocabList()],
  size: ["tl.size", size],
  method: ["tl.method", vocab("method.")],
  outcome: ["tl.outcome", vocab("revisitOutcome.")],
  satisfaction: ["satisfaction", vocab()],
  overall: ["overall", vocab()],
  respondents: ["respondents", count],
  attempts: ["attempts", count],
  dissatisfied: ["tl.dissatisfiedBy", dissatisfied],
  review: ["tl.review", yesNo],
  notes: ["tl.note", text],
  fields: ["tl.fields", fieldNames],
  number: ["tl.sealNumber", count],
  evidence: ["tl.photos", count],
  sha256: ["tl.sha256", shortHash],
  leader_name: ["tl.leaderName", text],
  text: ["tl.instruction", text],
  given_at: ["tl.givenAt", time],
  told_at: ["tl.toldAt", time],
};
const ORDER = Object.keys(FIELDS);

// What a key means in one kind of event only.
export const BY_KIND = {
  visit_recorded: { kind: ["kind", vocab()] },
  revisit_respondent: { kind: ["respondentKind", vocab("respondent.")] },
  complainant_informed: { method: ["tl.feedbackMethod", (value) => feedbackName(value)] },
  repeat_linked: {
    count: ["tl.repeatCount", count], listed: ["tl.repeatListed", yesNo],
    matched_by: ["tl.matchedBy", ownList("repeatMatch.")],
  },
  repeat_link_confirmed: { count: ["tl.repeatCount", count], was: ["tl.linkWas", ownList("repeatLink.")] },
  repeat_link_undone: { count: ["tl.repeatCount", count], was: ["tl.linkWas", ownList("repeatLink.")] },
  recheck_recorded: {
    campaign: ["tl.campaign", text], check_unit: ["tl.checkUnit", text], rebound: ["tl.rebound", yesNo],
    new_problem: ["tl.newProblem", text], findings: ["tl.findings", text],
  },
  plan_set: {
    measures: ["tl.measures", text], acceptance_unit: ["tl.acceptanceUnit", text], due_on: ["tl.planDue", text],
  },
  // Hard cases: the difficult flag, the remediation plan's versions, the leader group.
  hard_case_flagged: { previous: ["hard.tl.previous", text] },
  hard_case_unflagged: { previous: ["hard.tl.previous", text] },
  remediation_plan_set: {
    version: ["hard.tl.version", count], approach: ["hard.approach", text],
    responsible: ["hard.responsible", names], responsible_text: ["hard.responsibleText", text],
    deadline: ["hard.deadline", text], status: ["status", ownList("hard.plan.")],
    closing_note: ["hard.closingNote", text],
  },
  leader_group_set: {
    lead: ["hard.lead", named], members: ["hard.members", names],
    previous_lead: ["hard.tl.previousLead", named],
  },
};

// The event's data as "label: value" parts, a kind's own keys first, then in FIELDS' order.
export function eventParts(data, kind = "") {
  if (!data || typeof data !== "object") return [];
  const parts = [];
  const rank = (key) => (BY_KIND[kind]?.[key] ? -1 : ORDER.indexOf(key));
  const keys = Object.keys(data).sort((a, b) => rank(a) - rank(b));
  for (const key of keys) {
    const value = data[key];
    const entry = BY_KIND[kind]?.[key] || FIELDS[key];
    if (!entry || value == null || value === "") continue;
    if (key === "received_at" && data.device_time) continue;  // said by phoneTime, beside the phone's
    const shown = entry[1](value, data);
    if (shown) parts.push(`${t(entry[0])}: ${shown}`);
  }
  return parts;
}

export function eventSummary(data, kind = "") {
  return eventParts(data, kind).join(" · ");
}

// The kind's name; a kind this app does not know yet is "an entry", never its key.
export function kindName(kind) {
  const name = term(`event.${kind}`);
  if (name !== `event.${kind}`) return name;
  // Kinds named among the app's strings (a context's own block of i18n.js).
  return has(`event.${kind}`) ? t(`event.${kind}`) : t("tl.event");
}

// When an offline action was done by the phone and when the server got it; whether that
// was on time; a reminder raised late. (The clock's own keys have no FIELDS entry: they
// are said here, not as "key: value".)
export function phoneTime(data) {
  if (!data || typeof data !== "object") return "";
  const done = data.device_time ? html`<span class="phone-time" data-clamped="${data.device_time_clamped || ""}">
    ${t("doneAtPhone")} ${fmtTime(data.done_at)} · ${t("receivedAtServer")} ${fmtTime(data.received_at)}
    ${data.device_time_clamped ? html`<span class="muted">(${t(`phoneClamped.${data.device_time_clamped}`)}: ${fmtTime(data.device_time)})</span>` : ""}</span>` : "";
  const onTime = data.on_time == null ? ""
    : html`<span class="chip on-time" data-on-time="${String(data.on_time)}">${t(data.on_time ? "doneOnTime" : "doneLate")}</span>`;
  const late = data.late ? html`<span class="chip late-raise" title="${t("raisedLateHint")}">${t("raisedLate")}</span>` : "";
  return html`${done}${onTime}${late}`;
}

export function eventRow(ev) {
  return html`<li class="event" data-kind="${ev.kind}" data-seq="${ev.seq ?? ""}">
    <time datetime="${ev.at}">${fmtTime(ev.at)}</time>
    <b>${kindName(ev.kind)}</b>
    <span class="who">${ev.actor?.name || ""}</span>
    <span class="why muted">${eventSummary(ev.data, ev.kind)}</span>${phoneTime(ev.data)}</li>`;
}
