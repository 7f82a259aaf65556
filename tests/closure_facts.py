"""What a case needs before the office may approve it (the closure checklist), recorded
through the API as the people who do it would: shared by every test that closes a case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.test_evidence import NOKIA, file_photo


def night_visit(api: Any, case_id: str, **reading: object) -> str:
    body = {"client_id": str(uuid.uuid4()), "kind": "night_check",
            "started_at": datetime.now(UTC).isoformat()}
    if reading:
        body["measurements"] = [{"kind": "noise", "zone_class": "1", "period": "night",
                                 **reading}]
    answer = api.post(f"/api/cases/{case_id}/visits", json=body)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def phone_answers(**changes: Any) -> dict:
    return {"resolved": True, "contacted": True, "satisfaction": "satisfied",
            "comments": "晚上安静多了", **changes}


def phone_revisit(**changes: Any) -> dict:
    return {"client_id": str(uuid.uuid4()), "method": "phone", "at": datetime.now(UTC).isoformat(),
            "questionnaire": {"code": "phone-revisit", "version": 1},
            "respondents": [{"client_id": str(uuid.uuid4()), "kind": "complainant", "name": "张三",
                             "contact": "13812341234", "answers": phone_answers()}],
            **changes}


def tell_complainant(api: Any, case_id: str, method: str = "phone") -> dict:
    """The complainant told the result (答复), as the closure checklist asks of hotline,
    letter and visit cases."""
    answer = api.post(f"/api/cases/{case_id}/feedback", json={
        "method": method, "told_at": datetime.now(UTC).isoformat(), "note": "已电话告知处理结果"})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def plan_if_hard(office: Any, case_id: str) -> None:
    """A repeat complaint (the same place again, the same caller) is a hard case, whose
    closure waits for its remediation plan (整治方案): the office sets one, as it would."""
    hardness = office.get(f"/api/cases/{case_id}/hard-case").get_json()
    if hardness["hard"]:
        answer = office.put(f"/api/cases/{case_id}/remediation-plan", json={
            "approach": "约谈经营者限定营业时段和音量；街道每周夜查。",
            "responsible_text": "街道城管科",
            "deadline": (datetime.now(UTC) + timedelta(days=30)).date().isoformat()})
        assert answer.status_code in (200, 201), answer.get_json()


def submit_ready(office: Any, inspector: Any, revisit: Any, case_id: str,
                 photo: bytes | None = None, **declared: object) -> dict:
    """An in-progress case handled in full: a night check with a meter reading and a photo
    on site, its flags explained by the office, the handling result submitted, then a
    satisfied phone revisit, and the complainant told the result. Returns the stored
    photo."""
    check = night_visit(inspector, case_id, value_dba=52.0)
    stored = file_photo(inspector, case_id, photo or NOKIA.read_bytes(), visit_id=check,
                        **{"captured_at": datetime.now(UTC).isoformat(), **declared})
    for flag in stored["flags"]:
        answer = office.post(f"/api/evidence/{stored['id']}/acknowledgements",
                             json={"code": flag["code"], "note": "已核实现场"})
        assert answer.status_code == 201, answer.get_json()
    case = inspector.get(f"/api/cases/{case_id}").get_json()
    answer = inspector.post(f"/api/cases/{case_id}/transitions", json={
        "action": "submit", "version": case["version"], "verdict": "true",
        "result": "已责令整改，复测达标"})
    assert answer.status_code == 200, answer.get_json()
    answer = revisit.post(f"/api/cases/{case_id}/revisits", json=phone_revisit())
    assert answer.status_code == 201, answer.get_json()
    tell_complainant(revisit, case_id)
    plan_if_hard(office, case_id)
    ready = office.get(f"/api/cases/{case_id}/closure-checklist").get_json()
    assert ready["ready"], ready
    return stored
