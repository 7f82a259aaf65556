"""The sweep: raise each due milestone and overdue escalation exactly once.

Run by `fieldcase sweep` from cron or a systemd timer. It reads only the cases whose
stored `next_milestone_at` has come (an index), in batches, each batch one transaction.
Each raise is a notification whose unique key is (case, milestone, instant): a second
sweep, or one running at the same time, inserts nothing new. On PostgreSQL concurrent
sweeps also skip each other's locked rows instead of waiting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from server.domain import scope, timeline, webhooks
from server.domain.uow import transaction
from server.extensions import db
from server.models import Case, Notification, Unit, User
from server.models.base import new_id, utcnow

BATCH = 500


def _raise_once(case: Case, name: str, at: datetime, now: datetime) -> Notification | None:
    kind = "overdue" if name == "overdue" else "milestone"
    values: dict[str, Any] = {
        "id": new_id(), "case_id": case.id, "unit_id": case.unit_id, "kind": kind,
        "milestone": name, "dedupe_key": f"{case.id}:{name}:{at.isoformat()}", "due_at": at,
        "created_at": now, "data": {"subject": case.subject, "key": case.key,
                                    "leader": case.leader}}
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    done = db.session.scalar(insert(Notification).values(**values)
                             .on_conflict_do_nothing(index_elements=["dedupe_key"])
                             .returning(Notification.id))
    if done is None:
        return None  # raised already, by an earlier or a concurrent sweep
    timeline.append(case, "escalated" if kind == "overdue" else "reminded", actor_id=None,
                    at=now, data={"milestone": name, "due_at": at})
    note = db.session.get(Notification, values["id"])
    webhooks.enqueue(note)
    return note


def sweep(now: datetime | None = None, *, deliver: bool = True) -> dict[str, int]:
    now = now or utcnow()
    counts = {"cases": 0, "raised": 0}
    last_id = ""
    while True:
        with transaction():
            query = (sa.select(Case).where(scope.is_open(), Case.next_milestone_at <= now,
                                           Case.id > last_id)
                     .order_by(Case.id).limit(BATCH))
            if db.session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=Case)
            batch = db.session.scalars(query).all()
            for case in batch:
                counts["cases"] += 1
                for m in case.milestones or []:
                    at = datetime.fromisoformat(m["at"])
                    if case.next_milestone_at <= at <= now and _raise_once(case, m["name"],
                                                                           at, now):
                        counts["raised"] += 1
                ahead = next((datetime.fromisoformat(m["at"]) for m in case.milestones or []
                              if datetime.fromisoformat(m["at"]) > now), None)
                # Not a change of the case a user made: its version (which a phone's queued
                # action carries) stays as it is.
                db.session.execute(sa.update(Case).where(Case.id == case.id)
                                   .values(next_milestone_at=ahead)
                                   .execution_options(synchronize_session=False))
        if len(batch) < BATCH:
            break
        last_id = batch[-1].id
    if deliver:
        counts.update(webhooks.deliver_due(now))
    return counts


def for_user(user: User, *, limit: int = 50) -> list[tuple[Notification, Case, Unit]]:
    """Notifications of the user's units and the units below them, newest first."""
    units = scope.visible_unit_ids(user)
    return [tuple(row) for row in db.session.execute(
        sa.select(Notification, Case, Unit)
        .join(Case, Case.id == Notification.case_id)
        .join(Unit, Unit.id == Notification.unit_id)
        .where(Notification.unit_id.in_(units))
        .order_by(Notification.created_at.desc()).limit(limit))]
