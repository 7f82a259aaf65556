"""What the phone meets on the way: a server gone mid-sync, an expired session, a hotel
Wi-Fi login page. Each time: nothing lost, nothing sent twice."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import UserSession
from server.models.base import utcnow
from tests.e2e.helpers import (
    PHOTOS,
    bar_case_id,
    login,
    open_case,
    outbox_count,
    record_night_check,
    server_rows,
    wait_for_service_worker,
)

WAITING = "document.querySelectorAll('#outbox-list [data-state=waiting]').length > 0"


def queue_a_check(page, phone, live, before_online=None) -> None:  # type: ignore[no-untyped-def]
    login(page)
    wait_for_service_worker(page)
    open_case(page, bar_case_id(live))
    phone.set_offline(True)
    record_night_check(page, PHOTOS)
    assert outbox_count(page) == 3
    if before_online:
        before_online()  # the app may start syncing by itself the moment it is online
    phone.set_offline(False)


def wait_until(page, condition, timeout_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(200)


def assert_synced_once(live) -> None:  # type: ignore[no-untyped-def]
    visits, evidence = server_rows(live)
    assert len(visits) == 1
    assert len(evidence) == 2 and all(e.state == "stored" for e in evidence)


@pytest.mark.parametrize("storing", ["upload", "complete"])
def test_server_gone_mid_sync_then_back(phone, live, storing: str):  # type: ignore[no-untyped-def]
    """The server stores the first photo, then goes down before the phone hears back: the
    local store's upload stores it as it arrives (its answer is the receipt), or, in two
    steps as with S3 (COMPLETE_ON_UPLOAD off), the complete call does."""
    page = phone.new_page()
    completions: list[int] = []
    live.app.config["COMPLETE_ON_UPLOAD"] = storing == "upload"

    method = "PUT" if storing == "upload" else "POST"

    def lose_the_answer(route) -> None:  # type: ignore[no-untyped-def]
        if completions or route.request.method != method:
            route.continue_()
            return
        answer = route.fetch()
        receipt = answer.json()
        assert (receipt["evidence"] if storing == "upload" else receipt)["state"] == "stored"
        completions.append(answer.status)
        live.stop()
        route.abort("connectionreset")

    queue_a_check(page, phone, live, before_online=lambda: page.route(
        "**/api/blobs/*" if storing == "upload" else "**/api/evidence/*/complete",
        lose_the_answer))
    page.click("#sync-now")
    wait_until(page, lambda: completions)
    assert completions == [201 if storing == "upload" else 200]
    page.wait_for_function(WAITING)
    assert outbox_count(page) == 2  # the visit went through; both photos still on the phone

    live.start()
    page.click("#sync-now")
    page.wait_for_selector("#outbox-empty", timeout=60000)
    assert_synced_once(live)


def test_session_expired_before_sync(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()

    def expire_sessions() -> None:
        # Before the phone is back online: it starts syncing the moment it is.
        with live.app.app_context():
            db.session.execute(sa.update(UserSession).values(
                expires_at=utcnow() - timedelta(1)))
            db.session.commit()
            db.session.remove()

    queue_a_check(page, phone, live, before_online=expire_sessions)
    page.goto("/#/outbox")
    page.click("#sync-now")
    page.wait_for_selector("#banner a[href='#/login']")
    assert outbox_count(page) == 3
    page.click("#banner a[href='#/login']")
    page.fill("#password", "fieldcase-demo")  # the username is remembered
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#case-list .case-row")  # back in the app; syncing resumes
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-empty", timeout=60000)
    assert_synced_once(live)


def test_captive_portal_answer_leaves_items_queued(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    portal = "<html><body>Welcome to Station Wi-Fi. Please log in.</body></html>"
    answered: list[str] = []

    def captive(route) -> None:  # type: ignore[no-untyped-def]
        answered.append(route.request.url)
        route.fulfill(status=200, body=portal, content_type="text/html")

    queue_a_check(page, phone, live, before_online=lambda: page.route("**/api/**", captive))
    page.click("#sync-now")
    wait_until(page, lambda: answered)
    page.wait_for_function(WAITING)
    assert outbox_count(page) == 3
    assert server_rows(live) == ([], [])
    page.unroute("**/api/**")
    page.click("#sync-now")
    page.wait_for_selector("#outbox-empty", timeout=60000)
    assert_synced_once(live)
