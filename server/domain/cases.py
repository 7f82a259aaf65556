"""Cases: create, list with filters, read, update."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from server.domain import audit, deadlines, scope
from server.domain.errors import Conflict, Invalid
from server.domain.roles import OFFICE_ROLES, REVEAL_ROLES, require_role
from server.extensions import db
from server.models import Case, Unit, User
from server.models.base import utcnow

EDITABLE = ("channel", "category", "subject", "address", "description", "received_at", "key",
            "external_ref", "unit_id", "lat", "lon", "complainant_name", "complainant_phone")


def _require_office(user: User) -> None:
    require_role(user, OFFICE_ROLES, "case.forbidden",
                 "Only office staff may create or edit cases.")


def _check_unit(user: User, unit_id: str) -> None:
    if db.session.get(Unit, unit_id) is None or unit_id not in scope.visible_unit_ids(user):
        raise Invalid("case.bad_unit", "That responsible unit is not one of yours.",
                      errors={"unit_id": ["Not one of your units."]})


def create_case(user: User, data: dict[str, Any]) -> Case:
    _require_office(user)
    _check_unit(user, data["unit_id"])
    case = Case(created_by=user.id, status="received", **data)
    db.session.add(case)
    db.session.flush()
    audit.append("case.created", "case", case.id, actor_id=user.id,
                 data={"channel": case.channel, "category": case.category,
                       "unit_id": case.unit_id})
    db.session.commit()
    return case


def case_deadline(case: Case | sa.Row, now: datetime) -> deadlines.Deadline | None:
    """The case's deadline at `now` (a Case, or a row with its status, channel,
    received_at and key); a closed case has none."""
    if case.status == "closed":
        return None
    return deadlines.deadline_for(case.channel, case.received_at, now, key=bool(case.key))


def _urgency(row: tuple[str, bool, deadlines.Deadline | None]) -> tuple:
    _id, key, deadline = row
    if deadline is None:
        return (1,)
    return (0, deadline.due_at, not key)


def list_cases(user: User, *, status: str | None = None, category: str | None = None,
               channel: str | None = None, unit: str | None = None, q: str | None = None,
               is_open: bool | None = None, colour: str | None = None,
               sort: str = "received", now: datetime | None = None,
               page: int = 1, per_page: int = 20) -> tuple[list[Case], int]:
    """One page of the user's cases and the total matching.

    The SQL filters come first. Colour and due date follow from the deadline rules (data,
    not SQL), so with `colour` or `sort="due"` the matching cases' few columns are read,
    filtered and ordered here, and only the page's cases are loaded; `total` and paging
    then count the same list. `sort="received"` is newest first; `sort="due"` is the most
    urgent first (earliest due_at, key cases first among equals), cases without a deadline
    (closed) last, newest first.
    """
    query = scope.cases_query(user)
    if status:
        query = query.where(Case.status == status)
    if is_open is not None:
        query = query.where(Case.status != "closed" if is_open else Case.status == "closed")
    if category:
        query = query.where(Case.category == category)
    if channel:
        query = query.where(Case.channel == channel)
    if unit:
        query = query.where(Case.unit_id == unit)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(sa.or_(Case.subject.ilike(like), Case.address.ilike(like),
                                   Case.description.ilike(like), Case.external_ref.ilike(like)))
    newest_first = (Case.received_at.desc(), Case.id)
    if colour is None and sort == "received":
        total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
        items = db.session.scalars(query.order_by(*newest_first)
                                   .limit(per_page).offset((page - 1) * per_page)).all()
        return list(items), total or 0

    if colour is not None:
        query = query.where(Case.status != "closed")  # only open cases have a colour
    now = now or utcnow()
    light = query.with_only_columns(Case.id, Case.channel, Case.received_at, Case.key,
                                    Case.status).order_by(*newest_first)
    rows: list[tuple[str, bool, deadlines.Deadline | None]] = []  # newest first
    for row in db.session.execute(light):
        deadline = case_deadline(row, now)
        if colour is None or (deadline is not None and deadline.colour == colour):
            rows.append((row.id, bool(row.key), deadline))
    if sort == "due":
        rows.sort(key=_urgency)  # stable: equals keep the newest-first order read above
    page_ids = [r[0] for r in rows[(page - 1) * per_page:page * per_page]]
    loaded = {c.id: c for c in db.session.scalars(sa.select(Case).where(Case.id.in_(page_ids)))}
    return [loaded[i] for i in page_ids if i in loaded], len(rows)


def update_case(user: User, case_id: str, changes: dict[str, Any], version: int) -> Case:
    _require_office(user)
    case = scope.get_case(user, case_id)
    if case.version != version:
        raise Conflict("case.version_conflict",
                       "Someone changed this case since you opened it; reload and retry.",
                       extra={"current_version": case.version})
    if "unit_id" in changes:
        _check_unit(user, changes["unit_id"])
    changed = {k: v for k, v in changes.items() if k in EDITABLE and getattr(case, k) != v}
    for key, value in changed.items():
        setattr(case, key, value)
    if not changed:
        return case
    try:
        # The versioned UPDATE goes out here, before the audit entry (whose own flush
        # would otherwise raise this inside audit.append).
        db.session.flush()
    except StaleDataError as exc:  # a concurrent writer won between read and write
        db.session.rollback()
        raise Conflict("case.version_conflict",
                       "Someone changed this case at the same time; reload and retry.") from exc
    audit.append("case.updated", "case", case.id, actor_id=user.id,
                 data={"fields": sorted(changed)})
    db.session.commit()
    return case


def reveal_complainant(user: User, case_id: str, reason: str) -> dict[str, str | None]:
    require_role(user, REVEAL_ROLES, "case.reveal_forbidden",
                 "Your role may not see complainants' contact.")
    if len(reason.strip()) < 4:
        raise Invalid("case.reveal_reason", "Say why you need the contact.",
                      errors={"reason": ["A reason is required."]})
    case = scope.get_case(user, case_id)
    audit.append("case.complainant_revealed", "case", case.id, actor_id=user.id,
                 data={"reason": reason.strip()})
    db.session.commit()
    return {"name": case.complainant_name, "phone": case.complainant_phone}

