"""A complaint case (信访件 / 交办件)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, UTCDateTime, new_id, utcnow
from server.models.unit import Unit
from server.models.user import User

# Inspectors a case is dispatched to (they see it first in "my cases").
case_assignees = sa.Table(
    "case_assignees",
    Base.metadata,
    sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"),
              primary_key=True, index=True),
)


class CaseUnit(Base):
    """A unit with a part in a case besides the responsible one: co-handling (协办)."""

    __tablename__ = "case_units"

    case_id: Mapped[str] = mapped_column(sa.String(36),
                                         sa.ForeignKey("cases.id", ondelete="CASCADE"),
                                         primary_key=True)
    unit_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("units.id"),
                                         primary_key=True, index=True)
    role: Mapped[str] = mapped_column(sa.String(20), default="co")
    part: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")


# `Case.colour_until` at these: resolve the colour from the deadline columns; never changes.
COLOUR_STALE = datetime(1970, 1, 1, tzinfo=UTC)
COLOUR_FINAL = datetime(9999, 1, 1, tzinfo=UTC)


OPEN_WHERE = "status IN ('received', 'dispatched', 'in_progress', 'submitted')"


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(sa.String(40), index=True)
    category: Mapped[str] = mapped_column(sa.String(40), index=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    address: Mapped[str] = mapped_column(sa.String(500))
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    # Personal data: never leaves the API unmasked except through a logged reveal.
    # Indexed: the office finds a case by the complainant's full name (an OR beside the
    # indexed free text, which an unindexed column would turn into a scan).
    complainant_name: Mapped[str | None] = mapped_column(sa.String(120), index=True)
    complainant_phone: Mapped[str | None] = mapped_column(sa.String(40))
    # HMAC of the normalised number under PERSONAL_DATA_KEY (privacy.phone_digest): an
    # exact number finds its cases through this index; the number is never searched in
    # clear. Null for a case from before 0012 until `fieldcase index-phones` fills it.
    complainant_phone_hmac: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    unit_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("units.id"), index=True)
    key: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    external_ref: Mapped[str | None] = mapped_column(sa.String(120), index=True)
    # The platform it came from (IntakeSource.code), null for a case the office typed: a
    # platform's reference is unique within the platform (a re-sent row is a duplicate).
    intake_source: Mapped[str | None] = mapped_column(sa.String(40))
    # Repeat complaints: the normalised address (repeats.addresses.address_key) and a grid
    # cell of the location (repeats.detect.cell_of), so finding the earlier complaints
    # about the same place reads an index however many cases there are.
    address_key: Mapped[str | None] = mapped_column(sa.String(200))
    geo_cell: Mapped[int | None] = mapped_column(sa.BigInteger)
    status: Mapped[str] = mapped_column(sa.String(20), default="received", index=True)
    leader: Mapped[str | None] = mapped_column(sa.String(120))  # 包案领导, free text (older cases)
    # The leader in charge (包案领导) as a user with the leader role; when null, the free
    # text above (cases from before leaders were users) is what the case shows.
    leader_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"),
                                                  index=True)
    # Difficult (重点疑难, seed 000): flagged by the office, why, who and when; cleared by
    # setting all three back to null (the timeline and the audit keep both acts).
    hard_flagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    hard_flagged_by: Mapped[str | None] = mapped_column(sa.String(36),
                                                        sa.ForeignKey("users.id"))
    hard_reason: Mapped[str | None] = mapped_column(sa.Text)
    verdict: Mapped[str | None] = mapped_column(sa.String(20))  # 属实 / 部分属实 / 不属实
    result: Mapped[str | None] = mapped_column(sa.Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whether the approval that closed it came before the deadline it had then (null: no
    # deadline, or not closed): today's copy of the approval event's `on_time`, kept by
    # the lifecycle, so today's on-time rate reads one index. Past dates read the events.
    closed_on_time: Mapped[bool | None] = mapped_column(sa.Boolean)
    # When a revisit first reached someone (null: none yet), kept by the revisits: the
    # revisit rate as of any moment reads it from an index alone.
    revisit_reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the case last became closed or stopped being closed (its last approval,
    # reopen or dissatisfied-revisit event; null: none), kept by the lifecycle: a case
    # whose closure has not changed since a moment stood then as it stands now, so the
    # rates as of a past moment read the event log only for the cases changed since.
    closure_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest revisit answer (received time in whole seconds * 4 + answer code, see
    # revisits.answers.ANSWER_CODES; null: no answer) and when the latest answered revisit
    # was received, kept by the revisits: the satisfaction rates as of a moment read the
    # revisits only for the cases answered since.
    last_answer: Mapped[int | None] = mapped_column(sa.BigInteger)
    last_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The deadline, derived from the rule version frozen on the case and the case's clock
    # events, stored whenever an event changes it so lists, the board and sorting run in
    # SQL. The colour is base colour, then up to three later colours from their instants.
    deadline_rule: Mapped[str | None] = mapped_column(sa.String(40))
    deadline_rule_version: Mapped[int | None] = mapped_column(sa.Integer)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    next_milestone_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    milestones: Mapped[list | None] = mapped_column(sa.JSON)  # [{name, at}], ascending
    extended_days: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Counted with weekends only: a year it reaches had no calendar loaded (recomputed when
    # one is). Indexed: loading a year looks for these.
    deadline_provisional: Mapped[bool] = mapped_column(sa.Boolean, default=False,
                                                       server_default=sa.false(), index=True)
    colour0: Mapped[str | None] = mapped_column(sa.String(10))
    colour1: Mapped[str | None] = mapped_column(sa.String(10))
    colour1_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    colour2: Mapped[str | None] = mapped_column(sa.String(10))
    colour2_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    colour3: Mapped[str | None] = mapped_column(sa.String(10))
    colour3_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The colour (or "overdue") as last resolved, valid while `colour_until` is ahead: a
    # cache the sweep fills so the board reads an index instead of computing every open
    # case's colour. A passed `colour_until` means "compute it" (deadline_rules.colour_now).
    colour: Mapped[str | None] = mapped_column(sa.String(10))
    colour_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True,
                                                   default=lambda: COLOUR_STALE)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")
    leader_user: Mapped[User | None] = relationship(foreign_keys=[leader_id], lazy="selectin")
    assignees: Mapped[list[User]] = relationship(secondary=case_assignees, lazy="selectin",
                                                 order_by="User.username")
    co_units: Mapped[list[CaseUnit]] = relationship(lazy="selectin", cascade="all, delete-orphan",
                                                    order_by="CaseUnit.created_at")

    # Optimistic locking: a stale PATCH fails instead of silently overwriting.
    __mapper_args__: ClassVar[dict] = {"version_id_col": version}
    __table_args__ = (
        # Each colour's most urgent, in order (the board's cards, the colour filter).
        sa.Index("ix_cases_colour_due_at", "colour", "due_at"),
        # The open cases of a colour, newest first (the list's colour filter): closed
        # cases keep their last colour, and at 20% open most red rows are closed ones.
        # The statuses are vocab.OPEN_STATUSES (tests check).
        sa.Index("ix_cases_open_colour_received", "colour", "received_at",
                 postgresql_where=sa.text(OPEN_WHERE), sqlite_where=sa.text(OPEN_WHERE)),
        # The board's counts of open cases by unit and colour, from the open cases alone
        # (a fifth of ix_cases_board's rows at 20% open, narrower, in group order).
        sa.Index("ix_cases_open_board", "unit_id", "colour", "colour_until",
                 postgresql_where=sa.text(OPEN_WHERE), sqlite_where=sa.text(OPEN_WHERE)),
        # Everything the board counts, so counting open cases reads only this index.
        sa.Index("ix_cases_board", "status", "unit_id", "colour", "colour_until", "id"),
        sa.Index("ux_cases_intake_ref", "intake_source", "external_ref", unique=True),
        sa.Index("ix_cases_address_key", "address_key", "category", "received_at"),
        sa.Index("ix_cases_geo_cell", "geo_cell", "received_at"),
        # The counts and narrowed figures (ledgers.stats): the cases received in a period
        # with all they count by, read from the index alone.
        sa.Index("ix_cases_stats", "received_at", "unit_id", "status", "closed_on_time",
                 "revisit_reached_at", "channel", "category", "id"),
        # The rates over every case of a period (ledgers.stats): only what they read, so
        # the one pass over a year's cases reads narrow index entries, not wide rows.
        sa.Index("ix_cases_rates", "received_at", "status", "closed_on_time",
                 "closure_changed_at", "revisit_reached_at", "last_answer",
                 "last_answer_at", "id"),
    )


# The free text's index on PostgreSQL (migration 0021 defines the function; SQLite keeps an
# FTS5 table instead): each field's characters and pairs of characters.
sa.Index("ix_cases_search",
         sa.func.fieldcase_case_grams(Case.subject, Case.address, Case.description,
                                      Case.external_ref),
         postgresql_using="gin").ddl_if(dialect="postgresql")
