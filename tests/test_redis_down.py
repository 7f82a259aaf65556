"""With the shared rate-limit store (Redis) down, web requests still work: the login and
the lookup by a complainant's number fail closed (503 with words in both languages and
Retry-After, quickly, never a hang), everything else fails open; when Redis is back the
limits count again without a restart (server/api/rate_limits.py)."""

from __future__ import annotations

import logging
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from server import create_app
from server.api import rate_limits
from server.config import ConfigError, load_config
from server.extensions import db
from tests.conftest import KEEP_TABLES, PASSWORD, SEEDED_TABLES, _restore_seeded_data, unavailable
from tests.tcp_proxy import TcpProxy

LOGIN_LIMIT = 6


@pytest.fixture()
def redis_server() -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        unavailable(f"Redis at 127.0.0.1:6379 is not reachable: {exc}")
    yield client
    client.close()


@pytest.fixture()
def proxy(redis_server: redis.Redis) -> Iterator[TcpProxy]:
    proxy = TcpProxy("127.0.0.1", 6379)
    yield proxy
    proxy.close()


@pytest.fixture()
def limited_app(stack: dict, proxy: TcpProxy, redis_server: redis.Redis) -> Iterator[Flask]:
    """The embedded stack with its limits in Redis through the proxy, under a key prefix
    of its own (the Redis is shared with other tests and helpers)."""
    prefix = f"fc-test-{secrets.token_hex(6)}"
    overrides = {k: v for k, v in stack.items() if k != "name"}
    overrides.update({"RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{proxy.port}",
                      "RATELIMIT_KEY_PREFIX": prefix,
                      "LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per minute"})
    app = create_app(overrides)
    with app.app_context():
        yield app
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                if table.name not in KEEP_TABLES | SEEDED_TABLES:
                    conn.execute(table.delete())
            _restore_seeded_data(conn)
        db.engine.dispose()
    for key in redis_server.scan_iter(f"{prefix}:*"):
        redis_server.delete(key)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A Redis of this test's own that answers PING but refuses every write; CONFIG SET is not
# for the shared one. A replica of a master that does not exist is read-only; maxmemory
# of 1 byte under noeviction refuses every write with OOM.
REFUSING = {"read-only replica": ["--replicaof", "127.0.0.1", "PORT_UNUSED"],
            "out of memory": ["--maxmemory", "1", "--maxmemory-policy", "noeviction"]}


@pytest.fixture(params=list(REFUSING))
def refusing_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[int]:
    server = shutil.which("redis-server")
    if server is None:
        unavailable("redis-server is not installed")
    port = _free_port()
    args = [str(_free_port()) if a == "PORT_UNUSED" else a for a in REFUSING[request.param]]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        assert client.ping()
        with pytest.raises(redis.ResponseError):
            client.incr("probe")  # the premise: it answers, but takes no write
        yield port
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


def _login_hits(client: redis.Redis, app: Flask) -> int:
    """The login limit's count in Redis for the test client's address."""
    prefix = app.config["RATELIMIT_KEY_PREFIX"]
    return sum(int(client.get(key) or 0) for key in client.scan_iter(f"{prefix}:*login*"))


def _log_in(app: Flask, username: str = "insp_a"):  # type: ignore[no-untyped-def]
    client = app.test_client()
    started = time.monotonic()
    answer = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    return client, answer, time.monotonic() - started


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_login_fails_closed_and_the_rest_open_while_redis_is_down(
        limited_app: Flask, proxy: TcpProxy, redis_server: redis.Redis,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    app = limited_app
    # Nothing told yet in this process (another test's outage would silence this one's).
    monkeypatch.setattr(rate_limits, "_warned_at", 0.0)
    monkeypatch.setattr(rate_limits._filter, "_last", 0.0)
    client, answer, _ = _log_in(app)
    assert answer.status_code == 200
    assert _login_hits(redis_server, app) == 1  # counted in the shared store
    csrf = answer.get_json()["csrf_token"]

    for outage in ("cut", "freeze"):
        getattr(proxy, outage)()
        _, refused, took = _log_in(app, "insp_b")
        assert refused.status_code == 503, (outage, refused.get_json())
        # Each call to the store waits RATELIMIT_STORAGE_TIMEOUT_S (0.5 s) at most.
        assert took < 5, (outage, took)
        body = refused.get_json()
        assert refused.mimetype == "application/problem+json"
        assert body["code"] == "request.limits_unavailable"
        assert body["messages"]["zh"] and body["messages"]["en"]
        assert int(refused.headers["Retry-After"]) > 0
        # The logged-in user carries on: reads and ordinary work are not limited by Redis.
        assert client.get("/api/me").status_code == 200
        assert client.get("/api/cases").status_code == 200
        # A read behind a limit fails open: the verify lookup answers as it would.
        assert client.get("/api/verify/ABCD-EFGH").status_code == 404
        # A refused platform push is still a 401, uncounted, never a 500.
        push = app.test_client().post("/api/intake/hotline_12345", json={},
                                      headers={"Authorization": "Bearer wrong"})
        assert push.status_code == 401
        # The lookup by a complainant's number guards personal data: closed.
        by_phone = client.get("/api/cases?phone=13800001234")
        assert by_phone.status_code == 503
        assert by_phone.get_json()["code"] == "request.limits_unavailable"
        if outage == "freeze":
            proxy.thaw()
        proxy.restore()

    # A dozen refused or uncounted requests, yet the outage is told once a minute at most
    # (per logger, per process), not once per request.
    for name in ("flask-limiter", "server.api.rate_limits"):
        told = [r for r in caplog.records if r.name == name and r.levelno >= logging.WARNING]
        assert len(told) <= 1, [r.getMessage() for r in told]
    assert any("rate-limit store" in r.getMessage() or "Swallowing" in r.getMessage()
               for r in caplog.records)

    # Back up: no restart, the limits count in Redis again and refuse past the limit.
    deadline = time.monotonic() + 10
    while (answer := _log_in(app)[1]).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.2)  # the proxy's thaw drops the connections the client had open
    assert answer.status_code == 200
    before = _login_hits(redis_server, app)
    assert _log_in(app)[1].status_code in (200, 429)
    assert _login_hits(redis_server, app) == before + 1
    statuses = [_log_in(app)[1].status_code for _ in range(LOGIN_LIMIT)]
    assert statuses[-1] == 429 and 200 not in statuses[statuses.index(429):]
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204


def test_production_on_several_nodes_refuses_limits_kept_in_memory(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"FIELDCASE_ENV": "production", "SECRET_KEY": "s" * 40,
           "AUDIT_SIGNING_KEY": "a" * 64, "WEBHOOK_SECRET_KEY": "b" * 64,
           "PERSONAL_DATA_KEY": "c" * 64, "PUBLIC_BASE_URL": "https://fieldcase.example"}
    assert load_config(str(tmp_path), env={**env, "NODE_COUNT": "1"})["NODE_COUNT"] == 1
    with pytest.raises(ConfigError, match="NODE_COUNT=2 needs a shared RATELIMIT_STORAGE_URI"):
        load_config(str(tmp_path), env={**env, "NODE_COUNT": "2"})
    # gunicorn's default on one machine (a SQLite file its workers share) is no more shared
    # between nodes than memory is.
    with pytest.raises(ConfigError, match="with fieldcase-sqlite:// each node counts"):
        load_config(str(tmp_path), env={**env, "NODE_COUNT": "2",
                                        "RATELIMIT_STORAGE_URI": "fieldcase-sqlite:///x.db"})
    shared = load_config(str(tmp_path), env={**env, "NODE_COUNT": "2",
                                             "RATELIMIT_STORAGE_URI": "redis://cache:6379"})
    assert shared["RATELIMIT_STORAGE_URI"] == "redis://cache:6379"
    # Outside production (make run, tests) one process may pretend to be several.
    assert load_config(str(tmp_path), env={"NODE_COUNT": "2"})["NODE_COUNT"] == 2


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_login_fails_closed_when_redis_answers_but_refuses_writes(
        app: Flask, refusing_redis: int) -> None:
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    overrides.update({"RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{refusing_redis}",
                      "RATELIMIT_KEY_PREFIX": f"fc-test-{secrets.token_hex(6)}"})
    overrides.pop("RATELIMIT_STORAGE_OPTIONS", None)
    variant = create_app(overrides)
    with variant.app_context():
        try:
            assert not rate_limits.store_answers()
            refused = _log_in(variant)[1]
            assert refused.status_code == 503
            assert refused.get_json()["code"] == "request.limits_unavailable"
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_the_one_machine_sqlite_store_counts_and_gets_no_redis_options(
        app: Flask, tmp_path: Path) -> None:
    # The app fixture's teardown empties the tables this test's login writes to.
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    overrides.pop("RATELIMIT_STORAGE_OPTIONS", None)
    overrides["RATELIMIT_STORAGE_URI"] = f"fieldcase-sqlite://{tmp_path / 'limits.sqlite'}"
    variant = create_app(overrides)
    options = variant.config.get("RATELIMIT_STORAGE_OPTIONS", {})
    assert not {"socket_timeout", "socket_connect_timeout", "key_prefix"} & set(options)
    with variant.app_context():
        try:
            assert rate_limits.store_answers()
            assert _log_in(variant)[1].status_code == 200
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("uri, shown", [
    ("redis://:pw-secret@10.0.0.7:6379/0", "redis://10.0.0.7:6379"),
    ("redis://user:pw-secret@redis.local:6380/2?password=pw-secret", "redis://redis.local:6380"),
    ("rediss://redis.local/0?password=pw-secret&ssl_cert_reqs=none", "rediss://redis.local"),
    ("redis://[::1]:6379?password=pw-secret", "redis://[::1]:6379"),
    ("fieldcase-sqlite:///var/lib/pw-secret/limits.sqlite", "fieldcase-sqlite://")])
def test_the_store_down_warning_names_only_scheme_host_and_port(
        uri: str, shown: str, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert rate_limits.store_location(uri) == shown
    monkeypatch.setattr(rate_limits, "_warned_at", 0.0)
    app = Flask(__name__)
    app.config["RATELIMIT_STORAGE_URI"] = uri
    with app.app_context(), caplog.at_level(logging.WARNING):
        rate_limits.warn_store_down("refusing login")
    [record] = [r for r in caplog.records if r.name == "server.api.rate_limits"]
    assert shown in record.getMessage() and "pw-secret" not in record.getMessage()
