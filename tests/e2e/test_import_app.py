"""The office imports a 12345 hotline export in the app, at a desk (1280 px): uploads the
realistic sheet (tests/intake_sheets.py: a title above a two-row merged header, messy
cells, one row of each bad kind, formulas), reads the preview (each bad row with its
reason, nothing written yet), maps a category the source's table does not know from the
preview, confirms after a confirm step, sees what was created, and opens the new case
that repeats two earlier complaints: its page warns. Cell text is hostile (markup,
formulas): none of it becomes an element."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from openpyxl import load_workbook

from server.extensions import db
from server.models import Case
from tests.conftest import login as api_login
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import ids
from tests.e2e.test_review_app import PASSWORD, STREET, desk, shot
from tests.intake_sheets import FORMULA_TEXT, make_12345_sheet

DESK_1280 = {"width": 1280, "height": 800}
HOSTILE = '<img src=x onerror="window.__pwned=1" data-pwn="content">'
# The source's table as the office left it last time: every category of the sheet but
# 油烟扰民, every unit. The last category is mapped from the preview.
KNOWN = {"噪声污染": "noise_social", "大气污染": "dust", "水污染": "water", "固体废物": "waste"}
UNKNOWN = "油烟扰民"
UNITS = {"城中区生态环境局": None, "城东街道办事处": STREET, "城西执法大队": STREET}


def realistic_sheet(path: Path) -> Any:
    """The realistic export, with one content cell made hostile markup (a platform passes
    on what callers type)."""
    made = make_12345_sheet(path, "xlsx", rows=12, bad=True)
    book = load_workbook(path)
    sheet = book.active
    target = made.ok[1]
    sheet.cell(row=target.row, column=3, value=HOSTILE)
    book.save(path)
    return made


def earlier_complaints(live: LiveServer, made: Any) -> Any:
    """Two complaints already on file from the caller of one of the sheet's rows, days
    before it: that row is a likely repeat, and its case the third complaint."""
    units, _ = ids(live)
    office = api_login(live.app, "reviewer", PASSWORD)
    row = next(e for e in made.ok if e.fields["phone"].startswith("13")
               and e.fields["category"] == "噪声污染")
    for days in (6, 3):
        answer = office.post("/api/cases", json={
            "channel": "hotline_12345", "category": KNOWN[row.fields["category"]],
            "subject": "同一来电人反映夜间噪声", "address": row.fields["address"],
            "description": "夜间噪声扰民", "unit_id": units[STREET],
            "complainant": {"name": "张先生", "phone": row.fields["phone"]},
            "received_at": (row.fields["called_at"] - timedelta(days=days)).isoformat()})
        assert answer.status_code == 201, answer.get_json()
    return row


def source_tables(live: LiveServer) -> None:
    units, _ = ids(live)
    district = next(name for name in units if name != STREET and "街道" not in name)
    office = api_login(live.app, "reviewer", PASSWORD)
    answer = office.put("/api/intake-sources/hotline_12345/mapping", json={"value_maps": {
        "category": KNOWN,
        "unit": {raw: units[name or district] for raw, name in UNITS.items()}}})
    assert answer.status_code == 200, answer.get_json()


def previewed(live: LiveServer, rows: int = 30) -> str:
    """A preview made through the API as the office (for screens that open one by its
    address): a 12345 CSV with good and bad rows."""
    made = make_12345_sheet(Path(live.app.instance_path) / "axe.csv", "csv", rows=rows)
    boundary = "----fieldcase-e2e"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="source"\r\n\r\n'
            f"hotline_12345\r\n--{boundary}\r\nContent-Disposition: form-data; "
            f'name="file"; filename="12345.csv"\r\nContent-Type: text/csv\r\n\r\n'
            ).encode() + made.path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    office = api_login(live.app, "reviewer", PASSWORD)
    answer = office.post("/api/imports", data=body,
                         content_type=f"multipart/form-data; boundary={boundary}")
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def count_of(page: Any, which: str) -> int:
    return int(page.text_content(f"#import-summary [data-count='{which}']"))


def imported_cases(live: LiveServer) -> dict[str, Case]:
    with live.app.app_context():
        found = {c.external_ref: c for c in db.session.scalars(
            sa.select(Case).where(Case.intake_source == "hotline_12345"))}
        db.session.expunge_all()
        db.session.remove()
    return found


def test_office_imports_a_12345_sheet(browser: Any, live: LiveServer, tmp_path: Path) -> None:
    made = realistic_sheet(tmp_path / "城中区12345工单导出.xlsx")
    repeat_row = earlier_complaints(live, made)
    source_tables(live)
    unknown_rows = [e for e in made.ok if e.fields["category"] == UNKNOWN]
    assert unknown_rows
    errors: list[str] = []
    with desk(browser, live, viewport=DESK_1280, errors=errors) as page:
        page.click("#nav a[href='#/import']")
        page.wait_for_selector("#import-form")
        assert page.title().startswith("导入工单")
        page.select_option("#import-source", "hotline_12345")
        page.set_input_files("#import-file", str(made.path))
        page.click("#import-upload")
        page.wait_for_selector("#import-summary")

        # The preview: every row, the bad ones with their reasons; nothing written yet.
        assert count_of(page, "all") == len(made.expected)
        assert count_of(page, "invalid") == len(made.bad) + len(unknown_rows)
        assert count_of(page, "new") == len(made.ok) - len(unknown_rows)
        assert imported_cases(live) == {}
        for bad in made.bad:
            line = page.locator(f"#rows-table tr[data-row='{bad.row}']")
            assert line.get_attribute("data-status") == "invalid", bad
            said = line.locator(".reasons").inner_text()
            assert said.strip(), bad
            assert "import." not in said and "cell." not in said  # words, never a code
        dup = made.bad[-1]
        assert dup.reason == "import.duplicate_in_file"
        assert str(dup.first_row) in page.inner_text(f"#rows-table tr[data-row='{dup.row}']")
        # The two-row header as the source's saved and default headers map it.
        assert page.input_value("#import-mapping select[data-header='工单编号']") == "external_ref"
        assert page.input_value("#import-mapping select[data-header='诉求类别']") == "category"
        # Hostile cell text is text; a formula is shown as the text it was.
        assert page.locator("[data-pwn]").count() == 0
        assert page.evaluate("window.__pwned") is None
        # The likely repeat, flagged before anything is created.
        line = page.locator(f"#rows-table tr[data-row='{repeat_row.row}']")
        assert "疑似重复投诉：已投诉 3 次" in line.inner_text()
        assert count_of(page, "repeat") >= 1

        # Only the invalid rows, by the count's filter; then all again.
        page.click("#import-summary .count-filter[data-filter='invalid']")
        page.wait_for_function("[...document.querySelectorAll('#rows-table tbody tr')]"
                               ".every((tr) => tr.dataset.status === 'invalid')")
        page.select_option("#row-filter", "")
        shot(page, "import-preview-1280.png")
        shot(page, "import-preview-1280-full.png", full_page=True)

        # The unknown category, mapped from the preview: saved to the source, rows valid.
        unknown = page.locator(f"#import-unknown .unknown-row[data-raw='{UNKNOWN}']")
        assert int(unknown.locator("td.n").inner_text()) >= len(unknown_rows)
        unknown.locator("select").select_option("cooking_fumes")
        unknown.locator("button.map-value").click()
        page.wait_for_function(
            f"!document.querySelector(\"#import-unknown .unknown-row[data-raw='{UNKNOWN}']\")")
        assert count_of(page, "new") == len(made.ok)
        assert count_of(page, "invalid") == len(made.bad)
        office = api_login(live.app, "reviewer", PASSWORD)
        listed = office.get("/api/intake-sources").get_json()["items"]
        saved = next(s for s in listed if s["code"] == "hotline_12345")["value_maps"]
        assert saved["category"][UNKNOWN] == "cooking_fumes"
        assert saved["category"]["噪声污染"] == "noise_social"  # the rest of the table kept

        # A column the platform fills but the office does not take: unsaved, the confirm
        # waits; saved, it stays off (the default headers do not bring it back).
        page.select_option("#import-mapping select[data-header='来电人']", "")
        assert page.locator("#import-confirm-button").is_disabled()
        page.click("#save-mapping")
        page.wait_for_function("!document.querySelector('#import-confirm-button')?.disabled")
        assert page.input_value("#import-mapping select[data-header='来电人']") == ""
        assert count_of(page, "new") == len(made.ok)

        # In English too (the preview reopened from its address): no raw keys.
        page.click("#lang")
        page.wait_for_selector(f"#import-confirm-button:has-text('Import {len(made.ok)} cases')")
        assert "imp" not in page.inner_text("#import-summary")
        page.click("#lang")
        page.wait_for_selector(f"#import-confirm-button:has-text('导入 {len(made.ok)} 件')")

        # Confirm, after the confirm step (cancelling first sends nothing).
        page.click("#import-confirm-button")
        page.wait_for_selector("#import-ask")
        page.click("#import-no")
        assert page.locator("#import-ask").count() == 0
        assert imported_cases(live) == {}
        page.click("#import-confirm-button")
        page.click("#import-yes")
        page.wait_for_selector("#import-result")
        assert page.inner_text("#result-created").strip() == str(len(made.ok))
        assert page.inner_text("#result-invalid").strip() == str(len(made.bad))
        assert page.locator("#import-new-cases li").count() == len(made.ok)
        shot(page, "import-result-1280.png")
        cases = imported_cases(live)
        new_case = cases[repeat_row.ref].id
        item = page.locator(f"#import-new-cases li[data-case-id='{new_case}']")
        assert "疑似重复投诉：已投诉 3 次" in item.inner_text()

        assert set(cases) == {e.ref for e in made.ok}
        formula = next(e for e in made.ok if e.fields["content"] == FORMULA_TEXT)
        assert cases[formula.ref].description == FORMULA_TEXT  # stored as the text it was

        # Confirming again is harmless: the same answer, no second set of cases.
        page.reload()
        page.wait_for_selector("#import-result")
        assert page.inner_text("#result-created").strip() == str(len(made.ok))
        again = office.post(f"/api/imports/{page.url.rsplit('/', 1)[-1]}/confirm").get_json()
        assert again["created"] == len(made.ok)
        assert len(imported_cases(live)) == len(made.ok)

        # The new case that repeats the earlier complaints warns on its page.
        page.locator(f"#import-new-cases li[data-case-id='{new_case}'] a").click()
        page.wait_for_selector("#repeat-banner")
        assert "该对象已被投诉 3 次" in page.inner_text("#repeat-headline")
        shot(page, "import-repeat-case-1280.png")

        # The same sheet again: every good row a duplicate, linked to its case; nothing to
        # import.
        page.goto("/#/import")
        page.wait_for_selector("#import-form")
        page.set_input_files("#import-file", str(made.path))
        page.click("#import-upload")
        page.wait_for_selector("#import-summary")
        assert count_of(page, "new") == 0
        assert count_of(page, "duplicate") >= len(made.ok)
        assert page.locator("#import-confirm-button").is_disabled()
        link = page.locator(f"#rows-table tr[data-row='{repeat_row.row}'] a.dup-link")
        assert link.get_attribute("href") == f"#/case/{new_case}"
    assert len(imported_cases(live)) == len(made.ok)
    assert errors == []


def odd_sheet(path: Path, rows: int, start: int = 0) -> Path:
    """A petition-system export: its reference and date under headers platforms use, its
    matter, place and category under headers of its own."""
    import csv

    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["编号", "登记时间", "信访事项", "事发地点", "事项分类"])
        for i in range(start, start + rows):
            writer.writerow([f"XF-{i:06d}", "2026/11/20 09:30", f"反映夜间噪声第{i}件",
                             f"东湖路{i % 300 + 1}号", "噪声" if i % 10 else "不明类别"])
    return path


def upload(page: Any, source: str, path: Path) -> None:
    page.select_option("#import-source", source)
    page.set_input_files("#import-file", str(path))
    page.click("#import-upload")


def test_refusals_a_header_mapped_on_the_spot_and_ten_thousand_rows(
        browser: Any, live: LiveServer, tmp_path: Path) -> None:
    from tests.intake_sheets import make_hostile

    office = api_login(live.app, "reviewer", PASSWORD)
    units, _ = ids(live)
    answer = office.put("/api/intake-sources/petition/mapping", json={
        "value_maps": {"category": {"噪声": "noise_social"}, "unit": {}},
        "default_unit_id": units[STREET]})
    assert answer.status_code == 200, answer.get_json()
    errors: list[str] = []
    with desk(browser, live, viewport=DESK_1280, errors=errors) as page:
        page.goto("/#/import")
        page.wait_for_selector("#import-form")

        # A PDF renamed .xlsx: refused whole, said in words (zh), never a code.
        data, name, code = make_hostile("renamed_pdf")
        (tmp_path / name).write_bytes(data)
        upload(page, "petition", tmp_path / name)
        refusal = page.locator(f"#import-message [data-code='{code}']")
        refusal.wait_for()
        assert "import." not in refusal.inner_text() and refusal.inner_text().strip()
        assert page.locator("#import-summary").count() == 0

        # Columns a case needs under headers nobody recognises: the sheet is refused, its
        # columns offered for mapping here (the recognised ones filled in), and the same
        # file goes up again once the mapping is saved.
        upload(page, "petition", odd_sheet(tmp_path / "信访导出.csv", 20))
        page.wait_for_selector("#import-missing")
        assert page.locator("#import-mapping select.map-select").count() == 5
        shot(page, "import-wrong-header-1280.png")
        assert page.input_value("#import-mapping select[data-header='编号']") == "external_ref"
        assert page.input_value("#import-mapping select[data-header='登记时间']") == "received_at"
        for header, field in (("信访事项", "description"), ("事发地点", "address"),
                              ("事项分类", "category")):
            page.select_option(f"#import-mapping select[data-header='{header}']", field)
        page.click("#save-mapping")
        page.wait_for_selector("#import-summary")
        assert count_of(page, "all") == 20
        assert count_of(page, "invalid") == 2  # 不明类别, listed to map
        assert page.locator("#import-unknown .unknown-row[data-raw='不明类别']").count() == 1
        saved = next(s for s in office.get("/api/intake-sources").get_json()["items"]
                     if s["code"] == "petition")["column_map"]
        assert saved["category"] == "事项分类"

        # The next sheet from the source maps itself; 10,000 rows are shown a page at a
        # time, filtered by status, never all at once.
        upload(page, "petition", odd_sheet(tmp_path / "信访导出2.csv", 10_000, start=100))
        page.wait_for_function("document.querySelector(\"#import-summary [data-count='all']\")"
                               "?.textContent === '10000'", timeout=120_000)
        assert page.locator("#rows-table tbody tr").count() == 100
        page.locator("#import-rows .page-next").first.click()
        page.wait_for_selector("#rows-table tr[data-row='102']")
        assert page.locator("#rows-table tbody tr").count() == 100
        page.select_option("#row-filter", "invalid")
        page.wait_for_function("document.querySelectorAll('#rows-table tbody tr').length === 100"
                               " && [...document.querySelectorAll('#rows-table tbody tr')]"
                               ".every((tr) => tr.dataset.status === 'invalid')")
        assert "共 1000 行" in page.inner_text("#import-rows .pager-text")
        assert page.locator("#import-confirm-button").inner_text().strip() == "导入 9000 件"
        shot(page, "import-10000-1280.png")
        # On a tablet (portrait) the screen still fits its width: nothing scrolls sideways
        # but the rows' own table.
        page.set_viewport_size({"width": 768, "height": 1024})
        page.wait_for_timeout(200)
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
        shot(page, "import-tablet-768.png", full_page=False)
    assert errors == []
