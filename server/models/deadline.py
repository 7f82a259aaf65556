"""Deadline rules (versioned data) and China's working-day calendar (data per year)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow


class DeadlineRule(Base):
    """One version of a rule; a new version never changes cases started under an old one."""

    __tablename__ = "deadline_rules"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(sa.String(40))
    version: Mapped[int] = mapped_column(sa.Integer)
    body: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(sa.String(36))

    __table_args__ = (sa.UniqueConstraint("code", "version",
                                          name="uq_deadline_rules_code_version"),)


class CalendarDay(Base):
    """A day that breaks the plain weekday rule: a public holiday or a make-up working day."""

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    year: Mapped[int] = mapped_column(sa.Integer, index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # holiday | workday
    name: Mapped[str] = mapped_column(sa.String(60), default="")


class CalendarYear(Base):
    """A year whose schedule is known; working-day counts refuse years not listed here."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(sa.String(300), default="")
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    loaded_by: Mapped[str | None] = mapped_column(sa.String(36))
