"""The admin connects a hotline platform in the browser (desk width, 1280x800): sets the
12345 line's default unit, makes a token that is shown once with a copy button, the
platform pushes a case with it, and once revoked (after a confirm) the token is refused.
Screenshot: /tmp/shots/admin-platforms.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from server.extensions import db
from server.models import IntakeSource
from tests.e2e.helpers import login

SHOTS = Path("/tmp/shots")
BODY = {"external_ref": "GD-E2E-1", "received_at": "2026-11-16T20:05:00+08:00",
        "subject": "夜色KTV深夜噪声扰民", "address": "东湖路88号", "category": "社会生活噪声"}


def test_admin_makes_copies_and_revokes_a_platform_token(browser: Any, live: Any) -> None:  # type: ignore[no-untyped-def]
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=live.url,
                                  bypass_csp=True, locale="zh-CN",
                                  permissions=["clipboard-read", "clipboard-write"])
    context.set_default_timeout(30000)
    with live.app.app_context():  # the demo sends its platforms' cases to the district
        db.session.execute(sa.update(IntakeSource).where(IntakeSource.code == "hotline_12345")
                           .values(default_unit_id=None))
        db.session.commit()
        db.session.remove()
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, "admin")
        page.goto("/#/admin")
        card = page.locator("#admin-platforms .platform[data-source=hotline_12345]")
        card.wait_for()
        assert "12345政务服务便民热线" in card.inner_text()
        assert card.locator(".notice").count() == 1  # no default unit yet

        card.locator("select[name=default_unit_id]").select_option(index=1)
        card.locator(".platform-settings button[type=submit]").click()
        page.wait_for_function("""() => !document.querySelector(
            '#admin-platforms .platform[data-source=hotline_12345] .notice')""")

        card.locator(".new-token input[name=label]").fill("市12345平台")
        card.locator(".new-token button[type=submit]").click()
        value = card.locator(".token-value")
        value.wait_for()
        token = value.inner_text().strip()
        assert len(token) >= 43
        assert "只显示这一次" in card.locator(".new-token-shown").inner_text()
        card.locator(".copy-token").click()
        assert page.evaluate("navigator.clipboard.readText()") == token
        row = card.locator(".tokens .token")
        assert row.count() == 1 and token[:8] in row.inner_text()
        assert token not in row.inner_text()  # the list has only its first characters
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "admin-platforms.png"), full_page=True)

        # Our own category's Chinese name needs no table.
        pushed = requests.post(f"{live.url}/api/intake/hotline_12345", timeout=30,
                               json=BODY,
                               headers={"Authorization": f"Bearer {token}"})
        assert pushed.status_code == 201, pushed.text

        page.reload()
        card.wait_for()
        assert "从未使用" not in card.locator(".tokens .token").inner_text()
        page.on("dialog", lambda dialog: dialog.accept())
        card.locator(".revoke-token").click()
        card.locator(".token [data-state=revoked]").wait_for()
        assert card.locator(".revoke-token").count() == 0
        refused = requests.post(f"{live.url}/api/intake/hotline_12345", timeout=30,
                                json={**BODY, "external_ref": "GD-E2E-2"},
                                headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401
        assert not errors, errors
    finally:
        context.close()
