"""Heavy work done apart from web requests (batch closure files, archives): one row per
job, the truth about it whatever the queue (RQ over Redis, or the web process's own
threads) remembers or forgets."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow

JOB_STATES = ("queued", "running", "done", "failed")


class Job(Base):
    """A job's state, progress, error and result. Every change of state is a conditional
    UPDATE on (state, attempts): a worker that lost its claim (killed, or too slow to
    heartbeat) can neither report progress nor finish, so a job is done once."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(sa.String(40))
    params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    user_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(sa.String(10), default="queued")
    stage: Mapped[str] = mapped_column(sa.String(40), default="")
    progress_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    progress_total: Mapped[int] = mapped_column(sa.Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(sa.String(80))
    error_zh: Mapped[str | None] = mapped_column(sa.Text)
    error_en: Mapped[str | None] = mapped_column(sa.Text)
    error_extra: Mapped[dict | None] = mapped_column(sa.JSON)  # e.g. the case it names
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the queue last took it (NULL: it never reached Redis; the reaper sends it).
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queue_ref: Mapped[str | None] = mapped_column(sa.String(80))  # the RQ job's id
    result_key: Mapped[str | None] = mapped_column(sa.String(300))
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    size: Mapped[int | None] = mapped_column(sa.BigInteger)
    filename: Mapped[str | None] = mapped_column(sa.String(255))
    content_type: Mapped[str | None] = mapped_column(sa.String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_jobs_user_created", "user_id", "created_at"),
        sa.Index("ix_jobs_state_heartbeat", "state", "heartbeat_at"),
    )
