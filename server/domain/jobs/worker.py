"""`fieldcase worker`: an RQ worker on the app's queue, in an app context, with the reaper
beside it. Run several (on one node or many): every change to a job is conditional, so
each job is done once and the reapers agree."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from server.domain.jobs import queue, runner

log = logging.getLogger(__name__)


def _reaper(app: Flask, stop: threading.Event) -> None:
    every = app.config["JOB_REAP_S"]
    while True:
        try:
            with app.app_context():
                counts = runner.reap()
            if any(counts.values()):
                log.info("jobs reaped: %s", counts)
        except Exception:  # the database or Redis away for a while: next round
            log.warning("the jobs' reaper failed", exc_info=True)
        if stop.wait(every):
            return


def run(app: Flask, *, burst: bool = False, reaper: bool = True) -> None:
    """Work the queue until stopped (SIGTERM ends the current job first); `burst`: until
    it is empty. The jobs run in this process (RQ's SimpleWorker: no fork, so the app's
    database pool is never shared with a child)."""
    from rq import SimpleWorker

    if not queue.uses_redis(app):
        raise RuntimeError("JOBS_REDIS_URL is not set: without Redis the web process runs "
                           "jobs itself; no worker is needed.")
    stop = threading.Event()
    if reaper:
        threading.Thread(target=_reaper, args=(app, stop), name="jobs-reaper",
                         daemon=True).start()
    connection = queue.redis_connection(app)
    # Never pickle, and never a function other than the one Fieldcase sends: see queue.
    worker = SimpleWorker([queue.rq_queue(app)], connection=connection,
                          serializer=queue.serializer(), job_class=queue.job_class())
    try:
        with app.app_context():
            worker.work(burst=burst, with_scheduler=False, logging_level="INFO")
    finally:
        stop.set()
