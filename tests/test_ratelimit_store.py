"""fieldcase-sqlite:// rate limits: one machine's workers share the counts exactly."""

from __future__ import annotations

import multiprocessing
import runpy
from pathlib import Path

import pytest
from limits import parse, storage
from limits.strategies import FixedWindowRateLimiter

from server import create_app
from server import ratelimit_store as store_module
from server.extensions import limiter
from server.ratelimit_store import SQLiteLimitStorage

CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def uri(tmp_path: Path) -> str:
    return f"fieldcase-sqlite://{tmp_path / 'limits.sqlite'}"


def test_the_scheme_is_registered_with_limits(tmp_path):  # type: ignore[no-untyped-def]
    found = storage.storage_from_string(uri(tmp_path))
    assert isinstance(found, SQLiteLimitStorage) and found.check()


def test_counts_expire_and_clear(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    s = SQLiteLimitStorage(uri(tmp_path))
    now = [1_000.0]
    monkeypatch.setattr(store_module.time, "time", lambda: now[0])
    assert [s.incr("k", 60) for _ in range(3)] == [1, 2, 3]
    assert s.get("k") == 3 and s.get_expiry("k") == 1_060.0
    assert s.get("other") == 0
    now[0] = 1_060.0  # the window ended: the next hit starts a new one
    assert s.get("k") == 0
    assert s.incr("k", 60, amount=2) == 2 and s.get_expiry("k") == 1_120.0
    s.clear("k")
    assert s.get("k") == 0
    s.incr("a", 60)
    s.incr("b", 60)
    assert s.reset() == 2 and s.get("a") == 0


def _hit(path: str, times: int) -> None:
    s = SQLiteLimitStorage(path)
    for _ in range(times):
        s.incr("shared", 3600)


def test_two_processes_count_together_exactly(tmp_path):  # type: ignore[no-untyped-def]
    """Two workers hitting at once: no hit lost (each hit one atomic statement)."""
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_hit, args=(uri(tmp_path), 200)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert SQLiteLimitStorage(uri(tmp_path)).get("shared") == 400


def test_the_limiter_strategy_refuses_past_the_limit(tmp_path):  # type: ignore[no-untyped-def]
    limiter = FixedWindowRateLimiter(storage.storage_from_string(uri(tmp_path)))
    item = parse("3 per minute")
    assert [limiter.hit(item, "login", "1.2.3.4") for _ in range(4)] == [True] * 3 + [False]
    assert limiter.get_window_stats(item, "login", "1.2.3.4").remaining == 0


def test_two_apps_on_one_file_share_the_login_limit(tmp_path):  # type: ignore[no-untyped-def]
    """As two gunicorn workers would: the limit holds across them, not per worker."""
    settings = {"TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path),
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                "STORAGE_URL": f"file://{tmp_path / 'objects'}",
                "RATELIMIT_STORAGE_URI": uri(tmp_path), "LOGIN_RATE_LIMIT": "3 per minute"}
    workers = [create_app(settings).test_client() for _ in range(2)]
    statuses = [workers[n % 2].post("/api/auth/login", json={"username": "x", "password": "y"})
                .status_code for n in range(4)]
    # The first three reach the login (no database here: whatever it answers, not 429).
    assert 429 not in statuses[:3] and statuses[3] == 429


def test_gunicorn_without_a_store_shares_a_file_and_runs_two_workers(monkeypatch, tmp_path
                                                                      ):  # type: ignore[no-untyped-def]
    for name in ("WEB_CONCURRENCY", "RATELIMIT_STORAGE_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    conf = runpy.run_path(str(CONF))
    assert conf["RATELIMIT_STORAGE_URI"] == f"fieldcase-sqlite://{tmp_path / 'ratelimits.sqlite'}"
    assert conf["workers"] == 2


@pytest.mark.parametrize("bad", ["fieldcase-sqlite://", "fieldcase-sqlite"])
def test_a_uri_without_a_path_is_refused(bad: str):  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        SQLiteLimitStorage(bad)


def _bare_settings(tmp_path: Path) -> dict:
    return {"TESTING": True, "SECRET_KEY": "t", "INSTANCE_PATH": str(tmp_path),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "STORAGE_URL": f"file://{tmp_path / 'objects'}", "LOGIN_RATE_LIMIT": "2 per minute"}


def test_no_app_wide_pass_runs_before_each_view_yet_route_limits_count(tmp_path
                                                                        ):  # type: ignore[no-untyped-def]
    """Every limit decorates its route, so flask-limiter's pass before every view (for
    default, application and blueprint limits) is dropped; the routes' own still count."""
    app = create_app(_bare_settings(tmp_path))
    assert limiter._check_request_limit not in app.before_request_funcs.get(None, [])
    client = app.test_client()
    statuses = [client.post("/api/auth/login", json={"username": "x", "password": "y"})
                .status_code for _ in range(3)]
    assert 429 not in statuses[:2] and statuses[2] == 429


@pytest.mark.parametrize("kind", ["default_limits", "application_limits"])
def test_an_app_wide_limit_keeps_the_pass(tmp_path, monkeypatch, kind):  # type: ignore[no-untyped-def]
    # As the manager would say once such a limit is set (its class, for this test only).
    monkeypatch.setattr(type(limiter.limit_manager), kind, property(lambda _: ["a limit"]))
    app = create_app(_bare_settings(tmp_path))
    assert limiter._check_request_limit in app.before_request_funcs.get(None, [])
