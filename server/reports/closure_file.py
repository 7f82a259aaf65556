"""The closure file (办结材料 / 办结公示) of one or more closed cases, as DOCX; the PDF is
closure_pdf.py, and closure_layout.py holds the layout both draw.

Per case: a cover (附件 and the issuing office at the head; the case, who handled and who
approved it, the approver's opinion, and a block to sign and stamp), the photo pages (one
or two photos a page: heading, photo, the lines 摄影时间 / 摄影人 / 地点 / 说明 with their
labels spread over one width (分散对齐), a QR code of the photo's verify URL with the short
code under it), then an appendix page with the seal's and photos' ids and hashes. Page
numbers in the footer ("第 X 页 共 Y 页", Word fields).

Both renderers are pure (packet in, bytes out) and deterministic: the same packet gives
the same bytes, so a stored closure file can be checked by rendering it again. Photos are
the stored JPEG thumbnails, embedded as they are (no decode) except in a public packet,
where each is re-encoded without metadata first.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.image.image import Image as DocxImage
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import CONTENT_TYPES_URI, PACKAGE_URI, PackURI
from docx.opc.pkgwriter import _ContentTypesItem  # its [Content_Types].xml (python-docx 1.x)
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.oxml.shape import CT_Inline
from docx.oxml.styles import CT_Style
from docx.oxml.table import CT_Tbl
from docx.oxml.text.run import CT_R
from docx.parts.image import ImagePart
from docx.shared import Length, Mm, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from server.domain.core.text import printable
from server.reports.archive import FIXED_TIME, STORED_SUFFIXES
from server.reports.closure_layout import (
    APPENDIX_NOTE,
    APPENDIX_TITLE,
    CONTENT_W,
    DATE_LINE,
    LABEL_CHARS,
    LABEL_W,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    PAGE_H,
    PAGE_W,
    QR_MM,
    SHANGHAI,
    SIGN_OFF,
    VERIFY_NOTE,
    Layout,
    Photo,
    appendix_rows,
    check,
    cover_rows,
    fit,
    head,
    layout_of,
    local,
    photo_lines,
    photos,
    when,
)
from server.reports.packet import CaseSection, ClosurePacket

__all__ = ["SHANGHAI", "cover_rows", "photo_lines", "render_docx", "when"]


# -- DOCX ----------------------------------------------------------------------------------

DOCX_BODY_FONT = "宋体"  # Word on a Chinese Windows has both; others substitute their own
DOCX_HEADING_FONT = "黑体"
# A photo line's label column: four 12 pt characters and the cell's margins.
_PHOTO_LABEL_W = 22.0
# The cover's labels sit in LABEL_W but are spread over about LABEL_CHARS characters.
_LABEL_INDENT = (LABEL_W - 3.8 - LABEL_CHARS * 4.6) / 2
_SIGN_H = 30.0  # mm of room to sign and stamp in


def render_docx(packet: ClosurePacket, *, tz: ZoneInfo = SHANGHAI) -> bytes:
    check(packet)
    layout = layout_of(packet)
    doc = Document()
    _docx_setup(doc, packet)
    pictures = _Pictures(doc)
    for n, case in enumerate(packet.cases):
        _docx_cover(doc, packet, case, tz, page_break=n > 0)
        for i, photo in enumerate(photos(case, packet.public)):
            _docx_photo(doc, pictures, photo, tz, layout, new_page=i % layout.per_page == 0)
        _docx_appendix(doc, case, tz)
    return _package_bytes(doc)


def _docx_setup(doc: DocxDocument, packet: ClosurePacket) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(PAGE_W), Mm(PAGE_H)
    section.left_margin = section.right_margin = Mm(MARGIN_X)
    section.top_margin, section.bottom_margin = Mm(MARGIN_TOP), Mm(MARGIN_BOTTOM)
    section.footer_distance = Mm(8)
    normal = doc.styles["Normal"]
    normal.font.size = Pt(12)
    _font(normal.element, DOCX_BODY_FONT)
    _page_numbers(section.footer.paragraphs[0])
    # The template's page preview (a blank page) would stand for the file in file managers.
    package = doc.part.package
    for r_id, rel in list(package.rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            del package.rels[r_id]
    props = doc.core_properties
    # Fixed properties: python-docx would otherwise stamp its own name and dates.
    props.title = packet.title
    props.author = props.last_modified_by = "Fieldcase"
    props.created = props.modified = local(packet.generated_at, UTC).replace(microsecond=0)
    props.revision = 1
    props.comments = props.subject = props.keywords = props.category = ""


def _page_numbers(paragraph: Paragraph) -> None:
    """"第 X 页 共 Y 页" in the footer, as the PDF prints it: PAGE and NUMPAGES fields, which
    Word and LibreOffice fill in when they lay the pages out."""
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for part in ("第 ", "PAGE", " 页  共 ", "NUMPAGES", " 页"):
        if part.isupper():
            field = OxmlElement("w:fldSimple")
            field.set(qn("w:instr"), f" {part} ")
            run = OxmlElement("w:r")
            text = OxmlElement("w:t")
            text.text = "1"  # shown until the fields are updated
            run.append(text)
            field.append(run)
            paragraph._p.append(field)
        else:
            _run(paragraph, part, size=9, grey=True)


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


def _label(cell: _Cell, label: str, indent: float = 0.0, **style: object) -> None:
    """A label spread over its cell (分散对齐, w:jc="distribute"): the characters are as
    typed, so "摄影人" is found by a search, and Word spaces them to the cell's width."""
    paragraph = cell.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.DISTRIBUTE
    if indent:
        paragraph.paragraph_format.left_indent = Mm(indent)
        paragraph.paragraph_format.right_indent = Mm(indent)
    _run(paragraph, label, **style)  # type: ignore[arg-type]


def _paragraph(doc: DocxDocument, text: str, *, align: WD_ALIGN_PARAGRAPH | None = None,
               page_break: bool = False, before: float = 0, after: float = 0,
               **style: object) -> Paragraph:
    paragraph = doc.add_paragraph()
    paragraph.alignment = align
    paragraph.paragraph_format.page_break_before = page_break or None
    paragraph.paragraph_format.space_before = Pt(before)
    paragraph.paragraph_format.space_after = Pt(after)
    _run(paragraph, text, **style)  # type: ignore[arg-type]
    return paragraph


def _rows_table(doc: DocxDocument, rows: list[tuple[str, str]], *, small: tuple[str, ...] = ()
                ) -> None:
    """The label | value table of the cover and the appendix."""
    indent = _dxa(_LABEL_INDENT)
    _insert_table(doc, (LABEL_W, CONTENT_W - LABEL_W), [
        [[_p_xml(label, jc="distribute", bold=True, indent=indent)],
         [_p_xml(line, size=9 if label.startswith(small) else None)
          for line in value.split("\n")]]
        for label, value in rows], grid=True)


# -- tables as XML: python-docx's table API walks the whole grid for each cell it touches
# (a 50-photo file spent over a second in it); these tables are written out whole instead.


def _dxa(mm: float) -> int:
    return round(mm / 25.4 * 1440)  # twentieths of a point


def _p_xml(text: str, *, jc: str | None = None, bold: bool = False, size: float | None = None,
           indent: int = 0) -> str:
    ppr = ""
    if jc or indent:
        ind = f'<w:ind w:left="{indent}" w:right="{indent}"/>' if indent else ""
        align = f'<w:jc w:val="{jc}"/>' if jc else ""
        ppr = f"<w:pPr>{ind}{align}</w:pPr>"
    rpr = ("<w:b/>" if bold else "") + (
        f'<w:sz w:val="{round(size * 2)}"/><w:szCs w:val="{round(size * 2)}"/>' if size else "")
    run = (f'<w:r>{f"<w:rPr>{rpr}</w:rPr>" if rpr else ""}'
           f'<w:t xml:space="preserve">{escape(printable(text))}</w:t></w:r>') if text else ""
    return f"<w:p>{ppr}{run}</w:p>"


def _insert_table(doc: DocxDocument, widths_mm: tuple[float, ...], rows: list[list[list[str]]],
                  *, grid: bool, merged: tuple[int, ...] = ()) -> CT_Tbl:
    """A table of `rows` (each cell: its paragraphs' XML) at the end of the body; the
    columns in `merged` form one cell down the whole table (w:vMerge)."""
    widths = [_dxa(w) for w in widths_mm]
    style = '<w:tblStyle w:val="TableGrid"/>' if grid else ""
    centre = '<w:jc w:val="center"/>' if grid else ""
    parts = [f'<w:tbl {nsdecls("w")}><w:tblPr>{style}<w:tblW w:w="{sum(widths)}" w:type="dxa"/>'
             f'{centre}<w:tblLayout w:type="fixed"/>'
             '<w:tblLook w:val="04A0" w:firstRow="1" w:lastRow="0" w:firstColumn="1" '
             'w:lastColumn="0" w:noHBand="0" w:noVBand="1"/></w:tblPr><w:tblGrid>',
             *(f'<w:gridCol w:w="{w}"/>' for w in widths), "</w:tblGrid>"]
    for i, row in enumerate(rows):
        parts.append("<w:tr>")
        for j, (width, paragraphs) in enumerate(zip(widths, row, strict=True)):
            merge = ""
            if j in merged:
                merge = '<w:vMerge w:val="restart"/>' if i == 0 else "<w:vMerge/>"
            parts.append(f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/>{merge}</w:tcPr>'
                         f'{"".join(paragraphs) or "<w:p/>"}</w:tc>')
        parts.append("</w:tr>")
    parts.append("</w:tbl>")
    table = parse_xml("".join(parts))
    doc.element.body._insert_tbl(table)
    return table


def _docx_cover(
    doc: DocxDocument, packet: ClosurePacket, case: CaseSection, tz: ZoneInfo, *,
    page_break: bool,
) -> None:
    attachment, office = head(packet)
    _paragraph(doc, attachment, page_break=page_break, after=6, size=16,
               font=DOCX_HEADING_FONT)
    if office:
        _paragraph(doc, office, align=WD_ALIGN_PARAGRAPH.CENTER, after=4, size=14,
                   font=DOCX_HEADING_FONT)
    _paragraph(doc, packet.title, align=WD_ALIGN_PARAGRAPH.CENTER, after=12, size=18,
               bold=True, font=DOCX_HEADING_FONT)
    _rows_table(doc, cover_rows(case, packet.public, tz))
    _sign_off(doc)
    _paragraph(doc, VERIFY_NOTE, before=10, size=9, grey=True)
    _paragraph(doc, f"生成时间：{when(packet.generated_at, tz)}", size=9, grey=True)


def _sign_off(doc: DocxDocument) -> None:
    """The block an office signs and stamps: the handler's and the approver's signatures
    and the unit's seal, each with its date line."""
    _paragraph(doc, "", after=0, before=6)
    table = doc.add_table(rows=1, cols=len(SIGN_OFF))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(table, tuple(Mm(CONTENT_W / len(SIGN_OFF)) for _ in SIGN_OFF))
    table.rows[0].height = Mm(_SIGN_H)
    for cell, (who, act) in zip(table.rows[0].cells, SIGN_OFF, strict=True):
        _run(cell.paragraphs[0], f"{who}（{act}）：", bold=True)
        for _ in range(3):
            cell.add_paragraph()
        date = cell.add_paragraph()
        date.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        _run(date, DATE_LINE)


def _widths(table: Table, widths: tuple[Length, ...]) -> None:
    # Word reads the cells' widths, LibreOffice the grid's: set both.
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def _docx_photo(doc: DocxDocument, pictures: _Pictures, photo: Photo, tz: ZoneInfo,
                layout: Layout, *, new_page: bool) -> None:
    _paragraph(doc, photo.entry.heading, align=WD_ALIGN_PARAGRAPH.CENTER, page_break=new_page,
               before=0 if new_page else 10, after=4, size=layout.heading_pt, bold=True,
               font=DOCX_HEADING_FONT)
    width, height = fit(photo, CONTENT_W, layout.photo_max_h)
    picture = doc.add_paragraph()
    picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
    picture.paragraph_format.keep_with_next = True
    pictures.add(picture, photo.jpeg, Mm(width), Mm(height))

    # The lines on the left (label spread | value), the QR code and short code on the right.
    lines = photo_lines(photo.entry, tz)
    qr_w = QR_MM + 4
    qr_cell = [_p_xml("", jc="center"), _p_xml(photo.entry.short_code, jc="center", size=9)]
    table = _insert_table(doc, (_PHOTO_LABEL_W, CONTENT_W - _PHOTO_LABEL_W - qr_w, qr_w), [
        [[_p_xml(label, jc="distribute")], [_p_xml(f"：{value}")], qr_cell if i == 0 else []]
        for i, (label, value) in enumerate(lines)], grid=False, merged=(2,))
    qr = table.tr_lst[0].tc_lst[2].p_lst[0]
    pictures.add(Paragraph(qr, doc._body), photo.qr, Mm(QR_MM - 2))


def _docx_appendix(doc: DocxDocument, case: CaseSection, tz: ZoneInfo) -> None:
    _paragraph(doc, APPENDIX_TITLE, align=WD_ALIGN_PARAGRAPH.CENTER, page_break=True, after=8,
               size=16, bold=True, font=DOCX_HEADING_FONT)
    _rows_table(doc, appendix_rows(case, tz), small=("封存哈希", "照片"))
    _paragraph(doc, APPENDIX_NOTE, before=8, size=9, grey=True)


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
