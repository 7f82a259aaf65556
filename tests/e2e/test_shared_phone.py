"""A phone passed between users (nothing of the last shows to the next: cached cases, a
revealed number, the bell, drafts, the sent list), and the Back button after a check is
sent."""

from __future__ import annotations

import uuid

from tests.e2e.helpers import (
    PHOTOS,
    Held,
    bar_case_id,
    hold_idb,
    login,
    open_case,
    record_night_check,
    revisit_task,
    server_rows,
)


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


BAR_PHONE = "13812341234"  # the demo bar case's complainant


def _switch_user(page, username: str) -> None:  # type: ignore[no-untyped-def]
    """Log out and log in as someone else, in the same tab (no reload)."""
    page.goto("/#/settings")
    page.click("#logout")
    page.wait_for_selector("#login-form")
    page.fill("#username", username)
    page.fill("#password", "fieldcase-demo")
    page.click("#login-form button[type=submit]")
    page.wait_for_function("location.hash !== '#/login'")
    page.wait_for_selector("#case-list", timeout=30000)


def _revisiting_the_bar_case(phone, live):  # type: ignore[no-untyped-def]
    """A page of the revisit team's user, the demo bar case assigned to them to revisit."""
    page = phone.new_page()
    login(page, "revisit")
    case_id = bar_case_id(live)
    revisit_task(live, case_id)
    return page, case_id


def test_a_revealed_number_is_forgotten_at_logout(phone, live):  # type: ignore[no-untyped-def]
    page, case_id = _revisiting_the_bar_case(phone, live)
    page.goto(f"/#/revisit/{case_id}/{uuid.uuid4()}")
    page.wait_for_selector("#reveal-box")
    page.click("#quick-reason")
    page.click("#reveal")
    page.wait_for_selector("#call-link")
    assert BAR_PHONE in page.locator("#reveal-box").inner_text()
    _switch_user(page, "inspector2")  # another street's, who may reveal nothing
    page.goto(f"/#/revisit/{case_id}/{uuid.uuid4()}")
    page.wait_for_selector("#view")
    page.wait_for_timeout(500)
    assert BAR_PHONE not in page.locator("#view").inner_text()


def test_the_bell_is_the_next_users_own(phone, live):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from server.domain.cases import sweep
    from server.extensions import db
    from tests.conftest import login as api_login
    from tests.e2e.test_lifecycle_app import new_case

    office = api_login(live.app, "reviewer", "fieldcase-demo")
    new_case(office, "东湖街道的提醒案件", received_at=datetime.now(UTC) - timedelta(days=2))
    with live.app.app_context():
        sweep.sweep(datetime.now(UTC) + timedelta(days=2, hours=2), deliver=False)
        db.session.remove()

    def bell() -> str:
        page.click("#bell")
        page.wait_for_selector("#notification-list:not([hidden])")
        page.wait_for_timeout(300)
        return page.locator("#notification-list").inner_text()

    page = phone.new_page()
    login(page, "inspector")
    assert "东湖街道的提醒案件" in bell()
    _switch_user(page, "inspector2")  # within the minute the bell's answer was kept
    assert "东湖街道的提醒案件" not in bell()


def test_another_users_draft_does_not_open(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    login(page, "inspector")
    case_id = bar_case_id(live)
    open_case(page, case_id)
    page.click("#start-check")
    page.wait_for_selector("#check-form")
    page.fill("#findings", "第一位核查员的现场记录")
    page.wait_for_timeout(800)  # the draft is kept as typed
    draft = page.url
    _switch_user(page, "inspector2")
    page.goto(draft)  # as the Back button would
    page.wait_for_function("!location.hash.startsWith('#/check/')")
    assert page.locator("#check-form").count() == 0
    assert "第一位核查员" not in page.locator("#view").inner_text()
    kept = page.evaluate("""async (id) => {
      const open = indexedDB.open('fieldcase');
      const database = await new Promise((ok) => { open.onsuccess = () => ok(open.result); });
      const get = database.transaction('outbox').objectStore('outbox').get(id);
      return await new Promise((ok) => { get.onsuccess = () => ok(get.result); });
    }""", draft.rsplit("/", 1)[1])
    assert kept["payload"]["findings"] == "第一位核查员的现场记录"  # kept for its owner


def test_the_sent_list_shows_only_the_users_own(phone, live):  # type: ignore[no-untyped-def]
    page, case_id = _revisiting_the_bar_case(phone, live)
    page.goto(f"/#/case/{case_id}")
    page.wait_for_selector(f".case-page[data-case-id='{case_id}'] #revisit-buttons")
    subject = page.locator(".case-page h1").inner_text()
    page.goto(f"/#/revisit/{case_id}/{uuid.uuid4()}")
    page.wait_for_selector("#outcomes")
    page.click("#outcomes [data-outcome=refused]")
    page.click("#save-refused")
    page.wait_for_selector(f".case-page[data-case-id='{case_id}']")
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-empty", timeout=60000)
    page.wait_for_selector("#sent li")
    assert subject in page.locator("#sent").inner_text()
    _switch_user(page, "inspector2")
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-empty, #outbox-list")
    assert subject not in page.locator("#sent").inner_text()


# Reads of the "sent" store (the outbox screen's second read), held until
# window.release("sent").
HOLD_SENT_READS = hold_idb("sent", "IDBObjectStore.prototype.getAll", 'target.name === "sent"')

OUTBOX_COUNT = """async () => {
  const open = indexedDB.open('fieldcase');
  const database = await new Promise((ok) => { open.onsuccess = () => ok(open.result); });
  const count = database.transaction('outbox').objectStore('outbox').count();
  return await new Promise((ok) => { count.onsuccess = () => ok(count.result); });
}"""


def test_a_sync_ending_while_the_outbox_screen_reads_is_shown(phone, live):  # type: ignore[no-untyped-def]
    """The outbox screen opened while a revisit is being sent: the send ends while the
    screen is still reading what waits. The screen then shows nothing waiting (it used
    to listen for the outbox's changes only after its first read, missed the end of the
    send, and went on showing the revisit as waiting)."""
    page, case_id = _revisiting_the_bar_case(phone, live)
    held = Held(method="POST")
    page.route("**/api/cases/*/revisits", held.handler)
    page.goto(f"/#/revisit/{case_id}/{uuid.uuid4()}")
    page.wait_for_selector("#outcomes")
    page.click("#outcomes [data-outcome=refused]")
    page.click("#save-refused")
    page.wait_for_selector(f".case-page[data-case-id='{case_id}']")
    for _ in range(100):
        if held.routes:
            break
        page.wait_for_timeout(100)
    assert held.routes, "the revisit was not being sent"
    assert page.evaluate(OUTBOX_COUNT) == 1  # waiting in the outbox while it is sent
    page.evaluate(HOLD_SENT_READS)
    page.goto("/#/outbox")
    page.wait_for_function("window.held.sent.length > 0")  # the screen is reading
    held.release()
    for _ in range(100):
        if page.evaluate(OUTBOX_COUNT) == 0:
            break
        page.wait_for_timeout(100)
    assert page.evaluate(OUTBOX_COUNT) == 0, "the revisit was not sent"
    page.wait_for_selector("#sync-chip[data-state=idle]")  # the send's end announced
    page.evaluate("window.release('sent')")
    page.wait_for_selector("#outbox-empty", timeout=10000)



def test_the_browser_never_submits_a_form_of_the_app_itself(phone, live):  # type: ignore[no-untyped-def]
    """A screen wires its form once it has read or written what it needs on the phone or
    the network; a form submitted before that (Enter in its one field, a tap on its
    button) was submitted by the browser itself: the app reloaded with the form's fields
    in the address, and what was typed was lost. The app stops any such submission (one
    rule, in app.js, for every screen's forms); a dialog's own form still closes it."""
    page = phone.new_page()
    login(page, "inspector")
    page.evaluate("""() => {
      const view = document.getElementById('view');
      view.insertAdjacentHTML('beforeend', '<form id="unwired"><input name="q" id="unwired-q">'
        + '<button id="unwired-go">go</button></form><dialog id="a-dialog">'
        + '<form method="dialog"><button id="a-close">x</button></form></dialog>');
      document.getElementById('unwired').dataset.first = 'yes';
    }""")
    page.fill("#unwired-q", "夜间噪声")
    for submit in (lambda: page.press("#unwired-q", "Enter"),
                   lambda: page.click("#unwired-go")):
        submit()
        page.wait_for_timeout(500)  # a reload, had the browser submitted it, is under way
        assert "q=" not in page.url
        assert page.locator("#unwired[data-first]").count() == 1, "the app was reloaded"
        assert page.locator("#unwired-q").input_value() == "夜间噪声"
    page.evaluate("document.getElementById('a-dialog').showModal()")
    page.click("#a-close")
    page.wait_for_function("!document.getElementById('a-dialog').open")
