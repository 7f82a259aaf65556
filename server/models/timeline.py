"""A case's timeline: append-only events, hash-chained per case."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, utcnow

# The events that close a case or take it out of "closed" (cases.lifecycle CLOSURE_EVENTS).
STATUS_EVENTS = "kind IN ('approved', 'reopened', 'revisit_dissatisfied')"


class CaseEvent(Base):
    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(sa.String(36),
                                         sa.ForeignKey("cases.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(sa.Integer)  # 1, 2, 3... within the case
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(40))
    actor_id: Mapped[str | None] = mapped_column(sa.String(36))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # The case's version after this event: a client that saw version v is told of the
    # events with version > v when its action meets a conflict.
    version: Mapped[int] = mapped_column(sa.Integer)
    # A phone's retried action (its client UUID) is applied once.
    client_id: Mapped[str | None] = mapped_column(sa.String(36), unique=True)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (
        sa.UniqueConstraint("case_id", "seq", name="uq_case_events_case_id_seq"),
        sa.Index("ix_case_events_case_id_kind", "case_id", "kind"),
        # The rates as of a past moment: a changed case's last status event by then, from
        # the index alone (ledgers.asof.code_at).
        sa.Index("ix_case_events_status", "case_id", "at", "seq",
                 postgresql_where=sa.text(STATUS_EVENTS), sqlite_where=sa.text(STATUS_EVENTS)),
    )
