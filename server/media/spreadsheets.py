"""A hotline platform's export read safely: .xlsx, .xls or .csv, told apart by content.

Pure: bytes in, a `Sheet` out (no models, no domain). The file as a whole is refused with
`SheetRefused` before any heavy work when it is not a spreadsheet, too large, a zip bomb,
carries macros or external links, or cannot be read. Reading is python-calamine's, in a
child process with capped memory (calamine trusts sizes in the file, and Rust aborts the
process on a failed allocation); only the formulas of an .xlsx are read from the sheet's
XML, so a cell holding `=HYPERLINK("http://x","点我")` comes back as that TEXT, never as
its cached result.

Cells come back as the file has them (str, int, float, bool, datetime, date, time or None):
no stripping here; server.domain.intake.cells cleans them per field."""

from __future__ import annotations

import codecs
import csv
import html
import io
import pickle
import re
import subprocess
import sys
import unicodedata
import zipfile
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from xml.etree import ElementTree

__all__ = ["DEFAULT_MAX_BYTES", "HEADER_SCAN_ROWS", "Sheet", "SheetRefused", "clean_header",
           "read_sheet"]

DEFAULT_MAX_BYTES = 20 * 1024 * 1024  # IMPORT_MAX_BYTES's default (server/config.py)
HEADER_SCAN_ROWS = 20  # the header is looked for within the first rows only
MIN_HEADER_MATCHES = 2

# A zip's central directory is checked before anything is inflated: an .xlsx of a 50,000-
# row export inflates to some tens of MB at ratios of 5-30; a bomb goes far beyond both.
ZIP_MAX_MEMBERS = 2_000
ZIP_MAX_TOTAL = 400 * 1024 * 1024
ZIP_MAX_RATIO = 200  # per member above ZIP_RATIO_FLOOR bytes inflated
ZIP_RATIO_FLOOR = 1024 * 1024
# The first sheet's part is read whole in the web process (its formulas and its extent):
# 50,000 rows with long texts inline are some 150 MB; more is refused before it is read.
SHEET_PART_MAX = 160 * 1024 * 1024
# A sheet's extent from A1 to its last cell (calamine holds it dense): 50,000 rows of 100
# columns are 5 M; beyond 30 M it is a bomb or a stray cell far away, not an export.
MAX_CELLS = 30_000_000
MAX_HEADER_SPAN = 1_000  # columns a merged header cell is followed across, at most

NOT_A_SHEET = "import.not_a_sheet"
TOO_LARGE = "import.too_large"
ZIP_BOMB = "import.zip_bomb"
HAS_MACROS = "import.has_macros"
EXTERNAL_LINKS = "import.external_links"
UNREADABLE = "import.unreadable"
NO_HEADER = "import.no_header"
TOO_MANY_ROWS = "import.too_many_rows"

_STATUS = {NOT_A_SHEET: 415, TOO_LARGE: 413, ZIP_BOMB: 413, TOO_MANY_ROWS: 413,
           HAS_MACROS: 422, EXTERNAL_LINKS: 422, UNREADABLE: 422, NO_HEADER: 422}

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


class SheetRefused(Exception):
    """The file as a whole is refused. `code` is a dotted problem code (zh and en words in
    server/domain/data/problem_messages.json, filled from `params`); `message` is English;
    `status` the HTTP status it answers with."""

    code: str
    message: str
    status: int
    params: dict[str, object]

    def __init__(self, code: str, message: str, **params: object) -> None:
        if code not in _STATUS:  # a typo would reach the client as an unknown code
            raise ValueError(f"unknown sheet refusal code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = _STATUS[code]
        self.params = params

    def __repr__(self) -> str:
        return f"SheetRefused({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class Sheet:
    header_row: int  # 1-based row of the header in the file (its first row if two rows)
    headers: list[str]  # cleaned header names, none blank, none repeated
    rows: list[tuple[int, list[object]]]  # (1-based file row, cells aligned to headers)
    format: str = "xlsx"  # "xlsx", "xls" or "csv": what the content turned out to be
    # Rows of the header (1 or 2: a merged parent cell over its children's names).
    header_rows: int = 1
    encoding: str | None = None  # a CSV's text encoding


def clean_header(value: object) -> str:
    """A header as matched: NFKC (full-width letters and digits folded) and no whitespace
    anywhere ("来电 时间 " is 来电时间)."""
    return "".join(unicodedata.normalize("NFKC", _as_text(value)).split())


def read_sheet(data: bytes, filename: str, *, known_headers: Collection[str],
               max_rows: int = 50_000, max_bytes: int = DEFAULT_MAX_BYTES) -> Sheet:
    """The first visible sheet of `data` with its header found among the first rows by
    `known_headers` (the field names a source's column map expects). `filename` is only
    used in messages: the format is decided by content."""
    if len(data) > max_bytes:
        raise SheetRefused(
            TOO_LARGE, f"The file is {len(data):,} bytes; at most {max_bytes:,} may be "
            "imported at once.", size=len(data), limit=max_bytes)
    kind = _sniff(data, filename)
    if kind == "xlsx":
        grid = _read_xlsx(data, max_rows)
    elif kind == "xls":
        grid = _calamine_grid(data, {}, max_rows)
    else:
        text, encoding = _decode_csv(data)
        grid = _csv_grid(text)
        grid.encoding = encoding
    return _build(grid, known_headers=known_headers, max_rows=max_rows, kind=kind,
                  encoding=grid.encoding)


@dataclass
class _Grid:
    """A sheet's cells from A1 (row 0 is the file's row 1), read in two steps so a file far
    over the row limit is refused before its rows are built: the first rows, the merges and
    a bound on the rows, then (only if it may pass) every row."""

    head: list[list[object]]
    merges: list[tuple[int, int, int, int]]
    bound: int  # the file's last row with anything in it is at most this (1-based)
    rows: Callable[[], list[list[object]]]  # every row from A1
    count_from: Callable[[int], int]  # non-blank rows from this 0-based row on
    encoding: str | None = None


# ---- what the bytes are ------------------------------------------------------------------

def _sniff(data: bytes, filename: str) -> str:
    if data.startswith(_ZIP_MAGIC) or data.startswith(b"PK\x05\x06"):
        return "xlsx"
    if data.startswith(_OLE_MAGIC):
        # An OLE2 container is an .xls, an encrypted .xlsx (EncryptedPackage) or another
        # Office file; the stream names in its directory are UTF-16.
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise SheetRefused(UNREADABLE, "The workbook is password-protected: save it "
                               "without a password and import it again.", file=filename)
        if "_VBA_PROJECT".encode("utf-16-le") in data:
            raise SheetRefused(HAS_MACROS, "The workbook holds macros: save it as .xlsx "
                               "(without macros) and import it again.", file=filename)
        if "Workbook".encode("utf-16-le") in data or "Book".encode("utf-16-le") in data:
            return "xls"
        raise SheetRefused(NOT_A_SHEET, f"{filename} is an Office file but not a "
                           "spreadsheet.", file=filename)
    head = data[:1024].lstrip()
    if head.startswith(b"%PDF") or (b"\x00" in data[:8192] and not _utf16_bom(data)):
        raise SheetRefused(NOT_A_SHEET, f"{filename} is not a spreadsheet (.xlsx, .xls or "
                           ".csv).", file=filename)
    lowered = head[:512].lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml", b"\xef\xbb\xbf<")):
        # Some platforms export an HTML (or XML 2003) table named .xls.
        raise SheetRefused(NOT_A_SHEET, f"{filename} is a web page or XML saved with a "
                           "spreadsheet's name: open it in Excel or WPS and save it as .xlsx.",
                           file=filename)
    return "csv"


def _utf16_bom(data: bytes) -> bool:
    return data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


# ---- .xlsx -------------------------------------------------------------------------------

def _read_xlsx(data: bytes, max_rows: int) -> _Grid:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception as exc:  # zipfile raises many kinds on damaged bytes
        raise SheetRefused(UNREADABLE, "The file is damaged (not a readable .xlsx).") from exc
    names = {info.filename for info in infos}
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        if "xl/workbook.bin" in names:
            raise SheetRefused(NOT_A_SHEET, "An .xlsb (binary) workbook: save it as .xlsx "
                               "and import it again.")
        raise SheetRefused(NOT_A_SHEET, "The file is a zip archive, not a spreadsheet "
                           "(.xlsx, .xls or .csv).")
    _check_zip(infos)
    lowered = [n.lower() for n in names]
    if any(n.endswith("vbaproject.bin") or n.startswith(("xl/macrosheets/", "xl/activex/"))
           for n in lowered):
        raise SheetRefused(HAS_MACROS, "The workbook holds macros: save it as .xlsx "
                           "(without macros) and import it again.")
    if any(n.startswith("xl/externallinks/") for n in lowered):
        raise SheetRefused(EXTERNAL_LINKS, "The workbook links to other files: break the "
                           "links (Data > Edit Links), save and import it again.")
    parts = _inflate_small_parts(archive, infos)
    for name, body in parts.items():
        if _has_dtd(body):
            raise SheetRefused(UNREADABLE, "The workbook holds an XML document type "
                               "declaration, which no spreadsheet program writes.", part=name)
    types = parts.get("[Content_Types].xml", b"")
    if b"macroEnabled" in types or b"vbaProject" in types:
        raise SheetRefused(HAS_MACROS, "The workbook is macro-enabled (.xlsm): save it as "
                           ".xlsx and import it again.")
    for name, body in parts.items():
        if name.endswith(".rels") and _external_target(body):
            raise SheetRefused(EXTERNAL_LINKS, "The workbook links to other files: break "
                               "the links, save and import it again.")
    sheet_path = _first_sheet_path(parts)
    body = b""
    for info in infos:
        if info.filename in parts:
            continue
        if info.filename == sheet_path:
            if info.file_size > SHEET_PART_MAX:
                raise SheetRefused(TOO_LARGE, f"The sheet inflates to {info.file_size:,} "
                                   f"bytes, more than the {SHEET_PART_MAX:,} read at once: "
                                   "split it and import the parts.", limit=SHEET_PART_MAX)
            body = _inflate(archive, info)
        else:
            _inflate_check(archive, info)  # what calamine will inflate, within its size
    if _has_dtd(body):  # entities (a "billion laughs") have no place in a sheet
        raise SheetRefused(UNREADABLE, "The workbook's sheet holds an XML document type "
                           "declaration, which no spreadsheet program writes.")
    formulas = _formulas(body) if body else {}
    _check_extent(body)
    return _calamine_grid(data, formulas, max_rows)


_ROW_NUMBER = re.compile(rb"<" + rb"(?:[A-Za-z_][\w.-]*:)?" + rb"row\b[^>]*?\br=\"(\d{1,7})\"")
_CELL_COLUMN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c\b[^>]*?\br=\"([A-Z]{1,3})\d")


def _check_extent(body: bytes) -> None:
    """calamine holds a sheet as one dense block from A1 to its last cell: one stray value
    at XFD1048576 in a file of a few kB would make it 17 billion cells. The rows and
    columns the XML names are counted first (one pass over the bytes)."""
    last_row = max((int(m.group(1)) for m in _ROW_NUMBER.finditer(body)), default=0)
    letters = max((m.group(1) for m in _CELL_COLUMN.finditer(body)),
                  key=lambda x: (len(x), x), default=b"A")
    columns = _column_index(letters.decode()) + 1
    if last_row * columns > MAX_CELLS:
        raise SheetRefused(TOO_LARGE, f"The sheet spans {last_row:,} rows and {columns:,} "
                           "columns: too large to read (a stray cell far away?).",
                           rows=last_row, columns=columns)


def _check_zip(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > ZIP_MAX_MEMBERS:
        raise SheetRefused(ZIP_BOMB, f"The workbook holds {len(infos):,} parts; a "
                           "spreadsheet has a few dozen.", members=len(infos))
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > ZIP_RATIO_FLOOR and \
                info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
            raise SheetRefused(ZIP_BOMB, "The workbook inflates far beyond its size (a zip "
                               "bomb).", part=info.filename)
        if info.flag_bits & 0x1:
            raise SheetRefused(UNREADABLE, "The workbook is encrypted: save it without a "
                               "password and import it again.")
    if total > ZIP_MAX_TOTAL:
        raise SheetRefused(ZIP_BOMB, f"The workbook would inflate to {total:,} bytes (a zip "
                           "bomb, or far too large to import).", size=total)


def _inflate(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """A member inflated no further than its declared size: a central directory that lies
    about sizes fails the CRC check (zipfile stops at the declared size) or here."""
    try:
        with archive.open(info) as member:
            body = member.read(info.file_size + 1)
    except Exception as exc:  # zipfile raises many kinds on damaged bytes (ValueError ...)
        raise SheetRefused(UNREADABLE, "The file is damaged (not a readable .xlsx).") from exc
    if len(body) > info.file_size:
        raise SheetRefused(ZIP_BOMB, "The workbook inflates beyond what it declares (a zip "
                           "bomb).", part=info.filename)
    return body


_DECLARED_ENCODING = re.compile(rb"""<\?xml[^>]*?\bencoding\s*=\s*["']([\w.:-]+)["']""")


def _has_dtd(body: bytes) -> bool:
    """Whether the part holds, or could hide, an XML document type declaration (its
    entities: a "billion laughs"). A part in an encoding that does not write ASCII as
    ASCII counts as one (UTF-16, which no spreadsheet program writes): the bytes searched
    for are not there, yet the parser reads the declaration."""
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in body[:256]:
        return True
    declared = _DECLARED_ENCODING.match(body.removeprefix(b"\xef\xbb\xbf")[:256].lstrip())
    if declared and not _writes_ascii_as_ascii(declared.group(1).decode("ascii")):
        return True
    return b"<!DOCTYPE" in body or b"<!ENTITY" in body


def _writes_ascii_as_ascii(encoding: str) -> bool:
    """UTF-8, GBK, Latin-1...: the markup searched for is the same bytes in them."""
    try:
        return "<!DOCTYPE <!ENTITY".encode(encoding) == b"<!DOCTYPE <!ENTITY"
    except (LookupError, UnicodeError):
        return False  # a name Python does not know: no parser here reads it either


def _inflate_check(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """A part inflated and dropped, chunk by chunk: it must end at its declared size with
    its CRC right (zipfile stops at the declared size, then checks the CRC), so a central
    directory lying about sizes is caught before calamine inflates the part."""
    try:
        with archive.open(info) as member:
            while member.read(1 << 20):
                pass
    except Exception as exc:  # zipfile raises many kinds on damaged bytes (ValueError ...)
        raise SheetRefused(UNREADABLE, "The file is damaged (not a readable .xlsx).") from exc


def _inflate_small_parts(archive: zipfile.ZipFile,
                         infos: list[zipfile.ZipInfo]) -> dict[str, bytes]:
    """The package's plumbing (content types, relationships, workbook): small XML."""
    wanted = [i for i in infos if i.filename == "[Content_Types].xml"
              or i.filename.endswith(".rels") or i.filename == "xl/workbook.xml"]
    return {info.filename: _inflate(archive, info) for info in wanted}


def _external_target(rels: bytes) -> bool:
    """A relationship fetched from elsewhere (a linked workbook, template, OLE object or
    image); hyperlinks stay, a cell's link is only text to us."""
    try:
        root = ElementTree.fromstring(rels)
    except ElementTree.ParseError:
        return False  # the reader decides whether a damaged part matters
    for rel in root.iter(f"{_NS_PKG_REL}Relationship"):
        if rel.get("TargetMode") == "External" and not rel.get("Type", "").endswith(
                "/hyperlink"):
            return True
    return False


def _first_sheet_path(parts: dict[str, bytes]) -> str | None:
    """The zip path of the workbook's first visible worksheet (the one calamine reads)."""
    try:
        book = ElementTree.fromstring(parts["xl/workbook.xml"])
        rels = ElementTree.fromstring(parts.get("xl/_rels/workbook.xml.rels", b"<x/>"))
    except (KeyError, ElementTree.ParseError):
        return None
    targets = {rel.get("Id"): rel.get("Target", "")
               for rel in rels.iter(f"{_NS_PKG_REL}Relationship")}
    for sheet in book.iter(f"{_NS_MAIN}sheet"):
        if sheet.get("state", "visible") != "visible":
            continue
        target = targets.get(sheet.get(f"{_NS_REL}id"))
        if not target or "worksheets/" not in target:
            continue  # a chartsheet or dialog sheet has no cells
        return target.lstrip("/") if target.startswith("/") else "xl/" + target
    return None


_CELL_REF = re.compile(r"([A-Z]{1,3})([0-9]{1,7})")


# A formula element and the cell it sits in (in OOXML a cell's <f> comes first, right
# after the cell's start tag): a scan of the bytes, several times faster than parsing every
# cell of the sheet with ElementTree.
_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"
_F_TAG = re.compile(rb"<" + _PREFIX + rb"f(?=[\s>/])")
_F_ELEMENT = re.compile(rb"<" + _PREFIX + rb"f((?:\s[^>]*?)?)(?:/>|>(.*?)</" + _PREFIX + rb"f>)",
                        re.DOTALL)
_C_BEFORE = re.compile(rb"<" + _PREFIX + rb"c\s[^<>]*?\br=\"([A-Z]{1,3}[0-9]{1,7})\"[^<>]*>\s*$")
_ATTR = re.compile(rb"""\b(t|si)=["']([^"']*)["']""")
_WINDOW = 400  # bytes searched back from a <f> for its cell's start tag


def _formulas(body: bytes) -> dict[tuple[int, int], str]:
    """{(row0, col0): "=formula"} of the sheet's formula cells, read from its XML: calamine
    gives a formula's cached result, which would store `点我` for a cell that holds
    =HYPERLINK("http://x","点我"). A shared formula's other cells get the text of the cell
    that defines it (untranslated: it is kept as text, never evaluated)."""
    found: dict[tuple[int, int], str] = {}
    shared: dict[bytes, str] = {}
    pending: list[tuple[tuple[int, int], bytes]] = []
    for tag in _F_TAG.finditer(body):
        start = tag.start()
        cell = _C_BEFORE.search(body, max(0, start - _WINDOW), start)
        element = _F_ELEMENT.match(body, start)
        if element is None or cell is None:
            return _formulas_parsed(body)  # unusual XML (a cell without r=): parse it all
        ref = _CELL_REF.fullmatch(cell.group(1).decode())
        assert ref is not None
        where = (int(ref.group(2)) - 1, _column_index(ref.group(1)))
        attrs = dict(_ATTR.findall(element.group(1) or b""))
        text = html.unescape(element.group(2).decode("utf-8", "replace")) \
            if element.group(2) else ""
        if attrs.get(b"t") == b"shared" and b"si" in attrs:
            if text:
                shared[attrs[b"si"]] = text
            else:
                pending.append((where, attrs[b"si"]))
                continue
        if text:
            found[where] = "=" + text
    for where, index in pending:
        if index in shared:
            found[where] = "=" + shared[index]
    return found


def _formulas_parsed(body: bytes) -> dict[tuple[int, int], str]:
    """The same, by parsing the sheet (cells without an r= attribute are counted along)."""
    found: dict[tuple[int, int], str] = {}
    shared: dict[str, str] = {}
    pending: list[tuple[tuple[int, int], str]] = []
    row, col = -1, -1
    try:
        for event, element in ElementTree.iterparse(io.BytesIO(body), events=("start", "end")):
            tag = element.tag.rsplit("}", 1)[-1]
            if event == "start":
                if tag == "row":
                    number = element.get("r")
                    row = int(number) - 1 if number else row + 1
                    col = -1
                elif tag == "c":
                    ref = _CELL_REF.fullmatch(element.get("r", ""))
                    if ref:
                        row, col = int(ref.group(2)) - 1, _column_index(ref.group(1))
                    else:
                        col += 1
                continue
            if tag == "row":
                element.clear()
            if tag != "c":
                continue
            formula = next((e for e in element if e.tag.rsplit("}", 1)[-1] == "f"), None)
            if formula is None:
                continue
            text, index = formula.text or "", formula.get("si")
            if formula.get("t") == "shared" and index is not None:
                if text:
                    shared[index] = text
                else:
                    pending.append(((row, col), index))
                    continue
            if text:
                found[(row, col)] = "=" + text
    except ElementTree.ParseError as exc:
        raise SheetRefused(UNREADABLE, "The workbook's sheet is damaged.") from exc
    for where, index in pending:
        if index in shared:
            found[where] = "=" + shared[index]
    return found


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


# ---- .xls --------------------------------------------------------------------------------

# calamine trusts sizes written in the file: a few damaged bytes of an .xls, or a shared
# strings table claiming 4 billion entries in an .xlsx, make it ask for tens of GB at once,
# and Rust aborts the whole process (a server worker) when an allocation fails. So calamine
# runs in a child process with its address space capped; it sends back the first rows, the
# merges, how many non-blank rows lie below each of those first rows, and every row only
# when the sheet can be within the row limit (so 50,001 rows are counted, not sent).
# The child costs about 0.1 s to start (bench/bench_intake_read.py prints it).
CHILD_MEMORY_LIMIT = 2 * 1024 * 1024 * 1024
CHILD_TIMEOUT_S = 120
_CHILD = """
import io, pickle, resource, sys
limit, max_rows, scan = (int(a) for a in sys.argv[1:4])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
import python_calamine as pc
data = sys.stdin.buffer.read()

def blank(value):
    return value is None or (isinstance(value, str) and not value.strip())

try:
    book = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    index = next((i for i, m in enumerate(book.sheets_metadata)
                  if m.visible == pc.SheetVisibleEnum.Visible
                  and m.typ == pc.SheetTypeEnum.WorkSheet), 0)
    sheet = book.get_sheet_by_index(index)
    merges = [(a[0], a[1], b[0], b[1]) for a, b in (sheet.merged_cell_ranges or [])]
    grid = sheet.to_python(skip_empty_area=False)
    filled = [not all(blank(c) for c in row) for row in grid]
    below = [sum(filled[r:]) for r in range(scan + 1)]
    answer = ("ok", grid[:scan], merges, below, len(grid),
              grid if below[-1] <= max_rows else None)
except pc.PasswordError:
    answer = ("password",)
except Exception as exc:
    answer = ("error", type(exc).__name__)
sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
"""


def _calamine_grid(data: bytes, formulas: dict[tuple[int, int], str], max_rows: int) -> _Grid:
    scan = HEADER_SCAN_ROWS + 2
    try:
        child = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, str(CHILD_MEMORY_LIMIT), str(max_rows),
             str(scan)], input=data, capture_output=True, timeout=CHILD_TIMEOUT_S,
            check=False)
    except subprocess.TimeoutExpired as exc:
        raise SheetRefused(UNREADABLE, "The workbook takes too long to read (damaged?).") \
            from exc
    # Our own child's answer (pickle from a process we started, never from the upload).
    answer = pickle.loads(child.stdout) if child.returncode == 0 and child.stdout else None
    if answer is None or answer[0] == "error":
        raise SheetRefused(UNREADABLE, "The workbook cannot be read (damaged, or saved by "
                           "a program that wrote it wrongly).")
    if answer[0] == "password":
        raise SheetRefused(UNREADABLE, "The workbook is password-protected: save it "
                           "without a password and import it again.")
    _ok, head, merges, below, height, grid = answer

    def with_formulas(rows: list[list[object]]) -> list[list[object]]:
        for (r, c), formula in formulas.items():
            if r >= len(rows):
                continue  # a formula beyond the sheet's cells holds nothing calamine saw
            row = rows[r]
            if len(row) <= c:
                row.extend([""] * (c + 1 - len(row)))
            row[c] = formula
        return rows

    def rows() -> list[list[object]]:
        assert grid is not None  # sent whenever the sheet may be within the limit
        return with_formulas(grid)

    def count_from(first: int) -> int:
        return below[min(first, len(below) - 1)] if first < len(below) else 0

    # Sent rows: the bound is exact; not sent: more than max_rows lie below any header.
    return _Grid(head=with_formulas(head), merges=merges,
                 bound=height if grid is not None else max_rows + scan + 1 + height,
                 rows=rows, count_from=count_from)


# ---- .csv --------------------------------------------------------------------------------

def _decode_csv(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without a BOM), UTF-16 with a BOM (Excel's "Unicode text"), else
    GB18030 (a superset of GBK and GB2312, as Chinese platforms and Excel export)."""
    if _utf16_bom(data):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _binary_looking(text):
            break
        return text, "utf-8" if encoding == "utf-8-sig" else encoding
    raise SheetRefused(NOT_A_SHEET, "The file is neither a spreadsheet nor text in UTF-8 or "
                       "GB18030/GBK (.xlsx, .xls or .csv).")


def _binary_looking(text: str) -> bool:
    sample = text[:8192]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\r\n\x0c")
    return "\x00" in sample or controls > max(8, len(sample) // 100)


def _csv_grid(text: str) -> _Grid:
    first_lines = text[:8192].splitlines()[:HEADER_SCAN_ROWS] or [""]
    delimiter = max(",\t;", key=lambda d: sum(line.count(d) for line in first_lines))

    def records() -> Iterator[list[object]]:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            for record in reader:
                yield [cell if cell != "" else None for cell in record]
        except csv.Error as exc:
            raise SheetRefused(UNREADABLE, f"The CSV cannot be read: {exc}.") from exc

    def count_from(first: int) -> int:
        return sum(1 for index, row in enumerate(records())
                   if index >= first and not all(_blank(c) for c in row))

    head: list[list[object]] = []
    for record in records():
        head.append(record)
        if len(head) >= HEADER_SCAN_ROWS + 2:
            break
    # A newline count bounds the records (a quoted cell may hold line breaks too).
    bound = max(text.count("\n"), text.count("\r")) + 1  # old Macs ended lines with CR
    return _Grid(head=head, merges=[], bound=bound, rows=lambda: list(records()),
                 count_from=count_from, encoding=None)


# ---- header and rows ---------------------------------------------------------------------

def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _build(grid: _Grid, *, known_headers: Collection[str], max_rows: int, kind: str,
           encoding: str | None) -> Sheet:
    known = {clean_header(h) for h in known_headers} - {""}
    head = grid.head
    spans = _spans(grid.merges)
    top = min(HEADER_SCAN_ROWS, len(head))
    singles = [len(set(_header_names(head, r, None, spans, known)) & known)
               for r in range(top)]
    best: tuple[int, int, int] | None = None  # (score, row0, rows): the first best wins
    for r in range(top):
        if best is None or singles[r] > best[0]:
            best = (singles[r], r, 1)
        if r + 1 < top:
            # Two rows are one header only when together they name more than either alone
            # (a parent merged over its children), not a title row over the real header.
            double = len(set(_header_names(head, r, r + 1, spans, known)) & known)
            if double > max(singles[r], singles[r + 1], best[0]):
                best = (double, r, 2)
    if best is None or best[0] < MIN_HEADER_MATCHES:
        looked_for = "、".join(sorted(known))
        raise SheetRefused(NO_HEADER, f"No header row found in the first {HEADER_SCAN_ROWS} "
                           f"rows: looked for at least {MIN_HEADER_MATCHES} of {looked_for}.",
                           looked_for=looked_for, rows=HEADER_SCAN_ROWS)
    _score, header0, nrows = best
    names = _header_names(head, header0, header0 + 1 if nrows == 2 else None, spans, known)
    first_data = header0 + nrows

    if grid.bound - first_data > max_rows:  # may be over: count, without building rows
        found = grid.count_from(first_data)
        if found > max_rows:
            raise SheetRefused(TOO_MANY_ROWS, f"The sheet has {found:,} rows; at most "
                               f"{max_rows:,} may be imported at once.",
                               limit=max_rows, found=found)

    cells_of = grid.rows()
    _fill_merged_data(cells_of, grid.merges, first_data)
    # A column with data under a blank header (a merged name's span that the format did
    # not keep, as CSV and often .xls) is named too, never dropped.
    named = len(names)
    while named and not names[named - 1]:
        named -= 1
    body = cells_of[first_data:]
    widest = max(map(len, body), default=0)
    used = next((c + 1 for c in range(widest - 1, named - 1, -1)
                 if any(c < len(row) and not _blank(row[c]) for row in body)), named)
    headers = _fill_blanks(names[:used] + [""] * (used - len(names)))
    width = len(headers)
    rows: list[tuple[int, list[object]]] = []
    for number, row in enumerate(body, start=first_data + 1):
        cells = [None if v == "" else v for v in row[:width]]
        filled = [c for c in cells if c is not None]
        if not filled or all(c.__class__ is str and c.isspace() for c in filled):
            continue  # a blank row: left out, its number skipped
        if len(cells) < width:
            cells.extend([None] * (width - len(cells)))
        rows.append((number, cells))
    return Sheet(header_row=header0 + 1, headers=headers, rows=rows, format=kind,
                 header_rows=nrows, encoding=encoding)


def _last_filled(row: list[object]) -> int:
    for index in range(len(row) - 1, -1, -1):
        if not _blank(row[index]):
            return index + 1
    return 0


def _fill_merged_data(grid: list[list[object]], merges: list[tuple[int, int, int, int]],
                      first_data: int) -> None:
    """A value merged over several data cells (a unit merged down a block of rows) belongs
    to each of them; calamine gives it to the top-left cell only."""
    width = max(map(len, grid), default=0)
    for r0, c0, r1, c1 in merges:
        if r0 < first_data or r0 >= len(grid) or c0 >= width:
            continue
        value = grid[r0][c0] if c0 < len(grid[r0]) else None
        c1 = min(c1, width - 1)  # a merge to XFD spans no cell calamine gave
        for r in range(r0, min(r1 + 1, len(grid))):
            row = grid[r]
            if len(row) <= c1:
                row.extend([""] * (c1 + 1 - len(row)))
            for c in range(c0, c1 + 1):
                if (r, c) != (r0, c0):
                    row[c] = value


def _spans(merges: Iterable[tuple[int, int, int, int]]
           ) -> dict[tuple[int, int], tuple[int, int, int]]:
    """{(row, col): (top row, left col, columns merged)} for every cell of a merged range in
    the rows a header is looked for in: the value sits in the range's top-left cell."""
    spans: dict[tuple[int, int], tuple[int, int, int]] = {}
    for r0, c0, r1, c1 in merges:
        for r in range(r0, min(r1, HEADER_SCAN_ROWS + 1) + 1):
            for c in range(c0, min(c1, c0 + MAX_HEADER_SPAN) + 1):
                spans[(r, c)] = (r0, c0, c1 - c0 + 1)
    return spans


def _cell(grid: list[list[object]], r: int, c: int) -> object:
    row = grid[r] if r < len(grid) else []
    return row[c] if c < len(row) else None


def _header_names(grid: list[list[object]], upper: int, lower: int | None,
                  spans: dict[tuple[int, int], tuple[int, int, int]],
                  known: set[str]) -> list[str]:
    """The names of row `upper`, or of `upper` over `lower` for a two-row header: the
    child's name (lower) under a parent merged across columns, under a blank, or under a
    parent that is no field's name when the child is; else the upper name (a cell merged
    down over both rows keeps its name)."""
    width = max(len(grid[upper]), len(grid[lower]) if lower is not None else 0)
    # A merge reaching past the cells (one name over two columns, the second empty below)
    # widens the header a little, never to a merge's far end at column XFD.
    width = max(width, *(min(span[1] + span[2], width + 64)
                         for (r, _c), span in spans.items() if r == upper), 0)
    names: list[str] = []
    for c in range(width):
        up = _cell(grid, upper, c)
        merged = spans.get((upper, c))
        if merged is not None and _blank(up) and merged[0] == upper:
            up = _cell(grid, merged[0], merged[1])  # across, not down from a row above
        name = clean_header(up)
        if lower is not None:
            child = clean_header(_cell(grid, lower, c))
            below = spans.get((lower, c))
            merged_down = below is not None and below[0] <= upper
            wide = merged is not None and merged[2] > 1
            if child and not merged_down and (
                    wide or not name or (name not in known and child in known)):
                name = child
        names.append(name)
    return names


def _fill_blanks(names: list[str]) -> list[str]:
    """No header blank, none repeated: a blank right of a name (a merged cell's span, or a
    title left blank) is named after it (备注, 备注_2)."""
    seen: dict[str, int] = {}
    out: list[str] = []
    last = ""
    for index, name in enumerate(names):
        base = name or last or _letters(index)
        if name:
            last = name
        count = seen.get(base, 0) + 1
        seen[base] = count
        out.append(base if count == 1 else f"{base}_{count}")
    return out


def _letters(index: int) -> str:
    """列A, 列B ... for a blank header with nothing named left of it."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return "列" + letters
