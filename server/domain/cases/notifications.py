"""What the bell shows a user: the notifications of their units and the units below them,
and which of those they have not seen yet."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.core.uow import command
from server.extensions import db
from server.models import Case, Notification, Unit, User
from server.models.base import UTCDateTime

UNREAD_CAP = 99  # the badge says "99+" past this; no count over a whole history


def _raised_for(user: User) -> sa.Select:
    """Raised for the user's units (or units below them)."""
    return sa.select(Notification).where(
        Notification.unit_id.in_(scope.visible_unit_ids(user)))


def _mine(user: User) -> sa.Select:
    """What the bell shows: raised for the user's units, about a case they still see (one
    transferred away since names its new subject, and is no longer theirs to read)."""
    return (_raised_for(user).join(Case, Case.id == Notification.case_id)
            .where(scope.visible_clause(user)))


def for_user(user: User, *, limit: int = 50) -> list[tuple[Notification, Case, Unit]]:
    """Newest first, with the case and unit each names."""
    return [tuple(row) for row in db.session.execute(
        _mine(user).add_columns(Case, Unit)
        .join(Unit, Unit.id == Notification.unit_id)
        .order_by(Notification.created_at.desc()).limit(limit))]


def unread(user: User) -> int:
    """How many are newer than the user's mark, up to UNREAD_CAP + 1."""
    query = _mine(user).with_only_columns(Notification.id)
    if user.notifications_seen_at is not None:
        query = query.where(Notification.created_at > user.notifications_seen_at)
    return db.session.scalar(sa.select(sa.func.count()).select_from(
        query.limit(UNREAD_CAP + 1).subquery())) or 0


def is_unread(user: User, note: Notification) -> bool:
    return user.notifications_seen_at is None or note.created_at > user.notifications_seen_at


@command
def mark_seen(user: User, up_to: datetime) -> None:
    """Move the user's mark forward to `up_to` (the newest notification they were shown);
    never back, and never past the newest that exists (a phone's clock running ahead must
    not hide what is raised later)."""
    newest = db.session.scalar(_raised_for(user).with_only_columns(
        sa.func.max(Notification.created_at)))
    if newest is None:
        return
    up_to = min(up_to, UTCDateTime().process_result_value(newest, db.engine.dialect))
    if user.notifications_seen_at is None or up_to > user.notifications_seen_at:
        user.notifications_seen_at = up_to
