"""One writer for every table the office takes out as XLSX (ledgers, lists, annexes):
XlsxWriter in constant-memory mode, so rows stream to the file as written and a 200,000-row
ledger takes no more memory than a 20-row one.

Pure: a plain Sheet in, bytes out. Its layout: a title row, optional lines under it (unit,
period, generated time), the frozen heading row, the rows, then optional notes and a
legend. Every text cell is written as text, never as a formula: a subject typed as
"=HYPERLINK(...)", "+1", "-2" or "@x" opens as those characters in Excel, WPS and
LibreOffice. Dates are real dates (the local wall time) with a date format."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

import xlsxwriter

__all__ = ["Fill", "Legend", "Sheet", "write_xlsx"]


@dataclass(frozen=True)
class Fill:
    """How a key of the fill column shows: its words and its cell colours."""

    label: str
    background: str  # "#RRGGBB"
    font: str = "#000000"


@dataclass(frozen=True)
class Legend:
    """A block under the rows: a heading, then one row per fill key with its meaning, then
    lines of explanation."""

    heading: str
    items: Sequence[tuple[str, str]]  # (fill key, meaning)
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class Sheet:
    name: str
    title: str  # row 1, above the headings
    headings: Sequence[str]
    # str | int | float | datetime (aware or local) | date | None. Any iterable: a
    # generator is consumed once, row by row, and never held.
    rows: Iterable[Sequence[Any]]
    widths: Sequence[int] = ()
    date_columns: set[int] = field(default_factory=set)  # shown as dates with the time
    day_columns: set[int] = field(default_factory=set)  # shown as dates (a 完成时限)
    percent_columns: set[int] = field(default_factory=set)  # a share 0..1 shown as 98.8%
    wrap_columns: set[int] = field(default_factory=set)  # long text, wrapped in its width
    subtitle: Sequence[str] = ()  # lines between the title and the headings
    fill_column: int | None = None  # its cells hold a key of `fills`, shown filled
    fills: Mapping[str, Fill] = field(default_factory=dict)
    notes: Sequence[str] = ()  # lines under the rows (a signature line, a remark)
    legend: Legend | None = None
    landscape: bool = True


def write_xlsx(sheet: Sheet, out: IO[bytes] | str) -> int:
    """Write the sheet to `out` (a file object or a path); returns the rows written."""
    book = xlsxwriter.Workbook(out, {
        "constant_memory": True, "in_memory": False,
        # Belt and braces: XlsxWriter would otherwise read "=..." as a formula and numbers
        # and URLs out of strings; every cell here is written with an explicit type.
        "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False})
    try:
        return _write(book, sheet)
    finally:
        book.close()


def _write(book: Any, sheet: Sheet) -> int:
    ws = book.add_worksheet(sheet.name[:31])
    formats = _Formats(book, sheet)
    for i, width in enumerate(sheet.widths):
        ws.set_column(i, i, width)
    ws.write_string(0, 0, sheet.title, formats.title)
    for i, line in enumerate(sheet.subtitle, start=1):
        ws.write_string(i, 0, line, formats.subtitle)
    head_row = 1 + len(sheet.subtitle)
    ws.set_row(head_row, 30)
    for col, text in enumerate(sheet.headings):
        ws.write_string(head_row, col, text, formats.head)
    # The headings stay while the rows scroll, and head every printed page.
    ws.freeze_panes(head_row + 1, 0)
    ws.repeat_rows(head_row)
    if sheet.landscape:
        ws.set_landscape()
    ws.set_paper(9)  # A4, as offices print
    ws.fit_to_pages(1, 0)  # every column on the page's width, as many pages as it takes
    r = head_row
    # Each column's format, looked up once: 200,000 rows are 3 million cells.
    fmts = [formats.of(col) for col in range(max(len(sheet.headings), len(sheet.widths)))]
    fmts += [formats.plain] * 64
    fill_col, fills = sheet.fill_column, sheet.fills
    write_string = ws.write_string
    wraps = [(col, sheet.widths[col]) for col in sorted(sheet.wrap_columns)
             if col < len(sheet.widths)]
    for r, row in enumerate(sheet.rows, start=head_row + 1):
        if wraps:
            # Spreadsheet programs do not grow a row for wrapped text on opening (LibreOffice
            # draws it over the next row): the row gets the height of its longest text.
            lines = max(_lines(row[col], width) for col, width in wraps)
            if lines > 1:
                ws.set_row(r, LINE_POINTS * min(lines, 15))
            # XlsxWriter keeps every set_row's height even in constant_memory mode, where
            # the row is on disk once the next one starts: 70 MB over 200,000 rows. The
            # heights of rows already written are dropped (its public dicts by row).
            ws.row_info.pop(r - 2, None)
            ws.row_sizes.pop(r - 2, None)
        for col, value in enumerate(row):
            if value.__class__ is str:  # most cells: text, written as text, never a formula
                if value:
                    if col == fill_col and value in fills:
                        # The key's words, on its colour (a ledger's 办理进度).
                        write_string(r, col, fills[value].label, formats.fill(value))
                    else:
                        write_string(r, col, value, fmts[col])
            elif value is not None:
                _cell(ws, r, col, value, fmts[col])
    written = r - head_row
    if sheet.headings:
        ws.autofilter(head_row, 0, head_row + max(written, 1), len(sheet.headings) - 1)
    at = r + 2  # after a blank row: the notes, then the legend
    for line in sheet.notes:
        ws.write_string(at, 0, line, formats.subtitle)
        at += 1
    if sheet.legend is not None:
        _legend(ws, at + 1 if sheet.notes else at, sheet, formats)
    return written


def _legend(ws: Any, r: int, sheet: Sheet, formats: _Formats) -> None:
    legend = sheet.legend
    assert legend is not None
    ws.write_string(r, 0, legend.heading, formats.bold)
    for key, meaning in legend.items:
        r += 1
        fill = sheet.fills.get(key)
        ws.write_string(r, 0, fill.label if fill else key, formats.fill(key))
        ws.write_string(r, 1, meaning)
    for line in legend.notes:
        r += 1
        ws.write_string(r, 0, line)


class _Formats:
    """The workbook's cell formats, made once (XlsxWriter keeps each format it is given)."""

    def __init__(self, book: Any, sheet: Sheet) -> None:
        self.sheet = sheet
        self.title = book.add_format({"bold": True, "font_size": 14})
        self.subtitle = book.add_format({"font_color": "#404040"})
        self.bold = book.add_format({"bold": True})
        self.head = book.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1,
                                     "text_wrap": True, "valign": "vcenter",
                                     "align": "center"})
        # Data cells top-aligned: beside a wrapped text, a row's cells start level.
        self.plain = book.add_format({"valign": "top"})
        self.when = book.add_format({"num_format": "yyyy-mm-dd hh:mm", "valign": "top"})
        self.day = book.add_format({"num_format": "yyyy-mm-dd", "valign": "top"})
        self.percent = book.add_format({"num_format": "0.0%", "valign": "top"})
        self.wrap = book.add_format({"text_wrap": True, "valign": "top"})
        self._fills = {key: book.add_format({
            "bg_color": f.background, "font_color": f.font, "pattern": 1, "bold": True,
            "align": "center", "valign": "top", "border": 1}) for key, f in sheet.fills.items()}

    def fill(self, key: str) -> Any:
        return self._fills.get(key)

    def of(self, col: int) -> Any:
        s = self.sheet
        if col in s.date_columns:
            return self.when
        if col in s.day_columns:
            return self.day
        if col in s.percent_columns:
            return self.percent
        if col in s.wrap_columns:
            return self.wrap
        return self.plain


LINE_POINTS = 15  # a line of 11-point text


def _lines(value: Any, width: int) -> int:
    """How many lines `value` takes wrapped in a column `width` characters wide. A Chinese
    character is two: three bytes in UTF-8 to ASCII's one, so (bytes + characters) / 2
    counts the columns without a look at each character (3 million cells a ledger)."""
    if value.__class__ is not str or not value:
        return 1
    room = max(width - 1, 1)
    if len(value) * 2 <= room and "\n" not in value:
        return 1
    return sum(max(1, -(-((len(part.encode()) + len(part)) // 2) // room))
               for part in value.split("\n"))


def _cell(ws: Any, r: int, col: int, value: Any, fmt: Any) -> None:
    if value is None or value == "":
        return  # constant_memory: an empty cell is simply not written
    if isinstance(value, datetime):
        # Excel has no time zones: the local wall time, as a real date value.
        ws.write_datetime(r, col, value.replace(tzinfo=None), fmt)
    elif isinstance(value, date):
        ws.write_datetime(r, col, datetime(value.year, value.month, value.day), fmt)
    elif isinstance(value, bool):
        ws.write_boolean(r, col, value)
    elif isinstance(value, int | float):
        ws.write_number(r, col, value, fmt)
    else:
        ws.write_string(r, col, str(value), fmt)
