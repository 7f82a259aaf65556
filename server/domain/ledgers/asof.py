"""A case's standing as of a moment, read from the event log in one set-based pass.

A case is closed as of `at` when its last status event up to `at` is an approval: a
reopen, or a dissatisfied revisit that sent it back for review, unclosed it. Whether that
approval came before the deadline the case had then is recorded on the approval event
(`on_time`, cases.lifecycle). The log is the source of truth for every moment, `at` now
included: `cases.status` and `closed_at` are only today's copy of it."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from server.models import CaseEvent

CLOSING = ("approved",)
# Events that take a closed case out of "closed". A context that unclosed a case with an
# event of its own kind would add it here.
UNCLOSING = ("reopened", "revisit_dissatisfied")
STATUS_KINDS = CLOSING + UNCLOSING

# The approval's verdict on time, packed with its seq so one MAX per case finds the last
# approval and its verdict together: code = seq * 4 + ON_TIME | LATE | NO_DEADLINE.
LATE, ON_TIME, NO_DEADLINE = 0, 1, 2


def _verdict() -> sa.ColumnElement[int]:
    on_time = CaseEvent.data["on_time"].as_boolean()
    return sa.case((on_time.is_(None), NO_DEADLINE), (on_time, ON_TIME), else_=LATE)


def standing(case_ids: sa.Select, at: datetime) -> sa.Subquery:
    """Per case of `case_ids` with a status event by `at`: `close_code` (the last approval
    as seq * 4 + verdict, null for none) and `open_seq` (the last unclosing event's seq)."""
    is_close = CaseEvent.kind.in_(CLOSING)
    return (sa.select(
        CaseEvent.case_id,
        sa.func.max(sa.case((is_close, CaseEvent.seq * 4 + _verdict()))).label("close_code"),
        sa.func.max(sa.case((~is_close, CaseEvent.seq))).label("open_seq"))
        .where(CaseEvent.kind.in_(STATUS_KINDS), CaseEvent.at <= at,
               CaseEvent.case_id.in_(case_ids))
        .group_by(CaseEvent.case_id).subquery("standing"))


def closed(st: sa.Subquery) -> sa.ColumnElement[bool]:
    """SQL: the last status event by `at` is an approval (its seq above any unclosing)."""
    return sa.and_(st.c.close_code.is_not(None),
                   sa.or_(st.c.open_seq.is_(None), st.c.close_code > st.c.open_seq * 4 + 3))


def verdict(st: sa.Subquery) -> sa.ColumnElement[int]:
    return st.c.close_code % 4
