"""The one place that decides what a user may see: their units and the units below them.

Every read and write of a case, visit or evidence goes through these helpers.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from server.domain.errors import NotFound
from server.extensions import db
from server.models import Case, Unit, User


def visible_unit_ids(user: User) -> set[str]:
    children: dict[str | None, list[str]] = {}
    for unit_id, parent_id in db.session.execute(sa.select(Unit.id, Unit.parent_id)):
        children.setdefault(parent_id, []).append(unit_id)
    seen: set[str] = set()
    todo = [u.id for u in user.units]
    while todo:
        unit_id = todo.pop()
        if unit_id not in seen:
            seen.add(unit_id)
            todo.extend(children.get(unit_id, []))
    return seen


def cases_query(user: User) -> sa.Select:
    return sa.select(Case).where(Case.unit_id.in_(visible_unit_ids(user)))


def get_case(user: User, case_id: str) -> Case:
    """The case if the user may see it; otherwise the same 404 as a case that does not
    exist, so ids from other units reveal nothing."""
    case = db.session.scalar(cases_query(user).where(Case.id == case_id))
    if case is None:
        raise NotFound("case.not_found", "No such case.")
    return case


def visible_case_ids(user: User, case_ids: Iterable[str]) -> set[str]:
    """Those of `case_ids` the user may see."""
    wanted = set(case_ids)
    if not wanted:
        return set()
    return set(db.session.scalars(cases_query(user).with_only_columns(Case.id)
                                  .where(Case.id.in_(wanted))))
