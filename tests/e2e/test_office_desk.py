"""The office's desk in the browser (issue 19): a count on the board opens its cases on
the list with the board's filters, most urgent first; the list looks a caller's number
up; the case page names the assignees (承办人) and shows the complainant masked, revealed
with a reason that lands on the timeline; on the reviewer's desk the decision panel
never covers the checklist, at 1280x800 nor at 390 px."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import login as api_login
from tests.e2e.conftest import HERE, LiveServer
from tests.e2e.helpers import Held, ids
from tests.e2e.test_review_app import (
    PASSWORD,
    STREET,
    desk,
    open_review,
    shot,
    submitted_case,
)
from tests.test_lifecycle import walk

DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
OTHER_STREET = "西城街道"


def new_case(live: LiveServer, subject: str, street: str, *, hours_ago: float,
             phone: str = "13800001111") -> str:
    units, _ = ids(live)
    office = api_login(live.app, "reviewer", PASSWORD)
    answer = office.post("/api/cases", json={
        "channel": "hotline_12345", "category": "noise_social", "subject": subject,
        "address": "测试路1号", "description": "测试", "unit_id": units[street],
        "complainant": {"name": "赵六", "phone": phone},
        "received_at": (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def listed(page: Any) -> list[str]:
    return page.locator("#case-list .case-row").evaluate_all(
        "els => els.map(e => e.dataset.caseId)")


def test_a_count_on_the_board_opens_its_cases_most_urgent_first(browser, live):  # type: ignore[no-untyped-def]
    units, _ = ids(live)
    office = api_login(live.app, "reviewer", PASSWORD)
    new_case(live, "看板计数：西城", OTHER_STREET, hours_ago=2)
    board = office.get("/api/board").get_json()
    street = next(r for r in board["units"] if r["unit"]["id"] == units[STREET])
    # The street's open cases, as the API lists them most urgent first.
    expected = office.get("/api/cases", query_string={
        "unit": units[STREET], "open": "true", "sort": "due", "per_page": 50}).get_json()
    assert expected["total"] == street["counts"]["all"] >= 2
    with desk(browser, live, viewport=DESK) as page:
        page.goto("/#/board")
        row = page.locator(f"#board-table tr[data-unit-id='{units[STREET]}']")
        row.wait_for()
        cell = row.locator("td[data-colour=all] a.count-link")
        assert cell.inner_text() == str(street["counts"]["all"])
        shot(page, "desk_board_1280.png")
        cell.click()
        page.wait_for_selector("#filters")
        page.wait_for_function("document.querySelector('#case-total')")
        assert listed(page) == [c["id"] for c in expected["items"]]
        # The list says what it shows: the unit, open cases, most urgent first.
        assert page.locator("#filters select[name=unit]").input_value() == units[STREET]
        assert page.locator("#filters select[name=sort]").input_value() == "due"
        assert page.locator("#filters select[name=open]").input_value() == "true"
        assert page.url.endswith("#/cases")
        shot(page, "desk_list_1280.png")

        # A colour's count on the totals row: every unit's cases of that colour.
        page.goto("/#/board")
        colour = next(c for c in ("green", "blue", "yellow", "red", "overdue")
                      if board["totals"][c])
        page.locator(f"#board-totals td[data-colour={colour}] a.count-link").click()
        page.wait_for_selector("#filters")
        page.wait_for_function("document.querySelector('#case-total')")
        want = office.get("/api/cases", query_string={
            "colour": colour, "open": "true", "sort": "due", "per_page": 50}).get_json()
        assert listed(page) == [c["id"] for c in want["items"]]
        assert page.locator("#filters select[name=unit]").input_value() == ""
        assert page.locator("#filters select[name=colour]").input_value() == colour


def test_see_all_keeps_the_boards_unit_and_filters_most_urgent_first(browser, live):  # type: ignore[no-untyped-def]
    units, _ = ids(live)
    office = api_login(live.app, "reviewer", PASSWORD)
    for n in range(22):  # more than the board shows of a colour (20)
        new_case(live, f"查看全部测试 {n}", OTHER_STREET, hours_ago=1 + n / 10)
    board = office.get("/api/board", query_string={"unit": units[OTHER_STREET]}).get_json()
    colour = next(c for c in ("green", "blue", "yellow", "red", "overdue")
                  if board["totals"][c] > len(board["cases"][c]))
    with desk(browser, live, viewport=DESK) as page:
        page.goto("/#/board")
        page.select_option("#board-filters select[name=unit]", units[OTHER_STREET])
        page.select_option("#board-filters select[name=channel]", "hotline_12345")
        # The board drawn before the filters were applied still has its own "see all"
        # buttons (without the unit) until the filtered one replaces it: wait for that.
        page.evaluate("document.querySelector('#board').dataset.stale = 'yes'")
        page.click("#board-filters button[type=submit]")
        page.wait_for_selector("#board:not([data-stale])")
        button = page.locator(f"#list-{colour} .see-all")
        button.wait_for()
        button.click()
        page.wait_for_selector("#filters")
        page.wait_for_function("document.querySelector('#case-total')")
        assert page.locator("#filters select[name=unit]").input_value() == units[OTHER_STREET]
        assert page.locator("#filters select[name=channel]").input_value() == "hotline_12345"
        assert page.locator("#filters select[name=colour]").input_value() == colour
        assert page.locator("#filters select[name=sort]").input_value() == "due"
        want = office.get("/api/cases", query_string={
            "unit": units[OTHER_STREET], "channel": "hotline_12345", "colour": colour,
            "open": "true", "sort": "due", "per_page": 50}).get_json()
        assert want["total"] > 20
        assert listed(page) == [c["id"] for c in want["items"]]


def test_the_board_shows_the_latest_filters_answer(browser, live):  # type: ignore[no-untyped-def]
    """The board's filters applied twice on a slow network: the first answer, coming last,
    does not replace the board of the second (with the second's filters in its form)."""
    units, _ = ids(live)
    new_case(live, "看板先后：西城", OTHER_STREET, hours_ago=2)
    held = Held(f"unit={units[OTHER_STREET]}")

    def apply(page: Any, unit: str) -> None:
        page.select_option("#board-filters select[name=unit]", units[unit])
        page.evaluate("document.querySelector('#board').dataset.old = 'yes'")
        page.click("#board-filters button[type=submit]")
        page.wait_for_selector("#board:not([data-old])")
        page.wait_for_selector(f"#board-table tr[data-unit-id='{units[unit]}']")

    with desk(browser, live, viewport=DESK) as page:
        page.goto("/#/board")
        page.wait_for_selector("#board-table")
        # Both boards seen once: kept on the desk, each shows at once when asked again.
        apply(page, OTHER_STREET)
        apply(page, STREET)
        assert page.locator(f"#board-table tr[data-unit-id='{units[OTHER_STREET]}']").count() == 0
        page.route("**/api/board?*", held.handler)
        apply(page, OTHER_STREET)  # the kept board shows, usable; the fresh one is held
        assert held.routes, "the first answer was not held back"
        apply(page, STREET)
        with page.expect_response(lambda r: f"unit={units[OTHER_STREET]}" in r.url):
            held.release()
        page.wait_for_timeout(500)  # what a stale draw would do, it does within this
        assert page.locator(f"#board-table tr[data-unit-id='{units[OTHER_STREET]}']").count() == 0
        assert page.locator("#board-filters select[name=unit]").input_value() == units[STREET]

def test_the_list_filters_by_unit_and_period_and_finds_a_callers_number(browser, live):  # type: ignore[no-untyped-def]
    units, _ = ids(live)
    caller = new_case(live, "来电查找：西城", OTHER_STREET, hours_ago=3, phone="13977778888")
    with desk(browser, live, viewport=DESK) as page:
        page.select_option("#filters select[name=unit]", units[OTHER_STREET])
        page.click("#filters button[type=submit]")
        page.wait_for_function(
            "document.querySelector('#filters select[name=unit]').value !== ''")
        page.wait_for_selector(f"#case-list [data-case-id='{caller}']")
        office = api_login(live.app, "reviewer", PASSWORD)
        street = office.get("/api/cases", query_string={"unit": units[OTHER_STREET]}).get_json()
        # The list redrawn with the filter (not the unfiltered one still showing).
        page.wait_for_function("document.querySelectorAll('#case-list .case-row').length"
                               f" === {len(street['items'])}")
        assert sorted(listed(page)) == sorted(c["id"] for c in street["items"])
        # The number as a caller says it, spaces and country code: that case alone.
        page.select_option("#filters select[name=unit]", "")
        page.fill("#phone-search", "+86 139 7777 8888")
        page.click("#filters button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#case-list .case-row').length === 1")
        assert listed(page) == [caller]
        # A part of it finds nothing.
        page.fill("#phone-search", "7777 8888")
        page.click("#filters button[type=submit]")
        page.wait_for_function("document.querySelectorAll('#case-list .case-row').length === 0")
        # The number stays in the page's memory, not in the tab's storage.
        assert "7777" not in page.evaluate("JSON.stringify(sessionStorage)")
        # A period that ends before the case was received leaves it out.
        page.fill("#phone-search", "")
        yesterday = (datetime.now(UTC) - timedelta(days=2)).astimezone().date().isoformat()
        page.fill("#filters input[name=to]", yesterday)
        page.select_option("#filters select[name=unit]", units[OTHER_STREET])
        # Redrawn with the server's answer (the list kept on the desk shows first, with
        # no total; the number's empty answer before it had one): the caller's case,
        # received since, gone from the list.
        page.evaluate("document.querySelector('#case-list').dataset.old = 'yes'")
        page.click("#filters button[type=submit]")
        page.wait_for_function("document.querySelector('#case-list:not([data-old])')"
                               " && document.querySelector('#case-total')")
        assert caller not in listed(page)


def test_a_later_search_is_not_overwritten_by_an_earlier_one(browser, live):  # type: ignore[no-untyped-def]
    """Each search draws the list again into the same screen. An earlier search must not
    put its rows back over a later one's answer: neither when its answer comes last (a
    slow network), nor when the location changes (its rows were redrawn with their
    distances by a location listener nobody stopped)."""
    units, _ = ids(live)
    caller = new_case(live, "来电查找：先后", OTHER_STREET, hours_ago=2, phone="13966665555")
    moved = {"latitude": HERE["latitude"] + 0.01, "longitude": HERE["longitude"], "accuracy": 8}

    def search(page: Any, number: str) -> None:
        page.fill("#phone-search", number)
        page.evaluate("document.querySelector('#case-list').dataset.old = 'yes'")
        page.click("#filters button[type=submit]")

    def drawn(page: Any) -> None:
        """The latest search's answer is on the screen, marked to show a redraw."""
        page.wait_for_selector("#case-list:not([data-old])", state="attached")
        page.wait_for_selector("#case-total", state="attached")
        page.evaluate("document.querySelector('#case-list').dataset.latest = 'yes'")

    def still_latest(page: Any) -> None:
        page.wait_for_timeout(500)  # what a stale draw would do, it does within this
        assert page.locator("#case-list[data-latest]").count() == 1, "redrawn by a stale draw"
        assert listed(page) == []

    with desk(browser, live, viewport=DESK, geolocation=HERE,
              permissions=["geolocation"]) as page:
        # The location changes after a second search: the first one's rows stay away.
        search(page, "139 6666 5555")
        page.wait_for_function("document.querySelectorAll('#case-list .case-row').length === 1")
        assert listed(page) == [caller]
        search(page, "6666 5555")
        drawn(page)
        assert listed(page) == []
        page.evaluate("""(north) => { window.moved = new Promise((done) =>
            navigator.geolocation.watchPosition((p) => { if (p.coords.latitude > north) done(); }));
        }""", HERE["latitude"] + 0.005)
        page.context.set_geolocation(moved)
        page.evaluate("window.moved")
        still_latest(page)
        # A street's list asked for and held back (the list kept on the desk shows
        # meanwhile, its filters usable), then the number looked up: the street's list,
        # coming last, stays away.
        held = Held(f"unit={units[OTHER_STREET]}")
        page.route("**/api/cases?*", held.handler)
        page.fill("#phone-search", "")
        page.select_option("#filters select[name=unit]", units[OTHER_STREET])
        search(page, "")
        page.wait_for_selector("#case-list:not([data-old]) .case-row")  # the kept list
        assert held.routes, "the street's list was not held back"
        page.select_option("#filters select[name=unit]", "")
        search(page, "6666 5555")
        drawn(page)
        with page.expect_response(lambda r: f"unit={units[OTHER_STREET]}" in r.url):
            held.release()
        still_latest(page)


def test_the_revisit_team_gets_no_number_lookup_on_the_list(browser, live):  # type: ignore[no-untyped-def]
    """The number and the full name only for the office proper (the server refuses the
    revisit team both): their list offers no number field, nor a full-name hint."""
    with desk(browser, live, user="revisit", viewport=DESK) as page:
        page.wait_for_selector("#filters input[name=q]")
        assert page.locator("#phone-search").count() == 0
        hint = page.locator("#filters input[name=q]").get_attribute("placeholder")
        assert hint and "全名" not in hint
    with desk(browser, live, viewport=DESK) as page:
        page.wait_for_selector("#phone-search")
        assert "全名" in page.locator("#filters input[name=q]").get_attribute("placeholder")


def test_the_case_page_names_the_assignees_and_reveals_the_complainant_on_record(  # type: ignore[no-untyped-def]
        browser, live):
    units, users = ids(live)
    case_id = new_case(live, "承办人显示测试", STREET, hours_ago=1, phone="13812345678")
    office = api_login(live.app, "reviewer", PASSWORD)
    walk(office, case_id, ("dispatch", {"unit_id": units[STREET],
                                        "assignee_ids": [users["inspector"]]}))
    with desk(browser, live, viewport=DESK) as page:
        page.goto(f"/#/case/{case_id}")
        page.wait_for_selector(f".case-page[data-case-id='{case_id}'] #case-assignees")
        assert "王建国" in page.locator("#case-assignees").inner_text()
        # Masked by default: the full number is nowhere on the page.
        assert page.locator("#masked-contact").inner_text().split() == ["赵*", "138****5678"]
        assert "13812345678" not in page.content()
        assert page.locator("#timeline [data-kind=complainant_revealed]").count() == 0
        page.click("#reveal-box summary")
        page.click("#reveal")  # no reason: refused on the page
        page.wait_for_selector("#reveal-error:not([hidden])")
        page.fill("#reveal-reason", "回电告知处理进展")
        page.click("#reveal")
        page.wait_for_selector("#revealed-phone")
        shot(page, "desk_case_revealed_1280.png")
        assert page.locator("#revealed-phone").inner_text() == "13812345678"
        assert page.locator("#revealed-name").inner_text() == "赵六"
        page.wait_for_selector("#timeline [data-kind=complainant_revealed]")
        # Nothing of it kept on the browser's storage; leaving the page forgets it.
        stored = page.evaluate("""async () => {
            const names = (await indexedDB.databases()).map((d) => d.name);
            const out = [];
            for (const name of names) {
              const db = await new Promise((ok, no) => {
                const r = indexedDB.open(name);
                r.onsuccess = () => ok(r.result);
                r.onerror = no;
              });
              for (const store of db.objectStoreNames) {
                const all = await new Promise((ok) => {
                  const r = db.transaction(store).objectStore(store).getAll();
                  r.onsuccess = () => ok(r.result); r.onerror = () => ok([]); });
                out.push(JSON.stringify(all));
              }
              db.close();
            }
            return out.join("") + JSON.stringify(localStorage) + JSON.stringify(sessionStorage);
        }""")
        assert "13812345678" not in stored
        page.goto("/#/cases")
        page.wait_for_selector("#case-list")
        page.goto(f"/#/case/{case_id}")
        page.wait_for_selector("#masked-contact")
    # Inspectors see the assignees and the masked contact, with no reveal offered.
    with desk(browser, live, "inspector", viewport=PHONE) as page:
        page.goto(f"/#/case/{case_id}")
        page.wait_for_selector("#case-assignees")
        assert "王建国" in page.locator("#case-assignees").inner_text()
        assert page.locator("#masked-contact").is_visible()
        assert page.locator("#reveal-box").count() == 0
        shot(page, "desk_case_inspector_390.png", full_page=True)


def boxes_apart(page: Any, first: str, second: str) -> tuple[dict, dict]:
    a = page.locator(first).bounding_box()
    b = page.locator(second).bounding_box()
    assert a and b
    apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
             or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
    assert apart, (first, a, second, b)
    return a, b


def test_the_decision_panel_never_covers_the_checklist(browser, live):  # type: ignore[no-untyped-def]
    case_id, _ = submitted_case(live, "布局测试：决定区与清单")
    for viewport in (DESK, PHONE):
        with desk(browser, live, viewport=viewport) as page:
            open_review(page, case_id, "submitted")
            page.wait_for_selector("#decision #approve")
            page.wait_for_selector("#checklist .rule")
            boxes_apart(page, "#checklist", "#decision")
            shot(page, f"desk_review_{viewport['width']}.png")
            # Nothing is drawn over the checklist's last rule, where it shows.
            last = page.locator("#checklist .rule").last
            last.scroll_into_view_if_needed()
            box = last.bounding_box()
            assert box
            on_top = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y)?.closest('#checklist') !== null",
                [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
            assert on_top, viewport
            # The decision can be reached: its button is on the screen once scrolled to.
            page.locator("#approve").scroll_into_view_if_needed()
            approve = page.locator("#approve").bounding_box()
            assert approve
            assert approve["y"] >= 0
            assert approve["y"] + approve["height"] <= viewport["height"]
            if viewport is DESK:
                # At a desk both stay in view beside the photos, side by side in the column.
                checklist, decision = boxes_apart(page, "#checklist", "#decision")
                assert checklist["y"] < decision["y"]
                assert decision["y"] + decision["height"] <= viewport["height"]


def test_on_a_phone_the_list_comes_before_its_folded_filters(browser, live):  # type: ignore[no-untyped-def]
    """The revisit team at 390 px: the filters fold (as the board's do) so that the tasks
    and cases show on the first screen; a set filter keeps them open."""
    with desk(browser, live, "revisit", viewport=PHONE) as page:
        page.goto("/#/cases")
        page.wait_for_selector("#case-list .case-row")
        assert page.locator("#filters-box").get_attribute("open") is None
        first = page.locator("#case-list .case-row").first.bounding_box()
        assert first and first["y"] < PHONE["height"], first
        page.click("#filters-box summary")
        page.fill("#filters input[name=q]", "夜色")
        page.click("#filters button[type=submit]")
        # Drawn again with the filter set: open, and its summary counts it.
        page.wait_for_function("document.querySelector('#filters-box[open] summary')"
                               "?.textContent.includes('(1)')")
