"""The office imports a 12345 hotline sheet in the app, at a desk (1280 px): uploads the
platform's export, reads the preview (each bad row with its reason, nothing written yet),
maps a category the source's table does not know from the preview, confirms after a
confirm step, sees what was created, and opens a new case that repeats an earlier
complaint. Cell text is hostile (markup, formulas): none of it becomes an element."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook

from server.extensions import db
from server.models import Case
from tests.e2e.conftest import LiveServer
from tests.e2e.test_review_app import desk, shot

DESK_1280 = {"width": 1280, "height": 800}
HEADERS = ["工单编号", "来电时间", "被投诉对象", "诉求内容", "诉求地址", "来电人", "联系电话",
           "诉求类别", "承办单位"]
UNKNOWN = "夜间施工扰民"  # a category name the 12345 source's table does not know yet
HOSTILE = '<img src=x onerror="window.__pwned=1" data-pwn="subject">'


def make_sheet(path: Path) -> dict[str, Any]:
    """A 12345-style export: a title row above the header, good rows, rows each bad in one
    way, a reference twice, an unknown category, a row repeating the demo bar's complaint
    (same address and category, same phone), hostile text. Returns what the preview says."""
    now = datetime.now()
    when = (now - timedelta(hours=2)).strftime("%Y/%m/%d %H:%M")
    book = Workbook()
    sheet = book.active
    sheet.append(["12345政务服务便民热线工单导出"])
    sheet.append(HEADERS)
    good = [
        ["GD2026-0001", when, "锦绣花园空调外机噪声", "夜间空调外机噪声大", "东湖路12号锦绣花园",
         "赵先生", 13800001111, "社会生活噪声", "东湖街道"],
        ["GD2026-0002", when, HOSTILE, "=HYPERLINK(\"http://evil\",\"点我\")", "东湖路20号",
         "钱女士", "13800002222", "餐饮油烟", "东湖街道"],
        ["GD2026-0003", when, "夜色酒吧又在深夜放音乐", "酒吧深夜音响声音很大",
         "东湖路88号夜色酒吧", "张先生", "13812341234", "社会生活噪声", "东湖街道"],
        ["GD2026-0004", when, "某工地深夜打桩", "凌晨打桩", "东湖大道300号工地",
         "孙先生", "13800004444", UNKNOWN, "东湖街道"],
        ["GD2026-0005", when, "另一工地夜间施工", "夜间施工", "东湖大道310号工地",
         "李先生", "13800005555", UNKNOWN, "东湖街道"],
    ]
    bad = [
        ["GD2026-0006", "下周二", "日期不是日期", "x", "东湖路1号", "周先生", "13800006666",
         "社会生活噪声", "东湖街道"],
        ["GD2026-0007", when, "电话有字母", "x", "东湖路2号", "吴先生", "1380000ABCD",
         "社会生活噪声", "东湖街道"],
        ["GD2026-0001", when, "编号重复", "x", "东湖路3号", "郑先生", "13800007777",
         "社会生活噪声", "东湖街道"],
    ]
    for row in good + bad:
        sheet.append(row)
    book.save(path)
    return {"rows": len(good) + len(bad), "new_after_mapping": len(good), "invalid_before": 5,
            "bad": {8: "received_at", 9: "complainant_phone", 10: "external_ref"}}


def count_of(page: Any, which: str) -> int:
    return int(page.text_content(f"#import-summary [data-count='{which}']"))


def test_office_imports_a_12345_sheet(browser: Any, live: LiveServer, tmp_path: Path) -> None:
    path = tmp_path / "12345导出.xlsx"
    expected = make_sheet(path)
    errors: list[str] = []
    with desk(browser, live, viewport=DESK_1280, errors=errors) as page:
        page.click("#nav a[href='#/import']")
        page.wait_for_selector("#import-form")
        assert page.title().startswith("导入工单")
        page.select_option("#import-source", "hotline_12345")
        page.set_input_files("#import-file", str(path))
        page.click("#import-upload")
        page.wait_for_selector("#import-summary")

        # The preview: every row, the bad ones with their reasons; nothing written yet.
        assert count_of(page, "all") == expected["rows"]
        assert count_of(page, "invalid") == expected["invalid_before"]
        with live.app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)
                                     .where(Case.intake_source == "hotline_12345")) == 0
            db.session.remove()
        for row, field in expected["bad"].items():
            line = page.locator(f"#rows-table tr[data-row='{row}']")
            assert line.get_attribute("data-status") == "invalid"
            assert line.locator(".reasons li").count() >= 1, field
            assert "import." not in line.inner_text()  # words, never a raw code
        # The header mapping as the source recognised it.
        assert page.input_value("#import-mapping select[data-header='工单编号']") == "external_ref"
        # Hostile cell text is text.
        assert page.locator("[data-pwn]").count() == 0
        assert page.evaluate("window.__pwned") is None
        assert HOSTILE in page.inner_text("#rows-table")

        # Only the invalid rows, by the status filter.
        page.click("#import-summary .count-filter[data-filter='invalid']")
        page.wait_for_function("[...document.querySelectorAll('#rows-table tbody tr')]"
                               ".every((tr) => tr.dataset.status === 'invalid')")
        page.select_option("#row-filter", "")

        shot(page, "import-unknown-1280.png", full_page=True)

        # The unknown category, mapped from the preview: saved to the source, rows valid.
        unknown = page.locator(f"#import-unknown .unknown-row[data-raw='{UNKNOWN}']")
        assert unknown.locator("td.n").inner_text() == "2"
        unknown.locator("select").select_option("noise_construction")
        unknown.locator("button.map-value").click()
        page.wait_for_function(
            f"!document.querySelector(\"#import-unknown .unknown-row[data-raw='{UNKNOWN}']\")")
        assert count_of(page, "new") == expected["new_after_mapping"]
        assert count_of(page, "invalid") == expected["invalid_before"] - 2
        page.locator("#import-summary").scroll_into_view_if_needed()
        shot(page, "import-preview-1280.png")
        shot(page, "import-preview-1280-full.png", full_page=True)

        # In English too, the preview as the server keeps it (its address is kept): no keys.
        page.click("#lang")
        page.wait_for_selector("#import-confirm-button:has-text('Import 5 cases')")
        assert "imp" not in page.inner_text("#import-summary")
        assert "Required fields" not in page.inner_text("#view")
        page.click("#lang")
        page.wait_for_selector("#import-confirm-button:has-text('导入 5 件')")

        # Confirm, after the confirm step.
        button = page.locator("#import-confirm-button")
        assert button.inner_text().strip() == f"导入 {expected['new_after_mapping']} 件"
        button.click()
        page.wait_for_selector("#import-ask")
        page.click("#import-yes")
        page.wait_for_selector("#import-result")
        assert page.inner_text("#result-created").strip() == str(expected["new_after_mapping"])
        assert page.locator("#import-new-cases a").count() == expected["new_after_mapping"]
        shot(page, "import-result-1280.png")

        with live.app.app_context():
            imported = dict(db.session.execute(
                sa.select(Case.external_ref, Case.id).where(Case.intake_source == "hotline_12345")
                .where(Case.external_ref.is_not(None))).all())
            formula = db.session.scalar(sa.select(Case.description)
                                        .where(Case.external_ref == "GD2026-0002"))
            db.session.remove()
        assert set(imported) == {f"GD2026-000{n}" for n in range(1, 6)}
        assert formula.startswith("=HYPERLINK")  # stored as the text it was

        # Confirming again is harmless: the same answer, no second set of cases.
        page.reload()
        page.wait_for_selector("#import-result")
        assert page.inner_text("#result-created").strip() == str(expected["new_after_mapping"])

        # The new case that repeats the bar's complaint.
        page.click(f"#import-new-cases a[href='#/case/{imported['GD2026-0003']}']")
        page.wait_for_selector(".case-page, #timeline", state="attached")
        assert "夜色酒吧又在深夜放音乐" in page.inner_text("#view")
        shot(page, "import-repeat-case-1280.png")
    assert errors == []
