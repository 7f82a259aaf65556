"""Bad input is a clear 4xx problem, never a 500: NUL characters (PostgreSQL refuses them
in text), times outside what the database holds, absurd page numbers."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from marshmallow import fields

from server.extensions import db
from server.models import Case, Evidence, Visit
from tests.conftest import CASE_BODY, unit_id

NUL = "\u0000"


def assert_problem(response, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json()
    if code is not None:
        assert body["code"] == code, body
    return body


def evidence_body(case_id: str, **changes: object) -> dict:
    data = b"\xff\xd8 not really"
    return {"client_id": str(uuid.uuid4()), "case_id": case_id,
            "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
            "content_type": "image/jpeg", "captured_at": datetime.now(UTC).isoformat(),
            **changes}


def visit_body(**changes: object) -> dict:
    return {"client_id": str(uuid.uuid4()), "kind": "night_check",
            "started_at": "2026-11-23T23:00:00+08:00", **changes}


def test_nul_in_login_is_refused(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    for body in ({"username": "a" + NUL, "password": "whatever-it-is"},
                 {"username": "insp_a", "password": "x" + NUL + "yyyyyyy"}):
        refused = assert_problem(client.post("/api/auth/login", json=body), 422,
                                 "request.invalid")
        assert set(refused["errors"]) <= {"username", "password"}


@pytest.mark.parametrize("url", [
    "/api/cases/%00", "/api/cases/a%00b/visits", "/api/evidence/%00",
    "/api/evidence/%00/complete", "/api/cases?q=a%00b", "/api/cases?unit=%00",
    "/api/cases?status=received&q=%00",
])
def test_nul_in_path_or_query_is_a_400(app, as_user, url: str):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    method = "POST" if url.endswith("complete") else "GET"
    assert_problem(api.request(method, url), 400, "request.bad")


def test_nul_in_bodies_is_refused_field_by_field(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case()
    office, field = as_user("reviewer"), as_user("insp_a")
    created = office.post("/api/cases", json={**CASE_BODY, "unit_id": unit_id("Street A"),
                                              "subject": "噪声" + NUL,
                                              "complainant": {"name": NUL, "phone": None}})
    assert set(assert_problem(created, 422, "request.invalid")["errors"]) == {
        "subject", "complainant"}
    wrong_unit = office.post("/api/cases", json={**CASE_BODY, "unit_id": NUL})
    assert "unit_id" in assert_problem(wrong_unit, 422)["errors"]
    patched = office.patch(f"/api/cases/{case['id']}", json={"description": NUL, "version": 1,
                                                             "unit_id": "x" + NUL})
    assert set(assert_problem(patched, 422)["errors"]) == {"description", "unit_id"}
    reveal = office.post(f"/api/cases/{case['id']}/complainant/reveal",
                         json={"reason": "need" + NUL})
    assert "reason" in assert_problem(reveal, 422)["errors"]

    visit = field.post(f"/api/cases/{case['id']}/visits",
                       json=visit_body(findings="ok" + NUL, measurements=[{
                           "kind": "noise", "value_dba": 50, "period": "night",
                           "device": "AWA" + NUL}]))
    assert set(assert_problem(visit, 422)["errors"]) == {"findings", "measurements"}

    for name in ("caption", "place", "photographer", "case_id", "visit_id", "content_type"):
        refused = field.post("/api/evidence", json={**evidence_body(case["id"]),
                                                    name: "x" + NUL})
        assert name in assert_problem(refused, 422, "request.invalid")["errors"], name
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_lone_surrogates_are_refused(app, as_user, make_case):  # type: ignore[no-untyped-def]
    # Valid JSON ("\ud800"), but no database can encode it as UTF-8.
    case = make_case()
    api = as_user("insp_a")
    body = json.dumps(evidence_body(case["id"], caption="@@"))
    refused = api.post("/api/evidence", data=body.replace('"@@"', '"\\ud800"'),
                       content_type="application/json")
    assert "caption" in assert_problem(refused, 422)["errors"]


@pytest.mark.parametrize("when", [
    "0001-01-01T00:00:00+05:00",   # UTC would be year 0
    "9999-12-31T23:00:00-05:00",   # UTC would be year 10000
    "1969-12-31T23:59:59+00:00",
    "2101-01-01T00:00:00+00:00",
])
def test_times_outside_the_storable_range_are_refused(app, as_user, make_case, when: str):  # type: ignore[no-untyped-def]
    case = make_case()
    office, field = as_user("reviewer"), as_user("insp_a")
    created = office.post("/api/cases", json={**CASE_BODY, "unit_id": unit_id("Street A"),
                                              "received_at": when})
    assert "received_at" in assert_problem(created, 422)["errors"]
    patched = office.patch(f"/api/cases/{case['id']}", json={"received_at": when,
                                                             "version": 1})
    assert "received_at" in assert_problem(patched, 422)["errors"]
    for name in ("started_at", "ended_at", "device_time"):
        refused = field.post(f"/api/cases/{case['id']}/visits", json=visit_body(**{name: when}))
        assert name in assert_problem(refused, 422)["errors"], name
    for changes in ({"captured_at": when}, {"device_time": when},
                    {"geo": {"lat": 1, "lon": 1, "fixed_at": when}}):
        refused = field.post("/api/evidence", json=evidence_body(case["id"], **changes))
        assert set(changes) <= set(assert_problem(refused, 422)["errors"]), changes
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1


def test_times_at_the_edges_are_kept(app, as_user):  # type: ignore[no-untyped-def]
    created = as_user("reviewer").post("/api/cases", json={
        **CASE_BODY, "unit_id": unit_id("Street A"), "received_at": "2000-01-01T08:00:00+08:00"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["received_at"].startswith("2000-01-01T00:00:00")


@pytest.mark.parametrize("page", ["99999999999999999999", "100001", "0", "-1"])
def test_absurd_pages_are_a_422(app, as_user, page: str):  # type: ignore[no-untyped-def]
    for sort in ("received", "due"):
        response = as_user("reviewer").get(f"/api/cases?page={page}&sort={sort}")
        assert "page" in assert_problem(response, 422)["errors"]


def test_the_last_allowed_page_is_just_empty(app, as_user):  # type: ignore[no-untyped-def]
    response = as_user("reviewer").get("/api/cases?page=100000")
    assert response.status_code == 200 and response.get_json()["items"] == []


def test_every_string_field_refuses_nul() -> None:
    """A new plain fields.String in the schemas would let NUL through to the database."""
    import importlib
    import pkgutil

    from marshmallow import Schema

    import server.api
    from server.api.fields import Text

    # The shared fields and each context's schemas beside its routes (server/api/*/schemas).
    modules = [importlib.import_module(m.name) for m in pkgutil.walk_packages(
        server.api.__path__, "server.api.")
        if m.name.rsplit(".", 1)[-1] in ("fields", "schemas", "admin_schemas")]

    def strings(field: fields.Field) -> list[fields.Field]:
        found = [field] if isinstance(field, fields.String) else []
        for inner in (getattr(field, "inner", None), getattr(field, "key_field", None),
                      getattr(field, "value_field", None)):
            if inner is not None:
                found += strings(inner)
        return found

    checked = 0
    schemas = {value for module in modules for value in vars(module).values()
               if isinstance(value, type) and issubclass(value, Schema) and value is not Schema}
    for value in schemas:
        for name, field in value._declared_fields.items():
            for found in strings(field):
                assert isinstance(found, Text), f"{value.__name__}.{name}"
                checked += 1
    assert checked > 40


def test_database_value_errors_are_a_422_not_a_500(app, as_user):  # type: ignore[no-untyped-def]
    """The backstop for whatever validation misses: the database refusing a value."""
    from datetime import timedelta, timezone

    def bad_value(kind: str):  # type: ignore[no-untyped-def]
        if kind == "overflow":  # OverflowError inside UTCDateTime: a StatementError
            far = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))
            db.session.scalar(sa.select(Case.id).where(Case.received_at == far))
        elif app.config["STACK"] == "scaled":  # psycopg refuses NUL: a DataError
            db.session.scalar(sa.select(Case.id).where(Case.subject == NUL))
        else:  # sqlite3 refuses integers past 64 bits with a bare OverflowError
            db.session.scalar(sa.select(Case.id).where(Case.version == 2**70))
        return "unreachable"

    app.add_url_rule("/api/test-bad-value/<kind>", view_func=bad_value)
    api = as_user("reviewer")
    for kind in ("overflow", "data"):
        assert_problem(api.get(f"/api/test-bad-value/{kind}"), 422, "request.invalid_value")
    assert api.get("/api/cases").status_code == 200  # the session was rolled back
