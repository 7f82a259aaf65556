"""A phone passed between inspectors, and the Back button after a check is sent."""

from __future__ import annotations

from tests.e2e.helpers import PHOTOS, bar_case_id, login, open_case, record_night_check, server_rows


def test_back_after_a_sent_check_does_not_reopen_it(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    login(page)
    open_case(page, bar_case_id(live))
    record_night_check(page, PHOTOS[:1])
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-empty", timeout=60000)
    page.go_back()
    page.go_back()
    page.wait_for_timeout(500)
    assert page.locator("#check-form").count() == 0  # never a blank form for a sent check
    visits, evidence = server_rows(live)
    assert len(visits) == 1 and len(evidence) == 1


def test_the_next_user_sees_nothing_of_the_last(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    login(page)
    case_id = bar_case_id(live)
    open_case(page, case_id)
    description = page.locator("#view p").nth(2).inner_text()
    assert description
    # Logging out needs the server: offline it is refused, the session stays.
    phone.set_offline(True)
    page.goto("/#/settings")
    page.click("#logout")
    page.wait_for_selector("#toast:not([hidden])")
    assert "网络" in page.locator("#toast").inner_text()
    assert page.locator("#logout").count() == 1
    phone.set_offline(False)
    page.wait_for_function("fetch('/api/health').then(r => r.ok, () => false)")
    page.click("#logout")
    page.wait_for_selector("#login-form")
    page.fill("#username", "inspector2")  # another street's inspector
    page.fill("#password", "fieldcase-demo")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#case-list .case-row")
    page.goto(f"/#/case/{case_id}")
    page.wait_for_selector("#view .error")
    assert description not in page.locator("#view").inner_text()
    cached = page.evaluate("""async (key) => {
      const open = indexedDB.open('fieldcase');
      const database = await new Promise((ok) => { open.onsuccess = () => ok(open.result); });
      const get = database.transaction('cache').objectStore('cache').get(key);
      return await new Promise((ok) => { get.onsuccess = () => ok(get.result?.value ?? null); });
    }""", f"case:{case_id}")
    assert cached is None  # the phone's copy of the other street's case is gone
