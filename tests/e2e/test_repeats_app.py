"""Repeat complaints in the browser (issue 20, seed 002): three complaints about the same
place, typed in by the office, put the place on the repeat list; the third case's page
warns with the count, the list and how it was matched, and links the earlier cases; the
list shows the subject, whose leader in charge (包案领导) the office picks; the office undoes
a link ("not the same") after a confirm step and the warning changes. At 390 px in night
mode (red on black) the warning stays readable."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.domain.accounts.auth import hash_password
from server.extensions import db
from server.models import Unit, User
from tests.conftest import login as api_login
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import ids, login
from tests.e2e.test_accessibility import LOOKS, audit, looking, screen
from tests.e2e.test_review_app import PASSWORD, STREET, desk, night_phone, shot

DESK = {"width": 1280, "height": 800}
PLACE = "东湖路十二号 夜色KTV"
# The same place as callers say it: full-width digits, spaces, "门口".
SAID = ["东湖路12号夜色KTV", "东湖路１２号 夜色KTV门口", PLACE]
LEADER = "张建华"


def complaint(live: LiveServer, address: str, *, days_ago: float, phone: str) -> str:
    units, _ = ids(live)
    office = api_login(live.app, "reviewer", PASSWORD)
    answer = office.post("/api/cases", json={
        "channel": "hotline_12345", "category": "noise_commercial", "subject": "夜色KTV深夜扰民",
        "address": address, "description": "深夜唱歌声音很大", "unit_id": units[STREET],
        "complainant": {"name": "赵六", "phone": phone},
        "received_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def make_leader(live: LiveServer) -> str:
    """A leader (领导) over the street: leaders are picked among those of the unit."""
    units, _ = ids(live)
    with live.app.app_context():
        user = User(username="leader_zhang", display_name=LEADER, role="leader", active=True,
                    password_hash=hash_password(PASSWORD, "leader_zhang"))
        user.units = [db.session.get(Unit, units[STREET])]
        db.session.add(user)
        db.session.commit()
        user_id = user.id
        db.session.remove()
    return user_id


def luminance(rgb: str) -> float:
    r, g, b = (int(x) / 255 for x in re.findall(r"\d+", rgb)[:3])
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(page: Any, selector: str) -> float:
    """The WCAG contrast of an element's text on the banner's own background."""
    fg, bg = page.evaluate(
        """(sel) => { const el = document.querySelector(sel);
        const box = el.closest('#repeat-banner');
        return [getComputedStyle(el).color, getComputedStyle(box).backgroundColor]; }""",
        selector)
    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_three_complaints_list_the_place_and_the_office_decides(browser, live):  # type: ignore[no-untyped-def]
    first = complaint(live, SAID[0], days_ago=20, phone="13800001111")
    second = complaint(live, SAID[1], days_ago=9, phone="13800002222")
    third = complaint(live, SAID[2], days_ago=1, phone="13800003333")
    leader_id = make_leader(live)
    office = api_login(live.app, "reviewer", PASSWORD)
    link = office.get(f"/api/cases/{third}/repeat").get_json()
    subject_id = link["subject"]["id"]
    assert link["subject"]["count"] == 3 and link["subject"]["listed"], link

    errors: list[str] = []
    with desk(browser, live, viewport=DESK, errors=errors) as page:
        page.goto(f"/#/case/{third}")
        banner = page.locator("#repeat-banner")
        banner.wait_for()
        headline = page.locator("#repeat-headline").inner_text()
        assert "该对象已被投诉 3 次" in headline and "已列入反复投诉清单" in headline, headline
        assert "尚未指定包案领导" in headline
        assert "地址相同" in banner.inner_text()
        # The earlier complaints open from the warning; the case itself is not a link.
        hrefs = banner.locator("#repeat-cases a").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))")
        assert sorted(hrefs) == sorted([f"#/case/{first}", f"#/case/{second}"])
        shot(page, "repeat_banner_1280.png")

        # The repeat list, from the office's nav: the place, its count, no leader yet.
        page.click("#nav a[href='#/repeats']")
        row = page.locator(f"#repeat-table tr[data-subject-id='{subject_id}']")
        row.wait_for()
        assert row.locator(".repeat-count").inner_text() == "3"
        assert "夜色KTV" in row.locator("th").inner_text()
        assert "尚未指定包案领导" in row.locator(".repeat-leader").inner_text()
        shot(page, "repeat_list_1280.png")

        # The subject's history and its leader in charge.
        row.locator("th a").click()
        page.wait_for_selector("#repeat-history")
        history = page.locator("#repeat-history tbody tr").evaluate_all(
            "els => els.map(e => e.dataset.caseId)")
        assert history == [first, second, third]
        page.select_option("#leader-pick", leader_id)
        page.click("#leader-save")
        page.wait_for_function(
            f"document.querySelector('#subject-leader')?.innerText.includes('{LEADER}')")
        assert office.get(f"/api/repeats/{subject_id}").get_json()["leader"]["id"] == leader_id
        shot(page, "repeat_subject_1280.png")

        # Back on the third case: the leader is named; the office says it is not the same.
        page.goto(f"/#/case/{third}")
        page.wait_for_function(
            f"document.querySelector('#repeat-headline')?.innerText.includes('{LEADER}')")
        page.click("#repeat-decide [data-decision=undo]")
        ask = page.locator("#repeat-ask")
        assert ask.is_visible() and "不是同一问题" in ask.inner_text()
        # Cancel first: nothing is sent.
        page.click("#repeat-ask-no")
        assert ask.is_hidden()
        assert office.get(f"/api/cases/{third}/repeat").get_json()["link"]["state"] == "auto"
        page.click("#repeat-decide [data-decision=undo]")
        page.click("#repeat-ask-yes")
        page.wait_for_selector("#repeat-banner[data-state=undone]")
        assert "已撤销重复投诉关联" in page.locator("#repeat-banner").inner_text()
        assert office.get(f"/api/cases/{third}/repeat").get_json()["link"]["state"] == "undone"
        # The decision is on the case's timeline, in words.
        page.wait_for_selector("#timeline li.event[data-kind=repeat_link_undone]")
        event = page.locator("#timeline li.event[data-kind=repeat_link_undone]").inner_text()
        assert "撤销重复投诉关联" in event and "累计投诉: 2" in event
        shot(page, "repeat_undone_1280.png")

        # The second case still counts the place's complaints without the undone one.
        page.goto(f"/#/case/{second}")
        page.wait_for_function(
            "document.querySelector('#repeat-headline')?.innerText.includes('2 次')")
        page.click("#repeat-decide [data-decision=confirm]")
        page.click("#repeat-ask-yes")
        page.wait_for_selector("#repeat-banner[data-state=confirmed]")
        assert "已确认关联" in page.locator("#repeat-banner").inner_text()
    assert errors == []

    # At 390 px in night mode the warning is readable: no wider than the screen, its text
    # at AA contrast on its own background, the buttons full size.
    with night_phone(browser, live, f"/#/case/{second}") as phone:
        phone.locator("#repeat-banner").wait_for()
        box = phone.locator("#repeat-banner").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        assert contrast(phone, "#repeat-headline") >= 4.5
        assert contrast(phone, "#repeat-cases a") >= 4.5
        for button in phone.locator("#repeat-decide button").all():
            assert button.bounding_box()["height"] >= 44
        phone.locator("#repeat-banner").screenshot(path="/tmp/shots/repeat_banner_390_night.png")
        shot(phone, "repeat_case_390_night.png")

    # And in the default dark theme on the phone.
    with desk(browser, live, viewport={"width": 390, "height": 844}) as page:
        page.goto(f"/#/case/{first}")
        page.locator("#repeat-banner").wait_for()
        assert contrast(page, "#repeat-headline") >= 4.5
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "repeat_case_390_dark.png")


@pytest.mark.parametrize("look", LOOKS, ids=[look[0] for look in LOOKS])
def test_the_repeat_screens_pass_axe(browser, live, look):  # type: ignore[no-untyped-def]
    """The warning (with its question open), the list and a subject, at 390 px in red night
    mode in Chinese and at 1280 px in English: no serious axe violation."""
    name, width, lang, red = look
    cases = [complaint(live, said, days_ago=days, phone=f"1390000{i:04d}")
             for i, (said, days) in enumerate(zip(SAID, (20, 9, 1), strict=True))]
    make_leader(live)
    subject_id = api_login(live.app, "reviewer", PASSWORD).get(
        f"/api/cases/{cases[-1]}/repeat").get_json()["subject"]["id"]
    found: list[str] = []
    with looking(browser, live, "reviewer", width, lang, red) as page:
        screen(page, f"/#/case/{cases[-1]}", "#repeat-banner #repeat-cases")
        headline = page.locator("#repeat-headline").inner_text()
        assert ("complained about 3 times (on the repeat list)" in headline if lang == "en"
                else "该对象已被投诉 3 次（已列入反复投诉清单）" in headline), headline
        found += audit(page, f"{name} case")
        page.click("#repeat-decide [data-decision=undo]")
        found += audit(page, f"{name} case, asking")
        shot(page, f"repeat_ask_{name}.png")
        screen(page, "/#/repeats", f"#repeat-table tr[data-subject-id='{subject_id}']")
        found += audit(page, f"{name} list")
        shot(page, f"repeat_list_{name}.png")
        screen(page, f"/#/repeats/{subject_id}", "#repeat-history")
        found += audit(page, f"{name} subject")
        shot(page, f"repeat_subject_{name}.png", full_page=True)
    assert found == []


def test_the_repeat_screens_keep_the_content_security_policy(browser, live):  # type: ignore[no-untyped-def]
    """The warning (its question open), the list and a subject under the enforced policy
    (no bypass_csp: selectors only, nothing eval'd)."""
    cases = [complaint(live, said, days_ago=days, phone=f"1370000{i:04d}")
             for i, (said, days) in enumerate(zip(SAID, (20, 9, 1), strict=True))]
    subject_id = api_login(live.app, "reviewer", PASSWORD).get(
        f"/api/cases/{cases[-1]}/repeat").get_json()["subject"]["id"]
    refused: list[str] = []
    context = browser.new_context(viewport=DESK, base_url=live.url, locale="zh-CN")
    context.set_default_timeout(30000)
    try:
        page = context.new_page()
        page.on("console", lambda m: refused.append(m.text)
                if "Content Security Policy" in m.text or "Refused to" in m.text else None)
        login(page, "reviewer")
        page.goto(f"/#/case/{cases[-1]}")
        page.wait_for_selector("#repeat-banner #repeat-cases")
        page.click("#repeat-decide [data-decision=confirm]")
        page.wait_for_selector("#repeat-ask:not([hidden])")
        page.goto("/#/repeats")
        page.wait_for_selector(f"#repeat-table tr[data-subject-id='{subject_id}']")
        page.goto(f"/#/repeats/{subject_id}")
        page.wait_for_selector("#repeat-history")
        page.wait_for_timeout(300)
    finally:
        context.close()
    assert refused == []


def test_another_units_complaint_shows_as_a_count_only(browser, live):  # type: ignore[no-untyped-def]
    """The same caller about two places in two streets: the street's inspector sees the
    warning with "1 more in other units", never the other street's case (no link, subject,
    address), and no decision buttons (the office decides)."""
    units, _ = ids(live)
    office = api_login(live.app, "reviewer", PASSWORD)
    secret = {"subject": "西城秘密对象施工噪声", "address": "西城区秘密路5号"}
    other = office.post("/api/cases", json={
        "channel": "hotline_12345", "category": "noise_construction", **secret,
        "description": "夜间施工", "unit_id": units["西城街道"],
        "complainant": {"name": "钱七", "phone": "13911112222"},
        "received_at": (datetime.now(UTC) - timedelta(days=3)).isoformat()})
    assert other.status_code == 201, other.get_json()
    other_id = other.get_json()["id"]
    mine = office.post("/api/cases", json={
        "channel": "hotline_12345", "category": "noise_social", "subject": "广场舞音响",
        "address": "东湖路3号东湖广场", "description": "晚上音响太吵", "unit_id": units[STREET],
        "complainant": {"name": "钱七", "phone": "139 1111 2222"},
        "received_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat()})
    assert mine.status_code == 201, mine.get_json()
    mine_id = mine.get_json()["id"]
    with desk(browser, live, "inspector", viewport={"width": 390, "height": 844}) as page:
        page.goto(f"/#/case/{mine_id}")
        banner = page.locator("#repeat-banner")
        banner.wait_for()
        text = banner.inner_text()
        assert "该对象已被投诉 2 次" in text and "同一来电号码" in text, text
        assert page.locator("#repeat-other-units").inner_text() == "另有 1 件在其他单位"
        assert page.locator("#repeat-cases a").count() == 0
        assert page.locator("#repeat-decide").count() == 0
        leaks = (*secret.values(), other_id, "13911112222")
        assert not [said for said in leaks if said in page.content()]
        page.click("#repeat-subject-link")
        page.wait_for_selector("#repeat-history")
        assert page.locator("#repeat-history tbody tr").evaluate_all(
            "els => els.map(e => e.dataset.caseId)") == [mine_id]
        assert "另有 1 件在其他单位" in page.locator("#history-other-units").inner_text()
        assert page.locator(".repeat-status").get_attribute("data-status") == "notListed"
        assert page.locator("#leader-form").count() == 0
        shot(page, "repeat_other_unit_390.png", full_page=True)
        assert not [said for said in leaks if said in page.content()]
