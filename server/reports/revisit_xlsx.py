"""A table as XLSX (XlsxWriter, constant memory: rows stream to the file as written).
Pure: rows in, bytes out. Every text cell is written as text, never as a formula: an
answer typed as "=HYPERLINK(...)" or "+1" must open as those characters in Excel/WPS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import xlsxwriter

__all__ = ["Sheet", "write_xlsx"]


@dataclass(frozen=True)
class Sheet:
    name: str
    title: str  # row 1, above the headings
    headings: Sequence[str]
    rows: Sequence[Sequence[Any]]  # str | int | float | datetime (aware) | None
    widths: Sequence[int] = ()
    date_columns: set[int] = field(default_factory=set)  # shown as dates with the time


def write_xlsx(sheet: Sheet, out: IO[bytes]) -> None:
    book = xlsxwriter.Workbook(out, {
        "constant_memory": True, "in_memory": False,
        # Belt and braces: XlsxWriter would otherwise read "=..." as a formula and numbers
        # and URLs out of strings; every cell here is written with an explicit type.
        "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False})
    ws = book.add_worksheet(sheet.name[:31])
    title = book.add_format({"bold": True, "font_size": 13})
    head = book.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1,
                            "text_wrap": True, "valign": "top"})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for i, width in enumerate(sheet.widths):
        ws.set_column(i, i, width)
    ws.write_string(0, 0, sheet.title, title)
    for col, text in enumerate(sheet.headings):
        ws.write_string(1, col, text, head)
    ws.freeze_panes(2, 0)  # the title and the headings stay while the rows scroll
    for r, row in enumerate(sheet.rows, start=2):
        for col, value in enumerate(row):
            _cell(ws, r, col, value, when if col in sheet.date_columns else None)
    if sheet.headings:
        ws.autofilter(1, 0, 1 + len(sheet.rows), len(sheet.headings) - 1)
    book.close()


def _cell(ws: Any, r: int, col: int, value: Any, when: Any) -> None:
    if value is None or value == "":
        return  # constant_memory: an empty cell is simply not written
    if isinstance(value, datetime):
        # Excel has no time zones: the local wall time, as a real date value.
        ws.write_datetime(r, col, value.replace(tzinfo=None), when)
    elif isinstance(value, bool):
        ws.write_boolean(r, col, value)
    elif isinstance(value, int | float):
        ws.write_number(r, col, value)
    else:
        ws.write_string(r, col, str(value))
