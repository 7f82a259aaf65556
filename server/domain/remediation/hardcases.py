"""Which cases are hard (seed 000: 重复信访事项、信访积案和重点疑难案件), the one rule, in SQL
so lists stay flat however many cases there are:

- repeat: linked (not undone) to a repeat subject on the list (REPEAT_LIST_AT or more);
- backlog (信访积案): open and past its due date by more than BACKLOG_OVERDUE_DAYS;
- difficult (重点疑难): flagged by the office, with why (cleared the same way).

Each kind is a condition on a case's own row (its link by the unique case_id index, its
due date, its flag), so a page of hard cases is read in the list's order from the due_at
index and stops when the page is full; a total past COUNT_CAP is not counted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import hooks, lifecycle
from server.domain.core.errors import Conflict, Forbidden, Invalid
from server.domain.core.runtime import setting
from server.domain.core.uow import command
from server.domain.core.vocab import OPEN_STATUSES
from server.extensions import db
from server.models import (
    Case,
    GroupMember,
    RemediationPlan,
    RepeatLink,
    RepeatSubject,
    Unit,
    User,
)
from server.models.base import utcnow

KINDS = ("repeat", "backlog", "difficult")
REASON_MAX = 2000
# As the case list: counted exactly up to here, "more than" past it.
COUNT_CAP = 1000


# ---- the rule ---------------------------------------------------------------------------
def repeat_clause(entity: Any = Case) -> sa.ColumnElement[bool]:
    """Linked (not undone) to a listed repeat subject."""
    return sa.exists(
        sa.select(RepeatLink.id).join(RepeatSubject, RepeatSubject.id == RepeatLink.subject_id)
        .where(RepeatLink.case_id == entity.id, RepeatLink.state != "undone",
               RepeatSubject.listed_at.is_not(None)))


def backlog_since(now: datetime) -> datetime:
    """A case due before this instant and still open is a backlog case."""
    return now - timedelta(days=setting("BACKLOG_OVERDUE_DAYS"))


def backlog_clause(now: datetime, entity: Any = Case) -> sa.ColumnElement[bool]:
    # due_at set: never NULL inside the OR (a NOT of the rule must be true or false).
    return sa.and_(entity.status.in_(OPEN_STATUSES), entity.due_at.is_not(None),
                   entity.due_at < backlog_since(now))


def difficult_clause(entity: Any = Case) -> sa.ColumnElement[bool]:
    return entity.hard_flagged_at.is_not(None)


def kind_clause(kind: str, now: datetime, entity: Any = Case) -> sa.ColumnElement[bool]:
    if kind == "repeat":
        return repeat_clause(entity)
    if kind == "backlog":
        return backlog_clause(now, entity)
    return difficult_clause(entity)


def hard_clause(now: datetime, kinds: tuple[str, ...] = KINDS,
                entity: Any = Case) -> sa.ColumnElement[bool]:
    """The case is hard (of one of `kinds`)."""
    return sa.or_(*(kind_clause(k, now, entity) for k in kinds))


@hooks.hard_case_clause.register
def _hard_case_clause(now: datetime) -> sa.ColumnElement[bool]:
    return hard_clause(now)


def kind_columns(now: datetime) -> list[sa.ColumnElement[bool]]:
    """Each kind as a column of a row of cases (for a page of them: small)."""
    return [sa.case((kind_clause(k, now), sa.true()), else_=sa.false()).label(f"k_{k}")
            for k in KINDS]


def kinds_of(case: Case, now: datetime | None = None) -> list[str]:
    """Why this case is hard (empty: it is not)."""
    now = now or utcnow()
    row = db.session.execute(sa.select(*kind_columns(now)).where(Case.id == case.id)).one()
    return [k for k, hit in zip(KINDS, row, strict=True) if hit]


def is_hard(case: Case, now: datetime | None = None) -> bool:
    return bool(kinds_of(case, now))


def require_hard(case: Case, what: str) -> list[str]:
    kinds = kinds_of(case)
    if not kinds:
        raise Invalid("remediation.not_hard", f"Only a hard case (a repeat, backlog or "
                      f"difficult case) takes {what}.", extra={"case_id": case.id})
    return kinds


# ---- who decides --------------------------------------------------------------------------
def office_case(user: User, case_id: str, *, for_update: bool = True) -> Case:
    """The case, for an office user of its unit or above (404 outside scope, 403 for a
    role not the office's or a unit that only co-handles it)."""
    require_role(user, OFFICE_ROLES, "remediation.forbidden",
                 "Only the office of the case's unit or above decides on hard cases.")
    case = scope.get_case(user, case_id, for_update=for_update)
    if "lead" not in lifecycle.relations(user, case):
        raise Forbidden("remediation.not_responsible", "Only the office of the case's unit "
                        "or above decides on hard cases; a co-handling unit does not.")
    return case


# ---- the difficult flag --------------------------------------------------------------------
def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("remediation.reason_required", "Say why.",
                      errors={"reason": ["Required."]})
    if len(reason) > REASON_MAX:
        raise Invalid("remediation.reason_required", "Say why, more briefly.",
                      errors={"reason": [f"At most {REASON_MAX} characters."]})
    return reason


@command
def flag(user: User, case_id: str, reason: str) -> Case:
    """The office marks a case difficult (重点疑难) with why. Open cases; a retry with the
    same reason changes nothing, another reason replaces it (both on the timeline)."""
    case = office_case(user, case_id)
    lifecycle.require_open(case, "a difficult flag")
    reason = _reason(reason)
    if case.hard_flagged_at is not None and case.hard_reason == reason:
        return case
    now = utcnow()
    was = case.hard_reason
    case.hard_flagged_at, case.hard_flagged_by, case.hard_reason = now, user.id, reason
    case.updated_at = now
    db.session.flush()
    data = {"reason": reason, **({"previous": was} if was else {})}
    timeline.append(case, "hard_case_flagged", actor_id=user.id, at=now, data=data)
    audit.append("case.hard_flagged", "case", case.id, actor_id=user.id, data=data)
    return case


@command
def unflag(user: User, case_id: str, reason: str) -> Case:
    """The office clears the difficult flag, saying why (a plan and a group stay: the
    case may still be hard for another reason, and the history is the record)."""
    case = office_case(user, case_id)
    lifecycle.require_open(case, "a change of the difficult flag")
    reason = _reason(reason)
    if case.hard_flagged_at is None:
        raise Conflict("remediation.not_flagged", "This case is not flagged difficult.")
    now = utcnow()
    data = {"reason": reason, "previous": case.hard_reason}
    case.hard_flagged_at = case.hard_flagged_by = case.hard_reason = None
    case.updated_at = now
    db.session.flush()
    timeline.append(case, "hard_case_unflagged", actor_id=user.id, at=now, data=data)
    audit.append("case.hard_unflagged", "case", case.id, actor_id=user.id, data=data)
    return case


# ---- what the case page and the list show -------------------------------------------------
def _names(ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {u.id: u.display_name or u.username for u in db.session.scalars(
        sa.select(User).where(User.id.in_(ids)))}


def case_hardness(user: User, case_id: str) -> dict[str, Any]:
    """The case's hard-case facts as its page shows them."""
    case = scope.get_case(user, case_id)
    kinds = kinds_of(case)
    flagger = _names({case.hard_flagged_by} if case.hard_flagged_by else set())
    return {"case_id": case.id, "hard": bool(kinds), "kinds": kinds,
            "flag": {"reason": case.hard_reason, "at": case.hard_flagged_at,
                     "by": {"id": case.hard_flagged_by,
                            "name": flagger.get(case.hard_flagged_by, "")}}
            if case.hard_flagged_at else None,
            "due_at": case.due_at,
            "backlog_days": setting("BACKLOG_OVERDUE_DAYS"),
            "may_decide": user.role in OFFICE_ROLES
            and "lead" in lifecycle.relations(user, case)}


def list_hard(user: User, *, kind: str | None = None, has_plan: bool | None = None,
              page: int = 1, per_page: int = 20, now: datetime | None = None
              ) -> tuple[list[dict[str, Any]], int]:
    """One page of the hard cases the user sees, most urgent first (the earliest due, then
    those with no due date, newest first), with why each is hard, its leader, its plan's
    status and its group's size; and how many there are, up to COUNT_CAP + 1."""
    now = now or utcnow()
    query = scope.cases_query(user).where(hard_clause(now, (kind,) if kind else KINDS))
    has = sa.exists().where(RemediationPlan.case_id == Case.id)
    if has_plan is not None:
        query = query.where(has if has_plan else ~has)
    counted = query.with_only_columns(Case.id).limit(COUNT_CAP + 1).subquery()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(counted)) or 0
    plan = (sa.select(RemediationPlan.status).where(RemediationPlan.case_id == Case.id)
            .scalar_subquery())
    deadline = (sa.select(RemediationPlan.deadline)
                .where(RemediationPlan.case_id == Case.id).scalar_subquery())
    members = (sa.select(sa.func.count()).select_from(GroupMember)
               .where(GroupMember.case_id == Case.id,
                      sa.or_(Case.leader_id.is_(None), GroupMember.user_id != Case.leader_id))
               .scalar_subquery())
    # The page's ids first, in the list's order (the due_at index, stopping at the page's
    # end); its columns for those rows only.
    ids = [row[0] for row in db.session.execute(
        query.with_only_columns(Case.id)
        .order_by(Case.due_at.asc().nulls_last(), Case.received_at.desc(), Case.id)
        .limit(per_page).offset((page - 1) * per_page))]
    if not ids:
        return [], total
    # Columns, not Case objects: no relationships loaded for a list row.
    found = {row.id: row for row in db.session.execute(
        sa.select(Case.id, Case.subject, Case.address, Case.status, Case.unit_id,
                  Unit.name.label("unit_name"), Case.received_at, Case.due_at,
                  Case.hard_reason, Case.leader_id, Case.leader, *kind_columns(now),
                  plan.label("plan_status"), deadline.label("plan_deadline"),
                  members.label("members"))
        .join(Unit, Unit.id == Case.unit_id).where(Case.id.in_(ids)))}
    rows = [found[i] for i in ids if i in found]
    leaders = _names({r.leader_id for r in rows if r.leader_id})
    items = []
    for row in rows:
        kinds = [k for k in KINDS if getattr(row, f"k_{k}")]
        items.append({
            "id": row.id, "subject": row.subject, "address": row.address,
            "status": row.status, "unit": {"id": row.unit_id, "name": row.unit_name},
            "received_at": row.received_at, "due_at": row.due_at, "kinds": kinds,
            "hard_reason": row.hard_reason,
            "leader": {"id": row.leader_id, "name": leaders.get(row.leader_id, "")}
            if row.leader_id else ({"id": None, "name": row.leader} if row.leader else None),
            "plan": {"status": row.plan_status, "deadline": row.plan_deadline}
            if row.plan_status else None,
            "group_size": (1 if row.leader_id else 0) + (row.members or 0)})
    return items, total
