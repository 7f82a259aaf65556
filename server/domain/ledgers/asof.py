"""A case's standing as of a moment, from the event log, in set-based SQL.

A case is closed as of `at` when its last status event up to `at` is an approval: a
reopen, or a dissatisfied revisit that sent it back for review, unclosed it. Whether that
approval came before the deadline the case had then is recorded on the approval event
(`on_time`, cases.lifecycle). The log is the source of truth for every past moment.
`cases.status` and `closed_on_time` are today's copy of it, kept by the lifecycle: a case
with no status event after `at` stands at `at` as it stands today, so only the cases that
changed since (few, for a recent `at`) are worked out from their events (`current`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from server.models import Case, CaseEvent

CLOSING = ("approved",)
# Events that take a closed case out of "closed". A context that unclosed a case with an
# event of its own kind would add it here.
UNCLOSING = ("reopened", "revisit_dissatisfied")
STATUS_KINDS = CLOSING + UNCLOSING

# A status event packed as seq * 4 + code, so one MAX per case finds the last one and what
# it was: an approval on time, late or without a deadline, or an unclosing event.
LATE, ON_TIME, NO_DEADLINE, UNCLOSED = 0, 1, 2, 3


def _status_events(at: datetime) -> list[sa.ColumnElement[bool]]:
    return [CaseEvent.kind.in_(STATUS_KINDS), CaseEvent.at <= at]


def standing(case_ids: sa.Select, at: datetime) -> sa.Subquery:
    """The event log alone: per case of `case_ids` with a status event by `at`, `last`,
    its last one packed (seq * 4 + code)."""
    return (sa.select(CaseEvent.case_id,
                      sa.func.max(CaseEvent.seq * 4 + _code_of(CaseEvent)).label("last"))
            .where(*_status_events(at), CaseEvent.case_id.in_(case_ids))
            .group_by(CaseEvent.case_id).subquery("standing"))


def closed(last: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
    """SQL: the last status event by `at` is an approval."""
    return sa.and_(last.is_not(None), last % 4 != UNCLOSED)


def verdict(last: sa.ColumnElement[int]) -> sa.ColumnElement[int]:
    return last % 4


def changed_since(at: datetime, where: list[sa.ColumnElement[bool]]) -> sa.Subquery:
    """The cases (of those `where` picks) whose status changed after `at`
    (ix_case_events_kind_at), each with its last status event by `at` (an index probe per
    case, ix_case_events_case_id_kind): few for a recent `at`."""
    later = (sa.select(CaseEvent.case_id).join(Case, Case.id == CaseEvent.case_id)
             .where(CaseEvent.kind.in_(STATUS_KINDS), CaseEvent.at > at, *where)
             .group_by(CaseEvent.case_id).subquery("later"))
    past = aliased(CaseEvent)
    last = (sa.select(sa.func.max(past.seq * 4 + _code_of(past)))
            .where(past.case_id == later.c.case_id, past.kind.in_(STATUS_KINDS),
                   past.at <= at).scalar_subquery())
    return sa.select(later.c.case_id, last.label("last")).subquery("changed")


def _code_of(ev: Any) -> sa.ColumnElement[int]:
    on_time = ev.data["on_time"].as_boolean()
    return sa.case((ev.kind.in_(UNCLOSING), UNCLOSED), (on_time.is_(None), NO_DEADLINE),
                   (on_time, ON_TIME), else_=LATE)


def current(at: datetime, where: list[sa.ColumnElement[bool]]
            ) -> tuple[sa.Subquery, sa.ColumnElement[bool], sa.ColumnElement[int]]:
    """The subquery to outer-join to `cases` on `case_id` and, over it, SQL for "closed
    as of `at`" and for the closing approval's verdict: today's columns for a case that
    has not changed since `at`, its last status event by `at` for one that has."""
    changed = changed_since(at, where)
    same = changed.c.case_id.is_(None)
    is_closed = sa.or_(sa.and_(same, Case.status == "closed"),
                       sa.and_(~same, closed(changed.c.last)))
    today = sa.case((Case.closed_on_time.is_(True), ON_TIME),
                    (Case.closed_on_time.is_(False), LATE), else_=NO_DEADLINE)
    return changed, is_closed, sa.case((same, today), else_=verdict(changed.c.last))
