"""Server CPU per request, and photo throughput with 8 phones, on PostgreSQL + SeaweedFS.

Serves the app with gunicorn (2 workers, as in production) on loopback, with a fresh
PostgreSQL database and a throwaway SeaweedFS S3 store. Server CPU is what the gunicorn
processes (master and workers, every thread) spent, read from /proc before and after a
run of sequential requests, divided by the number of requests; the reference is the same
server's trivial endpoint (GET /api/live) in the same run.

  - GET /api/me                              target <= 2 ms server CPU
  - declare + PUT + complete, 16x16 JPEG     target <= 10 ms server CPU (the PUT goes to
                                             the store, as from a phone; its CPU is the
                                             store's, printed apart). On the local store
                                             the PUT completes the photo and the app makes
                                             no complete call (COMPLETE_ON_UPLOAD); the
                                             cost with the call as well is printed apart
  - 8 phones uploading real photos at once: throughput >= 0.8 x the ideal, 2 cores / the
    CPU one completion costs as bench/bench_completion.py measures it (SHA-256 + EXIF +
    thumbnails, in this process, in the same run); also printed against 2 cores / the
    server CPU of one photo's declare + PUT + complete measured alone first.
    On the scaled stack (the phone samples in turn) and on the embedded default, served
    as `make run` serves it (gunicorn.conf.py's own workers and rate-limit store), all
    phones filing the 2.2 MB Nokia photo.

Run: .venv/bin/python bench/bench_requests.py [--quick] [--stack embedded|scaled|both]
(exits 0 when a target is missed; prints figures and ratios; --quick: 15 requests a step,
2 phones filing 1 real photo each)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests
import serving  # bench/serving.py, beside this script
import sqlalchemy as sa
from PIL import Image
from report import emit, unavailable  # bench/report.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PHOTOS = sorted((ROOT.parent / "shared/samples/photos/phones").glob("*.jpg"))
NOKIA = ROOT.parent / "shared/samples/photos/phones/HMD_Nokia_8.3_5G.jpg"
PASSWORD = "bench-password-1"
PHONES = 8
ROUNDS = 10  # the per-request steps are taken in turn, in this many rounds
TICK = os.sysconf("SC_CLK_TCK")
CASE = {"lat": 30.2741, "lon": 120.1551}
TARGET = ("server CPU: GET /api/me <= 2 ms, declare + PUT + complete of a 16x16 JPEG <= 10 ms "
          "(each stack); 8 phones >= 0.8 x (2 cores / one completion's CPU, bench_completion) "
          "on each stack")
# The phone hashes at capture, not at each send. Keyed by the bytes themselves (whose
# hash Python keeps on the object): keyed by id(), a photo given the id of a freed one
# was declared with the freed one's digest (a hash mismatch, now and then, in CI).
_DIGESTS: dict[bytes, str] = {}


def digest(data: bytes) -> str:
    found = _DIGESTS.get(data)
    if found is None:
        found = _DIGESTS[data] = hashlib.sha256(data).hexdigest()
    return found


class Results:
    """The figures and targets met, across both stacks, for the BENCH line."""

    def __init__(self) -> None:
        self.figures: dict[str, float] = {}
        self.met: dict[str, bool] = {}
        self.skipped: list[str] = []


def cpu_seconds(pids: list[int]) -> float:
    """user + system CPU of these processes so far (all their threads)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fp:
            fields = fp.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def process_tree(root: int) -> list[int]:
    """root and its children (gunicorn's master and workers)."""
    found = [root]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fp:
                    ppid = int(fp.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if ppid == root:
                found.append(int(entry))
    return found


def prepare(url: str, storage_url: str, phones: int) -> str:
    """Schema, people and one case; returns the case id."""
    from flask_migrate import upgrade

    from server import create_app
    from server.domain.accounts import auth
    from server.extensions import db
    from server.models import Unit

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "STORAGE_URL": storage_url,
                      "SECRET_KEY": "bench"})
    with app.app_context():
        upgrade(directory=str(Path(app.root_path) / "migrations"))
        store = app.extensions["fieldcase.storage"]
        if hasattr(store, "ensure_bucket"):
            store.ensure_bucket()
        auth.create_unit("District")
        auth.create_unit("Street A", "District")
        auth.create_user("office", PASSWORD, "reviewer", ["District"])
        for n in range(phones):
            auth.create_user(f"phone{n}", PASSWORD, "inspector", ["Street A"])
        unit = db.session.scalar(sa.select(Unit.id).filter_by(name="Street A"))
        client = app.test_client()
        csrf = client.post("/api/auth/login", json={"username": "office", "password": PASSWORD}
                           ).get_json()["csrf_token"]
        made = client.post("/api/cases", headers={"X-CSRF-Token": csrf}, json={
            "unit_id": unit, "channel": "hotline_12345", "category": "noise_social",
            "subject": "夜间噪声", "address": "湖滨路1号", "location": CASE,
            "description": "bench", "received_at": "2026-11-20T23:05:00+08:00"})
        assert made.status_code == 201, made.get_json()
        db.engine.dispose()
        return made.get_json()["id"]


def serve(url: str, storage_url: str, tmp: Path, *, as_make_run: bool = False,
          **settings: str) -> tuple[subprocess.Popen, str]:
    # A recycled worker would take its CPU count with it.
    return serving.serve(url, storage_url, tmp, as_make_run=as_make_run,
                         UPLOAD_RATE_LIMIT="100000 per hour", GUNICORN_MAX_REQUESTS="0",
                         **settings)


class Phone:
    """One logged-in user's session, filing photos as the app does (with its retries)."""

    def __init__(self, base: str, username: str, case_id: str) -> None:
        self.base, self.case_id = base, case_id
        self.http = requests.Session()
        self.retries = 0
        for _ in range(120):
            try:
                answer = self.http.post(f"{base}/api/auth/login", timeout=30, json={
                    "username": username, "password": PASSWORD})
                if answer.ok:
                    self.http.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise RuntimeError("the server did not come up")

    def _send(self, sender: object, method: str, url: str, **kw: object) -> requests.Response:
        """The request, sent again (as the outbox does) when a kept-alive connection was
        closed by the server just as it was reused: every step here is repeatable."""
        for attempt in range(5):
            try:
                return sender.request(method, url, timeout=120, **kw)  # type: ignore[attr-defined]
            except requests.ConnectionError:
                if attempt == 4:
                    raise
                self.retries += 1
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def _post(self, path: str, **kw: object) -> requests.Response:
        while True:  # the outbox retries 503 and 429 after Retry-After
            answer = self._send(self.http, "POST", self.base + path, **kw)
            if answer.status_code not in (429, 503):
                return answer
            self.retries += 1
            time.sleep(min(float(answer.headers.get("Retry-After", "1")), 2.0))

    def me(self) -> None:
        answer = self.http.get(f"{self.base}/api/me", timeout=30)
        assert answer.status_code == 200, answer.text[:200]

    def live(self) -> None:
        answer = self.http.get(f"{self.base}/api/live", timeout=30)
        assert answer.status_code == 200, answer.text[:200]

    def file(self, data: bytes, *, call_complete: bool = False) -> str:
        """Declare, send and complete one photo as the app does: the local store's upload
        answers with the stored photo's receipt, and then the app makes no complete call.
        `call_complete`: makes it all the same (as after a lost upload answer)."""
        now = datetime.now(UTC).isoformat()
        declared = self._post("/api/evidence", json={
            "client_id": str(uuid.uuid4()), "case_id": self.case_id,
            "sha256": digest(data),
            "size": len(data),
            "content_type": "image/jpeg", "captured_at": now,
            "geo": {**CASE, "accuracy_m": 8, "fixed_at": now, "source": "gps"}})
        assert declared.status_code == 201, declared.text[:300]
        body = declared.json()
        upload = body["upload"]
        # To the app (local disk) with the phone's cookies; to a store without them.
        sender = self.http if upload["url"].startswith(self.base) else requests
        put = self._send(sender, upload["method"], upload["url"], data=data,
                         headers=upload["headers"])
        assert put.status_code in (200, 201, 204), put.text[:300]
        receipt = (put.json().get("evidence") if put.headers.get("Content-Type", "")
                   .startswith("application/json") else None)
        if (not call_complete and receipt and receipt["id"] == body["id"]
                and receipt["state"] == "stored" and receipt["sha256"] == body["sha256"]):
            return body["id"]
        done = self._post(f"/api/evidence/{body['id']}/complete")
        assert done.status_code == 200 and done.json()["state"] == "stored", done.text[:300]
        return body["id"]


def per_request(pids: list[int], weed: list[int], step: Callable[[], None], runs: int,
                warm: int | None = None) -> tuple[float, float, float]:
    """Server CPU ms, store CPU ms and wall ms per call of step (after a warm-up of `warm`
    calls, by default a tenth of the runs and at least 10)."""
    return interleaved(pids, weed, {"step": (step, runs)}, 1,
                       max(10, runs // 10) if warm is None else warm)["step"]


def interleaved(pids: list[int], weed: list[int],
                steps: dict[str, tuple[Callable[[], None], int]], rounds: int,
                warm: int = 10) -> dict[str, tuple[float, float, float]]:
    """Server CPU ms, store CPU ms and wall ms per call of each step, its `runs` calls
    spread over `rounds` rounds that take the steps in turn (after `warm` calls of each).
    This machine's speed drifts by a third over a minute; steps measured one after the
    other drifted apart, while steps taken in turn share the drift, so their ratio holds."""
    for step, _ in steps.values():
        for _ in range(warm):
            step()
    spent = {name: [0.0, 0.0, 0.0] for name in steps}
    for turn in range(rounds):
        for name, (step, runs) in steps.items():
            calls = runs // rounds + (turn < runs % rounds)
            cpu, store, wall = cpu_seconds(pids), cpu_seconds(weed), time.perf_counter()
            for _ in range(calls):
                step()
            total = spent[name]
            total[0] += cpu_seconds(pids) - cpu
            total[1] += cpu_seconds(weed) - store
            total[2] += time.perf_counter() - wall
    return {name: (cpu / steps[name][1] * 1000, store / steps[name][1] * 1000,
                   wall / steps[name][1] * 1000)
            for name, (cpu, store, wall) in spent.items()}


def tiny_jpeg(n: int = 0) -> bytes:
    """A 16x16 JPEG, the n-th of a series whose bytes all differ."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (n % 256, n // 256 % 256, 30)).save(out, "JPEG")
    return out.getvalue()


def throughput(base: str, case_id: str, photos: list[bytes], each: int, count: int
               ) -> tuple[float, int, set]:
    """Photos per second with `count` phones filing `each` photos at once."""
    phones = [Phone(base, f"phone{n}", case_id) for n in range(count)]
    stored: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(count + 1)

    def run(n: int, phone: Phone) -> None:
        start.wait()
        try:
            for k in range(each):
                stored.append(phone.file(photos[(n + k) % len(photos)]))
        except BaseException as exc:  # reported below, not lost in a thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n, p)) for n, p in enumerate(phones)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return len(stored) / elapsed, sum(p.retries for p in phones), set(stored)


def completion_cpu_ms(paths: list[Path], runs: int) -> float:
    """The CPU one completion costs, as bench/bench_completion.py measures it (SHA-256 +
    read_image: EXIF and both thumbnails, in this process), median over runs, averaged
    over the photos."""
    import statistics

    from bench_completion import cpu_times, ours  # beside this script

    costs = [statistics.median(cpu_times([lambda p=p: ours(p)], runs)[0]) for p in paths]
    return sum(costs) / len(costs) * 1000


def phones_at_once(args: argparse.Namespace, base: str, case_id: str, gunicorn: list[int],
                   store: list[int], paths: list[Path], label: str, key: str,
                   results: Results) -> None:
    """8 phones filing real photos at once, against the ideal: 2 cores / one completion's
    CPU (bench_completion's measure), and 2 cores / the server CPU of one photo alone."""
    phone = Phone(base, "phone0", case_id)
    photos = [p.read_bytes() for p in paths]
    completion = completion_cpu_ms(paths, 1 if args.quick else 5)
    in_turn = itertools.cycle(photos)
    single, single_store, single_wall = per_request(
        gunicorn, store, lambda: phone.file(next(in_turn)),
        (1 if args.quick else 2) * max(len(photos), 4), warm=1 if args.quick else None)
    ideal = 2 / (completion / 1000)
    ideal_server = 2 / (single / 1000)
    print(f"{args.phones} phones filing real photos, {label} ({len(photos)} photo(s), "
          f"{sum(map(len, photos)) / len(photos) / 1e6:.1f} MB on average)")
    print(f"  one completion (bench_completion: SHA-256 + EXIF + thumbnails): {completion:.0f} ms"
          f" CPU -> ideal {ideal:.1f} photos/s on 2 cores")
    print(f"  one photo alone through the server: {single:.0f} ms server CPU "
          f"({single_wall:.0f} ms wall) -> 2 cores could file {ideal_server:.1f} photos/s")
    shared = None
    if store:
        # The store shares this machine's 2 cores (in production it has its own).
        shared = 2 / ((single + single_store) / 1000)
        print(f"  with the store's {single_store:.0f} ms on the same cores: {shared:.1f} photos/s")
    rate, retries, stored = throughput(base, case_id, photos, args.each, args.phones)
    print(f"  {args.phones} at once: {rate:.1f} photos/s, ratio {rate / ideal:4.2f} of the ideal "
          f"(target >= 0.8), {rate / ideal_server:4.2f} of the server's own per-photo CPU"
          + (f", {rate / shared:4.2f} of what the cores left to the server" if shared else "")
          + f"; {len(stored)} stored, {retries} retries (503/429, connection closed)")
    results.figures.update({f"{key}_completion_ms": completion, f"{key}_photo_ms": single,
                            f"{key}_phones_photos_per_s": rate,
                            f"{key}_ideal_photos_per_s": ideal,
                            f"{key}_phones_ratio": rate / ideal,
                            f"{key}_phones_ratio_server": rate / ideal_server,
                            f"{key}_retries": retries})
    if store:
        results.figures[f"{key}_photo_store_ms"] = single_store
    results.met[f"{key} {args.phones} phones >= 0.8 of the ideal"] = rate / ideal >= 0.8


def measure_costs(base: str, case_id: str, gunicorn: list[int], store: list[int],
                  runs: int, label: str, results: Results, key: str) -> None:
    phone = Phone(base, "phone0", case_id)
    # Each photo its own bytes, as a phone's are: the same bytes filed a hundred times
    # would measure the duplicate check's look through them all, which no phone causes.
    tiny = iter([tiny_jpeg(n) for n in range(2 * (runs // 3 + max(10, runs // 10)) + 1)])
    print(f"server CPU per request, {label} ({runs} sequential requests each, "
          f"taken in turn over {ROUNDS} rounds)")
    steps = {"live": (phone.live, runs), "me": (phone.me, runs),
             "tiny": (lambda: phone.file(next(tiny)), runs // 3)}
    if not store:  # the upload comes to the app, which completes it: the call too, apart
        steps["tiny_called"] = (lambda: phone.file(next(tiny), call_complete=True), runs // 3)
    costs = interleaved(gunicorn, store, steps, min(ROUNDS, runs // 3),
                        warm=max(10, runs // 10))
    ref, _, ref_wall = costs["live"]
    # CPU time is counted in clock ticks: a reference cheaper than one tick over the run
    # reads 0; the ratios are then against that tick (the smallest cost one can see).
    ref = max(ref, 1000 / os.sysconf("SC_CLK_TCK") / runs)
    print(f"  reference GET /api/live          {ref:5.2f} ms CPU  ({ref_wall:.1f} ms wall)")
    me, _, me_wall = costs["me"]
    print(f"  GET /api/me                      {me:5.2f} ms CPU  ({me_wall:.1f} ms wall)  "
          f"ratio {me / ref:4.2f}  (target <= 2 ms)")
    cost, stored, wall = costs["tiny"]
    elsewhere = f", the store {stored:.1f} ms CPU" if store else ""
    steps_said = ("declare + PUT + complete" if store
                  else "declare + PUT (completes), as the app files it")
    print(f"  {steps_said}, 16x16  {cost:5.2f} ms CPU  ({wall:.1f} ms wall{elsewhere})"
          f"  ratio {cost / ref:4.2f}  (target <= 10 ms)")
    results.figures.update({f"{key}_live_ms": ref, f"{key}_me_ms": me,
                            f"{key}_me_ratio": me / ref, f"{key}_tiny_photo_ms": cost,
                            f"{key}_tiny_photo_ratio": cost / ref})
    if "tiny_called" in costs:
        called, _, called_wall = costs["tiny_called"]
        print(f"  the same with a complete call as well (an answer lost), 16x16  {called:5.2f} ms "
              f"CPU  ({called_wall:.1f} ms wall)  ratio {called / ref:4.2f}")
        results.figures[f"{key}_tiny_photo_called_ms"] = called
    if store:
        results.figures[f"{key}_tiny_photo_store_ms"] = stored
    results.met[f"{key} /api/me <= 2 ms"] = me <= 2
    results.met[f"{key} tiny photo <= 10 ms"] = cost <= 10


def embedded(args: argparse.Namespace, results: Results) -> None:
    """SQLite and the local disk, served as `make run` serves them (gunicorn.conf.py's
    workers and rate-limit store): the PUT comes to the app itself."""
    tmp = Path(tempfile.mkdtemp(prefix="fieldcase-bench-"))
    url, storage_url = f"sqlite:///{tmp}/bench.db", f"file://{tmp}/objects"
    case_id = prepare(url, storage_url, args.phones)
    # --one-worker: as make run served it before the shared SQLite limits (one worker,
    # memory:// limits), to compare in the same conditions.
    before = {"WEB_CONCURRENCY": "1", "RATELIMIT_STORAGE_URI": "memory://"}
    server, base = serve(url, storage_url, tmp, as_make_run=True,
                         **(before if args.one_worker else {}))
    try:
        Phone(base, "phone0", case_id)  # waits until it answers
        gunicorn = process_tree(server.pid)
        label = f"SQLite + local disk, as make run serves it ({len(gunicorn) - 1} worker(s))"
        measure_costs(base, case_id, gunicorn, [], args.runs, label, results, "sqlite")
        phones_at_once(args, base, case_id, gunicorn, [], [NOKIA], "embedded default",
                       "sqlite", results)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def scaled(args: argparse.Namespace, results: Results) -> None:
    from tests.storage_server import SeaweedStartError, start_seaweedfs

    name = f"fieldcase_bench_{secrets.token_hex(3)}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        results.skipped.append(unavailable(
            f"request bench: PostgreSQL not reachable ({exc}); PostgreSQL + SeaweedFS"))
        return
    tmp = Path(tempfile.mkdtemp(prefix="fieldcase-bench-"))
    server = stop_weed = None
    try:
        try:
            s3, stop_weed = start_seaweedfs(tmp / "weed")
        except SeaweedStartError as exc:
            results.skipped.append(unavailable(
                f"request bench: SeaweedFS did not start ({exc}); PostgreSQL + SeaweedFS"))
            return
        storage_url = s3.url(f"bench-{secrets.token_hex(3)}")
        case_id = prepare(url, storage_url, args.phones)
        server, base = serve(url, storage_url, tmp)
        Phone(base, "phone0", case_id)  # waits until it answers
        gunicorn = process_tree(server.pid)
        weed = [int(p) for p in subprocess.run(["pgrep", "-f", str(tmp / "weed")],
                                               capture_output=True, text=True).stdout.split()]
        measure_costs(base, case_id, gunicorn, weed, args.runs,
                      "PostgreSQL + SeaweedFS (gunicorn, 2 workers)", results, "pg_s3")
        phones_at_once(args, base, case_id, gunicorn, weed, PHOTOS, "scaled stack", "pg_s3",
                       results)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)
        if stop_weed is not None:
            stop_weed()
        shutil.rmtree(tmp, ignore_errors=True)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--each", type=int, default=6, help="real photos per phone")
    parser.add_argument("--phones", type=int, default=PHONES, help="phones filing at once")
    parser.add_argument("--stack", choices=("embedded", "scaled", "both"), default="both")
    parser.add_argument("--one-worker", action="store_true",
                        help="the embedded default as it was: one worker, memory:// limits")
    parser.add_argument("--quick", action="store_true",
                        help="15 requests a step, 2 phones, 1 real photo each: does it still run?")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.each, args.phones = 15, 1, 2
    results = Results()
    if args.stack in ("embedded", "both"):
        embedded(args, results)
    if args.stack in ("scaled", "both"):
        scaled(args, results)
    emit("requests", results.met, TARGET, results.figures, args.quick, results.skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
