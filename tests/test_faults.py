"""Faults under load, on the scaled stack as deployed: phones file photos through gunicorn
(2 workers) into PostgreSQL + SeaweedFS while the object store is SIGKILLed, a gunicorn
worker is SIGKILLed, or the connection to PostgreSQL is cut. The phones retry as the app's
outbox does; once the fault is over and they are done (and one reconcile pass has run, as
production runs it on a timer), no photo is lost, duplicated or stuck, and the store holds
nothing that no stored photo owns.

- lost: a photo the phones meant to file (told stored, or given up on) that is not stored
  with its bytes (the object's SHA-256 is checked in the store);
- duplicated: more than one row for a client_id, or more than one `evidence.stored` audit
  entry or `evidence_stored` timeline event for one photo;
- stuck: a row still `pending`;
- orphans: an object under evidence/ no stored row owns, or any staging/ object left.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from server import create_app
from server.domain.audit import audit, timeline
from server.domain.fieldwork.completion import reconcile
from server.domain.fieldwork.evidence import final_key
from server.extensions import db
from server.models import AuditEntry, Evidence
from server.models.timeline import CaseEvent
from server.storage import ObjectNotFound
from tests.conftest import PASSWORD, login
from tests.tcp_proxy import database_proxy
from tests.test_evidence import NOKIA, declaration

pytestmark = [pytest.mark.pg, pytest.mark.s3, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[1]
PHONES, PHOTOS_EACH = 4, 4
RETRY_WINDOW_S = 60.0  # the phones keep retrying this long after a fault ends
# What a phone's outbox retries besides 5xx, 429 and a broken connection (pwa/js/outbox.js).
RETRIED_CODES = {"evidence.upload_missing", "evidence.expired", "evidence.hash_mismatch",
                 "evidence.size_mismatch", "request.conflict"}
CONNECTION_ERRORS = {"ConnectionError", "ChunkedEncodingError", "ReadTimeout",
                     "ConnectTimeout"}


def _skip_unless_scaled(app: Flask) -> None:
    if app.config["STACK"] != "scaled":
        pytest.skip("the faults are those of the scaled stack (gunicorn, PostgreSQL, S3)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- gunicorn as deployed ------------------------------------------------------------
class Gunicorn:
    """gunicorn.conf.py with two workers; the access log names the worker (pid) that
    answered each request."""

    def __init__(self, workdir: Path, *, database_url: str, storage_url: str,
                 secret_key: str) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "gunicorn.log"
        instance = workdir / "instance"
        instance.mkdir()
        env = {**os.environ, "DATABASE_URL": database_url, "STORAGE_URL": storage_url,
               "SECRET_KEY": secret_key, "AUDIT_SIGNING_KEY": os.urandom(32).hex(),
               "INSTANCE_PATH": str(instance), "HOST": "127.0.0.1", "PORT": str(self.port),
               "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "8",
               "GUNICORN_CONTROL_SOCKET": "off",
               # Each worker counts on its own (memory://): limits far above the load.
               "RATELIMIT_STORAGE_URI": "memory://",
               "LOGIN_RATE_LIMIT": "10000 per minute", "UPLOAD_RATE_LIMIT": "10000 per minute",
               # Faults surface in a few seconds, not in the production budget.
               "STORAGE_CONNECT_TIMEOUT_S": "1", "STORAGE_READ_TIMEOUT_S": "5",
               "STORAGE_ATTEMPTS": "2", "FIELDCASE_ENV": "development"}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"),
                 "--config", str(ROOT / "gunicorn.conf.py"),
                 "--access-logformat", "%(p)s %(s)s %(m)s %(U)s",
                 "server:create_app()"],
                cwd=ROOT, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def health(self) -> tuple[int, dict]:
        with requests.get(f"{self.base}/api/health", timeout=10) as answer:
            return answer.status_code, answer.json()

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"gunicorn exited:\n{self.log_tail()}"
            with suppress(requests.RequestException, ValueError):
                if self.health()[0] == 200:
                    return
            time.sleep(0.2)
        raise AssertionError(f"gunicorn not healthy after {timeout:.0f}s:\n{self.log_tail()}")

    def workers(self) -> set[int]:
        """The master's live children (a reaped or zombie worker is not one)."""
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                    found.add(int(stat.parent.name))
        return found

    def connections(self, pid: int) -> int:
        """Client connections to our port that this worker holds open."""
        inodes = set()
        with suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
        held = 0
        with suppress(OSError):
            for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
                parts = line.split()
                local, state, inode = parts[1], parts[3], parts[9]
                if state == "01" and int(local.rsplit(":", 1)[1], 16) == self.port \
                        and inode in inodes:
                    held += 1
        return held

    def answered_by(self) -> Counter[int]:
        """Requests answered (status below 500) per worker pid, from the access log."""
        counts: Counter[int] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("<") and parts[0].endswith(">") \
                    and parts[1].isdigit() and int(parts[1]) < 500:
                counts[int(parts[0][1:-1])] += 1
        return counts

    def stop(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@contextmanager
def gunicorn(workdir: Path, **settings: str) -> Iterator[Gunicorn]:
    server = Gunicorn(workdir, **settings)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


# ---- phones --------------------------------------------------------------------------
@dataclass
class Photo:
    label: str
    data: bytes
    body: dict
    evidence_id: str | None = None
    outcome: str = "not tried"  # "stored" (told so), "gave up", "refused: ..."
    receipt_sha256: str | None = None

    @property
    def sha256(self) -> str:
        return self.body["sha256"]


@dataclass
class Event:
    phone: int
    step: str  # declare, upload, complete
    result: str  # "201", "503 storage.unavailable", "ConnectionError", ...
    started: float
    ended: float


@dataclass
class Field:
    """What the phones share: their log, what each is doing now, and when to give up."""

    deadline: float = field(default_factory=lambda: time.monotonic() + 240)
    events: list[Event] = field(default_factory=list)
    busy: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def doing(self, step: str) -> Iterator[None]:
        with self.lock:
            self.busy[step] += 1
        try:
            yield
        finally:
            with self.lock:
                self.busy[step] -= 1

    def record(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def failed_between(self, start: float, end: float) -> list[Event]:
        with self.lock:
            return [e for e in self.events if start <= e.ended <= end
                     and not e.result.startswith(("200", "201", "204"))]

    def summary(self) -> Counter[str]:
        with self.lock:
            return Counter(f"{e.step} {e.result}" for e in self.events)


class Phone(threading.Thread):
    """The outbox, photo after photo: declare (idempotent on client_id), send the bytes to
    the upload URL, complete; on a broken connection, a 5xx, a 429 or a retryable 409/422
    it starts again from the declaration (which hands out the upload URL again), with a
    short backoff, until the photo is stored or the field's deadline passes."""

    def __init__(self, number: int, base: str, photos: list[Photo], fieldwork: Field) -> None:
        super().__init__(name=f"phone-{number}", daemon=True)
        self.number, self.base, self.photos, self.field = number, base, photos, fieldwork
        self.session = requests.Session()
        answer = self.session.post(f"{base}/api/auth/login", timeout=30,
                                   json={"username": "insp_a", "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        self.session.headers["X-CSRF-Token"] = answer.json()["csrf_token"]

    def run(self) -> None:
        try:
            for photo in self.photos:
                self.file(photo)
        except Exception as exc:  # recorded and failed on, never lost in a thread
            self.field.crashes.append(f"{self.name}: {exc!r}")
        finally:
            self.session.close()

    def file(self, photo: Photo) -> None:
        pause = 0.2
        while True:
            if time.monotonic() > self.field.deadline:
                photo.outcome = "gave up"
                return
            if self.attempt(photo):
                return
            time.sleep(pause + random.uniform(0, pause))
            pause = min(pause * 2, 2.0)

    def call(self, step: str, method: str, url: str, *, to_app: bool = True,
             timeout: float = 15, **kw: Any) -> requests.Response | None:
        started = time.monotonic()
        with self.field.doing(step):
            try:
                if to_app:
                    answer = self.session.request(method, url, timeout=timeout, **kw)
                else:  # the store, at the presigned URL: no cookies, no CSRF header
                    answer = requests.request(method, url, timeout=timeout, **kw)
                    answer.close()
            except requests.RequestException as exc:
                self.field.record(Event(self.number, step, type(exc).__name__, started,
                                        time.monotonic()))
                return None
        code = ""
        if to_app and answer.headers.get("Content-Type", "").startswith(
                "application/problem+json"):
            code = answer.json().get("code", "")
        self.field.record(Event(self.number, step, f"{answer.status_code} {code}".strip(),
                                started, time.monotonic()))
        return answer

    def settled(self, photo: Photo, answer: requests.Response) -> bool:
        """False to retry; True (with the outcome) for a permanent refusal."""
        try:
            code = answer.json().get("code", "")
        except ValueError:
            code = ""
        if answer.status_code >= 500 or answer.status_code == 429 or code in RETRIED_CODES:
            return False
        photo.outcome = f"refused: {answer.status_code} {code} {answer.text[:200]}"
        return True

    def receipt(self, photo: Photo, body: dict) -> bool:
        photo.evidence_id = body["id"]
        if body["state"] != "stored":
            photo.outcome = f"refused: state {body['state']}"
            return True
        photo.outcome, photo.receipt_sha256 = "stored", body["sha256"]
        return True

    def attempt(self, photo: Photo) -> bool:
        declared = self.call("declare", "POST", f"{self.base}/api/evidence", json=photo.body)
        if declared is None:
            return False
        if declared.status_code not in (200, 201):
            return self.settled(photo, declared)
        body = declared.json()
        photo.evidence_id = body["id"]
        if body["state"] != "pending" or not body.get("upload"):
            return self.receipt(photo, body)
        target = body["upload"]
        sent = self.call("upload", target["method"], target["url"], to_app=False,
                         data=photo.data, headers=target["headers"])
        if sent is None or sent.status_code not in (200, 201, 204):
            return False
        done = self.call("complete", "POST", f"{self.base}/api/evidence/{body['id']}/complete",
                         timeout=60)
        if done is None:
            return False
        if done.status_code != 200:
            return self.settled(photo, done)
        return self.receipt(photo, done.json())


def make_photos(case_id: str) -> list[Photo]:
    """PHONES x PHOTOS_EACH distinct real JPEGs (the Nokia sample and one byte more)."""
    sample = NOKIA.read_bytes()
    photos = []
    for i in range(PHONES * PHOTOS_EACH):
        data = sample + bytes([i])
        photos.append(Photo(f"photo-{i}", data, declaration(case_id, data)))
    return photos


@contextmanager
def send_phones(base: str, photos: list[Photo]) -> Iterator[tuple[Field, list[Phone]]]:
    """The phones at work; whatever happens, they stop by the end of the block."""
    fieldwork = Field()
    phones = [Phone(n, base, photos[n::PHONES], fieldwork) for n in range(PHONES)]
    for phone in phones:
        phone.start()
    try:
        yield fieldwork, phones
    finally:
        fieldwork.deadline = 0.0
        for phone in phones:
            phone.join(70)


def wait_for(what: str, ready: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def stored_count(photos: list[Photo]) -> int:
    return sum(p.outcome == "stored" for p in photos)


def mid_flight(photos: list[Photo], fieldwork: Field) -> Callable[[], bool]:
    """Some photos stored already and a completion under way."""
    return lambda: stored_count(photos) >= 3 and fieldwork.busy["complete"] >= 1


def let_phones_finish(fieldwork: Field, phones: list[Phone], fault_over: float) -> None:
    fieldwork.deadline = fault_over + RETRY_WINDOW_S
    for phone in phones:
        phone.join(RETRY_WINDOW_S + 60)
    assert not any(phone.is_alive() for phone in phones), "a phone is still running"
    assert fieldwork.crashes == [], fieldwork.crashes


# ---- the verdict ---------------------------------------------------------------------
def verdict(checker: Flask, case_id: str, photos: list[Photo], fieldwork: Field,
            server: Gunicorn) -> None:
    """One reconcile pass, then count what is lost, duplicated, stuck or orphaned."""
    with checker.app_context():
        try:
            settled = reconcile(older_than=timedelta(0), expire_after=timedelta(days=7))
            db.session.remove()
            _count(checker, case_id, photos, fieldwork, settled, server.log_path)
        finally:
            db.session.remove()


def _count(checker: Flask, case_id: str, photos: list[Photo], fieldwork: Field,
           settled: dict, server_log: Path) -> None:
    store = checker.extensions["fieldcase.storage"]
    rows = db.session.scalars(sa.select(Evidence).where(Evidence.case_id == case_id)).all()
    by_client: dict[str, list[Evidence]] = {}
    for row in rows:
        by_client.setdefault(row.client_id, []).append(row)

    lost = []
    for photo in photos:
        mine = by_client.get(photo.body["client_id"], [])
        if photo.outcome == "stored" and photo.receipt_sha256 != photo.sha256:
            lost.append(f"{photo.label}: told stored with sha256 {photo.receipt_sha256}")
        if not any(r.state == "stored" for r in mine):
            lost.append(f"{photo.label}: {[r.state for r in mine] or 'no row'} "
                        f"(phone: {photo.outcome})")
            continue
        row = next(r for r in mine if r.state == "stored")
        try:
            digest = hashlib.sha256(b"".join(store.iter_chunks(final_key(row.id)))).hexdigest()
        except ObjectNotFound:
            digest = "no object"
        if digest != photo.sha256 or row.sha256 != photo.sha256:
            lost.append(f"{photo.label}: stored bytes {digest} (phone: {photo.outcome})")

    ids = {r.id for r in rows}
    stored_ids = {r.id for r in rows if r.state == "stored"}
    audit_stored = Counter(db.session.scalars(sa.select(AuditEntry.entity_id).where(
        AuditEntry.action == "evidence.stored", AuditEntry.entity_id.in_(ids))))
    events = Counter(e.data["evidence_id"] for e in db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id == case_id, CaseEvent.kind == "evidence_stored")))
    duplicated = [f"client_id {c}: {len(rs)} rows" for c, rs in by_client.items() if len(rs) > 1]
    duplicated += [f"{i}: {n} evidence.stored audit entries" for i, n in audit_stored.items()
                   if n > 1]
    duplicated += [f"{i}: {n} evidence_stored events" for i, n in events.items() if n > 1]
    unrecorded = [i for i in stored_ids if audit_stored[i] != 1 or events[i] != 1]
    unrecorded += [i for i in set(audit_stored) | set(events) if i not in stored_ids]

    stuck = [f"{r.id}: {r.state} ({r.last_error})" for r in rows if r.state == "pending"]

    keys = [info.key for info in store.list("")]
    orphans = [k for k in keys if k.startswith("staging/")
               or (k.startswith("evidence/") and k.split("/")[1] not in stored_ids)]
    orphans += [k for k in keys if not k.startswith(("staging/", "evidence/"))]
    missing_thumbs = [f"{r.id}/{name}" for r in rows if r.state == "stored"
                      for name in (r.thumbnails or {})
                      if f"evidence/{r.id}/thumb-{name}.jpg" not in keys]

    details = {"lost": lost, "duplicated": duplicated, "stuck": stuck, "orphans": orphans,
               "reconcile": settled, "phones": Counter(p.outcome for p in photos),
               "answers": fieldwork.summary(), "server log": str(server_log)}
    print(details)
    assert (len(lost), len(duplicated), len(stuck), len(orphans)) == (0, 0, 0, 0), details
    assert settled["errors"] == [], details
    assert (unrecorded, missing_thumbs) == ([], []), details
    # The phones themselves were told: nothing was left for the reconciler to file.
    assert [p.label for p in photos if p.outcome != "stored"] == [], details
    # No answer was a server error: a fault is a 503 (or a dropped connection), never 500.
    assert not [k for k in fieldwork.summary() if k.split()[1] in ("500", "502", "504")], \
        details
    assert audit.verify_chain() == (True, None)
    assert list(timeline.verify_chains()) == []


# ---- the faults ----------------------------------------------------------------------
def test_store_killed_while_phones_upload(app: Flask, make_case, tmp_path: Path) -> None:
    """SeaweedFS (a store of this test's own) SIGKILLed while phones send bytes and
    complete, then started again on the same ports with the same data."""
    from tests.storage_server import start_restartable_seaweedfs

    _skip_unless_scaled(app)
    weed = start_restartable_seaweedfs(tmp_path / "weed")
    checker = None
    try:
        storage_url = weed.info.url("fc-faults")
        overrides = {k: v for k, v in app.config.items() if k.isupper()}
        checker = create_app({**overrides, "STORAGE_URL": storage_url})
        checker.extensions["fieldcase.storage"].ensure_bucket(cors_origins=["*"])
        case_id = make_case()["id"]
        photos = make_photos(case_id)
        with gunicorn(tmp_path, database_url=app.config["SQLALCHEMY_DATABASE_URI"],
                      storage_url=storage_url, secret_key=app.config["SECRET_KEY"]) as server:
            with send_phones(server.base, photos) as (fieldwork, phones):
                wait_for("photos under way", mid_flight(photos, fieldwork))
                busy = dict(fieldwork.busy)
                fault_on = time.monotonic()
                weed.kill()
                assert not weed.running()
                time.sleep(2.0)  # down: uploads refused, completions fail
                weed.restart()
                fault_over = time.monotonic()
                seen = fieldwork.failed_between(fault_on, fault_over)
                let_phones_finish(fieldwork, phones, fault_over)
            assert server.health()[0] == 200
        assert {e.step for e in seen} & {"upload", "complete"}, (busy, seen)
        assert any(e.result in CONNECTION_ERRORS or e.result.startswith("503") for e in seen)
        print("busy at the kill", busy, "failed while down", Counter(
            f"{e.step} {e.result}" for e in seen), "down for", fault_over - fault_on)
        verdict(checker, case_id, photos, fieldwork, server)
    finally:
        weed.stop()
        if checker is not None:
            with checker.app_context():
                db.engine.dispose()


def test_worker_killed_while_completing(app: Flask, make_case, tmp_path: Path) -> None:
    """A gunicorn worker SIGKILLed in the middle of completions (again, up to four times,
    until a completion was cut off); the master starts a new one, which answers."""
    _skip_unless_scaled(app)
    case_id = make_case()["id"]
    photos = make_photos(case_id)
    with gunicorn(tmp_path, database_url=app.config["SQLALCHEMY_DATABASE_URI"],
                  storage_url=app.config["STORAGE_URL"],
                  secret_key=app.config["SECRET_KEY"]) as server:
        first = server.workers()
        assert len(first) == 2, first
        with send_phones(server.base, photos) as (fieldwork, phones):
            wait_for("photos under way", mid_flight(photos, fieldwork))
            killed: list[tuple[int, float]] = []
            cut: list[Event] = []
            while not cut and len(killed) < 4:
                wait_for("a completion under way", lambda: fieldwork.busy["complete"] >= 1)
                victim = max(server.workers(), key=server.connections)
                os.kill(victim, signal.SIGKILL)
                killed.append((victim, time.monotonic()))
                wait_for("the worker's replacement",
                         lambda v=victim: v not in server.workers()
                         and len(server.workers()) == 2, timeout=30)
                time.sleep(0.5)  # the cut-off answers reach the phones
                cut = [e for e in fieldwork.failed_between(killed[0][1], time.monotonic())
                       if e.step == "complete" and e.result in CONNECTION_ERRORS]
            fault_over = time.monotonic()
            let_phones_finish(fieldwork, phones, fault_over)
        assert cut, ("no completion was cut off by killing", killed, fieldwork.summary())
        now = server.workers()
        assert len(now) == 2 and not now & {pid for pid, _ in killed}, (killed, now)
        for pid, _ in killed:
            assert not Path(f"/proc/{pid}").exists(), pid
        # A worker the master started after the kill answers: fresh connections, each
        # taken by whichever worker accepts first, until one of the new ones has.
        deadline = time.monotonic() + 20
        while not any(server.answered_by()[pid] for pid in now - first) \
                and time.monotonic() < deadline:
            for _ in range(10):
                with requests.get(f"{server.base}/api/live", timeout=10,
                                  headers={"Connection": "close"}) as answer:
                    assert answer.status_code == 200
        answered = server.answered_by()
        assert any(answered[pid] for pid in now - first), (answered, first, now)
        print("killed", killed, "answered", answered, "cut", cut)
    verdict(app, case_id, photos, fieldwork, server)


def test_database_cut_while_phones_upload(app: Flask, make_case, tmp_path: Path) -> None:
    """The connections between gunicorn and PostgreSQL cut (and new ones refused) for a
    few seconds while phones declare, upload and complete, then restored."""
    _skip_unless_scaled(app)
    proxy, proxied = database_proxy(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        case_id = make_case()["id"]
        photos = make_photos(case_id)
        with (gunicorn(tmp_path, database_url=proxied, storage_url=app.config["STORAGE_URL"],
                       secret_key=app.config["SECRET_KEY"]) as server,
              send_phones(server.base, photos) as (fieldwork, phones)):
            wait_for("photos under way", mid_flight(photos, fieldwork))
            fault_on = time.monotonic()
            proxy.cut()
            time.sleep(1.0)
            status, health = server.health()
            time.sleep(2.0)
            proxy.restore()
            fault_over = time.monotonic()
            seen = fieldwork.failed_between(fault_on, fault_over)
            let_phones_finish(fieldwork, phones, fault_over)
        assert (status, health["database"]) == (503, "unavailable"), health
        assert any(e.result == "503 database.unavailable" for e in seen), seen
        print("failed while cut", Counter(f"{e.step} {e.result}" for e in seen))
        verdict(app, case_id, photos, fieldwork, server)
    finally:
        proxy.close()


def test_database_cut_after_the_answer_is_made(app: Flask, make_case) -> None:
    """The connection to PostgreSQL lost between a declaration's commit and the end of its
    request, where the session's closing ROLLBACK has nowhere to go: the phone still gets
    the answer that was made (201), not a bare 500 for a photo that was declared all the
    same. (The moment the phones' database cut above hits now and then, made certain.)"""
    _skip_unless_scaled(app)
    proxy, proxied = database_proxy(app.config["SQLALCHEMY_DATABASE_URI"])
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    overrides["SQLALCHEMY_DATABASE_URI"] = proxied
    cut_off = create_app(overrides)
    armed = threading.Event()

    @cut_off.after_request
    def cut_once_answered(response):  # type: ignore[no-untyped-def]
        if armed.is_set():
            armed.clear()
            proxy.cut()
        return response

    try:
        inspector = login(cut_off, "insp_a")
        body = declaration(make_case()["id"], b"\xff\xd8 a photo")
        armed.set()
        try:
            answer = inspector.post("/api/evidence", json=body)
        except sa.exc.SQLAlchemyError as exc:
            pytest.fail(f"the request's teardown raised (gunicorn answers a bare 500): {exc}")
        assert answer.status_code == 201, answer.get_data(as_text=True)[:300]
        assert db.session.scalar(sa.select(Evidence.id).filter_by(
            client_id=body["client_id"])) == answer.get_json()["id"]
        proxy.restore()
        again = inspector.post("/api/evidence", json=body)
        assert (again.status_code, again.get_json()["id"]) == (200, answer.get_json()["id"])
    finally:
        proxy.close()
        with cut_off.app_context():
            db.session.remove()
            db.engine.dispose()
