"""A request id on every request (issue 22, observability): made, or taken from a trusted
proxy when it is plain; answered in X-Request-ID on every response, carried by every log
record of the request and by every problem+json body, the same value; logs as one JSON
object per line in production and readable text otherwise, never with a secret."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from server import create_app
from server.config import ConfigError, load_config
from server.observability import logs
from server.observability.request_id import HEADER, choose, current, is_safe, loggable_path
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[1]
MADE = re.compile(r"[0-9a-f]{16}")


def light_app(tmp_path: Path, **config: Any) -> Flask:
    """The app on an empty embedded stack: enough for routing, errors and logs."""
    app = create_app({"TESTING": True, "INSTANCE_PATH": str(tmp_path),
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite'}",
                      "STORAGE_URL": f"file://{tmp_path / 'objects'}",
                      "SECRET_KEY": "test-secret", **config})

    def boom() -> None:
        logging.getLogger("tests.request_id").info("about to fail")
        raise ZeroDivisionError("a bug")

    def kept() -> dict:
        from flask import g

        return {"request_id": g.request_id}

    app.add_url_rule("/api/test-boom", "test_boom", boom)
    app.add_url_rule("/api/test-kept", "test_kept", kept)
    return app


@pytest.fixture()
def plain(tmp_path: Path) -> Flask:
    return light_app(tmp_path)


@pytest.fixture()
def proxied(tmp_path: Path) -> Flask:
    return light_app(tmp_path, TRUSTED_PROXY_HOPS=1)


def test_one_id_in_the_header_the_problem_and_the_log(plain: Flask,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        answer = plain.test_client().get("/api/test-boom")
    assert answer.status_code == 500
    rid = answer.headers[HEADER]
    assert MADE.fullmatch(rid)
    assert answer.get_json()["request_id"] == rid
    mine = [r for r in caplog.records if r.name in ("tests.request_id", "server.api.problems")]
    assert [r.getMessage() for r in mine] == ["about to fail",
                                              "unhandled error on GET /api/test-boom"]
    for record in mine:
        assert (record.request_id, record.method, record.path) == (rid, "GET", "/api/test-boom")


def test_views_find_it_in_flask_g(plain: Flask, proxied: Flask) -> None:
    answer = plain.test_client().get("/api/test-kept")
    assert answer.get_json() == {"request_id": answer.headers[HEADER]}
    sent = proxied.test_client().get("/api/test-kept", headers={HEADER: "edge-1"})
    assert sent.get_json() == {"request_id": "edge-1"} and sent.headers[HEADER] == "edge-1"


def test_every_answer_has_an_id_of_its_own(plain: Flask) -> None:
    client = plain.test_client()
    answers = [
        client.get("/api/no-such-route"),  # problem+json 404
        client.get("/no-such-page"),  # outside the API
        client.get("/"), client.get("/sw.js"), client.get("/api/health"),
        client.delete("/api/health"),  # 405
        # Refused before any view reads it: 413 from the JSON cap.
        client.post("/api/auth/login", data=b"x" * (2 * 1024 * 1024),
                    headers={"Content-Type": "application/json"}),
        client.get("/api/x%00y"),  # 400 before routing
    ]
    for answer in answers:
        answer.close()  # files are sent from disk: close them
    ids = [a.headers.get(HEADER) for a in answers]
    assert all(rid and MADE.fullmatch(rid) for rid in ids), ids
    assert len(set(ids)) == len(ids)
    for answer in answers:
        if answer.mimetype == "application/problem+json":
            assert answer.get_json()["request_id"] == answer.headers[HEADER]
    assert answers[6].status_code == 413 and answers[7].status_code == 400


def test_a_proxied_id_is_kept_behind_a_trusted_proxy_only(plain: Flask, proxied: Flask) -> None:
    sent = {HEADER: "caddy-3f9c2a1b.1:2"}
    assert proxied.test_client().get("/api/nope", headers=sent).headers[HEADER] == sent[HEADER]
    assert proxied.test_client().get("/api/nope", headers=sent).get_json()["request_id"] \
        == sent[HEADER]
    # Without a proxy anybody could choose it (and muddle another user's log lines).
    made = plain.test_client().get("/api/nope", headers=sent).headers[HEADER]
    assert made != sent[HEADER] and MADE.fullmatch(made)
    # Nor from a peer that is not the proxy (it reached gunicorn directly).
    direct = proxied.test_client().get("/api/nope", headers=sent,
                                       environ_base={"REMOTE_ADDR": "10.0.0.99"})
    assert direct.headers[HEADER] != sent[HEADER] and MADE.fullmatch(direct.headers[HEADER])


HOSTILE = ["a\r\nX-Injected: 1", "a\nlevel=ERROR", "x" * 65, "x" * 4096, "编号3f9c",
           '{"request_id": "forged"}', 'a"b', "a b", "", " ", "a\x00b", "a;b", "../etc"]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_proxied_id_is_replaced(proxied: Flask, value: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    assert not is_safe(value)
    # The environ directly: a test client refuses to send CR/LF in a header at all.
    with caplog.at_level(logging.INFO):
        answer = proxied.test_client().get(
            "/api/test-boom", environ_overrides={"HTTP_X_REQUEST_ID": value})
    rid = answer.headers[HEADER]
    assert MADE.fullmatch(rid) and answer.get_json()["request_id"] == rid
    assert {r.request_id for r in caplog.records if r.name == "tests.request_id"} == {rid}


def test_the_rule_for_a_proxied_id() -> None:
    assert choose("A-z_0.9:", trusted=True) == "A-z_0.9:"
    assert choose("x" * 64, trusted=True) == "x" * 64
    assert MADE.fullmatch(choose("x" * 65, trusted=True))
    assert MADE.fullmatch(choose("abc", trusted=False))
    assert MADE.fullmatch(choose(None, trusted=True))


def test_later_records_name_the_user(app: Flask, as_user) -> None:  # type: ignore[no-untyped-def]
    from flask import g

    from server.api.security import load_user

    def whoami() -> dict:
        load_user()
        logging.getLogger("tests.request_id").warning("logged in as %s", g.user.username)
        return {"ok": True}

    app.add_url_rule("/api/test-whoami", "test_whoami", whoami)
    inspector = as_user("insp_a")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("tests.request_id").addHandler(handler)
    try:
        answer = inspector.get("/api/test-whoami")
    finally:
        logging.getLogger("tests.request_id").removeHandler(handler)
    me = inspector.get("/api/me").get_json()
    assert answer.status_code == 200
    [record] = records
    assert record.request_id == answer.headers[HEADER]
    assert record.user_id == str(me["id"])


# ---- log formats ---------------------------------------------------------------------
def test_json_lines_carry_time_level_logger_message_id_and_exception(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = light_app(tmp_path, LOG_FORMAT="json")
    capsys.readouterr()
    answer = app.test_client().get("/api/test-boom")
    rid = answer.headers[HEADER]
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    mine = [p for p in parsed if p.get("request_id") == rid]
    assert [p["logger"] for p in mine] == ["tests.request_id", "server.api.problems"]
    failed = mine[1]
    assert failed["level"] == "ERROR"
    assert failed["message"] == "unhandled error on GET /api/test-boom"
    assert (failed["method"], failed["path"]) == ("GET", "/api/test-boom")
    assert "ZeroDivisionError: a bug" in failed["exception"]
    assert failed["time"].endswith("Z")
    assert datetime.fromisoformat(failed["time"]).utcoffset().total_seconds() == 0


def test_text_lines_are_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = light_app(tmp_path, LOG_FORMAT="text")
    capsys.readouterr()
    rid = app.test_client().get("/api/test-boom").headers[HEADER]
    err = capsys.readouterr().err
    assert re.search(rf"^\S+ \S+ ERROR   \[{rid}\] server\.api\.problems: unhandled error on "
                     r"GET /api/test-boom$", err, re.MULTILINE), err
    assert "ZeroDivisionError: a bug" in err  # the traceback follows, as Python prints it


def test_the_format_follows_the_environment(tmp_path: Path) -> None:
    assert logs.default_format({"FIELDCASE_ENV": "production"}) == "json"
    assert logs.default_format({}) == "text"
    assert logs.default_format({"FIELDCASE_ENV": "production", "LOG_FORMAT": "text"}) == "text"
    config = load_config(str(tmp_path), env={"LOG_FORMAT": "JSON", "LOG_LEVEL": "warning"})
    assert (config["LOG_FORMAT"], config["LOG_LEVEL"]) == ("json", "WARNING")
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_config(str(tmp_path), env={"LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        load_config(str(tmp_path), env={"LOG_LEVEL": "loud"})


SECRETS = ["hunter2-secret-pw", "eyJzZXNzaW9uIjoxfQ.tok", "s3ss10n-c00k1e", "blobtoken123"]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_secrets_never_reach_a_line(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    formatter = logs.JsonLineFormatter() if fmt == "json" else logs.TextFormatter()
    log = logging.getLogger("tests.request_id")
    said = []
    for message, args in (
            ("login %s", ({"username": "a", "password": SECRETS[0]},)),
            ("Authorization: Bearer %s", (SECRETS[1],)),
            ("cookie fieldcase_session=%s; other=1", (SECRETS[2],)),
            ("__Host-fieldcase=%s", (SECRETS[2],)),
            ('"GET /api/blobs/%s HTTP/1.1" 200', (SECRETS[3],)),
            ("intake token=%s refused", (SECRETS[1],))):
        record = log.makeRecord(log.name, logging.WARNING, __file__, 1, message, args, None)
        said.append(formatter.format(record))
    try:
        raise ValueError(f"password={SECRETS[0]}")
    except ValueError:
        record = log.makeRecord(log.name, logging.ERROR, __file__, 1, "failed", (),
                                sys.exc_info())
        said.append(formatter.format(record))
    text = "\n".join(said)
    for secret in SECRETS:
        assert secret not in text, text
    assert "username" in text and "/api/blobs/[token]" in text


def test_a_newline_in_a_request_forges_no_text_log_line() -> None:
    """A path or header with a newline in it (gunicorn's access line holds the decoded
    path) stays on its own line in the text log; a traceback keeps its lines."""
    formatter = logs.TextFormatter()
    forged = "/x\n2026-12-05 11:20:08,123 INFO    [abc user=admin] server.api: approved"
    access = logging.getLogger("gunicorn.access")
    line = formatter.format(access.makeRecord(access.name, logging.INFO, __file__, 1,
                                              '"GET %s HTTP/1.1" 404', (forged,), None))
    assert "\n" not in line and "/x\\x0a2026" in line
    app_log = logging.getLogger("server.api")
    try:
        raise ValueError("a bug")
    except ValueError:
        record = app_log.makeRecord(app_log.name, logging.ERROR, __file__, 1,
                                    "unhandled error on %s %s", ("GET", forged),
                                    sys.exc_info())
    text = formatter.format(record)
    first, *rest = text.split("\n")
    assert "/x\\x0a2026" in first and "approved" in first
    assert rest[0].startswith("Traceback") and "ValueError: a bug" in rest[-1]
    assert not any("approved" in later for later in rest)


@pytest.mark.parametrize("path", ["/api/blobs/TOK", "//api/blobs/TOK", "/api//blobs/TOK",
                                  "///api/blobs//TOK/x", "/./api/blobs/TOK", "/API/Blobs/TOK"])
def test_a_blob_token_never_reaches_the_logged_path(plain: Flask, path: str) -> None:
    assert "TOK" not in loggable_path(path)
    seen = []

    def keep() -> None:
        info = current()
        seen.append(info.path if info else None)

    plain.before_request(keep)
    plain.test_client().put(path.replace("TOK", "tok-secret-42"), data=b"x")
    [logged] = seen
    assert logged and "tok-secret-42" not in logged and "[token]" in logged


def test_a_blob_token_with_doubled_slashes_is_redacted_in_messages() -> None:
    for line in ('"PUT //api/blobs/tok-secret-42 HTTP/1.1" 403',
                 '"PUT /api//blobs/tok-secret-42 HTTP/1.1" 308'):
        assert "tok-secret-42" not in logs.redact(line)


def test_a_login_logs_neither_password_nor_cookie(  # type: ignore[no-untyped-def]
        app: Flask, capsys: pytest.CaptureFixture[str]) -> None:
    from flask import request

    @app.before_request
    def careless() -> None:  # what a debugging session might leave behind
        logging.getLogger("tests.request_id").debug(
            "headers %s body %s", dict(request.headers), request.get_data(as_text=True))

    logs.configure("json", "DEBUG")
    try:
        client = app.test_client()
        capsys.readouterr()
        client.post("/api/auth/login", json={"username": "insp_a", "password": "wrong-" + "pw9"})
        answer = client.post("/api/auth/login", json={"username": "insp_a",
                                                      "password": PASSWORD})
        client.get("/api/me")  # the cookie sent back
        cookie = answer.headers["Set-Cookie"]
        err = capsys.readouterr().err
    finally:
        logs.configure("text", "INFO")
    token = cookie.split("=", 1)[1].split(";", 1)[0]
    assert answer.status_code == 200 and len(token) > 20
    assert err.count('"tests.request_id"') == 3 and "[redacted]" in err
    assert "wrong-pw9" not in err and PASSWORD not in err and token not in err


# ---- gunicorn --------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def gunicorn_json(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path / "instance"), "PORT": str(port),
           "HOST": "127.0.0.1", "SECRET_KEY": "test-secret", "GUNICORN_CONTROL_SOCKET": "off",
           "LOG_FORMAT": "json", "TRUSTED_PROXY_HOPS": "1", "WEB_CONCURRENCY": "1",
           "FIELDCASE_ENV": "development",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--config",
             str(ROOT / "gunicorn.conf.py"), "server:create_app()"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            assert proc.poll() is None, log_path.read_text()
            with suppress(requests.RequestException):
                requests.get(f"{base}/api/nope", timeout=2)
                break
            time.sleep(0.1)
        yield base, log_path
    finally:
        proc.terminate()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_gunicorn_logs_json_lines_with_the_request_id(
        gunicorn_json: tuple[str, Path]) -> None:
    base, log_path = gunicorn_json
    answer = requests.get(f"{base}/api/nope", headers={HEADER: "from-caddy-42"}, timeout=10)
    assert answer.headers[HEADER] == "from-caddy-42"
    assert answer.json()["request_id"] == "from-caddy-42"
    for _ in range(100):  # the access line is written just after the answer
        lines = log_path.read_text().splitlines()
        access = [json.loads(line) for line in lines if '"gunicorn.access"' in line]
        if any(a["request_id"] == "from-caddy-42" for a in access):
            break
        time.sleep(0.05)
    parsed = [json.loads(line) for line in lines if line.strip()]  # all JSON, gunicorn's too
    assert any(p["logger"] == "gunicorn.error" and "Listening at" in p["message"]
               for p in parsed)
    [line] = [a for a in access if a["request_id"] == "from-caddy-42"]
    assert '"GET /api/nope HTTP/1.1" 404' in line["message"]
    assert "request_id=from-caddy-42" in line["message"]


def test_the_settings_and_the_lookup_are_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    for key in ("LOG_FORMAT", "LOG_LEVEL"):
        assert f"| `{key}` |" in readme
    assert "## Request ids and logs" in readme
    for name in ("Caddyfile", "Caddyfile.local", "Caddyfile.nodes"):
        caddyfile = (ROOT / "deploy" / name).read_text()
        assert "header_up X-Request-ID {http.request.uuid}" in caddyfile, name
