"""Hostile clients and failing dependencies (issue 7): each answer is a clear 4xx/503
problem, never a 500, and nothing half-written."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import make_server

from server import create_app
from server.extensions import db
from tests.conftest import PASSWORD, login, store_cut_off
from tests.tcp_proxy import TcpProxy, database_proxy
from tests.test_evidence import declaration

DEEP = 1000


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/cases", "/api/evidence"])
def test_json_nested_a_thousand_deep_is_a_400(app: Flask, as_user, path: str) -> None:
    for body in (nested(DEEP), b'{"a":' * DEEP + b"1" + b"}" * DEEP):
        answer = as_user("reviewer").post(path, data=body,
                                          headers={"Content-Type": "application/json"})
        assert answer.status_code == 400, answer.get_data(as_text=True)[:200]
        assert answer.content_type == "application/problem+json"
        assert answer.get_json()["code"] == "request.bad"
    # Reasonable nesting still parses (and fails validation as usual).
    shallow = as_user("reviewer").post(path, data=nested(20),
                                       headers={"Content-Type": "application/json"})
    assert shallow.status_code == 422


def test_a_json_body_over_the_cap_is_413_before_it_is_parsed(app: Flask) -> None:
    client = app.test_client()
    big = json.dumps({"username": "insp_a", "password": PASSWORD,
                      "padding": ["x" * 1000] * 1500}).encode()  # about 1.5 MB
    assert len(big) > app.config["MAX_JSON_BYTES"]
    answer = client.post("/api/auth/login", data=big,
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.get_json()["code"] == "request.too_large"
    # Just under the cap is read as usual (and logs in: extra fields are refused as 422).
    small = json.dumps({"username": "insp_a", "password": PASSWORD}).encode()
    assert client.post("/api/auth/login", data=small,
                       headers={"Content-Type": "application/json"}).status_code == 200


@pytest.fixture()
def served(app: Flask) -> Iterator[str]:
    """The app behind a real HTTP server, for what the test client cannot send."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    # Joins the request threads (ThreadingMixIn.block_on_close): one still running would
    # hold a database connection past the app fixture's dispose, and its garbage
    # collection later fails an unrelated test ("Connection deleted while still open").
    server.server_close()


def test_a_chunked_json_body_is_cut_off_at_the_cap(served: str) -> None:
    parts = urlsplit(served)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    chunk = b'{"username": "' + b"x" * (64 * 1024)

    def body() -> Iterator[bytes]:
        yield chunk
        for _ in range(40):  # 2.5 MiB in all, no Content-Length
            yield b"y" * (64 * 1024)
        yield b'"}'

    conn.request("POST", "/api/auth/login", body=body(),
                 headers={"Content-Type": "application/json"}, encode_chunked=True)
    answer = conn.getresponse()
    assert answer.status == 413, answer.read()[:200]
    assert json.loads(answer.read())["code"] == "request.too_large"


def test_photo_bytes_keep_their_own_limit(app: Flask) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] > 30 * app.config["MAX_JSON_BYTES"]


def test_with_the_database_unreachable_the_api_answers_503(app: Flask, make_case) -> None:
    if app.config["STACK"] != "scaled":
        pytest.skip("an unreachable database server is PostgreSQL's failure")
    proxy, proxied = database_proxy(app.config["SQLALCHEMY_DATABASE_URI"])
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    overrides["SQLALCHEMY_DATABASE_URI"] = proxied
    cut_off = create_app(overrides)
    try:
        case = make_case()
        inspector = login(cut_off, "insp_a")
        body = declaration(case["id"], b"\xff\xd8photo")
        proxy.cut()
        for answer in (inspector.post("/api/evidence", json=body),
                       inspector.get("/api/me"),
                       inspector.post("/api/evidence/0e4c4b5e-0000-4000-8000-000000000000/complete")):
            assert answer.status_code == 503, answer.get_data(as_text=True)[:300]
            assert answer.get_json()["code"] == "database.unavailable"
            assert int(answer.headers["Retry-After"]) > 0
        proxy.restore()
        # Back: the same session works, and the declaration can be sent again.
        again = inspector.post("/api/evidence", json=body)
        assert again.status_code == 201, again.get_json()
    finally:
        proxy.close()
        with cut_off.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("path", [
    "/tests/sw_shell.test.mjs", "/./tests/sw_shell.test.mjs", "/js/../tests/sw_shell.test.mjs",
    "/js/%2e%2e/tests/sw_shell.test.mjs", "/css//../tests/sw_shell.test.mjs",
    "/package.json", "/../pyproject.toml", "/sw.js/../tests/sw_shell.test.mjs"])
def test_only_the_app_shell_is_served(app: Flask, path: str) -> None:
    with app.test_client().get(path) as answer:
        assert answer.status_code == 404, path
        assert b"node:test" not in answer.data


def test_the_shell_still_serves_what_it_lists(app: Flask) -> None:
    client = app.test_client()
    for path in ("/", "/sw.js", "/manifest.webmanifest", "/js/app.js", "/css/app.css",
                 "/icons/icon-192.png", "/vendor/idb.js", "/vendor/leaflet/leaflet.js",
                 "/vendor/chart.umd.js"):
        with client.get(path) as answer:
            assert answer.status_code == 200, path


def test_security_headers_on_the_app_and_the_api(app: Flask, as_user) -> None:
    client = app.test_client()
    with client.get("/") as page:
        headers = page.headers
    csp = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    stores = app.extensions["fieldcase.storage"].browser_origins()
    for origin in stores:  # uploads go straight to the store
        assert origin in directives["connect-src"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    # Answers with the CSRF token or personal data are never cached.
    me = as_user("insp_a").get("/api/me")
    assert me.headers["Cache-Control"] == "no-store" and "csrf_token" in me.get_json()
    login_answer = client.post("/api/auth/login",
                               json={"username": "insp_a", "password": PASSWORD})
    assert login_answer.headers["Cache-Control"] == "no-store"
    listed = as_user("reviewer").get("/api/cases")
    assert listed.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in listed.headers["Content-Security-Policy"]


# ---- reconcile ---------------------------------------------------------------------
def _uploaded_not_completed(app: Flask, as_user, case_id: str, n: int) -> list[dict]:
    from tests.conftest import send_upload
    from tests.test_evidence import NOKIA

    api = as_user("insp_a")
    rows = []
    for i in range(n):
        data = NOKIA.read_bytes() + bytes([i])  # distinct bytes, still a JPEG
        row = api.post("/api/evidence", json=declaration(case_id, data)).get_json()
        assert send_upload(api, row["upload"], data) in (200, 201, 204)
        rows.append(row)
    return rows


@pytest.mark.usefixtures("two_step_upload")
def test_reconcile_goes_on_past_a_row_the_store_fails_and_exits_non_zero(
        app: Flask, as_user, make_case) -> None:
    from datetime import timedelta

    from server.cli import cli
    from server.domain.fieldwork.completion import reconcile
    from server.models import Evidence

    if app.config["STACK"] != "embedded":
        pytest.skip("the store failing for one row is arranged on local disk")
    rows = _uploaded_not_completed(app, as_user, make_case()["id"], 3)
    # The middle row's photo cannot be written where it goes (a directory is in the way).
    from server.domain.fieldwork.evidence import final_key

    storage = app.extensions["fieldcase.storage"]
    bad = db.session.get(Evidence, rows[1]["id"])
    path = storage._path(final_key(bad.id))
    path.mkdir(parents=True)
    (path / "x").write_bytes(b"x")
    result = app.test_cli_runner().invoke(cli, ["reconcile", "--older-than-minutes", "0"])
    assert result.exit_code == 1, result.output
    counts = json.loads(result.output.splitlines()[0])
    assert counts["completed"] == 2
    assert [e["evidence_id"] for e in counts["errors"]] == [bad.id]
    db.session.expire_all()
    assert [db.session.get(Evidence, r["id"]).state for r in rows] == [
        "stored", "pending", "stored"]
    # Fixed, the next run finishes it, and says nothing failed.
    import shutil
    shutil.rmtree(path)
    counts = reconcile(older_than=timedelta(0), expire_after=timedelta(days=7))
    assert (counts["completed"], counts["errors"]) == (1, [])


def test_reconcile_with_the_store_unreachable_reports_every_row(app: Flask, as_user,
                                                                 make_case) -> None:
    from datetime import timedelta

    from server.domain.fieldwork.completion import reconcile
    from server.extensions import db as _db

    if app.config["STACK"] != "scaled":
        pytest.skip("an unreachable object store is S3's failure")
    rows = _uploaded_not_completed(app, as_user, make_case()["id"], 3)
    with store_cut_off(app) as cut_off:
        with cut_off.app_context():
            counts = reconcile(older_than=timedelta(0), expire_after=timedelta(days=7))
            _db.session.remove()
        assert counts["completed"] == 0, counts
        assert sorted(e["evidence_id"] for e in counts["errors"] if "evidence_id" in e) == \
            sorted(r["id"] for r in rows)
        assert {"staging": "list"}.items() <= counts["errors"][-1].items()
        # Back again: everything is finished, once.
        counts = reconcile(older_than=timedelta(0), expire_after=timedelta(days=7))
        assert (counts["completed"], counts["errors"]) == (3, [])


@pytest.mark.usefixtures("two_step_upload")
def test_two_reconcilers_at_once_count_only_what_each_stored(app: Flask, as_user,
                                                              make_case) -> None:
    from datetime import timedelta

    from server.domain.fieldwork.completion import reconcile
    from server.extensions import db as _db

    rows = _uploaded_not_completed(app, as_user, make_case()["id"], 4)
    results: list[dict] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        with app.app_context():
            barrier.wait()
            results.append(reconcile(older_than=timedelta(0), expire_after=timedelta(days=7)))
            _db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 2 and all(r["errors"] == [] for r in results), results
    assert sum(r["completed"] for r in results) == len(rows)
    assert all(r["completed"] + r["settled_elsewhere"] + r["waiting"] <= len(rows)
               for r in results)


def test_only_the_uploader_gets_a_live_upload_url(app: Flask, as_user, make_case) -> None:
    from tests.conftest import send_upload

    inspector = as_user("insp_a")
    body = declaration(make_case()["id"], b"\xff\xd8 the inspector's photo")
    declared = inspector.post("/api/evidence", json=body).get_json()
    assert declared["upload"] is not None
    again = inspector.get(f"/api/evidence/{declared['id']}").get_json()
    assert again["upload"] is not None  # the phone asks again after a restart
    for other in ("revisit", "reviewer", "admin"):
        seen = as_user(other).get(f"/api/evidence/{declared['id']}")
        assert seen.status_code == 200 and seen.get_json()["upload"] is None, other
    # And the inspector's URL still takes the bytes (nothing else was handed out).
    assert send_upload(inspector, declared["upload"], b"\xff\xd8 the inspector's photo") in (
        200, 201, 204)


# ---- a hung object store -------------------------------------------------------------
def test_a_hung_store_keeps_other_requests_served(app: Flask, as_user, make_case,
                                                   tmp_path) -> None:
    """The store frozen (it accepts connections and never answers) under 16 completes at
    once, on gunicorn as deployed (one worker, 8 threads): GET /api/me stays fast, health
    says 503 within its budget, every complete answers 503 (none 500, none lost), and once
    the store is back every photo is stored once."""
    import os
    import signal
    import socket
    import statistics
    import subprocess
    import sys
    import time
    from pathlib import Path
    from urllib.parse import quote

    import requests


    if app.config["STACK"] != "scaled":
        pytest.skip("a hung object store is S3's failure")
    storage_url = app.config["STORAGE_URL"]
    query = dict(p.split("=", 1) for p in urlsplit(storage_url).query.split("&"))
    endpoint = urlsplit(query["endpoint"].replace("%3A", ":").replace("%2F", "/"))
    proxy = TcpProxy(endpoint.hostname, endpoint.port)
    proxied_url = storage_url.replace(quote(f"{endpoint.hostname}:{endpoint.port}", safe=""),
                                      quote(f"127.0.0.1:{proxy.port}", safe=""))
    assert proxied_url != storage_url
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "STORAGE_URL": proxied_url, "SECRET_KEY": app.config["SECRET_KEY"],
           "INSTANCE_PATH": str(tmp_path), "HOST": "127.0.0.1", "PORT": str(port),
           "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "8", "GUNICORN_CONTROL_SOCKET": "off",
           "LOGIN_RATE_LIMIT": "1000 per minute", "UPLOAD_RATE_LIMIT": "1000 per minute",
           "STORAGE_READ_TIMEOUT_S": "3", "STORAGE_CONCURRENCY": "4"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", str(root / "gunicorn.conf.py"),
         "server:create_app()"], cwd=root, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/api/health", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        phone = requests.Session()
        csrf = phone.post(f"{base}/api/auth/login", timeout=10, json={
            "username": "insp_a", "password": PASSWORD}).json()["csrf_token"]
        phone.headers["X-CSRF-Token"] = csrf
        case_id = make_case()["id"]
        ids = []
        from tests.test_evidence import NOKIA

        photo = NOKIA.read_bytes()
        for i in range(16):
            data = photo + bytes([i])  # distinct, still the same JPEG
            declared = phone.post(f"{base}/api/evidence", timeout=10,
                                  json=declaration(case_id, data)).json()
            target = declared["upload"]
            answer = requests.request(target["method"], target["url"], data=data,
                                      headers=target["headers"], timeout=10)
            assert answer.status_code in (200, 201, 204)
            ids.append(declared["id"])

        proxy.freeze()
        results: list[tuple[int, str]] = []

        def complete(evidence_id: str) -> None:
            r = phone.post(f"{base}/api/evidence/{evidence_id}/complete", timeout=90)
            results.append((r.status_code, r.json().get("code", "")))

        workers = [threading.Thread(target=complete, args=(i,)) for i in ids]
        for w in workers:
            w.start()
        time.sleep(1.0)  # the first four are waiting on the store now
        started = time.monotonic()
        health = requests.get(f"{base}/api/health", timeout=30)
        health_s = time.monotonic() - started
        timings = []
        for _ in range(20):
            t = time.monotonic()
            assert phone.get(f"{base}/api/me", timeout=30).status_code == 200
            timings.append(time.monotonic() - t)
        for w in workers:
            w.join(120)
        p95 = statistics.quantiles(timings, n=20)[-1]
        assert health.status_code == 503 and health.json()["storage"] == "unavailable"
        assert health_s <= 3.0, health_s
        assert p95 <= 0.2, timings
        assert len(results) == 16 and all(code == 503 for code, _ in results), results
        assert {c for _, c in results} <= {"storage.busy", "storage.unavailable"}

        proxy.thaw()
        for evidence_id in ids:
            done = phone.post(f"{base}/api/evidence/{evidence_id}/complete", timeout=60)
            assert done.status_code == 200 and done.json()["state"] == "stored"
        stored = [phone.get(f"{base}/api/evidence/{i}", timeout=10).json()["state"]
                  for i in ids]
        assert stored == ["stored"] * 16  # none lost, none stuck
        import sqlalchemy as sa

        from server.models import AuditEntry
        db.session.rollback()  # a fresh snapshot of what the server wrote
        once = db.session.execute(sa.select(AuditEntry.entity_id, sa.func.count()).where(
            AuditEntry.action == "evidence.stored").group_by(AuditEntry.entity_id)).all()
        assert sorted(once) == sorted((i, 1) for i in ids)  # each stored exactly once
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)
        proxy.close()


def test_original_downloads_are_recorded_with_the_address(app: Flask, as_user,
                                                           make_case) -> None:
    import sqlalchemy as sa

    from server.models import AuditEntry
    from tests.test_evidence import NOKIA, file_photo

    stored = file_photo(as_user("insp_a"), make_case()["id"], NOKIA.read_bytes())
    assert stored["download_url"].endswith(f"/api/evidence/{stored['id']}/original")
    reviewer = as_user("reviewer")
    answer = reviewer.client.get(f"/api/evidence/{stored['id']}/original",
                                 environ_base={"REMOTE_ADDR": "192.0.2.44"})
    assert answer.status_code == 302 and answer.headers["Cache-Control"] == "no-store"
    entry = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.action == "security.original_downloaded"))
    assert entry is not None and entry.entity_id == stored["id"]
    assert entry.data["address"] == "192.0.2.44"
    # Another unit's inspector gets the same 404 as for no such photo, and no link.
    assert as_user("insp_b").client.get(
        f"/api/evidence/{stored['id']}/original").status_code == 404


def test_refused_accesses_are_recorded(app: Flask, as_user, make_case) -> None:
    import sqlalchemy as sa

    from server.models import AuditEntry

    case = make_case()
    refused = as_user("revisit").post("/api/evidence", json=declaration(case["id"], b"x"))
    assert refused.status_code == 403
    no_csrf = as_user("insp_a").client.post("/api/evidence", json={},
                                            environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert no_csrf.status_code == 403
    entries = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "security.refused").order_by(AuditEntry.seq)).all()
    assert [e.data["code"] for e in entries] == ["evidence.forbidden", "auth.csrf_failed"]
    assert entries[1].data["address"] == "192.0.2.9"
    assert entries[0].data["path"] == "/api/evidence"


def test_a_405_names_the_allowed_methods(app: Flask) -> None:
    answer = app.test_client().delete("/api/health")
    assert answer.status_code == 405 and answer.content_type == "application/problem+json"
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}
