"""Revisits: questionnaire templates and their versions, every question kind, phone calls
answered and unanswered, door-to-door surveys one respondent at a time, and what a
dissatisfied revisit does to the case."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import Case, Respondent, Revisit
from tests.closure_facts import phone_answers, phone_revisit, submit_ready
from tests.conftest import unit_id
from tests.test_lifecycle import params_for, walk

AT = "2026-11-28T19:30:00+08:00"


def new_id() -> str:
    return str(uuid.uuid4())


def handled(office, inspector, case_id: str, *, close: bool, revisit=None) -> dict:  # type: ignore[no-untyped-def]
    walk(office, case_id, ("dispatch", params_for("dispatch")))
    walk(inspector, case_id, ("start", {}))
    if close:  # closing needs the checklist met, a satisfied revisit among it
        submit_ready(office, inspector, revisit, case_id)
        return walk(office, case_id, ("approve", {}))
    walk(inspector, case_id, ("submit", params_for("submit")))
    return office.get(f"/api/cases/{case_id}").get_json()


# ---- templates -------------------------------------------------------------------------
def test_two_templates_ship_and_editing_one_makes_a_version(app, as_user) -> None:
    admin, revisit = as_user("admin"), as_user("revisit")
    shipped = revisit.get("/api/questionnaires").get_json()["items"]
    assert [(q["code"], q["version"]) for q in shipped] == [
        ("phone-revisit", 1), ("residents-survey", 1)]
    survey = shipped[1]
    assert {q["kind"] for q in survey["questions"]} == {"single", "multi", "scale", "text"}
    assert [q["key"] for q in survey["questions"] if q.get("satisfaction")] == ["satisfaction"]

    v1 = revisit.get("/api/questionnaires/phone-revisit").get_json()
    edited = {"code": "phone-revisit", "title": v1["title"],
              "questions": [*v1["questions"], {
                  "key": "noise_now", "kind": "scale", "min": 0, "max": 10, "required": True,
                  "label": {"zh": "现在的噪声程度", "en": "How loud is it now"}}]}
    assert revisit.post("/api/questionnaires", json=edited).status_code == 403
    saved = admin.post("/api/questionnaires", json=edited)
    assert saved.status_code == 201 and saved.get_json()["version"] == 2
    assert len(revisit.get("/api/questionnaires/phone-revisit?version=1")
               .get_json()["questions"]) == 4
    assert len(revisit.get("/api/questionnaires/phone-revisit").get_json()["questions"]) == 5
    assert revisit.get("/api/questionnaires/phone-revisit?version=3").status_code == 404


@pytest.mark.parametrize(("question", "problem"), [
    ({"kind": "single", "options": [{"value": "a", "label": {"zh": "甲", "en": "A"}}]},
     "options"),
    ({"kind": "multi", "options": [{"value": "a", "label": {"zh": "甲", "en": "A"}},
                                   {"value": "a", "label": {"zh": "乙", "en": "B"}}]},
     "options"),
    ({"kind": "scale", "min": 5, "max": 5}, "max"),
    ({"kind": "yesno", "options": [{"value": "a", "label": {"zh": "甲", "en": "A"}},
                                   {"value": "b", "label": {"zh": "乙", "en": "B"}}]},
     "options"),
    ({"kind": "text", "satisfaction": True}, "satisfaction"),
    ({"kind": "text", "label": {"zh": "只有中文", "en": " "}}, "label"),
    ({"kind": "text", "key": "Bad Key"}, "key"),
])
def test_a_template_that_cannot_be_answered_is_refused(app, as_user, question: dict,
                                                       problem: str) -> None:
    body = {"code": "test-template", "title": {"zh": "测试", "en": "Test"}, "questions": [
        {"key": "q1", "label": {"zh": "问题", "en": "Question"}, "required": True,
         **question}]}
    answer = as_user("admin").post("/api/questionnaires", json=body)
    assert answer.status_code == 422, answer.get_json()
    assert problem in answer.get_json()["errors"]["questions"]["0"]


# ---- answers of every kind -------------------------------------------------------------
@pytest.mark.parametrize(("key", "value", "message"), [
    ("distance", "next_door", "One of"),           # single: not an option
    ("distance", ["within_50m"], "One of"),         # single: a list
    ("when", ["morning", "noon"], "A list of"),     # multi: one not an option
    ("when", "morning", "A list of"),               # multi: not a list
    ("improvement", 6, "from 1 to 5"),              # scale: out of range
    ("improvement", 2.5, "from 1 to 5"),            # scale: not whole
    ("improvement", True, "from 1 to 5"),           # scale: a boolean is not a number
    ("comments", 42, "Text"),                       # text: not text
    ("satisfaction", None, "Required"),             # required, missing
    ("unheard_of", "x", "Not a question"),          # not in the template
])
def test_each_answer_is_checked_by_its_kind(app, as_user, make_case, key: str, value: Any,
                                            message: str) -> None:
    case = make_case()
    answers = {"distance": "within_50m", "affected": "never", "improvement": 4,
               "when": ["late_night"], "satisfaction": "satisfied", "comments": "好",
               key: value}
    body = {"client_id": new_id(), "method": "door", "at": AT,
            "questionnaire": {"code": "residents-survey", "version": 1},
            "respondents": [{"client_id": new_id(), "kind": "resident", "answers": answers}]}
    answer = as_user("revisit").post(f"/api/cases/{case['id']}/revisits", json=body)
    assert answer.status_code == 422, answer.get_json()
    problem = answer.get_json()
    assert message in " ".join(problem["errors"]["respondents"]["0"]["answers"][key])
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Revisit)) == 0


def test_yes_no_takes_a_boolean_and_the_version_must_exist(app, as_user, make_case) -> None:
    case, revisit = make_case(), as_user("revisit")
    url = f"/api/cases/{case['id']}/revisits"
    wrong = revisit.post(url, json=phone_revisit(respondents=[{
        "client_id": new_id(), "kind": "complainant", "answers": phone_answers(resolved="是")}]))
    assert wrong.status_code == 422
    assert wrong.get_json()["errors"]["respondents"]["0"]["answers"]["resolved"] == [
        "true or false."]
    missing = revisit.post(url, json=phone_revisit(
        questionnaire={"code": "phone-revisit", "version": 9}))
    assert missing.status_code == 422
    assert "version" in missing.get_json()["errors"]["questionnaire"]
    clash = revisit.post(url, json=phone_revisit(respondents=[{
        "client_id": new_id(), "kind": "complainant", "satisfaction": "dissatisfied",
        "answers": phone_answers()}]))
    assert clash.status_code == 422 and "satisfaction" in \
        clash.get_json()["errors"]["respondents"]["0"]


def test_answers_keep_the_version_they_were_given_under(app, as_user, make_case) -> None:
    case, revisit, admin = make_case(), as_user("revisit"), as_user("admin")
    first = revisit.post(f"/api/cases/{case['id']}/revisits", json=phone_revisit())
    assert first.status_code == 201, first.get_json()
    v1 = revisit.get("/api/questionnaires/phone-revisit").get_json()
    admin.post("/api/questionnaires", json={
        "code": "phone-revisit", "title": v1["title"], "questions": v1["questions"][:2]})
    items = revisit.get(f"/api/cases/{case['id']}/revisits").get_json()["items"]
    assert items[0]["questionnaire"]["version"] == 1
    assert items[0]["respondents"][0]["answers"]["comments"] == "晚上安静多了"
    # Answers to v1 are still checked against v1 (v2 has no satisfaction question).
    again = revisit.post(f"/api/cases/{case['id']}/revisits", json=phone_revisit())
    assert again.status_code == 201


# ---- phone revisits -------------------------------------------------------------------
def test_a_phone_revisit_is_recorded_once_with_personal_data_masked(app, as_user,
                                                                   make_case) -> None:
    case, revisit = make_case(), as_user("revisit")
    body = phone_revisit(notes="投诉人表示已改善")
    url = f"/api/cases/{case['id']}/revisits"
    first = revisit.post(url, json=body)
    assert first.status_code == 201, first.get_json()
    got = first.get_json()
    assert got["outcome"] == "reached" and got["satisfaction"] == "satisfied"
    assert got["respondents"][0]["name"] == "张*"
    assert got["respondents"][0]["contact"] == "138****1234"
    assert got["created_by"]["name"]
    retry = revisit.post(url, json=body)
    assert retry.status_code == 200 and retry.get_json()["id"] == got["id"]
    changed = revisit.post(url, json={**body, "notes": "另一次"})
    assert changed.status_code == 422 and changed.get_json()["code"] == "idempotency.conflict"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Revisit)) == 1
    stored = db.session.scalar(sa.select(Respondent))
    assert (stored.name, stored.contact) == ("张三", "13812341234")
    kinds = [e["kind"] for e in revisit.get(f"/api/cases/{case['id']}/timeline")
             .get_json()["items"]]
    assert kinds.count("revisit_recorded") == 1
    assert as_user("insp_a").post(url, json=phone_revisit()).status_code == 403


def test_unreachable_is_a_result_after_three_attempts(app, as_user, make_case) -> None:
    case, revisit = make_case(), as_user("revisit")
    url = f"/api/cases/{case['id']}/revisits"
    start = datetime.fromisoformat(AT)

    def calls(*outcomes: str) -> list[dict]:
        return [{"at": (start + timedelta(hours=3 * i)).isoformat(), "outcome": o}
                for i, o in enumerate(outcomes)]

    body = {"client_id": new_id(), "method": "phone", "at": AT,
            "questionnaire": {"code": "phone-revisit", "version": 1}}
    two = revisit.post(url, json={**body, "attempts": calls("no_answer", "busy"),
                                  "unreachable_reason": "无人接听"})
    assert two.status_code == 422 and "2 logged" in two.get_json()["errors"]["attempts"][0]
    no_reason = revisit.post(url, json={**body, "attempts": calls("no_answer", "busy",
                                                                  "switched_off")})
    assert no_reason.status_code == 422 and "unreachable_reason" in no_reason.get_json()["errors"]
    three = revisit.post(url, json={**body, "attempts": calls("switched_off", "no_answer",
                                                              "busy"),
                                    "unreachable_reason": "三次拨打均未接通"})
    assert three.status_code == 201, three.get_json()
    got = three.get_json()
    assert got["outcome"] == "unreachable" and got["satisfaction"] is None
    assert [a["outcome"] for a in got["attempts"]] == ["switched_off", "no_answer", "busy"]
    wrong_number = revisit.post(url, json={**body, "client_id": new_id(),
                                           "attempts": calls("wrong_number"),
                                           "unreachable_reason": "空号"})
    assert wrong_number.status_code == 201
    assert wrong_number.get_json()["outcome"] == "unreachable"


def test_a_dissatisfied_revisit_sends_a_closed_case_back_for_review(app, as_user,
                                                                   make_case) -> None:
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case()
    closed = handled(office, inspector, case["id"], close=True, revisit=revisit)
    assert closed["status"] == "closed" and closed["deadline"] is None
    answers = phone_answers(resolved=False, satisfaction="dissatisfied",
                            comments="十点后仍然很吵")
    sent = revisit.post(f"/api/cases/{case['id']}/revisits", json=phone_revisit(
        respondents=[{"client_id": new_id(), "kind": "complainant", "answers": answers}]))
    assert sent.status_code == 201, sent.get_json()
    after = office.get(f"/api/cases/{case['id']}").get_json()
    assert after["status"] == "submitted" and after["closed_at"] is None
    # The review period of the case's rule (2 days when the rule gives none).
    due = datetime.fromisoformat(after["deadline"]["due_at"])
    received = datetime.fromisoformat(sent.get_json()["received_at"])
    assert abs((due - received) - timedelta(days=2)) < timedelta(seconds=5)
    event = office.get(f"/api/cases/{case['id']}/timeline").get_json()["items"][-1]
    assert event["kind"] == "revisit_dissatisfied"
    assert event["data"]["review"] is True and event["data"]["from"] == "closed"
    assert event["data"]["dissatisfied"][0]["answers"]["comments"] == "十点后仍然很吵"
    assert "张三" not in str(event["data"])
    # The reviewers decide again: return it to the handlers.
    returned = walk(office, case["id"], ("return", {"reasons": ["回访不满意"]}))
    assert returned["status"] == "in_progress"


def test_a_dissatisfied_revisit_of_a_case_in_hand_is_only_recorded(app, as_user,
                                                                  make_case) -> None:
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case()
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    before = office.get(f"/api/cases/{case['id']}").get_json()
    sent = revisit.post(f"/api/cases/{case['id']}/revisits", json=phone_revisit(
        satisfaction="dissatisfied"))
    assert sent.status_code == 201 and sent.get_json()["satisfaction"] == "dissatisfied"
    after = office.get(f"/api/cases/{case['id']}").get_json()
    assert (after["status"], after["deadline"]["due_at"]) == (
        "in_progress", before["deadline"]["due_at"])
    event = office.get(f"/api/cases/{case['id']}/timeline").get_json()["items"][-1]
    assert (event["kind"], event["data"]["review"]) == ("revisit_dissatisfied", False)


# ---- door-to-door -----------------------------------------------------------------------
def resident(answers: dict | None = None, **changes: Any) -> dict:
    return {"client_id": new_id(), "kind": "resident", "answers": {
        "distance": "within_50m", "affected": "never", "improvement": 5,
        "when": [], "satisfaction": "satisfied", **(answers or {})}, **changes}


def test_a_door_to_door_survey_takes_respondents_one_at_a_time(app, as_user,
                                                              make_case) -> None:
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case()
    handled(office, inspector, case["id"], close=False)
    phone_where = revisit.post(f"/api/cases/{case['id']}/revisits", json=phone_revisit(
        location={"lat": 30.1, "lon": 120.1}))
    assert phone_where.status_code == 422 and "location" in phone_where.get_json()["errors"]
    survey = revisit.post(f"/api/cases/{case['id']}/revisits", json={
        "client_id": new_id(), "method": "door", "at": AT,
        "questionnaire": {"code": "residents-survey", "version": 1},
        "location": {"lat": 31.2304, "lon": 121.4737, "accuracy_m": 12}})
    assert survey.status_code == 201, survey.get_json()
    assert survey.get_json()["outcome"] == "open"
    url = f"/api/revisits/{survey.get_json()['id']}/respondents"
    people = [resident() for _ in range(14)] + \
        [resident({"satisfaction": "basically_satisfied"}) for _ in range(6)] + \
        [resident({"satisfaction": "dissatisfied", "affected": "often"}) for _ in range(2)]
    for person in people:
        assert revisit.post(url, json=person).status_code == 201
        retry = revisit.post(url, json=person)  # the outbox sends again: same answer
        assert retry.status_code == 200 and retry.get_json()["client_id"] == person["client_id"]
    bad = revisit.post(url, json=resident({"improvement": 0}))
    assert bad.status_code == 422 and "improvement" in bad.get_json()["errors"]["answers"]
    got = revisit.get(f"/api/cases/{case['id']}/revisits").get_json()["items"][-1]
    assert len(got["respondents"]) == 22 and got["outcome"] == "reached"
    assert got["satisfaction"] == "satisfied"  # the most common answer
    assert got["location"]["accuracy_m"] == 12
    assert office.get(f"/api/cases/{case['id']}").get_json()["status"] == "submitted"


def test_a_survey_turning_dissatisfied_sends_the_case_back_once(app, as_user,
                                                               make_case) -> None:
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case()
    handled(office, inspector, case["id"], close=True, revisit=revisit)
    survey = revisit.post(f"/api/cases/{case['id']}/revisits", json={
        "client_id": new_id(), "method": "door", "at": AT,
        "questionnaire": {"code": "residents-survey", "version": 1},
        "respondents": [resident()]}).get_json()
    url = f"/api/revisits/{survey['id']}/respondents"
    for _ in range(3):
        revisit.post(url, json=resident({"satisfaction": "dissatisfied"}))
    kinds = [e["kind"] for e in office.get(f"/api/cases/{case['id']}/timeline")
             .get_json()["items"]]
    assert kinds.count("revisit_dissatisfied") == 1
    assert office.get(f"/api/cases/{case['id']}").get_json()["status"] == "submitted"


def test_another_units_revisit_is_not_found(app, as_user, make_case) -> None:
    case = make_case(unit="Street B")
    survey = as_user("revisit").post(f"/api/cases/{case['id']}/revisits", json={
        "client_id": new_id(), "method": "door", "at": AT,
        "questionnaire": {"code": "residents-survey", "version": 1}}).get_json()
    outsider = as_user("reviewer_a")
    assert outsider.post(f"/api/revisits/{survey['id']}/respondents",
                         json=resident()).status_code == 404
    assert outsider.get(f"/api/cases/{case['id']}/revisits").status_code == 404
    assert db.session.scalar(sa.select(Case.unit_id).where(Case.id == case["id"])) == \
        unit_id("Street B")
