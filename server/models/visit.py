"""Site checks, night checks, monitoring, meetings, joint enforcement, and their readings."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, UTCDateTime, new_id, utcnow


class Visit(Base):
    __tablename__ = "visits"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    # Idempotency: the phone's own UUID; a retry finds the first row.
    client_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    case_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(30))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lat: Mapped[float | None] = mapped_column(sa.Float)
    lon: Mapped[float | None] = mapped_column(sa.Float)
    accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    participants: Mapped[list] = mapped_column(sa.JSON, default=list)
    findings: Mapped[str] = mapped_column(sa.Text, default="")
    created_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    # Server receipt is authoritative; the device clock's offset is kept beside it.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    device_offset_s: Mapped[float | None] = mapped_column(sa.Float)

    measurements: Mapped[list[Measurement]] = relationship(
        back_populates="visit", order_by="Measurement.position", lazy="selectin",
        cascade="all, delete-orphan",
    )


class Measurement(Base):
    __tablename__ = "measurements"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    visit_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("visits.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(sa.Integer, default=0)
    kind: Mapped[str] = mapped_column(sa.String(20))
    value_dba: Mapped[float] = mapped_column(sa.Float)
    zone_class: Mapped[str | None] = mapped_column(sa.String(4))
    period: Mapped[str] = mapped_column(sa.String(8))
    # The limit and the standard it came from are frozen with the reading, so a later
    # change to the standards data never rewrites an old judgement.
    limit_dba: Mapped[float | None] = mapped_column(sa.Float)
    standard: Mapped[str | None] = mapped_column(sa.String(40))
    exceeded: Mapped[bool | None] = mapped_column(sa.Boolean)
    # A phone_estimate keeps its limit for display but is never judged (exceeded is null).
    source: Mapped[str] = mapped_column(sa.String(20), default="meter")
    device: Mapped[str | None] = mapped_column(sa.String(120))
    calibration_offset_db: Mapped[float | None] = mapped_column(sa.Float)
    # The noise record (migration 0008). All nullable: an older row is a one-figure
    # ("simple") reading. The assessment is frozen with the reading like the limit above,
    # with the version of the rules data it was made under.
    record_kind: Mapped[str | None] = mapped_column(sa.String(8))
    # Instrument, calibrator, calibration readings, position, room class, windows, weather,
    # duration, noise type: inputs kept as sent, never queried on their own.
    record_data: Mapped[dict | None] = mapped_column(sa.JSON)
    lmax_dba: Mapped[float | None] = mapped_column(sa.Float)
    background_dba: Mapped[float | None] = mapped_column(sa.Float)
    background_correction_db: Mapped[float | None] = mapped_column(sa.Float)
    corrected_dba: Mapped[float | None] = mapped_column(sa.Float)
    valid_for_enforcement: Mapped[bool | None] = mapped_column(sa.Boolean)
    invalid_reasons: Mapped[list | None] = mapped_column(sa.JSON)
    verdict: Mapped[dict | None] = mapped_column(sa.JSON)
    verdict_rule: Mapped[str | None] = mapped_column(sa.String(40))
    rules_version: Mapped[str | None] = mapped_column(sa.String(20))
    # The phone's UUID for the photo of the meter's display (the photo may arrive later).
    meter_photo_client_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)

    visit: Mapped[Visit] = relationship(back_populates="measurements")
