// Questionnaire answers and the noise record as the app reads them from its forms: the
// API's shapes, and the refusals the server would make, caught before anything is queued.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const memory = new Map([["fieldcase.lang", "en"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

const { check, collect, label, satisfactionOf } = await import("../js/questionnaire.js");
const { noiseVocab, readRecord, inputProblems, driftText, hasRecord, rangeMessage, refusalNotes,
  roomClassPositions } = await import("../js/noiserecord.js");
// What GET /api/standards/noise serves (tests/test_noise_parity.py writes it beside the cases).
const { readFileSync } = await import("node:fs");
const SERVED = JSON.parse(readFileSync(new URL("./fixtures/noise_cases.json", import.meta.url))).standards;
const recordProblems = (value, record) => inputProblems(SERVED, { value_dba: value, ...record });

const TEMPLATE = {
  code: "residents-survey", version: 2, title: { zh: "居民调查", en: "Residents' survey" },
  questions: [
    { key: "satisfaction", kind: "single", required: true, satisfaction: true,
      label: { zh: "满意度", en: "Satisfaction" }, options: [
        { value: "satisfied", label: { zh: "满意", en: "Satisfied" } },
        { value: "basically_satisfied", label: { zh: "基本满意", en: "Basically" } },
        { value: "dissatisfied", label: { zh: "不满意", en: "Dissatisfied" } }] },
    { key: "sources", kind: "multi", required: false, label: { zh: "来源", en: "Sources" },
      options: [{ value: "music", label: { zh: "音乐", en: "Music" } },
        { value: "crowd", label: { zh: "人声", en: "Crowd" } }] },
    { key: "loudness", kind: "scale", min: 1, max: 5, required: true, label: { zh: "响度", en: "Loudness" } },
    { key: "still_heard", kind: "yesno", required: true, label: { zh: "仍能听到", en: "Still heard" } },
    { key: "comment", kind: "text", required: false, label: { zh: "意见", en: "Comment" } },
  ],
};

const form = (values) => (name) => values[name] ?? [];

test("answers come out in the API's shape, one per kind", () => {
  const answers = collect(TEMPLATE.questions, form({
    "q-satisfaction": ["basically_satisfied"], "q-sources": ["music", "crowd"],
    "q-loudness": ["4"], "q-still_heard": ["false"], "q-comment": ["  晚上十点后安静了 "],
  }));
  assert.deepEqual(answers, { satisfaction: "basically_satisfied", sources: ["music", "crowd"],
    loudness: 4, still_heard: false, comment: "晚上十点后安静了" });
  assert.deepEqual(check(TEMPLATE.questions, answers), {});
  assert.equal(satisfactionOf(TEMPLATE, answers), "basically_satisfied");
});

test("unanswered optional questions are left out; required ones are named", () => {
  const answers = collect(TEMPLATE.questions, form({ "q-comment": ["   "] }));
  assert.deepEqual(answers, {});
  assert.deepEqual(Object.keys(check(TEMPLATE.questions, answers)).sort(),
    ["loudness", "satisfaction", "still_heard"]);
  assert.equal(satisfactionOf(TEMPLATE, answers), null);
});

test("out of range, unknown options and wrong kinds are refused", () => {
  const errors = check(TEMPLATE.questions, { satisfaction: "happy", sources: ["music", "dogs"],
    loudness: 9, still_heard: "yes" });
  assert.deepEqual(Object.keys(errors).sort(), ["loudness", "satisfaction", "sources", "still_heard"]);
  assert.match(errors.loudness[0], /1.5/);
  assert.deepEqual(check(TEMPLATE.questions, { satisfaction: "satisfied", loudness: 2.5,
    still_heard: true }), { loudness: ["1–5"] });
});

test("labels follow the language, falling back to the other", () => {
  assert.equal(label({ zh: "满意", en: "Satisfied" }, "zh"), "满意");
  assert.equal(label({ zh: "满意", en: "Satisfied" }, "en"), "Satisfied");
  assert.equal(label({ zh: "满意" }, "en"), "满意");
  assert.equal(label(null), "");
});

test("an untouched record section leaves a simple reading", () => {
  assert.deepEqual(readRecord(() => null), {});
  assert.deepEqual(readRecord(() => ""), {});
  assert.equal(hasRecord({ value_dba: 58, zone_class: "1" }), false);
});

test("the full record in the API's shape", () => {
  const values = {
    nr_meter_model: "AWA5688", nr_meter_serial: "00321", nr_meter_class: "2",
    nr_calibrator_model: "AWA6221A", nr_calibrator_serial: "1102", nr_cal_before: "93.8",
    nr_cal_after: "94.0", nr_position: "indoor", nr_room_class: "A", nr_windows: "closed",
    nr_precipitation: "false", nr_wind: "1.5", nr_duration: "60", nr_noise_type: "frequent",
    nr_lmax: "52", nr_background: "30",
  };
  const record = readRecord((name) => values[name], "eeeeeeee-0000-4000-8000-000000000001",
    roomClassPositions(SERVED));
  assert.deepEqual(record, {
    meter: { model: "AWA5688", serial: "00321", class: "2" },
    calibrator: { model: "AWA6221A", serial: "1102" },
    calibration_before_db: 93.8, calibration_after_db: 94, duration_s: 60, lmax_dba: 52,
    background_dba: 30, position: "indoor", windows: "closed", noise_type: "frequent",
    room_class: "A", weather: { precipitation: false, wind_ms: 1.5 },
    meter_photo_client_id: "eeeeeeee-0000-4000-8000-000000000001",
  });
  assert.deepEqual(recordProblems(38, record), []);
  assert.equal(hasRecord(record), true);
  // The room class belongs to a structure-borne reading indoors only.
  assert.equal(readRecord((name) => ({ ...values, nr_position: "boundary_outdoor" })[name], null,
    roomClassPositions(SERVED)).room_class, undefined);
});

test("what the server refuses outright is caught first, naming the field", () => {
  // Named as the server names it (the relation in the rules data).
  assert.deepEqual(recordProblems(58, { calibration_after_db: 94 }).map((p) => p.field),
    ["calibration_after_db"]);
  assert.deepEqual(recordProblems(58, { background_dba: 60 }).map((p) => p.field), ["background_dba"]);
  assert.deepEqual(recordProblems(58, readRecord((n) => ({ nr_lmax: "abc" })[n])).map((p) => p.field),
    ["lmax_dba"]);
  assert.deepEqual(recordProblems(58, { background_dba: 58 }), []);
  assert.deepEqual(recordProblems(58, { weather: { wind_ms: 2 } }).map((p) => p.field),
    ["weather.precipitation"]);
  assert.deepEqual(recordProblems(58, { lmax_dba: 50 }).map((p) => p.field), ["lmax_dba"]);
});

test("the drift shows as it is typed, over the standard's figure flagged", () => {
  const max = SERVED.rules.standards["GB 22337-2008"].calibration.max_drift_db;
  assert.equal(driftText("", "94", max).text, "");
  assert.equal(driftText("93.8", "94.0", max).over, false);
  assert.equal(driftText("93.8", "94.4", max).over, true);
  assert.match(driftText("93.8", "94.4", max).text, /0\.6 dB/);
});

test("a value the server refuses is refused by the app, with the same bound", () => {
  const ranges = SERVED.rules.inputs.ranges;
  assert.ok(Object.keys(ranges).length >= 8);
  for (const [field, { min, max }] of Object.entries(ranges)) {
    const reading = (v) => (field.startsWith("weather.")
      ? { weather: { precipitation: false, wind_ms: v } }
      : field === "calibration_after_db" ? { calibration_before_db: 94, [field]: v } : { [field]: v });
    for (const v of [min - 1, min - 0.1, max + 0.1, max + 1]) {
      assert.deepEqual(inputProblems(SERVED, reading(v)), [{ field, message: rangeMessage(SERVED, field) }],
        `${field} ${v}`);
    }
    for (const v of [min, max]) assert.deepEqual(inputProblems(SERVED, reading(v)), [], `${field} ${v}`);
  }
  // In the server's words (the API's 422 says the same, from the same data).
  assert.equal(rangeMessage(SERVED, "background_dba"), "Must be between 0 and 200 dB(A).");
  assert.deepEqual(inputProblems(SERVED, { value_dba: 58, background_dba: -3 }),
    [{ field: "background_dba", message: "Must be between 0 and 200 dB(A)." }]);
});

test("a refusal's fields are named in words, with the message the data holds", () => {
  const notes = refusalNotes({ measurements: { 0: { background_dba: ["Must be between 0 and 200 dB(A)."] } },
    findings: ["Longer than 20000 characters."] }, SERVED, { measurements: [{ source: "meter" }] });
  assert.deepEqual(notes.map((n) => [n.field, n.label]), [["background_dba", "Background dB(A)"],
    ["findings", "Findings"]]);
  assert.equal(notes[0].message, "Must be between 0 and 200 dB(A).");
});

test("a refusal's message the rules data lacks is shown in the user's language, at its path", async () => {
  const { setLang } = await import("../js/i18n.js");
  setLang("zh");
  try {
    const errors = { measurements: { 0: { background_dba: ["Must be between 0 and 200 dB(A)."] } },
      findings: ["Longer than 20000 characters."] };
    const local = { measurements: { 0: { background_dba: ["必须在 0 到 200 dB(A) 之间。"] } },
      findings: ["超过 20000 个字符。"] };
    const notes = refusalNotes(errors, SERVED, { measurements: [{ source: "meter" }] }, local);
    assert.equal(notes[0].message, rangeMessage(SERVED, "background_dba"), "the rules data's words first");
    assert.equal(notes[1].message, "超过 20000 个字符。");
    for (const note of notes) assert.doesNotMatch(note.message, /[A-Za-z]{3,}/, "no English in zh");
  } finally {
    setLang("en");
  }
});

test("the record's lists come from the server's rules data", () => {
  const standards = { rules: { vocab: { positions: [{ value: "indoor", label: { zh: "室内", en: "Indoors" } }] } } };
  assert.deepEqual(noiseVocab(standards).positions.map((p) => p.value), ["indoor"]);
  assert.deepEqual(noiseVocab(null).noise_types, []);
});
