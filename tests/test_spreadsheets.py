"""A platform's sheet read safely: formats told by content, the header found, merged and
blank cells resolved, hostile files refused before heavy work (no database)."""

from __future__ import annotations

import codecs
import contextlib
import io
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.intake import cells
from server.domain.intake.cells import CellError
from server.media.spreadsheets import Sheet, SheetRefused, read_sheet
from tests.intake_sheets import (
    CMD_TEXT,
    FORMULA_TEXT,
    HOSTILE_KINDS,
    KNOWN_HEADERS,
    REAL_FORMULA,
    _replace_part,
    make_12345_sheet,
    make_hostile,
    minimal_xlsx,
)

KNOWN = KNOWN_HEADERS
FIELDS = {"工单编号": "ref", "来电时间": "called_at", "诉求内容": "content",
          "诉求地址": "address", "来电人": "name", "联系电话": "phone", "诉求类别": "category",
          "承办单位": "unit", "办理时限": "deadline", "备注": "note", "备注_2": "note_2"}


def _read(path: Path, **kwargs) -> Sheet:
    return read_sheet(path.read_bytes(), path.name, known_headers=KNOWN, **kwargs)


def _xlsx(build) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    build(book, book.add_worksheet("工单"))
    book.close()
    return out.getvalue()


def _value(header: str, cell: object) -> object:
    """A cell as the import will make it (the cells module's rule per field)."""
    if header == "来电时间":
        return cells.when(cell)
    if header == "联系电话":
        return cells.phone(cell)
    if header == "办理时限":
        return cells.when(cell).astimezone(ZoneInfo("Asia/Shanghai")).date()
    return cells.text(cell)


@pytest.mark.parametrize(("fmt", "encoding"), [("xlsx", None), ("xls", None),
                                               ("csv", "utf-8-sig"), ("csv", "gbk"),
                                               ("csv", "utf-8")])
def test_a_realistic_12345_export_reads_exactly(tmp_path: Path, fmt: str,
                                                encoding: str | None) -> None:
    made = make_12345_sheet(tmp_path / f"12345.{fmt}", fmt, rows=40,
                            csv_encoding=encoding or "utf-8-sig")
    sheet = _read(made.path)
    assert sheet.format == fmt
    assert (sheet.header_row, sheet.header_rows) == (made.header_row, 2)
    assert sheet.headers == made.headers
    if fmt == "csv":
        assert sheet.encoding == ("gb18030" if encoding == "gbk" else "utf-8")
    # The empty row in the middle is left out, its number skipped.
    numbers = [number for number, _cells in sheet.rows]
    assert numbers == [e.row for e in made.expected]
    assert made.blank_rows and not set(made.blank_rows) & set(numbers)
    expected = made.by_row()
    seen_refs: dict[str, int] = {}
    for number, row in sheet.rows:
        exp = expected[number]
        assert len(row) == len(sheet.headers)
        by_header = dict(zip(sheet.headers, row, strict=True))
        ref = cells.text(by_header["工单编号"])
        assert ref == exp.ref
        if exp.status == "duplicate":
            assert seen_refs[ref] == exp.first_row
            continue
        seen_refs.setdefault(ref, number)
        if exp.status == "bad":
            with pytest.raises(CellError) as caught:
                _value(exp.column, by_header[exp.column])
            assert caught.value.code == exp.reason
            continue
        got = {FIELDS[h]: _value(h, v) for h, v in by_header.items()}
        assert got == exp.fields, number


def test_formulas_come_back_as_text_never_their_result(tmp_path: Path) -> None:
    made = make_12345_sheet(tmp_path / "12345.xlsx", "xlsx", rows=5)
    contents = [dict(zip(_read(made.path).headers, row, strict=True))["诉求内容"]
                for _n, row in _read(made.path).rows]
    assert FORMULA_TEXT in contents and CMD_TEXT in contents
    assert REAL_FORMULA in contents  # the live formula's text ...
    assert "查看详情" not in contents  # ... not its cached result
    with zipfile.ZipFile(made.path) as archive:  # it really is a formula cell in the file
        assert b"<f>" in archive.read("xl/worksheets/sheet1.xml")


def test_a_shared_formula_is_text_too() -> None:
    sheet_xml = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
                 'openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
                 '<row r="1"><c r="A1" t="inlineStr"><is><t>工单编号</t></is></c>'
                 '<c r="B1" t="inlineStr"><is><t>诉求内容</t></is></c></row>'
                 '<row r="2"><c r="A2"><v>1</v></c><c r="B2"><f t="shared" ref="B2:B3" si="0">'
                 'A2*2</f><v>2</v></c></row>'
                 '<row r="3"><c r="A3"><v>2</v></c><c r="B3"><f t="shared" si="0"/><v>4</v></c>'
                 "</row></sheetData></worksheet>")
    data = _replace_part(minimal_xlsx([["x"]]), "xl/worksheets/sheet1.xml", sheet_xml.encode())
    sheet = read_sheet(data, "s.xlsx", known_headers=KNOWN)
    assert [row[1] for _n, row in sheet.rows] == ["=A2*2", "=A2*2"]


def test_formulas_in_cells_without_a_reference_are_found_by_position() -> None:
    # r= is optional in OOXML: such cells are placed one after another.
    sheet_xml = ('<?xml version="1.0" encoding="UTF-8"?><x:worksheet xmlns:x="http://schemas.'
                 'openxmlformats.org/spreadsheetml/2006/main"><x:sheetData>'
                 '<x:row><x:c t="inlineStr"><x:is><x:t>工单编号</x:t></x:is></x:c>'
                 '<x:c t="inlineStr"><x:is><x:t>诉求内容</x:t></x:is></x:c></x:row>'
                 '<x:row><x:c><x:v>1</x:v></x:c><x:c t="str"><x:f>HYPERLINK("http://x",'
                 '"点&amp;我")</x:f><x:v>点&amp;我</x:v></x:c></x:row>'
                 "</x:sheetData></x:worksheet>")
    data = _replace_part(minimal_xlsx([["x"]]), "xl/worksheets/sheet1.xml", sheet_xml.encode())
    sheet = read_sheet(data, "s.xlsx", known_headers=KNOWN)
    assert sheet.rows == [(2, [1.0, '=HYPERLINK("http://x","点&我")'])]


def test_the_header_is_found_below_a_title_and_cleaned() -> None:
    text = ("城中区12345工单导出\n\n导出时间,2025-05-31\n"
            " 工单 编号 ,来电时间,ＡＢＣ,诉求内容\nGD1,2025-05-16,x,噪音\n,,,\n\n").encode()
    sheet = read_sheet(text, "a.csv", known_headers=["工单编号", "来电时间", "诉求内容", "ABC"])
    assert sheet.header_row == 4
    assert sheet.headers == ["工单编号", "来电时间", "ABC", "诉求内容"]
    assert sheet.rows == [(5, ["GD1", "2025-05-16", "x", "噪音"])]  # trailing blanks gone


def test_spaces_are_left_to_the_cells_module() -> None:
    sheet = read_sheet("工单编号,诉求内容\n GD1 ,\u3000噪音 \n".encode(), "a.csv",
                       known_headers=KNOWN)
    assert sheet.rows == [(2, [" GD1 ", "\u3000噪音 "])]


def test_a_header_needs_two_known_names_within_twenty_rows() -> None:
    with pytest.raises(SheetRefused) as caught:
        read_sheet("编号,时间,内容\n1,2,3\n".encode(), "a.csv", known_headers=KNOWN)
    assert (caught.value.code, caught.value.status) == ("import.no_header", 422)
    assert "工单编号" in caught.value.message and "工单编号" in caught.value.params["looked_for"]
    with pytest.raises(SheetRefused) as caught:
        read_sheet("工单编号,x\n1,2\n".encode(), "a.csv", known_headers=KNOWN)
    assert caught.value.code == "import.no_header"
    late = "\n" * 20 + "工单编号,来电时间\n1,2\n"
    with pytest.raises(SheetRefused):
        read_sheet(late.encode(), "a.csv", known_headers=KNOWN)
    early = "\n" * 19 + "工单编号,来电时间\n1,2\n"
    assert read_sheet(early.encode(), "a.csv", known_headers=KNOWN).header_row == 20


def test_a_blank_header_cell_is_named_and_repeats_numbered() -> None:
    sheet = read_sheet("工单编号,来电时间,,备注,备注\n1,2,3,4,5\n".encode(), "a.csv",
                       known_headers=KNOWN)
    assert sheet.headers == ["工单编号", "来电时间", "来电时间_2", "备注", "备注_2"]
    sheet = read_sheet(",工单编号,来电时间\n0,1,2\n".encode(), "a.csv", known_headers=KNOWN)
    assert sheet.headers == ["列A", "工单编号", "来电时间"]


def test_merged_cells_in_xlsx() -> None:
    def build(book, ws) -> None:
        ws.merge_range("A1:E1", "标题")
        ws.write_row("A2", ["工单编号", "来电时间"])
        ws.merge_range("C2:E2", "备注")
        ws.write_row("A3", ["GD1", "2025-05-16", "a", "b", "c"])
        ws.write_row("A4", ["GD2", "2025-05-17"])
        ws.merge_range("C4:C5", "两行合并")  # a value merged down over two data rows
        ws.write_row("A5", ["GD3", "2025-05-18"])
    sheet = read_sheet(_xlsx(build), "m.xlsx", known_headers=KNOWN)
    assert (sheet.header_row, sheet.header_rows) == (2, 1)
    assert sheet.headers == ["工单编号", "来电时间", "备注", "备注_2", "备注_3"]
    assert [row[2] for _n, row in sheet.rows] == ["a", "两行合并", "两行合并"]


def test_a_merge_to_the_last_column_stays_small() -> None:
    def build(book, ws) -> None:
        ws.write_row("A1", ["工单编号", "来电时间"])
        ws.merge_range(0, 2, 1, 16383, "备注")  # C1:XFD2, over the header and a row
        ws.write_row("A3", ["GD1", "2025-05-16"])
    sheet = read_sheet(_xlsx(build), "m.xlsx", known_headers=KNOWN)
    assert len(sheet.headers) < 100 and sheet.headers[:3] == ["工单编号", "来电时间", "备注"]
    assert sheet.rows[-1] == (3, ["GD1", "2025-05-16", *[None] * (len(sheet.headers) - 2)])


def test_cells_as_the_file_has_them(tmp_path: Path) -> None:
    made = make_12345_sheet(tmp_path / "t.xlsx", "xlsx", rows=12, bad=False)
    kinds = {type(v).__name__ for _n, row in _read(made.path).rows for v in row}
    assert {"str", "float", "datetime", "date", "NoneType"} <= kinds


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_csv_delimiters(delimiter: str) -> None:
    text = delimiter.join(["工单编号", "来电时间"]) + "\r\n" + delimiter.join(["1", "2"]) + "\r\n"
    assert read_sheet(text.encode(), "a.csv", known_headers=KNOWN).rows == [(2, ["1", "2"])]


def test_csv_as_utf16_with_a_bom() -> None:
    data = codecs.BOM_UTF16_LE + "工单编号\t来电时间\r\n一\t2\r\n".encode("utf-16-le")
    sheet = read_sheet(data, "unicode.txt", known_headers=KNOWN)
    assert sheet.rows == [(2, ["一", "2"])]


def test_the_row_limit_with_old_mac_line_ends() -> None:
    data = ("工单编号,来电时间\r" + "".join(f"GD{i},2\r" for i in range(11))).encode()
    with pytest.raises(SheetRefused) as caught:
        read_sheet(data, "mac.csv", known_headers=KNOWN, max_rows=10)
    assert caught.value.params == {"limit": 10, "found": 11}
    assert len(read_sheet(data, "mac.csv", known_headers=KNOWN, max_rows=11).rows) == 11


def test_a_quoted_line_break_stays_in_its_cell() -> None:
    data = '工单编号,诉求内容\n1,"第一行\n第二行"\n2,x\n'.encode()
    sheet = read_sheet(data, "a.csv", known_headers=KNOWN)
    assert sheet.rows == [(2, ["1", "第一行\n第二行"]), (3, ["2", "x"])]


def test_the_format_is_told_by_content_not_name(tmp_path: Path) -> None:
    made = make_12345_sheet(tmp_path / "t.xlsx", "xlsx", rows=3, bad=False)
    assert read_sheet(made.path.read_bytes(), "工单.csv", known_headers=KNOWN).format == "xlsx"
    made = make_12345_sheet(tmp_path / "t.xls", "xls", rows=3, bad=False)
    assert read_sheet(made.path.read_bytes(), "工单.xlsx", known_headers=KNOWN).format == "xls"
    made = make_12345_sheet(tmp_path / "t.csv", "csv", rows=3, bad=False)
    assert read_sheet(made.path.read_bytes(), "工单.xls", known_headers=KNOWN).format == "csv"


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_hostile_files_are_refused(kind: str) -> None:
    data, name, code = make_hostile(kind)
    with pytest.raises(SheetRefused) as caught:
        read_sheet(data, name, known_headers=KNOWN)
    refused = caught.value
    assert refused.code == code, refused
    assert refused.status == {"import.not_a_sheet": 415, "import.too_large": 413,
                              "import.zip_bomb": 413, "import.too_many_rows": 413}.get(code, 422)
    assert refused.message and not any("\u4e00" <= ch <= "\u9fff" for ch in refused.message
                                       if ch not in name)


@pytest.mark.parametrize("kind", ["xml_entities", "xml_entities_utf16", "xml_entities_late"])
def test_a_document_type_declaration_is_refused_before_any_parse(kind: str) -> None:
    """Entities are refused as such before any XML parser sees them: in UTF-16 (where a
    byte search misses them) and after a long prolog as well."""
    data, name, _code = make_hostile(kind)
    with pytest.raises(SheetRefused) as caught:
        read_sheet(data, name, known_headers=KNOWN)
    assert "document type declaration" in caught.value.message, caught.value


def test_a_sheet_part_too_large_to_read_at_once_is_refused_unread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first sheet's part is read whole by the web process: one that would inflate
    beyond SHEET_PART_MAX is refused (413) from its declared size, before it is read."""
    from server.media import spreadsheets

    made = make_12345_sheet(tmp_path / "t.xlsx", "xlsx", rows=50, bad=False)
    inflated = spreadsheets._inflate
    read: list[str] = []
    monkeypatch.setattr(spreadsheets, "_inflate",
                        lambda archive, info: read.append(info.filename)
                        or inflated(archive, info))
    monkeypatch.setattr(spreadsheets, "SHEET_PART_MAX", 2_000)
    with pytest.raises(SheetRefused) as caught:
        read_sheet(made.path.read_bytes(), made.path.name, known_headers=KNOWN)
    assert caught.value.code == "import.too_large" and caught.value.status == 413
    assert caught.value.params == {"limit": 2_000}
    assert not [name for name in read if "worksheets/" in name]


@pytest.mark.parametrize("kind", ["too_many_rows_csv", "too_many_rows_xlsx"])
def test_the_row_limit_says_the_limit_and_the_count(kind: str) -> None:
    data, name, _code = make_hostile(kind)
    with pytest.raises(SheetRefused) as caught:
        read_sheet(data, name, known_headers=KNOWN)
    assert caught.value.params == {"limit": 50_000, "found": 50_001}
    assert "50,000" in caught.value.message and "50,001" in caught.value.message


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "xls"])
def test_the_row_limit_counts_rows_not_blank_lines(tmp_path: Path, fmt: str) -> None:
    made = make_12345_sheet(tmp_path / f"t.{fmt}", fmt, rows=10, bad=False)
    data = made.path.read_bytes()
    # 10 data rows and a blank one among them: exactly at a limit of 10, it passes.
    assert len(read_sheet(data, made.path.name, known_headers=KNOWN, max_rows=10).rows) == 10
    with pytest.raises(SheetRefused) as caught:
        read_sheet(data, made.path.name, known_headers=KNOWN, max_rows=9)
    assert caught.value.params == {"limit": 9, "found": 10}


def test_exactly_the_limit_passes() -> None:
    rows = [["工单编号", "来电时间"], *([f"GD{i}", "2025-05-16"] for i in range(50_000))]
    sheet = read_sheet(minimal_xlsx(rows), "a.xlsx", known_headers=KNOWN)
    assert len(sheet.rows) == 50_000 and sheet.rows[-1][0] == 50_001


def test_the_size_limit_is_a_parameter() -> None:
    data = "工单编号,来电时间\n1,2\n".encode()
    with pytest.raises(SheetRefused) as caught:
        read_sheet(data, "a.csv", known_headers=KNOWN, max_bytes=len(data) - 1)
    assert (caught.value.code, caught.value.status) == ("import.too_large", 413)
    assert read_sheet(data, "a.csv", known_headers=KNOWN, max_bytes=len(data)).rows


def test_a_hyperlink_in_a_sheet_is_not_an_external_link() -> None:
    def build(book, ws) -> None:
        ws.write_row("A1", ["工单编号", "诉求内容"])
        ws.write_url("B2", "http://example.com/photo", string="照片")
        ws.write_string("A2", "GD1")
    sheet = read_sheet(_xlsx(build), "h.xlsx", known_headers=KNOWN)
    assert sheet.rows == [(2, ["GD1", "照片"])]


def test_a_hidden_first_sheet_is_skipped() -> None:
    def build(book, ws) -> None:
        ws.write_row("A1", ["隐藏", "表"])
        ws.hide()
        visible = book.add_worksheet("工单导出")
        visible.write_row("A1", ["工单编号", "诉求内容"])
        visible.write_formula("B2", '=HYPERLINK("http://x","点我")', None, "点我")
        visible.activate()
    sheet = read_sheet(_xlsx(build), "h.xlsx", known_headers=KNOWN)
    assert sheet.rows == [(2, [None, '=HYPERLINK("http://x","点我")'])]


def test_refusal_codes_are_known() -> None:
    with pytest.raises(ValueError):
        SheetRefused("import.not_a_code", "x")


# ---- whatever the bytes: a Sheet or a SheetRefused, never another exception ------------

_VALID = minimal_xlsx([["工单编号", "来电时间"], ["GD1", "2025-05-16"], ["GD2", "=1+1"]])


@given(st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)),
                min_size=1, max_size=8))
@settings(max_examples=80, deadline=None)
def test_a_damaged_xlsx_is_read_or_refused(changes: list[tuple[int, int]]) -> None:
    data = bytearray(_VALID)
    for at, byte in changes:
        data[at] = byte
    with contextlib.suppress(SheetRefused):
        read_sheet(bytes(data), "x.xlsx", known_headers=KNOWN)


@given(st.one_of(st.binary(max_size=2000),
                 st.text(max_size=500).map(lambda t: ("工单编号,来电时间\n" + t).encode()),
                 st.text(max_size=500).map(lambda t: t.encode("gb18030", "replace"))))
@settings(max_examples=300, deadline=None)
def test_any_bytes_are_read_or_refused(data: bytes) -> None:
    try:
        sheet = read_sheet(data, "x.csv", known_headers=KNOWN)
    except SheetRefused:
        return
    assert all(len(cells) == len(sheet.headers) for _n, cells in sheet.rows)
    assert all(h for h in sheet.headers) and len(set(sheet.headers)) == len(sheet.headers)
