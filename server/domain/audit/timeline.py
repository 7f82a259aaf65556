"""A case's timeline: every transition, visit, photo, reveal and reminder as an event,
append-only and hash-chained per case, written in the caller's transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from server.domain.audit import rows
from server.extensions import db
from server.models import Case, CaseEvent
from server.models.base import utcnow

GENESIS = "0" * 64

# Every kind of event a timeline holds, for whoever shows them (the app names each kind
# and each member of its data; a browser test walks this list in both languages, and a
# test reading the source fails on a kind appended that is not here).
KINDS: tuple[str, ...] = (
    # the case's record and the lifecycle's actions (cases.lifecycle.TRANSITIONS' events)
    "received", "updated", "complainant_revealed",
    # leaders' instructions (领导批示) and telling the complainant the result (答复/反馈)
    "leader_instruction", "complainant_informed",
    "dispatched", "started", "submitted", "approved", "returned", "reopened", "transferred",
    "extended", "co_handling", "supervised",
    # the clock's sweep
    "reminded", "escalated",
    # the field's record
    "visit_recorded", "evidence_stored",
    # revisits
    "revisit_recorded", "revisit_respondent", "revisit_dissatisfied", "revisit_decision",
    # closure
    "flag_acknowledged", "sealed",
    # repeat complaints
    "repeat_linked", "repeat_link_confirmed", "repeat_link_undone",
    # look-back campaigns: a re-check, a rectification plan (a clock event) and its acceptance
    "recheck_recorded", "plan_set", "plan_accepted",
    # hard cases: the difficult flag, the remediation plan (整治方案), the leader group
    "hard_case_flagged", "hard_case_unflagged", "remediation_plan_set", "leader_group_set",
)


def event_hash(prev: str, case_id: str, seq: int, at: datetime, kind: str,
               actor_id: str | None, data: dict[str, Any], version: int) -> str:
    body = json.dumps([prev, case_id, seq, at.astimezone(UTC).isoformat(), kind, actor_id,
                       data, version],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


# What every append runs, built once: the case's row lock and its timeline's head.
_LOCK_CASE = sa.select(Case.id).where(Case.id == sa.bindparam("case_id")).with_for_update()
_HEAD = (sa.select(CaseEvent.seq, CaseEvent.hash)
         .where(CaseEvent.case_id == sa.bindparam("case_id"))
         .order_by(CaseEvent.seq.desc()).limit(1))


def append(case: Case, kind: str, *, actor_id: str | None, data: dict[str, Any] | None = None,
           client_id: str | None = None, at: datetime | None = None,
           locked: bool = False) -> CaseEvent:
    """Add an event to the current transaction. The case must be flushed first (its
    version is the one after this event). Appends to one case are serialised by its row
    lock (PostgreSQL) or the write lock (SQLite); a fork fails on (case_id, seq).
    `locked`: the caller holds the case's row lock already (taken in this transaction)."""
    event = link(case, kind, head=_head(case.id, locked=locked), actor_id=actor_id,
                 data=data, client_id=client_id, at=at)
    db.session.flush()
    return event


_INSERT = sa.insert(CaseEvent.__table__)


def record(case: Case, kind: str, *, actor_id: str | None, data: dict[str, Any] | None = None,
           locked: bool = False) -> None:
    """`append` for a caller that does not read the event back: a plain INSERT (the ORM's
    unit of work cost more CPU than the statement; a photo's storing runs this)."""
    db.session.execute(_INSERT, event_row(case, kind, head=_head(case.id, locked=locked),
                                          actor_id=actor_id, data=data))


def _head(case_id: str, *, locked: bool) -> tuple[int, str] | None:
    """The case's last event (seq, hash), read under its row lock (taken here unless the
    caller holds it)."""
    if not locked:
        db.session.execute(_LOCK_CASE, {"case_id": case_id})
    head = db.session.execute(_HEAD, {"case_id": case_id}).first()
    return (head[0], head[1]) if head else None


def head_seq(case_id: str, *, lock: bool = False) -> int | None:
    """The seq of the case's last event (None: none yet); `lock`: read under the case's row
    lock, taken here (on SQLite, the writer lock: nothing lands on the case after it)."""
    if lock:
        db.session.execute(_LOCK_CASE, {"case_id": case_id})
    head = db.session.execute(_HEAD, {"case_id": case_id}).first()
    return head[0] if head else None


def append_many(items: list[tuple[Case, str, dict[str, Any]]], *, actor_id: str | None,
                at: datetime | None = None) -> list[CaseEvent]:
    """`append` for many cases at once (a sheet's repeats linked at its import): their rows
    locked in one statement (in id order, as any other batch locks them), their heads read
    in one, the events inserted in one flush. A case may appear more than once: its events
    chain in the order given."""
    if not items:
        return []
    session = db.session
    ids = sorted({case.id for case, _, _ in items})
    session.execute(sa.select(Case.id).where(Case.id.in_(ids)).order_by(Case.id)
                    .with_for_update())
    last = heads(ids)
    made = []
    for case, kind, data in items:
        event = link(case, kind, head=last.get(case.id), actor_id=actor_id, data=data, at=at)
        last[case.id] = (event.seq, event.hash)
        made.append(event)
    session.flush()
    return made


def heads(case_ids: list[str]) -> dict[str, tuple[int, str]]:
    """The last event (seq, hash) of each of these cases, in one query."""
    if not case_ids:
        return {}
    last = (sa.select(CaseEvent.case_id, sa.func.max(CaseEvent.seq).label("seq"))
            .where(CaseEvent.case_id.in_(case_ids)).group_by(CaseEvent.case_id).subquery())
    rows = db.session.execute(
        sa.select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.hash)
        .join(last, sa.and_(CaseEvent.case_id == last.c.case_id,
                            CaseEvent.seq == last.c.seq)))
    return {row.case_id: (row.seq, row.hash) for row in rows}


def link(case: Case, kind: str, *, head: tuple[int, str] | None, actor_id: str | None,
         data: dict[str, Any] | None = None, client_id: str | None = None,
         at: datetime | None = None) -> CaseEvent:
    """The event after `head` (None: the first), added to the session unflushed. For a
    caller that holds the case's row lock and read the head itself (the sweep, by batch)."""
    event = CaseEvent(**event_row(case, kind, head=head, actor_id=actor_id, data=data,
                                  client_id=client_id, at=at))
    db.session.add(event)
    return event


def event_row(case: Case, kind: str, *, head: tuple[int, str] | None, actor_id: str | None,
              data: dict[str, Any] | None = None, client_id: str | None = None,
              at: datetime | None = None) -> dict[str, Any]:
    """The columns of the event after `head` (None: the first), its link made here."""
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    at = at or utcnow()
    data = json.loads(json.dumps(data or {}, default=str))
    return {"case_id": case.id, "seq": seq, "at": at, "kind": kind, "actor_id": actor_id,
            "data": data, "version": case.version, "client_id": client_id, "prev_hash": prev,
            "hash": event_hash(prev, case.id, seq, at, kind, actor_id, data, case.version)}


def first_event_row(case: Case, kind: str, *, actor_id: str | None, at: datetime,
                    data: dict[str, Any]) -> dict[str, Any]:
    """A new case's first event as a row (its chain starts at genesis: no head to read),
    for a caller inserting many cases' first events at once (core.bulk)."""
    return event_row(case, kind, head=None, actor_id=actor_id, data=data, at=at)


def events(case_id: str, *, kinds: tuple[str, ...] | None = None,
           after_version: int | None = None) -> list[CaseEvent]:
    query = sa.select(CaseEvent).where(CaseEvent.case_id == case_id)
    if kinds:
        query = query.where(CaseEvent.kind.in_(kinds))
    if after_version is not None:
        query = query.where(CaseEvent.version > after_version)
    return list(db.session.scalars(query.order_by(CaseEvent.seq)))


def chain_problems(case_id: str | None = None) -> Iterator[tuple[str, int, str]]:
    """Every event that does not hold, (case_id, seq, why), each case's chain (one case's
    when `case_id` is given) in order. Each event is checked against its own stored link,
    so one altered event does not hide another after it; a row that cannot be read (a
    malformed data column) is named rather than stopping the check.

    Streams every event once, in chain order: memory stays flat however many cases."""
    current, prev, expected_seq = None, GENESIS, 1
    query = sa.select(CaseEvent.case_id, CaseEvent.seq, CaseEvent.at, CaseEvent.kind,
                      CaseEvent.actor_id, rows.json_text(CaseEvent.data), CaseEvent.version,
                      CaseEvent.prev_hash, CaseEvent.hash
                      ).order_by(CaseEvent.case_id, CaseEvent.seq)
    if case_id is not None:
        query = query.where(CaseEvent.case_id == case_id)
    result = db.session.execute(query.execution_options(yield_per=1000))
    try:  # closed even when the caller stops early (a server-side cursor)
        for ev in result:
            if ev.case_id != current:
                current, prev, expected_seq = ev.case_id, GENESIS, 1
            reasons = []
            if ev.seq != expected_seq:
                reasons.append(f"event {expected_seq} expected here (removed or renumbered)")
            if ev.prev_hash != prev:
                reasons.append("does not link to the event before it")
            data, bad = rows.parse(ev.data)
            if bad:
                reasons.append(f"malformed data column: {bad}")
            else:
                try:
                    recomputed = event_hash(ev.prev_hash, ev.case_id, ev.seq, ev.at, ev.kind,
                                            ev.actor_id, data, ev.version)
                except (AttributeError, TypeError, ValueError) as exc:
                    reasons.append(f"unreadable row: {exc}")
                else:
                    if ev.hash != recomputed:
                        reasons.append("its content no longer matches its hash (altered)")
            if reasons:
                yield ev.case_id, ev.seq, "; ".join(reasons)
            prev, expected_seq = ev.hash, ev.seq + 1
    finally:
        result.close()


def verify_chains(case_id: str | None = None) -> Iterator[tuple[str, int]]:
    """(case_id, seq) of every altered, missing or unreadable event."""
    for broken_case, seq, _why in chain_problems(case_id):
        yield broken_case, seq
