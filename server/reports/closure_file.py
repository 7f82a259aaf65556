"""The closure file (办结材料 / 办结公示) of one or more closed cases, as DOCX and PDF.

Layout as the photo annex offices paste together by hand today (seed 000): per case a cover
(the case, the decision, the revisit, the readings, the seal), then one page per photo: its
heading, the photo, the four lines 摄影时间 / 摄 影 人 / 地    点 / 说    明, and a QR code
of its verify URL with the short code under it.

This module holds what both renderers share (the cover's rows, a photo's lines, the page's
geometry) and the DOCX renderer; the PDF renderer is closure_pdf.py. Both are pure (packet
in, bytes out) and deterministic: the same packet gives the same bytes, so a stored closure
file can be checked by rendering it again. Photos are the stored JPEG thumbnails, embedded
as they are (no decode) except in a public packet, where each is re-encoded without
metadata first.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.image.image import Image as DocxImage
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import CONTENT_TYPES_URI, PACKAGE_URI, PackURI
from docx.opc.pkgwriter import _ContentTypesItem  # its [Content_Types].xml (python-docx 1.x)
from docx.oxml.ns import qn
from docx.oxml.shape import CT_Inline
from docx.oxml.styles import CT_Style
from docx.oxml.text.run import CT_R
from docx.parts.image import ImagePart
from docx.shared import Length, Mm, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph
from PIL import Image

from server.domain.core.text import printable
from server.media.strip import without_metadata
from server.reports.archive import FIXED_TIME, STORED_SUFFIXES
from server.reports.packet import CaseSection, ClosurePacket, PhotoEntry
from server.reports.qr import qr_png

__all__ = ["SHANGHAI", "cover_rows", "photo_lines", "render_docx"]

SHANGHAI = ZoneInfo("Asia/Shanghai")

# A4 and the margins of an office document, in mm; shared so both files look alike.
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 20.0, 18.0, 18.0
CONTENT_W = PAGE_W - 2 * MARGIN_X
QR_MM = 26.0  # with its quiet zone; ~0.7 mm modules for a version 3-4 code

VERIFY_NOTE = (
    "照片核验：每张照片下方的二维码及短码对应该照片的证据记录（SHA-256 哈希值、拍摄时间、"
    "接收时间）；扫码或在核验页输入短码即可查看，并可上传照片文件核对是否一致。"
)


# -- shared content ----------------------------------------------------------------------


def _local(dt: datetime, tz: ZoneInfo) -> datetime:
    # SQLite hands back naive datetimes; everything the app stores is UTC.
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(tz)


def when(dt: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """2024年1月22日17:24 (the annex's style: no leading zeros in month and day)."""
    t = _local(dt, tz)
    return f"{t.year}年{t.month}月{t.day}日{t.hour:02d}:{t.minute:02d}"


def photo_lines(photo: PhotoEntry, tz: ZoneInfo = SHANGHAI) -> list[str]:
    """The four lines under a photo, labels spaced as in the annex."""
    return [
        f"摄影时间：{when(photo.taken_at, tz)}",
        f"摄 影 人：{photo.photographer}",
        f"地    点：{photo.place}",
        f"说    明：{photo.caption}",
    ]


def cover_rows(case: CaseSection, public: bool, tz: ZoneInfo = SHANGHAI) -> list[tuple[str, str]]:
    """(label, value) rows of a case's cover; no complainant in a public file, whatever the
    packet holds."""
    rows = [
        ("案件编号", case.case_id),
        ("投诉事项", case.subject),
        ("地    址", case.address),
        ("类    别", case.category),
        ("来    源", case.channel),
        ("承办单位", case.unit),
        ("受理时间", when(case.received_at, tz)),
        ("办结时间", when(case.closed_at, tz) if case.closed_at else "未办结"),
    ]
    if not public and case.complainant:
        rows.append(("投 诉 人", case.complainant))
    rows += [
        ("调查结论", case.verdict),
        ("办理结果", case.result),
        ("回访情况", case.revisit),
        ("监测数据", "\n".join(case.readings) if case.readings else "无"),
        ("照    片", f"{len(case.photos)} 张"),
        ("封存编号", f"第 {case.seal_number} 号"),
        ("封存时间", when(case.sealed_at, tz)),
        ("封存哈希", f"SHA-256 {case.seal_sha256}"),
        ("审 核 人", case.approver),
    ]
    return rows


@dataclass(frozen=True)
class _Photo:
    entry: PhotoEntry
    jpeg: bytes  # what gets embedded
    width_px: int
    height_px: int
    qr: bytes  # PNG


def _photos(case: CaseSection, public: bool) -> Iterator[_Photo]:
    for entry in case.photos:
        jpeg = without_metadata(entry.image) if public else entry.image
        with Image.open(io.BytesIO(jpeg)) as img:  # reads the header only
            width, height = img.size
        yield _Photo(entry, jpeg, width, height, qr_png(entry.verify_url))


def _fit(photo: _Photo, max_w: float, max_h: float) -> tuple[float, float]:
    """The photo's size in mm: as wide as allowed, aspect kept, never taller than max_h."""
    scale = min(max_w / photo.width_px, max_h / photo.height_px)
    return photo.width_px * scale, photo.height_px * scale


# -- DOCX ----------------------------------------------------------------------------------

DOCX_BODY_FONT = "宋体"  # Word on a Chinese Windows has both; others substitute their own
DOCX_HEADING_FONT = "黑体"
# Photo box in a DOCX page: Word flows the text itself, so a fixed height that leaves room
# for the heading and a four-line caption block is enough.
_DOCX_PHOTO_MAX_H = 175.0


def _check(packet: ClosurePacket) -> None:
    if not packet.cases:
        raise ValueError("a closure packet holds at least one case")


def render_docx(packet: ClosurePacket, *, tz: ZoneInfo = SHANGHAI) -> bytes:
    _check(packet)
    doc = Document()
    _docx_setup(doc, packet)
    pictures = _Pictures(doc)
    first = True
    for case in packet.cases:
        _docx_cover(doc, packet, case, tz, page_break=not first)
        first = False
        for photo in _photos(case, packet.public):
            _docx_photo(doc, pictures, photo, tz)
    return _package_bytes(doc)


def _docx_setup(doc: DocxDocument, packet: ClosurePacket) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(PAGE_W), Mm(PAGE_H)
    section.left_margin = section.right_margin = Mm(MARGIN_X)
    section.top_margin, section.bottom_margin = Mm(MARGIN_TOP), Mm(MARGIN_BOTTOM)
    normal = doc.styles["Normal"]
    normal.font.size = Pt(12)
    _font(normal.element, DOCX_BODY_FONT)
    # The template's page preview (a blank page) would stand for the file in file managers.
    package = doc.part.package
    for r_id, rel in list(package.rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            del package.rels[r_id]
    props = doc.core_properties
    # Fixed properties: python-docx would otherwise stamp its own name and dates.
    props.title = packet.title
    props.author = props.last_modified_by = "Fieldcase"
    props.created = props.modified = _local(packet.generated_at, UTC).replace(microsecond=0)
    props.revision = 1
    props.comments = props.subject = props.keywords = props.category = ""


class _Pictures:
    """Puts pictures into a document at a constant cost each.

    python-docx's run.add_picture() looks for an identical image among those already added
    by hashing every one of them again: quadratic, ~0.6 s for 50 photos and about a minute
    for a batch of 500. Every picture here is its own part, named by a counter.
    """

    def __init__(self, doc: DocxDocument) -> None:
        self._part = doc.part
        self._count = 0

    def add(self, paragraph: Paragraph, blob: bytes, width: Length,
            height: Length | None = None) -> None:
        self._count += 1
        image = DocxImage.from_blob(blob)  # reads the header for size and DPI only
        name = PackURI(f"/word/media/picture{self._count}.{image.ext}")
        r_id = self._part.relate_to(ImagePart.from_image(image, name), RT.IMAGE)
        cx, cy = image.scaled_dimensions(width, height)
        # image.filename is a generic "image.jpg" (no path of ours leaks into the file).
        inline = CT_Inline.new_pic_inline(self._count, r_id, image.filename, cx, cy)
        paragraph.add_run().element.add_drawing(inline)


def _font(element: CT_Style | CT_R, name: str) -> None:
    # Word picks the East Asian font from w:eastAsia, which python-docx does not set.
    rpr = element.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), name)


def _run(
    paragraph: Paragraph,
    text: str,
    *,
    size: float | None = None,
    bold: bool = False,
    font: str | None = None,
    grey: bool = False,
) -> None:
    run = paragraph.add_run(printable(text))
    run.bold = bold or None
    if size:
        run.font.size = Pt(size)
    if font:
        _font(run.element, font)
    if grey:
        run.font.color.rgb = RGBColor(0x55, 0x55, 0x55)


def _lines(cell: _Cell, text: str, **style: object) -> None:
    """`text` into a table cell, one paragraph per line."""
    first, *rest = text.split("\n")
    _run(cell.paragraphs[0], first, **style)  # type: ignore[arg-type]
    for line in rest:
        _run(cell.add_paragraph(), line, **style)  # type: ignore[arg-type]


def _docx_cover(
    doc: DocxDocument, packet: ClosurePacket, case: CaseSection, tz: ZoneInfo, *,
    page_break: bool,
) -> None:
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.page_break_before = page_break
    title.paragraph_format.space_after = Pt(12)
    _run(title, packet.title, size=18, bold=True, font=DOCX_HEADING_FONT)
    rows = cover_rows(case, packet.public, tz)
    table = doc.add_table(rows=len(rows), cols=2)
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(table, (Mm(32), Mm(CONTENT_W - 32)))
    for row, (label, value) in zip(table.rows, rows, strict=True):
        label_cell, value_cell = row.cells
        _lines(label_cell, label, bold=True)
        _lines(value_cell, value, size=10.5 if label == "封存哈希" else None)
    note = doc.add_paragraph()
    note.paragraph_format.space_before = Pt(12)
    _run(note, VERIFY_NOTE, size=9, grey=True)
    _run(doc.add_paragraph(), f"生成时间：{when(packet.generated_at, tz)}", size=9, grey=True)


def _widths(table: Table, widths: tuple[Length, ...]) -> None:
    # Word reads the cells' widths, LibreOffice the grid's: set both.
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def _docx_photo(doc: DocxDocument, pictures: _Pictures, photo: _Photo, tz: ZoneInfo) -> None:
    heading = doc.add_paragraph()
    heading.alignment = WD_ALIGN_PARAGRAPH.CENTER
    heading.paragraph_format.page_break_before = True
    heading.paragraph_format.space_after = Pt(6)
    _run(heading, photo.entry.heading, size=16, bold=True, font=DOCX_HEADING_FONT)

    width, height = _fit(photo, CONTENT_W, _DOCX_PHOTO_MAX_H)
    picture = doc.add_paragraph()
    picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
    pictures.add(picture, photo.jpeg, Mm(width), Mm(height))

    # The caption lines on the left, the QR code and its short code on the right.
    table = doc.add_table(rows=1, cols=2)
    _widths(table, (Mm(CONTENT_W - QR_MM - 4), Mm(QR_MM + 4)))
    text_cell, qr_cell = table.rows[0].cells
    _lines(text_cell, "\n".join(photo_lines(photo.entry, tz)))
    _run(text_cell.add_paragraph(), f"SHA-256：{photo.entry.sha256}", size=7, grey=True)
    qr = qr_cell.paragraphs[0]
    qr.alignment = WD_ALIGN_PARAGRAPH.CENTER
    pictures.add(qr, photo.qr, Mm(QR_MM - 2))
    code = qr_cell.add_paragraph()
    code.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(code, photo.entry.short_code, size=9)


def _package_bytes(doc: DocxDocument) -> bytes:
    """The .docx bytes, as python-docx's PackageWriter writes them but with fixed
    timestamps (it stamps the time of saving) and the media stored, not deflated (JPEG does
    not shrink; deflating 50 photos cost ~0.5 s), so equal documents are equal bytes."""
    package = doc.part.package
    parts = list(package.iter_parts())
    for part in parts:
        part.before_marshal()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:

        def put(name: str, blob: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            stored = name.lower().endswith(STORED_SUFFIXES)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            zf.writestr(info, blob)

        put(CONTENT_TYPES_URI.membername, _ContentTypesItem.from_parts(parts).blob)
        put(PACKAGE_URI.rels_uri.membername, package.rels.xml)
        for part in parts:
            put(part.partname.membername, part.blob)
            if len(part.rels):
                put(part.partname.rels_uri.membername, part.rels.xml)
    return out.getvalue()
