"""Cases: create, list with filters, read, update."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from server.domain import audit, scope
from server.domain.errors import Conflict, Forbidden, Invalid
from server.extensions import db
from server.models import Case, Unit, User

OFFICE_ROLES = ("reviewer", "admin")
# Who may ask to see a complainant's contact (to call them back), with a logged reason.
REVEAL_ROLES = ("revisit", "reviewer", "admin")
EDITABLE = ("channel", "category", "subject", "address", "description", "received_at", "key",
            "external_ref", "unit_id", "lat", "lon", "complainant_name", "complainant_phone")


def _require_office(user: User) -> None:
    if user.role not in OFFICE_ROLES:
        raise Forbidden("case.forbidden", "Only office staff may create or edit cases.")


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


def list_cases(user: User, *, status: str | None = None, category: str | None = None,
               channel: str | None = None, unit: str | None = None, q: str | None = None,
               page: int = 1, per_page: int = 20) -> tuple[list[Case], int]:
    query = scope.cases_query(user)
    if status:
        query = query.where(Case.status == status)
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
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    items = db.session.scalars(query.order_by(Case.received_at.desc(), Case.id)
                               .limit(per_page).offset((page - 1) * per_page)).all()
    return list(items), total or 0


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
    audit.append("case.updated", "case", case.id, actor_id=user.id,
                 data={"fields": sorted(changed)})
    try:
        db.session.commit()
    except StaleDataError as exc:  # a concurrent writer won between read and commit
        db.session.rollback()
        raise Conflict("case.version_conflict",
                       "Someone changed this case at the same time; reload and retry.") from exc
    return case


def reveal_complainant(user: User, case_id: str, reason: str) -> dict[str, str | None]:
    if user.role not in REVEAL_ROLES:
        raise Forbidden("case.reveal_forbidden", "Your role may not see complainants' contact.")
    if len(reason.strip()) < 4:
        raise Invalid("case.reveal_reason", "Say why you need the contact.",
                      errors={"reason": ["A reason is required."]})
    case = scope.get_case(user, case_id)
    audit.append("case.complainant_revealed", "case", case.id, actor_id=user.id,
                 data={"reason": reason.strip()})
    db.session.commit()
    return {"name": case.complainant_name, "phone": case.complainant_phone}

