"""A complaint case (信访件 / 交办件)."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, UTCDateTime, new_id, utcnow
from server.models.unit import Unit


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
    complainant_name: Mapped[str | None] = mapped_column(sa.String(120))
    complainant_phone: Mapped[str | None] = mapped_column(sa.String(40))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    unit_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("units.id"), index=True)
    key: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    external_ref: Mapped[str | None] = mapped_column(sa.String(120), index=True)
    status: Mapped[str] = mapped_column(sa.String(20), default="received", index=True)
    version: Mapped[int] = mapped_column(sa.Integer, default=1)
    created_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")

    # Optimistic locking: a stale PATCH fails instead of silently overwriting.
    __mapper_args__: ClassVar[dict] = {"version_id_col": version}
