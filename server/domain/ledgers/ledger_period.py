"""What every ledger asks first: who may take it out, over which period and which units,
and how its title names them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import LEADER_ROLES, OFFICE_ROLES, require_role
from server.domain.core import runtime
from server.domain.core.errors import Invalid, NotFound
from server.extensions import db
from server.models import Unit, User

# The office and leaders hand ledgers in (each over their own units, by scope).
READER_ROLES = (*OFFICE_ROLES, *LEADER_ROLES)


def require_reader(user: User) -> None:
    require_role(user, READER_ROLES, "report.forbidden",
                 "Ledgers and reports are for the office and leaders.")


def local_tz() -> ZoneInfo:
    return ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))


@dataclass(frozen=True)
class Period:
    """Local days `first` to `last`, both included, and the instants that bound them."""

    first: date
    last: date
    start: datetime  # UTC, the first moment of `first`
    end: datetime  # UTC, the first moment after `last`

    @property
    def text(self) -> str:
        return f"{self.first:%Y-%m-%d} 至 {self.last:%Y-%m-%d}"


def period(first: date, last: date) -> Period:
    """The period, refused when it ends before it starts or spans more than
    REPORT_MAX_DAYS days (422 with the field named)."""
    if last < first:
        raise Invalid("report.bad_period", "The period ends before it starts.",
                      errors={"to": ["On or after from."]})
    longest = int(runtime.setting("REPORT_MAX_DAYS"))
    days = (last - first).days + 1
    if days > longest:
        raise Invalid("report.period_too_long",
                      f"A report covers at most {longest} days; this period has {days}.",
                      errors={"to": [f"At most {longest} days after from."]},
                      params={"max": longest, "days": days})
    tz = local_tz()
    return Period(first, last, datetime.combine(first, time(), tz).astimezone(UTC),
                  datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC))


def unit_filter(user: User, unit_id: str | None) -> frozenset[str] | None:
    """The unit and the units below it, when one is named: one of the user's (another
    unit is the same 404 as none)."""
    if not unit_id:
        return None
    if not scope.sees_everything(user) and unit_id not in scope.visible_unit_ids(user):
        raise NotFound("unit.not_found", "No such unit.")
    if db.session.get(Unit, unit_id) is None:
        raise NotFound("unit.not_found", "No such unit.")
    return scope.subtree([unit_id])


def units_named(user: User, unit_id: str | None) -> str:
    """The units a ledger covers, as its title names them: the one asked for, else the
    user's own."""
    ids = [unit_id] if unit_id else [u.id for u in user.units]
    names = db.session.scalars(sa.select(Unit.name).where(Unit.id.in_(ids))
                               .order_by(Unit.name)).all()
    return "、".join(names) or "全部单位"


CHUNK = 2000  # rows fetched from the cursor at a time


def stream(query: sa.Select) -> sa.Result:
    """The rows of `query` from a server-side cursor, CHUNK at a time: never all in memory.
    PostgreSQL plans a cursor for its first tenth of rows by default (a nested loop per
    row, 20x slower over a whole ledger); a ledger reads every row, so it is told so for
    the rest of this transaction."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL cursor_tuple_fraction = 1.0"))
    return db.session.execute(query.execution_options(yield_per=CHUNK))


def generated_line(now: datetime) -> str:
    return f"生成时间：{now.astimezone(local_tz()):%Y-%m-%d %H:%M}"
