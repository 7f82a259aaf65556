"""The public verify page /v/<code> on a phone, under the app's Content-Security-Policy:
a published photo's hash and times, then a chosen file checked against it (一致 / 不一致);
an unknown code says so; a logged-in office user's check goes with the CSRF token."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from server.extensions import db
from server.models import Evidence
from tests.closure_facts import submit_ready
from tests.conftest import SAMPLES, login
from tests.e2e.helpers import bar_case_id
from tests.test_lifecycle import walk
from tests.test_verify import seal_case

SHOTS = Path("/tmp/shots")
PHOTO = SAMPLES / "gps" / "DSCN0010.jpg"
OTHER = SAMPLES / "gps" / "DSCN0012.jpg"


def published_photo(live: Any) -> dict:
    """The bar case handled in full (the inspector's night check and photo on site, the
    revisit), approved and sealed, and its public closure file made, which publishes it."""
    case_id = bar_case_id(live)
    with live.app.app_context():
        office = login(live.app, "reviewer", "fieldcase-demo")
        inspector = login(live.app, "inspector", "fieldcase-demo")
        case = office.get(f"/api/cases/{case_id}").get_json()
        if case["status"] == "received":  # the demo's bar case waits to be dispatched
            walk(office, case_id, ("dispatch", {"unit_id": case["unit"]["id"]}))
        walk(inspector, case_id, ("start", {}))
        now = datetime.now(UTC).isoformat()
        stored = submit_ready(
            office, inspector, login(live.app, "revisit", "fieldcase-demo"), case_id,
            PHOTO.read_bytes(), geo={**case["location"], "accuracy_m": 8, "fixed_at": now,
                                     "source": "gps"})
        seal_case(case_id, [stored["id"]], inspector="inspector", password="fieldcase-demo")
        code = db.session.scalar(sa.select(Evidence.short_code).filter_by(id=stored["id"]))
        db.session.remove()
    return {"code": code, "sha256": hashlib.sha256(PHOTO.read_bytes()).hexdigest()}


def phone_page(browser: Any, live: Any, refused: list[str]) -> tuple[Any, Any]:
    # The policy enforced (no bypass_csp): only selectors here, no eval'd predicates.
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="zh-CN", timezone_id="Asia/Shanghai",
                                  base_url=live.url)
    context.set_default_timeout(30000)
    page = context.new_page()
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)
    return context, page


def choose(page: Any, path: Path, state: str) -> str:
    page.set_input_files("#file", str(path))
    page.wait_for_selector(f"#verdict[data-state='{state}']")
    return page.inner_text("#verdict")


def test_anyone_checks_a_published_photo_on_a_phone(browser, live) -> None:  # type: ignore[no-untyped-def]
    photo = published_photo(live)
    refused: list[str] = []
    context, page = phone_page(browser, live, refused)
    SHOTS.mkdir(exist_ok=True)

    page.goto(f"/v/{photo['code'].lower().replace('-', '')}")  # as typed off paper
    page.wait_for_selector("#found:not([hidden])")
    assert page.inner_text("#sha256") == photo["sha256"]
    assert page.is_visible("#case-closed") and "案件已办结" in page.inner_text("#case-closed")
    assert "年" in page.inner_text("#captured-at") and "年" in page.inner_text("#received-at")
    assert not page.is_visible("#full-record")
    page.screenshot(path=str(SHOTS / "verify_390.png"), full_page=True)

    text = choose(page, PHOTO, "match")
    assert text.startswith("一致")
    assert page.inner_text("#file-sha256") == photo["sha256"]
    page.screenshot(path=str(SHOTS / "verify_390_match.png"), full_page=True)
    text = choose(page, OTHER, "mismatch")
    assert text.startswith("不一致")
    assert page.inner_text("#file-sha256") == hashlib.sha256(OTHER.read_bytes()).hexdigest()
    page.screenshot(path=str(SHOTS / "verify_390_mismatch.png"), full_page=True)
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.goto("/v/ZZZZ-ZZZZ")
    page.wait_for_selector("#missing:not([hidden])")
    assert "未找到" in page.inner_text("#missing") and not page.is_visible("#found")
    page.screenshot(path=str(SHOTS / "verify_390_not_found.png"), full_page=True)
    context.close()
    assert refused == []


def test_a_logged_in_office_user_checks_with_the_csrf_token(browser, live) -> None:  # type: ignore[no-untyped-def]
    photo = published_photo(live)
    refused: list[str] = []
    context, page = phone_page(browser, live, refused)
    # Logged in through the API (the cookie is the context's), not the app: its service
    # worker is not part of this page.
    answer = context.request.post(f"{live.url}/api/auth/login",
                                  data={"username": "reviewer", "password": "fieldcase-demo"})
    assert answer.ok
    page.goto(f"/v/{photo['code']}")
    page.wait_for_selector("#found:not([hidden])")
    assert page.is_visible("#full-record") and page.is_visible("#case-closed")
    assert page.inner_text("#sha256") == photo["sha256"]
    assert choose(page, PHOTO, "match").startswith("一致")
    assert choose(page, OTHER, "mismatch").startswith("不一致")
    context.close()
    assert refused == []
