"""The case's clock (issue 19): missed milestones raised late, never skipped; rest days
under the Civil Code's reading; intake in a year whose calendar is not loaded; one colour
order for every rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from server.domain.cases import sweep, webhooks
from server.domain.cases.deadlines import ClockEvent, check_rule, schedule
from server.domain.core.vocab import COLOUR_ORDER
from server.extensions import db
from server.models import Case, CaseEvent, Notification
from tests.test_deadlines import CHINA, DAZHOU, PETITION, WORKING

H, D = timedelta(hours=1), timedelta(days=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).isoformat()


def received(at: datetime) -> ClockEvent:
    return ClockEvent("received", at, {"received_at": at})


# ---- missed milestones still fire ----------------------------------------------------
def test_a_case_entered_late_has_its_missed_milestones_raised_once_marked_late(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    # A hotline ticket typed in two days late: its dispatch (1 hour) and reminder (day 3,
    # at 2 days) are already behind it when it is created.
    case = make_case(received_at=ago(2 * D + H))
    now = datetime.now(UTC)
    first = sweep.sweep(now, deliver=False)
    again = sweep.sweep(now + timedelta(minutes=5), deliver=False)
    assert (first["raised"], again["raised"]) == (2, 0)
    notes = db.session.scalars(sa.select(Notification).where(
        Notification.case_id == case["id"]).order_by(Notification.due_at)).all()
    assert [(n.milestone, n.data.get("late")) for n in notes] == [
        ("dispatch", True), ("reminder", True)]
    events = db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id == case["id"], CaseEvent.kind == "reminded")).all()
    assert sorted((e.data["milestone"], e.data.get("late")) for e in events) == [
        ("dispatch", True), ("reminder", True)]
    # The webhooks are told so.
    row = db.session.get(Case, case["id"])
    assert webhooks.payload(notes[0], row, row.unit)["late"] is True
    # The bell shows them, marked late.
    bell = as_user("insp_a").get("/api/notifications").get_json()["items"]
    assert {n["milestone"]: n["data"].get("late") for n in bell} == {
        "dispatch": True, "reminder": True}
    # What falls due later is raised on time, not late.
    later = datetime.fromisoformat(case["received_at"]) + 4 * D + timedelta(minutes=1)
    assert sweep.sweep(later, deliver=False)["raised"] == 1
    review = db.session.scalar(sa.select(Notification).filter_by(
        case_id=case["id"], milestone="preliminary_review"))
    assert review is not None and "late" not in review.data


def test_a_case_left_undispatched_past_its_hour_is_reminded_late(
        app, make_case) -> None:  # type: ignore[no-untyped-def]
    case = make_case(received_at=ago(3 * H))
    assert sweep.sweep(deliver=False)["raised"] == 1
    note = db.session.scalars(sa.select(Notification).filter_by(case_id=case["id"])).one()
    assert (note.milestone, note.data.get("late")) == ("dispatch", True)
    assert sweep.sweep(deliver=False)["raised"] == 0


# ---- rest days --------------------------------------------------------------------------
def test_the_shipped_petition_rule_moves_a_sunday_due_date_to_the_next_working_day() -> None:
    assert PETITION["rest_day_rollover"] is True and DAZHOU["rest_day_rollover"] is False
    # Received Wednesday 18 March 2026: 60 days on is Sunday 17 May, a rest day. The period
    # ends at the end of Monday 18 May (Civil Code art. 203).
    start = datetime(2026, 3, 18, 10, tzinfo=SHANGHAI)
    s = schedule(PETITION, 1, [received(start)], calendar=CHINA, tz=SHANGHAI)
    assert s.due_at == datetime(2026, 5, 19, tzinfo=SHANGHAI) and not s.provisional
    # Without the flag, the same rule is due on the Sunday itself.
    plain = schedule({**PETITION, "rest_day_rollover": False}, 1, [received(start)],
                     calendar=CHINA, tz=SHANGHAI)
    assert plain.due_at == start + 60 * D
    # Over Labour Day (1-5 May 2026 off): Friday 1 May moves to the end of Wednesday 6 May.
    holiday = schedule(PETITION, 1, [received(datetime(2026, 3, 2, 10, tzinfo=SHANGHAI))],
                       calendar=CHINA, tz=SHANGHAI)
    assert holiday.due_at == datetime(2026, 5, 7, tzinfo=SHANGHAI)
    # A working last day ends at its 24:00.
    weekday = schedule(PETITION, 1, [received(datetime(2026, 3, 1, 10, tzinfo=SHANGHAI))],
                       calendar=CHINA, tz=SHANGHAI)
    assert weekday.due_at == datetime(2026, 5, 1, tzinfo=SHANGHAI)


def test_the_rest_day_flag_belongs_to_calendar_days() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        check_rule({**WORKING, "rest_day_rollover": True})
    with pytest.raises(ValueError, match="contradicts"):
        check_rule({**PETITION, "rest_day_rollover": "yes"})


def test_an_unloaded_year_gives_a_provisional_deadline_from_weekends() -> None:
    s = schedule(WORKING, 1, [received(datetime(2026, 12, 28, 10, tzinfo=SHANGHAI))],
                 calendar=CHINA, tz=SHANGHAI)
    # 29, 30, 31 December, then Friday 1 January 2027 counted as a weekday and Monday 4:
    # due at the end of 4 January, until 2027 is loaded.
    assert s.provisional and s.due_at == datetime(2027, 1, 5, tzinfo=SHANGHAI)


def test_intake_in_an_unloaded_year_is_accepted_and_loading_the_year_recomputes(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    rule = {"code": "wd-10", "title": {"zh": "10个工作日", "en": "10 working days"},
            "channels": ["online"], "priority": 50, "counting": "working_days", "due": 10,
            "milestones": [], "colours": [{"from_day": 1, "colour": "green"},
                                          {"from_day": 8, "colour": "red"}]}
    assert admin.post("/api/deadline-rules", json=rule).status_code == 201
    # A receipt time ahead of today's clock is refused (ReceivedAt); this test needs a
    # case received just before a year with no calendar, so the allowed drift is widened.
    app.config["CLOCK_DRIFT_S"] = 10 * 365 * 86400
    case = make_case(channel="online", received_at="2026-12-24T10:00:00+08:00")
    deadline = case["deadline"]
    assert deadline["rule"] == "wd-10" and deadline["provisional"] is True
    # Weekends only: 25, 28-31 December, 1 (a guess), 4-7 January: the end of 7 January.
    assert datetime.fromisoformat(deadline["due_at"]) == datetime(2027, 1, 8,
                                                                  tzinfo=SHANGHAI)
    loaded = admin.put("/api/calendar/2027", json={"source": "国办发明电〔2026〕", "days": [
        {"date": "2027-01-01", "kind": "holiday", "name": "元旦"}]})
    assert loaded.status_code == 200, loaded.get_json()
    after = as_user("reviewer").get(f"/api/cases/{case['id']}").get_json()
    assert after["deadline"]["provisional"] is False
    assert datetime.fromisoformat(after["deadline"]["due_at"]) == datetime(
        2027, 1, 9, tzinfo=SHANGHAI)  # New Year's Day is off: one working day later
    assert after["version"] == case["version"]  # not a user's change: queued actions hold


# ---- one meaning per colour --------------------------------------------------------------
def test_every_current_rule_goes_through_the_colours_in_the_one_order(
        app, as_user) -> None:  # type: ignore[no-untyped-def]
    items = as_user("admin").get("/api/deadline-rules").get_json()["items"]
    assert {r["code"] for r in items} >= {"1+3+5+7", "petition-60"}
    for r in items:
        names = [c["colour"] for c in r["body"]["colours"]]
        assert names == sorted(names, key=COLOUR_ORDER.index), r["code"]
    check_rule(DAZHOU)
    check_rule(PETITION)


def test_a_rule_with_colours_out_of_order_is_refused(app, as_user) -> None:  # type: ignore[no-untyped-def]
    admin = as_user("admin")
    body = {**next(r for r in admin.get("/api/deadline-rules").get_json()["items"]
                   if r["code"] == "1+3+5+7")["body"],
            "colours": [{"from_day": 1, "colour": "green"}, {"from_day": 5, "colour": "yellow"},
                        {"from_day": 6, "colour": "blue"}, {"from_day": 7, "colour": "red"}]}
    for dry in ("true", "false"):
        answer = admin.post(f"/api/deadline-rules?dry_run={dry}", json=body)
        assert answer.status_code == 422
        problem = answer.get_json()
        assert problem["code"] == "deadline_rule.colour_order"
        assert "green < blue < yellow < red" in problem["errors"]["colours"][0]


def test_the_rules_0013_ships_are_the_data_files_rules() -> None:
    """The rules are defined once (server/domain/data/deadline_rules.json); the migration
    keeps a frozen copy, as 0003 does, which must be that definition."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "server"
    # By name, not number: the revision may be renumbered when branches are merged.
    (path,) = (root / "migrations" / "versions").glob("*_case_clock.py")
    spec = importlib.util.spec_from_file_location("case_clock_revision", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = json.loads((root / "domain" / "data" / "deadline_rules.json").read_text(
        encoding="utf-8"))["rules"]
    assert shipped == module.RULES_V2
