"""The noise record: each rule of GB 22337-2008 / GB 12523-2011 against worked examples,
then through the API on both stacks."""

from __future__ import annotations

import copy
import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from server.domain.fieldwork import noise_record, standards
from server.domain.fieldwork.noise_record import assess, background_correction
from server.extensions import db
from server.models import Measurement, Visit

SOCIAL = "noise_social"
BUILD = "noise_construction"


def full(**changes: Any) -> dict[str, Any]:
    """A night reading at a bar's boundary that has everything GB 22337 asks for: valid."""
    reading: dict[str, Any] = {
        "kind": "noise", "value_dba": 52.4, "zone_class": "1", "period": "night",
        "source": "meter",
        "meter": {"model": "AWA5688", "serial": "A-001", "class": "1"},
        "calibrator": {"model": "AWA6021A", "serial": "C-17"},
        "calibration_before_db": 93.8, "calibration_after_db": 94.0,
        "position": "boundary_outdoor", "weather": {"precipitation": False, "wind_ms": 2.1},
        "duration_s": 600, "lmax_dba": 61.0, "noise_type": "frequent", "background_dba": 46.0,
    }
    reading.update(changes)
    return {k: v for k, v in reading.items() if v is not None}


def codes(reading: dict[str, Any], category: str = SOCIAL) -> list[str]:
    return [r["code"] for r in assess(reading, category).invalid_reasons]


def test_a_complete_record_is_valid_and_judged_on_the_corrected_level() -> None:
    judged = assess(full(), SOCIAL)
    assert (judged.record, judged.valid_for_enforcement, judged.invalid_reasons) == (
        "full", True, [])
    # 52.4 - 46.0 = 6.4 dB -> 6 -> -1 (table 4): 51.4 against the class 1 night limit 45.
    assert (judged.background_correction_db, judged.corrected_dba) == (-1.0, 51.4)
    assert judged.verdict is not None
    assert (judged.verdict["exceeded"], judged.verdict["limit_dba"],
            judged.verdict["excess_dba"]) == (True, 45.0, 6.4)
    assert judged.verdict["rule"]["code"] == "leq_boundary"
    assert judged.verdict["rule"]["clause"] == "GB 22337-2008 4.1.1, table 1"
    assert judged.verdict["checks"] == [
        {"rule": "leq_boundary", "value_dba": 51.4, "limit_dba": 45.0, "excess_dba": 6.4,
         "exceeded": True},
        {"rule": "night_lmax_frequent", "value_dba": 61.0, "limit_dba": 55.0,
         "excess_dba": 6.0, "exceeded": True}]
    assert (judged.limit_dba, judged.standard, judged.rules_version) == (
        45.0, "GB 22337-2008", standards.noise_rules()["version"])


# ---- calibration ---------------------------------------------------------------------
@pytest.mark.parametrize(("after", "valid"), [(94.2, True), (94.3, True), (94.4, False),
                                              (93.4, True), (93.3, True), (93.2, False)])
def test_calibration_drift_over_half_a_db_is_invalid(after: float, valid: bool) -> None:
    judged = assess(full(calibration_before_db=93.8, calibration_after_db=after), SOCIAL)
    assert judged.valid_for_enforcement is valid
    assert codes(full(calibration_before_db=93.8, calibration_after_db=after)) == (
        [] if valid else ["calibration_drift"])


def test_calibration_drift_0_4_stands_and_0_6_does_not() -> None:
    assert assess(full(calibration_before_db=94.0, calibration_after_db=94.4),
                  SOCIAL).valid_for_enforcement is True
    judged = assess(full(calibration_before_db=94.0, calibration_after_db=94.6), SOCIAL)
    assert judged.valid_for_enforcement is False
    assert judged.invalid_reasons == [{
        "code": "calibration_drift", "clause": "GB 22337-2008 5.1.2",
        "message": {"zh": "测量前、后校准示值偏差 0.6 dB，大于0.5 dB，测量结果无效。",
                    "en": "The calibration readings before and after differ by 0.6 dB, more "
                          "than 0.5 dB: the measurement is invalid."}}]
    # Still judged for what it shows, but never silently: the reason is with it.
    assert judged.verdict is not None and judged.verdict["exceeded"] is True
    assert codes(full(calibration_after_db=None)) == ["calibration_missing"]
    assert codes(full(calibration_before_db=None, calibration_after_db=None)) == [
        "calibration_missing"]


# ---- meter and calibrator ------------------------------------------------------------
def test_the_meter_and_calibrator_must_be_named() -> None:
    assert codes(full(meter=None, calibrator=None)) == [
        "meter_missing", "meter_class_missing", "calibrator_missing"]
    assert codes(full(meter={"model": "AWA5688", "class": "2"})) == ["meter_missing"]
    assert codes(full(meter={"model": "AWA5688", "serial": "1"})) == ["meter_class_missing"]
    assert codes(full(meter={"model": "AWA5688", "serial": "1", "class": "2"})) == []


def test_below_35_db_gb22337_asks_a_class_1_meter() -> None:
    class_2 = {"model": "AWA5636", "serial": "9", "class": "2"}
    quiet = full(meter=class_2, value_dba=38.0, background_dba=34.5, lmax_dba=None,
                 noise_type="steady")
    judged = assess(quiet, SOCIAL)
    assert [r["code"] for r in judged.invalid_reasons] == ["meter_class_low_level"]
    assert judged.invalid_reasons[0]["clause"] == "GB 22337-2008 5.1.1"
    assert "34.5 dB(A)" in judged.invalid_reasons[0]["message"]["en"]
    assert codes({**quiet, "meter": {**class_2, "class": "1"}}) == []


# ---- background correction -----------------------------------------------------------
@pytest.mark.parametrize(("background", "correction", "corrected"), [
    (40.0, 0.0, 60.0),    # 20 dB: none
    (50.0, 0.0, 60.0),    # exactly 10 dB: none
    (50.4, -1.0, 59.0),   # 9.6 dB, rounded to 10: -1
    (51.0, -1.0, 59.0),   # 9
    (54.0, -1.0, 59.0),   # 6
    (54.5, -1.0, 59.0),   # 5.5 -> 6 (half to even)
    (54.6, -2.0, 58.0),   # 5.4 -> 5
    (55.0, -2.0, 58.0),   # 5
    (55.5, -2.0, 58.0),   # 4.5 -> 4 (half to even)
    (56.0, -2.0, 58.0),   # 4
    (56.5, -2.0, 58.0),   # 3.5 -> 4
    (57.0, -3.0, 57.0),   # exactly 3: -3
])
def test_background_correction_table(background: float, correction: float,
                                     corrected: float) -> None:
    for category in (SOCIAL, BUILD):
        _, rules = standards.rules_for(category)
        assert background_correction(60.0, background, rules["background"]) == correction
        judged = assess(full(value_dba=60.0, background_dba=background, lmax_dba=None,
                             noise_type="steady"), category)
        assert (judged.background_correction_db, judged.corrected_dba) == (
            correction, corrected)
        assert judged.verdict is not None and judged.verdict["checks"][0]["value_dba"] == (
            corrected)


@pytest.mark.parametrize("background", [57.1, 57.5, 59.0, 60.0])
def test_under_3_db_above_background_cannot_be_judged(background: float) -> None:
    _, rules = standards.rules_for(SOCIAL)
    assert background_correction(60.0, background, rules["background"]) is None
    judged = assess(full(value_dba=60.0, background_dba=background, lmax_dba=None,
                         noise_type="steady"), SOCIAL)
    assert (judged.verdict, judged.exceeded, judged.corrected_dba,
            judged.background_correction_db) == (None, None, None, None)
    assert judged.valid_for_enforcement is False
    assert [r["code"] for r in judged.invalid_reasons] == ["background_too_close"]
    assert judged.invalid_reasons[0]["clause"] == "GB 22337-2008 5.5, 5.7"
    # The limit is still shown beside the reading.
    assert judged.limit_dba == 45.0


def test_the_correction_can_bring_a_reading_within_the_limit() -> None:
    # 45.8 raw is over 45; 3 dB above a 42.8 background it is 42.8 after -3: within.
    judged = assess(full(value_dba=45.8, background_dba=42.8, lmax_dba=None,
                         noise_type="steady"), SOCIAL)
    assert judged.corrected_dba == 42.8
    assert judged.verdict is not None
    assert (judged.verdict["exceeded"], judged.verdict["excess_dba"]) == (False, -2.2)
    assert codes(full(background_dba=None)) == ["background_missing"]


# ---- Lmax at night -------------------------------------------------------------------
@pytest.mark.parametrize(("noise_type", "lmax", "exceeded"), [
    ("frequent", 55.0, False), ("frequent", 55.1, True),
    ("sporadic", 60.0, False), ("sporadic", 60.1, True),
])
def test_night_lmax_margins_gb22337(noise_type: str, lmax: float, exceeded: bool) -> None:
    # Leq 44.0 with a background 20 dB below: within 45; only Lmax can decide.
    judged = assess(full(value_dba=44.0, background_dba=24.0, lmax_dba=lmax,
                         noise_type=noise_type), SOCIAL)
    assert judged.valid_for_enforcement is True
    verdict = judged.verdict
    assert verdict is not None and verdict["exceeded"] is exceeded
    if exceeded:
        margin = 10 if noise_type == "frequent" else 15
        assert verdict["rule"]["code"] == f"night_lmax_{noise_type}"
        assert (verdict["limit_dba"], verdict["excess_dba"]) == (45.0 + margin, 0.1)
        assert verdict["rule"]["clause"].startswith("GB 22337-2008 5.4.1, 6.2")
    else:
        assert verdict["rule"]["code"] == "leq_boundary"
        assert (verdict["limit_dba"], verdict["excess_dba"]) == (45.0, -1.0)


def test_lmax_is_not_held_to_a_margin_by_day_or_for_steady_noise() -> None:
    day = assess(full(period="day", value_dba=54.0, background_dba=30.0, lmax_dba=90.0),
                 SOCIAL)
    assert day.verdict is not None
    assert [c["rule"] for c in day.verdict["checks"]] == ["leq_boundary"]
    assert day.verdict["exceeded"] is False
    steady = assess(full(value_dba=44.0, background_dba=30.0, lmax_dba=90.0,
                         noise_type="steady"), SOCIAL)
    assert steady.verdict is not None and steady.verdict["exceeded"] is False
    # At night frequent or sporadic noise needs its Lmax measured.
    assert codes(full(lmax_dba=None)) == ["lmax_missing"]
    assert codes(full(lmax_dba=None, noise_type="steady")) == []
    assert codes(full(noise_type=None)) == ["noise_type_missing"]


def test_the_leq_decides_when_both_are_over() -> None:
    judged = assess(full(value_dba=50.0, background_dba=30.0, lmax_dba=70.0), SOCIAL)
    assert judged.verdict is not None
    assert (judged.verdict["rule"]["code"], judged.verdict["excess_dba"]) == (
        "leq_boundary", 5.0)
    assert [c["exceeded"] for c in judged.verdict["checks"]] == [True, True]


def construction(**changes: Any) -> dict[str, Any]:
    return full(**{"zone_class": None, "noise_type": None, "duration_s": 1200, **changes})


@pytest.mark.parametrize(("lmax", "exceeded"), [(70.0, False), (70.1, True)])
def test_construction_night_lmax_15_over_the_limit(lmax: float, exceeded: bool) -> None:
    judged = assess(construction(value_dba=54.0, background_dba=40.0, lmax_dba=lmax), BUILD)
    assert judged.valid_for_enforcement is True and judged.standard == "GB 12523-2011"
    verdict = judged.verdict
    assert verdict is not None and verdict["exceeded"] is exceeded
    assert verdict["rule"]["code"] == ("night_lmax" if exceeded else "leq_boundary")
    if exceeded:
        assert verdict["rule"]["clause"] == "GB 12523-2011 4.2"
        assert (verdict["limit_dba"], verdict["excess_dba"]) == (70.0, 0.1)


def test_construction_asks_20_minutes_and_lmax_at_night_whatever_the_noise() -> None:
    assert codes(construction(), BUILD) == []
    judged = assess(construction(duration_s=600), BUILD)
    assert [r["code"] for r in judged.invalid_reasons] == ["duration_too_short"]
    assert judged.invalid_reasons[0]["clause"] == "GB 12523-2011 5.4"
    assert "1200 s" in judged.invalid_reasons[0]["message"]["en"]
    assert codes(construction(lmax_dba=None), BUILD) == ["lmax_missing"]
    assert codes(construction(period="day", lmax_dba=None), BUILD) == []
    # GB 22337: a minute at least.
    assert codes(full(duration_s=59)) == ["duration_too_short"]
    assert codes(full(duration_s=60)) == []
    assert codes(full(duration_s=None)) == ["duration_missing"]


# ---- indoors -------------------------------------------------------------------------
INDOOR_TABLE = {
    "0": {"A": (40, 30), "B": (40, 30)},
    "1": {"A": (40, 30), "B": (45, 35)},
    "2": {"A": (45, 35), "B": (50, 40)},
    "3": {"A": (45, 35), "B": (50, 40)},
    "4": {"A": (45, 35), "B": (50, 40)},
}


@pytest.mark.parametrize("zone", sorted(INDOOR_TABLE))
@pytest.mark.parametrize("room", ["A", "B"])
@pytest.mark.parametrize("period", ["day", "night"])
def test_indoor_structure_borne_limits(zone: str, room: str, period: str) -> None:
    limit = INDOOR_TABLE[zone][room][0 if period == "day" else 1]
    found = standards.leq_limit(SOCIAL, zone, period, position="indoor", room_class=room)
    assert found == standards.Limit(float(limit), "GB 22337-2008", "leq_indoor_structure",
                                    "GB 22337-2008 4.2.1, table 2")
    for value, exceeded in ((limit + 0.1, True), (float(limit), False)):
        judged = assess(full(value_dba=value, zone_class=zone, period=period,
                             position="indoor", room_class=room, windows="closed",
                             background_dba=value - 15, lmax_dba=None, noise_type="steady",
                             weather=None), SOCIAL)
        assert judged.valid_for_enforcement is True, judged.invalid_reasons
        assert judged.verdict is not None
        assert (judged.verdict["exceeded"], judged.verdict["limit_dba"]) == (exceeded, limit)


def indoor(**changes: Any) -> dict[str, Any]:
    return full(**{"position": "indoor", "room_class": "A", "windows": "closed",
                   "weather": None, "value_dba": 36.0, "background_dba": 20.0,
                   "lmax_dba": None, "noise_type": "steady", **changes})


def test_indoor_structure_borne_asks_closed_windows_and_a_room_class() -> None:
    judged = assess(indoor(), SOCIAL)
    assert judged.valid_for_enforcement is True and judged.limit_dba == 30.0
    assert judged.verdict is not None and judged.verdict["excess_dba"] == 6.0
    opened = assess(indoor(windows="open"), SOCIAL)
    assert [r["code"] for r in opened.invalid_reasons] == ["windows_wrong"]
    assert opened.invalid_reasons[0]["clause"] == "GB 22337-2008 4.2.1, 5.3.3.4"
    assert opened.invalid_reasons[0]["message"]["zh"] == "此类室内测量应在窗户关闭状态下进行。"
    assert codes(indoor(windows=None)) == ["windows_missing"]
    no_room = assess(indoor(room_class=None), SOCIAL)
    assert [r["code"] for r in no_room.invalid_reasons] == ["room_class_missing"]
    assert (no_room.limit_dba, no_room.verdict) == (None, None)


def test_indoor_unsteady_lmax_may_exceed_by_10() -> None:
    within = assess(indoor(lmax_dba=40.0, noise_type="frequent", value_dba=29.0), SOCIAL)
    assert within.verdict is not None and within.verdict["exceeded"] is False
    over = assess(indoor(lmax_dba=40.1, noise_type="sporadic", value_dba=29.0), SOCIAL)
    assert over.verdict is not None and over.verdict["exceeded"] is True
    assert (over.verdict["rule"]["code"], over.verdict["rule"]["clause"],
            over.verdict["limit_dba"]) == ("indoor_lmax_unsteady", "GB 22337-2008 4.2.2", 40.0)
    assert codes(indoor(noise_type="frequent")) == ["lmax_missing"]


def test_indoor_because_the_boundary_is_close_is_the_limit_minus_10_windows_open() -> None:
    judged = assess(full(position="indoor_boundary", windows="open", value_dba=36.0,
                         background_dba=20.0, lmax_dba=46.0), SOCIAL)
    assert judged.valid_for_enforcement is True
    assert judged.verdict is not None
    assert (judged.limit_dba, judged.verdict["rule"]["code"], judged.verdict["excess_dba"]) == (
        35.0, "leq_indoor_boundary", 1.0)
    # Night frequent noise: Lmax against (45 - 10) + 10.
    assert judged.verdict["checks"][1] == {"rule": "night_lmax_frequent", "value_dba": 46.0,
                                           "limit_dba": 45.0, "excess_dba": 1.0,
                                           "exceeded": True}
    assert codes(full(position="indoor_boundary", windows="closed")) == ["windows_wrong"]


def test_construction_indoors_is_10_lower_with_windows_open() -> None:
    judged = assess(construction(position="indoor", windows="open", value_dba=45.5,
                                 background_dba=30.0, lmax_dba=60.0), BUILD)
    assert judged.valid_for_enforcement is True
    assert judged.verdict is not None
    assert (judged.limit_dba, judged.verdict["rule"]["clause"], judged.verdict["exceeded"]) == (
        45.0, "GB 12523-2011 4.3", True)
    assert judged.verdict["checks"][1]["limit_dba"] == 60.0  # (55 - 10) + 15
    assert codes(construction(position="indoor", windows="closed"), BUILD) == ["windows_wrong"]
    # Indoors with the windows open the weather still matters for construction.
    assert codes(construction(position="indoor", windows="open", weather=None), BUILD) == [
        "weather_missing"]


def test_a_city_override_is_reduced_indoors(monkeypatch: pytest.MonkeyPatch) -> None:
    data = copy.deepcopy(standards.noise_standards())
    data["overrides"] = [{"code": "City rule 2026", "categories": [SOCIAL], "zone_class": "1",
                          "limits_dba": {"night": 42}}]
    monkeypatch.setattr(standards, "noise_standards", lambda: data)
    found = standards.leq_limit(SOCIAL, "1", "night", position="indoor_boundary")
    assert found == standards.Limit(32.0, "City rule 2026", "leq_indoor_boundary",
                                    "City rule 2026; GB 22337-2008 4.1.3")


# ---- weather -------------------------------------------------------------------------
@pytest.mark.parametrize(("weather", "expected"), [
    ({"precipitation": False, "wind_ms": 4.9}, []),
    ({"precipitation": False, "wind_ms": 5.0}, ["weather_wind"]),
    ({"precipitation": True, "wind_ms": 1.0}, ["weather_precipitation"]),
    ({"precipitation": True, "wind_ms": 7.5}, ["weather_precipitation", "weather_wind"]),
    (None, ["weather_missing"]),
])
def test_weather(weather: dict | None, expected: list[str]) -> None:
    judged = assess(full(weather=weather), SOCIAL)
    assert [r["code"] for r in judged.invalid_reasons] == expected
    assert all(r["clause"] == "GB 22337-2008 5.2.1" for r in judged.invalid_reasons)
    assert judged.valid_for_enforcement is (not expected)
    # Indoors with the windows closed (structure-borne) the weather does not matter.
    assert codes(indoor(weather=weather)) == []


# ---- simple, partial and unjudged ----------------------------------------------------
def test_a_one_figure_reading_is_simple_and_says_why_it_is_not_enforceable() -> None:
    judged = assess({"kind": "noise", "value_dba": 58, "zone_class": "1",
                     "period": "night", "source": "meter"}, SOCIAL)
    assert (judged.record, judged.valid_for_enforcement) == ("simple", False)
    assert judged.invalid_reasons == [{
        "code": "simple_record", "clause": "GB 22337-2008 5.6",
        "message": standards.noise_rules()["reasons"]["simple_record"]}]
    assert judged.verdict is not None
    assert (judged.exceeded, judged.verdict["rule"]["code"], judged.verdict["excess_dba"],
            judged.corrected_dba) == (True, "leq_boundary", 13.0, None)


def test_one_field_makes_a_full_record_judged_on_all_it_lacks() -> None:
    judged = assess({"kind": "noise", "value_dba": 58, "zone_class": "1",
                     "period": "night", "lmax_dba": 70}, SOCIAL)
    assert judged.record == "full" and judged.valid_for_enforcement is False
    assert [r["code"] for r in judged.invalid_reasons] == [
        "meter_missing", "meter_class_missing", "calibrator_missing", "calibration_missing",
        "position_missing", "weather_missing", "duration_missing", "noise_type_missing",
        "background_missing"]
    # Judged uncorrected, as the boundary (the position was not given), and it says so.
    assert judged.verdict is not None and judged.verdict["rule"]["code"] == "leq_boundary"


def test_a_phone_estimate_is_never_judged_nor_valid() -> None:
    judged = assess(full(source="phone_estimate", device="Xiaomi 14"), SOCIAL)
    assert (judged.verdict, judged.exceeded, judged.limit_dba) == (None, None, 45.0)
    assert [r["code"] for r in judged.invalid_reasons] == ["phone_estimate"]
    assert judged.valid_for_enforcement is False


def test_a_given_limit_is_applied_as_given_and_named() -> None:
    judged = assess(full(limit_dba=42, value_dba=44.0, background_dba=30.0), SOCIAL)
    assert judged.verdict is not None
    assert (judged.standard, judged.verdict["rule"]["code"], judged.verdict["limit_dba"],
            judged.verdict["checks"][1]["limit_dba"]) == ("given", "leq_given", 42.0, 52.0)


def test_no_zone_class_no_limit_no_verdict() -> None:
    judged = assess(full(zone_class=None), SOCIAL)
    assert (judged.limit_dba, judged.verdict) == (None, None)
    assert codes(full(zone_class=None)) == ["zone_class_missing"]


def test_every_reason_and_clause_comes_from_the_data() -> None:
    rules = standards.noise_rules()
    assert rules["version"]
    for code, rule_set in rules["standards"].items():
        assert set(rule_set["positions"]) == set(noise_record.POSITIONS), code
        assert set(rule_set["leq_rules"]) == set(noise_record.POSITIONS), code
        for section in ("meter", "calibrator", "calibration", "record", "weather",
                        "duration", "lmax_measurement", "noise_type", "background"):
            assert rule_set[section]["clause"], (code, section)
        for rule in rule_set["lmax"]:
            assert rule["clause"] and rule["text"]["zh"] and rule["text"]["en"]
    for message in rules["reasons"].values():
        assert message["zh"] and message["en"]


# ---- through the API, on both stacks -------------------------------------------------
def visit_with(*readings: dict[str, Any]) -> dict[str, Any]:
    return {"client_id": str(uuid.uuid4()), "kind": "night_check",
            "started_at": "2026-11-23T23:05:00+08:00",
            "ended_at": "2026-11-23T23:40:00+08:00", "measurements": list(readings)}


def test_a_full_record_through_the_api(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case = make_case()
    photo = str(uuid.uuid4())
    body = visit_with(full(meter_photo_client_id=photo, device="AWA5688"),
                      {"kind": "noise", "value_dba": 58, "zone_class": "1",
                       "period": "night"})
    response = api.post(f"/api/cases/{case['id']}/visits", json=body)
    assert response.status_code == 201, response.get_json()
    reading, simple = response.get_json()["measurements"]
    # Every input echoed.
    for name, value in full(meter_photo_client_id=photo).items():
        assert reading[name] == value, name
    assert {k: reading[k] for k in (
        "record", "valid_for_enforcement", "invalid_reasons", "background_correction_db",
        "corrected_dba", "limit_dba", "standard", "exceeded", "rules_version")} == {
        "record": "full", "valid_for_enforcement": True, "invalid_reasons": [],
        "background_correction_db": -1.0, "corrected_dba": 51.4, "limit_dba": 45.0,
        "standard": "GB 22337-2008", "exceeded": True,
        "rules_version": standards.noise_rules()["version"]}
    assert reading["verdict"]["rule"]["code"] == "leq_boundary"
    assert (reading["verdict"]["limit_dba"], reading["verdict"]["excess_dba"]) == (45.0, 6.4)
    assert reading["meter_photo"] == {"client_id": photo, "evidence_id": None}
    assert (simple["record"], simple["valid_for_enforcement"], simple["meter"],
            simple["verdict"]["exceeded"]) == ("simple", False, None, True)
    assert [r["code"] for r in simple["invalid_reasons"]] == ["simple_record"]

    # The photo of the meter's display, declared later, is linked by its client_id.
    data = b"\xff\xd8 meter display"
    declared = api.post("/api/evidence", json={
        "client_id": photo, "case_id": case["id"], "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data), "content_type": "image/jpeg",
        "captured_at": datetime.now(UTC).isoformat()})
    assert declared.status_code == 201, declared.get_json()
    listed = api.get(f"/api/cases/{case['id']}/visits").get_json()["items"][0]
    assert listed["measurements"][0]["meter_photo"] == {
        "client_id": photo, "evidence_id": declared.get_json()["id"]}
    assert listed["measurements"][0]["verdict"] == reading["verdict"]

    stored = db.session.scalars(sa.select(Measurement).order_by(Measurement.position)).first()
    assert stored is not None
    assert (stored.record_kind, stored.verdict_rule, stored.valid_for_enforcement,
            stored.lmax_dba, stored.background_dba, stored.corrected_dba) == (
        "full", "leq_boundary", True, 61.0, 46.0, 51.4)
    assert stored.record_data == {k: v for k, v in full().items()
                                  if k in noise_record.RECORD_DATA_FIELDS}


def test_the_judgement_is_frozen_with_the_reading(app, as_user, make_case, monkeypatch):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case = make_case()
    assert api.post(f"/api/cases/{case['id']}/visits",
                    json=visit_with(full())).status_code == 201
    rules = copy.deepcopy(standards.noise_rules())
    rules["version"] = "later"
    rules["standards"]["GB 22337-2008"]["calibration"]["max_drift_db"] = 0.1
    monkeypatch.setattr(standards, "noise_rules", lambda: rules)
    reading = api.get(f"/api/cases/{case['id']}/visits").get_json()["items"][0][
        "measurements"][0]
    assert (reading["valid_for_enforcement"], reading["rules_version"]) == (
        True, "2026-12")


@pytest.mark.parametrize(("changes", "field"), [
    ({"calibration_before_db": None}, "calibration_after_db"),
    ({"background_dba": 52.5}, "background_dba"),
    ({"room_class": "A"}, "room_class"),
    ({"position": "indoor_boundary", "windows": "open", "room_class": "B"}, "room_class"),
    ({"lmax_dba": 52.3}, "lmax_dba"),
    ({"position": "rooftop"}, "position"),
    ({"meter": {"model": "x", "serial": "y", "class": "3"}}, "meter"),
    ({"weather": {"precipitation": False}}, "weather"),
    ({"meter_photo_client_id": "not-a-uuid"}, "meter_photo_client_id"),
])
def test_bad_records_are_refused_whole_naming_the_field(  # type: ignore[no-untyped-def]
        app, as_user, make_case, changes, field):
    api = as_user("insp_a")
    case = make_case()
    body = visit_with({"kind": "noise", "value_dba": 58, "zone_class": "1",
                       "period": "night"}, full(**changes))
    response = api.post(f"/api/cases/{case['id']}/visits", json=body)
    assert response.status_code == 422, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert list(response.get_json()["errors"]["measurements"]["1"]) == [field]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Measurement)) == 0


def test_a_record_lacking_parts_is_stored_and_shown_not_valid(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case = make_case(category=BUILD)
    body = visit_with(construction(calibration_after_db=94.6, background_dba=53.0,
                                   value_dba=55.0))
    response = api.post(f"/api/cases/{case['id']}/visits", json=body)
    assert response.status_code == 201, response.get_json()
    reading = response.get_json()["measurements"][0]
    assert [(r["code"], r["clause"]) for r in reading["invalid_reasons"]] == [
        ("calibration_drift", "GB 12523-2011 5.1.2"),
        ("background_too_close", "GB 12523-2011 5.5, 5.7")]
    assert (reading["valid_for_enforcement"], reading["verdict"], reading["exceeded"],
            reading["limit_dba"]) == (False, None, None, 55.0)


def test_an_old_one_figure_visit_still_reads(app, as_user, make_case):  # type: ignore[no-untyped-def]
    """A reading stored before migration 0008 has none of the record's columns."""
    api = as_user("insp_a")
    case = make_case()
    posted = api.post(f"/api/cases/{case['id']}/visits", json=visit_with(
        {"kind": "noise", "value_dba": 58, "zone_class": "1", "period": "night"}))
    assert posted.status_code == 201
    db.session.execute(sa.update(Measurement).values(
        record_kind=None, record_data=None, valid_for_enforcement=None, invalid_reasons=None,
        verdict=None, verdict_rule=None, rules_version=None))
    db.session.commit()
    reading = api.get(f"/api/cases/{case['id']}/visits").get_json()["items"][0][
        "measurements"][0]
    assert {k: reading[k] for k in ("value_dba", "limit_dba", "exceeded", "record",
                                    "valid_for_enforcement", "verdict", "meter_photo",
                                    "rules_version", "lmax_dba")} == {
        "value_dba": 58, "limit_dba": 45, "exceeded": True, "record": "simple",
        "valid_for_enforcement": False, "verdict": None, "meter_photo": None,
        "rules_version": None, "lmax_dba": None}
    assert [(r["code"], r["clause"]) for r in reading["invalid_reasons"]] == [
        ("simple_record", "GB 22337-2008 5.6")]


def test_the_standards_endpoint_serves_the_rules(app, as_user):  # type: ignore[no-untyped-def]
    body = as_user("insp_a").get("/api/standards/noise").get_json()
    rules = body["rules"]
    assert rules == standards.noise_rules()
    assert [p["value"] for p in rules["vocab"]["positions"]] == [
        "boundary_outdoor", "indoor", "indoor_boundary"]
    social = rules["standards"]["GB 22337-2008"]
    assert social["calibration"] == {**social["calibration"], "clause": "5.1.2",
                                     "max_drift_db": 0.5}
    assert social["indoor_limits_dba"]["table"]["1"]["B"] == {"day": 45, "night": 35}
    # The construction night margin is one figure, in the rules, shown where it was.
    assert body["standards"][1]["night_max_excess_dba"] == 15
    assert "night_max_excess_dba" not in body["standards"][0]


# ---- migration -----------------------------------------------------------------------
def test_0008_keeps_old_readings(tmp_path: Path) -> None:
    from flask_migrate import downgrade, upgrade

    from server import create_app

    migrations = Path(__file__).resolve().parents[1] / "server" / "migrations"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}",
                      "SECRET_KEY": "m", "INSTANCE_PATH": str(tmp_path),
                      "STORAGE_URL": f"file://{tmp_path}/o"})
    with app.app_context():
        upgrade(directory=str(migrations), revision="0007")
        t = {"t": "2026-11-24 10:00:00"}
        with db.engine.begin() as conn:
            for sql in (
                "INSERT INTO units (id, name, created_at) VALUES ('u', 'U', :t)",
                "INSERT INTO users (id, username, display_name, password_hash, role, active,"
                " created_at) VALUES ('p', 'p', 'P', 'x', 'inspector', true, :t)",
                "INSERT INTO cases (id, channel, category, subject, address, description,"
                " received_at, unit_id, key, status, version, created_at, updated_at,"
                " colour_until) VALUES ('c', 'phone', 'noise_social', 's', 'a', '', :t, 'u',"
                " false, 'received', 1, :t, :t, :t)",
                "INSERT INTO visits (id, client_id, request_hash, case_id, kind, started_at,"
                " participants, findings, created_by, received_at) VALUES ('v', 'v', 'h',"
                " 'c', 'night_check', :t, '[]', '', 'p', :t)",
                "INSERT INTO measurements (id, visit_id, position, kind, value_dba, period,"
                " source, exceeded) VALUES ('m', 'v', 0, 'noise', 58, 'night', 'meter', true)",
            ):
                conn.execute(sa.text(sql), t)
        upgrade(directory=str(migrations), revision="0008")
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("measurements")}
        assert {"record_kind", "record_data", "lmax_dba", "background_dba",
                "background_correction_db", "corrected_dba", "valid_for_enforcement",
                "invalid_reasons", "verdict", "verdict_rule", "rules_version",
                "meter_photo_client_id"} <= columns
        with db.engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT value_dba, exceeded, record_kind, verdict FROM measurements")).one()
        assert (row[0], bool(row[1]), row[2], row[3]) == (58, True, None, None)
        downgrade(directory=str(migrations), revision="0007")
        columns = {c["name"] for c in sa.inspect(db.engine).get_columns("measurements")}
        assert "record_kind" not in columns and "value_dba" in columns
        with db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM measurements")).scalar() == 1
        db.engine.dispose()
