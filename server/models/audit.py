"""The audit log: append-only, each entry hashing the one before it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(sa.String(36))
    action: Mapped[str] = mapped_column(sa.String(60))
    entity_type: Mapped[str] = mapped_column(sa.String(30))
    entity_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # A fork of the chain (two writers reading the same head) fails on this constraint.
    prev_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    entry_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditCheckpoint(Base):
    """The audit log's head at a moment, signed with a key kept outside the database (and
    copied to the object store): rewriting entries and recomputing the chain no longer
    passes `fieldcase verify-audit`, for that needs the signing key too."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    audit_seq: Mapped[int] = mapped_column(sa.Integer, unique=True)
    head_hash: Mapped[str] = mapped_column(sa.String(64))
    public_key: Mapped[str] = mapped_column(sa.String(64))  # hex, which key signed it
    signature: Mapped[str] = mapped_column(sa.String(128))  # hex Ed25519 over the payload
    object_key: Mapped[str] = mapped_column(sa.String(200))
