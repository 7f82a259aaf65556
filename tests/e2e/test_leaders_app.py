"""Leaders in the app at 1280 px: the office sets a case's leader in charge (包案), records
the leader's instruction (领导批示) on their behalf and tells the complainant (答复), all
shown on the case page; the leader logs in and finds the case among "my cases" (我包案的),
with no field-capture screens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import Case, User
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import BAR, login
from tests.e2e.test_review_app import shot

LEADER = "王局长 (leader)"


@pytest.fixture()
def desks(browser: Any, live: LiveServer) -> Iterator[Any]:
    """Desktops at 1280 px, each a context (a login) of its own."""
    made: list[Any] = []

    def new() -> Any:
        context = browser.new_context(bypass_csp=True,
                                      viewport={"width": 1280, "height": 900},
                                      locale="zh-CN", timezone_id="Asia/Shanghai",
                                      base_url=live.url)
        context.set_default_timeout(30000)
        made.append(context)
        return context

    yield new
    for context in made:
        context.close()


def test_office_sets_a_leader_records_an_instruction_and_feedback_then_the_leader_sees_it(
        desks: Any, live: LiveServer) -> None:
    with live.app.app_context():
        case_id = db.session.scalar(sa.select(Case.id).filter_by(subject=BAR))
        leader_id = db.session.scalar(sa.select(User.id).filter_by(username="leader"))
        db.session.remove()
    errors: list[str] = []
    office = desks().new_page()
    office.on("pageerror", lambda e: errors.append(str(e)))
    login(office, "reviewer")
    office.goto(f"/#/case/{case_id}/edit")
    office.wait_for_selector(f"#f-leader-id option[value='{leader_id}']", state="attached")
    office.select_option("#f-leader-id", label=LEADER)
    office.click("#save-case")
    office.wait_for_selector(f".case-page[data-case-id='{case_id}'] #case-leader")
    assert office.locator("#case-leader").inner_text() == LEADER

    # The leader's instruction, given by telephone, recorded by the office.
    office.click("#instruction-box summary")
    office.wait_for_selector(f"#instruction-leader option[value='{leader_id}']",
                             state="attached")
    office.select_option("#instruction-leader", leader_id)
    office.fill("#instruction-text", "请东湖街道今晚联合执法，明日反馈。")
    office.click("#instruction-send")
    office.wait_for_selector("#instruction-list .instruction")
    block = office.locator("#instructions").inner_text()
    assert "领导批示" in block and "请东湖街道今晚联合执法" in block and "王局长" in block
    # Near the top: above the evidence and the timeline.
    top = office.locator("#instructions").bounding_box()
    timeline = office.locator("#timeline").bounding_box()
    assert top and timeline and top["y"] < timeline["y"]

    # The complainant told by phone.
    office.click("#feedback-box summary")
    office.select_option("#feedback-method", "phone")
    office.fill("#feedback-note", "已电话告知将于今晚联合执法")
    office.click("#feedback-send")
    office.wait_for_selector("#feedback-list .feedback-item[data-method=phone]")
    told = office.locator("#feedback-list").inner_text()
    assert "电话答复" in told and "已电话告知将于今晚联合执法" in told
    office.wait_for_selector("#timeline .event[data-kind=leader_instruction]")
    office.wait_for_selector("#timeline .event[data-kind=complainant_informed]")
    shot(office, "leaders_case_1280.png", full_page=True)
    assert "领导批示" in office.locator("#timeline .event[data-kind=leader_instruction]"
                                     ).inner_text()
    office.close()

    # The leader: their held cases first, the case among them; no outbox, no capture.
    page = desks().new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, "leader")
    assert page.locator("#cases-title").inner_text() == "我包案的"
    page.wait_for_selector(f"#case-list [data-case-id='{case_id}']")
    assert page.locator("#nav a[href='#/outbox']").count() == 0
    assert page.locator("#nav-held").count() == 1
    page.click(f"#case-list [data-case-id='{case_id}']")
    page.wait_for_selector(f".case-page[data-case-id='{case_id}'] #instruction-list")
    assert page.locator("#start-check").count() == 0
    assert page.locator("#edit-case").count() == 0
    assert page.locator("#reveal-box").count() == 0
    assert page.locator("#feedback-box").count() == 0  # the office's and revisit team's
    # Their own instruction, in their name (no leader to pick).
    page.click("#instruction-box summary")
    assert page.locator("#instruction-leader").count() == 0
    page.fill("#instruction-text", "同意，办结后报我。")
    page.click("#instruction-send")
    page.wait_for_function(
        "document.querySelectorAll('#instruction-list .instruction').length === 2")
    assert page.locator("#instruction-list .instruction").first.inner_text().startswith(
        "王局长")
    shot(page, "leaders_leader_case_1280.png")
    # The board filters by leader: "my cases" among the choices.
    page.goto("/#/board")
    page.wait_for_selector("#leader-filter option[value=me]", state="attached")
    page.select_option("#leader-filter", "me")
    page.click("#board-filters button[type=submit]")
    page.wait_for_selector(f"#board [data-case-id='{case_id}']")
    assert errors == []
