"""A refused check is mended, not stuck (390 px): the server refuses a night check for a
negative background reading (as an older app queued it); the outbox names the field, the
inspector opens the check, corrects it and saves; it is sent again under the same client
id, stored once, its photos follow it, and the phone showed the verdict the server made."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.conftest import login as api_login
from tests.e2e.helpers import (
    PHOTOS,
    bar_case_id,
    login,
    open_case,
    record_night_check,
    server_rows,
    wait_for_service_worker,
)

SHOTS = Path("/tmp/shots")

# The queued check, changed as an app without the served input rules would have saved it.
SPOIL = """async () => {
  const outbox = await import('/js/outbox.js');
  const [visit] = (await outbox.items()).filter((i) => i.kind === 'visit');
  const [m] = visit.payload.measurements;
  await outbox.updateItem(visit.id, { payload: { ...visit.payload,
    measurements: [{ ...m, background_dba: -3 }] } });
  return [visit.id, visit.payload.location, visit.payload.ended_at];
}"""

# The inspector mends the check later, at the office (a fix a few km away).
OFFICE = {"latitude": 24.36, "longitude": 109.45, "accuracy": 5}


def test_an_edited_refused_check_syncs_once(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    login(page)
    wait_for_service_worker(page)
    case_id = bar_case_id(live)
    open_case(page, case_id)
    phone.set_offline(True)
    record_night_check(page, PHOTOS)
    visit_id, site, ended_at = page.evaluate(SPOIL)
    assert site and ended_at, "taken on site, with a fix"
    phone.set_offline(False)

    page.goto("/#/outbox")
    page.click("#sync-now")
    page.wait_for_selector(f"[data-outbox-id='{visit_id}'] [data-mend]", timeout=60000)
    visits, evidence = server_rows(live)
    assert (visits, evidence) == ([], []), "refused whole; the photos wait for their check"
    page.wait_for_function("document.querySelectorAll("
                           "'[data-kind=evidence] [data-state=waiting]').length === 2")
    named = page.inner_text(f"[data-outbox-id='{visit_id}'] li[data-field=background_dba]")
    assert "背景噪声" in named and "0 至 200" in named, named  # in words, with the bound
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "outbox_refused_390.png"), full_page=True)

    phone.set_geolocation(OFFICE)
    page.click(f"[data-outbox-id='{visit_id}'] [data-mend]")
    page.wait_for_selector("#refusal li[data-field=background_dba]")
    # Opened a second time (the draft saves on opening): it keeps its end time.
    page.goto("/#/outbox")
    page.wait_for_selector(f"[data-outbox-id='{visit_id}'][data-item-state=draft]")
    page.goto(f"/#/check/{case_id}/{visit_id}")
    page.wait_for_selector("#refusal li[data-field=background_dba]")
    assert page.get_attribute("#nr_background", "aria-invalid") == "true"
    assert page.input_value("#nr_background") == "-3"
    assert page.input_value("#findings") == "酒吧音响外放，住户卧室内可闻"  # nothing else lost
    # The photos are drawn from the phone's store after the form: wait for both.
    page.wait_for_function("document.querySelectorAll('#photos .photo').length >= 2")
    assert page.locator("#photos .photo").count() == 2
    page.fill("#nr_background", "50")
    # The phone's verdict: 58 over a background of 50 (8 dB: -1), not valid for
    # enforcement (a record lacking most of what GB 22337 asks), so never a red 超标.
    page.wait_for_selector("#judgement .verdict")
    assert page.inner_text("#judgement .corrected").startswith("57")
    assert page.locator("#judgement .verdict.exceeded").count() == 0
    shown = page.get_attribute("#judgement .verdict", "data-exceeded")
    assert page.get_attribute("#judgement .verdict", "data-indicative") == "true"
    page.screenshot(path=str(SHOTS / "check_mend_390.png"), full_page=True)
    page.click("#save-check")
    page.wait_for_selector("#start-check")

    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-empty", timeout=60000)
    visits, evidence = server_rows(live)
    assert [v.client_id for v in visits] == [visit_id], "stored once, under its client id"
    assert len(evidence) == 2 and all(e.state == "stored" for e in evidence)
    assert {e.visit_id for e in evidence} == {visits[0].id}, "the photos follow their check"
    # Where and when it was done on site, not where and when it was mended.
    assert (visits[0].lat, visits[0].lon) == (site["lat"], site["lon"])
    assert visits[0].ended_at == datetime.fromisoformat(ended_at.replace("Z", "+00:00"))
    client = api_login(live.app, "inspector", "fieldcase-demo")
    [served] = client.get(f"/api/cases/{case_id}/visits").get_json()["items"]
    [m] = served["measurements"]
    assert (m["background_dba"], m["corrected_dba"], m["valid_for_enforcement"]) == (50, 57, False)
    assert shown == str(m["verdict"]["exceeded"]).lower()
    assert served["findings"] == "酒吧音响外放，住户卧室内可闻"
