"""Rates and counts in the browser (issue 21): an office user opens #/stats at 1280 px and
sees the closure rate with its numerator, denominator and definition as the API gives
them, a chart drawn on its canvas, and a data table whose count is the API's; at 390x844
the page is no wider than the phone."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from tests.conftest import login as api_login
from tests.e2e.conftest import LiveServer
from tests.e2e.test_review_app import PASSWORD, desk, shot

# Pixels a chart drew on its canvas (not transparent): a blank canvas has none.
INKED = """(sel) => { const c = document.querySelector(sel);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
# Ledger jobs this device remembers (one entry per user who asked for one).
REMEMBERED_JOBS = ("Object.keys(localStorage)"
                   ".filter(k => k.startsWith('fieldcase.ledgerJob.')).length")


def test_office_reads_rates_charts_and_tables(browser: Any, live: LiveServer) -> None:
    errors: list[str] = []
    with desk(browser, live, "reviewer", errors=errors, accept_downloads=True) as page:
        with page.expect_response(lambda r: "/api/stats?" in r.url) as asked:
            page.goto("/#/stats")
        query = asked.value.url.split("?", 1)[1]
        page.wait_for_selector("#stats-body[data-drawn]")

        # The same figures, asked of the API apart from the page.
        office = api_login(live.app, "reviewer", PASSWORD)
        answer = office.get(f"/api/stats?{query}")
        assert answer.status_code == 200, answer.get_json()
        stats = answer.get_json()
        closure = next(r for r in stats["rates"] if r["code"] == "closure_rate")
        assert closure["numerator"] > 0  # the demo's approved cases

        tile = page.locator("#rate-closure_rate")
        assert tile.locator(".rate-numerator").inner_text() == str(closure["numerator"])
        assert tile.locator(".rate-denominator").inner_text() == str(closure["denominator"])
        assert tile.locator(".rate-percent").inner_text() == closure["percent"]
        assert tile.locator(".rate-num-means").inner_text() == closure["numerator_means"]["zh"]
        assert tile.locator(".rate-den-means").inner_text() == closure["denominator_means"]["zh"]

        # A chart on its canvas, named for a screen reader; its numbers in a real table.
        canvas = "#canvas-by_category"
        assert page.locator(canvas).get_attribute("role") == "img"
        assert page.locator(canvas).get_attribute("aria-label")
        assert page.evaluate(INKED, canvas) > 500
        top = stats["counts"]["by_category"][0]
        page.click("#table-by_category summary")
        row = page.locator(f"#table-by_category tbody tr[data-key='{top['key']}']")
        assert row.locator("td.n").inner_text() == str(top["count"])
        assert row.locator("th").inner_text() == top["label"]["zh"]
        total = page.locator("#table-by_category tfoot td.n").inner_text()
        assert total == str(sum(c["count"] for c in stats["counts"]["by_category"]))

        # The ledgers for the same period and unit.
        href = page.locator("#ledger-ledgerXlsx").get_attribute("href")
        assert href.startswith("/api/reports/ledger.xlsx?from=")
        # Each made as a job on the server: its panel, then its file (hashed as shown);
        # remembered on this device for this user, so it is shown again after leaving.
        with page.expect_request(lambda r: r.url.endswith("/api/jobs") and r.method == "POST"
                                 ) as asked_job:
            page.click("#ledger-revisitsXlsx")
        assert asked_job.value.post_data_json["kind"] == "revisit_ledger"
        assert asked_job.value.post_data_json["params"]["from"] == stats["period"]["from"]
        page.wait_for_selector("#ledger-job[data-state='done'] #job-download")
        page.locator("#ledgers").scroll_into_view_if_needed()
        shot(page, "stats_1280_ledger_job_done.png")
        assert page.inner_text("#job-label") == "回访台账（XLSX）"
        shown_name = page.inner_text("#job-file").strip()
        assert shown_name.startswith("回访台账-") and shown_name.endswith(".xlsx")
        with page.expect_download() as got:
            page.click("#job-download")
        body = Path(got.value.path()).read_bytes()
        assert hashlib.sha256(body).hexdigest() == page.inner_text("#job-sha").strip()
        sheet = load_workbook(io.BytesIO(body)).worksheets[0]
        assert sheet.cell(row=3, column=1).value == "序号"
        assert page.evaluate(REMEMBERED_JOBS) == 1
        page.goto("/#/settings")
        page.wait_for_selector("#ledger-job", state="detached")
        page.goto("/#/stats")
        page.wait_for_selector("#ledger-job[data-state='done'] #job-download")
        page.click("#job-close")
        page.wait_for_selector("#ledger-job", state="hidden")
        assert page.evaluate(REMEMBERED_JOBS) == 0

        # A phone: nothing wider than its screen.
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        page.wait_for_selector("#stats-body[data-drawn]")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        page.click("#ledger-repeatsXlsx")  # a ledger's panel fits the phone too
        page.wait_for_selector("#ledger-job[data-state='done'] #job-download")
        page.locator("#ledger-job").scroll_into_view_if_needed()
        shot(page, "stats_390_ledger_job_done.png")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
        # Logging out forgets the jobs followed: the next user of this phone finds none.
        assert page.evaluate(REMEMBERED_JOBS) == 1
        page.goto("/#/settings")
        page.click("#logout")
        page.wait_for_selector("#login-form")
        assert page.evaluate(REMEMBERED_JOBS) == 0
    assert errors == []
