"""The seal of a closed case (its manifest of hashes) and the closure files made from seals."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow


class Seal(Base):
    """One closure's manifest, kept byte for byte: its SHA-256 is on the case's timeline
    chain (event `sealed`), so neither the manifest nor what it lists can change unseen.
    A reopen keeps the seal; the next approval makes seal number + 1."""

    __tablename__ = "seals"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("cases.id"), index=True)
    number: Mapped[int] = mapped_column(sa.Integer)
    manifest: Mapped[str] = mapped_column(sa.Text)  # canonical JSON, exactly as hashed
    sha256: Mapped[str] = mapped_column(sa.String(64))
    object_key: Mapped[str] = mapped_column(sa.String(200))  # the copy in the object store
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sealed_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    event_seq: Mapped[int] = mapped_column(sa.Integer)
    # Set when a public closure file (办结公示) of this seal was first made: from then on
    # its photos' short codes answer the public verify page.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("case_id", "number", name="uq_seals_case_id_number"),)


class ClosureFile(Base):
    """A closure file made once per set of seals, kind and audience, kept in the object
    store with its hash: the second download of the same sealed cases is the same bytes."""

    __tablename__ = "closure_files"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)  # kind|public|seal ids
    kind: Mapped[str] = mapped_column(sa.String(8))  # docx | pdf
    public: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    case_ids: Mapped[list] = mapped_column(sa.JSON)
    seal_ids: Mapped[list] = mapped_column(sa.JSON)
    object_key: Mapped[str] = mapped_column(sa.String(200))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int] = mapped_column(sa.BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
