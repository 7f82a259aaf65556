"""Deadlines: the engine (calendar days, working days on China's calendar, hours,
extensions, restarts) property-tested with Hypothesis, and the deadline on every case
answer, filtered and sorted in SQL."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.cases import deadlines
from server.domain.cases.deadlines import ClockEvent, RuleError, check_rule, schedule, tell
from server.domain.cases.workcalendar import WorkCalendar, bundled_years
from server.extensions import db
from server.models import Case

SHANGHAI = ZoneInfo("Asia/Shanghai")
H, D = timedelta(hours=1), timedelta(days=1)
RULES = Path(deadlines.__file__).parents[1] / "data" / "deadline_rules.json"
DEFAULTS = {r["code"]: r for r in json.loads(RULES.read_text(encoding="utf-8"))["rules"]}
DAZHOU = DEFAULTS["1+3+5+7"]
PETITION = DEFAULTS["petition-60"]
# Its arithmetic in whole 24-hour days, without the Civil Code's end of day (tested apart).
PETITION_24H = {**PETITION, "rest_day_rollover": False}
CHINA = WorkCalendar.from_days([d for days in bundled_years().values() for d in days],
                               bundled_years().keys())
WORKING = {**DAZHOU, "code": "wd-5", "counting": "working_days", "due": 5,
           "milestones": [{"name": "reminder", "day": 3}],
           "colours": [{"from_day": 1, "colour": "green"}, {"from_day": 4, "colour": "yellow"},
                       {"from_day": 5, "colour": "red"}]}


def received(at: datetime, **data: object) -> ClockEvent:
    return ClockEvent("received", at, {"received_at": at, **data})


def plan(rule: dict, *events: ClockEvent):  # type: ignore[no-untyped-def]
    return schedule(rule, 1, events, calendar=CHINA, tz=SHANGHAI)


# ---- the defaults ----------------------------------------------------------------------
def test_shipped_rules_are_valid() -> None:
    for rule in DEFAULTS.values():
        check_rule(rule)


T0 = datetime(2026, 11, 20, 15, 5, tzinfo=UTC)


@pytest.mark.parametrize(("elapsed", "colour", "overdue"), [
    (0 * D, "green", False), (4 * D - H, "green", False), (4 * D, "blue", False),
    (5 * D - H, "blue", False), (5 * D, "yellow", False), (6 * D, "red", False),
    (7 * D - H, "red", False), (7 * D, "red", True), (30 * D, "red", True)])
def test_dazhou_wall_chart(elapsed: timedelta, colour: str, overdue: bool) -> None:
    """Seed 004: stickers on days 5, 6 and 7 (in the one colour order: blue, yellow, red);
    due at its end."""
    told = tell(plan(DAZHOU, received(T0)), T0 + elapsed)
    assert (told.colour, told.overdue) == (colour, overdue)
    assert told.due_at == T0 + 7 * D


def test_dazhou_milestones_and_dispatch_done_by_dispatching() -> None:
    s = plan(DAZHOU, received(T0))
    assert [(m.name, m.at - T0) for m in s.milestones] == [
        ("dispatch", H), ("reminder", 2 * D), ("preliminary_review", 4 * D),
        ("overdue", 7 * D)]
    dispatched = plan(DAZHOU, received(T0), ClockEvent("dispatched", T0 + 20 * 60 * H / 60))
    assert [m.name for m in dispatched.milestones] == ["reminder", "preliminary_review",
                                                       "overdue"]
    assert tell(s, T0 + 3 * D).next_milestone.name == "preliminary_review"


def test_extension_moves_what_is_ahead_only() -> None:
    s = plan(PETITION_24H, received(T0), ClockEvent("dispatched", T0 + H),
             ClockEvent("extended", T0 + 20 * D, {"days": 30}))
    assert s.due_at == T0 + 90 * D and s.extended_days == 30
    names = {m.name: m.at - T0 for m in s.milestones}
    assert names["notify_petitioner"] == 14 * D  # passed before the extension: stays
    assert names["reminder"] == 74 * D  # day 45 -> day 75
    # Blue from day 31 -> day 61.
    assert (tell(s, T0 + 60 * D - H).colour, tell(s, T0 + 60 * D).colour) == ("green", "blue")


def test_transfer_restarts_the_clock_only_when_the_rule_says_so() -> None:
    moved = T0 + 3 * D
    assert plan(DAZHOU, received(T0), ClockEvent("transferred", moved)).due_at == T0 + 7 * D
    assert plan(PETITION_24H, received(T0), ClockEvent("transferred", moved)).due_at == \
        moved + 60 * D
    reopened = plan(DAZHOU, received(T0), ClockEvent("extended", T0 + D, {"days": 3}),
                    ClockEvent("reopened", T0 + 20 * D))
    assert reopened.due_at == T0 + 27 * D and reopened.extended_days == 0


def test_working_days_skip_national_day_and_count_the_make_up_saturday() -> None:
    # Received Wednesday 30 September 2026, 10:00 Beijing time. 1-7 October are off,
    # Saturday 10 October is a make-up working day.
    start = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)
    s = plan(WORKING, received(start))
    assert CHINA.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    # Working days 8 (Thu), 9 (Fri), 10 (Sat, make-up), 12 (Mon), 13 (Tue): due at the
    # end of 13 October.
    assert s.due_at == datetime(2026, 10, 14, tzinfo=SHANGHAI)
    reminder = next(m for m in s.milestones if m.name == "reminder")
    assert reminder.at == datetime(2026, 10, 10, tzinfo=SHANGHAI)
    assert tell(s, datetime(2026, 10, 12, 9, tzinfo=SHANGHAI)).colour == "yellow"
    assert tell(s, datetime(2026, 10, 13, 9, tzinfo=SHANGHAI)).colour == "red"


def test_working_days_into_an_unknown_year_say_so() -> None:
    """Not a refusal: counted from weekends, and marked provisional."""
    assert plan(WORKING, received(datetime(2026, 12, 28, tzinfo=SHANGHAI))).provisional
    assert not plan(WORKING, received(datetime(2026, 11, 2, tzinfo=SHANGHAI))).provisional


def test_hours_rules() -> None:
    rule = {**DAZHOU, "code": "h-48", "counting": "hours", "due": 48,
            "milestones": [{"name": "reminder", "hours": 24}],
            "colours": [{"from_hour": 0, "colour": "green"},
                        {"from_hour": 36, "colour": "red"}]}
    check_rule(rule)
    s = plan(rule, received(T0))
    assert s.due_at == T0 + 48 * H
    assert tell(s, T0 + 36 * H).colour == "red" and tell(s, T0 + 35 * H).colour == "green"


@pytest.mark.parametrize(("change", "field"), [
    (lambda r: r["colours"].reverse(), "colours"),
    (lambda r: r["colours"].append({"from_day": 9, "colour": "red"}), "colours"),
    (lambda r: r["colours"][1].update(colour="green"), "colours"),
    (lambda r: r["milestones"].append({"name": "late", "day": 9}), "milestones.3"),
    (lambda r: r["milestones"].append({"name": "reminder", "day": 2}), "milestones.3"),
    (lambda r: r["milestones"][1].update(hours=3), "milestones.1"),
    (lambda r: r.update(due=0), "due"),
    (lambda r: r.update(counting="fortnights"), "counting"),
    (lambda r: r.update(channels=[]), "channels"),
])
def test_contradictory_rules_are_refused(change, field: str) -> None:  # type: ignore[no-untyped-def]
    rule = copy.deepcopy(DAZHOU)
    change(rule)
    with pytest.raises(RuleError) as caught:
        check_rule(rule)
    assert field in caught.value.errors


# ---- properties ------------------------------------------------------------------------
starts = st.datetimes(min_value=datetime(2018, 1, 1), max_value=datetime(2026, 10, 31),
                      timezones=st.just(SHANGHAI))


@settings(max_examples=150, deadline=None)
@given(start=starts, due=st.integers(1, 30))
def test_working_day_due_dates_are_ends_of_working_days(start: datetime, due: int) -> None:
    rule = {**WORKING, "due": due, "milestones": [],
            "colours": [{"from_day": 1, "colour": "green"}]}
    s = plan(rule, received(start))
    last = (s.due_at - D).date()
    assert s.due_at.astimezone(SHANGHAI).time() == datetime.min.time()
    assert CHINA.is_working_day(last)
    assert CHINA.working_days_between(start.date(), last) == due


@settings(max_examples=150, deadline=None)
@given(start=starts, now_after=st.integers(0, 90 * 24), ext=st.integers(1, 30),
       ext_after=st.integers(0, 60 * 24))
def test_colours_never_go_back_and_extensions_never_bring_due_forward(
        start: datetime, now_after: int, ext: int, ext_after: int) -> None:
    base = plan(PETITION, received(start))
    longer = plan(PETITION, received(start),
                  ClockEvent("extended", start + ext_after * H, {"days": ext}))
    assert longer.due_at >= base.due_at
    now = start + now_after * H
    order = [c["colour"] for c in PETITION["colours"]]
    assert order.index(tell(base, now).colour) <= order.index(
        tell(base, now + D).colour)
    assert tell(base, now).overdue == (now >= base.due_at)


# ---- the case API --------------------------------------------------------------------
def ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).isoformat()


def close(case_id: str) -> None:
    """As approving does: closed, and no deadline any more."""
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(
        status="closed", due_at=None, next_milestone_at=None))
    db.session.commit()


def test_every_case_answer_carries_its_deadline(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(channel="hotline_12345", received_at=ago(4 * D + 2 * H))
    deadline = case["deadline"]
    assert deadline["rule"] == "1+3+5+7" and deadline["colour"] == "blue"  # day 5
    assert deadline["overdue"] is False and deadline["rule_version"] == 2  # 0013's order
    assert deadline["next_milestone"]["name"] == "overdue"
    received = datetime.fromisoformat(case["received_at"])
    assert datetime.fromisoformat(deadline["due_at"]) == received + 7 * D
    assert datetime.fromisoformat(deadline["next_milestone"]["at"]) == received + 7 * D
    api = as_user("reviewer")
    assert api.get(f"/api/cases/{case['id']}").get_json()["deadline"] == deadline
    listed = api.get("/api/cases").get_json()["items"]
    assert listed[0]["deadline"] == deadline
    patched = api.patch(f"/api/cases/{case['id']}",
                        json={"version": case["version"], "channel": "letter"}).get_json()
    assert (patched["deadline"]["rule"], patched["deadline"]["colour"]) == ("petition-60",
                                                                            "green")


def test_a_closed_case_has_no_deadline(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(received_at=ago(10 * D))
    assert case["deadline"]["overdue"] is True and case["deadline"]["colour"] == "red"
    assert as_user("reviewer").get("/api/cases?colour=overdue").get_json()["total"] == 1
    close(case["id"])
    api = as_user("reviewer")
    assert api.get(f"/api/cases/{case['id']}").get_json()["deadline"] is None
    assert api.get("/api/cases").get_json()["items"][0]["deadline"] is None


def test_open_filter(app, as_user, make_case):  # type: ignore[no-untyped-def]
    open_case = make_case(subject="open")
    closed = make_case(subject="closed")
    close(closed["id"])
    api = as_user("reviewer")
    assert [c["id"] for c in api.get("/api/cases?open=true").get_json()["items"]] == [
        open_case["id"]]
    assert [c["id"] for c in api.get("/api/cases?open=false").get_json()["items"]] == [
        closed["id"]]
    assert api.get("/api/cases").get_json()["total"] == 2
    assert api.get("/api/cases?open=maybe").status_code == 422


def test_colour_filter_pages_and_counts_the_filtered_list(app, as_user, make_case):  # type: ignore[no-untyped-def]
    reds = [make_case(subject=f"red {i}", received_at=ago(6 * D + i * H + H))
            for i in range(3)]
    make_case(subject="overdue", received_at=ago(8 * D))
    make_case(subject="green", received_at=ago(H))
    make_case(subject="blue", received_at=ago(4 * D + H))
    make_case(subject="yellow", received_at=ago(5 * D + H))
    make_case(subject="petition blue", channel="letter", received_at=ago(31 * D))
    close(make_case(subject="closed red", received_at=ago(20 * D))["id"])
    api = as_user("reviewer")
    first = api.get("/api/cases?colour=red&per_page=2").get_json()
    second = api.get("/api/cases?colour=red&per_page=2&page=2").get_json()
    assert (first["total"], second["total"], first["per_page"]) == (3, 3, 2)
    # Newest first, as without a colour.
    assert [c["id"] for c in first["items"] + second["items"]] == [r["id"] for r in reds]
    assert all(c["deadline"]["colour"] == "red" for c in first["items"] + second["items"])
    assert api.get("/api/cases?colour=red&per_page=2&page=3").get_json()["items"] == []
    blue = api.get("/api/cases?colour=blue").get_json()
    assert sorted(c["subject"] for c in blue["items"]) == ["blue", "petition blue"]
    assert [c["subject"] for c in api.get("/api/cases?colour=green").get_json()["items"]] == [
        "green"]
    assert api.get("/api/cases?colour=yellow&channel=letter").get_json()["total"] == 0
    assert [c["subject"] for c in api.get("/api/cases?colour=overdue").get_json()["items"]] \
        == ["overdue"]
    assert api.get("/api/cases?colour=purple").status_code == 422


def test_sort_by_due_puts_the_most_urgent_first(app, as_user, make_case):  # type: ignore[no-untyped-def]
    same = ago(2 * D)
    plain = make_case(subject="plain", received_at=same)
    key = make_case(subject="key", received_at=same, key=True)
    overdue = make_case(subject="overdue", received_at=ago(9 * D))
    letter = make_case(subject="letter", channel="letter", received_at=ago(50 * D))
    fresh = make_case(subject="fresh", received_at=ago(H))
    closed = make_case(subject="closed", received_at=ago(30 * D))
    close(closed["id"])
    api = as_user("reviewer")
    # letter: due in 10 days; the hotline cases: due in 7 days from receipt.
    expected = [overdue, key, plain, fresh, letter, closed]
    by_due = api.get("/api/cases?sort=due").get_json()
    assert [c["subject"] for c in by_due["items"]] == [c["subject"] for c in expected]
    assert by_due["total"] == 6
    paged = [c["subject"] for p in (1, 2, 3)
             for c in api.get(f"/api/cases?sort=due&per_page=2&page={p}").get_json()["items"]]
    assert paged == [c["subject"] for c in expected]
    assert [c["subject"] for c in api.get("/api/cases?sort=due&open=true").get_json()[
        "items"]] == [c["subject"] for c in expected[:-1]]
    # The default stays newest first.
    default = [c["subject"] for c in api.get("/api/cases").get_json()["items"]]
    assert default[0] == "fresh" and sorted(default[1:3]) == ["key", "plain"]  # same time
    assert default[3:] == ["overdue", "closed", "letter"]
    assert api.get("/api/cases?sort=urgent").status_code == 422
    # Equal due dates otherwise fall back to id order: swap the key flag and the order
    # swaps too, so the key rule is what decides.
    for case, flag in ((plain, True), (key, False)):
        db.session.execute(sa.update(Case).where(Case.id == case["id"]).values(key=flag))
    db.session.commit()
    swapped = [c["subject"] for c in api.get("/api/cases?sort=due").get_json()["items"]]
    assert swapped[1:3] == ["plain", "key"]


def test_colour_and_sort_stay_within_the_users_units(app, as_user, make_case):  # type: ignore[no-untyped-def]
    mine = make_case(unit="Street A", received_at=ago(6 * D + H))
    make_case(unit="Street B", received_at=ago(6 * D + 2 * H))
    insp_a = as_user("insp_a")
    for url in ("/api/cases?colour=red", "/api/cases?sort=due"):
        answer = insp_a.get(url).get_json()
        assert [c["id"] for c in answer["items"]] == [mine["id"]] and answer["total"] == 1

