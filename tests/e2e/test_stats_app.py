"""Rates and counts in the browser (issue 21): an office user opens #/stats at 1280 px and
sees the closure rate with its numerator, denominator and definition as the API gives
them, a chart drawn on its canvas, and a data table whose count is the API's; at 390x844
the page is no wider than the phone."""

from __future__ import annotations

from typing import Any

from tests.conftest import login as api_login
from tests.e2e.conftest import LiveServer
from tests.e2e.test_review_app import PASSWORD, desk

# Pixels a chart drew on its canvas (not transparent): a blank canvas has none.
INKED = """(sel) => { const c = document.querySelector(sel);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""


def test_office_reads_rates_charts_and_tables(browser: Any, live: LiveServer) -> None:
    errors: list[str] = []
    with desk(browser, live, "reviewer", errors=errors) as page:
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

        # A phone: nothing wider than its screen.
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        page.wait_for_selector("#stats-body[data-drawn]")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert errors == []
