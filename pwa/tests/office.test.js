// The office's desks as the app builds their requests: a sample's draw from its form, how
// a stratum and a rate read, the questionnaire editor's template body, and the server's
// nested 422 messages flattened by field.
import "fake-indexeddb/auto";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

globalThis.navigator ??= {};
globalThis.window ??= globalThis;
const memory = new Map([["fieldcase.lang", "en"]]);
globalThis.localStorage ??= { getItem: (k) => memory.get(k) ?? null, setItem: (k, v) => memory.set(k, v) };
globalThis.document ??= { documentElement: {} };

// The vocabulary's names as the app gets them from the server (GET /api/vocab `labels`).
const { setLabels } = await import("../js/i18n.js");
setLabels(JSON.parse(readFileSync(new URL("../../server/domain/data/vocab_labels.json", import.meta.url), "utf8")));
const { pct, sampleBody, stratumText } = await import("../js/views/office/samples.js");
const { templateBody } = await import("../js/views/admin/qeditor.js");
const { flatMessages } = await import("../js/ui.js");

const VOCAB = { satisfaction: ["satisfied", "basically_satisfied", "dissatisfied"],
  question_kinds: ["single", "multi", "scale", "yesno", "text"] };

test("a sample's form becomes whole days, a share and the strata ticked", () => {
  const { body, errors } = sampleBody({ from: "2026-06-01", to: "2026-06-30", share: "12.5",
    seed: "  spot-2026 ", strata: ["unit", "channel"] });
  assert.equal(errors, undefined);
  assert.equal(body.from, new Date("2026-06-01T00:00:00").toISOString());
  assert.equal(body.to, new Date("2026-07-01T00:00:00").toISOString()); // "to" is inclusive
  assert.equal(body.share, 0.125);
  assert.equal(body.seed, "spot-2026");
  assert.deepEqual(body.strata, ["unit", "channel"]);
  // No seed: the server makes one (and records it); no strata: one stratum.
  const plain = sampleBody({ from: "2026-01-01", to: "2026-12-31", share: "10", seed: " ", strata: [] });
  assert.equal("seed" in plain.body, false);
  assert.deepEqual(plain.body.strata, []);
  assert.equal(plain.body.share, 0.1);
});

test("a sample the server would refuse is refused on the desk, by field", () => {
  const { errors } = sampleBody({ from: "2026-06-30", to: "2026-06-01", share: "0", strata: [] });
  assert.deepEqual(Object.keys(errors).sort(), ["share", "to"]);
  assert.deepEqual(Object.keys(sampleBody({ from: "", to: "", share: "101", strata: [] }).errors).sort(),
    ["from", "share", "to"]);
  assert.deepEqual(Object.keys(sampleBody({ from: "2026-01-01", to: "2026-01-01", share: "", strata: [] }).errors),
    ["share"]);
});

test("a stratum reads as its unit's name and its channel; rates as percentages or a dash", () => {
  const units = new Map([["u-1", "东湖街道"]]);
  assert.equal(stratumText("unit=u-1|channel=online", units), "东湖街道 · Online");
  assert.equal(stratumText("channel=hotline_12345", units), "12345 hotline");
  assert.equal(stratumText("all", units), "Not stratified");
  assert.equal(pct(0.5), "50%");
  assert.equal(pct(2 / 3), "66.7%");
  assert.equal(pct(null), "—");
});

test("the editor's template: options only for choices, a range only for scales", () => {
  const model = {
    code: " residents-survey ", version: 1, title: { zh: " 居民调查 ", en: "Residents" },
    questions: [
      { key: "source ", kind: "multi", label: { zh: "来源", en: "Source" }, required: false,
        options: [{ value: "music", label: { zh: "音乐", en: "Music" } }], min: null, max: null },
      { key: "loud", kind: "scale", label: { zh: "响度", en: "Loudness" }, required: true,
        options: [{ value: "left-over", label: { zh: "", en: "" } }], min: "0", max: "10" },
      { key: "ok", kind: "yesno", label: { zh: "好", en: "OK" }, required: true, options: [], min: 1, max: 5 },
      // The satisfaction question's options are the server's values, named in both languages.
      { key: "satisfaction", kind: "single", satisfaction: true, required: true,
        label: { zh: "满意吗", en: "Satisfied?" }, options: [{ value: "x", label: { zh: "x", en: "x" } }] },
    ],
  };
  const body = templateBody(model, VOCAB);
  assert.equal(body.code, "residents-survey");
  assert.deepEqual(body.title, { zh: "居民调查", en: "Residents" });
  const [multi, scale, yesno, satisfaction] = body.questions;
  assert.deepEqual(multi, { key: "source", kind: "multi", label: { zh: "来源", en: "Source" },
    required: false, options: [{ value: "music", label: { zh: "音乐", en: "Music" } }] });
  assert.deepEqual(scale, { key: "loud", kind: "scale", label: { zh: "响度", en: "Loudness" },
    required: true, min: 0, max: 10 });
  assert.deepEqual(yesno, { key: "ok", kind: "yesno", label: { zh: "好", en: "OK" }, required: true });
  assert.equal(satisfaction.satisfaction, true);
  assert.deepEqual(satisfaction.options, [
    { value: "satisfied", label: { zh: "满意", en: "Satisfied" } },
    { value: "basically_satisfied", label: { zh: "基本满意", en: "Basically satisfied" } },
    { value: "dissatisfied", label: { zh: "不满意", en: "Dissatisfied" } }]);
});

test("the server's nested messages read as lines naming where", () => {
  assert.deepEqual(flatMessages(["Required."]), ["Required."]);
  assert.deepEqual(flatMessages({ en: ["Missing data for required field."] }),
    ["en: Missing data for required field."]);
  assert.deepEqual(flatMessages({ 0: { label: { en: ["Missing."] } } }, "options"),
    ["options.0.label.en: Missing."]);
  assert.deepEqual(flatMessages(null), []);
});
