"""Hard cases (seed 000): repeat, backlog (信访积案) and difficult (重点疑难) cases, each
with a remediation plan (整治方案) and a leader group (包案小组) whose visits to the
complainant (带案下访) are recorded like any visit, by the group only."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry, Case, User
from tests.conftest import unit_id

D = timedelta(days=1)


def user_id(username: str) -> str:
    return db.session.scalar(sa.select(User.id).filter_by(username=username))


def lone_case(make_case: Any, n: int, **changes: Any) -> dict:
    """A case about a place and from a number no other case shares (no repeat link)."""
    return make_case(**{"address": f"西湖路{n}号", "subject": f"个案{n}",
                        "location": {"lat": 30.0 + n * 0.05, "lon": 120.0},
                        "complainant": {"name": "王五", "phone": f"1390000{n:04d}"},
                        **changes})


def ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).isoformat()


def flag(api: Any, case_id: str, reason: str = "涉及多个部门，群众反映强烈", on: bool = True):  # type: ignore[no-untyped-def]
    return api.put(f"/api/cases/{case_id}/hard-flag", json={"flagged": on, "reason": reason})


def plan_body(**changes: Any) -> dict:
    return {"approach": "约谈经营者，限期安装隔音设施；街道每周夜查一次。",
            "responsible_ids": [user_id("insp_a")], "responsible_text": "区城管执法局",
            "deadline": (date.today() + 30 * D).isoformat(), **changes}


def leader_visit(**changes: Any) -> dict:
    return {"client_id": str(uuid.uuid4()), "kind": "leader_visit",
            "started_at": datetime.now(UTC).isoformat(),
            "findings": "登门听取诉求，解释整改安排", **changes}


def kinds(api: Any, case_id: str) -> list[str]:
    answer = api.get(f"/api/cases/{case_id}/hard-case")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["kinds"]


# ---- which cases are hard ----------------------------------------------------------------
def test_each_kind_of_hard_case_is_found(app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    office = as_user("reviewer")
    # Repeat: three complaints about one place; the third puts the subject on the list.
    first = make_case()
    second = make_case()
    assert kinds(office, first["id"]) == []  # linked, not yet listed
    third = make_case()
    assert kinds(office, first["id"]) == kinds(office, third["id"]) == ["repeat"]
    assert kinds(office, second["id"]) == ["repeat"]
    # Backlog: open and due (7 days for a 12345 ticket) more than 30 days ago.
    backlog = lone_case(make_case, 1, received_at=ago(40 * D))
    recent = lone_case(make_case, 2, received_at=ago(36 * D))  # 29 days past due
    assert kinds(office, backlog["id"]) == ["backlog"]
    assert kinds(office, recent["id"]) == []
    # Difficult: the office's flag, with why; cleared the same way.
    plain = lone_case(make_case, 3)
    assert flag(office, plain["id"], "  ").status_code == 422
    flagged = flag(office, plain["id"])
    assert flagged.status_code == 200, flagged.get_json()
    assert flagged.get_json()["kinds"] == ["difficult"]
    assert flagged.get_json()["flag"]["reason"] == "涉及多个部门，群众反映强烈"
    assert flagged.get_json()["flag"]["by"]["id"] == user_id("reviewer")
    # Not the field's or a leader's call.
    for who in ("insp_a", "lead_a"):
        assert flag(as_user(who), recent["id"]).status_code == 403
    listed = office.get("/api/hard-cases").get_json()
    assert {c["id"]: c["kinds"] for c in listed["items"]} == {
        first["id"]: ["repeat"], second["id"]: ["repeat"], third["id"]: ["repeat"],
        backlog["id"]: ["backlog"], plain["id"]: ["difficult"]}
    assert listed["total"] == 5
    only = office.get("/api/hard-cases?kind=backlog").get_json()
    assert [c["id"] for c in only["items"]] == [backlog["id"]] and only["total"] == 1
    paged = office.get("/api/hard-cases?per_page=2&page=3").get_json()
    assert len(paged["items"]) == 1 and paged["total"] == 5
    # The case list's filter asks the same rule.
    hard = {c["id"] for c in office.get("/api/cases?hard=true&per_page=100")
            .get_json()["items"]}
    assert hard == {c["id"] for c in listed["items"]}
    soft = {c["id"] for c in office.get("/api/cases?hard=false&per_page=100")
            .get_json()["items"]}
    assert soft == {recent["id"]}
    cleared = flag(office, plain["id"], "已协调解决", on=False)
    assert cleared.status_code == 200 and cleared.get_json()["kinds"] == []
    assert flag(office, plain["id"], "再次清除", on=False).status_code == 409
    events = [e["kind"] for e in office.get(f"/api/cases/{plain['id']}/timeline")
              .get_json()["items"]]
    assert events[-2:] == ["hard_case_flagged", "hard_case_unflagged"]
    actions = set(db.session.scalars(sa.select(AuditEntry.action).where(
        AuditEntry.entity_id == plain["id"])))
    assert {"case.hard_flagged", "case.hard_unflagged"} <= actions


# ---- the remediation plan ----------------------------------------------------------------
def _rule(api: Any, case_id: str) -> dict | None:
    rules = api.get(f"/api/cases/{case_id}/closure-checklist").get_json()["rules"]
    return next((r for r in rules if r["code"] == "remediation_plan"), None)


def test_a_plan_only_for_hard_cases_validated_versioned_and_on_the_checklist(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    office = as_user("reviewer")
    case = lone_case(make_case, 4)
    url = f"/api/cases/{case['id']}/remediation-plan"
    refused = office.put(url, json=plan_body())
    assert refused.status_code == 422 and refused.get_json()["code"] == "remediation.not_hard"
    assert _rule(office, case["id"]) is None  # a case that is not hard is not asked
    assert flag(office, case["id"]).status_code == 200
    unmet = _rule(office, case["id"])
    assert unmet is not None and unmet["met"] is False
    for body, code in ((plan_body(approach="  "), "plan.approach_required"),
                       (plan_body(deadline=(date.today() - 2 * D).isoformat()),
                        "plan.deadline_past"),
                       (plan_body(deadline=None), "plan.deadline_required"),
                       (plan_body(responsible_ids=[user_id("insp_b")]),
                        "plan.responsible_out_of_scope"),
                       (plan_body(responsible_ids=[], responsible_text=""),
                        "plan.responsible_required"),
                       (plan_body(status="done"), "plan.closing_note_required")):
        answer = office.put(url, json=body)
        assert answer.status_code == 422, (code, answer.get_json())
        assert answer.get_json()["code"] == code
    assert office.get(url).get_json()["plan"] is None  # nothing half-written
    assert as_user("insp_a").put(url, json=plan_body()).status_code == 403
    made = office.put(url, json=plan_body())
    assert made.status_code == 201, made.get_json()
    plan = made.get_json()["plan"]
    assert plan["version"] == 1 and plan["status"] == "open"
    assert plan["responsible"] == [{"id": user_id("insp_a"), "name": "insp_a"}]
    assert _rule(office, case["id"])["met"] is True
    # The same plan again (a retry) is no new version; a change is.
    assert office.put(url, json=plan_body()).get_json()["plan"]["version"] == 1
    changed = office.put(url, json=plan_body(approach="联合执法，责令停业整改", version=1))
    assert changed.status_code == 200 and changed.get_json()["plan"]["version"] == 2
    stale = office.put(url, json=plan_body(approach="旧稿", version=1))
    assert stale.status_code == 409 and stale.get_json()["code"] == "plan.version_conflict"
    done = office.put(url, json=plan_body(approach="联合执法，责令停业整改", status="done",
                                          closing_note="已停业整改，复测达标"))
    assert done.get_json()["plan"]["status"] == "done"
    history = office.get(url).get_json()["history"]
    assert [h["version"] for h in history] == [3, 2, 1]
    assert history[-1]["approach"].startswith("约谈经营者")
    assert len(db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "case.remediation_plan_set",
        AuditEntry.entity_id == case["id"])).all()) == 3
    # A leader reads it; the plan's rule reads the plan.
    assert as_user("lead_a").get(url).get_json()["plan"]["version"] == 3


# ---- the leader group and its visits -----------------------------------------------------
def test_the_group_its_lead_and_who_records_a_leader_visit(app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    office = as_user("reviewer")
    case = lone_case(make_case, 5)
    url = f"/api/cases/{case['id']}/group"

    def group(*members: tuple[str, str]):  # type: ignore[no-untyped-def]
        return office.put(url, json={"members": [{"user_id": user_id(u), "role": r}
                                                 for u, r in members]})

    assert group(("lead_d", "lead")).get_json()["code"] == "remediation.not_hard"
    assert flag(office, case["id"]).status_code == 200
    # The lead: a leader over the case's unit (not another street's, not an inspector).
    for lead in ("lead_b", "insp_a"):
        answer = group((lead, "lead"))
        assert answer.status_code == 422 and answer.get_json()["code"] == "case.not_a_leader"
    assert group(("insp_a", "member")).get_json()["code"] == "group.lead_required"
    outside = group(("lead_d", "lead"), ("insp_b", "member"))
    assert outside.status_code == 422
    assert outside.get_json()["code"] == "group.member_out_of_scope"
    made = group(("lead_d", "lead"), ("lead_a", "member"), ("insp_a", "member"))
    assert made.status_code == 200, made.get_json()
    body = made.get_json()
    assert body["lead"]["id"] == user_id("lead_d") and body["size"] == 3
    assert {m["id"] for m in body["members"]} == {user_id("lead_a"), user_id("insp_a")}
    # The lead is the case's leader in charge: one truth.
    assert office.get(f"/api/cases/{case['id']}").get_json()["leader"]["id"] == user_id("lead_d")
    visits = f"/api/cases/{case['id']}/visits"
    # Members record it, a leader among them; others may not.
    for who in ("insp_a", "lead_a", "lead_d"):
        assert as_user(who).get(url).get_json()["may_record_visit"] is True
        answer = as_user(who).post(visits, json=leader_visit())
        assert answer.status_code == 201, (who, answer.get_json())
        assert answer.get_json()["kind"] == "leader_visit"
    outsider = as_user("reviewer_a")
    assert outsider.get(url).get_json()["may_record_visit"] is False
    refused = outsider.post(visits, json=leader_visit())
    assert refused.status_code == 403 and refused.get_json()["code"] == "visit.not_in_group"
    assert as_user("lead_b").post(visits, json=leader_visit()).status_code == 404
    # A leader records no other kind of visit, group or not.
    assert as_user("lead_a").post(visits, json=leader_visit(kind="site_check")).status_code == 403
    # Leaving the group ends it.
    assert group(("lead_d", "lead"), ("insp_a", "member")).status_code == 200
    assert as_user("lead_a").post(visits, json=leader_visit()).status_code == 403
    recorded = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "case.leader_group_set",
        AuditEntry.entity_id == case["id"]).order_by(AuditEntry.seq)).all()
    assert len(recorded) == 2 and recorded[0].actor_id == user_id("reviewer")
    assert [m["id"] for m in recorded[-1].data["members"]] == [user_id("insp_a")]
    assert group(("lead_d", "lead"), ("insp_a", "member")).status_code == 200  # a retry
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "case.leader_group_set",
        AuditEntry.entity_id == case["id"])) == 2
    kinds_seen = [e["kind"] for e in office.get(f"/api/cases/{case['id']}/timeline")
                  .get_json()["items"]]
    assert kinds_seen.count("leader_group_set") == 2 and kinds_seen.count("visit_recorded") == 3
    listed = office.get("/api/hard-cases?has_plan=false").get_json()["items"]
    assert [(c["id"], c["group_size"], c["leader"]["name"]) for c in listed] == [
        (case["id"], 2, "王局长")]
    assert office.get("/api/hard-cases?has_plan=true").get_json()["items"] == []


# ---- scope ---------------------------------------------------------------------------------
def test_another_unit_gets_404_on_all_of_it(app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    office = as_user("reviewer")
    case = lone_case(make_case, 6, unit="Street B")
    assert flag(office, case["id"]).status_code == 200
    assert office.put(f"/api/cases/{case['id']}/remediation-plan", json=plan_body(
        responsible_ids=[user_id("insp_b")])).status_code == 201
    street_a = as_user("reviewer_a")
    c = case["id"]
    for method, url, body in (
            ("GET", f"/api/cases/{c}/hard-case", None),
            ("PUT", f"/api/cases/{c}/hard-flag", {"flagged": False, "reason": "x"}),
            ("GET", f"/api/cases/{c}/remediation-plan", None),
            ("PUT", f"/api/cases/{c}/remediation-plan", plan_body(responsible_ids=[])),
            ("GET", f"/api/cases/{c}/group", None),
            ("PUT", f"/api/cases/{c}/group",
             {"members": [{"user_id": user_id("lead_d"), "role": "lead"}]}),
            ("POST", f"/api/cases/{c}/visits", leader_visit())):
        answer = street_a.request(method, url, **({"json": body} if body else {}))
        assert answer.status_code == 404, (method, url, answer.get_json())
    assert street_a.get("/api/hard-cases").get_json() == {
        "items": [], "total": 0, "total_exact": True, "page": 1, "per_page": 20}
    # Nothing changed for the case's own unit.
    assert db.session.get(Case, c).hard_reason == "涉及多个部门，群众反映强烈"
    assert unit_id("Street B") == db.session.get(Case, c).unit_id
