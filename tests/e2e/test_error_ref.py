"""A server error in the app shows its request id (编号 Ref) under the message: the id the
server answered in X-Request-ID and problem+json, and put on its log lines (issue 22)."""

from __future__ import annotations

import re

from tests.e2e.helpers import login

MISSING = "00000000-0000-4000-8000-000000000000"  # on no list, so nothing cached to show


def test_a_server_refusal_shows_its_reference(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    login(page)
    answered: list[str] = []
    page.on("response", lambda r: answered.append(r.headers.get("x-request-id", ""))
            if "/api/cases/" in r.url and r.status == 400 else None)
    # The real server refuses the real request (a NUL in the path is a 400 problem).
    page.route(f"**/api/cases/{MISSING}**",  # the case and what the screen loads with it
               lambda route: route.continue_(url=f"{live.url}/api/cases/x%00y"))
    page.goto(f"/#/case/{MISSING}")
    ref = page.wait_for_selector("[role=alert] .error-ref")
    assert answered and all(re.fullmatch(r"[0-9a-f]{16}", rid) for rid in answered)
    assert ref.inner_text() in {f"编号 Ref: {rid}" for rid in answered}
    # Still readable in night (red) mode: its own colour, not the page's background.
    page.evaluate("document.body.classList.add('red')")
    colour = ref.evaluate("n => getComputedStyle(n).color")
    page.screenshot(path="/tmp/e2e_error_ref.png")
    assert colour not in ("rgb(0, 0, 0)", "rgba(0, 0, 0, 0)")
