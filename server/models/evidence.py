"""Evidence photos: declared by the phone, verified and stored by the server."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, UTCDateTime, new_id, utcnow

# expired: declared but the bytes never came; re-declaring the same client_id revives it.
EVIDENCE_STATES = ("pending", "stored", "rejected", "expired")


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    case_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("cases.id"), index=True)
    visit_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("visits.id"))
    # A revisit's photo (the door, a signed paper questionnaire) or interview recording;
    # a recording names the respondent whose consent it was made under.
    revisit_id: Mapped[str | None] = mapped_column(sa.String(36), sa.ForeignKey("revisits.id"),
                                                   index=True)
    respondent_id: Mapped[str | None] = mapped_column(
        sa.String(36), sa.ForeignKey("revisit_respondents.id"))
    state: Mapped[str] = mapped_column(sa.String(12), default="pending", index=True)
    # What a photo's QR code and printed code resolve to (XXXX-XXXX): short enough to type
    # from paper, random so that one code says nothing about another.
    short_code: Mapped[str | None] = mapped_column(sa.String(9), unique=True)

    # What the phone declared at capture.
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    declared_type: Mapped[str] = mapped_column(sa.String(60))
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    geo_lat: Mapped[float | None] = mapped_column(sa.Float)
    geo_lon: Mapped[float | None] = mapped_column(sa.Float)
    geo_accuracy_m: Mapped[float | None] = mapped_column(sa.Float)
    geo_fixed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    geo_source: Mapped[str | None] = mapped_column(sa.String(20))
    photographer: Mapped[str | None] = mapped_column(sa.String(120))
    place: Mapped[str | None] = mapped_column(sa.String(300))
    caption: Mapped[str | None] = mapped_column(sa.Text)
    uploaded_by: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("users.id"))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    device_offset_s: Mapped[float | None] = mapped_column(sa.Float)

    # Where the bytes wait (a key of their own, so an upload URL never touches evidence).
    staging_key: Mapped[str] = mapped_column(sa.String(200))
    last_error: Mapped[str | None] = mapped_column(sa.String(60))

    # What the server found on completion.
    object_key: Mapped[str | None] = mapped_column(sa.String(200))
    content_type: Mapped[str | None] = mapped_column(sa.String(60))
    stored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    width: Mapped[int | None] = mapped_column(sa.Integer)
    height: Mapped[int | None] = mapped_column(sa.Integer)
    duration_s: Mapped[float | None] = mapped_column(sa.Float)  # recordings
    exif: Mapped[dict | None] = mapped_column(sa.JSON)
    exif_errors: Mapped[list | None] = mapped_column(sa.JSON)
    flags: Mapped[list | None] = mapped_column(sa.JSON)
    thumbnails: Mapped[dict | None] = mapped_column(sa.JSON)
    rejected_reason: Mapped[str | None] = mapped_column(sa.String(60))

    __table_args__ = (
        sa.CheckConstraint(f"state IN {EVIDENCE_STATES!r}", name="state"),
        sa.CheckConstraint("size > 0", name="size_positive"),
        # A user's bytes today, for the daily quota: summed from the index alone.
        sa.Index("ix_evidence_uploaded_by_declared_at_size", "uploaded_by", "declared_at",
                 "size"),
    )
