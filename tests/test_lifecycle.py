"""The case's life: every action x state x role from the one transition table, version
conflicts, closed cases, routing (transfer, co-handling, supervision) and the timeline."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import sqlalchemy as sa

from server.domain.cases.lifecycle import ACTIONS, TRANSITIONS
from server.domain.core.vocab import CASE_STATUSES
from server.extensions import db
from server.models import AuditEntry, Case, CaseEvent, User
from tests.closure_facts import submit_ready
from tests.conftest import unit_id

# Who acts, and how their units stand to a case of Street A.
ACTORS = {"insp_a": "inspector", "reviewer_a": "reviewer", "reviewer": "reviewer",
          "admin": "admin", "revisit": "revisit"}


def user_id(username: str) -> str:
    return db.session.scalar(sa.select(User.id).filter_by(username=username))


def params_for(action: str) -> dict[str, Any]:
    return {
        "dispatch": {"unit_id": unit_id("Street A"), "assignee_ids": [user_id("insp_a")]},
        "submit": {"verdict": "true", "result": "已责令整改，复测达标"},
        "return": {"reasons": ["照片缺少地点说明"]},
        "reopen": {"reason": "回头看发现反弹"},
        "transfer": {"unit_id": unit_id("Street B"), "reason": "属地调整"},
        "extend": {"days": 3, "reason": "需协调业主"},
        "co_handle": {"unit_id": unit_id("Street B"), "part": "负责夜间联合执法"},
        "supervise": {"note": "请加快办理"},
    }.get(action, {})


def put_in(case_id: str, status: str) -> int:
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(status=status))
    db.session.commit()
    return db.session.scalar(sa.select(Case.version).where(Case.id == case_id))


def expected(action: Any, username: str, status: str) -> int:
    """What the table says, worked out independently of the code that reads it."""
    role = ACTORS[username]
    # Every actor's units hold Street A; only reviewer_a and insp_a sit in it directly.
    relation_ok = {"lead": True,
                   "above": username in ("reviewer", "admin", "revisit")}[action.relation]
    if role not in action.roles or not relation_ok:
        return 403
    if status not in action.sources:
        return 409
    if action.name == "approve":
        return 422  # allowed by the table; the closure checklist of a bare case is unmet
    return 200


@pytest.mark.parametrize("action", [a.name for a in TRANSITIONS])
def test_every_action_state_and_role(app, as_user, make_case, action: str) -> None:
    """Each action from each state by each role: the answer the table gives, and nothing
    written when refused (one test per action keeps the logins few). A case that refused
    the action serves the next attempt from its state: nothing was written to it, which
    each attempt on it checks again (its events and status)."""
    clients = {username: as_user(username) for username in ACTORS}
    untouched: dict[str, dict] = {}  # status -> a case only ever refused so far
    for status, username in itertools.product(CASE_STATUSES, ACTORS):
        case = untouched.pop(status, None) or make_case()
        version = put_in(case["id"], status)
        answer = clients[username].post(f"/api/cases/{case['id']}/transitions", json={
            "action": action, "version": version, **params_for(action)})
        want = expected(ACTIONS[action], username, status)
        where = f"{action} from {status} by {username}"
        assert answer.status_code == want, (where, answer.get_json())
        body = answer.get_json()
        # The fixture's cases are all alike, so each after the first is a repeat complaint
        # (repeat_linked on arrival): not the action's.
        events = db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(
            CaseEvent.case_id == case["id"], CaseEvent.kind.not_like("repeat_%")))
        db.session.expire_all()
        if want == 200:
            target = ACTIONS[action].target or status
            assert body["status"] == target and body["version"] == version + 1, where
            assert events == 2, where  # received, then this action
        else:
            assert answer.headers["Content-Type"] == "application/problem+json", where
            assert events == 1, where  # nothing half-written
            assert db.session.get(Case, case["id"]).status == status, where
            if want == 409:
                assert body["code"] == "case.action_not_allowed", where
                assert action not in body["allowed_actions"], where
            elif want == 422:
                assert body["code"] == "closure.unmet", where
                assert {r["code"] for r in body["unmet"]} >= {"site_photo", "revisit"}, where
            else:
                assert body["code"] == "case.action_forbidden", where
            untouched[status] = case
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == f"case.{ACTIONS[action].event}")) == sum(
        expected(ACTIONS[action], u, st) == 200 for st, u in itertools.product(
            CASE_STATUSES, ACTORS))


def test_the_app_and_the_api_read_the_same_table(app, as_user, make_case) -> None:
    api = as_user("reviewer")
    vocab = api.get("/api/vocab").get_json()
    assert [a["action"] for a in vocab["actions"]] == [a.name for a in TRANSITIONS]
    case = make_case()
    listed = api.get(f"/api/cases/{case['id']}/actions").get_json()
    allowed = [a["action"] for a in listed["actions"]]
    assert allowed == api.get(f"/api/cases/{case['id']}").get_json()["actions"]
    assert allowed == [a.name for a in TRANSITIONS if "received" in a.sources
                       and a.relation in ("lead", "above")]


def test_a_stale_version_is_409_with_what_changed(app, as_user, make_case) -> None:
    case = make_case()
    office = as_user("reviewer")
    seen = case["version"]
    dispatched = office.post(f"/api/cases/{case['id']}/transitions", json={
        "action": "dispatch", "version": seen, **params_for("dispatch")}).get_json()
    office.post(f"/api/cases/{case['id']}/transitions", json={
        "action": "transfer", "version": dispatched["version"], **params_for("transfer")})
    stale = office.post(f"/api/cases/{case['id']}/transitions",
                        json={"action": "extend", "version": seen, **params_for("extend")})
    assert stale.status_code == 409
    body = stale.get_json()
    assert body["code"] == "case.version_conflict" and body["case_status"] == "dispatched"
    assert body["unit"]["name"] == "Street B"
    assert [c["kind"] for c in body["changes"]] == ["dispatched", "transferred"]
    assert body["changes"][1]["data"]["reason"] == "属地调整"


def test_a_retried_action_is_applied_once(app, as_user, make_case) -> None:
    case = make_case()
    office = as_user("reviewer")
    body = {"action": "dispatch", "version": case["version"],
            "client_id": "4f1c7c52-5a43-4c59-9f43-7f7f3b0f1a11", **params_for("dispatch")}
    first = office.post(f"/api/cases/{case['id']}/transitions", json=body)
    again = office.post(f"/api/cases/{case['id']}/transitions", json=body)
    assert first.status_code == again.status_code == 200
    assert again.get_json()["version"] == first.get_json()["version"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent).where(
        CaseEvent.kind == "dispatched")) == 1


@pytest.mark.parametrize(("action", "params", "field"), [
    ("submit", {"verdict": "maybe", "result": "x"}, "verdict"),
    ("submit", {"verdict": "true"}, "result"),
    ("return", {"reasons": []}, "reasons"),
    ("extend", {"days": 0, "reason": "x"}, "days"),
    ("extend", {"days": 8, "reason": "more than the rule allows"}, "days"),
    ("transfer", {"unit_id": "nope", "reason": "x"}, "unit_id"),
    ("dispatch", {"unit_id": "__street_a__", "assignee_ids": ["__insp_b__"]}, "assignee_ids"),
    ("dispatch", {"unit_id": "__street_a__", "colour": "pink"}, "colour"),
])
def test_bad_parameters_are_422(app, as_user, make_case, action: str, params: dict,
                                field: str) -> None:
    case = make_case()
    status = next(s for s in ACTIONS[action].sources)
    version = put_in(case["id"], status)
    params = {k: (unit_id("Street A") if v == "__street_a__" else
                  [user_id("insp_b")] if v == ["__insp_b__"] else v) for k, v in params.items()}
    answer = as_user("reviewer").post(f"/api/cases/{case['id']}/transitions",
                                      json={"action": action, "version": version, **params})
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["errors"]
    assert db.session.get(Case, case["id"]).version == version


def test_unknown_action_is_422(app, as_user, make_case) -> None:
    case = make_case()
    answer = as_user("reviewer").post(f"/api/cases/{case['id']}/transitions",
                                      json={"action": "teleport", "version": 1})
    assert answer.status_code == 422 and answer.get_json()["code"] == "case.unknown_action"


def test_another_units_case_is_404(app, as_user, make_case) -> None:
    case = make_case(unit="Street B")
    answer = as_user("insp_a").post(f"/api/cases/{case['id']}/transitions",
                                    json={"action": "start", "version": 1})
    assert answer.status_code == 404
    assert as_user("insp_a").get(f"/api/cases/{case['id']}/timeline").status_code == 404


def walk(api: Any, case_id: str, *steps: tuple[str, dict]) -> dict:
    current = api.get(f"/api/cases/{case_id}").get_json()
    for action, params in steps:
        answer = api.post(f"/api/cases/{case_id}/transitions",
                          json={"action": action, "version": current["version"], **params})
        assert answer.status_code == 200, answer.get_json()
        current = answer.get_json()
    return current


def test_the_whole_life_and_its_timeline(app, as_user, make_case) -> None:
    case = make_case()
    office, inspector = as_user("reviewer"), as_user("insp_a")
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    mine = inspector.get("/api/cases?mine=true").get_json()["items"]
    assert [c["id"] for c in mine] == [case["id"]]
    walk(inspector, case["id"], ("start", {}), ("submit", params_for("submit")))
    walk(office, case["id"], ("return", params_for("return")))
    submit_ready(office, inspector, as_user("revisit"), case["id"])
    closed = walk(office, case["id"], ("approve", {"note": "验收通过"}))
    assert closed["status"] == "closed" and closed["deadline"] is None and closed["closed_at"]
    # A closed case takes no visits or photos until it is reopened.
    visit = {"client_id": "0b7c4f57-0c55-4a3e-9b1c-0f2d2f6c1b11", "kind": "site_check",
             "started_at": "2026-11-21T22:10:00+08:00"}
    refused = inspector.post(f"/api/cases/{case['id']}/visits", json=visit)
    assert refused.status_code == 409 and refused.get_json()["code"] == "case.closed"
    photo = inspector.post("/api/evidence", json={
        "client_id": "9b7c4f57-0c55-4a3e-9b1c-0f2d2f6c1b12", "case_id": case["id"],
        "sha256": "a" * 64, "size": 10, "content_type": "image/jpeg",
        "captured_at": "2026-11-21T22:10:00+08:00"})
    assert photo.status_code == 409 and photo.get_json()["code"] == "case.closed"
    reopened = walk(office, case["id"], ("reopen", params_for("reopen")))
    assert reopened["status"] == "in_progress" and reopened["deadline"]["overdue"] is False
    assert inspector.post(f"/api/cases/{case['id']}/visits", json=visit).status_code == 201
    timeline = office.get(f"/api/cases/{case['id']}/timeline").get_json()["items"]
    life = ("received", "dispatched", "started", "submitted", "returned", "approved",
            "sealed", "reopened")
    assert [e["kind"] for e in timeline if e["kind"] in life] == [
        "received", "dispatched", "started", "submitted", "returned", "submitted",
        "approved", "sealed", "reopened"]
    assert timeline[-1]["kind"] == "visit_recorded"
    assert [e["seq"] for e in timeline] == list(range(1, len(timeline) + 1))
    assert timeline[4]["data"]["reasons"] == ["照片缺少地点说明"]
    assert timeline[1]["actor"]["name"] == "reviewer"


def test_transfer_and_co_handling_scopes(app, as_user, make_case) -> None:
    case = make_case(unit="Street A")
    office = as_user("reviewer")
    insp_a, insp_b = as_user("insp_a"), as_user("insp_b")
    assert insp_b.get(f"/api/cases/{case['id']}").status_code == 404
    walk(office, case["id"], ("co_handle", params_for("co_handle")))
    seen = insp_b.get(f"/api/cases/{case['id']}").get_json()
    assert seen["co_units"][0]["part"] == "负责夜间联合执法"
    assert seen["actions"] == []  # a co-handler records, the lead unit acts
    assert case["id"] in [c["id"] for c in insp_b.get("/api/cases").get_json()["items"]]
    moved = make_case(unit="Street A")
    walk(office, moved["id"], ("transfer", params_for("transfer")))
    assert insp_a.get(f"/api/cases/{moved['id']}").status_code == 404
    assert insp_b.get(f"/api/cases/{moved['id']}").get_json()["status"] == "dispatched"


def test_a_dispatch_to_thousands_is_refused_in_words(app, as_user, make_case) -> None:
    """A list of 70,000 assignees is a 422 of a few lines on either database (PostgreSQL
    took it as one parameter each, over its limit, and answered 503 "database down"); a
    name given twice is sent once."""
    case = make_case(unit="Street A")
    office = as_user("reviewer")
    flood = office.post(f"/api/cases/{case['id']}/transitions", json={
        "action": "dispatch", "version": case["version"], "unit_id": unit_id("Street A"),
        "assignee_ids": [f"u{n}" for n in range(70_000)]})
    problem = flood.get_json()
    assert flood.status_code == 422 and "assignee_ids" in problem["errors"]
    assert len(flood.data) < 4_000
    assert "最多派给 50 人" in str(problem["errors_zh"]["assignee_ids"])
    wrong = office.post(f"/api/cases/{case['id']}/transitions", json={
        "action": "dispatch", "version": case["version"], "unit_id": unit_id("Street A"),
        "assignee_ids": [f"nobody-{n}" for n in range(40)]})
    assert wrong.status_code == 422 and "and 35 more" in wrong.get_json()["errors"][
        "assignee_ids"][0]
    twice = walk(office, case["id"], ("dispatch", {
        "unit_id": unit_id("Street A"), "assignee_ids": [user_id("insp_a")] * 2}))
    assert [a["id"] for a in twice["assignees"]] == [user_id("insp_a")]


def test_the_bell_forgets_a_case_transferred_away(app, as_user, make_case) -> None:
    """A notification is raised for the case's unit then; once the case is transferred,
    the old unit's bell no longer shows it (nor counts it), with its new subject."""
    case = make_case(unit="Street A")
    district, insp_a = as_user("reviewer"), as_user("insp_a")
    walk(district, case["id"], ("supervise", {"note": "请今日内回复"}))
    assert [n["case_id"] for n in insp_a.get("/api/notifications").get_json()["items"]] == [
        case["id"]]
    moved = walk(district, case["id"], ("transfer", {"unit_id": unit_id("Street B"),
                                                     "reason": "属地调整"}))
    assert district.patch(f"/api/cases/{case['id']}", json={
        "version": moved["version"], "subject": "B街道新主题"}).status_code == 200
    bell = insp_a.get("/api/notifications").get_json()
    assert bell["items"] == [] and bell["unread"] == 0
    assert insp_a.get(f"/api/cases/{case['id']}").status_code == 404
    # The district above both still sees it, with the new subject.
    assert [n["subject"] for n in district.get("/api/notifications").get_json()["items"]
            if n["case_id"] == case["id"]] == ["B街道新主题"]


def test_a_co_handler_may_not_edit_move_or_unmask_the_lead_units_case(
        app, as_user, make_case) -> None:
    """A co-handling unit (协办) sees the case and records its part; it may not rewrite the
    case, take it to itself, or see its complainant: that is the lead unit's."""
    case = make_case(unit="Street B")
    district, street_a = as_user("reviewer"), as_user("reviewer_a")
    walk(district, case["id"], ("co_handle", {"unit_id": unit_id("Street A"),
                                              "part": "负责夜间联合执法"}))
    seen = street_a.get(f"/api/cases/{case['id']}").get_json()
    assert seen["leads"] is False  # the app offers no edit
    assert district.get(f"/api/cases/{case['id']}").get_json()["leads"] is True
    taken = street_a.patch(f"/api/cases/{case['id']}", json={
        "version": seen["version"], "unit_id": unit_id("Street A"), "subject": "改了"})
    assert taken.status_code == 403 and taken.get_json()["code"] == "case.not_lead"
    assert "协办" in taken.get_json()["messages"]["zh"]
    edited = street_a.patch(f"/api/cases/{case['id']}", json={
        "version": seen["version"], "subject": "改了"})
    assert edited.status_code == 403
    unmasked = street_a.post(f"/api/cases/{case['id']}/complainant/reveal",
                             json={"reason": "需要联系投诉人"})
    assert unmasked.status_code == 403 and unmasked.get_json()["code"] == "case.not_lead"
    after = district.get(f"/api/cases/{case['id']}").get_json()
    assert (after["unit"]["name"], after["subject"], after["version"]) == (
        "Street B", case["subject"], seen["version"])
    # The lead unit's office (here the district's, above it) still edits and unmasks.
    assert district.patch(f"/api/cases/{case['id']}", json={
        "version": seen["version"], "subject": "主办单位修改"}).status_code == 200
    assert district.post(f"/api/cases/{case['id']}/complainant/reveal",
                         json={"reason": "需要联系投诉人"}).status_code == 200


def test_a_dispatched_case_moves_by_transfer_not_by_an_edit(app, as_user, make_case) -> None:
    """Intake's unit may be corrected before dispatch; after it, a move is a transfer
    (its states, reason and event), never a silent edit."""
    office = as_user("reviewer")
    fresh = make_case(unit="Street A")
    corrected = office.patch(f"/api/cases/{fresh['id']}", json={
        "version": fresh["version"], "unit_id": unit_id("Street B")})
    assert corrected.status_code == 200 and corrected.get_json()["unit"]["name"] == "Street B"
    case = make_case(unit="Street A")
    version = put_in(case["id"], "submitted")
    moved = office.patch(f"/api/cases/{case['id']}", json={
        "version": version, "unit_id": unit_id("Street B")})
    assert moved.status_code == 409 and moved.get_json()["code"] == "case.unit_by_transfer"
    assert "转办" in moved.get_json()["messages"]["zh"]
    assert "unit_id" in moved.get_json()["errors"]
    unchanged = office.patch(f"/api/cases/{case['id']}", json={
        "version": version, "unit_id": unit_id("Street A"), "subject": "同一单位"})
    assert unchanged.status_code == 200
    assert as_user("insp_a").get(f"/api/cases/{case['id']}").status_code == 200


def test_supervision_prods_without_taking_over(app, as_user, make_case) -> None:
    case = make_case(unit="Street A")
    street_office, district = as_user("reviewer_a"), as_user("reviewer")
    assert "supervise" not in street_office.get(f"/api/cases/{case['id']}").get_json()[
        "actions"]
    walk(district, case["id"], ("supervise", {"note": "请今日内回复"}))
    assert district.get(f"/api/cases/{case['id']}").get_json()["status"] == "received"
    notes = as_user("insp_a").get("/api/notifications").get_json()["items"]
    assert [(n["kind"], n["data"]["note"]) for n in notes] == [("supervision", "请今日内回复")]
    assert as_user("insp_b").get("/api/notifications").get_json()["items"] == []
