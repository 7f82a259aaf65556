"""Revisits (回访): questionnaire templates, revisits with their respondents, and the
samples of handled cases drawn for phone spot checks."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, UTCDateTime, new_id, utcnow


class Questionnaire(Base):
    """One version of a template; editing a template adds a version, never changes one,
    so every answer keeps the questions it was given under."""

    __tablename__ = "questionnaires"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(sa.String(60))
    version: Mapped[int] = mapped_column(sa.Integer)
    title: Mapped[dict] = mapped_column(sa.JSON)  # {zh, en}
    questions: Mapped[list] = mapped_column(sa.JSON)
    created_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("code", "version", name="uq_questionnaires_code_version"),
    )


ANSWERED = "satisfaction IS NOT NULL"


class Revisit(Base):
    __tablename__ = "revisits"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    case_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("cases.id"), index=True)
    method: Mapped[str] = mapped_column(sa.String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    questionnaire_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("questionnaires.id"))
    # As given by the revisit user; `satisfaction` is the overall one the rules derive.
    stated_satisfaction: Mapped[str | None] = mapped_column(sa.String(24))
    satisfaction: Mapped[str | None] = mapped_column(sa.String(24), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # reached | unreachable | open
    attempts: Mapped[list] = mapped_column(sa.JSON, default=list)
    unreachable_reason: Mapped[str | None] = mapped_column(sa.Text)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    created_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    device_offset_s: Mapped[float | None] = mapped_column(sa.Float)
    # A call the complainant asked to be made again at a time they named (outcome
    # "callback"): a task for whoever recorded it until a later revisit follows it.
    callback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Integrity flags, as photos have them (a door survey taken far from the case).
    flags: Mapped[list | None] = mapped_column(sa.JSON, default=list)

    questionnaire: Mapped[Questionnaire | None] = relationship(lazy="joined")
    respondents: Mapped[list[Respondent]] = relationship(
        back_populates="revisit", order_by="Respondent.position", lazy="selectin")

    __table_args__ = (
        # The satisfaction rates (ledgers.stats): each case's answers by time, read from
        # the index alone.
        sa.Index("ix_revisits_answered", "case_id", "received_at", "satisfaction",
                 postgresql_where=sa.text(ANSWERED), sqlite_where=sa.text(ANSWERED)),
    )


class Respondent(Base):
    """One person asked; name and contact are personal data (masked in every answer)."""

    __tablename__ = "revisit_respondents"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    revisit_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("revisits.id"),
                                            index=True)
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    kind: Mapped[str] = mapped_column(sa.String(20))
    name: Mapped[str | None] = mapped_column(sa.String(120))
    contact: Mapped[str | None] = mapped_column(sa.String(120))
    answers: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    satisfaction: Mapped[str | None] = mapped_column(sa.String(24))
    audio_consent: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    revisit: Mapped[Revisit] = relationship(back_populates="respondents")


class RevisitSample(Base):
    """A draw of handled cases for revisiting, reproducible from its parameters and seed."""

    __tablename__ = "revisit_samples"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    period_from: Mapped[datetime] = mapped_column(UTCDateTime)
    period_to: Mapped[datetime] = mapped_column(UTCDateTime)
    share: Mapped[float] = mapped_column(sa.Float)
    strata: Mapped[list] = mapped_column(sa.JSON)
    seed: Mapped[str] = mapped_column(sa.String(40))
    # The population it was drawn from: its size and a hash of its case ids, so a re-draw
    # can tell whether it saw the same cases.
    population: Mapped[int] = mapped_column(sa.Integer)
    population_hash: Mapped[str] = mapped_column(sa.String(64))
    allocation: Mapped[list] = mapped_column(sa.JSON)  # [{stratum, population, drawn}]
    unit_scope: Mapped[list] = mapped_column(sa.JSON)  # the drawing user's unit ids
    created_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Voided (drawn wrongly): kept for the record, its tasks gone, never returned again
    # for a re-draw with the same seed.
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    void_reason: Mapped[str | None] = mapped_column(sa.Text)


class SampleCase(Base):
    __tablename__ = "revisit_sample_cases"

    sample_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("revisit_samples.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("cases.id"),
                                         primary_key=True, index=True)
    stratum: Mapped[str] = mapped_column(sa.String(200))
    assignee_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"),
                                                    index=True)
