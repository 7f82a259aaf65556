"""Two nodes behind one Caddy (deploy/Caddyfile.nodes), sharing PostgreSQL, the S3 store
and Redis, as README "Several nodes" says to run them:

- shared state: a session made on node 1 works on node 2; a rate limit counted on node 1
  is refused on node 2; a lock-out made on one holds on the other; one upload quota;
- the kill: phones sync photos through Caddy (declare, PUT to S3, complete), retrying as
  the app's outbox does with the same client ids; node 1 is SIGKILLed mid-sync; at the end
  every photo is stored exactly once, nothing is pending after a reconcile run, no object
  is left that no photo owns, and node 2 served the rest;
- periodic work: `fieldcase sweep` on both nodes at once: one acts, the other skips, and
  each reminder is raised and posted once.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import redis
import requests
import sqlalchemy as sa
from PIL import Image

from tests.conftest import PASSWORD, fresh_pg_database, unavailable

pytestmark = [pytest.mark.pg, pytest.mark.s3, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CADDY = "/usr/bin/caddy"
HERE = {"lat": 24.3264, "lon": 109.4281}
PHONES, PHOTOS_EACH, KILL_AFTER = 4, 8, 8
QUOTA = 200_000


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jpeg(n: int) -> bytes:
    """A small JPEG of its own (each photo has its own SHA-256)."""
    out = io.BytesIO()
    Image.new("RGB", (32, 32), ((n * 37) % 256, (n * 91) % 256, (n * 13) % 256)).save(
        out, "JPEG", quality=90, comment=f"photo {n}".encode())
    return out.getvalue()


class Hooks(BaseHTTPRequestHandler):
    """A webhook receiver that holds its answer until the test releases it (a slow
    platform): the sweep that posts to it keeps its run lock meanwhile, however late the
    other node's sweep starts on a loaded machine."""

    received: ClassVar[list[dict]] = []
    release = threading.Event()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Hooks.received.append(json.loads(body))
        Hooks.release.wait(60)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Stack:
    def __init__(self, tmp: Path, db_url: str, storage_url: str, prefix: str) -> None:
        self.tmp, self.prefix = tmp, prefix
        self.ports = [_free_port(), _free_port()]
        self.proxy_port = _free_port()
        # What every node shares: one env file, as /etc/fieldcase.env.
        self.shared = {
            "DATABASE_URL": db_url, "STORAGE_URL": storage_url,
            "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379", "RATELIMIT_KEY_PREFIX": prefix,
            "SECRET_KEY": secrets.token_urlsafe(32), "AUDIT_SIGNING_KEY": secrets.token_hex(32),
            "WEBHOOK_SECRET_KEY": secrets.token_hex(32),
            "PERSONAL_DATA_KEY": secrets.token_hex(32),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.proxy_port}", "NODE_COUNT": "2",
            "TRUSTED_PROXY_HOPS": "1", "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1",
            "GUNICORN_THREADS": "4", "LOGIN_RATE_LIMIT": "1000 per minute",
            "PHONE_SEARCH_RATE_LIMIT": "3 per minute", "LOGIN_MAX_FAILURES": "3",
            "DAILY_UPLOAD_BYTES": str(QUOTA), "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
            "WEBHOOK_TIMEOUT_S": "60", "WEBHOOK_SWEEP_BUDGET_S": "60",
        }
        self.nodes: list[subprocess.Popen] = []
        self.caddy: subprocess.Popen | None = None

    def env(self, node: int) -> dict[str, str]:
        """Node n's environment: the shared one, its own port and instance folder."""
        return {**os.environ, **self.shared, "PORT": str(self.ports[node]),
                "INSTANCE_PATH": str(self.tmp / f"node-{node + 1}")}

    def url(self, node: int) -> str:
        return f"http://127.0.0.1:{self.ports[node]}"

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def log(self, node: int) -> str:
        return (self.tmp / f"node-{node + 1}.log").read_text(errors="replace")

    def start(self) -> None:
        for node in (0, 1):
            log = open(self.tmp / f"node-{node + 1}.log", "wb")  # noqa: SIM115 (the node's)
            self.nodes.append(subprocess.Popen(
                [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "server:create_app()"],
                env=self.env(node), cwd=ROOT, start_new_session=True, stdout=log,
                stderr=subprocess.STDOUT))
            log.close()
        with open(self.tmp / "caddy.log", "wb") as log:
            self.caddy = subprocess.Popen(
                [CADDY, "run", "--config", "deploy/Caddyfile.nodes", "--adapter", "caddyfile"],
                env={**os.environ, "FIELDCASE_DOMAIN": self.proxy,
                     "FIELDCASE_NODES": f"127.0.0.1:{self.ports[0]} 127.0.0.1:{self.ports[1]}",
                     "XDG_DATA_HOME": str(self.tmp / "xdg"),
                     "XDG_CONFIG_HOME": str(self.tmp / "xdg")},
                cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=log)

    def wait(self) -> None:
        for base in (self.url(0), self.url(1), self.proxy):
            _wait_for(f"{base}/api/live")

    def kill(self, node: int) -> None:
        os.killpg(self.nodes[node].pid, signal.SIGKILL)
        self.nodes[node].wait(10)

    def stop(self) -> None:
        for proc in [*self.nodes, *([self.caddy] if self.caddy else [])]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)

    def cli(self, node: int, *args: str) -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "fieldcase"), *args], env=self.env(node), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


def _migrate(stack: Stack) -> str:
    """Migrate once (before any node starts) and make the people; returns the street's
    unit id."""
    from flask_migrate import upgrade

    from server import create_app
    from server.domain.accounts import auth
    from server.extensions import db
    from server.models import Unit

    app = create_app({"SQLALCHEMY_DATABASE_URI": stack.shared["DATABASE_URL"],
                      "STORAGE_URL": stack.shared["STORAGE_URL"],
                      "SECRET_KEY": stack.shared["SECRET_KEY"],
                      "AUDIT_SIGNING_KEY": stack.shared["AUDIT_SIGNING_KEY"],
                      "WEBHOOK_SECRET_KEY": stack.shared["WEBHOOK_SECRET_KEY"],
                      "PERSONAL_DATA_KEY": stack.shared["PERSONAL_DATA_KEY"],
                      "INSTANCE_PATH": str(stack.tmp / "setup")})
    with app.app_context():
        upgrade(directory=str(Path(app.root_path) / "migrations"))
        app.extensions["fieldcase.storage"].ensure_bucket()
        auth.create_unit("District")
        auth.create_unit("Street A", "District")
        auth.create_user("office", PASSWORD, "reviewer", ["District"])
        auth.create_user("admin", PASSWORD, "admin", ["District"])
        for name in ("victim", "quota", *(f"phone{n}" for n in range(PHONES))):
            auth.create_user(name, PASSWORD, "inspector", ["Street A"])
        unit = db.session.scalar(sa.select(Unit.id).filter_by(name="Street A"))
        db.session.remove()
        db.engine.dispose()
    return unit


def _overdue_case(base: str, unit: str) -> str:
    """A case received three weeks ago: overdue, so the sweep has reminders to raise."""
    received = datetime.fromtimestamp(time.time() - 21 * 86400, UTC).replace(microsecond=0)
    office = _session(base, "office")
    made = office.post(f"{base}/api/cases", timeout=30, json={
        "unit_id": unit, "channel": "hotline_12345", "category": "noise_social",
        "subject": "夜间噪声", "address": "湖滨路1号", "location": HERE,
        "description": "two nodes", "received_at": received.isoformat()})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _session(base: str, username: str, password: str = PASSWORD) -> requests.Session:
    http = requests.Session()
    answer = http.post(f"{base}/api/auth/login", json={"username": username,
                                                       "password": password}, timeout=30)
    assert answer.status_code == 200, answer.text
    http.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return http


def _declare(http: requests.Session, base: str, case_id: str, data: bytes,
             client_id: str, size: int | None = None, taken: str | None = None
             ) -> requests.Response:
    """A declaration as the app sends it: a retry sends the very same body (the moment
    the photo was taken and its fix included), or the server refuses the client id."""
    now = taken or datetime.now(UTC).isoformat()
    return http.post(f"{base}/api/evidence", timeout=30, json={
        "client_id": client_id, "case_id": case_id,
        "sha256": hashlib.sha256(data).hexdigest(), "size": size or len(data),
        "content_type": "image/jpeg", "captured_at": now,
        "geo": {**HERE, "accuracy_m": 8, "fixed_at": now, "source": "gps"}})


class Phone(threading.Thread):
    """One inspector's phone: sends its photos one at a time through the proxy, and on
    any failure (no answer, 502, 503) sends the same photo again under the same client id,
    as the outbox does, until the server's receipt says stored."""

    def __init__(self, base: str, username: str, case_id: str, photos: list[bytes],
                 done: list[str], progress: threading.Semaphore) -> None:
        super().__init__(daemon=True)
        self.base, self.username, self.case_id = base, username, case_id
        taken = datetime.now(UTC).isoformat()
        self.photos = [(str(uuid.uuid4()), data, taken) for data in photos]
        self.done, self.progress = done, progress
        self.failures: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.http = self._login()
            for client_id, data, taken in self.photos:
                self.done.append(self._send(client_id, data, taken))
                self.progress.release()
        except BaseException as exc:  # reported by the test
            self.error = exc

    def _login(self) -> requests.Session:
        for _ in range(100):
            try:
                return _session(self.base, self.username)
            except (requests.RequestException, AssertionError) as exc:
                self.failures.append(f"login: {exc}")
                time.sleep(0.2)
        raise AssertionError(f"{self.username} could not log in")

    def _send(self, client_id: str, data: bytes, taken: str) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                declared = _declare(self.http, self.base, self.case_id, data, client_id,
                                    taken=taken)
                if declared.status_code not in (200, 201):
                    self.failures.append(f"declare {declared.status_code} {declared.text[:80]}")
                    time.sleep(0.2)
                    continue
                ev = declared.json()
                if ev["state"] == "stored":  # completed before the answer was lost
                    return ev["id"]
                upload = ev["upload"]
                put = requests.request(upload["method"], upload["url"], data=data,
                                       headers=upload["headers"], timeout=30)
                if put.status_code not in (200, 201, 204):
                    self.failures.append(f"put {put.status_code}")
                    time.sleep(0.2)
                    continue
                done = self.http.post(f"{self.base}/api/evidence/{ev['id']}/complete",
                                      timeout=30)
                if done.status_code == 200 and done.json()["state"] == "stored":
                    return ev["id"]
                self.failures.append(f"complete {done.status_code}")
            except requests.RequestException as exc:
                self.failures.append(type(exc).__name__)
            time.sleep(0.2)
        raise AssertionError(f"{self.username}: {client_id} never stored: {self.failures}")


@pytest.fixture()
def nodes(seaweed: Any, tmp_path: Path) -> Iterator[Stack]:
    if not Path(CADDY).exists():
        unavailable("caddy is not installed (make test installs it)")
    shared_redis = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        shared_redis.ping()
    except redis.RedisError as exc:
        shared_redis.close()
        unavailable(f"Redis at 127.0.0.1:6379 is not reachable: {exc}")
    prefix = f"fc-nodes-{secrets.token_hex(6)}"
    with fresh_pg_database() as db_url:
        stack = Stack(tmp_path, db_url, seaweed.url(f"fc-nodes-{secrets.token_hex(4)}"),
                      prefix)
        try:
            yield stack
        finally:
            stack.stop()
            for key in shared_redis.scan_iter(f"{prefix}:*"):
                shared_redis.delete(key)
            shared_redis.close()


def test_two_nodes_share_state_survive_a_kill_and_sweep_once(nodes: Stack) -> None:
    stack = nodes
    stack.start()  # the nodes boot while the schema is made; they serve once it is
    unit = _migrate(stack)
    stack.wait()
    node1, node2 = stack.url(0), stack.url(1)
    case_id = _overdue_case(node1, unit)

    # ---- shared state ----------------------------------------------------------------
    # A session made on node 1 is a session on node 2 (the cookie is the same host's).
    office = _session(node1, "office")
    me = office.get(f"{node2}/api/me", timeout=30)
    assert me.status_code == 200 and me.json()["username"] == "office"
    # A rate limit counted on node 1 is refused on node 2 (3 per minute, per user).
    for _ in range(3):
        assert office.get(f"{node1}/api/cases?phone=13800001234", timeout=30).status_code == 200
    limited = office.get(f"{node2}/api/cases?phone=13800001234", timeout=30)
    assert limited.status_code == 429, limited.text
    # A lock-out made on node 1 holds on node 2, even for the right password.
    for _ in range(3):
        wrong = requests.post(f"{node1}/api/auth/login", timeout=30,
                              json={"username": "victim", "password": "wrong-password"})
        assert wrong.status_code in (401, 429)
    locked = requests.post(f"{node2}/api/auth/login", timeout=30,
                           json={"username": "victim", "password": PASSWORD})
    assert locked.status_code == 429 and locked.json()["code"] == "auth.locked", locked.text
    # One daily upload quota: what node 1 took counts on node 2.
    quota = _session(node1, "quota")
    first = _declare(quota, node1, case_id, b"x", str(uuid.uuid4()), size=QUOTA * 3 // 4)
    assert first.status_code == 201, first.text
    over = _declare(quota, node2, case_id, b"y", str(uuid.uuid4()), size=QUOTA // 2)
    assert over.status_code == 429 and over.json()["code"] == "evidence.quota_exceeded", \
        over.text

    # ---- the kill --------------------------------------------------------------------
    done: list[str] = []
    progress = threading.Semaphore(0)
    phones = [Phone(stack.proxy, f"phone{n}", case_id,
                    [_jpeg(n * 100 + k) for k in range(PHOTOS_EACH)], done, progress)
              for n in range(PHONES)]
    for phone in phones:
        phone.start()
    for _ in range(KILL_AFTER):
        assert progress.acquire(timeout=60), [p.failures for p in phones]
    stack.kill(0)  # SIGKILL, master and worker: mid-sync, requests in flight
    stored_at_kill = len(done)
    for phone in phones:
        phone.join(90)
        assert not phone.is_alive() and phone.error is None, (phone.username, phone.error)
    total = PHONES * PHOTOS_EACH
    assert len(done) == total and stored_at_kill < total
    # Node 1 served photos before it died, node 2 the rest (the logs of their requests).
    served = [len(re.findall(r'"POST /api/evidence', stack.log(n))) for n in (0, 1)]
    completions = len(re.findall(r'/complete HTTP/1\.1" 200', stack.log(1)))
    assert served[0] >= 1 and completions >= total - stored_at_kill, (served, completions)

    reconcile = stack.cli(1, "reconcile", "--older-than-minutes", "0",
                          "--expire-after-hours", "0")
    out, err = reconcile.communicate(timeout=60)
    assert reconcile.returncode == 0, (out, err)

    from server.storage import from_url

    engine = sa.create_engine(stack.shared["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT e.id, e.client_id, e.state, u.username FROM evidence e "
                "JOIN users u ON u.id = e.uploaded_by")).all()
    finally:
        engine.dispose()
    photos = [r for r in rows if r.username.startswith("phone")]
    # Every photo exactly once, stored; nothing left pending anywhere.
    assert len(photos) == total and len({r.client_id for r in photos}) == total
    assert {r.state for r in photos} == {"stored"} and sorted(r.id for r in photos) == sorted(done)
    assert not [r for r in rows if r.state == "pending"]
    # No object that no photo owns: staging emptied, every evidence object a stored one's.
    store = from_url(stack.shared["STORAGE_URL"])
    keys = [info.key for info in store.list("")]
    assert not [k for k in keys if k.startswith("staging/")], keys
    stored_ids = {r.id for r in rows if r.state == "stored"}
    owners = {k.split("/")[1] for k in keys if k.startswith("evidence/")}
    assert owners == stored_ids

    # ---- periodic work acts once ------------------------------------------------------
    Hooks.received = []
    Hooks.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sweeps: list[subprocess.Popen] = []
    try:
        admin = _session(node2, "admin")
        hook = admin.post(f"{node2}/api/webhooks", timeout=30, json={
            "url": f"http://127.0.0.1:{server.server_address[1]}/hook"})
        assert hook.status_code == 201, hook.text
        sweeps += [stack.cli(node, "sweep") for node in (0, 1)]  # both timers fire at once
        deadline = time.monotonic() + 90
        while all(proc.poll() is None for proc in sweeps) and time.monotonic() < deadline:
            time.sleep(0.1)
        # The first to end skipped: the other holds the lock, posting to the slow hook.
        first = next(proc for proc in sweeps if proc.poll() is not None)
        out, err = first.communicate()
        assert first.returncode == 0 and out.strip() == "sweep: skipped: running elsewhere", \
            (out, err)
        Hooks.release.set()
        other = next(proc for proc in sweeps if proc is not first)
        out, err = other.communicate(timeout=90)
        assert other.returncode == 0, (out, err)
        raised = json.loads(out)["raised"]
        assert raised >= 1
    finally:
        Hooks.release.set()
        for proc in sweeps:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        server.shutdown()
        server.server_close()
    ids = [body["id"] for body in Hooks.received]
    assert len(ids) == raised and len(set(ids)) == raised
    engine = sa.create_engine(stack.shared["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            notes = conn.scalar(sa.text("SELECT COUNT(*) FROM notifications"))
    finally:
        engine.dispose()
    assert notes == raised
