"""Log in, sessions, CSRF, roles."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from server.extensions import db
from server.models import User, UserSession
from server.models.base import utcnow
from tests.conftest import PASSWORD, login


def test_login_sets_an_httponly_cookie_and_returns_csrf(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    response = client.post("/api/auth/login", json={"username": "insp_a", "password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["user"]["role"] == "inspector"
    assert [u["name"] for u in body["user"]["units"]] == ["Street A"]
    assert len(body["csrf_token"]) >= 32
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    me = client.get("/api/me")
    assert me.status_code == 200 and me.get_json()["csrf_token"] == body["csrf_token"]


def test_passwords_are_stored_as_argon2id(app):  # type: ignore[no-untyped-def]
    stored = db.session.scalar(sa.select(User.password_hash).filter_by(username="insp_a"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_production_hashes_with_argon2id_at_the_library_defaults(production_password_hasher):  # type: ignore[no-untyped-def]
    # The tests themselves hash at minimum cost (conftest); this is the hasher deployed.
    from argon2 import PasswordHasher, Type

    defaults = PasswordHasher()
    hasher = production_password_hasher
    assert hasher.type is Type.ID
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (
        defaults.time_cost, defaults.memory_cost, defaults.parallelism)
    assert hasher.hash(PASSWORD).startswith(
        f"$argon2id$v=19$m={defaults.memory_cost},t={defaults.time_cost},"
        f"p={defaults.parallelism}$")


def test_wrong_password_and_unknown_user_answer_alike(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    wrong = client.post("/api/auth/login", json={"username": "insp_a", "password": "nope-nope"})
    unknown = client.post("/api/auth/login", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["code"] == unknown.get_json()["code"] == "auth.invalid_credentials"
    assert wrong.headers["Content-Type"] == "application/problem+json"


def test_missing_fields_are_a_422_with_field_errors(app):  # type: ignore[no-untyped-def]
    response = app.test_client().post("/api/auth/login", json={"username": "insp_a"})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"password": ["Missing data for required field."]}


def test_writes_need_the_csrf_token(app, make_case):  # type: ignore[no-untyped-def]
    api = login(app, "reviewer")
    no_token = api.client.post("/api/cases", json={})
    assert no_token.status_code == 403 and no_token.get_json()["code"] == "auth.csrf_failed"


def test_requests_without_a_session_are_401(app):  # type: ignore[no-untyped-def]
    response = app.test_client().get("/api/cases")
    assert response.status_code == 401 and response.get_json()["code"] == "auth.required"


def test_expired_session_says_so(app):  # type: ignore[no-untyped-def]
    api = login(app, "insp_a")
    db.session.execute(sa.update(UserSession).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    response = api.get("/api/cases")
    assert response.status_code == 401
    assert response.get_json()["code"] == "auth.session_expired"


def test_logout_ends_the_session_on_the_server(app):  # type: ignore[no-untyped-def]
    api = login(app, "insp_a")
    assert api.post("/api/auth/logout").status_code == 204
    assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) == 0
    assert api.get("/api/me").status_code == 401


def test_logout_needs_the_csrf_token_of_a_live_session(app):  # type: ignore[no-untyped-def]
    api = login(app, "insp_a")
    for headers in ({}, {"X-CSRF-Token": "not-the-token"}):
        refused = api.client.post("/api/auth/logout", headers=headers)
        assert refused.status_code == 403 and refused.get_json()["code"] == "auth.csrf_failed"
        assert "Set-Cookie" not in refused.headers  # the session and its cookie stay
    assert api.get("/api/me").status_code == 200
    # A session that ran out has nothing to protect: 204 and the cookie cleared, token or
    # not, so the app ends up logged out; no cookie at all is the same.
    db.session.execute(sa.update(UserSession).values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    ended = api.client.post("/api/auth/logout")
    assert ended.status_code == 204 and "Max-Age=0" in ended.headers["Set-Cookie"]
    assert app.test_client().post("/api/auth/logout").status_code == 204


def test_login_is_rate_limited(app):  # type: ignore[no-untyped-def]
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    statuses = [client.post("/api/auth/login",
                            json={"username": "insp_a", "password": "bad-guess"}).status_code
                for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    limited = client.post("/api/auth/login", json={"username": "insp_a", "password": "x"})
    assert limited.get_json()["code"] == "request.rate_limited"
    assert "Retry-After" in limited.headers
