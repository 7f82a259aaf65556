"""One set of input rules and one verdict on the phone and the server.

The rules the API validates readings with and judges them by are the data it serves
(GET /api/standards/noise). The phone's assessment (pwa/js/verdict.js) is held to the
server's over one table of cases: this test writes what the server answers for each
(pwa/tests/fixtures/noise_cases.json, with the standards payload the phone is served) and
pwa/tests/verdict.test.js runs the phone's code over the same inputs.

To write the table again after a rule changes: FIELDCASE_WRITE_CASES=1 pytest this file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
from pathlib import Path
from typing import Any

from marshmallow import validate

from server.api.fieldwork.schemas import MeasurementInSchema, WeatherSchema
from server.domain.fieldwork import noise_inputs, standards
from server.domain.fieldwork.noise_record import assess

FIXTURE = Path(__file__).parents[1] / "pwa" / "tests" / "fixtures" / "noise_cases.json"
CATEGORIES = ("noise_social", "noise_construction", "other")


def _base(**changes: Any) -> dict[str, Any]:
    reading: dict[str, Any] = {
        "kind": "noise", "value_dba": 52.4, "zone_class": "1", "period": "night",
        "source": "meter", "meter": {"model": "AWA5688", "serial": "A-001", "class": "1"},
        "calibrator": {"model": "AWA6021A", "serial": "C-17"},
        "calibration_before_db": 93.8, "calibration_after_db": 94.0,
        "position": "boundary_outdoor", "weather": {"precipitation": False, "wind_ms": 2.1},
        "duration_s": 600, "lmax_dba": 61.0, "noise_type": "frequent", "background_dba": 46.0,
    }
    reading.update(changes)
    return {k: v for k, v in reading.items() if v is not None}


def _readings() -> list[tuple[str, dict[str, Any]]]:
    """Worked edges (background differences around every row of the table, drift, wind,
    positions, Lmax, estimates, a given limit) and a seeded spread of full records."""
    out: list[tuple[str, dict[str, Any]]] = []
    for difference in (2.4, 2.5, 2.6, 2.9, 3.0, 3.5, 4.5, 5.5, 6.5, 9.4, 9.5, 9.6, 9.9,
                       10.0, 10.1, 12.0):
        out.append(("noise_social", _base(background_dba=round(52.4 - difference, 1))))
    for after in (93.2, 93.3, 94.3, 94.4, 94.35):
        out.append(("noise_social", _base(calibration_after_db=after)))
    for wind in (4.9, 5.0, 7.5):
        out.append(("noise_construction", _base(weather={"precipitation": False,
                                                          "wind_ms": wind})))
    out += [
        ("noise_social", {"kind": "noise", "value_dba": 58, "zone_class": "1",
                          "period": "night", "source": "meter"}),
        ("noise_social", {"kind": "noise", "value_dba": 44.9, "zone_class": "1",
                          "period": "night"}),
        ("noise_social", {"kind": "noise", "value_dba": 61.2, "zone_class": "1",
                          "period": "night", "source": "phone_estimate",
                          "device": "Pixel 7"}),
        ("noise_social", {"kind": "noise", "value_dba": 50, "period": "day"}),
        ("noise_social", _base(limit_dba=42)),
        ("noise_social", _base(position="indoor", room_class="A", windows="closed")),
        ("noise_social", _base(position="indoor", windows="open")),
        ("noise_social", _base(position="indoor_boundary", windows="open")),
        ("noise_social", _base(meter={"model": "X", "serial": "1", "class": "2"},
                               value_dba=33.0, background_dba=20.0, lmax_dba=40.0)),
        ("noise_social", _base(noise_type="sporadic", lmax_dba=61.0, value_dba=44.0,
                               background_dba=30.0)),
        ("noise_social", _base(lmax_dba=56.0, value_dba=44.0, background_dba=30.0)),
        ("noise_social", _base(noise_type="steady", lmax_dba=None)),
        ("noise_social", _base(noise_type=None, lmax_dba=None)),
        ("noise_construction", _base(duration_s=600, lmax_dba=71.0, value_dba=54.0,
                                     background_dba=40.0)),
        ("noise_construction", _base(position="indoor", windows="open", duration_s=1200)),
        ("other", _base(weather={"precipitation": True, "wind_ms": 1.0})),
    ]
    rng = random.Random(19)
    for _ in range(60):
        value = round(rng.uniform(30, 80), 1)
        out.append((rng.choice(CATEGORIES), _base(
            value_dba=value, zone_class=rng.choice(["0", "1", "2", "3", "4", None]),
            period=rng.choice(["day", "night"]),
            position=rng.choice(["boundary_outdoor", "indoor", "indoor_boundary", None]),
            room_class=None, windows=rng.choice(["open", "closed", None]),
            background_dba=rng.choice([None, round(value - rng.uniform(0, 15), 1)]),
            lmax_dba=rng.choice([None, round(value + rng.uniform(0, 25), 1)]),
            noise_type=rng.choice(["steady", "frequent", "sporadic", None]),
            duration_s=rng.choice([None, 30, 60, 600, 1200]),
            calibration_after_db=round(93.8 + rng.uniform(-0.8, 0.8), 1))))
    return out


def build(client: Any) -> dict[str, Any]:
    served = client.get("/api/standards/noise").get_json()
    cases = [{"category": category, "reading": reading,
              "expected": dataclasses.asdict(assess(reading, category))}
             for category, reading in _readings()]
    return json.loads(json.dumps({"standards": served, "cases": cases}))


def test_the_table_of_cases_is_the_servers_own_answers(app, as_user):  # type: ignore[no-untyped-def]
    built = build(as_user("insp_a"))
    if os.environ.get("FIELDCASE_WRITE_CASES"):
        FIXTURE.write_text(json.dumps(built, ensure_ascii=False, indent=1) + "\n",
                           encoding="utf-8")
    assert FIXTURE.exists(), "write the table: FIELDCASE_WRITE_CASES=1 pytest " + __file__
    assert json.loads(FIXTURE.read_text(encoding="utf-8")) == built, (
        "the server's answers changed: write the table again (FIELDCASE_WRITE_CASES=1) and "
        "run node --test pwa/tests/verdict.test.js")


def test_the_served_rules_are_the_ones_the_server_validates_and_judges_with(app, as_user):  # type: ignore[no-untyped-def]
    body = as_user("insp_a").get("/api/standards/noise").get_json()
    assert body["rules"] == standards.noise_rules()
    ranges = body["rules"]["inputs"]["ranges"]
    fields = {**MeasurementInSchema().fields,
              **{f"weather.{k}": v for k, v in WeatherSchema().fields.items()}}
    for name, bound in ranges.items():
        [bounds] = [v for v in fields[name].validators if isinstance(v, validate.Range)]
        assert (bounds.min, bounds.max) == (bound["min"], bound["max"]), name
    # Every numeric input of a reading is bounded by the data, none by a figure of its own.
    numeric = {name for name, f in fields.items()
               if any(isinstance(v, validate.Range) for v in f.validators)}
    assert numeric == set(ranges)


def test_a_value_out_of_the_served_range_is_refused_naming_the_bound(app, as_user, make_case):  # type: ignore[no-untyped-def]
    client = as_user("insp_a")
    case = make_case()
    low, high = noise_inputs.input_range("background_dba")
    reading = _base(background_dba=low - 1)
    answer = client.post(f"/api/cases/{case['id']}/visits", json={
        "client_id": "0b7c4c38-6a53-4a47-9a0e-6a1b8f0c9e11", "kind": "night_check",
        "started_at": "2026-12-04T22:10:00+08:00", "measurements": [reading]})
    assert answer.status_code == 422
    message = answer.get_json()["errors"]["measurements"]["0"]["background_dba"]
    assert message == [noise_inputs.range_message("background_dba")]
    assert f"{low:g}" in message[0] and f"{high:g}" in message[0]
    # The relations too are the data's.
    answer = client.post(f"/api/cases/{case['id']}/visits", json={
        "client_id": "0b7c4c38-6a53-4a47-9a0e-6a1b8f0c9e12", "kind": "night_check",
        "started_at": "2026-12-04T22:10:00+08:00",
        "measurements": [_base(background_dba=60.0)]})
    assert answer.get_json()["errors"]["measurements"]["0"]["background_dba"] == [
        noise_inputs.message("background_above_reading")]
