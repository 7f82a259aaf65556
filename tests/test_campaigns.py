"""Look-back campaigns (回头看, issue 21): selection, cross-checks, the re-check that reopens a
case with its rectification plan, the plan's acceptance before the case closes again, its
deadline on the case's clock, and the weekly progress table (annex 2)."""

from __future__ import annotations

import contextlib
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from server.domain.accounts import auth
from server.domain.cases import deadlines
from server.domain.remediation import campaigns as campaign_domain
from server.domain.remediation import plans as plan_domain
from server.extensions import db
from server.models import (
    Campaign,
    Case,
    CaseEvent,
    Evidence,
    Notification,
    RecheckTask,
    RectificationPlan,
    Unit,
    User,
    UserSession,
    Visit,
    Webhook,
    WebhookDelivery,
)
from tests.closure_facts import submit_ready
from tests.conftest import unit_id
from tests.test_case_search import statements
from tests.test_closure_file_office import closed_case
from tests.test_evidence import NOKIA, declaration, declare_and_upload, file_photo
from tests.test_seal import approve
from tests.test_visits import visit_body

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD = {"from": "2026-11-01", "to": "2026-11-30"}


def today() -> date:
    return datetime.now(UTC).astimezone(SHANGHAI).date()


def close(case_id: str) -> None:
    """A handled, closed case (as approving leaves it), without walking the checklist."""
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(
        status="closed", closed_at=datetime.now(UTC), verdict="true",
        result="已责令整改，复测达标", due_at=None, next_milestone_at=None))
    db.session.commit()


def closed(make_case: Any, unit: str = "Street A", **changes: Any) -> str:
    case_id = make_case(unit=unit, **changes)["id"]
    close(case_id)
    return case_id


def start(api: Any, **changes: Any) -> Any:
    return api.post("/api/campaigns", json={"title": "2026年11月信访件回头看", **PERIOD,
                                            **changes})


def plan(**changes: Any) -> dict:
    return {"measures": "责令加装隔音设施，夜间22时后停止营业", "target": "夜间噪声达标",
            "implementer": "Street A 城管中队", "acceptance_unit_id": unit_id("District"),
            "due_on": (today() + timedelta(days=10)).isoformat(), **changes}


def recheck(api: Any, campaign_id: str, task_id: str, **changes: Any) -> Any:
    return api.post(f"/api/campaigns/{campaign_id}/rechecks", json={
        "task_id": task_id, "client_id": str(uuid.uuid4()), "rebound": False,
        "findings": "现场安静，未见反弹", "lat": 60.1467, "lon": 24.9068, **changes})


def kinds(case_id: str) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(CaseEvent.kind).where(
        CaseEvent.case_id == case_id).order_by(CaseEvent.seq)))


# ---- the whole loop ------------------------------------------------------------------------
def test_a_rebound_reopens_the_case_with_its_plan_accepted_before_it_closes_again(
        app, as_user, make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = closed_case(as_user, make_case)
    other = closed(make_case, external_ref="12345-2026-0002")
    preview = start(office, preview=True)
    assert preview.status_code == 200 and preview.get_json() == {
        "count": 2, "skipped_held": 0, "skipped_own": 0}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0

    made = start(office, category="noise_social")
    assert made.status_code == 201, made.get_json()
    campaign = made.get_json()
    assert campaign["counts"] == {"total": 2, "done": 0, "rebound": 0, "new_problems": 0}
    assert campaign["check_unit"] is None and campaign["filters"] == {"category": "noise_social"}
    assert (campaign["from"], campaign["to"]) == (PERIOD["from"], PERIOD["to"])
    assert [c["id"] for c in office.get("/api/campaigns").get_json()["items"]] == [
        campaign["id"]]

    tasks = inspector.get("/api/recheck-tasks?status=pending").get_json()["items"]
    assert {t["case"]["id"] for t in tasks} == {case_id, other}
    task = next(t for t in tasks if t["case"]["id"] == case_id)
    assert task["check_unit"]["name"] == "Street A" and not task["cross_check"]
    assert task["case"]["result"] == "已责令整改，复测达标"

    answer = recheck(inspector, campaign["id"], task["id"], rebound=True,
                     findings="夜间仍有音响声", plan=plan())
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["case"] == {"id": case_id, "status": "in_progress"}
    assert body["task"]["status"] == "done" and body["task"]["plan_id"] == body["plan"]["id"]
    assert body["plan"]["problem_type"] == "12345热线"  # from the case's channel
    assert body["plan"]["original_problem"].startswith("夜色酒吧深夜噪声扰民")
    assert body["plan"]["may_accept"] is False  # an inspector does not accept
    assert kinds(case_id)[-3:] == ["recheck_recorded", "reopened", "plan_set"]
    reopened = db.session.scalar(sa.select(CaseEvent).where(
        CaseEvent.case_id == case_id, CaseEvent.kind == "reopened"))
    assert reopened.data["campaign_id"] == campaign["id"]
    assert reopened.data["task_id"] == task["id"] and reopened.data["reason"]
    assert reopened.actor_id == db.session.scalar(
        sa.select(User.id).where(User.username == "insp_a"))

    checklist = office.get(f"/api/cases/{case_id}/closure-checklist").get_json()
    rule = next(r for r in checklist["rules"] if r["code"] == "plan_accepted")
    assert rule["met"] is False and not checklist["ready"]
    assert office.get(f"/api/cases/{other}/closure-checklist").status_code == 200
    assert "plan_accepted" not in {r["code"] for r in office.get(
        f"/api/cases/{other}/closure-checklist").get_json()["rules"]}  # no plan: n/a

    plans = office.get(f"/api/cases/{case_id}/plans").get_json()["items"]
    assert len(plans) == 1 and plans[0]["may_accept"] is True
    below = as_user("reviewer_a").post(f"/api/plans/{plans[0]['id']}/accept", json={})
    assert below.status_code == 403  # sees the plan (its case), but Street A is below
    assert below.get_json()["code"] == "plan.accept_forbidden"
    accepted = office.post(f"/api/plans/{plans[0]['id']}/accept", json={"note": "整改到位"})
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["status"] == "accepted"
    assert accepted.get_json()["accepted_by"] == db.session.scalar(
        sa.select(User.id).where(User.username == "reviewer"))
    assert accepted.get_json()["acceptance_note"] == "整改到位"
    again = office.post(f"/api/plans/{plans[0]['id']}/accept", json={})
    assert again.status_code == 409 and again.get_json()["code"] == "plan.already_accepted"

    submit_ready(office, inspector, as_user("revisit"), case_id)  # asserts ready
    assert approve(office, case_id).status_code == 200
    assert office.get(f"/api/cases/{case_id}").get_json()["status"] == "closed"
    detail = office.get(f"/api/campaigns/{campaign['id']}").get_json()
    assert detail["counts"] == {"total": 2, "done": 1, "rebound": 1, "new_problems": 1}

    listed = plan_domain.problem_list(db.session.scalar(
        sa.select(User).where(User.username == "reviewer")), campaign["id"])
    assert [r["seq"] for r in listed["rows"]] == [1]
    assert listed["rows"][0]["acceptance_unit"] == "District"
    assert listed["rows"][0]["due_on"] == today() + timedelta(days=10)
    assert listed["rows"][0]["status"] == "accepted"


# ---- cross-checks ------------------------------------------------------------------------------
def test_a_cross_check_unit_sees_and_records_only_its_task(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    case_id = closed(make_case)
    made = start(office, check_unit_id=unit_id("Street B"))
    assert made.status_code == 201, made.get_json()
    campaign = made.get_json()
    assert campaign["check_unit"] == {"id": unit_id("Street B"), "name": "Street B"}

    checker = as_user("insp_b")
    tasks = checker.get("/api/recheck-tasks").get_json()["items"]
    assert [t["case"]["id"] for t in tasks] == [case_id] and tasks[0]["cross_check"]
    shown = str(tasks[0])
    assert "张三" not in shown and "13812341234" not in shown and "complainant" not in shown
    assert checker.get(f"/api/cases/{case_id}").status_code == 404
    assert checker.get(f"/api/campaigns/{campaign['id']}").get_json()["organiser"] is False

    # The handling unit is not the checker here: the task is not theirs.
    handler = as_user("insp_a")
    assert handler.get("/api/recheck-tasks").get_json()["items"] == []
    assert recheck(handler, campaign["id"], tasks[0]["id"]).status_code == 404
    assert handler.get(f"/api/campaigns/{campaign['id']}/tasks").status_code == 404

    body = {"task_id": tasks[0]["id"], "client_id": str(uuid.uuid4()), "rebound": False,
            "findings": "未见反弹"}
    first = checker.post(f"/api/campaigns/{campaign['id']}/rechecks", json=body)
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["case"] == {"id": case_id, "status": "closed"}
    retry = checker.post(f"/api/campaigns/{campaign['id']}/rechecks", json=body)
    assert retry.status_code == 200 and retry.get_json() == first.get_json()
    changed = checker.post(f"/api/campaigns/{campaign['id']}/rechecks",
                           json={**body, "rebound": True, "plan": plan()})
    assert changed.status_code == 409
    assert changed.get_json()["code"] == "recheck.client_id_reused"
    done = recheck(checker, campaign["id"], tasks[0]["id"])
    assert done.status_code == 409 and done.get_json()["code"] == "recheck.already_done"
    assert kinds(case_id).count("recheck_recorded") == 1
    assert kinds(case_id)[-1] == "recheck_recorded"
    organiser_view = office.get(f"/api/campaigns/{campaign['id']}/tasks").get_json()["items"]
    assert organiser_view[0]["status"] == "done" and organiser_view[0]["visit_id"]


def test_a_cross_check_rebound_reopens_the_case_the_checker_cannot_open(
        app, as_user, make_case) -> None:
    case_id = closed(make_case)
    campaign = start(as_user("reviewer"), check_unit_id=unit_id("Street B")).get_json()
    checker = as_user("insp_b")
    task = checker.get("/api/recheck-tasks").get_json()["items"][0]
    answer = recheck(checker, campaign["id"], task["id"], rebound=True, plan=plan())
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["case"]["status"] == "in_progress"
    assert checker.get(f"/api/cases/{case_id}").status_code == 404
    assert as_user("insp_a").get(f"/api/cases/{case_id}").get_json()["status"] == "in_progress"


# ---- bad input -----------------------------------------------------------------------------------
def test_a_campaign_over_no_case_or_too_long_a_period_is_refused(app, as_user,
                                                                  make_case) -> None:
    office = as_user("reviewer")
    make_case()  # open, not closed: not chosen
    empty = start(office)
    assert empty.status_code == 422 and empty.get_json()["code"] == "campaign.empty"
    assert empty.get_json()["messages"]["zh"] and empty.get_json()["messages"]["en"]
    long = start(office, **{"from": "2020-01-01", "to": "2026-11-30"})
    assert long.status_code == 422 and long.get_json()["code"] == "campaign.period_too_long"
    backwards = start(office, **{"from": "2026-11-30", "to": "2026-11-01"})
    assert backwards.status_code == 422 and backwards.get_json()["code"] == "campaign.bad_period"
    assert as_user("insp_a").post("/api/campaigns", json={
        "title": "x", **PERIOD}).status_code == 403
    closed(make_case, external_ref="12345-2026-0003")
    untitled = office.post("/api/campaigns", json=PERIOD)
    assert untitled.status_code == 422 and untitled.get_json()["code"] == "campaign.title_missing"
    assert office.post("/api/campaigns", json={**PERIOD, "preview": True}).get_json() == {
        "count": 1, "skipped_held": 0, "skipped_own": 0}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


def test_a_case_held_by_another_campaign_is_skipped_and_refused(app, as_user,
                                                                 make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    held = closed(make_case)
    first = start(office).get_json()
    again = start(office)
    assert again.status_code == 422 and again.get_json()["code"] == "campaign.empty"
    assert again.get_json()["skipped_held"] == 1
    free = closed(make_case, external_ref="12345-2026-0009",
                  received_at="2026-10-10T10:00:00+08:00")
    second = start(office, **{"from": "2026-10-01", "to": "2026-11-30"})
    assert second.status_code == 201
    assert second.get_json()["skipped_held"] == 1 and second.get_json()["counts"]["total"] == 1
    refused = inspector.post(f"/api/campaigns/{second.get_json()['id']}/rechecks", json={
        "case_id": held, "client_id": str(uuid.uuid4()), "rebound": False})
    assert refused.status_code == 409 and refused.get_json()["code"] == "recheck.held_by_other"
    assert first["title"] in refused.get_json()["messages"]["zh"]
    tasks = db.session.scalars(sa.select(RecheckTask.case_id).where(
        RecheckTask.campaign_id == second.get_json()["id"])).all()
    assert tasks == [free]


def test_a_rebound_without_a_complete_plan_changes_nothing(app, as_user, make_case) -> None:
    case_id = closed(make_case)
    campaign = start(as_user("reviewer")).get_json()
    inspector = as_user("insp_a")
    task = inspector.get("/api/recheck-tasks").get_json()["items"][0]
    for changes, code in ((None, "plan.due_missing"),
                          (plan(due_on=None), "plan.due_missing"),
                          (plan(acceptance_unit_id=None), "plan.acceptance_unit_missing"),
                          (plan(due_on=(today() - timedelta(days=1)).isoformat()),
                           "plan.due_past"),
                          (plan(measures=" "), "plan.bad_fields")):
        answer = recheck(inspector, campaign["id"], task["id"], rebound=True, plan=changes)
        assert answer.status_code == 422, (changes, answer.get_json())
        assert answer.get_json()["code"] == code
    # A new problem without a rebound needs its plan too.
    answer = recheck(inspector, campaign["id"], task["id"], new_problem="新增油烟扰民")
    assert answer.status_code == 422 and answer.get_json()["code"] == "plan.due_missing"
    db.session.expire_all()
    assert db.session.get(Case, case_id).status == "closed"
    assert db.session.scalar(sa.select(RecheckTask.status)) == "pending"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RectificationPlan)) == 0
    assert "recheck_recorded" not in kinds(case_id)


def test_a_case_reopened_meanwhile_cannot_be_rechecked(app, as_user, make_case) -> None:
    case_id = closed(make_case)
    campaign = start(as_user("reviewer")).get_json()
    inspector = as_user("insp_a")
    task = inspector.get("/api/recheck-tasks").get_json()["items"][0]
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(status="in_progress"))
    db.session.commit()
    answer = recheck(inspector, campaign["id"], task["id"])
    assert answer.status_code == 409 and answer.get_json()["code"] == "recheck.case_not_closed"


# ---- the plan on the clock ---------------------------------------------------------------------
RULE = {"code": "t", "channels": ["phone"], "counting": "calendar_days", "due": 7,
        "colours": [{"colour": "green", "from_day": 1}, {"colour": "red", "from_day": 7}]}


def test_a_plan_makes_the_end_of_its_day_the_due_date_colours_keeping_their_distance() -> None:
    received = datetime(2026, 11, 1, 2, tzinfo=UTC)
    reopened = datetime(2026, 12, 5, 2, tzinfo=UTC)
    events = [deadlines.ClockEvent("received", received, {"received_at": received}),
              deadlines.ClockEvent("reopened", reopened, {})]
    plain = deadlines.schedule(RULE, 1, events, calendar=None, tz=SHANGHAI)
    assert plain.due_at == reopened + timedelta(days=7)
    with_plan = deadlines.schedule(
        RULE, 1, [*events, deadlines.ClockEvent("plan_set", reopened, {"due_on": "2026-12-20"})],
        calendar=None, tz=SHANGHAI)
    end = datetime(2026, 12, 21, tzinfo=SHANGHAI)
    assert with_plan.due_at == end
    assert with_plan.steps[0][0] == end - (plain.due_at - plain.steps[0][0])
    extended = deadlines.schedule(
        RULE, 1, [*events, deadlines.ClockEvent("plan_set", reopened, {"due_on": "2026-12-20"}),
                  deadlines.ClockEvent("extended", reopened + timedelta(days=1), {"days": 3})],
        calendar=None, tz=SHANGHAI)
    assert extended.due_at == end + timedelta(days=3)
    # A later reopen restarts the clock without the old plan.
    later = reopened + timedelta(days=30)
    restarted = deadlines.schedule(
        RULE, 1, [*events, deadlines.ClockEvent("plan_set", reopened, {"due_on": "2026-12-20"}),
                  deadlines.ClockEvent("reopened", later, {})], calendar=None, tz=SHANGHAI)
    assert restarted.due_at == later + timedelta(days=7)


def test_the_plans_date_is_the_reopened_cases_due_date(app, as_user, make_case) -> None:
    case_id = closed(make_case)
    campaign = start(as_user("reviewer")).get_json()
    inspector = as_user("insp_a")
    task = inspector.get("/api/recheck-tasks").get_json()["items"][0]
    due_on = today() + timedelta(days=20)
    answer = recheck(inspector, campaign["id"], task["id"], rebound=True,
                     plan=plan(due_on=due_on.isoformat()))
    assert answer.status_code == 201, answer.get_json()
    case = inspector.get(f"/api/cases/{case_id}").get_json()
    due_at = datetime.fromisoformat(case["deadline"]["due_at"])
    assert due_at == datetime.combine(due_on + timedelta(days=1), datetime.min.time(), SHANGHAI)


# ---- progress (annex 2) ---------------------------------------------------------------
def local(day: str, hour: int) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=SHANGHAI)


def test_progress_by_unit_and_week_is_what_a_hand_count_gives(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    a = [closed(make_case, external_ref=f"A-{i}") for i in range(3)]
    b = [closed(make_case, unit="Street B", external_ref=f"B-{i}") for i in range(2)]
    campaign_id = start(office).get_json()["id"]
    db.session.execute(sa.update(Campaign).values(created_at=local("2026-11-24", 9)))
    # Week 1 (Mon 23 Nov): A0 checked, fine; B0 checked on Sunday night, a new problem.
    # Week 2 (Mon 30 Nov): A1 rebound, B1 checked fine; A2 still pending.
    done = {a[0]: (local("2026-11-25", 10), False, None),
            b[0]: (local("2026-11-29", 23), False, "新增油烟扰民"),
            a[1]: (local("2026-11-30", 0), True, None),
            b[1]: (local("2026-12-02", 15), False, "")}
    for case_id, (at, rebound, new) in done.items():
        db.session.execute(sa.update(RecheckTask).where(RecheckTask.case_id == case_id).values(
            status="done", checked_at=at, rebound=rebound, new_problem=new))
    db.session.commit()

    week1 = office.get(f"/api/campaigns/{campaign_id}/progress?week=2026-11-26").get_json()
    assert week1["week"] == {"from": "2026-11-23", "to": "2026-11-29"}
    assert week1["weeks"][:2] == ["2026-11-23", "2026-11-30"]
    rows = {r["unit"]: r for r in week1["rows"]}
    assert [r["unit"] for r in week1["rows"]] == ["Street A", "Street B"]
    assert (rows["Street A"]["total"], rows["Street A"]["week_done"], rows["Street A"]["done"],
            rows["Street A"]["week_new"], rows["Street A"]["new_total"]) == (3, 1, 1, 0, 0)
    assert (rows["Street B"]["total"], rows["Street B"]["week_done"], rows["Street B"]["done"],
            rows["Street B"]["week_new"], rows["Street B"]["new_total"]) == (2, 1, 1, 1, 1)
    assert rows["Street A"]["rate"] == {"numerator": 1, "denominator": 3, "value": 0.3333}
    assert week1["totals"]["total"] == 5 and week1["totals"]["done"] == 2

    week2 = office.get(f"/api/campaigns/{campaign_id}/progress?week=2026-11-30").get_json()
    rows = {r["unit"]: r for r in week2["rows"]}
    assert (rows["Street A"]["week_done"], rows["Street A"]["done"],
            rows["Street A"]["week_new"], rows["Street A"]["new_total"]) == (1, 2, 1, 1)
    assert (rows["Street B"]["week_done"], rows["Street B"]["done"],
            rows["Street B"]["week_new"], rows["Street B"]["new_total"]) == (1, 2, 0, 1)
    assert rows["Street B"]["rate"]["value"] == 1.0
    assert week2["totals"] | {"rate": None} == {
        "unit_id": None, "unit": "合计", "total": 5, "week_done": 2, "done": 4, "week_new": 1,
        "new_total": 2, "note": "", "rate": None}
    assert week2["totals"]["rate"] == {"numerator": 4, "denominator": 5, "value": 0.8}
    # A checking unit's own view: its row only.
    mine = as_user("insp_b").get(f"/api/campaigns/{campaign_id}/progress?week=2026-11-30")
    assert [r["unit"] for r in mine.get_json()["rows"]] == ["Street B"]
    user = db.session.scalar(sa.select(User).where(User.username == "reviewer"))
    assert campaign_domain.progress(user, campaign_id, date(2026, 11, 30)) == week2


# ---- photos of a re-check ------------------------------------------------------------------
def test_the_checker_files_photos_on_the_recheck_visit_of_a_case_still_closed(
        app, as_user, make_case) -> None:
    case_id = closed(make_case)
    campaign = start(as_user("reviewer"), check_unit_id=unit_id("Street B")).get_json()
    checker = as_user("insp_b")
    task = checker.get("/api/recheck-tasks").get_json()["items"][0]
    answer = recheck(checker, campaign["id"], task["id"])
    assert answer.status_code == 201 and answer.get_json()["case"]["status"] == "closed"
    visit_id = answer.get_json()["visit_id"]
    stored = file_photo(checker, case_id, NOKIA.read_bytes(), visit_id=visit_id)
    assert stored["state"] == "stored" and stored["visit_id"] == visit_id
    assert checker.get(f"/api/evidence/{stored['id']}").status_code == 200
    assert checker.get(f"/api/cases/{case_id}").status_code == 404  # still not theirs
    # Without the re-check's visit, a closed case takes no photo, from anyone.
    refused = as_user("insp_a").post("/api/evidence", json=declaration(case_id, b"other"))
    assert refused.status_code == 409 and refused.get_json()["code"] == "case.closed"
    # Another unit's person cannot use that visit.
    other = as_user("reviewer_a").post("/api/evidence", json=declaration(
        case_id, b"x", visit_id=visit_id))
    assert other.status_code == 409
    assert "evidence_stored" in kinds(case_id)


# ---- who accepts a rectification -------------------------------------------------------------
def test_the_acceptance_unit_is_over_the_case_or_the_organiser_and_the_phone_is_told_which(
        app, as_user, make_case) -> None:
    case_id = closed(make_case)
    campaign = start(as_user("reviewer")).get_json()
    inspector = as_user("insp_a")
    task = inspector.get("/api/recheck-tasks").get_json()["items"][0]
    assert [u["name"] for u in task["acceptance_units"]] == ["Street A", "District"]
    aside = recheck(inspector, campaign["id"], task["id"], rebound=True,
                    plan=plan(acceptance_unit_id=unit_id("Street B")))
    assert aside.status_code == 422, aside.get_json()
    assert aside.get_json()["code"] == "plan.acceptance_unit_out_of_scope"
    assert kinds(case_id)[-1] != "recheck_recorded"  # nothing written
    own = recheck(inspector, campaign["id"], task["id"], rebound=True,
                  plan=plan(acceptance_unit_id=unit_id("Street A")))
    assert own.status_code == 201, own.get_json()
    assert own.get_json()["plan"]["acceptance_unit"]["name"] == "Street A"
    # Street A's office accepts; Street B's sees nothing of it.
    plan_id = own.get_json()["plan"]["id"]
    assert as_user("insp_b").post(f"/api/plans/{plan_id}/accept", json={}).status_code == 404
    accepted = as_user("reviewer_a").post(f"/api/plans/{plan_id}/accept", json={})
    assert accepted.status_code == 200, accepted.get_json()


def test_whoever_rechecked_or_handled_the_case_does_not_accept_its_plan(
        app, as_user, make_case) -> None:
    office, admin = as_user("reviewer"), as_user("admin")
    case_id = make_case()["id"]
    visited = admin.post(f"/api/cases/{case_id}/visits", json=visit_body())
    assert visited.status_code == 201, visited.get_json()
    close(case_id)
    campaign = start(office).get_json()
    task = office.get(f"/api/campaigns/{campaign['id']}/tasks").get_json()["items"][0]
    answer = recheck(office, campaign["id"], task["id"], rebound=True, plan=plan())
    assert answer.status_code == 201, answer.get_json()
    plan_id = answer.get_json()["plan"]["id"]
    assert answer.get_json()["plan"]["may_accept"] is False
    for who in (office, admin):  # the checker; the one who visited the case
        refused = who.post(f"/api/plans/{plan_id}/accept", json={})
        assert refused.status_code == 403 and refused.get_json()["code"] == "plan.accept_own"
    assert as_user("admin_a").get(f"/api/cases/{case_id}/plans").get_json()["items"][0][
        "may_accept"] is False  # Street A's admin: the acceptance unit is above it
    assert db.session.scalar(sa.select(RectificationPlan.status)) == "open"


# ---- the plan's completion date ----------------------------------------------------------------
def test_the_plans_date_is_judged_from_the_rechecks_own_day_and_at_most_plan_max_days_on(
        app, as_user, make_case) -> None:
    closed(make_case)
    closed(make_case, external_ref="12345-2026-0003")
    campaign = start(as_user("reviewer")).get_json()
    inspector = as_user("insp_a")
    first, second = inspector.get("/api/recheck-tasks").get_json()["items"]
    # The phone was online two days ago (its session's start bounds what it queued).
    db.session.execute(sa.update(UserSession).values(
        created_at=datetime.now(UTC) - timedelta(days=2)))
    db.session.commit()
    yesterday = today() - timedelta(days=1)
    late = datetime.combine(yesterday, datetime.min.time(), SHANGHAI).replace(
        hour=23, minute=50)
    longest = app.config["PLAN_MAX_DAYS"]
    far = recheck(inspector, campaign["id"], first["id"], rebound=True,
                  checked_at=late.isoformat(),
                  plan=plan(due_on=(yesterday + timedelta(days=longest + 1)).isoformat()))
    assert far.status_code == 422 and far.get_json()["code"] == "plan.due_too_far"
    # Synced this morning, dated the re-check's own day: that day is not past.
    synced = recheck(inspector, campaign["id"], first["id"], rebound=True,
                     checked_at=late.isoformat(), plan=plan(due_on=yesterday.isoformat()))
    assert synced.status_code == 201, synced.get_json()
    assert synced.get_json()["plan"]["due_on"] == yesterday.isoformat()
    # Without the phone's time the re-check is today's: yesterday is past, a year on is not.
    past = recheck(inspector, campaign["id"], second["id"], rebound=True,
                   plan=plan(due_on=yesterday.isoformat()))
    assert past.status_code == 422 and past.get_json()["code"] == "plan.due_past"
    edge = recheck(inspector, campaign["id"], second["id"], rebound=True,
                   plan=plan(due_on=(today() + timedelta(days=longest)).isoformat()))
    assert edge.status_code == 201, edge.get_json()


# ---- what the INSERT made is the truth ---------------------------------------------------------
def test_a_campaign_whose_cases_were_taken_meanwhile_is_not_made_empty(
        app, as_user, make_case, monkeypatch) -> None:
    office = as_user("reviewer")
    closed(make_case)
    closed(make_case, external_ref="12345-2026-0004")
    first = start(office, title="第一轮")
    assert first.status_code == 201 and first.get_json()["counts"]["total"] == 2
    # The count read before another campaign took both cases, the INSERT after it.
    monkeypatch.setattr(campaign_domain, "_counts", lambda *_: (2, 0, 0))
    late = start(office, title="第二轮")
    assert late.status_code == 422 and late.get_json()["code"] == "campaign.empty"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1
    # One of three still free: the two taken are counted as skipped, whatever was read.
    closed(make_case, external_ref="12345-2026-0005")
    monkeypatch.setattr(campaign_domain, "_counts", lambda *_: (3, 0, 0))
    third = start(office, title="第三轮")
    assert third.status_code == 201, third.get_json()
    assert third.get_json()["counts"]["total"] == 1 and third.get_json()["skipped_held"] == 2


def test_the_campaign_list_costs_the_same_statements_for_one_campaign_as_for_four(
        app, as_user, make_case) -> None:
    office = as_user("reviewer")
    costs = []
    for n in (1, 3):
        for i in range(n):
            closed(make_case, external_ref=f"12345-2026-1{n}{i}")
            check = {"check_unit_id": unit_id("Street B")} if i % 2 else {}
            assert start(office, title=f"第{n}-{i}轮", **check).status_code == 201
        with statements() as seen:
            listed = office.get("/api/campaigns")
        assert listed.status_code == 200
        costs.append((len(listed.get_json()["items"]), len(seen)))
    assert [n for n, _ in costs] == [1, 4]
    assert costs[0][1] == costs[1][1], costs
    names = {c["title"]: c["check_unit"] for c in listed.get_json()["items"]}
    assert names["第3-1轮"] == {"id": unit_id("Street B"), "name": "Street B"}


# ---- dates out of bounds: clear refusals, never an overflow -------------------------------------
def test_campaign_dates_and_weeks_out_of_bounds_are_refused_clearly(
        app, as_user, make_case) -> None:
    office = as_user("reviewer")
    closed(make_case)
    tomorrow = (today() + timedelta(days=1)).isoformat()
    for changes, code, field in (
            ({"to": tomorrow}, "campaign.to_in_future", "to"),
            ({"to": "9999-12-31"}, "campaign.to_in_future", "to"),
            ({"from": "1999-12-31"}, "campaign.date_too_early", "from"),
            ({"from": "0001-01-01", "to": "0001-01-02"}, "campaign.date_too_early", "from")):
        for preview in (True, False):
            answer = start(office, preview=preview, **changes)
            assert answer.status_code == 422, (changes, answer.get_json())
            assert answer.get_json()["code"] == code
            assert field in answer.get_json()["errors"]
    made = start(office, to=today().isoformat())
    assert made.status_code == 201, made.get_json()
    url = f"/api/campaigns/{made.get_json()['id']}/progress"
    assert office.get(url).status_code == 200
    this_week = office.get(f"{url}?week={today().isoformat()}").get_json()["week"]["from"]
    assert office.get(url).get_json()["week"]["from"] == this_week
    for week in ("0001-01-01", "9999-12-31", "2026-01-05",
                 (today() + timedelta(days=8)).isoformat()):
        answer = office.get(f"{url}?week={week}")
        assert answer.status_code == 422, (week, answer.get_json())
        assert answer.get_json()["code"] == "campaign.bad_week"


# ---- cross-checks stay in the district, never on the checker's own cases -----------------------
def test_a_cross_check_goes_to_a_unit_of_the_district_and_skips_its_own_cases(
        app, as_user, make_case) -> None:
    office = as_user("reviewer")
    theirs = closed(make_case, description="张三（13812341234）反映：每晚音响扰民")
    own = closed(make_case, unit="Street B", external_ref="12345-2026-0006")
    outside = auth.create_unit("Other district")
    db.session.commit()
    try:
        refused = start(office, check_unit_id=outside.id)
        assert refused.status_code == 422, refused.get_json()
        assert refused.get_json()["code"] == "campaign.check_unit_out_of_scope"
    finally:
        db.session.delete(db.session.get(Unit, outside.id))
        db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0
    cross = {"check_unit_id": unit_id("Street B")}
    assert start(office, preview=True, **cross).get_json() == {
        "count": 1, "skipped_held": 0, "skipped_own": 1}
    made = start(office, **cross)
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["skipped_own"] == 1 and made.get_json()["counts"]["total"] == 1
    tasks = office.get(f"/api/campaigns/{made.get_json()['id']}/tasks").get_json()["items"]
    assert [t["case"]["id"] for t in tasks] == [theirs]  # not Street B's own case
    assert own not in {t["case"]["id"] for t in tasks}
    # The checker's plan quotes the subject, never the description's free text.
    answer = recheck(as_user("insp_b"), made.get_json()["id"], tasks[0]["id"], rebound=True,
                     plan=plan())
    assert answer.status_code == 201, answer.get_json()
    original = answer.get_json()["plan"]["original_problem"]
    assert original == db.session.get(Case, theirs).subject
    assert "张三" not in str(answer.get_json()) and "13812341234" not in str(answer.get_json())


# ---- a rebound rings the handling unit ---------------------------------------------------------
def test_a_rebound_reopen_rings_the_handling_unit_and_its_webhooks(
        app, as_user, make_case) -> None:
    db.session.add(Webhook(unit_id=unit_id("District"), url="https://hooks.example.com/in",
                           legacy_secret="s"))
    db.session.commit()
    case_id = closed(make_case)
    quiet = closed(make_case, external_ref="12345-2026-0007")
    campaign = start(as_user("reviewer"), check_unit_id=unit_id("Street B")).get_json()
    checker = as_user("insp_b")
    tasks = {t["case"]["id"]: t for t in checker.get("/api/recheck-tasks").get_json()["items"]}
    assert recheck(checker, campaign["id"], tasks[quiet]["id"]).status_code == 201
    answer = recheck(checker, campaign["id"], tasks[case_id]["id"], rebound=True, plan=plan())
    assert answer.status_code == 201, answer.get_json()
    notes = as_user("reviewer_a").get("/api/notifications").get_json()["items"]
    assert [(n["kind"], n["case_id"]) for n in notes] == [("recheck_reopened", case_id)]
    note = db.session.scalars(sa.select(Notification)).one()  # none for the quiet re-check
    assert note.unit_id == unit_id("Street A")
    assert note.data == {"campaign_id": campaign["id"], "task_id": tasks[case_id]["id"]}
    assert checker.get("/api/notifications").get_json()["items"] == []  # not the checker's
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)
                             .filter_by(notification_id=note.id)) == 1


@pytest.mark.usefixtures("two_step_upload")
def test_recheck_photos_follow_the_recheck_for_a_day_and_until_the_case_closes_again(
        app, as_user, make_case) -> None:
    quiet = closed(make_case)
    rebound = closed(make_case, external_ref="12345-2026-0008")
    campaign = start(as_user("reviewer"), check_unit_id=unit_id("Street B")).get_json()
    checker = as_user("insp_b")
    tasks = {t["case"]["id"]: t for t in checker.get("/api/recheck-tasks").get_json()["items"]}
    calm = recheck(checker, campaign["id"], tasks[quiet]["id"]).get_json()["visit_id"]
    found = recheck(checker, campaign["id"], tasks[rebound]["id"], rebound=True,
                    plan=plan()).get_json()["visit_id"]
    assert checker.post("/api/evidence", json=declaration(
        rebound, b"first", visit_id=found)).status_code == 201  # reopened, not theirs to see
    # Declared in time, its bytes sent, but completed only after the case closed again.
    photo = NOKIA.read_bytes()
    waiting = declare_and_upload(checker, rebound, photo, visit_id=found)
    # The case reopened by the rebound is closed again: its re-check takes no more photos.
    close(rebound)
    late = checker.post("/api/evidence", json=declaration(rebound, b"after", visit_id=found))
    assert late.status_code == 409 and late.get_json()["code"] == "case.closed"
    # ... nor stores one declared before: it waits, as any photo for a closed case does.
    done = checker.post(f"/api/evidence/{waiting['id']}/complete")
    assert done.status_code == 409 and done.get_json()["code"] == "case.closed"
    db.session.expire_all()
    assert db.session.get(Evidence, waiting["id"]).state == "pending"
    # A re-check that found nothing: a day on, its case (still closed) takes none either.
    assert checker.post("/api/evidence", json=declaration(
        quiet, b"soon", visit_id=calm)).status_code == 201
    sent = declare_and_upload(checker, quiet, photo + b"\x00", visit_id=calm)
    db.session.execute(sa.update(Visit).where(Visit.id == calm).values(
        received_at=datetime.now(UTC) - timedelta(hours=25)))
    db.session.commit()
    day_on = checker.post("/api/evidence", json=declaration(quiet, b"later", visit_id=calm))
    assert day_on.status_code == 409 and day_on.get_json()["code"] == "case.closed"
    done = checker.post(f"/api/evidence/{sent['id']}/complete")
    assert done.status_code == 409 and done.get_json()["code"] == "case.closed"
    db.session.expire_all()
    assert db.session.get(Evidence, sent["id"]).state == "pending"


def test_two_phones_recording_one_task_at_once_record_it_once(
        app, as_user, make_case, monkeypatch) -> None:
    """Two phones of the checking unit send the same task's re-check at the same moment
    (different client_ids): one is recorded, the other is told it was done. On SQLite the
    task's locking read takes the writer lock (it has no row locks), so the second waits
    and then reads the task done, as on PostgreSQL."""
    import threading

    from server.domain.remediation import rechecks

    case_id = closed(make_case)
    campaign = start(as_user("reviewer")).get_json()
    phones = as_user("insp_a"), as_user("insp_a")
    task = phones[0].get("/api/recheck-tasks").get_json()["items"][0]
    both_read = threading.Barrier(2, timeout=2)
    original = rechecks._find_task

    def find_then_wait(user: Any, campaign: Any, data: Any) -> Any:
        found = original(user, campaign, data)
        assert found.status  # read, as record() reads it next
        # Without the lock both get here and read the task pending; with it, the other
        # waits for the lock and this one goes on alone once the barrier gives up.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()
        return found

    monkeypatch.setattr(rechecks, "_find_task", find_then_wait)
    answers: dict[int, Any] = {}

    def send(n: int) -> None:
        answer = phones[n].post(f"/api/campaigns/{campaign['id']}/rechecks", json={
            "task_id": task["id"], "client_id": str(uuid.uuid4()), "rebound": False,
            "findings": f"手机{n}：未见反弹"})
        answers[n] = (answer.status_code, answer.get_json().get("code"))

    threads = [threading.Thread(target=send, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers.values(), key=str) == [(201, None), (409, "recheck.already_done")]
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit).where(
        Visit.case_id == case_id, Visit.kind == "recheck")) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(
        CaseEvent.case_id == case_id, CaseEvent.kind == "recheck_recorded")) == 1


def test_a_campaign_takes_only_cases_its_organiser_leads(app, as_user, make_case) -> None:
    """A case Street A only co-handles (协办) is Street B's: Street A's office may not
    reopen it, so its look-back campaign does not take it either (nor may a cross-check
    to itself reopen it through a rebound)."""
    from tests.test_lifecycle import walk

    case_id = make_case(unit="Street B")["id"]
    walk(as_user("reviewer"), case_id, ("co_handle", {"unit_id": unit_id("Street A"),
                                                      "part": "联合执法"}))
    close(case_id)
    street_a = as_user("reviewer_a")
    assert start(street_a, preview=True).get_json()["count"] == 0
    refused = start(street_a, check_unit_id=unit_id("Street A"))
    assert refused.status_code == 422 and refused.get_json()["code"] == "campaign.empty"
    mine = closed(make_case, unit="Street A")
    made = start(street_a)
    assert made.status_code == 201
    tasks = as_user("insp_a").get(f"/api/campaigns/{made.get_json()['id']}/tasks").get_json()
    assert [t["case"]["id"] for t in tasks["items"]] == [mine]


def test_someone_in_two_streets_organises_each_streets_campaign_apart(
        app, as_user, make_case) -> None:
    """A campaign's organising unit sees all its tasks: one started over Street B by
    someone in Streets A and B is Street B's, and Street A's people see none of it."""
    if db.session.scalar(sa.select(User).where(User.username == "rev_ab")) is None:
        auth.create_user("rev_ab", "correct-horse-battery", "reviewer",
                         ["Street A", "Street B"])
        db.session.commit()
    b_case = closed(make_case, unit="Street B", subject="B街道某酒吧噪声")
    a_case = closed(make_case, unit="Street A")
    both = as_user("rev_ab")
    over_b = start(both, unit_id=unit_id("Street B"))
    assert over_b.status_code == 201, over_b.get_json()
    assert over_b.get_json()["organiser_unit"]["name"] == "Street B"
    for name in ("insp_a", "lead_a", "reviewer_a"):
        assert as_user(name).get(f"/api/campaigns/{over_b.get_json()['id']}/tasks"
                                 ).status_code == 404, name
    seen = as_user("insp_b").get(f"/api/campaigns/{over_b.get_json()['id']}/tasks").get_json()
    assert [t["case"]["id"] for t in seen["items"]] == [b_case]
    # Without a unit, the campaign is their highest unit's (Street A): its cases only.
    plain = start(both, title="第二轮回头看")
    assert plain.status_code == 201, plain.get_json()
    assert plain.get_json()["organiser_unit"]["name"] == "Street A"
    listed = both.get(f"/api/campaigns/{plain.get_json()['id']}/tasks").get_json()["items"]
    assert [t["case"]["id"] for t in listed] == [a_case]


def test_a_pending_recheck_follows_its_case_to_a_new_unit(app, as_user, make_case) -> None:
    """A case reopened and transferred to Street B while its re-check is pending is Street
    B's to check: Street A's inspector no longer has the task (nor may record it)."""
    from tests.test_lifecycle import walk

    office = as_user("reviewer")
    case_id = closed(make_case)  # Street A's
    campaign = start(office).get_json()
    walk(office, case_id, ("reopen", {"reason": "复核"}),
         ("transfer", {"unit_id": unit_id("Street B"), "reason": "属地调整"}))
    close(case_id)  # handled and closed again, by Street B
    insp_a, insp_b = as_user("insp_a"), as_user("insp_b")
    assert [t["case"]["id"] for t in insp_a.get("/api/recheck-tasks").get_json()["items"]] == []
    task_id = db.session.scalar(sa.select(RecheckTask.id).where(RecheckTask.case_id == case_id))
    refused = recheck(insp_a, campaign["id"], task_id, rebound=True, plan=plan())
    assert refused.status_code == 404
    tasks = insp_b.get("/api/recheck-tasks").get_json()["items"]
    assert [(t["case"]["id"], t["check_unit"]["name"]) for t in tasks] == [(case_id, "Street B")]
    assert recheck(insp_b, campaign["id"], tasks[0]["id"]).status_code == 201


def test_an_organiser_no_longer_sees_a_task_whose_case_left_its_units(
        app, as_user, make_case) -> None:
    """Street A's campaign; the case is reopened and transferred to Street B by the
    district: Street A's office no longer reads the case, nor its task in the campaign."""
    from tests.test_lifecycle import walk

    case_id, kept = closed(make_case), closed(make_case)
    street_a = as_user("reviewer_a")
    campaign = start(street_a).get_json()
    walk(as_user("reviewer"), case_id, ("reopen", {"reason": "复核"}),
         ("transfer", {"unit_id": unit_id("Street B"), "reason": "属地调整"}))
    close(case_id)
    assert street_a.get(f"/api/cases/{case_id}").status_code == 404
    tasks = street_a.get(f"/api/campaigns/{campaign['id']}/tasks").get_json()["items"]
    assert [t["case"]["id"] for t in tasks] == [kept]
    assert [t["case"]["id"] for t in as_user("insp_b").get(
        f"/api/campaigns/{campaign['id']}/tasks").get_json()["items"]] == [case_id]
