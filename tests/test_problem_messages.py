"""Every refusal in the user's language: each problem code has words in Chinese and
English in one table, every problem+json carries both, and per-field messages come in
Chinese too."""

from __future__ import annotations

import re

import sqlalchemy as sa

from server.domain.core import problem_text
from server.extensions import db
from server.models import Case
from tests.problem_codes import raised_codes

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_code_the_server_raises_has_chinese_and_english() -> None:
    table = problem_text.table()["codes"]
    found = raised_codes()
    assert len(found) > 100  # the scan reads the source; a broken scan finds nothing
    missing = {code: where for code, where in sorted(found.items())
               if not (table.get(code, {}).get("zh") and table.get(code, {}).get("en"))}
    assert not missing, (
        "Problem codes without words in server/domain/data/problem_messages.json "
        f"(add zh and en): {', '.join(f'{c} ({w})' for c, w in missing.items())}")
    for code, words in table.items():
        assert CJK.search(words["zh"]), f"{code}: zh is not Chinese"
        assert not CJK.search(words["en"]), f"{code}: en holds Chinese"


def test_the_scan_finds_codes_given_indirectly() -> None:
    # Through require_role's `code`, a local `code = ... if ... else ...`, the media
    # reasons of evidence.<reason>, and HTTP_CODES.
    found = raised_codes()
    for code in ("calendar.forbidden", "evidence.hash_mismatch", "evidence.size_mismatch",
                 "evidence.not_an_image", "request.rate_limited", "user.bad_name"):
        assert code in found, code


def test_placeholders_are_filled_or_said_without() -> None:
    said = problem_text.messages("deadline.calendar_missing", 409, {"year": 2027})
    assert "2027年" in said["zh"] and "2027" in said["en"]
    bare = problem_text.messages("deadline.calendar_missing", 409, {})
    assert "{" not in bare["zh"] + bare["en"]
    unknown = problem_text.messages("case.something_new", 404)
    assert unknown == {"zh": "未找到。", "en": "Not found."}


def test_the_extend_limit_is_refused_in_both_languages(app, as_user, make_case) -> None:
    case = make_case()
    db.session.execute(sa.update(Case).where(Case.id == case["id"]).values(status="in_progress"))
    db.session.commit()
    version = db.session.scalar(sa.select(Case.version).where(Case.id == case["id"]))
    answer = as_user("reviewer").post(
        f"/api/cases/{case['id']}/transitions",
        json={"action": "extend", "version": version, "days": 8, "reason": "需要更多时间"},
        headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["code"] == "case.bad_params"
    assert CJK.search(body["messages"]["zh"]) and body["messages"]["en"]
    assert body["message"] == body["messages"]["en"]  # as Accept-Language prefers
    assert "days of extension" in body["errors"]["days"][0]  # the English stays
    assert re.fullmatch(r"规则 \S+ 最多允许延期 \d+ 天，已延期 0 天。",
                        body["errors_zh"]["days"][0])
    assert body["detail"]  # kept for older clients


def test_field_errors_of_the_schema_come_in_chinese(app, as_user, make_case) -> None:
    case = make_case()
    answer = as_user("insp_a").post(f"/api/cases/{case['id']}/visits", json={
        "client_id": "0f7d7d4e-3c9e-4a8e-9a55-2b1f1d3a0001", "kind": "site_check",
        "started_at": "2026-11-21T22:30:00+08:00",
        "measurements": [{"kind": "noise", "value_dba": 900, "source": "meter"}]})
    assert answer.status_code == 422, answer.get_json()
    body = answer.get_json()
    assert body["message"] == body["messages"]["zh"]  # Chinese unless asked otherwise
    flat = str(body["errors_zh"])
    assert "须在 0 至 200 dB(A) 之间" in flat and "必填" in flat, flat
    assert not re.search(r"Must be|Missing data", flat), flat


def test_a_refusal_outside_the_table_says_its_status_in_chinese(app, as_user) -> None:
    answer = as_user("reviewer").get("/api/no-such-route")
    body = answer.get_json()
    assert answer.status_code == 404
    assert body["messages"]["zh"] == "地址不存在。" and body["messages"]["en"]


def test_accept_language_preference() -> None:
    assert problem_text.preferred(None) == "zh"
    assert problem_text.preferred("en-US,en;q=0.9") == "en"
    assert problem_text.preferred("zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert problem_text.preferred("fr, en;q=0.5") == "en"


def test_a_calendar_files_errors_and_a_questionnaire_code_come_in_chinese(app, as_user) -> None:
    admin = as_user("admin")
    answer = admin.put("/api/calendar/2027", json={"source": "国办发明电", "days": [
        {"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
        {"date": "2027-01-01", "kind": "holiday", "name": "元旦"},
        {"date": "2026-12-31", "kind": "rest", "name": "x"},
        {"date": "2027-01-04", "kind": "workday", "name": "调休"}]})
    assert answer.status_code == 422, answer.get_json()
    body = answer.get_json()
    assert body["code"] == "calendar.bad_days" and CJK.search(body["message"])
    said = " ".join(m for messages in body["errors_zh"].values() for m in messages)
    assert "重复出现" in said and "不是周末" in said and "holiday（放假）" in said, said
    assert not re.search(r"appears twice|must be|is a Monday", said), said

    v1 = admin.get("/api/questionnaires/phone-revisit").get_json()
    answer = admin.post("/api/questionnaires", json={
        "code": "Phone Revisit", "title": v1["title"], "questions": v1["questions"]})
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["errors_zh"]["code"] == [
        "只能用小写字母、数字和连字符（-），以字母或数字开头。"]
