"""GET /api/standards/noise: the standards data and the limit per category and zone."""

from __future__ import annotations

import copy

from server.domain.core import vocab
from server.domain.fieldwork import standards


def test_needs_a_session(app):  # type: ignore[no-untyped-def]
    response = app.test_client().get("/api/standards/noise")
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def test_serves_the_data_and_the_limits_map(app, as_user):  # type: ignore[no-untyped-def]
    response = as_user("insp_a").get("/api/standards/noise")
    assert response.status_code == 200
    body = response.get_json()
    data = standards.noise_standards()
    assert body["version"] == data["version"]
    assert body["night"] == {"start": "22:00", "end": "06:00",
                             "source": data["night"]["source"]}
    assert [s["code"] for s in body["standards"]] == ["GB 22337-2008", "GB 12523-2011"]
    assert body["standards"][0]["limits_dba"]["1"] == {"day": 55, "night": 45}
    assert body["standards"][1]["night_max_excess_dba"] == 15
    limits = body["limits"]
    assert limits["noise_social"]["1"] == {"day": 55, "night": 45}
    assert limits["noise_commercial"]["4"] == {"day": 70, "night": 55}
    assert {z: limits["noise_social"][z] for z in ("0", "2", "3")} == {
        "0": {"day": 50, "night": 40}, "2": {"day": 60, "night": 50},
        "3": {"day": 65, "night": 55}}
    # Construction has one limit at every zone class.
    assert all(limits["noise_construction"][z] == {"day": 70, "night": 55}
               for z in vocab.ZONE_CLASSES)
    # Categories no standard names are judged, and so listed, by the default standard.
    assert limits["other"] == limits["cooking_fumes"] == limits["noise_social"]
    # The map says exactly what judging a reading would use.
    for category, zones in limits.items():
        assert category in vocab.CATEGORIES
        for zone, periods in zones.items():
            for period, limit in periods.items():
                assert standards.judge_noise(0, category=category, zone_class=zone,
                                             period=period).limit_dba == limit


def test_a_city_override_shows_in_the_limits(app, as_user, monkeypatch):  # type: ignore[no-untyped-def]
    data = copy.deepcopy(standards.noise_standards())
    data["overrides"] = [{"code": "City rule 2026", "categories": ["noise_social"],
                          "zone_class": "1", "limits_dba": {"night": 42}}]
    monkeypatch.setattr(standards, "noise_standards", lambda: data)
    body = as_user("insp_a").get("/api/standards/noise").get_json()
    assert body["limits"]["noise_social"]["1"] == {"day": 55, "night": 42}
    assert body["limits"]["noise_social"]["2"] == {"day": 60, "night": 50}
    assert body["limits"]["noise_commercial"]["1"] == {"day": 55, "night": 45}
    assert body["overrides"][0]["code"] == "City rule 2026"


def test_limits_table_leaves_out_what_has_no_limit(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(standards.noise_standards())
    default = next(s for s in data["standards"] if s["code"] == standards.DEFAULT_STANDARD)
    del default["limits_dba"]["4"]
    monkeypatch.setattr(standards, "noise_standards", lambda: data)
    table = standards.noise_limits_table()
    assert "4" not in table["noise_social"] and "3" in table["noise_social"]
    assert "4" in table["noise_construction"]
