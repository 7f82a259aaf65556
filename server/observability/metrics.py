"""Prometheus metrics: what is counted, and what is read from the database at scrape time.

Counters and histograms live in each process. Under gunicorn (PROMETHEUS_MULTIPROC_DIR
set, see gunicorn.conf.py) prometheus-client keeps them in memory-mapped files, one per
worker, and a scrape sums every worker's files (MultiProcessCollector); elsewhere (tests,
the CLI, `flask run`) they are in the default registry. Whether the files are used is
decided by prometheus-client when it is first imported, from the environment: `render`
asks it rather than the environment now.

What lives in the database (pending evidence, the periodic runs) is read by collectors at
scrape time, in the process that answers the scrape: the same whichever worker answers,
and unaffected by workers coming and going. No gauge is kept in a worker, so none needs a
multiprocess mode.

Labels stay few: a route is its template (`/api/cases/<case_id>`), never the path, and a
problem code is one of the table of codes (anything else is `other`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import values as prometheus_values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from server.domain.core import problem_text
from server.extensions import db
from server.models import Evidence, PeriodicRun
from server.models.base import utcnow

__all__ = [
    "CONTENT_TYPE",
    "count_database_error",
    "count_intake",
    "count_storage_error",
    "observe_request",
    "register_queue_depth_source",
    "render",
]

log = logging.getLogger(__name__)
# No `_created` series beside each counter: they double the exposition and no panel or
# alert reads them (multiprocess mode never exports them anyway).
disable_created_metrics()
# The classic text format: every Prometheus (2.x and 3.x) and Grafana Agent reads it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EXTENSION = "fieldcase.metrics"

# Photo completion may take seconds (decode, thumbnails, a slow store): buckets up to 30 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

REQUEST_SECONDS = Histogram(
    "fieldcase_http_request_duration_seconds",
    "Time to answer a request (until the answer's headers; a streamed body not counted), "
    "by route template, method and status class.",
    ["route", "method", "status"], buckets=LATENCY_BUCKETS)
INTAKE = Counter(
    "fieldcase_evidence_intake_total",
    "Evidence intake steps: declare, upload (the bytes PUT to this server's local store; "
    "with S3 the phone sends them to the store) and complete (the call, or the local "
    "store's upload storing the photo as it arrives); outcome ok, refused (4xx, with its "
    "problem code) or error (5xx, with its code).",
    ["stage", "outcome", "code"])
STORAGE_ERRORS = Counter(
    "fieldcase_storage_errors_total",
    "Object store failures answered 503, by kind (unavailable: a store call failed; "
    "busy: every storage slot of the worker was taken; upload/download: a local-store "
    "blob PUT/GET failed).",
    ["kind"])
DATABASE_ERRORS = Counter(
    "fieldcase_database_errors_total",
    "Database failures answered 503 (down, restarting, out of connections), by kind "
    "(operational, interface, pool_timeout).",
    ["kind"])


# ---- counting (called from the request hooks and the error handlers) ------------------
def status_class(status: int) -> str:
    return f"{status // 100}xx"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(route, method if method in METHODS else "other",
                           status_class(status)).observe(seconds)


def known_code(code: str | None) -> str:
    """The problem code if it is one of the table's (a bounded set), else `other`."""
    if not code:
        return ""
    return code if code in problem_text.table()["codes"] else "other"


def count_intake(stage: str, status: int, code: str | None) -> None:
    outcome = "ok" if status < 400 else "refused" if status < 500 else "error"
    INTAKE.labels(stage, outcome, known_code(code) if status >= 400 else "").inc()


def count_storage_error(kind: str) -> None:
    STORAGE_ERRORS.labels(kind).inc()


def count_database_error(error: BaseException) -> None:
    kinds = {"OperationalError": "operational", "InterfaceError": "interface",
             "TimeoutError": "pool_timeout"}
    DATABASE_ERRORS.labels(kinds.get(type(error).__name__, "other")).inc()


def prime() -> None:
    """Make the series alerts and dashboards divide by exist at 0 from the first scrape
    (a counter first seen at 1 hides its first increase from rate())."""
    for stage in ("declare", "upload", "complete"):
        INTAKE.labels(stage, "ok", "")
    for kind in ("unavailable", "busy", "upload", "download"):
        STORAGE_ERRORS.labels(kind)
    for kind in ("operational", "interface", "pool_timeout"):
        DATABASE_ERRORS.labels(kind)


# ---- read at scrape time ---------------------------------------------------------------
QueueDepthSource = Callable[[], Mapping[str, float]]


@dataclass
class AppMetrics:
    """Per app (tests build several): the sources of queue depth the jobs register."""

    queue_sources: list[QueueDepthSource] = field(default_factory=list)


def register_queue_depth_source(app: Flask, source: QueueDepthSource) -> None:
    """The job queue's hook: `source()` returns {queue name: jobs waiting}; it is called
    at each scrape inside the app context, and exported as fieldcase_job_queue_depth.
    It must be cheap (a Redis LLEN, a count on an indexed column). A source that raises is
    logged and left out of that scrape (fieldcase_metrics_collector_up says so)."""
    app.extensions[EXTENSION].queue_sources.append(source)


def _database_collector(name: str, read: Callable[[], Iterable[Any]]
                        ) -> Callable[[], Iterator[Any]]:
    def collect() -> Iterator[Any]:
        up = GaugeMetricFamily("fieldcase_metrics_collector_up",
                               "1 if this scrape could read the collector's data, else 0.",
                               labels=["collector"])
        try:
            families = list(read())
        except sa.exc.SQLAlchemyError:
            log.warning("metrics: %s could not be read", name, exc_info=True)
            db.session.rollback()
            families = []
            up.add_metric([name], 0)
        else:
            up.add_metric([name], 1)
        yield from families
        yield up

    return collect


def _pending_evidence() -> Iterator[GaugeMetricFamily]:
    # One query on the state index: how many wait for their bytes or completion, and since
    # when (reconcile finishes or expires them; a growing age means it does not).
    count, oldest = db.session.execute(
        sa.select(sa.func.count(), sa.func.min(Evidence.declared_at))
        .where(Evidence.state == "pending")).one()
    yield GaugeMetricFamily("fieldcase_evidence_pending",
                            "Evidence declared but not yet stored (waiting for its bytes "
                            "or for completion).", value=count)
    age = max(0.0, (utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
    yield GaugeMetricFamily("fieldcase_evidence_pending_oldest_age_seconds",
                            "Age of the oldest pending evidence declaration (0 if none).",
                            value=age)


def _numbers(result: Mapping[str, Any] | None) -> Iterator[tuple[str, float]]:
    for key, value in (result or {}).items():
        if isinstance(value, bool | int | float):
            yield str(key)[:40], float(value)


def last_success_query(name: str) -> sa.Select[Any]:
    """When the task last succeeded: per task, not grouped, so that both databases answer
    it with one probe of ix_periodic_runs_name_ok_finished_at (max() over an index's
    last column under equalities on the others) rather than reading every run."""
    return (sa.select(sa.func.max(PeriodicRun.finished_at))
            .where(PeriodicRun.name == name, PeriodicRun.ok.is_(True)))


def _periodic_runs() -> Iterator[GaugeMetricFamily]:
    started = GaugeMetricFamily(
        "fieldcase_periodic_last_start_timestamp_seconds",
        "When the task's latest run started (Unix time).", labels=["task"])
    finished = GaugeMetricFamily(
        "fieldcase_periodic_last_run_timestamp_seconds",
        "When the task's latest finished run ended, ok or not (Unix time).", labels=["task"])
    succeeded = GaugeMetricFamily(
        "fieldcase_periodic_last_success_timestamp_seconds",
        "When the task's latest successful run ended (Unix time).", labels=["task"])
    last_ok = GaugeMetricFamily(
        "fieldcase_periodic_last_ok", "1 if the task's latest finished run succeeded.",
        labels=["task"])
    duration = GaugeMetricFamily(
        "fieldcase_periodic_last_duration_seconds",
        "How long the task's latest finished run took.", labels=["task"])
    result = GaugeMetricFamily(
        "fieldcase_periodic_last_result",
        "The counts the task's latest finished run reported (e.g. sweep raised, reconcile "
        "completed, expired, errors), by key.", labels=["task", "key"])
    rows = db.session.execute(
        sa.select(PeriodicRun.name, sa.func.max(PeriodicRun.started_at),
                  sa.func.max(PeriodicRun.finished_at))
        .group_by(PeriodicRun.name)).all()
    for name, last_start, last_finish in rows:
        started.add_metric([name], last_start.timestamp())
        if (won := db.session.scalar(last_success_query(name))) is not None:
            succeeded.add_metric([name], won.timestamp())
        if last_finish is None:
            continue
        run = db.session.scalars(
            sa.select(PeriodicRun).where(PeriodicRun.name == name,
                                         PeriodicRun.finished_at == last_finish)
            .limit(1)).one()
        finished.add_metric([name], last_finish.timestamp())
        last_ok.add_metric([name], 1.0 if run.ok else 0.0)
        duration.add_metric([name], (last_finish - run.started_at).total_seconds())
        for key, value in _numbers(run.result):
            result.add_metric([name, key], value)
    yield from (started, finished, succeeded, last_ok, duration, result)


def _queue_depth(sources: list[QueueDepthSource]) -> Callable[[], Iterator[Any]]:
    def collect() -> Iterator[Any]:
        depth = GaugeMetricFamily("fieldcase_job_queue_depth",
                                  "Jobs waiting in each queue (from the job queue's "
                                  "registered sources).", labels=["queue"])
        up = GaugeMetricFamily("fieldcase_metrics_collector_up",
                               "1 if this scrape could read the collector's data, else 0.",
                               labels=["collector"])
        ok = True
        for source in sources:
            try:
                for queue, waiting in source().items():
                    depth.add_metric([str(queue)], float(waiting))
            except Exception:  # a queue that cannot be read must not cost the whole scrape
                log.warning("metrics: a queue depth source failed", exc_info=True)
                ok = False
        up.add_metric(["job_queue"], 1 if ok else 0)
        yield depth
        yield up

    return collect


class _Collect(Collector):
    def __init__(self, collect: Callable[[], Iterator[Any]]) -> None:
        self._collect = collect

    def collect(self) -> Iterator[Any]:
        return self._collect()


def multiprocess() -> bool:
    """Whether prometheus-client writes its values to files (decided at its import)."""
    return prometheus_values.ValueClass is not prometheus_values.MutexValue


def render() -> bytes:
    """The exposition: this process's (or every worker's) counters, then what is read from
    the database now. Runs in a request's app context."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        from server.observability.multiproc import folder_lock

        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        counted_registry = CollectorRegistry()
        mp.MultiProcessCollector(counted_registry, path=folder)
        # Not while the master folds a dead worker's files into the archive.
        with folder_lock(folder, exclusive=False):
            counted = generate_latest(counted_registry)
    else:
        counted = generate_latest(REGISTRY)
    read = CollectorRegistry(auto_describe=False)
    sources = current_app.extensions[EXTENSION].queue_sources
    # Each collector's own `up` sample is merged into one family when rendered.
    read.register(_Collect(_merge_up([
        _database_collector("pending_evidence", _pending_evidence),
        _database_collector("periodic_runs", _periodic_runs),
        _queue_depth(sources)])))
    return counted + generate_latest(read)


def _merge_up(collectors: list[Callable[[], Iterator[Any]]]) -> Callable[[], Iterator[Any]]:
    """The collectors' families, with their fieldcase_metrics_collector_up samples in one
    family (a name may appear once in an exposition)."""
    def collect() -> Iterator[Any]:
        up = GaugeMetricFamily("fieldcase_metrics_collector_up",
                               "1 if this scrape could read the collector's data, else 0.",
                               labels=["collector"])
        for each in collectors:
            for family in each():
                if family.name == up.name:
                    up.samples.extend(family.samples)
                else:
                    yield family
        yield up

    return collect


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = AppMetrics()
    prime()
