"""The one place that decides what a user may see, and what "open" means.

A user sees the cases of their units and of the units below them (one recursive query a
transaction, remembered for its length, or worked out inside the one statement that needs
it: `Scoped`), plus the cases their units co-handle (协办).
Every read and write of a case, visit or evidence goes through these helpers, and so does
an admin's act on a person (get_person).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import lazyload

from server.domain.core.errors import NotFound
from server.domain.core.vocab import OPEN_STATUSES
from server.extensions import db
from server.models import Case, CaseUnit, Unit, User, user_units


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


def _unit_tree(roots: sa.ColumnElement[bool], name: str = "tree") -> sa.CTE:
    """The units `roots` selects and every unit below them (a recursive CTE)."""
    tree = sa.select(Unit.id).where(roots).cte(name, recursive=True)
    return tree.union(sa.select(Unit.id).join(tree, Unit.parent_id == tree.c.id))


def _with_total(tree: sa.CTE) -> sa.Select:
    """The tree's units, each with how many units there are in all."""
    return sa.select(tree.c.id, sa.select(sa.func.count()).select_from(Unit).scalar_subquery())


# Built once (with the roots a parameter): building the recursive statement anew on every
# request cost more CPU than running it. A user's own units come from the membership
# table in the same statement: the session's lookup need not load them.
_USERS_ROOTS = Unit.id.in_(sa.select(user_units.c.unit_id)
                           .where(user_units.c.user_id == sa.bindparam("scope_user")))
_SUBTREE = _with_total(_unit_tree(Unit.id.in_(sa.bindparam("roots", expanding=True))))
_USERS_SUBTREE = _with_total(_unit_tree(_USERS_ROOTS))
# The user's tree as a part of another statement (IN_USERS_UNITS, below).
_USERS_TREE = _unit_tree(_USERS_ROOTS, "users_tree")


def _subtree(unit_ids: Iterable[str]) -> tuple[frozenset[str], int]:
    """These units and every unit below them, and how many units there are in all (one
    query)."""
    roots = list(unit_ids)
    if not roots:
        return frozenset(), -1
    return _tree(db.session.execute(_SUBTREE, {"roots": roots}).all())


def _tree(rows: list[sa.Row]) -> tuple[frozenset[str], int]:
    return frozenset(row[0] for row in rows), (rows[0][1] if rows else -1)


def unit_and_above(unit_id: str) -> frozenset[str]:
    """The unit and every unit it reports to: whoever belongs to one of these covers it."""
    chain = sa.select(Unit.id, Unit.parent_id).where(Unit.id == unit_id).cte(
        "chain", recursive=True)
    chain = chain.union(sa.select(Unit.id, Unit.parent_id)
                        .join(chain, Unit.id == chain.c.parent_id))
    return frozenset(db.session.scalars(sa.select(chain.c.id)))


def _memo() -> dict[str, tuple[frozenset[str], int]]:
    """Each user's units, remembered for the transaction (uow.forget_caches drops them)."""
    return db.session.info.setdefault("fieldcase.scope", {})


def _scope(user: User) -> tuple[frozenset[str], int]:
    memo = _memo()
    if user.id not in memo:
        memo[user.id] = _tree(db.session.execute(_USERS_SUBTREE,
                                                 {"scope_user": user.id}).all())
    return memo[user.id]


def visible_unit_ids(user: User) -> frozenset[str]:
    return _scope(user)[0]


def sees_everything(user: User) -> bool:
    """Every unit is the user's (the district office)."""
    units, total = _scope(user)
    return len(units) == total


def _in_units(units: Any) -> sa.ColumnElement[bool]:
    """SQL, the rule itself: the case is led by one of `units` or co-handled (协办) by one
    (`units`: ids, a parameter or a subquery)."""
    return sa.or_(Case.unit_id.in_(units),
                  Case.id.in_(sa.select(CaseUnit.case_id).where(CaseUnit.unit_id.in_(units))))


def visible_clause(user: User) -> sa.ColumnElement[bool]:
    if sees_everything(user):
        # Every unit is theirs (the district office): every case is visible, and the
        # board's and lists' statements stay short, with nothing to filter.
        return sa.true()
    return _in_units(visible_unit_ids(user))


def lead_clause(user: User) -> sa.ColumnElement[bool]:
    """SQL: the cases the user's units lead (the case's own unit is theirs or below it):
    `visible_clause` without the cases they only co-handle (协办), which they see but do
    not act on for the lead unit."""
    return sa.true() if sees_everything(user) else Case.unit_id.in_(visible_unit_ids(user))


# visible_clause for statements built once, in two forms: the units a parameter
# ("units", the transaction knows them already), or worked out by the statement itself
# from the user's memberships ("scope_user"), which spares a request that asks once (a
# photo's declaration, its completion) the unit tree's own query.
IN_UNITS = _in_units(sa.bindparam("units", expanding=True))
IN_USERS_UNITS = _in_units(sa.select(_USERS_TREE.c.id))


class Scoped:
    """A statement built once in its three forms: unfiltered (for who sees every case),
    filtered by IN_UNITS and by IN_USERS_UNITS; `for_user` picks one and its parameters."""

    def __init__(self, query: sa.Select) -> None:
        self.everything, self.units, self.tree = (
            query, query.where(IN_UNITS), query.where(IN_USERS_UNITS))

    def for_user(self, user: User) -> tuple[sa.Select, dict[str, object]]:
        memo = _memo()
        if user.id not in memo:
            return self.tree, {"scope_user": user.id}
        if sees_everything(user):
            return self.everything, {}
        return self.units, {"units": list(visible_unit_ids(user))}


_CASE_BY_ID = sa.select(Case).where(Case.id == sa.bindparam("case_id"))


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
    query, params = _case_query(for_update, row_lock_only, light).for_user(user)
    case = db.session.scalar(query, {"case_id": case_id, **params})
    if case is None:
        raise NotFound("case.not_found", "No such case.")
    if for_update:
        db.session.refresh(case)  # the locked row, not an identity-map copy read before
    return case


@functools.cache
def _case_query(for_update: bool, row_lock_only: bool, light: bool) -> Scoped:
    """get_case's statement, built once for each kind (one built on every call had its
    cache key worked out anew each time)."""
    query = _CASE_BY_ID
    if for_update:
        query = query.with_for_update(of=Case)
        if row_lock_only:
            query = query.execution_options(row_lock_only=True)
    if light:
        query = query.options(lazyload("*"))
    return Scoped(query)


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
