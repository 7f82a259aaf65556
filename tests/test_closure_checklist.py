"""The closure checklist: each rule on its own, which rules apply by category and
channel, and flags acknowledged by the office."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.closure_facts import night_visit as visit
from tests.closure_facts import tell_complainant
from tests.test_evidence import NOKIA, file_photo
from tests.test_lifecycle import params_for, walk


def rules(api, case_id: str) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    answer = api.get(f"/api/cases/{case_id}/closure-checklist")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    found = {}
    for rule in body["rules"]:
        key = rule["code"] + ("+valid" if "执法" in rule["title"]["zh"] else "")
        found[key] = rule
    assert body["ready"] == all(r["met"] for r in body["rules"])
    return found


def test_each_rule_is_met_by_what_is_recorded(app, as_user, make_case) -> None:
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case()
    before = rules(office, case["id"])
    assert set(before) == {"handling_result", "site_photo", "flags_explained", "noise_reading",
                           "revisit", "feedback_given"}
    assert not any(r["met"] for c, r in before.items() if c != "flags_explained")
    assert before["flags_explained"]["met"]  # nothing filed, nothing to explain

    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    # A photo filed without a visit is not a site photo.
    file_photo(inspector, case["id"], NOKIA.read_bytes())
    assert not rules(office, case["id"])["site_photo"]["met"]
    check = visit(inspector, case["id"], value_dba=52.0)
    photo = file_photo(inspector, case["id"], NOKIA.read_bytes(), visit_id=check,
                       client_id=str(uuid.uuid4()))
    walk(inspector, case["id"], ("submit", params_for("submit")))
    now = rules(office, case["id"])
    assert now["handling_result"]["met"] and now["noise_reading"]["met"]
    assert now["site_photo"]["met"]
    assert now["site_photo"]["refs"][0]["evidence_id"] == photo["id"]
    assert not now["revisit"]["met"]

    # Every flag on the evidence must be explained by the office.
    flags = [r for r in now["flags_explained"]["refs"]]
    assert flags and not now["flags_explained"]["met"]
    assert inspector.post(f"/api/evidence/{photo['id']}/acknowledgements",
                          json={"code": flags[0]["code"], "note": "x"}).status_code == 403
    assert office.post(f"/api/evidence/{photo['id']}/acknowledgements",
                       json={"code": "no_such_flag", "note": "x"}).status_code == 422
    assert office.post(f"/api/evidence/{photo['id']}/acknowledgements",
                       json={"code": flags[0]["code"], "note": "  "}).status_code == 422
    for flag in flags:
        answer = office.post(f"/api/evidence/{flag['evidence_id']}/acknowledgements",
                             json={"code": flag["code"], "note": "相机时间未校准，已核实现场"})
        assert answer.status_code == 201, answer.get_json()
    assert rules(office, case["id"])["flags_explained"]["met"]
    kinds = [e["kind"] for e in office.get(f"/api/cases/{case['id']}/timeline")
             .get_json()["items"]]
    assert kinds.count("flag_acknowledged") == len(flags)

    # Unreachable after three calls, with a reason, is a revisit result.
    at = datetime.now(UTC)
    answer = revisit.post(f"/api/cases/{case['id']}/revisits", json={
        "client_id": str(uuid.uuid4()), "method": "phone", "at": at.isoformat(),
        "attempts": [{"at": (at - timedelta(hours=7 * i)).isoformat(), "outcome": "no_answer"}
                     for i in range(3)], "unreachable_reason": "三次未接"})
    assert answer.status_code == 201
    assert not rules(office, case["id"])["feedback_given"]["met"]  # a 12345 case
    tell_complainant(revisit, case["id"], "sms")
    done = office.get(f"/api/cases/{case['id']}/closure-checklist").get_json()
    assert done["ready"] is True, done


def test_a_photo_taken_before_receipt_is_not_a_site_photo(app, as_user, make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    # Received "later" than now, within the clocks' allowed drift (CLOCK_DRIFT_S).
    case = make_case(received_at=(datetime.now(UTC) + timedelta(seconds=200)).isoformat())
    check = visit(inspector, case["id"])
    file_photo(inspector, case["id"], NOKIA.read_bytes(), visit_id=check)
    site = rules(office, case["id"])["site_photo"]
    assert not site["met"] and "1 visit photo" in site["why"]["en"]


def test_rules_apply_by_category_and_channel(app, as_user, make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    odour = make_case(category="odour", external_ref="odour-1")
    assert "noise_reading" not in rules(office, odour["id"])
    batch = make_case(channel="inspection_batch", external_ref="batch-1")
    visit(inspector, batch["id"], value_dba=52.0)  # a one-figure reading
    found = rules(office, batch["id"])
    assert found["noise_reading"]["met"]
    assert not found["noise_reading+valid"]["met"]
    assert "valid for enforcement" in found["noise_reading+valid"]["why"]["en"]
    assert "执法依据" in found["noise_reading+valid"]["why"]["zh"]
