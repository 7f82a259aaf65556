// The full noise record (GB 22337-2008 / GB 12523-2011): meter, calibrator, calibration
// before and after, position, room class, windows, weather, duration, Lmax with the kind
// of noise, background, and the photo of the meter's display. Folded away under the one
// figure the simple case needs; the lists come from the server's rules data
// (GET /api/standards/noise), never from a copy in the app.
import { t } from "./i18n.js";
import { label } from "./questionnaire.js";
import { html } from "./ui.js";

// The rules' vocabulary: {positions, room_classes, windows, noise_types, meter_classes},
// each a list of {value, label: {zh, en}}.
export function noiseVocab(standards) {
  const vocab = standards?.rules?.vocab || standards?.vocab || {};
  const list = (name) => (Array.isArray(vocab[name]) ? vocab[name] : []);
  return { positions: list("positions"), room_classes: list("room_classes"),
    windows: list("windows"), noise_types: list("noise_types"),
    meter_classes: list("meter_classes") };
}

// What a reading's input must meet, from the rules data the server validates with
// (rules.inputs: ranges, relations between fields, their messages): never a copy here.
export function inputRules(standards) {
  const inputs = standards?.rules?.inputs || {};
  return { ranges: inputs.ranges || {}, relations: inputs.relations || [],
    messages: inputs.messages || {} };
}

// The positions the room class belongs to (a structure-borne measurement indoors).
export function roomClassPositions(standards) {
  const rule = inputRules(standards).relations.find((r) => r.field === "room_class" && r.only_with);
  return rule?.only_with?.position || [];
}

function fillMessage(message, params, lang = undefined) {
  return label(message, lang).replace(/\{(\w+)\}/g, (_, k) => String(params[k] ?? ""));
}

// The message a range refuses with, as the server words it, in the user's language.
export function rangeMessage(standards, field) {
  const { ranges, messages } = inputRules(standards);
  const bound = ranges[field];
  return bound ? fillMessage(messages.out_of_range, bound) : "";
}

function pick(reading, path) {
  return path.split(".").reduce((v, key) => (v == null ? undefined : v[key]), reading);
}

function num(value) {
  if (value === null || value === undefined || String(value).trim() === "") return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : NaN;
}

function text(value) {
  const s = String(value ?? "").trim();
  return s || undefined;
}

// The record's fields from the form's values (`value(name)` gives one field's value):
// only what was filled in, shaped as the API wants it. Empty -> {} (a simple reading).
// `roomPositions`: where a room class belongs (roomClassPositions of the served rules).
export function readRecord(value, meterPhotoId = null, roomPositions = []) {
  const record = {};
  const meter = { model: text(value("nr_meter_model")), serial: text(value("nr_meter_serial")),
    class: text(value("nr_meter_class")) };
  if (Object.values(meter).some((v) => v !== undefined)) {
    record.meter = Object.fromEntries(Object.entries(meter).filter(([, v]) => v !== undefined));
  }
  const calibrator = { model: text(value("nr_calibrator_model")),
    serial: text(value("nr_calibrator_serial")) };
  if (Object.values(calibrator).some((v) => v !== undefined)) {
    record.calibrator = Object.fromEntries(Object.entries(calibrator).filter(([, v]) => v !== undefined));
  }
  for (const [field, name] of [["calibration_before_db", "nr_cal_before"],
    ["calibration_after_db", "nr_cal_after"], ["duration_s", "nr_duration"],
    ["lmax_dba", "nr_lmax"], ["background_dba", "nr_background"]]) {
    const n = num(value(name));
    if (n !== undefined) record[field] = n;
  }
  for (const [field, name] of [["position", "nr_position"], ["windows", "nr_windows"],
    ["noise_type", "nr_noise_type"]]) {
    const v = text(value(name));
    if (v !== undefined) record[field] = v;
  }
  const room = text(value("nr_room_class"));
  if (room !== undefined && roomPositions.includes(record.position)) {
    record.room_class = room;
  }
  const precipitation = text(value("nr_precipitation"));
  const wind = num(value("nr_wind"));
  if (precipitation !== undefined || wind !== undefined) {
    record.weather = {};
    if (precipitation !== undefined) record.weather.precipitation = precipitation === "true";
    if (wind !== undefined) record.weather.wind_ms = wind;
  }
  if (meterPhotoId) record.meter_photo_client_id = meterPhotoId;
  return record;
}

// What the server would refuse outright (422 naming the field), checked before saving
// with the server's own rules data: [{field, message}] (the first is shown). `reading`:
// the measurement as sent (value_dba, calibration_offset_db and the record's fields).
export function inputProblems(standards, reading) {
  const { ranges, relations, messages } = inputRules(standards);
  const problems = [];
  for (const [field, bound] of Object.entries(ranges)) {
    const v = pick(reading, field);
    if (typeof v !== "number") continue;
    if (Number.isNaN(v)) problems.push({ field, message: t("notANumber") });
    else if (v < bound.min || v > bound.max) {
      problems.push({ field, message: fillMessage(messages.out_of_range, bound) });
    }
  }
  for (const rule of relations) {
    const v = reading[rule.field];
    if (v === undefined || v === null || Number.isNaN(v)) continue;
    let broken = false;
    if (rule.requires) broken = reading[rule.requires] === undefined || reading[rule.requires] === null;
    else if (rule.not_above) broken = typeof reading[rule.not_above] === "number" && v > reading[rule.not_above];
    else if (rule.not_below) broken = typeof reading[rule.not_below] === "number" && v < reading[rule.not_below];
    else if (rule.only_with) {
      broken = Object.entries(rule.only_with).some(([name, allowed]) => !allowed.includes(reading[name]));
    }
    if (broken) problems.push({ field: rule.field, message: label(messages[rule.code]) });
  }
  // The weather is one answer of two parts: the API asks for both.
  if (reading.weather && (reading.weather.precipitation === undefined
      || reading.weather.wind_ms === undefined)) {
    problems.push({ field: reading.weather.wind_ms === undefined ? "weather.wind_ms"
      : "weather.precipitation", message: t("weatherBoth") });
  }
  return problems;
}

// The words of a field the server may name, for the inspector (never the raw key).
const FIELD_LABELS = {
  value_dba: "reading", background_dba: "background", lmax_dba: "lmax",
  calibration_before_db: "calibrationBefore", calibration_after_db: "calibrationAfter",
  duration_s: "durationS", "weather.wind_ms": "windMs", "weather.precipitation": "precipitation",
  calibration_offset_db: "calibration", room_class: "roomClass", position: "position",
  windows: "windows", noise_type: "noiseType", zone_class: "zoneClass", period: "period",
  findings: "findings", kind: "kind", participants: "partners", "meter.class": "meterClass",
  "meter.model": "model", "meter.serial": "serial", "calibrator.model": "model",
  "calibrator.serial": "serial",
};

// A refusal's fields (problem+json `errors` in English, e.g. {measurements: {0:
// {background_dba: [...]}}}) as [{field, label, message}] in the user's language: a
// message the rules data holds is shown in its words; any other as the server words it
// in the user's language (`local`: its `errors` as api.js localized them), at the same path.
export function refusalNotes(errors, standards, payload = {}, local = null) {
  const { ranges, messages } = inputRules(standards);
  const notes = [];
  const known = (field, text, localText) => {
    const bound = ranges[field];
    if (bound && text === fillMessage(messages.out_of_range, bound, "en")) {
      return fillMessage(messages.out_of_range, bound);
    }
    const same = Object.values(messages).find((m) => m?.en === text);
    return same ? label(same) : localText ?? text;
  };
  const localAt = (path) => path.reduce((v, key) => (v == null ? undefined : v[key]), local);
  const walk = (value, path) => {
    if (Array.isArray(value)) {
      let field = path.join(".");
      if (path[0] === "measurements" && path.length > 2) {
        const m = payload.measurements?.[Number(path[1])];
        field = path.slice(2).join(".");
        if (m?.source === "phone_estimate" && field !== "calibration_offset_db") field = `estimate.${field}`;
      }
      const words = field.startsWith("estimate.") ? "micEstimate" : FIELD_LABELS[field];
      const theirs = localAt(path);
      const localTexts = Array.isArray(theirs) && theirs.length === value.length ? theirs : null;
      notes.push({ field, label: words ? t(words) : t("otherField"),
        message: value.map((text, i) => known(field, String(text),
          localTexts ? String(localTexts[i]) : undefined)).join(" ") });
    } else if (value && typeof value === "object") {
      for (const [key, inner] of Object.entries(value)) walk(inner, [...path, key]);
    }
  };
  walk(errors || {}, []);
  return notes;
}

// Which input a field of the record is typed into (to focus it).
export const FIELD_INPUTS = {
  value_dba: "value_dba", calibration_offset_db: "calibration", room_class: "nr_room_class",
  zone_class: "zone_class", period: "period", position: "nr_position", windows: "nr_windows",
  noise_type: "nr_noise_type", calibration_before_db: "nr_cal_before", calibration_after_db: "nr_cal_after",
  background_dba: "nr_background", duration_s: "nr_duration", lmax_dba: "nr_lmax",
  "weather.wind_ms": "nr_wind", "weather.precipitation": "nr_precipitation",
};

function options(list, selected) {
  return [html`<option value=""></option>`, ...list.map((o) => html`<option value="${o.value}"
    ${o.value === selected ? "selected" : ""}>${label(o.label)}</option>`)];
}

function numberField(name, text, value, { step = "0.1", bound, hint } = {}) {
  const { min, max } = bound || {};
  return html`<label for="${name}">${text}</label>
    <input id="${name}" name="${name}" type="number" inputmode="decimal" step="${step}"
      ${min != null ? html`min="${min}"` : ""} ${max != null ? html`max="${max}"` : ""}
      value="${value ?? ""}">${hint ? html`<span class="muted small">${hint}</span>` : ""}`;
}

function textField(name, text, value) {
  return html`<label for="${name}">${text}</label>
    <input id="${name}" name="${name}" autocomplete="off" value="${value ?? ""}">`;
}

// Does a saved reading carry any of the record (the section opens by itself then)?
export function hasRecord(m) {
  return Boolean(m && ["meter", "calibrator", "calibration_before_db", "calibration_after_db",
    "position", "windows", "weather", "duration_s", "lmax_dba", "noise_type",
    "background_dba", "meter_photo_client_id"].some((k) => m[k] !== undefined && m[k] !== null));
}

// The section, folded unless the draft already has some of it. `m`: the draft's reading.
export function recordSection(vocab, m = {}, standards = null) {
  const weather = m.weather || {};
  const indoor = roomClassPositions(standards).includes(m.position);
  const { ranges } = inputRules(standards);
  return html`<details class="full-record" id="full-record" ${hasRecord(m) ? "open" : ""}>
    <summary id="full-record-toggle">${t("fullRecord")}</summary>
    <p class="muted small">${t("fullRecordHint")}</p>
    <fieldset><legend>${t("meter")}</legend>
      ${textField("nr_meter_model", t("model"), m.meter?.model)}
      ${textField("nr_meter_serial", t("serial"), m.meter?.serial)}
      <label for="nr_meter_class">${t("meterClass")}</label>
      <select id="nr_meter_class" name="nr_meter_class">${options(vocab.meter_classes, m.meter?.class)}</select>
    </fieldset>
    <fieldset><legend>${t("calibrator")}</legend>
      ${textField("nr_calibrator_model", t("model"), m.calibrator?.model)}
      ${textField("nr_calibrator_serial", t("serial"), m.calibrator?.serial)}
      <div class="pair">
        <div>${numberField("nr_cal_before", t("calibrationBefore"), m.calibration_before_db, { bound: ranges.calibration_before_db })}</div>
        <div>${numberField("nr_cal_after", t("calibrationAfter"), m.calibration_after_db, { bound: ranges.calibration_after_db })}</div>
      </div>
      <p id="drift" class="small" role="status" aria-live="polite"></p>
    </fieldset>
    <fieldset><legend>${t("position")}</legend>
      <select id="nr_position" name="nr_position" aria-label="${t("position")}">${options(vocab.positions, m.position)}</select>
      <div id="indoor-fields" ${indoor ? "" : "hidden"}>
        <label for="nr_room_class">${t("roomClass")}</label>
        <select id="nr_room_class" name="nr_room_class">${options(vocab.room_classes, m.room_class)}</select>
      </div>
      <label for="nr_windows">${t("windows")}</label>
      <select id="nr_windows" name="nr_windows">${options(vocab.windows, m.windows)}</select>
    </fieldset>
    <fieldset><legend>${t("weather")}</legend>
      <label for="nr_precipitation">${t("precipitation")}</label>
      <select id="nr_precipitation" name="nr_precipitation">
        <option value=""></option>
        <option value="false" ${weather.precipitation === false ? "selected" : ""}>${t("noPrecipitation")}</option>
        <option value="true" ${weather.precipitation === true ? "selected" : ""}>${t("rainOrSnow")}</option>
      </select>
      ${numberField("nr_wind", t("windMs"), weather.wind_ms, { bound: ranges["weather.wind_ms"] })}
    </fieldset>
    <fieldset><legend>${t("levels")}</legend>
      ${numberField("nr_duration", t("durationS"), m.duration_s, { step: "1", bound: ranges.duration_s })}
      <div class="chips quick">
        <button type="button" class="chip" data-duration="60">1 min</button>
        <button type="button" class="chip" data-duration="600">10 min</button>
        <button type="button" class="chip" data-duration="1200">20 min</button>
      </div>
      <label for="nr_noise_type">${t("noiseType")}</label>
      <select id="nr_noise_type" name="nr_noise_type">${options(vocab.noise_types, m.noise_type)}</select>
      ${numberField("nr_lmax", t("lmax"), m.lmax_dba, { bound: ranges.lmax_dba })}
      ${numberField("nr_background", t("background"), m.background_dba, { bound: ranges.background_dba })}
    </fieldset>
    <fieldset><legend>${t("meterPhoto")}</legend>
      <button type="button" class="big camera" id="take-meter-photo">${t("takeMeterPhoto")}</button>
      <p id="meter-photo-state" class="small" data-linked="${m.meter_photo_client_id ? "1" : ""}">${
        m.meter_photo_client_id ? t("meterPhotoLinked") : ""}</p>
    </fieldset>
  </details>`;
}

// The drift between the calibration readings, as the inspector types them.
export function driftText(before, after, maxDrift) {
  const b = num(before);
  const a = num(after);
  if (b === undefined || a === undefined || Number.isNaN(a) || Number.isNaN(b)
      || typeof maxDrift !== "number") return { text: "", over: false };
  const drift = Math.round(Math.abs(a - b) * 100) / 100;
  return { text: `${t("drift")} ${drift} dB${drift > maxDrift ? ` > ${maxDrift} dB · ${t("driftInvalid")}` : ""}`,
    over: drift > maxDrift };
}
