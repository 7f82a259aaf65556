"""The full noise record on the check screen (390 px, night mode): folded under the one
figure of a simple reading, expanded on demand, its lists from the server's rules data,
the photo of the meter linked by its client id, and the server's judgement shown back:
valid for enforcement or not (with why), the verdict and the rule that decided it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import login as api_login
from tests.e2e.helpers import PHOTOS, bar_case_id, login, open_case

SHOTS = Path("/tmp/shots")


def night_mode(page: Any) -> None:
    page.evaluate("localStorage.setItem('fieldcase.red', '1')")
    page.reload()
    page.wait_for_selector("body.red")
    page.wait_for_selector("#case-list .case-row")  # the list drawn again, as after login


def visits_of(live: Any, case_id: str) -> list[dict]:
    client = api_login(live.app, "inspector", "fieldcase-demo")
    answer = client.get(f"/api/cases/{case_id}/visits")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["items"]


def start_check(page: Any, reading: str) -> None:
    page.click("#start-check")
    page.wait_for_selector("#check-form")
    page.check("input[name=kind][value=night_check]")
    page.fill("#value_dba", reading)
    page.select_option("#zone_class", "1")
    page.select_option("#period", "night")


def test_full_record_expanded_filled_and_judged_by_the_server(phone, live):  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page = phone.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page)
    night_mode(page)
    case_id = bar_case_id(live)
    open_case(page, case_id)
    start_check(page, "58")
    # Folded: the simple case is one figure; the record's fields are out of the way.
    assert page.locator("#full-record").get_attribute("open") is None
    assert not page.locator("#nr_meter_model").is_visible()
    page.click("#full-record-toggle")
    page.wait_for_selector("#nr_meter_model", state="visible")
    # The lists are the server's rules vocabulary, not a copy in the app.
    rules = page.evaluate("fetch('/api/standards/noise').then(r => r.json())")["rules"]["vocab"]
    for select, name in (("#nr_position", "positions"), ("#nr_noise_type", "noise_types"),
                         ("#nr_meter_class", "meter_classes"), ("#nr_windows", "windows")):
        values = page.locator(f"{select} option").evaluate_all(
            "os => os.map(o => o.value).filter(Boolean)")
        assert values == [v["value"] for v in rules[name]], select

    page.fill("#nr_meter_model", "AWA5688")
    page.fill("#nr_meter_serial", "00321")
    page.select_option("#nr_meter_class", "2")
    page.fill("#nr_calibrator_model", "AWA6221A")
    page.fill("#nr_calibrator_serial", "1102")
    page.fill("#nr_cal_before", "93.8")
    page.fill("#nr_cal_after", "94.0")
    assert "0.2 dB" in page.locator("#drift").inner_text()
    page.select_option("#nr_position", "boundary_outdoor")
    assert page.locator("#indoor-fields").is_hidden()
    page.select_option("#nr_precipitation", "false")
    page.fill("#nr_wind", "1.5")
    page.click("#full-record [data-duration='600']")
    page.select_option("#nr_noise_type", "frequent")
    page.fill("#nr_lmax", "62")
    # A background above the reading is refused on the phone, as the server would.
    page.fill("#nr_background", "70")
    page.click("#save-check")
    page.wait_for_selector("#toast:not([hidden])")
    assert "背景噪声不能高于测量值" in page.locator("#toast").inner_text()
    assert page.locator("#check-form").count() == 1
    page.fill("#nr_background", "45")
    # The photo of the meter's display, taken from this section, linked by its client id.
    page.set_input_files("#meter-photo-input", str(PHOTOS[0]))
    page.wait_for_selector("#meter-photo-state[data-linked='1']")
    photo_id = page.locator("#meter-photo-state").get_attribute("data-photo-id")
    page.wait_for_function("document.querySelectorAll('#photos .photo').length === 1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#full-record").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "noise_record_390_night.png"))
    page.locator("#full-record").screenshot(path=str(SHOTS / "noise_record_390_night_section.png"))

    page.click("#save-check")
    page.wait_for_selector("#start-check")
    block = page.locator("#visits .measurement[data-record=full]")
    block.wait_for(timeout=60000)
    [visit] = visits_of(live, case_id)
    [m] = visit["measurements"]
    assert m["record"] == "full"
    assert m["meter"] == {"model": "AWA5688", "serial": "00321", "class": "2"}
    assert (m["calibration_before_db"], m["calibration_after_db"]) == (93.8, 94.0)
    assert (m["duration_s"], m["noise_type"], m["lmax_dba"], m["background_dba"]) \
        == (600, "frequent", 62, 45)
    assert m["weather"] == {"precipitation": False, "wind_ms": 1.5}
    assert m["meter_photo_client_id"] == photo_id
    assert m["valid_for_enforcement"] is True, m["invalid_reasons"]
    verdict = m["verdict"]
    assert verdict["exceeded"] is True
    # The page shows the server's answer as it is.
    assert block.get_attribute("data-valid") == "true"
    text = block.inner_text()
    assert "完整记录" in text and "可作为执法依据" in text and "超标" in text
    page.evaluate("document.querySelector('#visits').scrollIntoView()")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "noise_verdict_390_night.png"))
    rule = block.locator(".rule")
    assert rule.get_attribute("data-rule") == verdict["rule"]["code"]
    assert verdict["rule"]["text"]["zh"] in rule.inner_text()
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-empty", timeout=60000)
    [m] = visits_of(live, case_id)[0]["measurements"]
    assert m["meter_photo"]["evidence_id"]  # the photo reached the server, on the same case
    assert errors == []


def test_a_one_figure_reading_stays_simple_and_is_labelled_so(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    login(page)
    case_id = bar_case_id(live)
    open_case(page, case_id)
    start_check(page, "52")
    page.click("#save-check")
    page.wait_for_selector("#start-check")
    block = page.locator("#visits .measurement[data-record=simple]")
    block.wait_for(timeout=60000)
    [m] = visits_of(live, case_id)[0]["measurements"]
    assert m["record"] == "simple" and m["valid_for_enforcement"] is False
    text = block.inner_text()
    assert "简易读数" in text and "不能作为执法依据" in text
    reasons = block.locator(".reasons li").evaluate_all("ls => ls.map(l => l.dataset.code)")
    assert reasons == [r["code"] for r in m["invalid_reasons"]]
