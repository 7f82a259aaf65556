"""Health of the parts, and the served OpenAPI document against the committed one."""

from __future__ import annotations

import json
from pathlib import Path

from server.storage import from_url

SPEC_FILE = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def test_health_reports_ok(app):  # type: ignore[no-untyped-def]
    response = app.test_client().get("/api/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "storage": "ok"}


def store_down(app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An object store nobody listens on (a closed loopback port), until the test ends."""
    monkeypatch.setitem(app.extensions, "fieldcase.storage", from_url(
        "s3://nowhere?endpoint=http://127.0.0.1:9&region=us-east-1&access_key=a&secret_key=b"))


def test_health_names_the_failing_part(app, monkeypatch):  # type: ignore[no-untyped-def]
    store_down(app, monkeypatch)
    response = app.test_client().get("/api/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "database": "ok",
                                   "storage": "unavailable"}
    # Liveness is the process alone: a store or database down does not restart workers.
    live = app.test_client().get("/api/live")
    assert live.status_code == 200 and live.get_json() == {"status": "ok"}


def test_served_spec_matches_the_committed_file(app):  # type: ignore[no-untyped-def]
    served = app.test_client().get("/api/openapi.json").get_json()
    assert served["openapi"].startswith("3.")
    assert "/api/evidence/{evidence_id}/complete" in served["paths"]
    committed = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    assert served == committed, "run `make openapi` and commit docs/openapi.json"


def test_storage_outage_is_a_503_and_keeps_the_row(app, as_user, make_case, monkeypatch):  # type: ignore[no-untyped-def]
    import hashlib
    import uuid
    from datetime import UTC, datetime

    api = as_user("insp_a")
    case = make_case()
    data = b"\xff\xd8 not really"
    store_down(app, monkeypatch)
    response = api.post("/api/evidence", json={
        "client_id": str(uuid.uuid4()), "case_id": case["id"],
        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        "content_type": "image/jpeg", "captured_at": datetime.now(UTC).isoformat()})
    # Declaring needs no store (the URL is signed locally); completing does.
    assert response.status_code == 201
    done = api.post(f"/api/evidence/{response.get_json()['id']}/complete")
    assert done.status_code == 503
    assert done.get_json()["code"] == "storage.unavailable"
    assert done.headers["Retry-After"] == "60"
    assert api.get(f"/api/evidence/{response.get_json()['id']}").get_json()["state"] == "pending"


def test_the_session_scheme_names_the_configured_cookie(tmp_path):  # type: ignore[no-untyped-def]
    from server import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                      "STORAGE_URL": f"file://{tmp_path / 'objects'}",
                      "SESSION_COOKIE_NAME": "__Host-fieldcase"})
    scheme = app.test_client().get("/api/openapi.json").get_json()[
        "components"]["securitySchemes"]["session"]
    assert scheme["name"] == "__Host-fieldcase"
    assert "__Host-fieldcase" in scheme["description"]
    assert "X-CSRF-Token" in scheme["description"]
