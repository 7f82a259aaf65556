// The noise record's assessment on the phone, as the server makes it
// (server/domain/fieldwork/noise_record.py assess()): the same rules data served by
// GET /api/standards/noise, the same background correction (GB 22337-2008 / GB 12523-2011
// table), the same verdict and reasons. pwa/tests/verdict.test.js runs both over one table
// of cases (pwa/tests/fixtures/noise_cases.json, written by tests/test_noise_parity.py).
// Pure: no DOM, no storage.

// A phone's microphone is not a sound level meter: its estimate is never judged.
const UNJUDGED_SOURCES = ["phone_estimate"];
const RECORD_FIELDS = ["meter", "calibrator", "calibration_before_db", "calibration_after_db",
  "position", "room_class", "windows", "weather", "duration_s", "noise_type", "lmax_dba",
  "background_dba", "meter_photo_client_id"];

const given = (v) => v !== undefined && v !== null;

// Python's round(x, digits): the double's exact decimal value rounded half to even.
export function pyRound(x, digits) {
  const exact = Math.abs(x).toFixed(100);
  const [whole, frac] = exact.split(".");
  const kept = BigInt(whole + frac.slice(0, digits));
  const rest = frac.slice(digits);
  const half = "5".padEnd(rest.length, "0");
  const up = rest > half || (rest === half && kept % 2n === 1n);
  const n = Number(kept + (up ? 1n : 0n)) / 10 ** digits;
  return x < 0 ? -n : n;
}

// Decimal(str(x)).quantize(1, ROUND_HALF_EVEN): the shortest decimal of x, half to even.
function wholeDb(x) {
  const [whole, frac = ""] = String(Math.abs(x)).split(".");
  let n = BigInt(whole);
  const half = "5".padEnd(frac.length, "0");
  if (frac > half || (frac === half && frac !== "" && n % 2n === 1n)) n += 1n;
  return (x < 0 ? -1 : 1) * Number(n);
}

// Python's f"{v:g}" for the figures a reason names.
function g(v) {
  return String(Number(v.toPrecision(6)));
}

function fill(template, lang, params) {
  return template.replace(/\{(\w+)\}/g, (_, k) => {
    const v = params[k];
    if (v && typeof v === "object") return v[lang];
    return typeof v === "number" ? g(v) : String(v);
  });
}

function reasonOf(rules, code, clause, params = {}) {
  const template = rules.reasons[code];
  return { code, clause, message: { zh: fill(template.zh, "zh", params),
    en: fill(template.en, "en", params) } };
}

function windowWords(rules) {
  return Object.fromEntries(rules.vocab.windows.map((w) =>
    [w.value, { zh: w.label.zh.replace(/^窗户/, ""), en: w.value }]));
}

function standardFor(standards, category) {
  const list = standards.standards || [];
  const def = standards.rules.defaults.standard;
  return list.find((s) => s.categories.includes(category)) || list.find((s) => s.code === def);
}

// The limit and its standard (or a city's override) for a category, zone class and period.
export function noiseLimit(standards, category, zoneClass, period) {
  for (const o of standards.overrides || []) {
    const categories = o.categories || [category];
    if (categories.includes(category) && [null, undefined, zoneClass].includes(o.zone_class ?? null)
        && given(o.limits_dba?.[period])) {
      return [Number(o.limits_dba[period]), o.code];
    }
  }
  const std = standardFor(standards, category);
  const limits = std.limits_dba["*"] || std.limits_dba[zoneClass || ""];
  if (!limits) return null;
  return [Number(limits[period]), std.code];
}

export function rulesFor(standards, category) {
  const code = standardFor(standards, category).code;
  return [code, standards.rules.standards[code]];
}

// The Leq limit for a reading at a position: {limit_dba, standard, rule, clause} or null.
export function leqLimit(standards, category, zoneClass, period, { position, roomClass, givenLimit } = {}) {
  if (given(givenLimit)) {
    const r = standards.rules.given_limit;
    return { limit_dba: Number(givenLimit), standard: "given", rule: r.code, clause: r.clause };
  }
  const [code, rules] = rulesFor(standards, category);
  const pos = position in rules.positions ? position : standards.rules.defaults.position;
  const place = rules.positions[pos];
  const leq = rules.leq_rules[pos];
  let clause = `${code} ${leq.clause}`;
  if (place.limit === "indoor_table") {
    const row = rules.indoor_limits_dba.table[zoneClass || ""]?.[roomClass || ""];
    return row ? { limit_dba: Number(row[period]), standard: code, rule: leq.code, clause } : null;
  }
  const found = noiseLimit(standards, category, zoneClass, period);
  if (!found) return null;
  const [limit, standard] = found;
  if (standard !== code) clause = `${standard}; ${clause}`;
  return { limit_dba: limit - Number(place.reduction_db || 0), standard, rule: leq.code, clause };
}

// The correction to add (0 or negative), or null when the background is too close.
export function backgroundCorrection(value, background, rule) {
  const difference = pyRound(value - background, 2);
  if (difference >= rule.none_at_or_above_db) return 0;
  if (difference < rule.remeasure_below_db) return null;
  const whole = wholeDb(difference);
  const row = rule.table.find((r) => r.from_db <= whole && whole <= r.to_db);
  if (!row) throw new Error(`the background table has no row for ${whole} dB`);
  return Number(row.correction_db);
}

function lmaxRules(rules, period, position, noiseType) {
  return rules.lmax.filter((r) => r.periods.includes(period) && r.positions.includes(position)
    && (r.noise_types === null || r.noise_types.includes(noiseType)));
}

function recordReasons(data, reading, code, rules, position) {
  const out = [];
  const reason = (c, section, params) => out.push(reasonOf(data, c, `${code} ${section.clause}`, params));
  const meter = reading.meter || {};
  if (!(meter.model && meter.serial)) reason("meter_missing", rules.meter);
  const meterClass = meter.class;
  if (!given(meterClass)) reason("meter_class_missing", rules.meter);
  else if (!rules.meter.classes.includes(meterClass)) reason("meter_class_not_allowed", rules.meter);
  else if (meterClass !== "1" && given(rules.meter.class_1_below_dba)) {
    const lowest = Math.min(...[reading.value_dba, reading.background_dba].filter(given));
    if (lowest < rules.meter.class_1_below_dba) reason("meter_class_low_level", rules.meter, { level: lowest });
  }
  const calibrator = reading.calibrator || {};
  if (!(calibrator.model && calibrator.serial)) reason("calibrator_missing", rules.calibrator);
  const before = reading.calibration_before_db;
  const after = reading.calibration_after_db;
  if (!given(before) || !given(after)) reason("calibration_missing", rules.calibration);
  else {
    const drift = pyRound(Math.abs(after - before), 2);
    if (drift > rules.calibration.max_drift_db) reason("calibration_drift", rules.calibration, { drift });
  }
  const place = rules.positions[position];
  if (!given(reading.position)) reason("position_missing", rules.record);
  if (place.room_class_required && !reading.room_class) reason("room_class_missing", place);
  const expected = place.windows;
  if (given(expected)) {
    const words = windowWords(data);
    if (!given(reading.windows)) reason("windows_missing", place, { expected: words[expected] });
    else if (reading.windows !== expected) reason("windows_wrong", place, { expected: words[expected] });
  }
  const weatherRule = rules.weather;
  if (weatherRule.positions.includes(position)) {
    const weather = reading.weather;
    if (!given(weather)) reason("weather_missing", weatherRule);
    else {
      if (weather.precipitation && !weatherRule.precipitation_allowed) reason("weather_precipitation", weatherRule);
      if (weather.wind_ms >= weatherRule.max_wind_ms) reason("weather_wind", weatherRule, { wind: weather.wind_ms });
    }
  }
  const duration = reading.duration_s;
  if (!given(duration)) reason("duration_missing", rules.duration);
  else if (duration < rules.duration.min_s) {
    reason("duration_too_short", rules.duration, { duration, minimum: rules.duration.min_s });
  }
  const noiseType = reading.noise_type;
  if (rules.noise_type.required && !given(noiseType)) reason("noise_type_missing", rules.noise_type);
  if (!given(reading.lmax_dba) && lmaxRules(rules, reading.period, position, noiseType).length) {
    reason("lmax_missing", rules.lmax_measurement);
  }
  if (!given(reading.background_dba)) reason("background_missing", rules.background);
  return out;
}

function check(rule, value, limit) {
  const excess = pyRound(value - limit, 1);
  return { rule, value_dba: value, limit_dba: limit, excess_dba: excess, exceeded: excess > 0 };
}

// One reading of a case of `category`, assessed: the fields the server returns with a
// measurement (record, valid_for_enforcement, invalid_reasons, background_correction_db,
// corrected_dba, verdict, limit_dba, standard, rules_version).
export function assess(standards, reading, category) {
  const data = standards.rules;
  const [code, rules] = rulesFor(standards, category);
  const { period } = reading;
  const value = Number(reading.value_dba);
  const full = RECORD_FIELDS.some((name) => given(reading[name]));
  const position = reading.position || data.defaults.position;
  const unjudged = UNJUDGED_SOURCES.includes(reading.source || "meter");

  const reasons = [];
  if (unjudged) reasons.push(reasonOf(data, "phone_estimate", `${code} ${rules.meter.clause}`));
  if (full) reasons.push(...recordReasons(data, reading, code, rules, position));
  else reasons.push(reasonOf(data, "simple_record", `${code} ${rules.record.clause}`));

  const limit = leqLimit(standards, category, reading.zone_class, period, {
    position, roomClass: reading.room_class, givenLimit: reading.limit_dba });
  if (limit === null && !reading.zone_class) {
    reasons.push(reasonOf(data, "zone_class_missing", `${code} ${rules.record.clause}`));
  }

  let correction = null;
  let corrected = null;
  let judgeable = !unjudged && limit !== null;
  const background = reading.background_dba;
  if (given(background)) {
    correction = backgroundCorrection(value, Number(background), rules.background);
    if (correction === null) {
      judgeable = false;
      reasons.push(reasonOf(data, "background_too_close", `${code} ${rules.background.clause}`,
        { difference: pyRound(value - background, 1) }));
    } else {
      corrected = pyRound(value + correction, 1);
    }
  }

  let verdict = null;
  if (judgeable) {
    const place = rules.positions[position];
    const text = limit.standard === "given" ? data.given_limit.text : place.text;
    const checks = [check({ code: limit.rule, clause: limit.clause, text },
      corrected !== null ? corrected : value, limit.limit_dba)];
    if (given(reading.lmax_dba)) {
      for (const rule of lmaxRules(rules, period, position, reading.noise_type)) {
        checks.push(check({ code: rule.code, clause: `${code} ${rule.clause}`, text: rule.text },
          Number(reading.lmax_dba), limit.limit_dba + rule.margin_db));
      }
    }
    // The Leq decides unless it is within and an Lmax rule is broken.
    const decided = checks.find((c) => c.exceeded) || checks[0];
    verdict = { exceeded: decided.exceeded, rule: decided.rule, limit_dba: decided.limit_dba,
      excess_dba: decided.excess_dba,
      checks: checks.map((c) => ({ rule: c.rule.code, value_dba: c.value_dba,
        limit_dba: c.limit_dba, excess_dba: c.excess_dba, exceeded: c.exceeded })) };
  }
  return {
    record: full ? "full" : "simple",
    valid_for_enforcement: full && reasons.length === 0 && verdict !== null,
    invalid_reasons: reasons, background_correction_db: correction, corrected_dba: corrected,
    verdict, limit_dba: limit ? limit.limit_dba : null, standard: limit ? limit.standard : null,
    rules_version: data.version,
  };
}
