"""China's working-day calendar: the bundled data, counting across 调休, and upload checks."""

from __future__ import annotations

import json
from datetime import date, timedelta
from itertools import chain
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.cases.workcalendar import (
    DATA,
    CalendarDataError,
    CalendarYearMissing,
    Day,
    WorkCalendar,
    bundled_years,
    check_year,
)

CAL = WorkCalendar.from_days(chain.from_iterable(bundled_years().values()), bundled_years())
D = timedelta(days=1)
# No example database: nothing written into the work tree; no deadline: CI machines vary.
PROPERTY = settings(database=None, deadline=None, max_examples=300)


def span(first: date, last: date) -> list[date]:
    return [first + i * D for i in range((last - first).days + 1)]


# ---- the bundled data ----------------------------------------------------------------
def test_bundled_data_covers_2018_to_2026_with_a_source() -> None:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    assert "chinesecalendar" in data["source"] and "State Council" in data["source"]
    date.fromisoformat(data["generated"])
    assert sorted(bundled_years()) == list(range(2018, 2027))
    assert CAL.years == frozenset(range(2018, 2027))
    assert all(day.kind == "holiday" for day in bundled_years()[2026]
               if day.date.month == 10 and day.date.day <= 7)


def test_2026_make_up_working_days_on_weekends() -> None:
    for d in (date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9),
              date(2026, 9, 20), date(2026, 10, 10)):
        assert d.weekday() >= 5 and CAL.is_working_day(d), d


def test_2026_holidays_are_not_working_days() -> None:
    new_year = span(date(2026, 1, 1), date(2026, 1, 3))
    spring_festival = span(date(2026, 2, 15), date(2026, 2, 23))
    national_day = span(date(2026, 10, 1), date(2026, 10, 7))
    for d in new_year + spring_festival + national_day:
        assert not CAL.is_working_day(d), d
    # the ordinary weekdays either side of them work
    for d in (date(2026, 2, 13), date(2026, 2, 24), date(2026, 9, 30), date(2026, 10, 8)):
        assert CAL.is_working_day(d), d


def test_other_years_hard_facts() -> None:
    assert not CAL.is_working_day(date(2020, 1, 31))  # Spring Festival extended (COVID-19)
    assert CAL.is_working_day(date(2018, 12, 29))  # Saturday, for New Year 2019
    assert CAL.is_working_day(date(2024, 2, 4)) and CAL.is_working_day(date(2024, 2, 18))
    assert not any(CAL.is_working_day(d) for d in span(date(2024, 2, 10), date(2024, 2, 17)))
    assert CAL.is_working_day(date(2025, 1, 26)) and CAL.is_working_day(date(2025, 2, 8))
    assert not any(CAL.is_working_day(d) for d in span(date(2025, 10, 1), date(2025, 10, 8)))
    assert CAL.is_working_day(date(2025, 9, 28)) and CAL.is_working_day(date(2025, 10, 11))
    assert not CAL.is_working_day(date(2023, 1, 1)) and CAL.is_working_day(date(2023, 1, 3))


def test_agrees_with_chinese_calendar_on_every_day_2018_to_2026() -> None:
    chinese_calendar = pytest.importorskip("chinese_calendar")
    days = span(date(2018, 1, 1), date(2026, 12, 31))
    wrong = [d for d in days if CAL.is_working_day(d) != chinese_calendar.is_workday(d)]
    assert wrong == []


# ---- counting ------------------------------------------------------------------------
@pytest.mark.parametrize(("start", "n", "expected"), [
    (date(2026, 9, 30), 1, date(2026, 10, 8)),  # over the National Day week
    (date(2026, 9, 30), 3, date(2026, 10, 10)),  # ...to the make-up Saturday
    (date(2026, 10, 9), 1, date(2026, 10, 10)),
    (date(2026, 10, 10), 1, date(2026, 10, 12)),
    (date(2026, 2, 13), 1, date(2026, 2, 14)),  # make-up Saturday before Spring Festival
    (date(2026, 2, 14), 1, date(2026, 2, 24)),
    (date(2026, 10, 3), 1, date(2026, 10, 8)),  # a start on a holiday never counts
    (date(2026, 1, 4), 1, date(2026, 1, 5)),
    (date(2026, 12, 29), 2, date(2026, 12, 31)),
    (date(2017, 12, 31), 1, date(2018, 1, 2)),  # the start's own year need not be known
])
def test_add_working_days(start: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(start, n) == expected
    assert CAL.working_days_between(start, expected) == n


def test_counting_into_an_unknown_year_raises() -> None:
    with pytest.raises(CalendarYearMissing) as caught:
        CAL.add_working_days(date(2026, 12, 29), 3)
    assert caught.value.year == 2027 and "2027" in str(caught.value)
    with pytest.raises(CalendarYearMissing):
        CAL.add_working_days(date(2026, 12, 31), 1)
    with pytest.raises(CalendarYearMissing):
        CAL.working_days_between(date(2026, 12, 1), date(2027, 1, 4))
    with pytest.raises(CalendarYearMissing):
        CAL.is_working_day(date(2017, 12, 29))


def test_counting_edges() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CAL.add_working_days(date(2026, 3, 2), 0)
    assert CAL.working_days_between(date(2026, 3, 2), date(2026, 3, 2)) == 0
    assert CAL.working_days_between(date(2026, 3, 9), date(2026, 3, 2)) == 0
    assert CAL.working_days_between(date(2026, 9, 30), date(2026, 10, 11)) == 3


def test_first_missing_year() -> None:
    assert CAL.first_missing_year(date(2026, 12, 1), date(2026, 12, 31)) is None
    assert CAL.first_missing_year(date(2026, 12, 1), date(2028, 1, 5)) == 2027
    assert CAL.first_missing_year(date(2027, 1, 5), date(2026, 12, 1)) == 2027
    assert CAL.first_missing_year(date(2017, 12, 1), date(2018, 1, 5)) == 2017


def test_calendar_refuses_contradictory_data() -> None:
    d = date(2026, 10, 10)
    with pytest.raises(ValueError, match="both"):
        WorkCalendar.from_days([Day(d, "holiday"), Day(d, "workday")], [2026])
    with pytest.raises(ValueError, match="outside"):
        WorkCalendar.from_days([Day(d, "holiday")], [2025])
    with pytest.raises(ValueError, match="kind"):
        WorkCalendar.from_days([Day(d, "rest")], [2026])


# ---- properties ----------------------------------------------------------------------
starts = st.dates(min_value=date(2017, 12, 31), max_value=date(2026, 9, 1))
counts = st.integers(min_value=1, max_value=60)  # 60 working days end before 2027


@PROPERTY
@given(starts, counts)
def test_add_lands_on_a_working_day_after_start_and_inverts_between(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert end > start and CAL.is_working_day(end)
    assert CAL.working_days_between(start, end) == n
    assert CAL.working_days_between(start, end - D) == n - 1


@PROPERTY
@given(starts, counts)
def test_add_is_strictly_monotone_in_n(start: date, n: int) -> None:
    assert CAL.add_working_days(start, n) < CAL.add_working_days(start, n + 1)


@PROPERTY
@given(st.lists(st.dates(min_value=date(2018, 1, 1), max_value=date(2026, 12, 31)),
                min_size=3, max_size=3))
def test_between_adds_up_over_consecutive_ranges(dates: list[date]) -> None:
    a, b, c = sorted(dates)
    assert (CAL.working_days_between(a, b) + CAL.working_days_between(b, c)
            == CAL.working_days_between(a, c))


@st.composite
def calendars(draw: st.DrawFn) -> WorkCalendar:
    """Arbitrary one-year schedules for 2030, so the properties do not rest on real data."""
    year = span(date(2030, 1, 1), date(2030, 12, 31))
    holidays = draw(st.sets(st.sampled_from(year), max_size=80))
    weekends = [d for d in year if d.weekday() >= 5 and d not in holidays]
    workdays = draw(st.sets(st.sampled_from(weekends), max_size=20))
    days = [Day(d, "holiday") for d in holidays] + [Day(d, "workday") for d in workdays]
    return WorkCalendar.from_days(days, [2030])


@PROPERTY
@given(calendars(), st.dates(min_value=date(2029, 12, 31), max_value=date(2030, 6, 30)),
       st.integers(min_value=1, max_value=20))
def test_properties_hold_for_any_schedule(cal: WorkCalendar, start: date, n: int) -> None:
    end = cal.add_working_days(start, n)
    assert end > start and cal.is_working_day(end)
    assert cal.working_days_between(start, end) == n
    assert end < cal.add_working_days(start, n + 1)
    assert sum(map(cal.is_working_day, span(start + D, end))) == n


# ---- check_year: an admin's upload ---------------------------------------------------
def upload(*items: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"date": "2026-10-01", "kind": "holiday", "name": "National Day"}, *items]


def refused(items: list[dict[str, Any]], year: int = 2026) -> dict[str, list[str]]:
    with pytest.raises(CalendarDataError) as caught:
        check_year(year, items)
    assert isinstance(caught.value, ValueError) and str(year) in str(caught.value)
    return caught.value.errors


def test_check_year_accepts_the_bundled_2026_and_keeps_weekend_holidays() -> None:
    items = [{"date": day.date.isoformat(), "kind": day.kind, "name": day.name}
             for day in bundled_years()[2026]]
    days = check_year(2026, list(reversed(items)))
    assert days == bundled_years()[2026]  # sorted by date
    assert Day(date(2026, 10, 3), "holiday", "National Day") in days  # a Saturday
    assert check_year(2026, [{"date": "2026-10-10", "kind": "workday"}]) == [
        Day(date(2026, 10, 10), "workday", "")]


def test_check_year_refuses_a_date_twice() -> None:
    errors = refused(upload({"date": "2026-10-02", "kind": "holiday"},
                            {"date": "2026-10-01", "kind": "holiday"}))
    assert errors == {"2": ["2026-10-01 appears twice (also item 0)"]}


def test_check_year_refuses_a_date_in_another_year() -> None:
    errors = refused(upload({"date": "2027-01-01", "kind": "holiday"}))
    assert errors == {"1": ["2027-01-01 is not in 2026"]}


def test_check_year_refuses_a_workday_on_a_weekday() -> None:
    errors = refused(upload({"date": "2026-10-13", "kind": "workday"}))  # a Tuesday
    assert errors == {"1": ["2026-10-13 is a Tuesday: a workday must be on a weekend"]}


def test_check_year_refuses_an_unknown_kind() -> None:
    errors = refused(upload({"date": "2026-10-02", "kind": "rest"}))
    assert list(errors) == ["1"] and "kind" in errors["1"][0]


@pytest.mark.parametrize("raw", ["2026-02-30", "20261002", "02/10/2026", "", None, 20261002])
def test_check_year_refuses_an_unparseable_date(raw: Any) -> None:
    errors = refused(upload({"date": raw, "kind": "holiday"}))
    assert list(errors) == ["1"] and "YYYY-MM-DD" in errors["1"][0]


def test_check_year_refuses_other_shapes_and_collects_every_error() -> None:
    errors = refused([{"date": "2026-10-01", "kind": "holiday", "nmae": "x"},
                      "2026-10-02",
                      {"date": "2026-10-03", "kind": "holiday", "name": 3},
                      {"date": "2025-10-07", "kind": "vacation"}])
    assert sorted(errors) == ["0", "1", "2", "3"]
    assert len(errors["3"]) == 2  # bad kind and wrong year, both reported
    assert refused([]) == {"_schema": ["a non-empty list of days is required"]}
