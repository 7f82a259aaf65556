"""Visits and their noise readings, judged against the standards kept as data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from server.domain.fieldwork.standards import judge_noise
from server.extensions import db
from server.models import Measurement, Visit


def visit_body(**changes: object) -> dict:
    body = {
        "client_id": str(uuid.uuid4()),
        "kind": "night_check",
        "started_at": "2026-11-23T23:05:00+08:00",
        "ended_at": "2026-11-23T23:40:00+08:00",
        "location": {"lat": 60.1467, "lon": 24.9068, "accuracy_m": 12},
        "participants": ["police", "culture_market", "community"],
        "findings": "酒吧音响外放，住户卧室内可闻",
        "measurements": [{"kind": "noise", "value_dba": 58, "zone_class": "1",
                          "period": "night"}],
    }
    body.update(changes)
    return body


def test_night_check_reading_is_judged_against_gb22337(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case = make_case()
    response = api.post(f"/api/cases/{case['id']}/visits", json=visit_body())
    assert response.status_code == 201
    reading = response.get_json()["measurements"][0]
    assert reading["limit_dba"] == 45 and reading["exceeded"] is True
    assert reading["standard"] == "GB 22337-2008"
    listed = api.get(f"/api/cases/{case['id']}/visits").get_json()["items"]
    assert [v["participants"] for v in listed] == [["police", "culture_market", "community"]]


def test_construction_uses_gb12523(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(category="noise_construction")
    body = visit_body(measurements=[{"kind": "noise", "value_dba": 54.5, "period": "night"}])
    reading = as_user("insp_a").post(f"/api/cases/{case['id']}/visits",
                                     json=body).get_json()["measurements"][0]
    assert (reading["limit_dba"], reading["exceeded"], reading["standard"]) == (
        55, False, "GB 12523-2011")


@pytest.mark.parametrize(("zone", "period", "limit"), [
    ("0", "day", 50), ("0", "night", 40), ("1", "day", 55), ("1", "night", 45),
    ("2", "day", 60), ("2", "night", 50), ("3", "day", 65), ("3", "night", 55),
    ("4", "day", 70), ("4", "night", 55),
])
def test_gb22337_limits(zone: str, period: str, limit: int) -> None:
    judged = judge_noise(limit + 0.1, category="noise_social", zone_class=zone, period=period)
    assert judged.limit_dba == limit and judged.exceeded is True
    assert judge_noise(limit, category="noise_social", zone_class=zone,
                       period=period).exceeded is False


def test_a_given_stricter_limit_wins(app, as_user, make_case):  # type: ignore[no-untyped-def]
    body = visit_body(measurements=[{"kind": "noise", "value_dba": 43, "zone_class": "1",
                                     "period": "night", "limit_dba": 42}])
    reading = as_user("insp_a").post(f"/api/cases/{make_case()['id']}/visits",
                                     json=body).get_json()["measurements"][0]
    assert (reading["limit_dba"], reading["exceeded"], reading["standard"]) == (42, True, "given")


def test_retry_returns_the_first_visit_and_other_body_is_refused(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case = make_case()
    body = visit_body()
    first = api.post(f"/api/cases/{case['id']}/visits", json=body)
    again = api.post(f"/api/cases/{case['id']}/visits", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    changed = api.post(f"/api/cases/{case['id']}/visits", json={**body, "findings": "别的"})
    assert changed.status_code == 422 and changed.get_json()["code"] == "idempotency.conflict"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 1


def test_bad_visits_are_refused_whole(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case = make_case()
    bad = api.post(f"/api/cases/{case['id']}/visits", json=visit_body(
        kind="picnic", participants=["aliens"],
        measurements=[{"kind": "noise", "value_dba": -3, "period": "dusk"}]))
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"kind", "participants", "measurements"}
    backwards = api.post(f"/api/cases/{case['id']}/visits", json=visit_body(
        ended_at="2026-11-23T22:00:00+08:00"))
    assert backwards.status_code == 422 and backwards.get_json()["code"] == "visit.bad_times"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 0


def test_visits_are_scoped(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(unit="Street A")
    other = as_user("insp_b")
    assert other.post(f"/api/cases/{case['id']}/visits", json=visit_body()).status_code == 404
    assert other.get(f"/api/cases/{case['id']}/visits").status_code == 404
    assert as_user("revisit").post(f"/api/cases/{case['id']}/visits",
                                   json=visit_body()).status_code == 403


def test_simultaneous_retries_store_one_visit(app, make_case):  # type: ignore[no-untyped-def]
    import threading

    from tests.conftest import login

    case = make_case()
    body = visit_body()
    clients = [login(app, "insp_a") for _ in range(4)]
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def send(api) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        statuses.append(api.post(f"/api/cases/{case['id']}/visits", json=body).status_code)

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses)[-1] == 201 and statuses.count(201) == 1
    assert set(statuses) <= {200, 201}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 1


def test_a_phone_estimate_is_shown_against_the_limit_but_never_judged(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case = make_case()
    body = visit_body(measurements=[
        {"kind": "noise", "value_dba": 61, "zone_class": "1", "period": "night",
         "source": "phone_estimate", "device": "Xiaomi 14", "calibration_offset_db": -2.5},
        {"kind": "noise", "value_dba": 58, "zone_class": "1", "period": "night",
         "device": "AWA5688"},
    ])
    response = api.post(f"/api/cases/{case['id']}/visits", json=body)
    assert response.status_code == 201, response.get_json()
    estimate, meter = response.get_json()["measurements"]
    assert (estimate["limit_dba"], estimate["standard"], estimate["exceeded"]) == (
        45, "GB 22337-2008", None)
    assert (estimate["source"], estimate["device"], estimate["calibration_offset_db"]) == (
        "phone_estimate", "Xiaomi 14", -2.5)
    assert (meter["exceeded"], meter["source"], meter["device"]) == (True, "meter", "AWA5688")
    assert meter["calibration_offset_db"] is None
    listed = api.get(f"/api/cases/{case['id']}/visits").get_json()["items"][0]["measurements"]
    assert listed == [estimate, meter]
    stored = db.session.scalars(sa.select(Measurement).order_by(Measurement.position)).all()
    assert [(m.exceeded, m.device, m.calibration_offset_db) for m in stored] == [
        (None, "Xiaomi 14", -2.5), (True, "AWA5688", None)]


def test_a_phone_estimate_without_its_device_is_refused(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case = make_case()
    estimate = {"kind": "noise", "value_dba": 61, "zone_class": "1", "period": "night",
                "source": "phone_estimate"}
    meter = {"kind": "noise", "value_dba": 58, "zone_class": "1", "period": "night"}
    for bad in ({}, {"device": None}, {"device": "   "}):
        response = api.post(f"/api/cases/{case['id']}/visits",
                            json=visit_body(measurements=[meter, {**estimate, **bad}]))
        assert response.status_code == 422
        assert response.get_json()["errors"] == {"measurements": {"1": {"device": [
            "A phone estimate must name the phone model."]}}}
    out_of_range = api.post(f"/api/cases/{case['id']}/visits", json=visit_body(
        measurements=[{**estimate, "device": "x" * 121, "calibration_offset_db": 31}]))
    assert out_of_range.status_code == 422
    assert set(out_of_range.get_json()["errors"]["measurements"]["0"]) == {
        "device", "calibration_offset_db"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 0


def test_the_domain_refuses_an_estimate_without_device_too(app, make_case):  # type: ignore[no-untyped-def]
    from server.domain.core.errors import Invalid
    from server.domain.fieldwork import visits
    from server.models import User

    case = make_case()
    user = db.session.scalar(sa.select(User).filter_by(username="insp_a"))
    data = {**visit_body(measurements=[{"kind": "noise", "value_dba": 61, "period": "night",
                                        "source": "phone_estimate"}])}
    data["started_at"] = data["ended_at"] = datetime.now(UTC)
    with pytest.raises(Invalid) as refused:
        visits.record_visit(user, case["id"], data)
    assert refused.value.code == "visit.estimate_without_device"
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 0


def test_a_client_id_used_in_another_unit_is_a_conflict(app, as_user, make_case):  # type: ignore[no-untyped-def]
    body = visit_body()
    first = as_user("insp_a").post(f"/api/cases/{make_case(unit='Street A')['id']}/visits",
                                   json=body)
    assert first.status_code == 201
    case_b = make_case(unit="Street B")
    again = as_user("insp_b").post(f"/api/cases/{case_b['id']}/visits", json=body)
    assert again.status_code == 422 and again.get_json()["code"] == "idempotency.conflict"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 1
