"""The case lifecycle in the app: office intake and dispatch at desktop width, the
inspector starting and submitting on the phone (offline too), a version conflict kept in
the outbox, and the colour board and map showing a case in its deadline colour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.extensions import db
from server.models import Case
from tests.conftest import login as api_login
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import Held, login

STREET = "东湖街道"
OTHER_STREET = "西城街道"
INSPECTOR = "王建国"


@pytest.fixture()
def desk(browser: Any, live: LiveServer) -> Iterator[Any]:
    """An office desktop: a wide window, a context of its own."""
    context = browser.new_context(
        bypass_csp=True,  # see conftest.CSP_NOTE
        viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai",
        base_url=live.url,
    )
    context.set_default_timeout(30000)
    yield context
    context.close()


def case_row(live: LiveServer, case_id: str) -> Case:
    with live.app.app_context():
        case = db.session.get(Case, case_id)
        assert case is not None
        db.session.expunge(case)
        db.session.remove()
    return case


def units(api: Any) -> dict[str, str]:
    answer = api.get("/api/units/all")
    assert answer.status_code == 200, answer.get_json()
    return {u["name"]: u["id"] for u in answer.get_json()["items"]}


def new_case(api: Any, subject: str, *, received_at: datetime | None = None,
             dispatch: bool = True) -> dict:
    """A case made through the API (as the office would), dispatched to the street."""
    ids = units(api)
    body = {"channel": "hotline_12345", "category": "noise_social", "subject": subject,
            "address": "东湖路120号", "location": {"lat": 24.3268, "lon": 109.4150},
            "description": "夜间噪声", "unit_id": ids[STREET],
            "received_at": (received_at or datetime.now(UTC)).isoformat()}
    answer = api.post("/api/cases", json=body)
    assert answer.status_code == 201, answer.get_json()
    case = answer.get_json()
    if dispatch:
        answer = api.post(f"/api/cases/{case['id']}/transitions",
                          json={"action": "dispatch", "version": case["version"],
                                "unit_id": ids[STREET]})
        assert answer.status_code == 200, answer.get_json()
        case = answer.get_json()
    return case


def open_case_page(page: Any, case_id: str) -> None:
    page.goto(f"/#/case/{case_id}")
    page.wait_for_selector(f".case-page[data-case-id='{case_id}']")


def send_action(page: Any, action: str, fill: dict[str, str] | None = None) -> None:
    page.click(f"#case-actions [data-action={action}]")
    page.wait_for_selector(f"#action-form[data-action={action}]")
    for selector, value in (fill or {}).items():
        if selector.startswith("select"):
            page.select_option(selector, value)
        else:
            page.fill(selector, value)
    page.click("#action-send")


def test_office_intake_dispatch_then_inspector_starts_offline_and_submits(
        desk, phone, live):  # type: ignore[no-untyped-def]
    errors: list[str] = []
    office = desk.new_page()
    office.on("pageerror", lambda e: errors.append(str(e)))
    login(office, "reviewer")
    assert office.locator("#nav a[href='#/case-new']").count() == 1
    office.click("#nav a[href='#/case-new']")
    office.wait_for_selector("#case-form")
    # The selects come from the vocabulary (GET /api/vocab), not from the app's code.
    vocab = office.evaluate("fetch('/api/vocab').then(r => r.json())")
    channels = office.locator("#f-channel option[value]:not([value=''])")
    assert [channels.nth(i).get_attribute("value") for i in range(channels.count())] \
        == vocab["channels"]
    office.select_option("#f-channel", "hotline_12345")
    office.select_option("#f-category", "noise_social")
    office.fill("#f-subject", "老街烧烤店夜间噪声")
    office.fill("#f-address", "东湖路66号")
    office.fill("#f-description", "烧烤店凌晨仍有顾客喧哗")
    office.select_option("#f-unit", label=STREET)
    office.check("#f-key")
    office.fill("#f-leader", "张局长")
    office.fill("#f-cname", "赵女士")
    office.fill("#f-cphone", "13912345678")
    # The pin: a click on the map fills lat/lon.
    office.wait_for_selector("#pin-map.leaflet-container")
    office.click("#pin-map", position={"x": 200, "y": 150})
    office.wait_for_function("document.querySelector('#f-lat').value !== ''")
    office.click("#save-case")
    office.wait_for_selector(".case-page[data-status=received]")
    case_id = office.locator(".case-page").get_attribute("data-case-id")
    saved = case_row(live, case_id)
    assert (saved.subject, saved.key, saved.leader) == ("老街烧烤店夜间噪声", True, "张局长")
    assert saved.lat is not None and saved.lon is not None
    assert "★" in office.locator(".case-state").inner_text()

    # Dispatch to the street and its inspector, from the case page.
    office.click("#case-actions [data-action=dispatch]")
    office.wait_for_selector("#action-form[data-action=dispatch]")
    office.select_option("#action-form select[name=unit_id]", label=STREET)
    office.locator("#action-form label.chip", has_text=INSPECTOR).locator("input").check()
    office.click("#action-send")
    office.wait_for_selector(".case-page[data-status=dispatched]")
    assert case_row(live, case_id).status == "dispatched"
    office.wait_for_selector("#timeline .event[data-kind=dispatched]")
    # Dispatched, the case moves only by transfer: the edit form keeps its unit, says why,
    # and still saves the rest.
    office.click("#edit-case")
    office.wait_for_selector("#case-form")
    assert office.locator("#f-unit").is_disabled()
    assert "转办" in office.locator("#f-unit-hint").inner_text()
    office.fill("#f-address", "东湖路66号（北门）")
    office.click("#save-case")
    office.wait_for_selector(".case-page[data-status=dispatched]")
    assert case_row(live, case_id).address == "东湖路66号（北门）"

    # The inspector, on the phone: sees the case in "My cases", starts it offline.
    page = phone.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page)
    assert page.locator("#nav a").first.get_attribute("href") == "#/cases"
    page.wait_for_selector(f"#case-list [data-case-id='{case_id}']")
    open_case_page(page, case_id)
    page.wait_for_selector("#case-actions [data-action=start]")
    phone.set_offline(True)
    send_action(page, "start", {"#param-note": "已到现场"})
    page.wait_for_selector("#pending-actions li[data-state=queued]")
    assert case_row(live, case_id).status == "dispatched"  # still only on the phone
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-list .outbox-item[data-kind=transition]")
    phone.set_offline(False)
    page.click("#sync-now")
    page.wait_for_selector("#outbox-empty")
    assert case_row(live, case_id).status == "in_progress"

    # Online now: submit with a verdict and result; the page shows it applied.
    open_case_page(page, case_id)
    page.wait_for_selector(".case-page[data-status=in_progress]")
    send_action(page, "submit", {"select#param-verdict": "true",
                                 "#param-result": "已责令烧烤店22点后停止室外经营"})
    page.wait_for_selector(".case-page[data-status=submitted]")
    done = case_row(live, case_id)
    assert (done.status, done.verdict) == ("submitted", "true")
    page.wait_for_selector("#timeline .event[data-kind=submitted]")
    kinds = page.locator("#timeline .event").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds.index("dispatched") < kinds.index("started") < kinds.index("submitted")
    assert INSPECTOR in page.locator("#timeline .event[data-kind=started]").inner_text()
    # The start done offline: when the phone did it beside when the server got it, on time.
    started = page.locator("#timeline .event[data-kind=started]")
    assert started.locator(".phone-time").count() == 1
    assert "手机办理时间" in started.inner_text() and "服务器接收" in started.inner_text()
    assert started.locator(".on-time[data-on-time=true]").count() == 1
    assert "device_time" not in started.inner_text() and "on_time" not in started.inner_text()
    assert errors == []


def test_conflict_is_kept_in_the_outbox_with_what_changed(phone, live):  # type: ignore[no-untyped-def]
    office = api_login(live.app, "reviewer", "fieldcase-demo")
    case = new_case(office, "冲突测试：KTV噪声")
    page = phone.new_page()
    login(page)
    open_case_page(page, case["id"])
    page.wait_for_selector("#case-actions [data-action=start]")
    phone.set_offline(True)
    send_action(page, "start")
    page.wait_for_selector("#pending-actions li[data-state=queued]")
    # Meanwhile the office extends the deadline: the case moves on a version.
    answer = office.post(f"/api/cases/{case['id']}/transitions",
                         json={"action": "extend", "version": case["version"], "days": 2,
                               "reason": "需夜间监测"})
    assert answer.status_code == 200, answer.get_json()
    phone.set_offline(False)
    page.goto("/#/outbox")
    page.click("#sync-now")
    item = page.locator(".outbox-item[data-kind=transition][data-item-state=conflict]")
    item.wait_for()
    text = item.inner_text()
    assert "冲突" in text and "延期" in text and "需夜间监测" in text and STREET in text
    assert item.locator("[data-field=status]").inner_text() == "已交办"
    assert case_row(live, case["id"]).status == "dispatched"  # not applied

    # Retry on the current version: applied, the outbox empties.
    item.locator("[data-retry-current]").click()
    page.wait_for_selector("#outbox-empty")
    assert case_row(live, case["id"]).status == "in_progress"


def test_transfer_away_while_offline_is_shown_not_dropped(phone, live):  # type: ignore[no-untyped-def]
    office = api_login(live.app, "reviewer", "fieldcase-demo")
    case = new_case(office, "转办测试：油烟")
    page = phone.new_page()
    login(page)
    open_case_page(page, case["id"])
    page.wait_for_selector("#case-actions [data-action=start]")
    phone.set_offline(True)
    send_action(page, "start")
    page.wait_for_selector("#pending-actions li[data-state=queued]")
    answer = office.post(f"/api/cases/{case['id']}/transitions",
                         json={"action": "transfer", "version": case["version"],
                               "unit_id": units(office)[OTHER_STREET], "reason": "属西城街道辖区"})
    assert answer.status_code == 200, answer.get_json()
    phone.set_offline(False)
    page.goto("/#/outbox")
    page.click("#sync-now")
    item = page.locator(".outbox-item[data-kind=transition][data-item-state=conflict]")
    item.wait_for()
    assert "西城街道" in item.inner_text()  # where the case went
    assert item.locator("[data-retry-current]").count() == 0  # nothing to retry on
    assert item.locator("[data-discard-item]").count() == 1
    assert case_row(live, case["id"]).status == "dispatched"
    item.locator("[data-discard-item]").click()
    page.wait_for_selector("#outbox-empty")


def test_board_and_map_show_the_case_in_its_colour(desk, live):  # type: ignore[no-untyped-def]
    office = api_login(live.app, "reviewer", "fieldcase-demo")
    # 1+3+5+7: blue from day 5, yellow day 6, red day 7 (the one colour order). The server
    # counts the receipt day as day 1, so 5.5 days after receipt is day 6.
    received = datetime.now(UTC) - timedelta(days=5, hours=12)
    case = new_case(office, "看板测试：工地夜间施工", received_at=received)
    detail = office.get(f"/api/cases/{case['id']}").get_json()
    colour = detail["deadline"]["colour"]
    assert colour == "yellow" and detail["deadline"]["overdue"] is False

    page = desk.new_page()
    login(page, "reviewer")
    page.click("#nav a[href='#/board']")
    link = page.locator(f"#list-{colour} a[data-case-id='{case['id']}']")
    link.wait_for()
    board = office.get("/api/board").get_json()
    totals = page.locator(f"#board-totals td[data-colour={colour}]").inner_text()
    assert int(totals) == board["totals"][colour] >= 1
    for other in ("green", "blue", "red", "overdue"):
        assert page.locator(f"#list-{other} a[data-case-id='{case['id']}']").count() == 0
    page.screenshot(path="/tmp/e2e_board_1280.png", full_page=True)
    link.click()
    page.wait_for_selector(f".case-page[data-case-id='{case['id']}']")
    assert page.locator(".case-state .chip-colour").get_attribute("data-colour") == "yellow"

    # The map: no basemap reachable here, the markers show anyway, in the same colour.
    page.click("#nav a[href='#/map']")
    page.wait_for_selector("#map[data-markers]")
    marker = page.locator(f"#map path[data-id='{case['id']}']")
    marker.wait_for()
    assert marker.get_attribute("data-colour") == "yellow"
    assert marker.get_attribute("fill") == "#e9c318"
    page.wait_for_selector("#basemap-note:not([hidden])")
    page.screenshot(path="/tmp/e2e_map_1280.png", full_page=True)
    marker.dispatch_event("click")  # neighbours overlap at this zoom: this very marker
    page.locator(".leaflet-popup a", has_text="查看案件").click()
    page.wait_for_selector(f".case-page[data-case-id='{case['id']}']")

    # At phone width the board stacks into cards and the map still shows its markers.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/#/board")
    page.wait_for_selector(f"#list-yellow a[data-case-id='{case['id']}']")
    assert page.locator(".board-cards").is_visible()
    assert not page.locator("#board-table").is_visible()
    page.screenshot(path="/tmp/e2e_board_390.png", full_page=True)
    page.goto("/#/map")
    page.locator(f"#map path[data-id='{case['id']}']").wait_for()
    page.screenshot(path="/tmp/e2e_map_390.png")


def test_the_bell_counts_unread_and_opening_it_marks_them_seen(phone, live):  # type: ignore[no-untyped-def]
    from server.domain.cases import sweep

    office = api_login(live.app, "reviewer", "fieldcase-demo")
    new_case(office, "提醒测试：酒吧夜间噪声", received_at=datetime.now(UTC) - timedelta(days=2))
    with live.app.app_context():
        # Two days on the preliminary review (day 5) is due for the street.
        raised = sweep.sweep(datetime.now(UTC) + timedelta(days=2, hours=2), deliver=False)
        db.session.remove()
    assert raised["raised"] >= 1
    inspector = api_login(live.app, "inspector", "fieldcase-demo")
    unread = inspector.get("/api/notifications").get_json()["unread"]
    assert unread >= 1

    page = phone.new_page()
    login(page)
    page.wait_for_selector("#bell-count:not([hidden])")
    assert page.locator("#bell-count").inner_text() == str(unread)
    assert page.locator("#notification-list li.unread").count() == unread
    page.click("#bell")
    page.wait_for_selector("#notification-list:not([hidden]) li", state="visible")
    page.wait_for_selector("#bell-count", state="hidden")
    page.screenshot(path="/tmp/e2e_bell_390.png")
    # The mark is the server's: another load (or another device) agrees.
    for _ in range(50):
        if inspector.get("/api/notifications").get_json()["unread"] == 0:
            break
        page.wait_for_timeout(100)
    assert inspector.get("/api/notifications").get_json()["unread"] == 0
    page.reload()
    page.wait_for_selector("#notification-list li", state="attached")
    assert page.locator("#bell-count").is_hidden()
    assert page.locator("#notification-list li.unread").count() == 0


def test_an_admin_edits_a_rule_loads_a_year_and_adds_a_webhook(desk, live):  # type: ignore[no-untyped-def]
    page = desk.new_page()
    login(page, "admin")
    page.click("#nav a[href='#/admin']")
    rule = page.locator(".rule[data-code='1+3+5+7']")
    rule.wait_for()
    assert "v2" in rule.inner_text()  # 0013's, colours in the one order
    rule.locator(".edit-rule").click()
    form = page.locator("#rule-form")
    # A contradiction (blue before yellow) is refused with the server's reason.
    form.locator("input[name=colour_from_2]").fill("3")
    page.click("#rule-dry-run")
    page.wait_for_selector("#rule-result .error")
    form.locator("input[name=colour_from_2]").fill("6")
    form.locator("input[name=max_extension]").fill("10")
    page.click("#rule-dry-run")
    page.wait_for_selector("#rule-result :text('在办案件')")
    page.click("#rule-save")
    page.wait_for_selector(".rule[data-code='1+3+5+7'] :text('v3')")
    office = api_login(live.app, "admin", "fieldcase-demo")
    rules = {r["code"]: r for r in office.get("/api/deadline-rules").get_json()["items"]}
    assert rules["1+3+5+7"]["version"] == 3 and rules["1+3+5+7"]["body"]["max_extension"] == 10
    assert [c["from_day"] for c in rules["1+3+5+7"]["body"]["colours"]] == [1, 5, 6, 7]

    # Next year's calendar, from a file as the State Council's notice gives it.
    year = {"source": "国办发明电（测试）", "days": [
        {"date": "2030-01-01", "kind": "holiday", "name": "元旦"},
        {"date": "2030-02-02", "kind": "workday", "name": "春节调休"}]}
    page.fill("#calendar-form input[name=year]", "2030")
    page.set_input_files("#calendar-form input[name=file]", files=[{
        "name": "2030.json", "mimeType": "application/json",
        "buffer": json.dumps(year, ensure_ascii=False).encode()}])
    page.click("#calendar-form button[type=submit]")
    page.wait_for_selector(".calendar-years tr[data-year='2030']")

    page.fill("#hook-form input[name=url]", "https://hooks.example.org/fieldcase")
    page.click("#hook-form button[type=submit]")
    page.wait_for_selector("#hook-secret")
    assert len(page.locator("#hook-secret").inner_text()) >= 32
    page.screenshot(path="/tmp/e2e_admin_1280.png", full_page=True)
    page.click(".hooks .deactivate")
    page.wait_for_selector(".hooks li:not(:has(.deactivate))")
    hooks = office.get("/api/webhooks").get_json()["items"]
    assert [h["active"] for h in hooks] == [False]


def test_a_street_admin_sees_the_district_wide_settings_but_is_offered_no_save(  # type: ignore[no-untyped-def]
        desk, live):
    from server.demo import DEMO_PASSWORD, STREETS
    from server.domain.accounts import auth

    with live.app.app_context():
        auth.create_user("admin_east", DEMO_PASSWORD, "admin", [STREETS[0]])
        db.session.remove()
    page = desk.new_page()
    login(page, "admin_east", DEMO_PASSWORD)
    page.click("#nav a[href='#/admin']")
    page.wait_for_selector("#district-only")
    page.locator(".rule[data-code='1+3+5+7'] .edit-rule").click()
    page.click("#rule-dry-run")  # a dry run is theirs, over their street's cases
    page.wait_for_selector("#rule-result :text('在办案件')")
    assert page.locator("#rule-save").count() == 0
    page.wait_for_selector(".q-item")
    assert page.locator(".edit-questionnaire, #new-questionnaire").count() == 0
    page.wait_for_selector(".calendar-years")
    assert page.locator("#calendar-form").count() == 0


def test_no_screen_breaks_the_content_security_policy(browser, live):  # type: ignore[no-untyped-def]
    refused: list[str] = []
    # The policy enforced (no bypass_csp): only selectors here, no eval'd predicates.
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  base_url=live.url, locale="zh-CN")
    page = context.new_page()
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)
    login(page, "admin")
    office = api_login(live.app, "reviewer", "fieldcase-demo")
    case = new_case(office, "安全策略测试：夜间噪声")
    for hash_, ready in (("#/cases", "#case-list"), (f"#/case/{case['id']}", ".case-page"),
                         ("#/board", "#board"), ("#/map", "#map[data-markers]"),
                         ("#/case-new", "form"), ("#/admin", "#admin-rules .rule"),
                         ("#/outbox", "#view"), ("#/settings", "#lang-select"),
                         ("#/import", "#import-form"), ("#/stats", "#stats-body[data-drawn]")):
        page.goto(f"/{hash_}")
        page.wait_for_selector(ready)
    page.wait_for_timeout(300)
    context.close()
    assert refused == []


def test_an_office_action_on_a_slow_network_says_it_is_loading_and_sending(  # type: ignore[no-untyped-def]
        desk, live):
    """On a weak signal the office's action form waits for its units, and its sending for
    the server's answer (20 s at most): each is said at once (a form that showed nothing
    for seconds was pressed again), and the answer, when it comes, is shown."""
    office = desk.new_page()
    login(office, "reviewer")
    case = new_case(api_login(live.app, "reviewer", "fieldcase-demo"), "慢网络派遣",
                    dispatch=False)
    units, sends = Held(), Held()
    office.route("**/api/units/all", units.handler)
    office.route("**/api/units", units.handler)
    open_case_page(office, case["id"])
    office.click("#case-actions [data-action=dispatch]")
    loading = office.locator("#action-slot #action-loading")
    loading.wait_for()
    assert loading.inner_text() == "加载中…"
    assert units.routes, "the units were not asked for"
    units.release()
    office.wait_for_selector("#action-form[data-action=dispatch]")
    assert office.locator("#action-loading").count() == 0
    office.select_option("#action-form select[name=unit_id]", label=STREET)
    office.route("**/api/cases/*/transitions", sends.handler)
    office.click("#action-send")
    busy = office.locator("#action-send[aria-busy=true]")
    busy.wait_for()
    assert busy.inner_text() == "正在发送" and busy.is_disabled()
    sends.release()
    office.wait_for_selector(".case-page[data-status=dispatched]")

