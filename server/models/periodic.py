"""Runs of the periodic commands (sweep, reconcile): they run from systemd timers in
processes of their own, so their outcome is kept here for /metrics to export (and for an
alert when a task has not succeeded for a while)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow


class PeriodicRun(Base):
    __tablename__ = "periodic_runs"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(40))  # sweep | reconcile
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Null while running, or for ever if the process died mid-run.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ok: Mapped[bool | None] = mapped_column(sa.Boolean)
    result: Mapped[dict | None] = mapped_column(sa.JSON)  # the run's counts
    node: Mapped[str] = mapped_column(sa.String(200))  # the host that ran it

    __table_args__ = (
        # The scrape's "last run / last success per task", and pruning by age.
        sa.Index("ix_periodic_runs_name_finished_at", "name", "finished_at"),
        sa.Index("ix_periodic_runs_name_started_at", "name", "started_at"),
        # The scrape's "last success per task" (ok IS TRUE): one index probe per task.
        sa.Index("ix_periodic_runs_name_ok_finished_at", "name", "ok", "finished_at"),
    )
