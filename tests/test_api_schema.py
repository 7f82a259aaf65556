"""Schemathesis against the served OpenAPI document: generated requests to every
operation, as a logged-in administrator, with a fixed seed and a bounded number of
examples. No answer may be a server error, and every answer must be one the document
declares (status, content type, headers, body schema)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import CASE_BODY, ApiClient, login

EXAMPLES = 6
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


SPEC = json.loads((Path(__file__).resolve().parents[1] / "docs/openapi.json").read_text())
# Every operation of the document (the committed file is the served one: another test
# compares them).
OPERATIONS = sorted((path, method.upper()) for path, item in SPEC["paths"].items()
                    for method in item if method in {"get", "post", "put", "patch", "delete"})
# Logging out would end the session the later examples use (the logout is tested
# elsewhere).
SKIPPED = {("/api/auth/logout", "POST")}


@pytest.fixture()
def api_schema(app: Flask) -> schemathesis.BaseSchema:
    # Generated logins would otherwise spend the rate limit.
    app.config["LOGIN_RATE_LIMIT"] = "100000 per minute"
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@pytest.fixture()
def admin(app: Flask) -> ApiClient:
    """The session every generated request is sent with (one login: each costs an
    argon2 hash)."""
    return login(app, "admin")


@pytest.fixture()
def known_ids(app: Flask, admin: ApiClient) -> dict[str, str]:
    """Real ids for the path parameters and bodies, so that generated requests reach the
    code behind the 404 (transitions, evidence, revisits) and not only the 404 itself."""
    import sqlalchemy as sa

    from server.extensions import db
    from server.models import Unit, User
    from tests.test_evidence import NOKIA, declaration

    unit = db.session.scalar(sa.select(Unit.id).filter_by(name="Street A"))
    case = admin.post("/api/cases", json={**CASE_BODY, "unit_id": unit}).get_json()
    declared = login(app, "insp_a").post("/api/evidence", json=declaration(
        case["id"], NOKIA.read_bytes())).get_json()
    hook = admin.post("/api/webhooks", json={
        "url": "https://example.org/hook", "events": ["case.overdue"]}).get_json()
    return {"case_id": case["id"], "evidence_id": declared["id"], "year": "2026",
            "user_id": db.session.scalar(sa.select(User.id).filter_by(username="insp_a")),
            "unit_id": unit, "hook_id": hook.get("id", "")}


def check_operation(app: Flask, api_schema, admin: ApiClient, known_ids: dict[str, str],  # type: ignore[no-untyped-def]
                    path: str, method: str) -> None:
    """Each example sends a valid request about real records and an invalid one; raises
    Schemathesis' failure for the first answer that breaks the contract."""
    operation = api_schema[path][method]
    declared = SPEC["paths"][path][method.lower()]
    parameters = SPEC["paths"][path].get("parameters", []) + declared.get("parameters", [])
    real = {p["name"]: known_ids[p["name"]] for p in parameters
            if p["in"] == "path" and p["name"] in known_ids}
    # Something to get wrong besides the path (whose strings are all valid strings).
    # A lone optional boolean is no such thing: its generated "invalid" values are mostly
    # an empty string or unknown extra names, both of which a query string may carry.
    refusable = "requestBody" in declared or any(
        p["in"] == "query" and p.get("schema", {}).get("type") != "boolean" for p in parameters)
    answers: list[int] = []
    cookie = admin.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None

    def send(case) -> None:  # type: ignore[no-untyped-def]
        answer = case.call_and_validate(
            headers={"X-CSRF-Token": admin.csrf},
            cookies={app.config["SESSION_COOKIE_NAME"]: cookie.value},
            checks=CHECKS)
        answers.append(answer.status_code)

    valid_cases = operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real or None)
    invalid_cases = operation.as_strategy(GenerationMode.NEGATIVE)

    @given(data=st.data())
    @seed(20261202)
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def example(data) -> None:  # type: ignore[no-untyped-def]
        valid = data.draw(valid_cases)
        if isinstance(valid.body, dict):
            for name in ("case_id", "unit_id"):  # a body naming records that exist
                if name in valid.body:
                    valid.body[name] = known_ids[name]
        send(valid)
        if refusable:
            send(data.draw(invalid_cases))

    example()
    assert answers, "no request was generated"
    if refusable:  # the invalid ones really were refused
        assert any(400 <= code < 500 for code in answers), answers


# The contract is the same on both stacks: checked on the embedded one only. One test
# (one app, one login) goes through every operation and reports each one that fails.
@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_the_api_keeps_its_published_contract(app: Flask, api_schema, admin: ApiClient,  # type: ignore[no-untyped-def]
                                              known_ids) -> None:
    failures = {}
    checked = 0
    for path, method in OPERATIONS:
        if (path, method) in SKIPPED:
            continue
        try:
            check_operation(app, api_schema, admin, known_ids, path, method)
        except Exception as exc:  # Schemathesis' FailureGroup, or an assertion
            failures[f"{method} {path}"] = str(exc)[:2000]
        checked += 1
    assert checked == len(OPERATIONS) - len(SKIPPED)
    assert not failures, "\n\n".join(f"{op}:\n{why}" for op, why in failures.items())
