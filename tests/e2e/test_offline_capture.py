"""The night-check scenario: captured offline, kept across a reload, synced once."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import HERE
from tests.e2e.helpers import (
    PHOTOS,
    bar_case_id,
    login,
    open_case,
    outbox_count,
    record_night_check,
    server_rows,
    sha256,
    wait_for_service_worker,
)


def test_offline_night_check_syncs_once(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page)
    wait_for_service_worker(page)
    case_id = bar_case_id(live)
    open_case(page, case_id)

    phone.set_offline(True)
    record_night_check(page, PHOTOS)
    page.reload()  # still offline: the service worker serves the shell
    assert outbox_count(page) == 3  # the visit and two photos, still on the phone
    states = page.locator("#outbox-list [data-state]")
    assert states.count() == 3
    assert {states.nth(i).get_attribute("data-state") for i in range(3)} <= {"saved", "waiting"}
    assert server_rows(live) == ([], [])

    phone.set_offline(False)
    page.click("#sync-now")
    page.wait_for_selector("#outbox-empty", timeout=60000)

    visits, evidence = server_rows(live)
    assert len(visits) == 1
    visit = visits[0]
    assert visit.kind == "night_check" and visit.case_id == case_id
    assert sorted(visit.participants) == ["culture_market", "police"]
    [reading] = visit.measurements
    assert (reading.value_dba, reading.limit_dba, reading.exceeded) == (58, 45, True)
    assert len(evidence) == 2
    assert all(e.state == "stored" and e.visit_id == visit.id for e in evidence)
    assert sorted(e.sha256 for e in evidence) == sorted(sha256(p) for p in PHOTOS)
    for e in evidence:
        assert e.geo_lat == pytest.approx(HERE["latitude"], abs=1e-6)
        assert e.geo_lon == pytest.approx(HERE["longitude"], abs=1e-6)
        assert e.geo_accuracy_m == pytest.approx(HERE["accuracy"])
    assert errors == []


# The phone's storage full for the next final save of a check (IndexedDB refuses the
# write with QuotaExceededError), then free again.
FULL_FOR_ONE_SAVE = """(() => {
  const put = IDBObjectStore.prototype.put;
  window.fullFor = 1;
  IDBObjectStore.prototype.put = function (value, ...rest) {
    if (this.name === "outbox" && value?.kind === "visit" && value?.state === "queued"
        && window.fullFor > 0) {
      window.fullFor -= 1;
      throw new DOMException("The phone is full", "QuotaExceededError");
    }
    return put.call(this, value, ...rest);
  };
})()"""


def test_a_check_a_full_phone_could_not_save_is_saved_on_the_next_tap(phone, live):  # type: ignore[no-untyped-def]
    """Save on a full phone says the check is NOT saved and keeps the screen; space
    freed, the next tap saves it (the failed write used to stop every write after it:
    Save then did nothing, without a word)."""
    page = phone.new_page()
    login(page)
    open_case(page, bar_case_id(live))
    page.click("#start-check")
    page.wait_for_selector("#check-form")
    page.fill("#findings", "现场未闻音响外放")
    page.evaluate(FULL_FOR_ONE_SAVE)
    page.click("#save-check")
    page.wait_for_selector("#toast[data-kind=error]:not([hidden])")
    said = page.locator("#toast").inner_text()
    assert "未保存" in said and "QuotaExceededError" in said, said
    assert page.locator("#check-form").count() == 1  # still on the check, as typed
    page.click("#save-check")
    page.wait_for_selector("#start-check")  # saved: back on the case
    page.goto("/#/outbox")
    page.click("#sync-now")
    page.wait_for_selector("#outbox-empty", timeout=60000)
    [visit], _ = server_rows(live)
    assert visit.findings == "现场未闻音响外放"
