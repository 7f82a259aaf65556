"""A table as CSV that Excel and WPS open right: UTF-8 with a byte-order mark (without it
Excel reads Chinese as GBK mojibake), CRLF line ends, and every text cell that a
spreadsheet would run as a formula (=, +, -, @, tab, CR first) prefixed with an apostrophe
by the project's one rule (core.text.csv_cell: shown as text, the apostrophe hidden).
Pure: rows in, text out, streamed row by row."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import IO, Any

from server.domain.core.text import csv_cell

BOM = "\ufeff"


def write_csv(headings: Sequence[str], rows: Iterable[Sequence[Any]], out: IO[str], *,
              labels: Mapping[int, Mapping[str, str]] | None = None) -> int:
    """Write to a text stream opened with newline=""; returns the rows written. `labels`:
    per column, the words of a key (a colour key's 绿/蓝/黄/红/逾期)."""
    labels = labels or {}
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([csv_cell(h) for h in headings])
    count = 0
    for row in rows:
        writer.writerow([_text(v, labels.get(i)) for i, v in enumerate(row)])
        count += 1
    return count


def _text(value: Any, words: Mapping[str, str] | None) -> str | int | float:
    if value is None:
        return ""
    if words is not None and isinstance(value, str):
        return csv_cell(words.get(value, value))
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, date):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float):
        return value  # a number is data, never a formula: "-2" as a number stays -2
    return csv_cell(str(value))
