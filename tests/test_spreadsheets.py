"""A platform's sheet read safely: formats told by content, the header found, merged and
blank cells resolved, hostile files refused before heavy work (no database)."""

from __future__ import annotations

import io

import pytest
import xlsxwriter

from server.media.spreadsheets import Sheet, SheetRefused, read_sheet

KNOWN = ["工单编号", "来电时间", "诉求内容", "诉求地址", "来电人", "联系电话", "诉求类别",
         "承办单位", "办理时限"]


def _xlsx(build) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    build(book, book.add_worksheet("工单"))
    book.close()
    return out.getvalue()


def test_a_plain_csv() -> None:
    sheet = read_sheet("工单编号,来电时间\nA1,2025/5/16 20:00\n".encode(), "x.csv",
                       known_headers=KNOWN)
    assert isinstance(sheet, Sheet)
    assert sheet.header_row == 1
    assert sheet.headers == ["工单编号", "来电时间"]
    assert sheet.rows == [(2, ["A1", "2025/5/16 20:00"])]


def test_an_xlsx_formula_comes_back_as_its_text() -> None:
    def build(book, ws) -> None:
        ws.write_row(0, 0, ["工单编号", "诉求内容"])
        ws.write_string(1, 0, "A1")
        ws.write_formula(1, 1, '=HYPERLINK("http://x","点我")', None, "点我")
    sheet = read_sheet(_xlsx(build), "x.xlsx", known_headers=KNOWN)
    assert sheet.rows == [(2, ["A1", '=HYPERLINK("http://x","点我")'])]


def test_a_renamed_pdf_is_refused() -> None:
    with pytest.raises(SheetRefused) as caught:
        read_sheet(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "cases.xlsx", known_headers=KNOWN)
    assert (caught.value.code, caught.value.status) == ("import.not_a_sheet", 415)
