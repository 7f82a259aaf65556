"""China's working-day calendar as data in the database: loaded per year by an admin,
bundled years (from the `chinesecalendar` package and the State Council notices) seeded
by the migration. Counting itself lives in `workcalendar` (pure)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from server.domain.accounts.roles import require_district_admin
from server.domain.audit import audit
from server.domain.cases.workcalendar import CalendarDataError, Day, WorkCalendar, check_year
from server.domain.core.errors import Invalid
from server.domain.core.uow import command
from server.extensions import db
from server.models import CalendarDay, CalendarYear, User

# Warn an admin this far ahead of needing a year nobody has loaded.
WARN_AHEAD = timedelta(days=120)
WARNING_MAX_AGE = 30.0


def _stamp() -> tuple[int, Any]:
    return tuple(db.session.execute(sa.select(sa.func.count(CalendarYear.year),
                                              sa.func.max(CalendarYear.loaded_at))).one())


_cache: dict[str, tuple[Any, WorkCalendar, float]] = {}  # per database: stamp, calendar, checked


def calendar(max_age: float = 0) -> WorkCalendar:
    """The calendar as loaded now; rebuilt only when a year was loaded since. Counting
    always checks (max_age 0); a warning may use one checked `max_age` seconds ago."""
    key = str(db.engine.url)
    cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached[2] < max_age:
        return cached[1]
    stamp = _stamp()
    if cached is None or cached[0] != stamp:
        years = db.session.scalars(sa.select(CalendarYear.year)).all()
        days = [Day(d.day, d.kind, d.name) for d in db.session.scalars(sa.select(CalendarDay))]
        cached = (stamp, WorkCalendar.from_days(days, years), 0.0)
    _cache[key] = (cached[0], cached[1], time.monotonic())
    return cached[1]


def years() -> list[dict[str, Any]]:
    counts = dict(db.session.execute(sa.select(CalendarDay.year, sa.func.count())
                                     .group_by(CalendarDay.year)).all())
    return [{"year": y.year, "source": y.source, "loaded_at": y.loaded_at,
             "days": counts.get(y.year, 0)}
            for y in db.session.scalars(sa.select(CalendarYear).order_by(CalendarYear.year))]


def year_days(year: int) -> list[CalendarDay]:
    return list(db.session.scalars(sa.select(CalendarDay).filter_by(year=year)
                                   .order_by(CalendarDay.day)))


def missing_year(now: datetime) -> int | None:
    """The first year deadlines will need within WARN_AHEAD that is not loaded (a calendar
    checked in the last WARNING_MAX_AGE seconds will do: a warning months ahead)."""
    return calendar(WARNING_MAX_AGE).first_missing_year(now.date(), (now + WARN_AHEAD).date())


def warning(now: datetime, missing: int | None = None) -> str | None:
    """A message for admins when deadlines will soon need a year that is not loaded
    (`missing`, when the caller has it already)."""
    missing = missing or missing_year(now)
    if missing is None:
        return None
    return (f"The working-day calendar for {missing} is not loaded; deadlines counted in "
            f"working days will fail once they reach {missing}. Load the State Council's "
            f"schedule for {missing}.")


@command
def load_year(user: User, year: int, items: list[dict[str, Any]], source: str) -> list[Day]:
    """Replace one year's holidays and make-up working days (the district admin's upload;
    the CLI writes a year with write_year)."""
    require_district_admin(user, "calendar.forbidden", "Only an admin may load the calendar.")
    if not 2000 <= year <= 2100:
        raise Invalid("calendar.bad_year", "A year between 2000 and 2100.",
                      errors={"year": ["Out of range."]})
    try:
        days = check_year(year, items)
    except CalendarDataError as exc:
        raise Invalid("calendar.bad_days", str(exc), errors=exc.errors) from exc
    recomputed = write_year(year, days, source=source, actor_id=user.id)
    audit.append("calendar.loaded", "calendar", str(year), actor_id=user.id,
                 data={"days": len(days), "source": source, "recomputed": recomputed})
    return days


def write_year(year: int, days: list[Day], *, source: str, actor_id: str | None) -> int:
    """Helper: no commit. Counts the provisional deadlines again with this year; says
    how many."""
    db.session.execute(sa.delete(CalendarDay).where(CalendarDay.year == year))
    db.session.merge(CalendarYear(year=year, source=source, loaded_by=actor_id,
                                  loaded_at=datetime.now(UTC)))
    db.session.add_all(CalendarDay(day=d.date, year=year, kind=d.kind, name=d.name)
                       for d in days)
    db.session.flush()
    _cache.pop(str(db.engine.url), None)  # this worker counts, and warns, with it now
    return _recompute()


# What counts again with a year just written: deadline_rules registers its provisional
# deadlines here (it counts with this module's calendar, so it cannot be imported here).
ON_LOAD: list[Callable[[], int]] = []


def _recompute() -> int:
    return sum(again() for again in ON_LOAD)


def is_working_day(d: date) -> bool:
    return calendar().is_working_day(d)
