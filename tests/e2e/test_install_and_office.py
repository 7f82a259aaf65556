"""Installability as Chromium judges it, the night-use shell, and the office at desktop
width."""

from __future__ import annotations

import pytest

from tests.e2e.helpers import PHOTOS, bar_case_id, login, open_case, record_night_check


@pytest.mark.persistent_profile
def test_chromium_finds_the_app_installable(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    page.goto("/")
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null")
    page.reload()
    cdp = phone.new_cdp_session(page)
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert errors == []
    manifest = cdp.send("Page.getAppManifest")
    assert manifest["errors"] == []
    assert page.locator("link[rel=apple-touch-icon][sizes='180x180']").count() == 1


def test_app_opens_offline_after_first_visit(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    login(page)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    phone.set_offline(True)
    page.reload()
    page.wait_for_selector("#case-list .case-row")  # from the phone's own copy
    page.wait_for_selector("#banner:not([hidden])")
    assert page.locator("#banner").inner_text() == "离线模式：显示手机上保存的数据"


def test_office_gallery_at_desktop_width(browser, live):  # type: ignore[no-untyped-def]
    field = browser.new_context(
        bypass_csp=True,  # see conftest.CSP_NOTE
        viewport={"width": 390, "height": 844}, base_url=live.url,
        geolocation={"latitude": 24.3267, "longitude": 109.4152, "accuracy": 8},
        permissions=["geolocation"])
    field.set_default_timeout(30000)
    page = field.new_page()
    login(page)
    case_id = bar_case_id(live)
    open_case(page, case_id)
    record_night_check(page, PHOTOS[:1])
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-empty", timeout=60000)
    field.close()

    office = browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live.url,
                                 bypass_csp=True)
    desk = office.new_page()
    login(desk, "reviewer")
    assert desk.locator("#filters").is_visible()
    desk.fill("#filters input[name=q]", "夜色")
    desk.click("#filters button")
    desk.wait_for_function("document.querySelectorAll('#case-list .case-row').length === 1")
    desk.click(f"[data-case-id='{case_id}']")
    card = desk.locator(".evidence[data-evidence-id]")
    card.wait_for()
    text = card.inner_text()
    for expected in ("王建国", "照片1", "24.3267", "109.4152"):
        assert expected in text
    # The thumbnail loads after the card is drawn: wait for it (it fails if it never does).
    card.locator("img").evaluate(
        "img => img.complete && img.naturalWidth > 0 || new Promise((ok, no) => {"
        " img.addEventListener('load', ok); img.addEventListener('error', no); })")
    assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
    desk.screenshot(path="/tmp/e2e_office.png", full_page=True)
    office.close()
