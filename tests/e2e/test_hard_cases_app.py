"""Hard cases in the app: at 1280 px the office finds the demo's bar case (complained about
three times: a repeat case) among the hard cases, revises the remediation plan (整治方案)
the demo gave it and forms its leader group (包案小组); the leader, on a 390 px phone in
the red night mode, records the group's visit to the complainant (带案下访) with the kind
chosen for them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from server.extensions import db
from server.models import Visit
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import bar_case_id, login, nudge_until
from tests.e2e.test_review_app import shot


def test_the_office_plans_and_forms_the_group_and_the_leader_records_a_visit(
        browser: Any, phone: Any, live: LiveServer) -> None:
    case_id = bar_case_id(live)
    errors: list[str] = []
    desk = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900},
                               locale="zh-CN", timezone_id="Asia/Shanghai", base_url=live.url)
    desk.set_default_timeout(30000)
    office = desk.new_page()
    office.on("pageerror", lambda e: errors.append(str(e)))
    login(office, "reviewer")
    office.goto("/#/hard-cases?kind=repeat")
    office.wait_for_selector(f"#hard-table tr[data-case-id='{case_id}']")
    assert "重复信访" in office.locator(f"#hard-table tr[data-case-id='{case_id}']").inner_text()
    shot(office, "hard_cases_list_1280.png")
    office.click(f"#hard-table a[href='#/case/{case_id}']")
    # The demo made its first plan (version 1); the office revises it.
    office.wait_for_selector("#hardcase[data-hard=true] #plan-facts[data-version='1']")
    assert "重复信访" in office.locator("#hard-kinds").inner_text()

    office.click("#plan-box summary")
    office.fill("#plan-approach", "约谈酒吧经营者，限期安装隔音设施；街道每周夜查一次。")
    office.wait_for_selector("#plan-people input[type=checkbox]")
    office.locator("#plan-people label", has_text="王建国").locator("input").check()
    office.fill("#plan-people-text", "区文化市场执法大队")
    office.fill("#plan-deadline", (date.today() + timedelta(days=30)).isoformat())
    office.click("#plan-save")
    office.wait_for_selector("#plan-facts[data-version='2']")
    facts = office.locator("#plan-facts").inner_text()
    assert "约谈酒吧经营者" in facts and "王建国" in facts and "区文化市场执法大队" in facts

    office.click("#group-box summary")
    office.wait_for_selector("#group-lead option:nth-child(2)", state="attached")
    office.select_option("#group-lead", label="王局长 (leader)")
    office.locator("#group-people label", has_text="王建国").locator("input").check()
    office.click("#group-save")
    office.wait_for_selector("#group-list li[data-role=lead]")
    assert "王局长" in office.locator("#group-list").inner_text()
    office.locator("#hardcase").screenshot(path="/tmp/shots/hardcase_1280.png")
    shot(office, "hardcase_page_1280.png")

    # The leader, on a phone at night (red mode): the group's visit, kind chosen.
    page = phone.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, "leader")
    page.evaluate("localStorage.setItem('fieldcase.red', '1')")
    page.goto(f"/#/case/{case_id}")
    page.reload()
    page.wait_for_selector("#hardcase #leader-visit")
    page.locator("#hardcase").screenshot(path="/tmp/shots/hardcase_390_red.png")
    page.click("#leader-visit")
    page.wait_for_selector("#check-form")
    assert page.locator("input[name=kind][value=leader_visit]").is_checked()
    assert "带案下访" in page.locator("#check-form").inner_text()
    # Words only: the meter and the photos are the field's.
    assert not page.locator("#take-photo").is_visible()
    page.screenshot(path="/tmp/shots/leader_visit_check_390_red.png")
    page.fill("#findings", "王局长带案下访，登门听取诉求，解释整改安排。")
    page.click("#save-check")
    page.wait_for_selector(f".case-page[data-case-id='{case_id}']")  # saved on the phone
    page.goto("/#/outbox")
    # The empty outbox's own words, not a list not drawn yet (read from the phone's store).
    nudge_until(page, "document.querySelector('#outbox-empty') !== null")
    with live.app.app_context():
        kinds = list(db.session.scalars(sa.select(Visit.kind).where(Visit.case_id == case_id)))
        db.session.remove()
    assert kinds == ["leader_visit"]
    page.goto(f"/#/case/{case_id}")
    page.wait_for_selector("#visits li.visit")
    assert "带案下访" in page.locator("#visits").inner_text()
    assert not errors, errors
    desk.close()
