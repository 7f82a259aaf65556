"""Responsible units (district bureau, street office, community) and who belongs to them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, UTCDateTime, new_id, utcnow

user_units = sa.Table(
    "user_units",
    Base.metadata,
    sa.Column("user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("unit_id", sa.String(36), sa.ForeignKey("units.id", ondelete="CASCADE"),
              primary_key=True),
)


class Unit(Base):
    __tablename__ = "units"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    # A district unit sees the cases of the street units below it.
    parent_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("units.id"), index=True
    )
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow)

    parent: Mapped[Unit | None] = relationship(remote_side=[id])
