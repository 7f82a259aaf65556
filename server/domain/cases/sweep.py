"""The sweep: raise each due milestone and overdue escalation exactly once, late ones too.

Run by `fieldcase sweep` from cron or a systemd timer. It reads only the cases whose
stored `next_milestone_at` has come (an index), in batches, each batch one transaction.
Each raise is a notification whose unique key is (case, milestone, instant): a second
sweep, or one running at the same time, inserts nothing new. On PostgreSQL concurrent
sweeps also skip each other's locked rows instead of waiting.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import load_only, raiseload

from server.domain.accounts import scope
from server.domain.audit import audit_checkpoints, timeline
from server.domain.cases import deadline_rules, webhooks
from server.domain.core.uow import transaction
from server.extensions import db
from server.models import Case, Notification
from server.models.base import new_id, utcnow
from server.storage import StorageError

log = logging.getLogger(__name__)

BATCH = 500
# A raise this long after its milestone is marked late. Sweeps run every few minutes; a
# milestone already behind a case when it was entered is hours or days behind.
LATE_AFTER = timedelta(minutes=30)
COLOUR_BATCH = 5_000  # a plain UPDATE a row: larger batches, still short locks
# What the sweep reads of a case: no wide columns, no relationships.
SWEPT = (Case.id, Case.unit_id, Case.subject, Case.key, Case.leader, Case.milestones,
         Case.next_milestone_at, Case.version)


def _late(at: datetime, now: datetime) -> dict[str, bool]:
    """A raise well after its instant says so (the case was entered with the milestone
    behind it, or no sweep ran): the office must not read it as fresh."""
    return {"late": True} if now - at > LATE_AFTER else {}


def _owed(case: Case, now: datetime) -> list[tuple[str, datetime]]:
    """The case's milestones from its stored next one up to now: the stored one is the
    first not raised yet (deadline_rules._store), however long ago it fell due."""
    return [(m["name"], at) for m in case.milestones or []
            if case.next_milestone_at <= (at := datetime.fromisoformat(m["at"])) <= now]


def _ahead(case: Case, now: datetime) -> datetime | None:
    return next((at for m in case.milestones or []
                 if (at := datetime.fromisoformat(m["at"])) > now), None)


def _raise_batch(batch: list[Case], now: datetime, hooks: dict[str, str]) -> int:
    """Raise what the batch's cases owe: notifications inserted once (the unique key
    refuses what an earlier or a concurrent sweep raised), then, for those this sweep
    inserted, the timeline events and webhook deliveries (to the webhooks whose unit may
    see the case); the cases' next milestones move on. A handful of statements a batch,
    whatever its size."""
    owed = [(case, name, at) for case in batch for name, at in _owed(case, now)]
    notes = [{"id": new_id(), "case_id": case.id, "unit_id": case.unit_id,
              "kind": "overdue" if name == "overdue" else "milestone", "milestone": name,
              "dedupe_key": deadline_rules.sweep_key(case.id, name, at), "due_at": at,
              "created_at": now, "data": {"subject": case.subject, "key": case.key,
                                          "leader": case.leader, **_late(at, now)}}
             for case, name, at in owed]
    raised: set[str] = set()
    if notes:
        insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" \
            else sqlite_insert
        raised = set(db.session.scalars(insert(Notification).values(notes)
                                        .on_conflict_do_nothing(index_elements=["dedupe_key"])
                                        .returning(Notification.id)))
    if raised:
        chains = timeline.heads([n["case_id"] for n in notes if n["id"] in raised])
        for (case, name, at), note in zip(owed, notes, strict=True):
            if note["id"] not in raised:
                continue
            event = timeline.link(case, "escalated" if note["kind"] == "overdue" else
                                  "reminded", head=chains.get(case.id), actor_id=None, at=now,
                                  data={"milestone": name, "due_at": at, **_late(at, now)})
            chains[case.id] = (event.seq, event.hash)
        webhooks.enqueue(((n["id"], n["case_id"]) for n in notes if n["id"] in raised),
                         now, hooks)
    # Not a change a user made: the cases' versions (which a phone's queued action
    # carries) stay as they are, hence a plain table UPDATE.
    table = Case.__table__
    db.session.execute(table.update().where(table.c.id == sa.bindparam("case_id"))
                       .values(next_milestone_at=sa.bindparam("ahead")),
                       [{"case_id": case.id, "ahead": _ahead(case, now)} for case in batch])
    return len(raised)


def sweep(now: datetime | None = None, *, deliver: bool = True) -> dict[str, int]:
    now = now or utcnow()
    counts = {"cases": 0, "raised": 0}
    counts["coloured"] = 0
    while True:  # in batches, so no transition waits on a long lock
        with transaction():
            coloured = deadline_rules.resolve_colours(now, COLOUR_BATCH)
        counts["coloured"] += coloured
        if coloured < COLOUR_BATCH:
            break
    hooks = webhooks.active_hooks()
    last_id = ""
    while True:
        with transaction():
            query = (sa.select(Case).where(scope.is_open(), Case.next_milestone_at <= now,
                                           Case.id > last_id)
                     .order_by(Case.id).limit(BATCH)
                     .options(load_only(*SWEPT), raiseload(Case.unit), raiseload(Case.assignees),
                              raiseload(Case.co_units)))
            if db.session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=Case)
            batch = list(db.session.scalars(query))
            if batch:
                counts["cases"] += len(batch)
                counts["raised"] += _raise_batch(batch, now, hooks)
        if len(batch) < BATCH:
            break
        last_id = batch[-1].id
    try:  # within WEBHOOK_SWEEP_BUDGET_S, so the checkpoint below runs on time
        if deliver:
            counts.update(webhooks.deliver_due(now))
    finally:
        counts["audit_checkpoint"], counts["audit_checkpoint_failed"] = _checkpoint()
    return counts


def _checkpoint() -> tuple[bool, int]:
    """Anchor the audit log, every run (even one whose deliveries failed): (signed now,
    1 if it could not be). A store or database that fails now is tried next run, and the
    run says so (the sweep is then not a success for /metrics: unsigned entries pile up
    until an operator sees the alert)."""
    try:
        return bool(audit_checkpoints.checkpoint()), 0
    except IntegrityError:
        return False, 0  # another run signed this head a moment ago: it is anchored
    except (StorageError, OperationalError):
        log.warning("audit checkpoint failed; the next sweep tries again", exc_info=True)
        return False, 1
