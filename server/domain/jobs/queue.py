"""Telling a worker to look at a job: RQ over Redis (JOBS_REDIS_URL), or the web process's
own threads under `make run`. Sending never fails a request: a Redis that is down leaves
the job queued in the database (enqueued_at NULL) and the reaper sends it later."""

from __future__ import annotations

import importlib
import logging
import os
import queue as stdlib_queue
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import cache
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
_REAPER = "fieldcase.jobs_reaper"
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
                 default_timeout=JOB_TIMEOUT_S, serializer=serializer(),
                 job_class=job_class())


@cache
def job_class() -> type:
    """RQ's job, made to run only what Fieldcase sends: RUN with one job id, no callbacks.
    RQ names the function to call (and callbacks) as text in the job's data and imports
    whatever it names: JSON alone would still let whoever can write to Redis run any
    importable function on the workers (which hold the database and store credentials)."""
    from rq.job import Job as RqJob

    class OnlyRun(RqJob):  # type: ignore[misc]
        @property
        def func(self) -> Any:
            args = self.args
            if (self.func_name != RUN or self.instance is not None or self.kwargs
                    or len(args) != 1 or not isinstance(args[0], str)):
                raise ValueError(f"refused: a queued job may only call {RUN}(job id); "
                                 f"this one names {self.func_name!r}")
            return super().func

        # Fieldcase sends none; one named in Redis is never imported.
        success_callback = property(lambda self: None)
        failure_callback = property(lambda self: None)
        stopped_callback = property(lambda self: None)

    return OnlyRun


def serializer() -> Any:
    """JSON, not RQ's default pickle: a pickle planted in Redis would run code as it is
    loaded. A job's only argument is its id (a string); what it may call, job_class."""
    from rq.serializers import JSONSerializer

    return JSONSerializer


def shared_now(dialect: str | None = None) -> Any:
    """Now, for the times other nodes judge (heartbeats, queue entries): the database's
    clock on PostgreSQL, which every node shares (a node whose clock runs a minute ahead
    would otherwise take live jobs from the others, or send queued ones again); the
    embedded SQLite default is one node, and its own clock. `dialect`: of a connection
    other than the session's."""
    if (dialect or db.session.get_bind().dialect.name) == "postgresql":
        return sa.func.statement_timestamp(type_=sa.DateTime(timezone=True))
    return utcnow()


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
                       .values(enqueued_at=shared_now(), queue_ref=ref))
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
class _LocalPool:
    """A few daemon threads taking work from a queue. Not ThreadPoolExecutor: its threads
    are joined at interpreter exit, so a gunicorn worker recycled (max_requests) waited
    for a running job until gunicorn killed it, the site frozen meanwhile. A job cut off
    by the exit is left "running" with a silent heartbeat: the reaper runs it again."""

    def __init__(self, threads: int) -> None:
        self._work: stdlib_queue.SimpleQueue[
            tuple[Future, Callable[..., Any], tuple] | None] = stdlib_queue.SimpleQueue()
        self._threads = max(1, threads)
        for n in range(self._threads):
            threading.Thread(target=self._loop, name=f"job_{n}", daemon=True).start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self._work.put((future, fn, args))
        return future

    def close(self) -> None:
        """Each thread ends once it has run what it was given before."""
        for _ in range(self._threads):
            self._work.put(None)

    def _loop(self) -> None:
        while True:
            item = self._work.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # kept on the future, as an executor does
                future.set_exception(exc)


def _pool(app: Flask) -> _LocalPool:
    with _POOL_LOCK:
        pool = app.extensions.get(_POOL)
        if pool is None or pool[0] != os.getpid():  # threads do not survive a fork
            pool = app.extensions[_POOL] = (os.getpid(), _LocalPool(app.config["JOBS_THREADS"]))
            # A web process that restarted left its jobs behind: look once at what waits.
            pool[1].submit(_reap_local, app)
    start_local_reaper(app)
    return pool[1]


def start_local_reaper(app: Flask) -> None:
    """Without Redis there is no `fieldcase worker` and its reaper: the web process reaps,
    one timer thread per process (every JOB_REAP_S; cheap: a few indexed SELECTs). Two
    processes reaping at once act once, every change being conditional. Called on each
    jobs request and each local sending (a new process starts it on the app's first poll)."""
    if uses_redis(app):
        return
    with _POOL_LOCK:
        running = app.extensions.get(_REAPER)
        if running is not None and running[0] == os.getpid():
            return
        stop = threading.Event()
        app.extensions[_REAPER] = (os.getpid(), stop)
    threading.Thread(target=_reap_every, args=(app, stop), name="jobs-reaper-local",
                     daemon=True).start()


def stop_local(app: Flask) -> None:
    """Stop this app's reaper timer and, once they have run what they were given, its
    threads (tests: an old app's timer must not reap a new one's, nor its threads pile up,
    one set per app made)."""
    running = app.extensions.pop(_REAPER, None)
    if running is not None:
        running[1].set()
    pool = app.extensions.pop(_POOL, None)
    if pool is not None and pool[0] == os.getpid():
        pool[1].close()


def _reap_every(app: Flask, stop: threading.Event) -> None:
    while not stop.wait(app.config["JOB_REAP_S"]):
        if not uses_redis(app):  # a worker's reaper does it when Redis is in use
            _reap_local(app)


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
    """Wait until the web process's threads have run what they were given (tests). With
    several threads a marker per thread would be needed: JOBS_THREADS is 1 in tests."""
    pool = app.extensions.get(_POOL)
    if pool is not None and pool[0] == os.getpid():
        pool[1].submit(lambda: None).result(timeout=timeout)
