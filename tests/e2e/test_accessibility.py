"""Every screen usable by everyone: axe-core (npm `axe-core`, injected only here) audits
every screen of the app as each role, at 390 px and 1280 px, in Chinese and English, in
the day theme and the red night mode. The target is no critical and no serious violation,
and headings in order (axe's `heading-order`, moderate, was found on the board, the action
form and the reviewer's desk). The by-hand findings are checked here too: a title per
screen, focus never left under the bottom bar or the floating save button, the map's
controls and markers big enough to hit and reachable by keyboard."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import login as api_login
from tests.e2e.conftest import PHONE, LiveServer
from tests.e2e.helpers import login
from tests.e2e.test_import_app import previewed
from tests.e2e.test_review_app import submitted_case

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"critical", "serious"}
ALWAYS = {"heading-order"}  # moderate, but the walks found it and it is cheap to keep

# (name, width, language, red night mode): both widths, both languages, both themes (two
# walks cover the four; each walk is some 40 s on a 2-core machine).
LOOKS = [("390-zh-red", 390, "zh", True), ("1280-en-day", 1280, "en", False)]


@contextmanager
def looking(browser: Any, live: LiveServer, user: str | None, width: int, lang: str,
            red: bool) -> Iterator[Any]:
    phone = width < 600
    options: dict[str, Any] = {"viewport": {"width": width, "height": 844 if phone else 800}}
    if phone:
        options.update(is_mobile=True, has_touch=True, geolocation=PHONE["geolocation"],
                       permissions=["geolocation"])
    context = browser.new_context(bypass_csp=True,  # see conftest.CSP_NOTE
                                  locale="zh-CN", timezone_id="Asia/Shanghai",
                                  base_url=live.url, **options)
    context.set_default_timeout(30000)
    context.add_init_script(f"localStorage.setItem('fieldcase.lang', '{lang}');"
                            f"localStorage.setItem('fieldcase.red', '{'1' if red else '0'}');")
    try:
        page = context.new_page()
        if user:
            login(page, user)
        else:
            page.goto("/")
        yield page
    finally:
        context.close()


def audit(page: Any, screen: str) -> list[str]:
    """axe's violations that count, each with up to three of its elements."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map((v) => ({id: v.id, impact: v.impact,
          nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' '))}));
    }""")
    return [f"{screen}: {v['impact']} {v['id']} {v['nodes']}" for v in found
            if v["impact"] in BLOCKING or v["id"] in ALWAYS]


def screen(page: Any, path: str, ready: str) -> None:
    page.goto(path)
    page.wait_for_selector(ready)
    page.wait_for_timeout(150)  # the last of a screen's fetches drawn


@pytest.mark.parametrize("look", LOOKS, ids=[look[0] for look in LOOKS])
def test_every_screen_passes_axe(browser, live, look):  # type: ignore[no-untyped-def]
    name, width, lang, red = look
    case_id, _ = submitted_case(live, "无障碍检查：夜间噪声")
    office = api_login(live.app, "reviewer", "fieldcase-demo")
    sample = office.post("/api/revisit-samples", json={
        "from": "2020-01-01T00:00:00+08:00", "to": "2100-01-01T00:00:00+08:00",
        "share": 1, "strata": [], "seed": f"axe-{name}"}).get_json()
    batch_id = previewed(live)
    walks: dict[str | None, list[tuple[str, str]]] = {
        None: [("/#/login", "#login-form")],
        "inspector": [("/#/cases", "#case-list"),
                      (f"/#/case/{case_id}", ".case-page #timeline"),
                      (f"/#/check/{case_id}/{uuid.uuid4()}", "#check-form"),
                      ("/#/outbox", "#outbox-empty, #outbox-list"),
                      ("/#/settings", "#red")],
        "revisit": [("/#/cases", "#case-list"),
                    (f"/#/revisit/{case_id}/{uuid.uuid4()}", "#reveal-slot"),
                    (f"/#/survey/{case_id}/{uuid.uuid4()}/door", "#survey-questionnaire")],
        "reviewer": [("/#/board", "#board"), ("/#/cases", "#case-list"),
                     (f"/#/case/{case_id}", ".case-page #timeline"),
                     (f"/#/case/{case_id}/edit", "#case-form"),
                     ("/#/case-new", "#case-form"), ("/#/map", "#map[data-markers]"),
                     (f"/#/review/{case_id}", "#review-map"),
                     ("/#/samples", "#samples, #sample-table"),
                     (f"/#/samples/{sample['id']}", "#sample"),
                     (f"/#/import/{batch_id}", "#rows-table"),
                     ("/#/stats", "#stats-body[data-drawn]")],
        "admin": [("/#/admin", "#admin-rules .rule")],
    }
    problems: list[str] = []
    titles: dict[str, str] = {}
    for user, screens in walks.items():
        with looking(browser, live, user, width, lang, red) as page:
            for path, ready in screens:
                screen(page, path, ready)
                problems += audit(page, f"{user}@{path}")
                titles[path] = page.title()
            if user == "revisit":
                # The door survey's questions, its free-text comment among them.
                screen(page, f"/#/survey/{case_id}/{uuid.uuid4()}/door", "#begin-survey")
                page.click("#begin-survey")
                page.wait_for_selector("#questions .question textarea")
                problems += audit(page, "revisit@survey questions")
            if user == "reviewer":
                # The action form, opened from the case page.
                screen(page, f"/#/case/{case_id}", "#case-actions [data-action=return]")
                page.click("#case-actions [data-action=return]")
                page.wait_for_selector("#action-form")
                problems += audit(page, "reviewer@action form")
    assert problems == [], "\n".join(problems)
    # Every screen says which it is in its title.
    paths = list(titles)
    assert len(set(titles.values())) == len(paths), titles


def test_the_verify_page_marks_its_english(browser, live):  # type: ignore[no-untyped-def]
    """The public verify page (no login): Chinese and English on one page, each marked."""
    with looking(browser, live, None, 390, "zh", False) as page:
        page.goto("/v/ZZZZ-ZZZZ")
        page.wait_for_timeout(500)
        problems = audit(page, "verify page")
        unmarked = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter((e) => e.children.length === 0 && /[a-z]{3,}/.test(e.textContent)
              && !/[\\u4e00-\\u9fff]/.test(e.textContent)
              && !e.closest('[lang^="en"]') && !e.closest('code, kbd, samp'))
            .map((e) => e.textContent.trim()).slice(0, 5)""")
    assert problems == [], problems
    assert unmarked == [], unmarked


def obscured_focus_stops(page: Any, start: str, stops: int) -> list[str]:
    """Tab from `start` through the next `stops` focus stops; each one left (partly) under
    the top bar, the bottom bar or the floating action button is named."""
    page.focus(start)
    hidden: list[str] = []
    for _ in range(stops):
        page.wait_for_timeout(60)  # a smooth scroll settles
        under = page.evaluate("""() => {
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            const r = el.getBoundingClientRect();
            if (r.width === 0 && r.height === 0) return null;
            const covers = [...document.querySelectorAll('.topbar, .bottombar, .actions > *')]
              .filter((c) => c !== el && !c.contains(el))
              .map((c) => c.getBoundingClientRect())
              .filter((c) => c.width && c.height && r.left < c.right && r.right > c.left
                && r.top < c.bottom && r.bottom > c.top);
            return covers.length ? (el.id || el.name || el.tagName) : null;
        }""")
        if under:
            hidden.append(under)
        page.keyboard.press("Tab")
        if page.evaluate("!document.querySelector('#check-form')"
                         "?.contains(document.activeElement)"):
            break
    return hidden


def test_no_focus_stop_on_the_check_form_hides_under_the_bars(browser, live):  # type: ignore[no-untyped-def]
    case_id, _ = submitted_case(live, "无障碍检查：焦点")
    with looking(browser, live, "inspector", 390, "zh", True) as page:
        screen(page, f"/#/check/{case_id}/{uuid.uuid4()}", "#check-form")
        first = page.evaluate("""() => { const el = document.querySelector(
            '#check-form input, #check-form select, #check-form textarea, #check-form button');
            el.id = el.id || 'first-stop'; return '#' + el.id; }""")
        hidden = obscured_focus_stops(page, first, 80)
    assert hidden == [], hidden


def test_the_map_can_be_used_by_thumb_and_keyboard(browser, live):  # type: ignore[no-untyped-def]
    with looking(browser, live, "reviewer", 390, "zh", False) as page:
        screen(page, "/#/map", "#map[data-markers] path.marker-hit")
        zoom = page.evaluate("""() => [...document.querySelectorAll('#map .leaflet-bar a')]
            .map((a) => { const r = a.getBoundingClientRect(); return [r.width, r.height]; })""")
        assert zoom and all(w >= 44 and h >= 44 for w, h in zoom), zoom
        targets = page.evaluate("""() => [...document.querySelectorAll('#map path.marker-hit')]
            .map((p) => { const r = p.getBoundingClientRect();
              return [Math.round(r.width), p.getAttribute('tabindex'),
                      p.getAttribute('aria-label')]; })""")
        assert targets and all(w >= 44 and tab == "0" and name for w, tab, name in targets), targets
        case_dots = page.locator("#map path.marker-case").count()
        assert len(targets) >= case_dots
        # Enter on a focused marker opens its popup.
        page.locator("#map path.marker-hit").first.focus()
        page.keyboard.press("Enter")
        page.wait_for_selector(".leaflet-popup a[href^='#/case/']")
