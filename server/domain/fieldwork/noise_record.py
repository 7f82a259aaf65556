"""The noise record of a reading, assessed as GB 22337-2008 and GB 12523-2011 ask.

Pure: a reading (the API's dict) and the case's category in, an Assessment out; no Flask,
no database. The rules and the clause each comes from are data (data/noise_rules.json);
every limit is looked up in standards.py.

A record lacking what its standard requires is still assessed, but says it is not valid
for enforcement and why; a one-figure reading is a "simple" record and says so. The
verdict names the rule that decided it and is computed from the background-corrected
level; it is left out (None) only when the reading cannot be judged at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from server.domain.fieldwork import standards

# Readings kept beside the limit for the record but never judged: a phone's microphone is
# not a sound level meter, so its estimate never counts as the measurement.
UNJUDGED_SOURCES = ("phone_estimate",)

# Inputs kept together in Measurement.record_data (the levels and the photo have columns).
RECORD_DATA_FIELDS = ("meter", "calibrator", "calibration_before_db", "calibration_after_db",
                      "position", "room_class", "windows", "weather", "duration_s",
                      "noise_type")
# Any of these makes the record "full"; without them it is today's one-figure reading.
RECORD_FIELDS = (*RECORD_DATA_FIELDS, "lmax_dba", "background_dba", "meter_photo_client_id")


def _values(kind: str) -> tuple[str, ...]:
    return tuple(item["value"] for item in standards.noise_rules()["vocab"][kind])


# The vocabulary is the rules data's, which the app reads too.
POSITIONS = _values("positions")
ROOM_CLASSES = _values("room_classes")
WINDOWS = _values("windows")
NOISE_TYPES = _values("noise_types")
METER_CLASSES = _values("meter_classes")
WINDOW_WORDS = {w["value"]: {"zh": w["label"]["zh"].removeprefix("窗户"), "en": w["value"]}
                for w in standards.noise_rules()["vocab"]["windows"]}


@dataclass(frozen=True)
class Assessment:
    record: str  # "simple" | "full"
    valid_for_enforcement: bool
    invalid_reasons: list[dict[str, Any]]
    background_correction_db: float | None
    corrected_dba: float | None
    verdict: dict[str, Any] | None
    limit_dba: float | None  # the Leq limit, shown beside the reading even when unjudged
    standard: str | None
    rules_version: str

    @property
    def exceeded(self) -> bool | None:
        return self.verdict["exceeded"] if self.verdict else None

    @property
    def verdict_rule(self) -> str | None:
        return self.verdict["rule"]["code"] if self.verdict else None


def _format(template: str, lang: str, params: Mapping[str, Any]) -> str:
    """A message template filled in one language: a parameter is a number or text, or a
    {zh, en} pair."""
    filled = {k: (v[lang] if isinstance(v, Mapping) else f"{v:g}" if isinstance(v, float)
                  else v) for k, v in params.items()}
    return template.format(**filled)


def reason(code: str, clause: str | None, **params: Any) -> dict[str, Any]:
    template = standards.noise_rules()["reasons"][code]
    return {"code": code, "clause": clause,
            "message": {lang: _format(template[lang], lang, params) for lang in ("zh", "en")}}


def _whole_db(difference: float) -> int:
    """The difference rounded to a whole dB as GB/T 8170 does (half to even)."""
    return int(Decimal(str(difference)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def background_correction(value_dba: float, background_dba: float,
                          rule: Mapping[str, Any]) -> float | None:
    """The correction to add to the reading, in dB (0 or negative); None when the
    difference is under the standard's floor and the reading cannot be judged.

    The edges are taken on the difference as measured, the table on the difference
    rounded to a whole dB (so 9.6 dB is in the table at 10, and 2.6 dB is too close)."""
    difference = round(value_dba - background_dba, 2)
    if difference >= rule["none_at_or_above_db"]:
        return 0.0
    if difference < rule["remeasure_below_db"]:
        return None
    whole = _whole_db(difference)
    for row in rule["table"]:
        if row["from_db"] <= whole <= row["to_db"]:
            return float(row["correction_db"])
    raise ValueError(f"the background table has no row for {whole} dB")


def lmax_rules(rules: Mapping[str, Any], period: str, position: str,
               noise_type: str | None) -> list[dict[str, Any]]:
    """The Lmax rules that apply to a reading of this period, position and kind."""
    return [r for r in rules["lmax"]
            if period in r["periods"] and position in r["positions"]
            and (r["noise_types"] is None or noise_type in r["noise_types"])]


def _record_reasons(reading: Mapping[str, Any], code: str, rules: Mapping[str, Any],
                    position: str) -> list[dict[str, Any]]:
    """What the standard asks of the record that this one lacks or breaks."""
    out: list[dict[str, Any]] = []

    def clause(section: Mapping[str, Any]) -> str:
        return f"{code} {section['clause']}"

    meter = reading.get("meter") or {}
    if not (meter.get("model") and meter.get("serial")):
        out.append(reason("meter_missing", clause(rules["meter"])))
    meter_class = meter.get("class")
    if meter_class is None:
        out.append(reason("meter_class_missing", clause(rules["meter"])))
    elif meter_class not in rules["meter"]["classes"]:
        out.append(reason("meter_class_not_allowed", clause(rules["meter"])))
    elif meter_class != "1" and rules["meter"].get("class_1_below_dba") is not None:
        lowest = min(v for v in (reading["value_dba"], reading.get("background_dba"))
                     if v is not None)
        if lowest < rules["meter"]["class_1_below_dba"]:
            out.append(reason("meter_class_low_level", clause(rules["meter"]),
                              level=float(lowest)))

    calibrator = reading.get("calibrator") or {}
    if not (calibrator.get("model") and calibrator.get("serial")):
        out.append(reason("calibrator_missing", clause(rules["calibrator"])))
    before, after = reading.get("calibration_before_db"), reading.get("calibration_after_db")
    if before is None or after is None:
        out.append(reason("calibration_missing", clause(rules["calibration"])))
    else:
        drift = round(abs(after - before), 2)
        if drift > rules["calibration"]["max_drift_db"]:
            out.append(reason("calibration_drift", clause(rules["calibration"]),
                              drift=float(drift)))

    place = rules["positions"][position]
    if reading.get("position") is None:
        out.append(reason("position_missing", clause(rules["record"])))
    if place.get("room_class_required") and not reading.get("room_class"):
        out.append(reason("room_class_missing", clause(place)))
    expected = place.get("windows")
    if expected is not None:
        if reading.get("windows") is None:
            out.append(reason("windows_missing", clause(place),
                              expected=WINDOW_WORDS[expected]))
        elif reading["windows"] != expected:
            out.append(reason("windows_wrong", clause(place), expected=WINDOW_WORDS[expected]))

    weather_rule = rules["weather"]
    if position in weather_rule["positions"]:
        weather = reading.get("weather")
        if weather is None:
            out.append(reason("weather_missing", clause(weather_rule)))
        else:
            if weather["precipitation"] and not weather_rule["precipitation_allowed"]:
                out.append(reason("weather_precipitation", clause(weather_rule)))
            if weather["wind_ms"] >= weather_rule["max_wind_ms"]:
                out.append(reason("weather_wind", clause(weather_rule),
                                  wind=float(weather["wind_ms"])))

    duration = reading.get("duration_s")
    if duration is None:
        out.append(reason("duration_missing", clause(rules["duration"])))
    elif duration < rules["duration"]["min_s"]:
        out.append(reason("duration_too_short", clause(rules["duration"]),
                          duration=float(duration), minimum=float(rules["duration"]["min_s"])))

    noise_type = reading.get("noise_type")
    if rules["noise_type"]["required"] and noise_type is None:
        out.append(reason("noise_type_missing", clause(rules["noise_type"])))
    if (reading.get("lmax_dba") is None
            and lmax_rules(rules, reading["period"], position, noise_type)):
        out.append(reason("lmax_missing", clause(rules["lmax_measurement"])))

    if reading.get("background_dba") is None:
        out.append(reason("background_missing", clause(rules["background"])))
    return out


def _check(rule: Mapping[str, Any], value: float, limit: float) -> dict[str, Any]:
    excess = round(value - limit, 1)
    return {"rule": dict(rule), "value_dba": value, "limit_dba": limit, "excess_dba": excess,
            "exceeded": excess > 0}


def _brief(check: Mapping[str, Any]) -> dict[str, Any]:
    """A check as the verdict lists it: the rule by its code (its text is in the data)."""
    return {"rule": check["rule"]["code"],
            **{k: check[k] for k in ("value_dba", "limit_dba", "excess_dba", "exceeded")}}


def assess(reading: Mapping[str, Any], category: str) -> Assessment:
    """Assess one reading of a case of `category` (its period is the reading's own)."""
    data = standards.noise_rules()
    code, rules = standards.rules_for(category)
    period, value = reading["period"], float(reading["value_dba"])
    full = any(reading.get(name) is not None for name in RECORD_FIELDS)
    # The boundary when the record does not say, as before the record had a position.
    position = reading.get("position") or standards.DEFAULT_POSITION
    unjudged = reading.get("source", "meter") in UNJUDGED_SOURCES

    reasons: list[dict[str, Any]] = []
    if unjudged:
        reasons.append(reason("phone_estimate", f"{code} {rules['meter']['clause']}"))
    if full:
        reasons.extend(_record_reasons(reading, code, rules, position))
    else:
        reasons.append(reason("simple_record", f"{code} {rules['record']['clause']}"))

    limit = standards.leq_limit(category, reading.get("zone_class"), period,
                                position=position, room_class=reading.get("room_class"),
                                given=reading.get("limit_dba"))
    if limit is None and not reading.get("zone_class"):
        reasons.append(reason("zone_class_missing", f"{code} {rules['record']['clause']}"))

    correction = corrected = None
    judgeable = not unjudged and limit is not None
    background = reading.get("background_dba")
    if background is not None:
        correction = background_correction(value, float(background), rules["background"])
        if correction is None:
            judgeable = False
            reasons.append(reason("background_too_close",
                                  f"{code} {rules['background']['clause']}",
                                  difference=float(round(value - background, 1))))
        else:
            corrected = round(value + correction, 1)

    verdict = None
    checks: list[dict[str, Any]] = []
    if judgeable and limit is not None:
        place = rules["positions"][position]
        text = data["given_limit"]["text"] if limit.standard == "given" else place["text"]
        checks.append(_check({"code": limit.rule, "clause": limit.clause, "text": text},
                             corrected if corrected is not None else value, limit.limit_dba))
        lmax = reading.get("lmax_dba")
        if lmax is not None:
            for rule in lmax_rules(rules, period, position, reading.get("noise_type")):
                checks.append(_check({"code": rule["code"], "clause": f"{code} {rule['clause']}",
                                      "text": rule["text"]},
                                     float(lmax), limit.limit_dba + rule["margin_db"]))
        # The Leq decides unless it is within and an Lmax rule is broken.
        decided = next((c for c in checks if c["exceeded"]), checks[0])
        verdict = {"exceeded": decided["exceeded"], "rule": decided["rule"],
                   "limit_dba": decided["limit_dba"], "excess_dba": decided["excess_dba"],
                   "checks": [_brief(c) for c in checks]}

    return Assessment(
        record="full" if full else "simple",
        valid_for_enforcement=full and not reasons and verdict is not None,
        invalid_reasons=reasons, background_correction_db=correction,
        corrected_dba=corrected, verdict=verdict,
        limit_dba=limit.limit_dba if limit else None,
        standard=limit.standard if limit else None,
        rules_version=data["version"])


def legacy_reasons(standard: str | None) -> list[dict[str, Any]]:
    """Why a reading recorded before the noise record existed is not valid for
    enforcement: it is a one-figure reading."""
    code, rules = standards.rules_of(standard)
    return [reason("simple_record", f"{code} {rules['record']['clause']}")]
