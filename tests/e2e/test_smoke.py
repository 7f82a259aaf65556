"""The app shell loads, logs in, lists the inspector's cases."""

from __future__ import annotations

from server.demo import CASES, EARLIER_ABOUT_BAR, HANDLED


def login(page, username: str = "inspector", password: str = "fieldcase-demo") -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#case-list .case-row")


def test_login_and_my_cases(phone):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page)
    rows = page.locator("#case-list .case-row")
    closed = {n for n, close in HANDLED if close}
    open_here = [n for n, case in enumerate(CASES, start=1)
                 if case[0] == 0 and n not in closed]
    # 东湖街道's open cases, with the two earlier complaints about its bar (repeats)
    assert rows.count() == len(open_here) + len(EARLIER_ABOUT_BAR) == 6
    page.screenshot(path="/tmp/e2e_cases.png")
    assert errors == []
