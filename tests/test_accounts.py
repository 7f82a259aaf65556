"""Accounts under attack and at scale (issue 7): per-account login throttling across
addresses, the trusted proxy hops, per-user upload limits and the daily quota, and
sessions that idle out, can be listed and revoked."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from server import create_app
from server.extensions import db
from server.models import LoginThrottle, UserSession
from tests.conftest import PASSWORD, login
from tests.test_evidence import declaration

ADDRESSES = [f"198.51.100.{i}" for i in range(1, 6)]


def attempt(app: Flask, username: str, password: str, address: str) -> Any:
    return app.test_client().post("/api/auth/login",
                                  json={"username": username, "password": password},
                                  environ_base={"REMOTE_ADDR": address})


def test_wrong_passwords_from_many_addresses_lock_the_account(app: Flask, as_user) -> None:
    most = app.config["LOGIN_MAX_FAILURES"]
    for i in range(most):
        answer = attempt(app, "insp_a", "wrong-password", ADDRESSES[i % len(ADDRESSES)])
        assert answer.status_code == 401
    locking = attempt(app, "insp_a", "wrong-password", ADDRESSES[0])
    assert locking.status_code == 429 and locking.get_json()["code"] == "auth.locked"
    # The right password is refused too while the lock lasts, with when to come back.
    right = attempt(app, "insp_a", PASSWORD, ADDRESSES[3])
    assert right.status_code == 429
    assert 0 < int(right.headers["Retry-After"]) <= app.config["LOGIN_LOCKOUT_MIN"] * 60 + 1
    assert "retry_at" in right.get_json()
    # Another account is not affected.
    assert attempt(app, "insp_b", PASSWORD, ADDRESSES[0]).status_code == 200
    # An admin unlocks it; a reviewer may not.
    insp = db.session.scalar(sa.text("SELECT id FROM users WHERE username = 'insp_a'"))
    assert as_user("reviewer").post(f"/api/users/{insp}/unlock").status_code == 403
    assert as_user("admin").post(f"/api/users/{insp}/unlock").status_code == 204
    assert attempt(app, "insp_a", PASSWORD, ADDRESSES[0]).status_code == 200
    # Failed logins are on the audit trail with their address.
    actions = db.session.execute(sa.text(
        "SELECT action, data FROM audit_log WHERE action LIKE 'security.%'")).all()
    assert {a for a, _ in actions} >= {"security.login_failed", "security.login",
                                       "security.unlocked"}


def test_a_lock_ends_by_itself_and_names_that_do_not_exist_lock_alike(app: Flask) -> None:
    most = app.config["LOGIN_MAX_FAILURES"]
    answers = [attempt(app, "nobody-here", "x" * 10, ADDRESSES[0]).status_code
               for _ in range(most + 2)]
    assert answers == [401] * most + [429, 429]  # as for a real account
    # Fifteen minutes on (the lock's end moved into the past): the name may try again.
    db.session.execute(sa.update(LoginThrottle).where(LoginThrottle.username == "nobody-here")
                       .values(locked_until=datetime.now(UTC) - timedelta(minutes=1)))
    db.session.commit()
    assert attempt(app, "nobody-here", "x" * 10, ADDRESSES[0]).status_code == 401


def test_wrong_passwords_at_once_are_all_counted(app: Flask) -> None:
    most = app.config["LOGIN_MAX_FAILURES"]
    results: list[int] = []
    barrier = threading.Barrier(8)

    def hammer(i: int) -> None:
        with app.app_context():
            barrier.wait()
            for _ in range(5):
                results.append(attempt(app, "reviewer_a", "wrong-password",
                                       ADDRESSES[i % 5]).status_code)
            db.session.remove()

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 40 and set(results) <= {401, 429}
    assert results.count(401) <= most  # none slipped past the count
    assert attempt(app, "reviewer_a", PASSWORD, ADDRESSES[0]).status_code == 429
    db.session.execute(sa.delete(LoginThrottle))
    db.session.commit()


@pytest.fixture()
def proxied(app: Flask) -> Iterator[Flask]:
    yield from _variant(app, TRUSTED_PROXY_HOPS=1)


def test_client_address_from_x_forwarded_for_only_behind_trusted_hops(
        app: Flask, proxied: Flask) -> None:
    spoof = {"X-Forwarded-For": "203.0.113.9"}
    direct = app.test_client()
    direct.post("/api/auth/login", json={"username": "insp_a", "password": PASSWORD},
                headers=spoof)
    behind = proxied.test_client()
    behind.post("/api/auth/login", json={"username": "insp_b", "password": PASSWORD},
                headers={"X-Forwarded-For": "198.51.100.77, 203.0.113.9"})
    seen = dict(db.session.execute(sa.text(
        "SELECT u.username, s.address FROM user_sessions s JOIN users u ON u.id = s.user_id"
    )).all())
    assert seen["insp_a"] == "127.0.0.1"  # not trusted: the header is ignored
    assert seen["insp_b"] == "203.0.113.9"  # one trusted hop: its last entry
    # The same header from a peer that is not the proxy: its own address, not the header's.
    behind.post("/api/auth/login", json={"username": "reviewer_a", "password": PASSWORD},
                headers=spoof, environ_base={"REMOTE_ADDR": "10.0.0.99"})
    seen = dict(db.session.execute(sa.text(
        "SELECT u.username, s.address FROM user_sessions s JOIN users u ON u.id = s.user_id"
    )).all())
    assert seen["reviewer_a"] == "10.0.0.99"


def _variant(app: Flask, **changes: Any) -> Iterator[Flask]:
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    strict = create_app({**overrides, **changes})
    yield strict
    with strict.app_context():
        db.engine.dispose()


@pytest.fixture()
def limited(app: Flask) -> Iterator[Flask]:
    yield from _variant(app, UPLOAD_RATE_LIMIT="3 per minute")


@pytest.fixture()
def quota(app: Flask) -> Iterator[Flask]:
    yield from _variant(app, DAILY_UPLOAD_BYTES=1000)


def test_upload_limits_are_per_user_not_per_address(limited: Flask, make_case) -> None:
    case_id = make_case()["id"]
    a, b = login(limited, "insp_a"), login(limited, "insp_b")
    for i in range(3):
        assert a.post("/api/evidence", json=declaration(case_id, bytes([i]) * 10)
                      ).status_code == 201
    fourth = a.post("/api/evidence", json=declaration(case_id, b"4" * 10))
    assert fourth.status_code == 429 and "Retry-After" in fourth.headers
    # The colleague behind the same office address still can (in their own unit).
    b_case = make_case(unit="Street B")["id"]
    assert b.post("/api/evidence", json=declaration(b_case, b"b" * 10)).status_code == 201


def test_the_daily_quota_counts_bytes_and_spares_retries(quota: Flask, make_case) -> None:
    case_id = make_case()["id"]
    a = login(quota, "insp_a")
    first = declaration(case_id, b"x" * 600)
    assert a.post("/api/evidence", json=first).status_code == 201
    over = a.post("/api/evidence", json=declaration(case_id, b"y" * 600))
    assert over.status_code == 429
    body = over.get_json()
    assert body["code"] == "evidence.quota_exceeded" and body["used"] == 600
    assert int(over.headers["Retry-After"]) <= 24 * 3600
    # The phone retrying the first declaration is not new bytes.
    assert a.post("/api/evidence", json=first).status_code == 200
    assert a.post("/api/evidence", json=declaration(case_id, b"z" * 300)).status_code == 201


def test_the_daily_quota_is_summed_from_its_index_alone(app: Flask, make_case) -> None:
    """Every declaration sums the user's bytes today: a busy phone's 2,000 declarations
    are read from ix_evidence_uploaded_by_declared_at_size alone, never row by row from
    the table (which the (uploaded_by, declared_at) index did)."""
    from server.domain.fieldwork.evidence import BYTES_DECLARED_SINCE
    from server.models import Evidence, User
    from server.models.base import utcnow

    case_id = make_case()["id"]
    with app.app_context():
        inspector = db.session.scalar(sa.select(User.id).filter_by(username="insp_a"))
        now = utcnow()
        db.session.execute(sa.insert(Evidence), [
            {"id": f"quota-{i}", "client_id": f"quota-{i}", "request_hash": "0" * 64,
             "case_id": case_id, "state": "stored", "sha256": f"{i:064x}", "size": 1000 + i,
             "declared_type": "image/jpeg", "captured_at": now, "uploaded_by": inspector,
             "declared_at": now - timedelta(seconds=i), "staging_key": f"staging/q/{i}"}
            for i in range(2000)])
        db.session.commit()
        midnight = now - timedelta(hours=1)
        used = db.session.scalar(BYTES_DECLARED_SINCE, {"user_id": inspector,
                                                        "since": midnight})
        assert used == sum(1000 + i for i in range(2000) if i <= 3600)
        with db.engine.connect() as conn:
            compiled = BYTES_DECLARED_SINCE.compile(conn)
            values = compiled.construct_params({"user_id": inspector,
                                                "since": midnight.isoformat()})
            args = (tuple(values[name] for name in compiled.positiontup or ())
                    if compiled.positional else values)
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("ANALYZE")
                plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {compiled.string}", args))
                assert "COVERING INDEX ix_evidence_uploaded_by_declared_at_size" in plan, plan
            else:
                conn.exec_driver_sql("ANALYZE evidence")
                # Here every row is the user's today, where reading the table through is
                # cheapest; a district's table holds everyone's years. Which index, then?
                conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
                plan = " ".join(row[0] for row in conn.exec_driver_sql(
                    f"EXPLAIN {compiled.string}", args))
                assert "Index Only Scan using ix_evidence_uploaded_by_declared_at_size" in plan, \
                    plan


def test_sessions_are_listed_revoked_and_idle_out(app: Flask) -> None:
    phone, desk = login(app, "insp_a"), login(app, "insp_a")
    listed = desk.get("/api/me/sessions").get_json()["items"]
    assert len(listed) == 2 and sum(s["current"] for s in listed) == 1
    other = next(s for s in listed if not s["current"])
    assert desk.delete(f"/api/me/sessions/{other['id']}").status_code == 204
    assert phone.get("/api/me").status_code == 401  # the lost phone is out
    assert desk.get("/api/me").status_code == 200
    assert desk.delete("/api/me/sessions/not-a-session").status_code == 404
    # Unused for longer than the idle time: ended, whatever its lifetime says.
    long_ago = datetime.now(UTC) - timedelta(minutes=app.config["SESSION_IDLE_MINUTES"] + 1)
    db.session.execute(sa.update(UserSession).values(last_seen_at=long_ago,
                                                     created_at=long_ago))
    db.session.commit()
    answer = desk.get("/api/me")
    assert answer.status_code == 401 and answer.get_json()["code"] == "auth.session_expired"


def test_a_long_made_up_name_is_refused_as_a_wrong_password(app: Flask) -> None:
    name = "x" * 80  # the longest a name may be, longer than an id
    answer = attempt(app, name, "wrong-password", ADDRESSES[0])
    assert answer.status_code == 401, answer.get_json()
    recorded = db.session.scalar(sa.text(
        "SELECT count(*) FROM audit_log WHERE action = 'security.login_failed'"))
    assert recorded == 1
