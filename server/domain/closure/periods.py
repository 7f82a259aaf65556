"""A batch of closure files chosen by closing period (and unit): a month's files at once,
instead of ticking each case. The cases found go to closure_files as a named batch would."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES, require_role
from server.domain.closure.closure_files import MAX_BATCH
from server.domain.core import runtime
from server.domain.core.errors import Invalid
from server.extensions import db
from server.models import Case, User


def closed_in(user: User, first: date, last: date, unit_id: str | None = None) -> list[str]:
    """The cases closed from `first` to `last` (local days, both included), of a unit and
    the units below it if one is named, in the order they were closed: a batch chosen by
    closing period (a month's files) instead of by ticking each case."""
    require_role(user, OFFICE_ROLES, "closure.forbidden",
                 "Closure files are made by the office.")
    if last < first:
        raise Invalid("closure.bad_period", "The period ends before it starts.",
                      errors={"closed_to": ["On or after closed_from."]})
    tz = ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))
    start = datetime.combine(first, time(), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC)
    query = scope.cases_query(user).where(
        Case.status == "closed", Case.closed_at >= start, Case.closed_at < end)
    if unit_id:
        query = query.where(Case.unit_id.in_(scope.subtree([unit_id])))
    ids = list(db.session.scalars(query.with_only_columns(Case.id)
                                  .order_by(Case.closed_at, Case.id).limit(MAX_BATCH + 1)))
    if not ids:
        raise Invalid("closure.none_in_period", "No case you can see was closed in this "
                      "period.", errors={"closed_from": ["No closed case in the period."]})
    if len(ids) > MAX_BATCH:
        raise Invalid("closure.too_many_cases", f"More than {MAX_BATCH} cases were closed "
                      "in this period: choose a shorter period or a unit.",
                      errors={"case": [f"At most {MAX_BATCH}."]})
    return ids
