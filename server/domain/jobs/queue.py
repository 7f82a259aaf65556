"""Telling a worker to look at a job: RQ over Redis (JOBS_REDIS_URL), or the web process's
own threads under `make run`. Sending never fails a request: a Redis that is down leaves
the job queued in the database (enqueued_at NULL) and the reaper sends it later."""

from __future__ import annotations

import importlib
import logging
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from server.extensions import db
from server.models import Job
from server.models.base import utcnow

log = logging.getLogger(__name__)

RUN = "server.domain.jobs.runner.run_queued"  # what an RQ worker calls, by name
# The longest one job may run under RQ before its worker gives up on it.
JOB_TIMEOUT_S = 3600
_POOL = "fieldcase.jobs_pool"
# RQ statuses in which the queue still holds the job (it will run, or is running).
_HELD = frozenset({"queued", "started", "deferred", "scheduled"})
_POOL_LOCK = threading.Lock()


def uses_redis(app: Flask | None = None) -> bool:
    return bool((app or current_app).config["JOBS_REDIS_URL"])


def redis_connection(app: Flask | None = None) -> Any:
    from redis import Redis

    config = (app or current_app).config
    # Short timeouts: a Redis that is down must not hold a web request.
    return Redis.from_url(config["JOBS_REDIS_URL"], socket_connect_timeout=2,
                          socket_timeout=5)


def rq_queue(app: Flask | None = None) -> Any:
    from rq import Queue

    app = app or current_app
    return Queue(app.config["JOBS_QUEUE"], connection=redis_connection(app),
                 default_timeout=JOB_TIMEOUT_S)


def send(job_id: str) -> bool:
    """Hand the job to the queue; True when it got there (its row then says when)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if uses_redis(app):
        try:
            attempt = db.session.scalar(sa.select(Job.attempts).where(Job.id == job_id)) or 0
            ref = f"{job_id}_{attempt}_{secrets.token_hex(4)}"  # one per sending
            rq_queue(app).enqueue_call(RUN, args=(job_id,), job_id=ref,
                                       timeout=JOB_TIMEOUT_S, result_ttl=3600,
                                       failure_ttl=86400)
        except Exception as exc:  # Redis down or refusing: the job waits in the database
            log.warning("job %s not sent to the queue (it waits): %s", job_id, exc)
            db.session.rollback()
            return False
    else:
        ref = "local"
        pool = _pool(app)
        pool.submit(_run_local, app, job_id)
        # No worker loop here: each new job also looks for jobs left by a killed process.
        pool.submit(_reap_local, app)
    db.session.execute(sa.update(Job).where(Job.id == job_id, Job.state == "queued")
                       .values(enqueued_at=utcnow(), queue_ref=ref))
    db.session.commit()
    return True


def in_queue(ref: str | None) -> bool:
    """Whether RQ still holds this job (waiting or running): Redis may have lost it."""
    if not ref or not uses_redis():
        # The web process's threads: a restarted process lost what it held, and a job sent
        # twice is claimed once, so a job waiting long is sent again.
        return False
    from rq.job import Job as RqJob

    try:  # the status field only: nothing of the job's payload is read
        status = redis_connection().hget(RqJob.key_for(ref), "status")
    except Exception:
        return True  # cannot tell: do not send it twice while Redis is down
    # Gone, or finished/failed/stopped/canceled (kept for its TTL): the queue holds nothing.
    return status is not None and status.decode() in _HELD


# ---- the in-process fallback ---------------------------------------------------------------
def _pool(app: Flask) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        pool = app.extensions.get(_POOL)
        if pool is None:
            pool = app.extensions[_POOL] = ThreadPoolExecutor(
                max_workers=max(1, app.config["JOBS_THREADS"]), thread_name_prefix="job")
            # A web process that restarted left its jobs behind: look once at what waits.
            pool.submit(_reap_local, app)
    return pool


def _run_local(app: Flask, job_id: str) -> None:
    run = getattr(importlib.import_module(RUN.rsplit(".", 1)[0]), RUN.rsplit(".", 1)[1])
    try:
        with app.app_context():
            run(job_id)
    except Exception:
        log.exception("job %s failed in the web process", job_id)


def _reap_local(app: Flask) -> None:
    reap = importlib.import_module("server.domain.jobs.runner").reap
    try:
        with app.app_context():
            reap()
    except Exception:
        log.exception("the jobs' reaper failed")


def drain(app: Flask, timeout: float = 120.0) -> None:
    """Wait until the web process's threads have run what they were given (tests, and a
    clean shutdown)."""
    pool = app.extensions.get(_POOL)
    if pool is not None:
        pool.submit(lambda: None).result(timeout=timeout)
