"""The microphone estimate: recorded beside the meter reading, labelled with the phone
model and calibration, and never judged against the limit."""

from __future__ import annotations

from tests.e2e.conftest import CHROMIUM, FLAGS, HERE
from tests.e2e.helpers import bar_case_id, login, nudge_until, open_case, server_rows

FAKE_MIC = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def test_estimate_is_kept_but_never_counts(playwright_driver, live, tmp_path):  # type: ignore[no-untyped-def]
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "mic"), executable_path=CHROMIUM, headless=True, args=FLAGS + FAKE_MIC,
        bypass_csp=True,  # see conftest.CSP_NOTE
        viewport={"width": 390, "height": 844}, base_url=live.url, geolocation=HERE,
        permissions=["geolocation", "microphone"])
    context.set_default_timeout(30000)
    page = context.new_page()
    login(page)
    open_case(page, bar_case_id(live))
    page.click("#start-check")
    page.fill("#value_dba", "58")
    page.select_option("#zone_class", "1")
    page.select_option("#period", "night")
    page.click("details:has(#calibration) > summary")  # the estimate, not the full record
    page.fill("#calibration", "-3")
    page.click("#mic")
    page.wait_for_function("document.querySelector('#mic-level').textContent.includes('dB(A)')")
    page.click("#mic")  # stop
    page.click("#save-check")
    page.wait_for_selector("#start-check")
    page.goto("/#/outbox")
    nudge_until(page, "document.querySelector('#outbox-empty') !== null")
    [visit], _ = server_rows(live)
    meter, estimate = sorted(visit.measurements, key=lambda m: m.source)
    assert (meter.source, meter.value_dba, meter.exceeded) == ("meter", 58, True)
    assert estimate.source == "phone_estimate"
    assert estimate.exceeded is None and estimate.limit_dba == 45
    assert estimate.device and estimate.calibration_offset_db == -3
    context.close()
