"""A photo taken before the phone has a position gets the next good fix, marked late;
a photo taken the moment the check opens is kept."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import HERE
from tests.e2e.helpers import (
    HOLD_DRAFT_SAVES,
    PHOTOS,
    bar_case_id,
    login,
    open_case,
    server_rows,
)


def photo_on_a_new_check(page) -> None:  # type: ignore[no-untyped-def]
    """A check opened on the case shown, and a photo chosen at once."""
    page.click("#start-check")
    page.set_input_files("#photo-input", str(PHOTOS[1]))
    page.wait_for_function("document.querySelectorAll('#photos .photo').length === 1",
                           timeout=15000)


def save_and_send(page, context) -> None:  # type: ignore[no-untyped-def]
    """The check saved, the signal back, and everything on the phone sent."""
    page.click("#save-check")
    page.wait_for_selector("#start-check")  # back on the case once the check is saved
    context.set_offline(False)
    page.goto("/#/outbox")
    page.click("#sync-now")
    page.wait_for_selector("#outbox-empty", timeout=60000)


def test_photo_before_first_fix_gets_the_late_fix(browser, live):  # type: ignore[no-untyped-def]
    context = browser.new_context(
        bypass_csp=True,  # see conftest.CSP_NOTE
        viewport={"width": 390, "height": 844}, base_url=live.url)  # no location yet
    page = context.new_page()
    login(page)
    open_case(page, bar_case_id(live))
    context.set_offline(True)
    photo_on_a_new_check(page)
    assert "±" not in page.locator("#photos .photo").inner_text()  # no fix with it
    # The position arrives later (permission granted, first fix).
    context.grant_permissions(["geolocation"], origin=live.url)
    context.set_geolocation(HERE)
    page.wait_for_function("document.querySelector('#fix').textContent.includes('±')",
                           timeout=20000)
    save_and_send(page, context)
    _, [evidence] = server_rows(live)
    assert evidence.geo_source == "late_fix"
    assert evidence.geo_lat == pytest.approx(HERE["latitude"])
    context.close()


def test_a_photo_chosen_as_the_check_opens_is_kept(phone, live):  # type: ignore[no-untyped-def]
    """The check's screen stores its draft as it opens; a photo chosen during that first
    save is taken (the screen used to wire its photo button only after the save, and
    the photo was dropped without a word)."""
    page = phone.new_page()
    login(page)
    open_case(page, bar_case_id(live))
    page.evaluate(HOLD_DRAFT_SAVES)
    photo_on_a_new_check(page)
    assert page.evaluate("window.held.drafts.length") >= 1  # the first save is still held
    page.evaluate("window.release('drafts')")
    save_and_send(page, phone)
    [visit], [evidence] = server_rows(live)
    assert evidence.visit_id == visit.id
