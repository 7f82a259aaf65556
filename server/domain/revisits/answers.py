"""Each case's latest revisit answer, packed so one MAX finds it, and the case's copy of
it (kept for ledgers.stats: the satisfaction rates as of any moment).

An answer is packed with the time the server received its revisit: whole seconds * 4 +
code, so the greatest is the latest answer and what it was (two in one second: the worse
one)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from server.extensions import db
from server.models import Case, Revisit

ANSWER_CODES = {"satisfied": 0, "basically_satisfied": 1, "dissatisfied": 2}
OTHER = 3


def packed(revisit: Any = Revisit) -> sa.ColumnElement[int]:
    """SQL: a revisit's answer packed with its received time (migration 0025 writes the
    same expression for the cases it fills)."""
    code = sa.case(*((revisit.satisfaction == k, v) for k, v in ANSWER_CODES.items()),
                   else_=OTHER)
    return sa.cast(sa.extract("epoch", revisit.received_at), sa.BigInteger) * 4 + code


def keep_latest(case_id: str) -> None:
    """A helper (no commit): after a revisit's answer is recorded or changes, the case's
    `last_answer` and `last_answer_at` worked out again from its answered revisits. A
    plain UPDATE: the case's version, which phones hold, is not the revisits' to move."""
    db.session.flush()
    answered = [Revisit.case_id == Case.id, Revisit.satisfaction.is_not(None)]
    db.session.execute(
        sa.update(Case).where(Case.id == case_id).values(
            last_answer=sa.select(sa.func.max(packed())).where(*answered).scalar_subquery(),
            last_answer_at=sa.select(sa.func.max(Revisit.received_at)).where(*answered)
            .scalar_subquery())
        .execution_options(synchronize_session=False))
