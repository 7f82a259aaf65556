"""A case's standing as of a moment, from the event log, in set-based SQL.

A case is closed as of `at` when its last status event up to `at` is an approval: a
reopen, or a dissatisfied revisit that sent it back for review, unclosed it. Whether that
approval came before the deadline the case had then is recorded on the approval event
(`on_time`, cases.lifecycle). The log is the source of truth for every past moment.
`cases.status` and `closed_on_time` are today's copy of it, kept by the lifecycle with
`closure_changed_at`, when the last of those events happened: a case whose closure has not
changed since `at` stands at `at` as it stands today, so only the cases changed since
(few, for a recent `at`) are worked out from their events (`code_at`), one index probe
each, inside the one pass over the period's cases."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from server.domain.cases.lifecycle import CLOSING_EVENTS as CLOSING
from server.domain.cases.lifecycle import UNCLOSING_EVENTS as UNCLOSING
from server.models import Case, CaseEvent

STATUS_KINDS = CLOSING + UNCLOSING

# A status event packed as seq * 4 + code, so one MAX per case finds the last one and what
# it was: an approval on time, late or without a deadline, or an unclosing event.
LATE, ON_TIME, NO_DEADLINE, UNCLOSED = 0, 1, 2, 3
CLOSED = (LATE, ON_TIME, NO_DEADLINE)


def _status_events(at: datetime, ev: Any = CaseEvent) -> list[sa.ColumnElement[bool]]:
    return [ev.kind.in_(STATUS_KINDS), ev.at <= at]


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


def _code_of(ev: Any) -> sa.ColumnElement[int]:
    on_time = ev.data["on_time"].as_boolean()
    return sa.case((ev.kind.in_(UNCLOSING), UNCLOSED), (on_time.is_(None), NO_DEADLINE),
                   (on_time, ON_TIME), else_=LATE)


def code_at(at: datetime) -> sa.ColumnElement[int]:
    """SQL over a `cases` row: its standing as of `at` (LATE, ON_TIME or NO_DEADLINE when
    closed then, else UNCLOSED). Today's columns when its closure has not changed since
    `at`; else its last status event by `at`: its seq from ix_case_events_status alone,
    then that one event by (case_id, seq) for its kind and verdict. A CASE runs those
    subqueries only for the few rows changed since `at`."""
    today = sa.case((Case.status != "closed", UNCLOSED),
                    (Case.closed_on_time.is_(True), ON_TIME),
                    (Case.closed_on_time.is_(False), LATE), else_=NO_DEADLINE)
    ev, last = aliased(CaseEvent), aliased(CaseEvent)
    last_seq = (sa.select(sa.func.max(last.seq))
                .where(last.case_id == Case.id, *_status_events(at, last))
                .correlate(Case).scalar_subquery())
    then = (sa.select(_code_of(ev)).where(ev.case_id == Case.id, ev.seq == last_seq)
            .correlate(Case).scalar_subquery())
    unchanged = sa.or_(Case.closure_changed_at.is_(None), Case.closure_changed_at <= at)
    return sa.case((unchanged, today), else_=sa.func.coalesce(then, UNCLOSED))
