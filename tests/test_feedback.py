"""Telling the complainant the result (答复/反馈): who records it, when it may be dated,
the closure checklist asking for it by channel, and the closure file printing it beside
the leaders' instructions (领导批示)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pymupdf as fitz
import sqlalchemy as sa
from docx import Document

from server.extensions import db
from server.models import AuditEntry
from tests.closure_facts import submit_ready
from tests.test_closure_files import docx_text, download
from tests.test_leaders import leaders
from tests.test_lifecycle import params_for, walk
from tests.test_seal import approve


def feedback_rule(api, case_id: str) -> dict | None:  # type: ignore[no-untyped-def]
    body = api.get(f"/api/cases/{case_id}/closure-checklist").get_json()
    return next((r for r in body["rules"] if r["code"] == "feedback_given"), None)


def test_feedback_is_recorded_by_the_office_and_the_revisit_team(app, as_user,
                                                                 make_case) -> None:
    case = make_case(unit="Street A")
    url = f"/api/cases/{case['id']}/feedback"
    now = datetime.now(UTC)
    # Not the inspectors, nor a leader.
    assert as_user("insp_a").post(url, json={
        "method": "phone", "told_at": now.isoformat()}).status_code == 403
    office, revisit = as_user("reviewer"), as_user("revisit")
    bad = office.post(url, json={"method": "fax", "told_at": now.isoformat()})
    assert bad.status_code == 422
    future = office.post(url, json={"method": "sms",
                                    "told_at": (now + timedelta(hours=1)).isoformat()})
    assert future.status_code == 422 and future.get_json()["code"] == "feedback.bad_time"
    early = office.post(url, json={"method": "sms", "told_at": "2026-11-20T23:00:00+08:00"})
    assert early.status_code == 422 and early.get_json()["code"] == "feedback.bad_time"
    first = revisit.post(url, json={"method": "phone", "told_at": "2026-11-22T10:00:00+08:00",
                                    "note": "已告知整改情况"})
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["told_at"].startswith("2026-11-22T02:00:00")
    second = office.post(url, json={"method": "letter", "told_at": now.isoformat()})
    assert second.status_code == 201
    listed = office.get(url).get_json()["items"]
    assert [f["method"] for f in listed] == ["letter", "phone"]  # newest first
    timeline = office.get(f"/api/cases/{case['id']}/timeline").get_json()["items"]
    told = [e for e in timeline if e["kind"] == "complainant_informed"]
    assert [e["data"]["method"] for e in told] == ["phone", "letter"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "case.feedback_recorded",
        AuditEntry.entity_id == case["id"])) == 2
    # The app names the methods from the vocabulary.
    vocab = office.get("/api/vocab").get_json()
    assert vocab["feedback_methods"] == ["phone", "sms", "letter", "in_person"]
    assert vocab["labels"]["feedback_methods"]["sms"]["zh"] == "短信答复"


def test_the_checklist_asks_for_feedback_only_on_its_channels(app, as_user,
                                                              make_case) -> None:
    office = as_user("reviewer")
    for channel in ("hotline_12345", "hotline_12369", "letter", "visit"):
        case = make_case(channel=channel, external_ref=None)
        rule = feedback_rule(office, case["id"])
        assert rule is not None and rule["met"] is False, channel
        assert rule["title"]["zh"].startswith("已答复投诉人")
    for channel in ("online", "media_monitoring", "inspection_batch", "phone"):
        case = make_case(channel=channel, external_ref=None)
        assert feedback_rule(office, case["id"]) is None, channel
    case = make_case(channel="letter", external_ref=None)
    answer = office.post(f"/api/cases/{case['id']}/feedback", json={
        "method": "in_person", "told_at": datetime.now(UTC).isoformat()})
    assert answer.status_code == 201
    rule = feedback_rule(office, case["id"])
    assert rule["met"] and "当面答复" in rule["why"]["zh"] and rule["refs"]


def test_approval_waits_for_feedback_and_a_closed_case_takes_none(app, as_user,
                                                                  make_case) -> None:
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case(unit="Street A")
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    submit_ready(office, inspector, revisit, case["id"])
    # The feedback submit_ready recorded is what the rule rested on: after a reopen the
    # complainant must be told the new result.
    assert approve(office, case["id"]).status_code == 200
    refused = office.post(f"/api/cases/{case['id']}/feedback", json={
        "method": "phone", "told_at": datetime.now(UTC).isoformat()})
    assert refused.status_code == 409 and refused.get_json()["code"] == "case.closed"
    walk(office, case["id"], ("reopen", params_for("reopen")))
    assert feedback_rule(office, case["id"])["met"] is False
    walk(inspector, case["id"], ("submit", params_for("submit")))
    unmet = approve(office, case["id"])
    assert unmet.status_code == 422
    assert "feedback_given" in {r["code"] for r in unmet.get_json()["unmet"]}


def test_the_closure_file_shows_instructions_and_feedback(app, as_user, make_case) -> None:
    ids = leaders()
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case(unit="Street A")
    answer = as_user("lead_a").post(f"/api/cases/{case['id']}/instructions",
                                    json={"text": "请街道三日内办结并回复"})
    assert answer.status_code == 201
    answer = office.post(f"/api/cases/{case['id']}/instructions", json={
        "text": "电话批示：联合执法", "leader_id": ids["district"],
        "given_at": "2026-11-21T09:30:00+08:00"})
    assert answer.status_code == 201
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    submit_ready(office, inspector, revisit, case["id"])
    assert approve(office, case["id"]).status_code == 200
    docx, _ = download(office, f"/api/cases/{case['id']}/closure-file.docx")
    text = docx_text(docx)
    for wanted in ("领导批示", "李主任", "请街道三日内办结并回复", "王局长 2026年11月21日09:30",
                   "电话批示：联合执法", "答复情况", "电话答复", "已电话告知处理结果"):
        assert wanted in text, wanted
    pdf, _ = download(office, f"/api/cases/{case['id']}/closure-file.pdf")
    with fitz.open(stream=pdf, filetype="pdf") as doc:
        pdf_text = "".join(page.get_text() for page in doc)
    for wanted in ("领导批示", "请街道三日内办结并回复", "电话批示：联合执法", "答复情况",
                   "电话答复"):
        assert wanted in pdf_text, wanted
    # The public file keeps leaders' instructions and the feedback's note in the office.
    public, _ = download(office, f"/api/cases/{case['id']}/closure-file.docx?public=true")
    shown = docx_text(public)
    assert "电话答复" in shown
    for hidden in ("请街道三日内办结并回复", "已电话告知处理结果"):
        assert hidden not in shown, hidden
    assert Document(io.BytesIO(public)) is not None
