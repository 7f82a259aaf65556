"""Free text is checked by one rule wherever it enters (server.domain.core.text): no NUL, no
lone surrogate, no bidi controls (a right-to-left override makes "gpj.exe" read
"exe.jpg"), within a length. One test per kind of entry point."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from server.domain.accounts import auth
from server.domain.core import text
from server.domain.core.errors import Invalid
from server.extensions import db
from server.models import CalendarDay, Case, Evidence, Revisit, User, Visit
from tests.closure_facts import phone_revisit
from tests.conftest import CASE_BODY, unit_id
from tests.test_bad_input import assert_problem, evidence_body, visit_body

RLO = "\u202e"
# Every control refused, each in a name that reads as something else.
BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", RLO, "\u2066", "\u2067", "\u2068", "\u2069",
        "\u200e", "\u200f", "\u061c"]


def refused(response, *fields: str) -> dict:  # type: ignore[no-untyped-def]
    body = assert_problem(response, 422)
    for name in fields:
        assert name in body["errors"], body
    return body["errors"]


def test_the_rule_refuses_every_bidi_control_and_keeps_plain_text() -> None:
    for ch in BIDI:
        assert text.problem(f"照片{ch}gpj.exe") == text.BIDI, repr(ch)
    assert text.problem("东湖路88号 3楼 — café ü ١٢٣ עברית") is None
    assert text.problem("x\x00") == text.NUL and text.problem("\ud800") == text.SURROGATE
    # What a DOCX (XML) cannot hold; tab and line breaks are text.
    assert text.problem("a\x01b") == text.problem("a\x0cb") == text.CONTROL
    assert text.problem("第一行\r\n\t第二行") is None
    assert text.problem(f"a\x01{RLO}", shown=False) is None  # a password
    assert text.printable(f"a\x01b{RLO}c") == "a\ufffdb\ufffdc"


def test_cases_refuse_bidi_on_create_and_patch(app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    office = as_user("reviewer")
    case = make_case()
    for name in ("subject", "address", "description", "leader", "external_ref"):
        created = office.post("/api/cases", json={**CASE_BODY, "unit_id": unit_id("Street A"),
                                                  name: f"噪声{RLO}gpj.exe"})
        refused(created, name)
    created = office.post("/api/cases", json={**CASE_BODY, "unit_id": unit_id("Street A"),
                                              "complainant": {"name": f"张{RLO}三"}})
    assert refused(created, "complainant")["complainant"] == {"name": [text.BIDI]}
    patched = office.patch(f"/api/cases/{case['id']}",
                           json={"version": case["version"], "subject": "a\u2067b"})
    refused(patched, "subject")
    reveal = office.post(f"/api/cases/{case['id']}/complainant/reveal",
                         json={"reason": f"callback{RLO}"})
    refused(reveal, "reason")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 1
    assert db.session.scalar(sa.select(Case.subject)) == CASE_BODY["subject"]


def test_visits_and_photo_declarations_refuse_bidi(app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    case = make_case()
    field = as_user("insp_a")
    visit = field.post(f"/api/cases/{case['id']}/visits", json=visit_body(
        findings=f"ok{RLO}", measurements=[{"kind": "noise", "value_dba": 50,
                                             "period": "night", "device": f"AWA{RLO}"}]))
    refused(visit, "findings", "measurements")
    for name in ("caption", "place", "photographer"):
        declared = field.post("/api/evidence", json=evidence_body(case["id"],
                                                                  **{name: f"x{RLO}gpj.exe"}))
        refused(declared, name)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Visit)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0


def test_revisits_refuse_bidi_in_notes_respondents_and_answers(app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    case = make_case()
    revisit = as_user("revisit")
    url = f"/api/cases/{case['id']}/revisits"
    refused(revisit.post(url, json=phone_revisit(notes=f"n{RLO}")), "notes")
    body = phone_revisit()
    body["respondents"][0]["name"] = f"张{RLO}三"
    assert "name" in refused(revisit.post(url, json=body), "respondents")["respondents"]["0"]
    # An answer to a text question is checked by the questionnaire, outside the schema.
    body = phone_revisit()
    body["respondents"][0]["answers"]["comments"] = f"安静{RLO}多了"
    errors = refused(revisit.post(url, json=body), "respondents")
    assert "comments" in json.dumps(errors) and text.BIDI in json.dumps(errors)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Revisit)) == 0


def test_transition_parameters_refuse_bidi_and_nul(app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    case = make_case()
    office = as_user("reviewer")
    url = f"/api/cases/{case['id']}/transitions"
    for params, name in (({"action": "extend", "days": 3, "reason": f"r{RLO}"}, "reason"),
                         ({"action": "supervise", "note": f"快{RLO}办"}, "note"),
                         ({"action": "supervise", "note": "快\x00办"}, "note")):
        answer = office.post(url, json={**params, "version": case["version"]})
        assert refused(answer, name)[name] != ["Required."]
    assert office.get(f"/api/cases/{case['id']}").get_json()["version"] == case["version"]


def test_questionnaire_labels_refuse_bidi(app, as_user) -> None:  # type: ignore[no-untyped-def]
    question = {"key": "q1", "kind": "text", "label": {"zh": f"问{RLO}题", "en": "Q"}}
    answer = as_user("admin").post("/api/questionnaires", json={
        "code": "bidi-test", "title": {"zh": "标题", "en": f"T{RLO}"}, "questions": [question]})
    errors = refused(answer, "title", "questions")
    assert errors["title"] == {"en": [text.BIDI]}


@pytest.mark.parametrize("name, source", [
    (f"元旦{RLO}", ""), ("\x00", ""), ("x" * 900_000, ""), ("元旦", f"国办{RLO}"),
    ("元旦", "国办\x00"),
])
def test_calendar_names_and_source_follow_the_text_rule(app, as_user, name, source) -> None:  # type: ignore[no-untyped-def]
    answer = as_user("admin").put("/api/calendar/2027", json={
        "source": source, "days": [{"date": "2027-01-01", "kind": "holiday", "name": name}]})
    errors = refused(answer)
    assert ("0" in errors) if not source else ("source" in errors), errors
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)
                             .where(CalendarDay.year == 2027)) == 0


def test_a_lone_surrogate_in_a_calendar_name_is_a_422(app, as_user) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps({"days": [{"date": "2027-01-01", "kind": "holiday", "name": "@@"}]})
    answer = as_user("admin").put("/api/calendar/2027", data=body.replace('"@@"', '"\\ud800"'),
                                  content_type="application/json")
    assert refused(answer)["0"] == [f"name: {text.SURROGATE}"]


def test_the_cli_refuses_bidi_in_user_and_unit_names(app) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Invalid) as caught:
        auth.create_user("eve", "a long enough passphrase 1", "inspector", ["Street A"],
                         display_name=f"Eve{RLO}nimda")
    assert caught.value.errors == {"display_name": [text.BIDI]}
    with pytest.raises(Invalid):
        auth.create_user(f"eve{RLO}", "a long enough passphrase 1", "inspector", ["Street A"])
    with pytest.raises(Invalid):
        auth.create_unit(f"Street{RLO} C", "District")
    db.session.rollback()
    assert db.session.scalar(sa.select(User).filter_by(display_name=f"Eve{RLO}nimda")) is None


def test_a_password_may_hold_what_is_never_shown(app) -> None:  # type: ignore[no-untyped-def]
    answer = app.test_client().post("/api/auth/login", json={
        "username": "insp_a", "password": f"wrong{RLO}guess"})
    assert answer.status_code == 401  # checked as a password, not refused as text
