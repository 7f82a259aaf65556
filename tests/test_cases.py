"""Cases: creation, validation, filters, paging, masking, scoping, optimistic locking."""

from __future__ import annotations

import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry, Case
from tests.conftest import CASE_BODY, unit_id


def test_office_creates_a_case(app, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    response = api.post("/api/cases", json={**CASE_BODY, "unit_id": unit_id("Street A"),
                                            "key": True})
    assert response.status_code == 201
    case = response.get_json()
    assert case["status"] == "received" and case["version"] == 1 and case["key"] is True
    assert case["location"] == {"lat": 60.1467, "lon": 24.9068}
    assert case["unit"]["name"] == "Street A"
    assert case["received_at"].startswith("2026-11-20T15:05:00")  # stored as UTC
    assert case["complainant"] == {"name": "张*", "phone": "138****1234"}
    assert api.get(f"/api/cases/{case['id']}").get_json()["subject"] == CASE_BODY["subject"]


def test_bad_case_input_is_a_422_and_writes_nothing(app, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    response = api.post("/api/cases", json={
        **CASE_BODY, "unit_id": unit_id("Street A"), "channel": "carrier_pigeon",
        "location": {"lat": 95, "lon": 0}, "received_at": "yesterday", "subject": "  "})
    assert response.status_code == 422
    assert response.headers["Content-Type"] == "application/problem+json"
    assert set(response.get_json()["errors"]) == {"channel", "location", "received_at",
                                                 "subject"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_inspectors_cannot_create_cases(app, as_user):  # type: ignore[no-untyped-def]
    response = as_user("insp_a").post("/api/cases", json={**CASE_BODY,
                                                           "unit_id": unit_id("Street A")})
    assert response.status_code == 403


def test_case_for_a_unit_outside_ones_own_is_refused(app, as_user):  # type: ignore[no-untyped-def]
    response = as_user("reviewer_a").post("/api/cases", json={
        **CASE_BODY, "unit_id": unit_id("Street B")})
    assert response.status_code == 422 and response.get_json()["code"] == "case.bad_unit"


def test_list_filters_pages_and_masks(app, as_user, make_case):  # type: ignore[no-untyped-def]
    make_case(subject="KTV 噪声", category="noise_social")
    make_case(subject="饭店油烟", category="cooking_fumes", channel="online")
    make_case(subject="工地夜间施工", category="noise_construction", unit="Street B")
    api = as_user("reviewer")
    everything = api.get("/api/cases?per_page=2").get_json()
    assert (everything["total"], everything["page"], everything["per_page"]) == (3, 1, 2)
    assert len(everything["items"]) == 2
    assert len(api.get("/api/cases?per_page=2&page=2").get_json()["items"]) == 1
    fumes = api.get("/api/cases?category=cooking_fumes").get_json()["items"]
    assert [c["subject"] for c in fumes] == ["饭店油烟"]
    assert api.get("/api/cases?channel=online").get_json()["total"] == 1
    assert api.get(f"/api/cases?unit={unit_id('Street B')}").get_json()["total"] == 1
    assert [c["subject"] for c in api.get("/api/cases?q=KTV").get_json()["items"]] == ["KTV 噪声"]
    assert api.get("/api/cases?status=received").get_json()["total"] == 3
    assert all(c["complainant"]["phone"] == "138****1234" for c in everything["items"])
    bad = api.get("/api/cases?per_page=1000&status=lost")
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"per_page", "status"}


def test_units_see_only_their_cases(app, as_user, make_case):  # type: ignore[no-untyped-def]
    a = make_case(unit="Street A")
    b = make_case(unit="Street B")
    insp_a = as_user("insp_a")
    assert [c["id"] for c in insp_a.get("/api/cases").get_json()["items"]] == [a["id"]]
    other = insp_a.get(f"/api/cases/{b['id']}")
    assert other.status_code == 404 and other.get_json()["code"] == "case.not_found"
    assert insp_a.get("/api/cases/no-such-id").status_code == 404
    assert as_user("reviewer").get("/api/cases").get_json()["total"] == 2  # the district


def test_patch_needs_the_current_version(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case()
    api = as_user("reviewer")
    changed = api.patch(f"/api/cases/{case['id']}", json={"subject": "改", "version": 1})
    assert changed.status_code == 200
    assert changed.get_json()["version"] == 2 and changed.get_json()["subject"] == "改"
    stale = api.patch(f"/api/cases/{case['id']}", json={"subject": "再改", "version": 1})
    assert stale.status_code == 409
    assert stale.get_json()["code"] == "case.version_conflict"
    assert stale.get_json()["current_version"] == 2
    assert api.get(f"/api/cases/{case['id']}").get_json()["subject"] == "改"
    missing = api.patch(f"/api/cases/{case['id']}", json={"subject": "x"})
    assert missing.status_code == 422 and "version" in missing.get_json()["errors"]


def test_revealing_a_complainant_needs_a_reason_and_is_logged(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case()
    url = f"/api/cases/{case['id']}/complainant/reveal"
    assert as_user("insp_a").post(url, json={"reason": "need to call"}).status_code == 403
    revisit = as_user("revisit")
    assert revisit.post(url, json={"reason": ""}).status_code == 422
    # Not a case the revisit user has to call (test_revisit_loop): the office reveals it.
    untasked = revisit.post(url, json={"reason": "回访满意度电话"})
    assert untasked.status_code == 403
    shown = as_user("reviewer").post(url, json={"reason": "回访满意度电话"})
    assert shown.status_code == 200
    assert shown.get_json() == {"name": "张三", "phone": "13812341234"}
    logged = db.session.scalar(sa.select(AuditEntry).filter_by(
        action="case.complainant_revealed", entity_id=case["id"]))
    assert logged.data == {"reason": "回访满意度电话"}


def test_unknown_api_paths_are_problem_json(app, as_user):  # type: ignore[no-untyped-def]
    response = as_user("insp_a").get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"


def test_a_concurrent_patch_is_a_409_not_a_500(app, as_user, make_case, monkeypatch):  # type: ignore[no-untyped-def]
    from server.domain.accounts import scope
    from server.domain.cases import cases

    case = make_case()
    real_get_case = scope.get_case

    def read_then_someone_else_writes(user, case_id, **kw):  # type: ignore[no-untyped-def]
        # Another request commits its change just before this one takes the row (which
        # it locks: on PostgreSQL the other would otherwise wait for this one).
        with db.engine.begin() as other:
            other.execute(sa.update(Case).where(Case.id == case_id)
                          .values(version=Case.version + 1, subject="别人改的"))
        return real_get_case(user, case_id, **kw)

    monkeypatch.setattr(cases.scope, "get_case", read_then_someone_else_writes)
    api = as_user("reviewer")
    raced = api.patch(f"/api/cases/{case['id']}", json={"subject": "我改的", "version": 1})
    assert raced.status_code == 409, raced.get_json()
    assert raced.get_json()["code"] == "case.version_conflict"
    monkeypatch.setattr(cases.scope, "get_case", real_get_case)
    kept = api.get(f"/api/cases/{case['id']}").get_json()
    assert (kept["subject"], kept["version"]) == ("别人改的", 2)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "case.updated")) == 0


def test_other_units_cannot_patch_or_reveal(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(unit="Street B")
    reviewer_a = as_user("reviewer_a")  # office staff, but of Street A only
    patched = reviewer_a.patch(f"/api/cases/{case['id']}", json={"subject": "x", "version": 1})
    assert patched.status_code == 404 and patched.get_json()["code"] == "case.not_found"
    revealed = reviewer_a.post(f"/api/cases/{case['id']}/complainant/reveal",
                               json={"reason": "回访满意度电话"})
    assert revealed.status_code == 404 and revealed.get_json()["code"] == "case.not_found"
    assert as_user("reviewer").get(f"/api/cases/{case['id']}").get_json()["subject"] == \
        CASE_BODY["subject"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action.in_(("case.updated", "case.complainant_revealed")))) == 0


def test_a_long_list_is_counted_up_to_the_cap(app, as_user, make_case, monkeypatch):  # type: ignore[no-untyped-def]
    from server.domain.cases import cases

    for n in range(3):
        make_case(subject=f"case {n}", received_at=f"2026-11-2{n}T22:00:00+08:00")
    api = as_user("reviewer")
    exact = api.get("/api/cases").get_json()
    assert (exact["total"], exact["total_exact"]) == (3, True)
    monkeypatch.setattr(cases, "COUNT_CAP", 2)
    capped = api.get("/api/cases?per_page=1&page=3").get_json()
    assert (capped["total"], capped["total_exact"]) == (2, False)
    assert [c["subject"] for c in capped["items"]] == ["case 0"]  # paging still reaches it
