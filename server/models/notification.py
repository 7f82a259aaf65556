"""Reminders and escalations raised by the sweep, and the webhooks they are posted to."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, UTCDateTime, new_id, utcnow

if TYPE_CHECKING:
    from server.models.unit import Unit


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(sa.String(36),
                                         sa.ForeignKey("cases.id", ondelete="CASCADE"),
                                         index=True)
    unit_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("units.id"), index=True)
    # milestone | overdue | supervision | revisit_dissatisfied | recheck_reopened
    kind: Mapped[str] = mapped_column(sa.String(20))
    milestone: Mapped[str] = mapped_column(sa.String(40), default="")
    # What makes it once: the case, the milestone and the instant it fell due. Two sweeps
    # racing insert the same key, and one of them loses on this constraint.
    dedupe_key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class Webhook(Base):
    """A receiver of one unit's reminders: it is sent only what that unit may see."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    unit_id: Mapped[str] = mapped_column(sa.String(36), sa.ForeignKey("units.id"), index=True)
    url: Mapped[str] = mapped_column(sa.String(500))
    # The signing secret, encrypted with WEBHOOK_SECRET_KEY (never in the database) and
    # bound to this row's id (server.domain.cases.webhooks.seal).
    secret_sealed: Mapped[str | None] = mapped_column(sa.String(300))
    # A secret stored in plain before 0011: sealed, and emptied, on the next sweep.
    legacy_secret: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[Unit] = relationship(lazy="joined")


class WebhookDelivery(Base):
    """One notification to one webhook: retried with backoff until delivered or given up."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(sa.String(36),
                                            sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    notification_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("notifications.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(sa.String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("webhook_id", "notification_id",
                                          name="uq_webhook_deliveries_pair"),)
