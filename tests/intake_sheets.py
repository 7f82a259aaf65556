"""Realistic hotline platform exports for tests and benches, and hostile files.

`make_12345_sheet` writes what a 12345 platform hands an office: a title above the header,
a two-row header with a merged parent cell (来电人信息 over 来电人 and 联系电话), a 备注 merged
over two columns, full-width characters, outer spaces, phones as numbers and as text, dates
in every form such sheets use (and Excel serials), an empty row in the middle and, with
`bad=True`, one row of each bad kind. It returns what each data row should become, so an
import test can assert exactly.

`make_hostile(kind)` gives (bytes, file name, expected refusal code)."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

# The header as the platform writes it, with the parent of the two-row part.
COLUMNS = ["工单编号", "来电时间", "诉求内容", "诉求地址", "来电人", "联系电话", "诉求类别",
           "承办单位", "办理时限", "备注", "备注_2"]
PARENT = "来电人信息"  # merged over 来电人 and 联系电话 (columns E:F)
KNOWN_HEADERS = [*COLUMNS[:9], "备注"]
TITLE = "城中区12345工单导出 2025年5月"

BASE = datetime(2025, 5, 16, 20, 0)  # local (Asia/Shanghai) wall time of the first call
SERIAL_BASE = 45793  # Excel's serial of 2025-05-16
FORMULA_TEXT = '=HYPERLINK("http://evil.example/a","点我")'
CMD_TEXT = "+cmd|' /C calc'!A0"
REAL_FORMULA = '=HYPERLINK("http://evil.example/b","查看详情")'  # a live one, xlsx only


@dataclass
class Expected:
    """What one data row should become. `status` "ok" rows carry `fields` as cells.text /
    when / phone give them (`called_at` aware UTC, `phone` digits); "bad" rows carry
    `reason` (the cell's problem code) and `column`; "duplicate" is a reference seen earlier
    in the same file (`reason` "import.duplicate_in_file", `first_row` the earlier one)."""

    row: int  # 1-based row in the file
    ref: str
    status: str  # "ok" | "bad" | "duplicate"
    reason: str | None = None
    column: str | None = None
    first_row: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Made:
    path: Path
    fmt: str
    header_row: int  # where the header begins (two rows: header_row and header_row + 1)
    headers: list[str]
    expected: list[Expected]
    blank_rows: list[int]  # file rows left empty in the middle

    @property
    def ok(self) -> list[Expected]:
        return [e for e in self.expected if e.status == "ok"]

    @property
    def bad(self) -> list[Expected]:
        return [e for e in self.expected if e.status != "ok"]

    def by_row(self) -> dict[int, Expected]:
        return {e.row: e for e in self.expected}


_CATEGORIES = ["噪声污染", "大气污染", "水污染", " 噪声污染 ", "固体废物", "油烟扰民"]
_UNITS = ["城中区生态环境局", "城东街道办事处", " 城中区生态环境局", "城西执法大队"]
_STREETS = ["人民路", "解放路", "建设大道", "中山北路", "滨江路"]


def _when_forms(moment: datetime, fmt: str) -> list[tuple[Any, datetime]]:
    """Ways the same kind of moment is written: (cell, local wall time it means)."""
    day = datetime(moment.year, moment.month, moment.day)
    serial = SERIAL_BASE + (day.date() - date(2025, 5, 16)).days
    serial_time = serial + (moment.hour * 3600 + moment.minute * 60) / 86400
    fw = str.maketrans("0123456789", "０１２３４５６７８９")
    forms: list[tuple[Any, datetime]] = [
        (f"{moment.year}/{moment.month}/{moment.day} {moment:%H:%M}", moment),
        (f"{moment:%Y/%m/%d %H:%M}:05", moment.replace(second=5)),
        (f"{moment:%Y-%m-%d}", day),
        (f"{moment:%Y-%m-%d %H:%M}", moment),
        (f"{moment.year}年{moment.month}月{moment.day}日", day),
        (f"{moment.year}年{moment.month}月{moment.day}日 {moment.hour}时{moment.minute:02d}分",
         moment),
        (f"{moment.year}.{moment.month}.{moment.day}", day),
        (f"{moment:%Y%m%d}", day),
        (f"{moment:%Y/%m/%d %H:%M}".translate(fw), moment),
        (f" {moment:%Y-%m-%d %H:%M} ", moment),
    ]
    if fmt in ("xlsx", "xls"):
        forms += [(moment, moment), (serial_time, moment), (float(serial), day)]
    else:
        forms += [(f"{serial_time:.8f}", moment)]
    return forms


def _phone_forms(i: int, fmt: str) -> tuple[Any, str]:
    mobile = f"13{(i % 9) + 1}{i:08d}"[:11]
    fw = str.maketrans("0123456789", "０１２３４５６７８９")
    forms: list[tuple[Any, str]] = [
        (mobile, mobile),
        (f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}", mobile),
        (f"+86 {mobile}", mobile),
        (mobile.translate(fw), mobile),
        (f" {mobile[:3]} {mobile[3:7]} {mobile[7:]} ", mobile),
        (f"0571-8888{i % 10000:04d}", f"05718888{i % 10000:04d}"),
        (f"0571-8888{i % 10000:04d}转{i % 90 + 10}", f"05718888{i % 10000:04d}转{i % 90 + 10}"),
    ]
    if fmt in ("xlsx", "xls"):
        forms += [(int(mobile), mobile), (float(mobile), mobile)]
    else:
        forms += [(f"{mobile}.0", mobile)]
    return forms[i % len(forms)]


def _good_row(i: int, fmt: str) -> tuple[list[Any], dict[str, Any]]:
    moment = BASE + timedelta(hours=i % 240, minutes=(7 * i) % 60)
    forms = _when_forms(moment, fmt)
    when_cell, meant = forms[i % len(forms)]
    phone_cell, phone = _phone_forms(i, fmt)
    street = _STREETS[i % len(_STREETS)]
    number = i % 300 + 1
    fw_number = str(number).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    address = f"城中区{street}{fw_number}号" if i % 2 else f"  城中区{street}{number}号 "
    content = f"　{street}ＫＴＶ夜间噪音扰民，第{i}次反映　" if i % 3 == 0 else \
        f"{street}工地夜间施工噪声（第{i}号）"
    content_clean = content.strip("\u3000 ").replace("ＫＴＶ", "KTV")
    category = _CATEGORIES[i % len(_CATEGORIES)]
    unit = _UNITS[i % len(_UNITS)]
    deadline = date(2025, 5, 31) if fmt != "csv" else "2025-05-31"
    ref = f"GD{20250516000000 + i}"
    ref_cell = f" {ref} " if i % 5 == 0 else ref
    name = "张先生" if i % 2 else " 李女士 "
    cells = [ref_cell, when_cell, content, address, name, phone_cell, category, unit, deadline,
             "" if i % 4 else "回访满意", "" if i % 4 else "电话回访"]
    fields = {
        "ref": ref, "called_at": meant.replace(tzinfo=_SHANGHAI).astimezone(UTC),
        "content": content_clean, "address": address.strip().translate(
            str.maketrans("０１２３４５６７８９", "0123456789")),
        "name": name.strip(), "phone": phone, "category": category.strip(),
        "unit": unit.strip(), "deadline": date(2025, 5, 31),
        "note": "" if i % 4 else "回访满意", "note_2": "" if i % 4 else "电话回访",
    }
    return cells, fields


_SHANGHAI = ZoneInfo("Asia/Shanghai")


def make_12345_sheet(path: str | Path, fmt: str = "xlsx", rows: int = 20, bad: bool = True,
                     title_rows: int = 2, csv_encoding: str = "utf-8-sig") -> Made:
    """Write a 12345 export with `rows` good data rows (plus the bad ones) to `path`;
    `csv_encoding` "utf-8-sig" (Excel's UTF-8 with BOM), "utf-8" or "gbk"."""
    path = Path(path)
    header_row = title_rows + 1
    first = header_row + 2  # below the two-row header
    blank_at = min(rows, 3)  # an empty row in the middle, after the third good row
    entries: list[tuple[list[Any] | None, Expected | None]] = []
    for i in range(1, rows + 1):
        cells, fields = _good_row(i, fmt)
        entries.append((cells, Expected(row=0, ref=fields["ref"], status="ok",
                                        fields=fields)))
        if i == blank_at:
            entries.append((None, None))
    if bad:
        extra: list[tuple[list[Any] | None, Expected | None]] = []
        n = rows + 1000
        for k, (column, raw, reason) in enumerate((
                (1, "明天上午", "import.bad_date"),
                (5, "138abcd5678", "import.bad_phone"),
                (1, "2025/2/30 10:00", "import.bad_date"))):
            cells, fields = _good_row(n + k, fmt)
            cells[column] = raw
            extra.append((cells, Expected(row=0, ref=fields["ref"], status="bad",
                                          reason=reason, column=COLUMNS[column])))
        if rows:
            cells, fields = _good_row(1, fmt)
            cells[2] = "同一工单再次导出（重复编号）"
            extra.append((cells, Expected(row=0, ref=fields["ref"], status="duplicate",
                                          reason="import.duplicate_in_file",
                                          column="工单编号")))
        for k, text in enumerate((FORMULA_TEXT, CMD_TEXT)):
            cells, fields = _good_row(n + 3 + k, fmt)
            cells[2] = text  # a formula typed as TEXT is data: kept exactly
            fields["content"] = text
            extra.append((cells, Expected(row=0, ref=fields["ref"], status="ok",
                                          fields=fields)))
        if fmt == "xlsx":
            cells, fields = _good_row(n + 5, fmt)
            cells[2] = _RealFormula(REAL_FORMULA, "查看详情")
            fields["content"] = REAL_FORMULA  # its text, never the cached result
            extra.append((cells, Expected(row=0, ref=fields["ref"], status="ok",
                                          fields=fields)))
        at = min(len(entries), blank_at + 2)  # among the good rows, past the blank one
        entries[at:at] = extra
    first_rows: dict[str, int] = {}
    for offset, (_cells, exp) in enumerate(entries):
        if exp is None:
            continue
        exp.row = first + offset
        if exp.status == "duplicate":
            exp.first_row = first_rows[exp.ref]
        else:
            first_rows.setdefault(exp.ref, exp.row)
    data = [cells for cells, _exp in entries]
    expected = [exp for _cells, exp in entries if exp is not None]
    if fmt == "xlsx":
        _write_xlsx(path, data, title_rows)
    elif fmt == "xls":
        _write_xls(path, data, title_rows)
    elif fmt == "csv":
        _write_csv(path, data, title_rows, csv_encoding)
    else:
        raise ValueError(fmt)
    blank_rows = [first + i for i, cells in enumerate(data) if cells is None]
    return Made(path=path, fmt=fmt, header_row=header_row, headers=list(COLUMNS),
                expected=expected, blank_rows=blank_rows)


@dataclass
class _RealFormula:
    formula: str
    cached: str


def _title_rows(title_rows: int) -> list[list[Any]]:
    if title_rows <= 0:
        return []
    out: list[list[Any]] = [[TITLE]]
    if title_rows >= 2:
        out.append(["导出时间：2025-05-31 09:00", "", "", "", "", "", "", "", "导出人：管理员"])
    out += [[] for _ in range(title_rows - 2)]
    return out


def _write_xlsx(path: Path, data: list[list[Any] | None], title_rows: int) -> None:
    import xlsxwriter

    # Not constant_memory: it would drop the header's merges (each written over two rows).
    book = xlsxwriter.Workbook(str(path), {
        "strings_to_formulas": False, "strings_to_numbers": False,
        "strings_to_urls": False})
    ws = book.add_worksheet("工单")
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    bold = book.add_format({"bold": True, "align": "center", "valign": "vcenter"})
    r = 0
    for title in _title_rows(title_rows):
        if title and title[0] == TITLE:
            ws.merge_range(r, 0, r, len(COLUMNS) - 1, TITLE, bold)
        else:
            for c, value in enumerate(title):
                if value:
                    ws.write_string(r, c, value)
        r += 1
    # Two-row header: every column merged down, but 来电人信息 across over its children.
    for c, name in enumerate([*COLUMNS[:4], None, None, *COLUMNS[6:9]]):
        if name is not None:
            ws.merge_range(r, c, r + 1, c, name, bold)
    ws.merge_range(r, 4, r, 5, PARENT, bold)
    ws.merge_range(r, 9, r + 1, 10, "备注", bold)  # one name over two columns
    ws.write_string(r + 1, 4, "来电人", bold)
    ws.write_string(r + 1, 5, "联系电话", bold)
    r += 2
    for cells in data:
        if cells is not None:
            for c, value in enumerate(cells):
                _xlsx_cell(ws, r, c, value, when, day)
        r += 1
    book.close()


def _xlsx_cell(ws: Any, r: int, c: int, value: Any, when: Any, day: Any) -> None:
    if value is None or value == "":
        return
    if isinstance(value, _RealFormula):
        ws.write_formula(r, c, value.formula, None, value.cached)
    elif isinstance(value, datetime):
        ws.write_datetime(r, c, value, when)
    elif isinstance(value, date):
        ws.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
    elif isinstance(value, bool):
        ws.write_boolean(r, c, value)
    elif isinstance(value, int | float):
        ws.write_number(r, c, value)
    else:
        ws.write_string(r, c, value)


def _write_xls(path: Path, data: list[list[Any] | None], title_rows: int) -> None:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("工单")
    when = xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm")
    day = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    r = 0
    for title in _title_rows(title_rows):
        if title and title[0] == TITLE:
            ws.write_merge(r, r, 0, len(COLUMNS) - 1, TITLE)
        else:
            for c, value in enumerate(title):
                if value:
                    ws.write(r, c, value)
        r += 1
    for c, name in enumerate([*COLUMNS[:4], None, None, *COLUMNS[6:9]]):
        if name is not None:
            ws.write_merge(r, r + 1, c, c, name)
    ws.write_merge(r, r, 4, 5, PARENT)
    ws.write_merge(r, r + 1, 9, 10, "备注")
    ws.write(r + 1, 4, "来电人")
    ws.write(r + 1, 5, "联系电话")
    r += 2
    for cells in data:
        if cells is not None:
            for c, value in enumerate(cells):
                if value is None or value == "":
                    continue
                if isinstance(value, datetime):
                    ws.write(r, c, value, when)
                elif isinstance(value, date):
                    ws.write(r, c, datetime(value.year, value.month, value.day), day)
                else:
                    ws.write(r, c, value)
        r += 1
    book.save(str(path))


def _write_csv(path: Path, data: list[list[Any] | None], title_rows: int,
               encoding: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for title in _title_rows(title_rows):
        writer.writerow(title)
    # A merged header exported to CSV: the parent's row, then the children's.
    writer.writerow([*COLUMNS[:4], PARENT, "", *COLUMNS[6:9], "备注", ""])
    writer.writerow(["", "", "", "", "来电人", "联系电话", "", "", "", "", ""])
    for cells in data:
        writer.writerow([] if cells is None else ["" if v is None else v for v in cells])
    path.write_bytes(out.getvalue().encode(encoding))


# ---- hostile files ----------------------------------------------------------------------

HOSTILE_KINDS = ("renamed_pdf", "zip_bomb", "zip_many_parts", "macros", "xlsm",
                 "external_links", "external_target", "too_many_rows_csv",
                 "too_many_rows_xlsx", "encrypted", "corrupt_xlsx", "html_as_xls",
                 "zip_not_sheet", "binary", "too_large", "stray_cell", "lying_sizes",
                 "renamed_doc", "xls_macros", "xml_entities", "xls_alloc_bomb",
                 "huge_counts", "xml_entities_utf16", "xml_entities_late")


def minimal_xlsx(rows: list[list[Any]], *, extra: dict[str, bytes] | None = None,
                 content_types: str | None = None, workbook_rels: str | None = None) -> bytes:
    """A small valid .xlsx written by hand (inline strings): fast for 50,001 rows, and open
    to the parts a hostile file adds."""
    def cell(r: int, c: int, value: Any) -> str:
        ref = f"{_col(c)}{r}"
        if isinstance(value, int | float):
            return f'<c r="{ref}"><v>{value}</v></c>'
        text = str(value).replace("&", "&amp;").replace("<", "&lt;")
        return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'

    body = "".join(
        f'<row r="{r}">' + "".join(cell(r, c, v) for c, v in enumerate(row)) + "</row>"
        for r, row in enumerate(rows, start=1))
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
             '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f"<sheetData>{body}</sheetData></worksheet>")
    parts = {
        "[Content_Types].xml": content_types or (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.'
            'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"),
        "xl/workbook.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="工单" sheetId="1" r:id="rId1"/></sheets></workbook>'),
        "xl/_rels/workbook.xml.rels": workbook_rels or (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            "</Relationships>"),
        "xl/worksheets/sheet1.xml": sheet,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        for name, raw in (extra or {}).items():
            archive.writestr(name, raw)
    return out.getvalue()


def _col(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_HEAD = [["工单编号", "来电时间", "诉求内容"]]
_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
         'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
         'schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
         'Target="worksheets/sheet1.xml"/>{more}</Relationships>')


def make_hostile(kind: str, *, max_rows: int = 50_000) -> tuple[bytes, str, str]:
    """(file bytes, the name it is uploaded under, the refusal code expected)."""
    ok_rows = [*_HEAD, ["GD1", "2025-05-16", "噪音"]]
    if kind == "renamed_pdf":
        return (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"
                + b"\x00\x01binary" * 100, "工单.xlsx", "import.not_a_sheet")
    if kind == "zip_bomb":
        # One part inflating 1000:1 (64 MB of spaces in a few dozen kB).
        return (minimal_xlsx(ok_rows, extra={"xl/media/padding.xml": b" " * (64 << 20)}),
                "工单.xlsx", "import.zip_bomb")
    if kind == "zip_many_parts":
        extra = {f"xl/media/part{i}.xml": b"<x/>" for i in range(2_100)}
        return minimal_xlsx(ok_rows, extra=extra), "工单.xlsx", "import.zip_bomb"
    if kind == "macros":
        return (minimal_xlsx(ok_rows, extra={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0" * 64}),
                "工单.xlsx", "import.has_macros")
    if kind == "xlsm":
        types = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                 'openxmlformats.org/package/2006/content-types"><Override PartName="/xl/'
                 'workbook.xml" ContentType="application/vnd.ms-excel.sheet.macroEnabled.main'
                 '+xml"/></Types>')
        return minimal_xlsx(ok_rows, content_types=types), "工单.xlsm", "import.has_macros"
    if kind == "external_links":
        link = ('<?xml version="1.0" encoding="UTF-8"?><externalLink xmlns="http://schemas.'
                'openxmlformats.org/spreadsheetml/2006/main"><externalBook r:id="rId1" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
                'relationships"/></externalLink>')
        rels = _RELS.format(more='<Relationship Id="rId9" Type="http://schemas.openxmlformats'
                            '.org/officeDocument/2006/relationships/externalLink" '
                            'Target="externalLinks/externalLink1.xml"/>')
        return (minimal_xlsx(ok_rows, workbook_rels=rels,
                             extra={"xl/externalLinks/externalLink1.xml": link.encode()}),
                "工单.xlsx", "import.external_links")
    if kind == "external_target":
        rels = _RELS.format(more='<Relationship Id="rId9" Type="http://schemas.openxmlformats'
                            '.org/officeDocument/2006/relationships/oleObject" '
                            'Target="file://///evil.example/share/x.xlsx" '
                            'TargetMode="External"/>')
        return minimal_xlsx(ok_rows, workbook_rels=rels), "工单.xlsx", "import.external_links"
    if kind == "too_many_rows_csv":
        lines = ["工单编号,来电时间,诉求内容"]
        lines += [f"GD{i},2025-05-16,噪音" for i in range(max_rows + 1)]
        return ("\r\n".join(lines) + "\r\n").encode("utf-8-sig"), "工单.csv", \
            "import.too_many_rows"
    if kind == "too_many_rows_xlsx":
        rows = [*_HEAD, *([f"GD{i}", "2025-05-16", "噪音"] for i in range(max_rows + 1))]
        return minimal_xlsx(rows), "工单.xlsx", "import.too_many_rows"
    if kind == "encrypted":
        # An encrypted .xlsx is an OLE2 container holding an EncryptedPackage stream.
        body = bytearray(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
        body += "EncryptedInfo".encode("utf-16-le") + b"\x00" * 64
        body += "EncryptedPackage".encode("utf-16-le") + b"\x00" * 2048
        return bytes(body), "工单.xlsx", "import.unreadable"
    if kind == "corrupt_xlsx":
        whole = minimal_xlsx(ok_rows * 50)
        return whole[: len(whole) // 2], "工单.xlsx", "import.unreadable"
    if kind == "html_as_xls":
        return ("<html><head><meta charset='utf-8'></head><body><table><tr><td>工单编号</td>"
                "<td>来电时间</td></tr></table></body></html>").encode(), "工单.xls", \
            "import.not_a_sheet"
    if kind == "zip_not_sheet":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("photo.jpg", b"\xff\xd8\xff" + b"x" * 100)
        return out.getvalue(), "工单.xlsx", "import.not_a_sheet"
    if kind == "binary":
        return bytes(range(256)) * 64, "工单.csv", "import.not_a_sheet"
    if kind == "too_large":
        return codecs.BOM_UTF8 + b"a,b\n" + b"1,2\n" * (6 << 20), "工单.csv", \
            "import.too_large"
    if kind in ("renamed_doc", "xls_macros"):
        # OLE2 containers (the directory's stream names are UTF-16): a Word file, and an
        # .xls carrying a VBA project.
        streams = ["WordDocument", "1Table"] if kind == "renamed_doc" else \
            ["Workbook", "_VBA_PROJECT_CUR", "VBA"]
        body = bytearray(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
        for name in streams:
            body += name.encode("utf-16-le") + b"\x00" * (128 - 2 * len(name))
        return bytes(body), "工单.xls", ("import.not_a_sheet" if kind == "renamed_doc"
                                       else "import.has_macros")
    if kind == "xls_alloc_bomb":
        # Three bytes of a real .xls changed (found by fuzzing): calamine then asks for 74 GB
        # at once, and a failed allocation aborts the process that reads it.
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            made = make_12345_sheet(Path(tmp) / "t.xls", "xls", rows=12)
            data = bytearray(made.path.read_bytes())
        for at, byte in ((5967, 200), (6829, 9), (6869, 176)):
            assert data[at] == 0, "the sheet maker's .xls changed: find the bytes again"
            data[at] = byte
        return bytes(data), "工单.xls", "import.unreadable"
    if kind == "huge_counts":
        # A shared strings table that claims 4 billion entries: calamine reserves room for
        # them all at once (tens of GB), and a failed allocation aborts the process.
        import re
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            made = make_12345_sheet(Path(tmp) / "t.xlsx", "xlsx", rows=5)
            data = made.path.read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            table = archive.read("xl/sharedStrings.xml")
        table = re.sub(rb'count="\d+" uniqueCount="\d+"',
                       b'count="4000000000" uniqueCount="4000000000"', table)
        return _replace_part(data, "xl/sharedStrings.xml", table), "工单.xlsx", \
            "import.unreadable"
    if kind == "xml_entities":
        laughs = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
                  + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">'
                            for i in range(8))
                  + ']><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                  'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats'
                  '.org/officeDocument/2006/relationships/worksheet" Target="worksheets/'
                  'sheet1.xml" Note="&i;"/></Relationships>')
        return minimal_xlsx(ok_rows, workbook_rels=laughs), "工单.xlsx", "import.unreadable"
    if kind == "xml_entities_utf16":
        # The same entities in UTF-16, whose bytes hide "<!DOCTYPE" from a byte search.
        laughs = make_hostile("xml_entities")[0]
        with zipfile.ZipFile(io.BytesIO(laughs)) as archive:
            rels = archive.read("xl/_rels/workbook.xml.rels").decode()
        rels = rels.replace('<?xml version="1.0"?>',
                            '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
        return _replace_part(laughs, "xl/_rels/workbook.xml.rels", rels), "工单.xlsx", \
            "import.unreadable"
    if kind == "xml_entities_late":
        # A sheet whose declaration comes after 8 kB of comment in its prolog.
        sheet = ('<?xml version="1.0" encoding="UTF-8"?><!--' + "x" * 8192 + '-->'
                 '<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa">]><worksheet xmlns="http://'
                 'schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row>'
                 '<c t="inlineStr"><is><t>&a;</t></is></c></row></sheetData></worksheet>')
        return _replace_part(minimal_xlsx([["x"]]), "xl/worksheets/sheet1.xml",
                             sheet.encode()), "工单.xlsx", "import.unreadable"
    if kind == "stray_cell":
        # A few hundred bytes whose one far cell would make the sheet 17 billion cells.
        sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
                 'openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">'
                 '<c r="A1" t="inlineStr"><is><t>工单编号</t></is></c><c r="B1" '
                 't="inlineStr"><is><t>来电时间</t></is></c></row><row r="1048576">'
                 '<c r="XFD1048576"><v>1</v></c></row></sheetData></worksheet>')
        return _replace_part(minimal_xlsx([["x"]]), "xl/worksheets/sheet1.xml",
                             sheet.encode()), "工单.xlsx", "import.too_large"
    if kind == "lying_sizes":
        # A part whose central directory says 1 kB while it inflates to 16 MB.
        data = minimal_xlsx(ok_rows, extra={"xl/sharedStrings.xml": b" " * (16 << 20)})
        return _lie_about_size(data, b"xl/sharedStrings.xml", 1000), "工单.xlsx", \
            "import.unreadable"
    raise ValueError(kind)


def _replace_part(data: bytes, name: str, body: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, body if info.filename == name else src.read(info))
    return out.getvalue()


def _lie_about_size(data: bytes, name: bytes, size: int) -> bytes:
    """The part's uncompressed size rewritten in its local header and the central
    directory (the CRC left as it was)."""
    out = bytearray(data)
    at = 0
    while (at := out.find(b"PK\x03\x04", at)) >= 0:
        n = int.from_bytes(out[at + 26:at + 28], "little")
        if out[at + 30:at + 30 + n] == name:
            out[at + 22:at + 26] = size.to_bytes(4, "little")
        at += 4
    at = 0
    while (at := out.find(b"PK\x01\x02", at)) >= 0:
        n = int.from_bytes(out[at + 28:at + 30], "little")
        if out[at + 46:at + 46 + n] == name:
            out[at + 24:at + 28] = size.to_bytes(4, "little")
        at += 4
    return bytes(out)
