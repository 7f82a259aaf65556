"""China's official working-day calendar, kept as data per year (data/cn_calendar.json).

Pure: no database, no Flask. China moves public holidays with make-up working days (调休),
so a day's status cannot be computed: the State Council publishes each year's schedule in
the autumn before, and an admin loads it as data. A day is a working day when it is a
weekday that is not a holiday, or a listed make-up working day ("workday") on a weekend.

A year is either known as a whole or not at all: asking about a date in an unknown year
raises CalendarYearMissing rather than guessing from the weekday, because a guessed
deadline can be days wrong around Spring Festival or National Day. Intake still goes on:
the caller may count with `guessing()` (weekends only) and must then say the deadline is
provisional.

A notice sometimes covers the end of the previous year (the 2019 one made 2018-12-29 a
working day); such dates belong to the data of the year they fall in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from server.domain.core import text

DATA = Path(__file__).parents[1] / "data" / "cn_calendar.json"
KINDS = ("holiday", "workday")
ONE_DAY = dt.timedelta(days=1)
# date.fromisoformat also takes "20260101" and week dates; an upload must be plain.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_NAME = 60  # the column's length: "春节", "国庆节、中秋节", never a paragraph


class CalendarYearMissing(Exception):
    """A date falls in a year whose schedule has not been loaded."""

    def __init__(self, year: int) -> None:
        super().__init__(f"no working-day calendar for {year}: "
                         f"load the State Council holiday schedule for {year}")
        self.year = year


class CalendarDataError(ValueError):
    """An upload for one year was refused; errors maps item index (as str) to messages."""

    def __init__(self, message: str, errors: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.errors = errors


@dataclass(frozen=True)
class Day:
    date: dt.date
    kind: str  # "holiday" | "workday"
    name: str = ""


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]  # make-up working days on a weekend
    years: frozenset[int]  # years whose schedule is known

    def __post_init__(self) -> None:
        # Refuse data that would answer differently depending on which set is checked first,
        # or that claims a day in a year not marked as known.
        if both := self.holidays & self.workdays:
            raise ValueError(f"both holiday and workday: {min(both).isoformat()}")
        if stray := {d for d in self.holidays | self.workdays if d.year not in self.years}:
            raise ValueError(f"{min(stray).isoformat()} is outside the calendar's years")

    @classmethod
    def from_days(cls, days: Iterable[Day], years: Iterable[int]) -> WorkCalendar:
        holidays: set[dt.date] = set()
        workdays: set[dt.date] = set()
        for day in days:
            if day.kind not in KINDS:
                raise ValueError(f"{day.date.isoformat()}: unknown kind {day.kind!r}")
            (holidays if day.kind == "holiday" else workdays).add(day.date)
        return cls(frozenset(holidays), frozenset(workdays), frozenset(years))

    def guessing(self) -> WorkCalendar:
        """This calendar, answering for a year not loaded from weekends alone: for a
        deadline marked provisional until the year is loaded, never for a final one."""
        return dataclasses.replace(self, years=self.years | frozenset(range(1900, 2201)))

    def is_working_day(self, d: dt.date) -> bool:
        if d.year not in self.years:
            raise CalendarYearMissing(d.year)
        return d in self.workdays or (d.weekday() < 5 and d not in self.holidays)

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after start; start itself never counts, whatever it is."""
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}")
        d = start
        while n:
            d += ONE_DAY
            n -= self.is_working_day(d)
        return d

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """Working days d with a < d <= b, so that between(s, add(s, n)) == n; 0 if b <= a."""
        count, d = 0, a
        while d < b:
            d += ONE_DAY
            count += self.is_working_day(d)
        return count

    def first_missing_year(self, start: dt.date, end: dt.date) -> int | None:
        """The first unknown year touched by the dates from start to end (either order)."""
        lo, hi = sorted((start.year, end.year))
        return next((y for y in range(lo, hi + 1) if y not in self.years), None)


def check_year(year: int, days: list[dict[str, Any]]) -> list[Day]:
    """Validate an admin's upload of one year's schedule; the Days, sorted by date.

    Every problem is collected, keyed by item index, so the admin can fix them in one go.
    """
    if not isinstance(days, list) or not days:
        # A year without any holiday is never right and would silently shorten deadlines.
        raise CalendarDataError(f"calendar {year}: a non-empty list of days is required",
                                {"_schema": ["a non-empty list of days is required"]})
    errors: dict[str, list[str]] = {}
    seen: dict[dt.date, int] = {}
    out: list[Day] = []
    for i, item in enumerate(days):
        problems = errors.setdefault(str(i), [])
        if not isinstance(item, dict):
            problems.append("each item must be an object with date and kind")
            continue
        if extra := sorted(set(item) - {"date", "kind", "name"}):
            problems.append(f"unknown field(s): {', '.join(map(str, extra))}")
        kind, name, raw = item.get("kind"), item.get("name", ""), item.get("date")
        if kind not in KINDS:
            problems.append(f"kind must be holiday or workday, not {kind!r}")
        if wrong := text.checked(name, MAX_NAME):
            problems.append(f"name: {wrong}")
        try:
            if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
                raise ValueError
            d = dt.date.fromisoformat(raw)
        except ValueError:
            problems.append(f"date must be YYYY-MM-DD, not {raw!r}")
            continue
        if d.year != year:
            problems.append(f"{raw} is not in {year}")
        if d in seen:
            problems.append(f"{raw} appears twice (also item {seen[d]})")
        else:
            seen[d] = i
        # A make-up working day only means something on a weekend; on a weekday it is a typo.
        # A holiday on a weekend is kept: notices list whole periods, weekends included.
        if kind == "workday" and d.weekday() < 5:
            problems.append(f"{raw} is a {d.strftime('%A')}: a workday must be on a weekend")
        if not problems:
            out.append(Day(d, kind, name))
    errors = {k: v for k, v in errors.items() if v}
    if errors:
        raise CalendarDataError(f"calendar {year}: {len(errors)} item(s) refused", errors)
    return sorted(out, key=lambda day: day.date)


@cache
def bundled_years() -> dict[int, list[Day]]:
    """The schedules shipped with the app, checked like an upload. Do not mutate."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return {int(y): check_year(int(y), items) for y, items in sorted(data["years"].items())}
