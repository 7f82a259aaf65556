// The phone's verdict is the server's: pwa/js/verdict.js over the table of cases the server
// answered (tests/test_noise_parity.py writes pwa/tests/fixtures/noise_cases.json, with the
// standards payload the phone is served).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { assess, pyRound } from "../js/verdict.js";

const table = JSON.parse(readFileSync(new URL("./fixtures/noise_cases.json", import.meta.url)));

test("every case of the table gets the server's assessment on the phone", () => {
  assert.ok(table.cases.length > 80);
  for (const [n, { category, reading, expected }] of table.cases.entries()) {
    assert.deepEqual(assess(table.standards, reading, category), expected,
      `case ${n}: ${category} ${JSON.stringify(reading)}`);
  }
});

test("the table covers the verdicts that matter", () => {
  const seen = (pick) => new Set(table.cases.map((c) => pick(c.expected)));
  assert.deepEqual(seen((e) => e.verdict?.exceeded ?? null), new Set([true, false, null]));
  assert.deepEqual(seen((e) => e.background_correction_db), new Set([0, -1, -2, -3, null]));
  assert.ok(seen((e) => e.verdict?.rule.code).has("night_lmax_frequent"));
  const codes = new Set(table.cases.flatMap((c) => c.expected.invalid_reasons.map((r) => r.code)));
  for (const code of ["background_too_close", "calibration_drift", "weather_wind", "simple_record",
    "phone_estimate", "windows_wrong", "room_class_missing", "meter_class_low_level"]) {
    assert.ok(codes.has(code), code);
  }
});

test("rounding is Python's: the exact value, half to even", () => {
  assert.equal(pyRound(2.25, 1), 2.2);
  assert.equal(pyRound(2.35, 1), 2.4); // 2.35000000000000008882
  assert.equal(pyRound(0.45, 1), 0.5);
  assert.equal(pyRound(52.4 - 46.0, 1), 6.4);
});
