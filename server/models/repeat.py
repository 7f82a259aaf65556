"""Repeat complaints (seed 002): a subject complained about again and again, and the link
of each complaint (case) to its subject."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow

LINK_STATES = ("auto", "confirmed", "undone")


class RepeatSubject(Base):
    """What is complained about again: a place and category, or one complainant's number.
    Listed (the repeat-complaint list) once REPEAT_LIST_AT complaints are linked."""

    __tablename__ = "repeat_subjects"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(sa.String(500))  # the place as people say it
    address_key: Mapped[str | None] = mapped_column(sa.String(200), index=True)
    category: Mapped[str] = mapped_column(sa.String(40))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(sa.Integer, default=0)  # links not undone
    listed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    leader_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RepeatLink(Base):
    """One complaint's link to its subject: made on arrival (auto), then confirmed or undone
    by the office. An undone link stays, so the case is never linked again automatically."""

    __tablename__ = "repeat_links"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(sa.String(36),
                                         sa.ForeignKey("cases.id", ondelete="CASCADE"),
                                         unique=True)
    subject_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("repeat_subjects.id", ondelete="CASCADE"), index=True)
    matched_by: Mapped[list] = mapped_column(sa.JSON, default=list)  # address|radius|phone
    state: Mapped[str] = mapped_column(sa.String(10), default="auto")
    decided_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint(f"state IN {LINK_STATES!r}", name="state"),)
