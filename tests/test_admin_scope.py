"""An admin is bounded by their units (issue 16): a street's admin (admin_a) changes no
district-wide setting, dry-runs a rule over their own cases only, unlocks and lists only
people of their street, and gets the same 404 as for nothing at all on every route that
takes another unit's id (the ledgers' downloads too, by their query's unit or campaign, for
a street's reviewer as well). Revisit samples go only to staff who may see all their cases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask

from server.extensions import db
from server.models import (
    DeadlineRule,
    Questionnaire,
    RecheckTask,
    RectificationPlan,
    RevisitSample,
    SampleCase,
)
from tests.closure_facts import phone_revisit, submit_ready
from tests.conftest import PASSWORD, unit_id
from tests.test_evidence import declaration
from tests.test_lifecycle import user_id, walk
from tests.test_revisit_sampling import PERIOD, seed_cases


def district_only(answer: Any) -> bool:
    return answer.status_code == 403 and answer.get_json()["code"] == "admin.district_only"


def a_rule(api: Any) -> dict:
    """A new version of the 1+3+5+7 rule that moves the due date of its open cases."""
    rules = api.get("/api/deadline-rules").get_json()["items"]
    current = next(r for r in rules if r["code"] == "1+3+5+7")
    return {**current["body"], "due": 5, "milestones": [{"name": "reminder", "day": 2}],
            "colours": [{"from_day": 1, "colour": "green"}, {"from_day": 4, "colour": "red"}]}


# ---- 1. district-wide settings -------------------------------------------------------
def test_only_the_district_admin_changes_district_wide_settings(app, as_user) -> None:
    street, district = as_user("admin_a"), as_user("admin")
    rule = a_rule(district)
    v1 = district.get("/api/questionnaires/phone-revisit").get_json()
    template = {"code": "phone-revisit", "title": v1["title"], "questions": v1["questions"]}
    year = {"source": "国办发明电", "days": [{"date": "2027-01-01", "kind": "holiday",
                                            "name": "元旦"}]}

    refused = [street.post("/api/deadline-rules", json=rule),
               street.post("/api/questionnaires", json=template),
               street.put("/api/calendar/2027", json=year)]
    assert all(district_only(a) for a in refused), [a.get_json() for a in refused]
    assert "district" in refused[0].get_json()["detail"]
    # Nothing was written.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DeadlineRule)
                             .where(DeadlineRule.created_by.is_not(None))) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Questionnaire)
                             .where(Questionnaire.created_by.is_not(None))) == 0
    assert street.get("/api/calendar/2027").get_json()["days"] == []
    # The street's admin may still try a rule (dry run) and read everything.
    assert street.post("/api/deadline-rules?dry_run=true", json=rule).status_code == 201
    # Other roles keep their own refusal; the district's admin saves all three.
    assert as_user("reviewer").post("/api/deadline-rules", json=rule).get_json()["code"] == \
        "deadline_rule.forbidden"
    assert district.post("/api/deadline-rules", json=rule).status_code == 201
    assert district.post("/api/questionnaires", json=template).status_code == 201
    assert district.put("/api/calendar/2027", json=year).status_code == 200


def test_the_session_says_whether_the_user_covers_every_unit(app, as_user) -> None:
    assert as_user("admin").get("/api/me").get_json()["sees_every_unit"] is True
    assert as_user("admin_a").get("/api/me").get_json()["sees_every_unit"] is False


# ---- 2. dry runs ---------------------------------------------------------------------
def test_a_dry_run_counts_only_the_cases_the_admin_sees(app, as_user, make_case) -> None:
    for unit in ("Street A", "Street A", "Street B", "District"):
        make_case(unit=unit)
    body = a_rule(as_user("admin"))
    street = as_user("admin_a").post("/api/deadline-rules?dry_run=true", json=body)
    district = as_user("admin").post("/api/deadline-rules?dry_run=true", json=body)
    assert street.status_code == district.status_code == 201
    assert street.get_json()["impact"]["open_cases"] == 2
    assert street.get_json()["impact"]["examined"] == 2
    assert district.get_json()["impact"]["open_cases"] == 4


# ---- 3. people -----------------------------------------------------------------------
def test_a_street_admin_unlocks_and_lists_only_people_of_their_street(app: Flask,
                                                                    as_user) -> None:
    street, district = as_user("admin_a"), as_user("admin")
    most = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(most + 1):  # the district admin's account is locked
        app.test_client().post("/api/auth/login", json={"username": "admin",
                                                        "password": "wrong-password"})
    nobody = street.post(f"/api/users/{uuid.uuid4()}/unlock")
    assert nobody.status_code == 404
    for username in ("admin", "reviewer", "insp_b", "revisit_b"):
        answer = street.post(f"/api/users/{user_id(username)}/unlock")
        assert answer.status_code == 404, username
        # Says nothing more than nobody (each answer has its own request id).
        assert {**answer.get_json(), "request_id": None} == {**nobody.get_json(),
                                                             "request_id": None}
    locked = app.test_client().post("/api/auth/login", json={"username": "admin",
                                                             "password": PASSWORD})
    assert locked.status_code == 429  # still locked
    assert street.post(f"/api/users/{user_id('insp_a')}/unlock").status_code == 204
    assert district.post(f"/api/users/{user_id('admin_a')}/unlock").status_code == 204
    assert district.post(f"/api/users/{user_id('admin')}/unlock").status_code == 204

    listed = {p["username"] for p in street.get("/api/users").get_json()["items"]}
    assert listed == {"insp_a", "reviewer_a", "admin_a", "lead_a"}
    wider = street.get(f"/api/users?unit={unit_id('District')}").get_json()["items"]
    assert {p["username"] for p in wider} == listed
    assert {"admin", "insp_b"} <= {p["username"] for p in
                                   district.get("/api/users").get_json()["items"]}


# ---- 4. revisit samples --------------------------------------------------------------
def test_a_sample_goes_only_to_revisit_staff_who_see_all_its_cases(app, as_user) -> None:
    seed_cases(6, 6)
    office = as_user("reviewer_a")  # Street A's office draws Street A's sample
    sample = office.post("/api/revisit-samples", json={**PERIOD, "share": 0.5}).get_json()
    cases = {c["case_id"] for c in sample["cases"]}
    url = f"/api/revisit-samples/{sample['id']}/assign"
    refused = office.post(url, json={"user_ids": [user_id("revisit"), user_id("revisit_b")]})
    assert refused.status_code == 422, refused.get_json()
    assert refused.get_json()["code"] == "sample.assignee_out_of_scope"
    assert "revisit_b" in refused.get_json()["detail"]
    assert "revisit_b" in " ".join(refused.get_json()["errors"]["user_ids"])
    # Nothing was written, for either of them.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SampleCase).where(
        SampleCase.sample_id == sample["id"], SampleCase.assignee_id.is_not(None))) == 0
    assert as_user("revisit_b").get("/api/revisit-tasks").get_json()["items"] == []
    # The district's revisit team sees every case of it.
    assert office.post(url, json={"user_ids": [user_id("revisit")]}).status_code == 200
    tasks = as_user("revisit").get("/api/revisit-tasks").get_json()["items"]
    assert {t["case_id"] for t in tasks} == cases


def test_revisit_tasks_never_show_a_case_the_user_may_not_see(app, as_user) -> None:
    """Defence in depth: an assignment written past the check (an older release, a hand
    edit) still shows the user nothing of another unit's case."""
    seed_cases(4, 0)
    sample = as_user("reviewer_a").post("/api/revisit-samples",
                                        json={**PERIOD, "share": 1.0}).get_json()
    db.session.execute(sa.update(SampleCase).where(SampleCase.sample_id == sample["id"])
                       .values(assignee_id=user_id("revisit_b")))
    db.session.commit()
    assert as_user("revisit_b").get("/api/revisit-tasks").get_json()["items"] == []


# ---- 5. every route with an id, as a street admin ------------------------------------
# Routes with a path parameter that the walk below does not take, and why.
EXEMPT = {
    ("PUT", "/api/blobs/<token>"): "a signed token for the local store, not an id",
    ("GET", "/api/blobs/<token>"): "a signed token for the local store, not an id",
    ("DELETE", "/api/me/sessions/<sid>"): "one's own sessions, whoever one is (test_auth)",
    ("GET", "/api/questionnaires/<code>"): "district-wide templates, read by every team",
    ("GET", "/api/questionnaires/<code>/form.pdf"): "a district-wide template's paper form",
    ("GET", "/api/calendar/<int:year>"): "the district-wide calendar, read by the office",
    ("GET", "/api/verify/<code>"): "public by design: a published record (test_verify)",
    ("POST", "/api/verify/<code>/check"): "public by design (test_verify)",
    ("GET", "/api/verify/<code>/qr.svg"): "public by design (test_verify)",
    ("GET", "/v/<code>"): "the public verify page (test_verify)",
    ("GET", "/v/assets/<name>"): "static files",
    ("GET", "/<path:path>"): "the PWA's static files",
    ("POST", "/api/intake/<source>"): "a platform's token, not a session (test_intake_push)",
    ("GET", "/api/intake-sources/<code>/tokens"): "district-wide platforms: the district's "
                                                  "admin only (test_intake_push)",
    ("POST", "/api/intake-sources/<code>/tokens"): "district-wide platforms (test_intake_push)",
    ("DELETE", "/api/intake-sources/<code>/tokens/<token_id>"): "district-wide platforms "
                                                                "(test_intake_push)",
    ("PATCH", "/api/intake-sources/<code>"): "district-wide platforms (test_intake_push)",
    ("PUT", "/api/intake-sources/<code>/mapping"): "a district-wide platform's sheet columns "
                                                   "(test_imports)",
    ("GET", "/api/imports/<batch_id>"): "one's own sheet previews only (test_imports)",
    ("POST", "/api/imports/<batch_id>/remap"): "one's own sheet previews only (test_imports)",
    ("POST", "/api/imports/<batch_id>/confirm"): "one's own sheet previews only (test_imports)",
    ("GET", "/api/jobs/<job_id>"): "one's own jobs only (test_jobs)",
    ("GET", "/api/jobs/<job_id>/download"): "one's own jobs only (test_jobs)",
}


def make_objects(as_user: Callable[[str], Any], make_case: Callable[..., dict],
                 unit: str) -> dict[str, Any]:
    """A closed, sealed case of `unit` with a photo, a phone revisit and an open door-to-door
    survey; a revisit sample of that unit's cases; and a person of that unit."""
    office, revisit = as_user("reviewer"), as_user("revisit")
    field = "insp_b" if unit == "Street B" else "reviewer"
    inspector = as_user(field)
    case = make_case(unit=unit)
    walk(office, case["id"], ("dispatch", {"unit_id": unit_id(unit),
                                           "assignee_ids": [user_id(field)]}))
    walk(inspector, case["id"], ("start", {}))
    photo = submit_ready(office, inspector, revisit, case["id"])
    survey = revisit.post(f"/api/cases/{case['id']}/revisits", json={
        "client_id": str(uuid.uuid4()), "method": "door", "at": datetime.now(UTC).isoformat(),
        "questionnaire": {"code": "residents-survey", "version": 1}})
    assert survey.status_code == 201, survey.get_json()
    # Approved by the district's admin: whoever filed evidence may not approve it.
    closed = walk(as_user("admin"), case["id"], ("approve", {}))
    assert closed["status"] == "closed"
    sample = RevisitSample(period_from=datetime(2026, 1, 1, tzinfo=UTC),
                           period_to=datetime(2027, 1, 1, tzinfo=UTC), share=1.0, strata=[],
                           seed="walk", population=1, population_hash="0" * 64,
                           allocation=[{"stratum": "all", "population": 1, "drawn": 1}],
                           unit_scope=[unit_id(unit)], created_by=user_id("reviewer"))
    db.session.add(sample)
    db.session.flush()
    db.session.add(SampleCase(sample_id=sample.id, case_id=case["id"], stratum="all"))
    db.session.commit()
    # A second complaint like the first: a repeat subject of that unit's.
    make_case(unit=unit)
    subject = office.get(f"/api/cases/{case['id']}/repeat").get_json()["subject"]["id"]
    hook = as_user("admin").post("/api/webhooks", json={
        "url": "https://hooks.example.com/fieldcase", "unit_id": unit_id(unit)})
    assert hook.status_code == 201, hook.get_json()
    # A look-back campaign over that unit's closed case, and a rectification plan that
    # unit accepts.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()  # a campaign looks back to today
    campaign = as_user("admin").post("/api/campaigns", json={
        "title": "回头看", "from": (today - timedelta(days=30)).isoformat(),
        "to": today.isoformat(), "unit_id": unit_id(unit)})
    assert campaign.status_code == 201, campaign.get_json()
    task = db.session.scalar(sa.select(RecheckTask.id).where(
        RecheckTask.campaign_id == campaign.get_json()["id"]))
    plan = RectificationPlan(case_id=case["id"], problem_type="12345热线", original_problem="噪声",
                             measures="整改", target="达标", implementer="街道",
                             acceptance_unit_id=unit_id(unit), due_on=date(2030, 1, 1),
                             status="open", created_by=user_id("admin"))
    db.session.add(plan)
    db.session.commit()
    return {"case": case["id"], "evidence": photo["id"], "campaign": campaign.get_json()["id"],
            "task": task, "plan": plan.id,
            "flag": (photo["flags"] or [{"code": "no_gps"}])[0]["code"],
            "revisit": survey.get_json()["id"], "sample": sample.id,
            "user": user_id("admin" if unit == "District" else "insp_b"),
            "webhook": hook.get_json()["id"], "subject": subject, "unit": unit_id(unit)}


def requests_for(o: dict[str, Any], version: Callable[[], int]) -> list[tuple]:
    """(method, rule, url, body, the district admin's answer): reads first, then writes in
    an order the case allows (the reopen before the edit and the visit)."""
    c, e = o["case"], o["evidence"]
    survey_person = {"client_id": str(uuid.uuid4()), "kind": "resident", "answers": {
        "distance": "within_50m", "affected": "never", "improvement": 5, "when": [],
        "satisfaction": "satisfied"}}
    visit = {"client_id": str(uuid.uuid4()), "kind": "site_check",
             "started_at": datetime.now(UTC).isoformat()}
    return [
        ("GET", "/api/cases/<case_id>", f"/api/cases/{c}", None, 200),
        ("GET", "/api/cases/<case_id>/actions", f"/api/cases/{c}/actions", None, 200),
        ("GET", "/api/cases/<case_id>/timeline", f"/api/cases/{c}/timeline", None, 200),
        ("GET", "/api/cases/<case_id>/closure-checklist", f"/api/cases/{c}/closure-checklist",
         None, 200),
        ("GET", "/api/cases/<case_id>/seal", f"/api/cases/{c}/seal", None, 200),
        ("GET", "/api/cases/<case_id>/closure-file.<any(docx, pdf):kind>",
         f"/api/cases/{c}/closure-file.pdf", None, 200),
        ("GET", "/api/cases/<case_id>/archive.zip", f"/api/cases/{c}/archive.zip", None, 200),
        ("GET", "/api/closure-files.<any(docx, pdf):kind>", f"/api/closure-files.docx?case={c}",
         None, 200),
        ("GET", "/api/archives.zip", f"/api/archives.zip?case={c}", None, 200),
        ("GET", "/api/cases/<case_id>/evidence", f"/api/cases/{c}/evidence", None, 200),
        ("GET", "/api/cases/<case_id>/visits", f"/api/cases/{c}/visits", None, 200),
        ("GET", "/api/cases/<case_id>/instructions", f"/api/cases/{c}/instructions", None, 200),
        ("GET", "/api/cases/<case_id>/feedback", f"/api/cases/{c}/feedback", None, 200),
        ("GET", "/api/cases/<case_id>/revisits", f"/api/cases/{c}/revisits", None, 200),
        ("GET", "/api/evidence/<evidence_id>", f"/api/evidence/{e}", None, 200),
        ("GET", "/api/evidence/<evidence_id>/original", f"/api/evidence/{e}/original", None,
         302),
        ("GET", "/api/revisit-samples/<sample_id>", f"/api/revisit-samples/{o['sample']}",
         None, 200),
        ("GET", "/api/cases/<case_id>/repeat", f"/api/cases/{c}/repeat", None, 200),
        ("GET", "/api/repeats/<subject_id>", f"/api/repeats/{o['subject']}", None, 200),
        ("GET", "/api/revisit-samples/<sample_id>/export.xlsx",
         f"/api/revisit-samples/{o['sample']}/export.xlsx", None, 200),
        ("POST", "/api/cases/<case_id>/complainant/reveal",
         f"/api/cases/{c}/complainant/reveal", {"reason": "电话回访了解满意度"}, 200),
        ("POST", "/api/evidence/<evidence_id>/complete", f"/api/evidence/{e}/complete", None,
         200),
        ("POST", "/api/revisits/<revisit_id>/respondents",
         f"/api/revisits/{o['revisit']}/respondents", survey_person, 201),
        ("POST", "/api/cases/<case_id>/revisits", f"/api/cases/{c}/revisits",
         phone_revisit(), 201),
        ("POST", "/api/revisit-samples/<sample_id>/assign",
         f"/api/revisit-samples/{o['sample']}/assign", {"user_ids": [user_id("revisit")]},
         200),
        ("POST", "/api/users/<user_id>/unlock", f"/api/users/{o['user']}/unlock", None, 204),
        ("GET", "/api/campaigns/<campaign_id>", f"/api/campaigns/{o['campaign']}", None, 200),
        ("GET", "/api/campaigns/<campaign_id>/progress",
         f"/api/campaigns/{o['campaign']}/progress", None, 200),
        ("GET", "/api/campaigns/<campaign_id>/tasks", f"/api/campaigns/{o['campaign']}/tasks",
         None, 200),
        ("GET", "/api/cases/<case_id>/plans", f"/api/cases/{c}/plans", None, 200),
        *report_requests(o),
        # While the case is closed: a re-check of its task.
        ("POST", "/api/campaigns/<campaign_id>/rechecks",
         f"/api/campaigns/{o['campaign']}/rechecks",
         {"task_id": o["task"], "client_id": str(uuid.uuid4()), "rebound": False}, 201),
        # The admin who just re-checked the case is a party to it: refused (plan.accept_own),
        # but only once the plan is found.
        ("POST", "/api/plans/<plan_id>/accept", f"/api/plans/{o['plan']}/accept",
         {"note": "整改到位"}, 403),
        ("POST", "/api/cases/<case_id>/transitions", f"/api/cases/{c}/transitions",
         lambda: {"action": "reopen", "version": version(), "reason": "回头看发现反弹"}, 200),
        ("PATCH", "/api/cases/<case_id>", f"/api/cases/{c}",
         lambda: {"version": version(), "subject": "改"}, 200),
        ("POST", "/api/cases/<case_id>/visits", f"/api/cases/{c}/visits", visit, 201),
        ("POST", "/api/cases/<case_id>/feedback", f"/api/cases/{c}/feedback",
         {"method": "phone", "told_at": datetime.now(UTC).isoformat()}, 201),
        # No such leader: refused, but only once the case is found.
        ("POST", "/api/cases/<case_id>/instructions", f"/api/cases/{c}/instructions",
         {"text": "请督办", "leader_id": "no-such-leader"}, 422),
        ("POST", "/api/evidence/<evidence_id>/acknowledgements",
         f"/api/evidence/{e}/acknowledgements", {"code": o["flag"], "note": "已核实"}, 201),
        ("DELETE", "/api/webhooks/<hook_id>", f"/api/webhooks/{o['webhook']}", None, 200),
        ("PUT", "/api/repeats/<subject_id>/leader", f"/api/repeats/{o['subject']}/leader",
         {"leader_id": None}, 200),
        ("POST", "/api/cases/<case_id>/repeat/confirm", f"/api/cases/{c}/repeat/confirm", None,
         200),
        ("POST", "/api/cases/<case_id>/repeat/undo", f"/api/cases/{c}/repeat/undo", None, 200),
        # No dissatisfied revisit to decide on: refused, but only once the case is found.
        ("POST", "/api/cases/<case_id>/revisit-decision", f"/api/cases/{c}/revisit-decision",
         {"reason": "复测达标，维持办结"}, 409),
        # Hard cases: the reopened case flagged difficult, then its plan and group.
        ("GET", "/api/cases/<case_id>/hard-case", f"/api/cases/{c}/hard-case", None, 200),
        ("PUT", "/api/cases/<case_id>/hard-flag", f"/api/cases/{c}/hard-flag",
         {"flagged": True, "reason": "多部门职责交叉"}, 200),
        ("GET", "/api/cases/<case_id>/remediation-plan", f"/api/cases/{c}/remediation-plan",
         None, 200),
        ("PUT", "/api/cases/<case_id>/remediation-plan", f"/api/cases/{c}/remediation-plan",
         {"approach": "联合执法", "responsible_text": "区城管执法局",
          "deadline": (datetime.now(UTC) + timedelta(days=30)).date().isoformat()}, 201),
        ("GET", "/api/cases/<case_id>/group", f"/api/cases/{c}/group", None, 200),
        ("PUT", "/api/cases/<case_id>/group", f"/api/cases/{c}/group",
         {"members": [{"user_id": user_id("lead_d"), "role": "lead"}]}, 200),
        ("POST", "/api/revisit-samples/<sample_id>/void",
         f"/api/revisit-samples/{o['sample']}/void", {"reason": "抽错期间"}, 200),
        # The case's id in the body.
        ("POST", "/api/evidence", "/api/evidence", declaration(c, b"walk"), 201),
    ]


REPORTS = ("/api/reports/ledger.xlsx", "/api/reports/ledger.csv",
           "/api/reports/revisits.xlsx", "/api/reports/progress.xlsx",
           "/api/reports/problems.xlsx")


def report_requests(o: dict[str, Any]) -> list[tuple]:
    """The ledgers' downloads, which take their ids (a unit, a campaign) in the query."""
    today = datetime.now(UTC).date()
    span = f"from={today - timedelta(days=30)}&to={today}&unit_id={o['unit']}"
    ledger, csv, revisits, progress, problems = REPORTS
    return [("GET", ledger, f"{ledger}?{span}", None, 200),
            ("GET", csv, f"{csv}?{span}", None, 200),
            ("GET", revisits, f"{revisits}?{span}", None, 200),
            ("GET", progress, f"{progress}?campaign={o['campaign']}", None, 200),
            ("GET", problems, f"{problems}?campaign={o['campaign']}", None, 200)]


# District-wide settings: 403 admin.district_only for a street's admin, whatever the unit.
def settings_requests(api: Any) -> list[tuple]:
    v1 = api.get("/api/questionnaires/phone-revisit").get_json()
    return [
        ("PUT", "/api/calendar/<int:year>", "/api/calendar/2027",
         {"source": "国办发明电", "days": [{"date": "2027-01-01", "kind": "holiday"}]}, 200),
        ("POST", "/api/deadline-rules", "/api/deadline-rules", a_rule(api), 201),
        ("POST", "/api/questionnaires", "/api/questionnaires",
         {"code": "phone-revisit", "title": v1["title"], "questions": v1["questions"]}, 201),
    ]


def id_routes(app: Flask) -> set[tuple[str, str]]:
    """Every (method, rule) of the app taking a path parameter, or ids in its query."""
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.arguments or rule.rule in ("/api/archives.zip", *REPORTS):
            out |= {(m, rule.rule) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


@pytest.mark.parametrize("unit", ["District", "Street B"])
def test_a_street_admin_gets_404_on_every_route_with_another_units_ids(
        app: Flask, as_user, make_case, unit: str) -> None:
    objects = make_objects(as_user, make_case, unit)
    street, district = as_user("admin_a"), as_user("admin")

    def version() -> int:
        return district.get(f"/api/cases/{objects['case']}").get_json()["version"]

    walked = requests_for(objects, version)
    settings = settings_requests(district)
    missing = id_routes(app) - {(m, r) for m, r, *_ in walked + settings} - set(EXEMPT)
    assert not missing, f"routes with ids neither walked nor exempt: {sorted(missing)}"

    def send(api: Any, method: str, url: str, body: Any) -> Any:
        body = body() if callable(body) else body
        answer = api.request(method, url, **({"json": body} if body is not None else {}))
        answer.get_data()  # read, then close the file behind a streamed answer
        answer.close()
        return answer

    for method, _, url, body, _ in walked:
        answer = send(street, method, url, body)
        assert answer.status_code == 404, (method, url, answer.status_code, answer.get_data())
    # The ledgers are the office's: a street's reviewer is refused the same way.
    reports, reviewer = report_requests(objects), as_user("reviewer_a")
    assert {r for _, r, *_ in reports} == set(REPORTS)
    for method, _, url, body, _ in reports:
        answer = send(reviewer, method, url, body)
        assert answer.status_code == 404, (method, url, answer.status_code, answer.get_data())
        assert answer.get_json()["code"] in ("unit.not_found", "campaign.not_found")
    for method, _, url, body, _ in settings:
        answer = send(street, method, url, body)
        assert district_only(answer), (method, url, answer.get_json())
    # Another unit's id as a filter finds nothing of it.
    listed = street.get(f"/api/cases?unit={unit_id(unit)}").get_json()
    assert objects["case"] not in {c["id"] for c in listed["items"]}
    assert objects["case"] in {c["id"] for c in district.get(
        f"/api/cases?unit={unit_id(unit)}").get_json()["items"]}
    # The control: the district's admin is answered on the very same requests.
    for method, _, url, body, expected in walked + settings:
        answer = send(district, method, url, body)
        assert answer.status_code == expected, (method, url, answer.status_code,
                                                answer.get_data()[:300])
