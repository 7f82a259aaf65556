"""Record each run of a periodic command (sweep, reconcile) in periodic_runs, for /metrics.

The commands run from systemd timers in processes of their own, whose counters no scrape
would see; a row per run is what every node's /metrics can read. A run is written when it
starts (so a run that dies leaves its start) and again when it ends, each in a
transaction of its own, apart from the task's work. Rows older than KEEP are removed as
runs end (a sweep a minute is half a million rows a year).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from server.domain.core.uow import transaction
from server.extensions import db
from server.models import PeriodicRun
from server.models.base import utcnow

__all__ = ["Run", "recorded"]

log = logging.getLogger(__name__)
KEEP = timedelta(days=30)


@dataclass
class Run:
    """What the task reports: set `result` (its counts) and `ok` before the block ends."""

    id: str
    result: dict[str, Any] = field(default_factory=dict)
    ok: bool = True


def _finish(run: Run, ok: bool, result: dict[str, Any]) -> None:
    now = utcnow()
    with transaction():
        db.session.execute(sa.update(PeriodicRun).where(PeriodicRun.id == run.id).values(
            finished_at=now, ok=ok, result=result))
        name = db.session.scalar(sa.select(PeriodicRun.name).where(PeriodicRun.id == run.id))
        db.session.execute(sa.delete(PeriodicRun).where(
            PeriodicRun.name == name, PeriodicRun.started_at < now - KEEP))


@contextmanager
def recorded(name: str) -> Iterator[Run]:
    """Around a periodic task's work: a block that raises is recorded as failed (with the
    error's class) and the error goes on; otherwise `run.ok` and `run.result` are kept."""
    with transaction():
        row = PeriodicRun(name=name, started_at=utcnow(), node=socket.gethostname()[:200])
        db.session.add(row)
        db.session.flush()
        run = Run(id=row.id)
    try:
        yield run
    except BaseException as error:
        db.session.rollback()
        try:
            _finish(run, False, {**run.result, "error": type(error).__name__})
        except Exception:  # the task's own error is the one to report
            log.exception("could not record the failed %s run", name)
        raise
    _finish(run, run.ok, run.result)
