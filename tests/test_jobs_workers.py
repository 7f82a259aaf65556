"""Real RQ workers (`tests.jobs_worker`, the loop `fieldcase worker` runs) on real Redis,
a queue of the test's own: a worker killed with SIGKILL in the middle of a job, and a
second worker finishes it (attempts == 2, the result stored once); two workers given the
same job at once do it once."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from server.domain.core import runtime
from server.domain.jobs import jobs, queue
from server.extensions import db
from server.models import Job, User
from tests.conftest import unavailable
from tests.jobs_worker import SLOW

ROOT = Path(__file__).resolve().parents[1]
REDIS = "redis://127.0.0.1:6379/0"
# Short beats so a killed worker's job is noticed in seconds, not a minute; stale only
# after 6 s (20 beats): a live worker stalled a few seconds on a loaded 2-core machine
# must not be reaped (its attempts would be counted twice).
TIMING = {"JOB_HEARTBEAT_S": 0.3, "JOB_STALE_S": 6.0, "JOB_REAP_S": 0.5}


def poll(what: Callable[[], Any], timeout: float = 90.0) -> Any:
    """Until `what` gives something true (a bound on waiting, not a speed assertion)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = what()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"still waiting after {timeout} s")


@pytest.fixture()
def workers(app: Flask, stack: dict, tmp_path: Path
            ) -> Iterator[Callable[[], subprocess.Popen]]:
    if stack["name"] != "scaled":
        # RQ workers serve the scaled deployment (PostgreSQL, S3, Redis); the embedded
        # default has no Redis and runs its jobs in the web process (tests/test_jobs.py).
        pytest.skip("RQ workers are the scaled stack's")
    name = f"fc-test-{secrets.token_hex(6)}"
    app.config.update({"JOBS_REDIS_URL": REDIS, "JOBS_QUEUE": name, **TIMING})
    try:
        queue.redis_connection(app).ping()
    except Exception as exc:
        unavailable(f"Redis at 127.0.0.1:6379: {exc}")
    overrides = {k: v for k, v in stack.items() if k != "name"}
    overrides.update({"JOBS_REDIS_URL": REDIS, "JOBS_QUEUE": name, **TIMING})
    env = {**os.environ, "FIELDCASE_TEST_OVERRIDES": json.dumps(overrides)}
    started: list[tuple[subprocess.Popen, Path]] = []

    def start() -> subprocess.Popen:
        # stderr to a file: a pipe nobody reads fills (64 KB of logs) and blocks the worker.
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as sink:
            proc = subprocess.Popen([sys.executable, "-m", "tests.jobs_worker"], cwd=ROOT,
                                    env=env, stdout=subprocess.DEVNULL, stderr=sink)
        started.append((proc, log))
        return proc

    yield start
    for proc, log in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        # Printed at teardown: pytest shows it when the test failed.
        print(f"--- {log.name} (exit {proc.returncode}) ---\n"
              f"{log.read_text(errors='replace')[-20000:]}")
    job_ids = list(db.session.scalars(sa.select(Job.id)))
    db.session.rollback()
    connection = queue.redis_connection(app)
    queue.rq_queue(app).delete(delete_jobs=True)
    # What RQ keeps after the queue: its registries and workers' sets (named after the
    # queue), and the finished jobs' hashes and results (named after our jobs' ids).
    patterns = [f"rq:*{name}*", *(f"rq:*{job_id}_*" for job_id in job_ids)]
    for pattern in patterns:
        for key in connection.scan_iter(match=pattern, count=500):
            connection.delete(key)
    assert not list(connection.scan_iter(match=f"rq:*{name}*", count=500))


def row(job_id: str) -> Job:
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    db.session.rollback()  # no snapshot held while the workers write
    assert job is not None
    return job


def slow_job(steps: int, step_s: float) -> str:
    user = db.session.scalar(sa.select(User).filter_by(username="reviewer"))
    return jobs.create(user, SLOW, {"steps": steps, "step_s": step_s}).id


def stored(job_id: str) -> list[str]:
    return [o.key for o in runtime.storage().list(f"jobs/{job_id}/")]


def test_a_job_survives_a_killed_worker(app, workers) -> None:
    first = workers()
    job_id = slow_job(steps=12, step_s=0.25)
    # Killed mid-job: it has claimed the job and reported some progress.
    poll(lambda: (j := row(job_id)).state == "running" and j.progress_done >= 3)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    killed_at = row(job_id)
    assert killed_at.attempts == 1 and killed_at.state == "running"
    assert stored(job_id) == []  # nothing half-made was stored

    workers()  # a second worker: its reaper sees the silent heartbeat and re-queues
    job = poll(lambda: (j := row(job_id)).state in ("done", "failed") and j)
    assert job.state == "done", (job.error_code, job.error_en)
    assert job.attempts == 2
    assert stored(job_id) == [f"jobs/{job_id}/2/result.txt"]  # the result exists once
    body = b"".join(runtime.storage().iter_chunks(job.result_key))
    assert body == b"".join(f"step {i}\n".encode() for i in range(12))
    assert hashlib.sha256(body).hexdigest() == job.sha256 and job.size == len(body)


def test_two_workers_given_the_same_job_do_it_once(app, workers) -> None:
    workers(), workers()
    job_id = slow_job(steps=4, step_s=0.2)
    for _ in range(3):  # the same job sent again and again: both workers get copies
        assert queue.send(job_id)
    job = poll(lambda: (j := row(job_id)).state in ("done", "failed") and j)
    assert job.state == "done" and job.attempts == 1
    assert stored(job_id) == [f"jobs/{job_id}/1/result.txt"]
    q = queue.rq_queue(app)
    poll(lambda: len(q) == 0, timeout=30)  # the copies were taken, and did nothing
    assert row(job_id).attempts == 1
