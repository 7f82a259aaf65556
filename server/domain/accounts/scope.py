"""The one place that decides what a user may see, and what "open" means.

A user sees the cases of their units and of the units below them (one recursive query a
transaction, remembered for its length), plus the cases their units co-handle (协办).
Every read and write of a case, visit or evidence goes through these helpers, and so does
an admin's act on a person (get_person).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import lazyload

from server.domain.core.errors import NotFound
from server.domain.core.vocab import OPEN_STATUSES
from server.extensions import db
from server.models import Case, CaseUnit, Unit, User


def is_open() -> sa.ColumnElement[bool]:
    """SQL: the case is still being handled."""
    return Case.status.in_(OPEN_STATUSES)


def case_is_open(case: Case) -> bool:
    return status_is_open(case.status)


def status_is_open(status: str) -> bool:
    return status in OPEN_STATUSES


def subtree(unit_ids: Iterable[str]) -> frozenset[str]:
    """These units and every unit below them."""
    return _subtree(unit_ids)[0]


def _build_subtree() -> sa.Select:
    tree = (sa.select(Unit.id).where(Unit.id.in_(sa.bindparam("roots", expanding=True)))
            .cte("tree", recursive=True))
    tree = tree.union(sa.select(Unit.id).join(tree, Unit.parent_id == tree.c.id))
    total = sa.select(sa.func.count()).select_from(Unit).scalar_subquery()
    return sa.select(tree.c.id, total)


# Built once (with the roots a parameter): building the recursive statement anew on every
# request cost more CPU than running it.
_SUBTREE = _build_subtree()


def _subtree(unit_ids: Iterable[str]) -> tuple[frozenset[str], int]:
    """These units and every unit below them, and how many units there are in all (one
    query)."""
    roots = list(unit_ids)
    if not roots:
        return frozenset(), -1
    rows = db.session.execute(_SUBTREE, {"roots": roots}).all()
    return frozenset(row[0] for row in rows), (rows[0][1] if rows else -1)


def unit_and_above(unit_id: str) -> frozenset[str]:
    """The unit and every unit it reports to: whoever belongs to one of these covers it."""
    chain = sa.select(Unit.id, Unit.parent_id).where(Unit.id == unit_id).cte(
        "chain", recursive=True)
    chain = chain.union(sa.select(Unit.id, Unit.parent_id)
                        .join(chain, Unit.id == chain.c.parent_id))
    return frozenset(db.session.scalars(sa.select(chain.c.id)))


def _scope(user: User) -> tuple[frozenset[str], int]:
    memo = db.session.info.setdefault("fieldcase.scope", {})
    if user.id not in memo:
        memo[user.id] = _subtree(u.id for u in user.units)
    return memo[user.id]


def visible_unit_ids(user: User) -> frozenset[str]:
    return _scope(user)[0]


def sees_everything(user: User) -> bool:
    """Every unit is the user's (the district office)."""
    units, total = _scope(user)
    return len(units) == total


def visible_clause(user: User) -> sa.ColumnElement[bool]:
    units = visible_unit_ids(user)
    if sees_everything(user):
        # Every unit is theirs (the district office): every case is visible, and the
        # board's and lists' statements stay short, with nothing to filter.
        return sa.true()
    co_handled = sa.select(CaseUnit.case_id).where(CaseUnit.unit_id.in_(units))
    return sa.or_(lead_clause(user), Case.id.in_(co_handled))


def lead_clause(user: User) -> sa.ColumnElement[bool]:
    """SQL: the cases the user's units lead (the case's own unit is theirs or below it):
    `visible_clause` without the cases they only co-handle (协办), which they see but do
    not act on for the lead unit."""
    return sa.true() if sees_everything(user) else Case.unit_id.in_(visible_unit_ids(user))


# One case by id, if the user may see it (get_case's statement), built once with its
# units a parameter; `case_visible` for those who see every unit.
_UNITS = sa.bindparam("units", expanding=True)
# visible_clause with the units a parameter ("units"): for statements built once.
IN_UNITS = sa.or_(Case.unit_id.in_(_UNITS),
                  Case.id.in_(sa.select(CaseUnit.case_id).where(CaseUnit.unit_id.in_(_UNITS))))
_CASE_BY_ID = sa.select(Case).where(Case.id == sa.bindparam("case_id"))
_CASE_IN_UNITS = _CASE_BY_ID.where(IN_UNITS)


def scope_params(user: User) -> dict[str, object] | None:
    """The parameters of IN_UNITS for this user; None when they see every case."""
    return None if sees_everything(user) else {"units": list(visible_unit_ids(user))}


def units_seeing(case_ids: Iterable[str]) -> dict[str, frozenset[str]]:
    """For each case, the units whose people see it: the same rule as `visible_clause`
    read the other way (the case's unit and the units co-handling it, and every unit above
    those). One query, for a webhook's unit, which has no user to ask about."""
    wanted = list(set(case_ids))
    if not wanted:
        return {}
    seeds = sa.union(
        sa.select(Case.id.label("case_id"), Case.unit_id.label("unit_id"))
        .where(Case.id.in_(wanted)),
        sa.select(CaseUnit.case_id, CaseUnit.unit_id).where(CaseUnit.case_id.in_(wanted)),
    ).subquery("seeds")
    seen = sa.select(seeds.c.case_id, seeds.c.unit_id).cte("seen", recursive=True)
    seen = seen.union(sa.select(seen.c.case_id, Unit.parent_id)
                      .join(Unit, Unit.id == seen.c.unit_id)
                      .where(Unit.parent_id.is_not(None)))
    out: dict[str, set[str]] = {}
    for case_id, unit_id in db.session.execute(sa.select(seen.c.case_id, seen.c.unit_id)):
        out.setdefault(case_id, set()).add(unit_id)
    return {case_id: frozenset(units) for case_id, units in out.items()}


def cases_query(user: User) -> sa.Select:
    return sa.select(Case).where(visible_clause(user))


def get_case(user: User, case_id: str, *, for_update: bool = False,
             light: bool = False, row_lock_only: bool = False) -> Case:
    """The case if the user may see it; otherwise the same 404 as a case that does not
    exist, so ids from other units reveal nothing. `for_update` locks its row so a
    command's read-decide-write is not interleaved with another's (on SQLite, the
    database's writer lock). `row_lock_only`: no lock where the row's would be the whole
    database's (SQLite), for a command that writes to the object store under it (the
    approval's seal); the case's version still refuses a concurrent change at its write.
    `light`: the case's row alone, its relationships loaded only if read (a photo's
    declaration reads none of them)."""
    params: dict[str, object] = {"case_id": case_id}
    if sees_everything(user):
        query = _CASE_BY_ID
    else:
        query, params["units"] = _CASE_IN_UNITS, list(visible_unit_ids(user))
    if for_update:
        query = query.with_for_update(of=Case)
        if row_lock_only:
            query = query.execution_options(row_lock_only=True)
    if light:
        query = query.options(lazyload("*"))
    case = db.session.scalar(query, params)
    if case is None:
        raise NotFound("case.not_found", "No such case.")
    if for_update:
        db.session.refresh(case)  # the locked row, not an identity-map copy read before
    return case


def get_person(viewer: User, user_id: str) -> User:
    """A person the viewer may act on (unlock): every unit of theirs is the viewer's, as a
    person who also works for another street is that street's too. Anybody else is the
    same 404 as a person who does not exist."""
    person = db.session.get(User, user_id)
    if person is None or not (sees_everything(viewer) or (
            person.units and {u.id for u in person.units} <= visible_unit_ids(viewer))):
        raise NotFound("user.not_found", "No such user.")
    return person


def visible_case_ids(user: User, case_ids: Iterable[str]) -> set[str]:
    """Those of `case_ids` the user may see."""
    wanted = set(case_ids)
    if not wanted:
        return set()
    return set(db.session.scalars(cases_query(user).with_only_columns(Case.id)
                                  .where(Case.id.in_(wanted))))
