"""The reviewer's desk after a dissatisfied revisit (issue 19): the checklist's revisit
rule is unmet, a review decision says why closing stands, and whoever records it is
refused when approving (someone else must)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.conftest import login as api_login
from tests.e2e.test_review_app import PASSWORD, desk, open_review, submitted_case


def test_a_dissatisfied_revisit_needs_a_decision_and_another_approver(browser, live
                                                                    ) -> None:  # type: ignore[no-untyped-def]
    case_id, photos = submitted_case(live, "验收测试：回访不满意")
    office = api_login(live.app, "reviewer", PASSWORD)
    for photo in photos:
        for flag in photo["flags"]:
            answer = office.post(f"/api/evidence/{photo['id']}/acknowledgements",
                                 json={"code": flag["code"], "note": "已核实现场"})
            assert answer.status_code == 201, answer.get_json()
    revisit = api_login(live.app, "revisit", PASSWORD)
    sent = revisit.post(f"/api/cases/{case_id}/revisits", json={
        "client_id": str(uuid.uuid4()), "method": "phone", "at": datetime.now(UTC).isoformat(),
        "satisfaction": "dissatisfied",
        "respondents": [{"client_id": str(uuid.uuid4()), "kind": "complainant"}]})
    assert sent.status_code == 201, sent.get_json()

    errors: list[str] = []
    with desk(browser, live, errors=errors) as page:
        open_review(page, case_id, "submitted")
        page.wait_for_selector("#rules .rule[data-code=revisit][data-met=false]")
        page.click("#save-revisit-decision")  # no reason: said so on the screen
        page.wait_for_selector("#revisit-decision-error:not([hidden])")
        page.fill("#revisit-decision-reason", "复测达标，投诉人诉求超出法定标准")
        page.click("#save-revisit-decision")
        page.wait_for_selector("#rules .rule[data-code=revisit][data-met=true]")
        assert page.locator("#revisit-decision").count() == 0
        # Approve is not offered to whoever recorded the decision: the desk says why (the
        # one duties rule, as for a reviewer who handled the case).
        page.wait_for_selector("#approve-withheld[data-code='closure.own_decision']")
        assert page.locator("#approve").count() == 0
        assert "须由其他人员验收" in page.locator("#approve-withheld").inner_text()
        assert errors == []
    admin = api_login(live.app, "admin", PASSWORD)
    case = admin.get(f"/api/cases/{case_id}").get_json()
    approved = admin.post(f"/api/cases/{case_id}/transitions",
                          json={"action": "approve", "version": case["version"]})
    assert approved.status_code == 200, approved.get_json()
