"""Where cases come in from besides the office's own typing: the hotline platforms."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow


class IntakeSource(Base):
    """A platform that hands cases over (the 12345 hotline system, the 12369 line, the
    petition system): as sheets the office uploads, or by calling the push API. Its sheets'
    column mapping and its value tables (its category and unit names to ours) are kept
    here, so the next sheet from the same source maps itself."""

    __tablename__ = "intake_sources"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    # In URLs (`POST /api/intake/<code>`) and on each case it brought (Case.intake_source).
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(120))
    name_en: Mapped[str] = mapped_column(sa.String(120))
    channel: Mapped[str] = mapped_column(sa.String(40))  # the channel its cases get
    # The unit a case goes to when its row names none we know of (the office dispatches it).
    default_unit_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("units.id"))
    # {case field: the sheet's header}, e.g. {"external_ref": "工单编号"}.
    column_map: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    # {"category": {"噪音扰民": "noise_social"}, "unit": {"城中街道": "<unit id>"}}.
    value_maps: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class IntakeToken(Base):
    """A platform's key to the push API (`POST /api/intake/<code>`), made and revoked by an
    admin. The token itself is shown once, at creation, and never stored: only its hash."""

    __tablename__ = "intake_tokens"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    source_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("intake_sources.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(sa.String(120))
    # SHA-256 of the token, hex. A token is 32 random bytes (256 bits): nobody can guess
    # one from its hash, so a slow password hash (argon2) would only cost every push time
    # for nothing, and a plain hash lets a push find its token by an indexed lookup.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The token's first 8 characters, shown to admins and in the audit log to tell tokens
    # apart (48 of its 256 bits: what is left is still far beyond guessing).
    prefix: Mapped[str] = mapped_column(sa.String(8))
    created_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Revoked tokens are kept (who made and revoked them, when, and when last used).
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ImportBatch(Base):
    """One uploaded sheet between its preview and its confirmation. The file's bytes are
    not kept: its cells are (headers and rows as read), so a preview is evaluated again
    against the source's maps as the office edits them, and the confirmation creates what
    the last preview showed. A confirmed batch keeps its answer: confirming again returns
    it (never a second set of cases)."""

    __tablename__ = "import_batches"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(sa.String(40), index=True)  # IntakeSource.code
    filename: Mapped[str] = mapped_column(sa.String(255))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # previewed | confirmed | expired
    status: Mapped[str] = mapped_column(sa.String(20), default="previewed")
    header_row: Mapped[int] = mapped_column(sa.Integer)
    headers: Mapped[list] = mapped_column(sa.JSON)
    # [[file row number, [cell, ...]], ...]: cells as read (a date as {"dt": iso}).
    rows: Mapped[list] = mapped_column(sa.JSON)
    counts: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # of the last evaluation
    result: Mapped[dict | None] = mapped_column(sa.JSON)  # the confirmation's answer
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
