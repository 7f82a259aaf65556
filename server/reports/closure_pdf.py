"""The closure file as PDF (fpdf2, the CJK font embedded as a subset): the same pages as
the DOCX, drawn from the layout both share (closure_layout.py), pure and deterministic."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC
from zoneinfo import ZoneInfo

from fontTools.pens.basePen import BasePen
from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, TextMode, WrapMode, XPos, YPos

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
from server.reports.fonts import cjk_font
from server.reports.packet import CaseSection, ClosurePacket

__all__ = ["render_pdf"]
_FONT = "cjk"
_LINE_MM = 6.2  # 11 pt text with CJK leading
_GREY = (85, 85, 85)
_LABEL_FILL = (242, 242, 242)
_SIGN_H = 28.0  # mm of room to sign and stamp in
_FOOTER_H = 6.0  # the page number's band above the bottom margin


class _ClosurePDF(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        with self.local_context(font_size_pt=9, text_color=_GREY):
            self.cell(0, 5, f"第 {self.page_no()} 页  共 {{nb}} 页", align=Align.C)


def render_pdf(packet: ClosurePacket, *, tz: ZoneInfo = SHANGHAI) -> bytes:
    check(packet)
    layout = layout_of(packet)
    font = cjk_font()
    pdf = _ClosurePDF(format="A4", unit="mm")
    pdf.add_font(_FONT, "", str(font.path), collection_font_number=font.index)
    # Subsetting recomputes the font's bounding box from every kept outline, twice for a
    # CFF font (about 0.3 s a file); the full font's box still encloses the subset's.
    pdf.fonts[_FONT].ttfont.recalcBBoxes = False
    pdf.set_margins(MARGIN_X, MARGIN_TOP, MARGIN_X)
    pdf.set_auto_page_break(True, margin=MARGIN_BOTTOM)
    pdf.set_title(packet.title)
    pdf.set_creator("Fieldcase")
    pdf.set_producer("Fieldcase")
    pdf.set_lang("zh-CN")
    # The creation date goes into the file and its /ID: the packet's, never "now".
    pdf.set_creation_date(local(packet.generated_at, UTC).replace(microsecond=0))
    pdf.set_font(_FONT, size=11)
    for case in packet.cases:
        _pdf_cover(pdf, packet, case, tz)
        for i, photo in enumerate(photos(case, packet.public)):
            _pdf_photo(pdf, photo, tz, layout, i % layout.per_page)
        _pdf_appendix(pdf, case, tz)
    return bytes(pdf.output())


def _bold(pdf: FPDF, size: float) -> AbstractContextManager[None]:
    # The font has one weight: bold is drawn as fill plus a thin outline of each glyph.
    return pdf.local_context(
        font_size_pt=size, text_mode=TextMode.FILL_STROKE, line_width=size * 0.012
    )


def _spread(pdf: FPDF, label: str, x: float, y: float, width: float, height: float, *,
            bold: bool = False) -> None:
    """The label's characters spread evenly from x to x + width (分散对齐).

    Spread glyphs are drawn as outlines and the label is laid under them once more as
    invisible text, unspread: a viewer's search and copy find "地点" as typed. Spacing the
    text itself (Tc, or a glyph at a time) reads back as "地\n点" wherever the gap passes
    about 0.8 em (MuPDF starts a new line; other viewers a space), as typed spaces
    ("地    点") broke it before."""
    natural = pdf.get_string_width(label)
    gap = (width - natural) / (len(label) - 1) if len(label) > 1 else 0.0
    size_mm = pdf.font_size
    baseline = y + height / 2 + 0.3 * size_mm  # where fpdf2's cell() puts it
    with pdf.local_context(text_mode=TextMode.INVISIBLE):
        pdf.set_xy(x - pdf.c_margin, y)
        pdf.cell(natural + 2 * pdf.c_margin, height, label, align=Align.L)
    tt = pdf.fonts[_FONT].ttfont
    font_key = f"{pdf.fonts[_FONT].ttffile}|{tt['name'].getDebugName(6)}"  # file, face
    cmap, glyphs = tt.getBestCmap(), tt.getGlyphSet()
    scale = pdf.font_size_pt / tt["head"].unitsPerEm  # font units to points
    ops, pen_x = [], x
    for char in label:
        name = cmap.get(ord(char))
        if name is not None:
            ops += _outline(font_key, glyphs, name, pen_x * pdf.k, (pdf.h - baseline) * pdf.k,
                            scale)
        pen_x += pdf.get_string_width(char) + max(gap, 0.0)
    if ops:
        paint = f"{0.012 * pdf.font_size_pt:.3f} w B" if bold else "f"
        pdf._out(f"q 0 g 0 G {' '.join(ops)} {paint} Q")  # a raw path: fpdf2 has no glyph outlines


class _RecordingPen(BasePen):  # type: ignore[misc]  # fontTools is untyped
    """A glyph's outline as path segments in font units (BasePen turns quadratic curves
    into cubic ones)."""

    def __init__(self, glyphs: object) -> None:
        super().__init__(glyphs)
        self.segments: list[tuple[str, tuple[tuple[float, float], ...]]] = []

    def _moveTo(self, p: tuple[float, float]) -> None:
        self.segments.append(("m", (p,)))

    def _lineTo(self, p: tuple[float, float]) -> None:
        self.segments.append(("l", (p,)))

    def _curveToOne(self, p1: tuple[float, float], p2: tuple[float, float],
                    p3: tuple[float, float]) -> None:
        self.segments.append(("c", (p1, p2, p3)))

    def _closePath(self) -> None:
        self.segments.append(("h", ()))


# Outlines by (font file, glyph): labels use a few dozen characters, drawn hundreds of
# times in a file of 50 photos; decoding a CFF charstring each time cost about a second.
_OUTLINES: dict[tuple[str, str], list[tuple[str, tuple[tuple[float, float], ...]]]] = {}


def _outline(font_key: str, glyphs: object, name: str, x: float, y: float,
             scale: float) -> list[str]:
    segments = _OUTLINES.get((font_key, name))
    if segments is None:
        pen = _RecordingPen(glyphs)
        glyphs[name].draw(pen)  # type: ignore[index]
        segments = _OUTLINES[(font_key, name)] = pen.segments
    return [" ".join([*(f"{x + px * scale:.2f} {y + py * scale:.2f}" for px, py in points), op])
            for op, points in segments]


def _label_width(pdf: FPDF) -> float:
    return pdf.get_string_width("字" * LABEL_CHARS)


def _title(pdf: FPDF, text: str, size: float, height: float) -> None:
    with _bold(pdf, size):
        pdf.multi_cell(0, height, text, align=Align.C, wrapmode=WrapMode.CHAR,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _pdf_cover(pdf: FPDF, packet: ClosurePacket, case: CaseSection, tz: ZoneInfo) -> None:
    pdf.add_page()
    attachment, office = head(packet)
    with _bold(pdf, 16):
        pdf.cell(0, 9, attachment, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if office:
        with pdf.local_context(font_size_pt=14):
            pdf.multi_cell(0, 8, office, align=Align.C, wrapmode=WrapMode.CHAR,
                           new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _title(pdf, packet.title, 18, 12)
    pdf.ln(3)
    for label, value in cover_rows(case, packet.public, tz):
        _pdf_row(pdf, label, value, size=10.5)
    _sign_off(pdf)
    pdf.ln(4)
    with pdf.local_context(font_size_pt=9, text_color=_GREY):
        pdf.multi_cell(0, 5, VERIFY_NOTE, wrapmode=WrapMode.CHAR, align=Align.L,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.multi_cell(0, 5, f"生成时间：{when(packet.generated_at, tz)}",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _sign_off(pdf: FPDF) -> None:
    """The block an office signs and stamps: three boxes side by side, each with its date
    line; on the next page if this one has no room left for it."""
    pdf.ln(4)
    if pdf.get_y() + _SIGN_H > pdf.page_break_trigger:
        pdf.add_page()
    top, width = pdf.get_y(), CONTENT_W / len(SIGN_OFF)
    for i, (who, act) in enumerate(SIGN_OFF):
        x = MARGIN_X + i * width
        pdf.rect(x, top, width, _SIGN_H)
        pdf.set_xy(x, top + 1.5)
        with _bold(pdf, 11):
            pdf.cell(width, _LINE_MM, f"{who}（{act}）：", align=Align.L)
        pdf.set_xy(x, top + _SIGN_H - _LINE_MM - 1.5)
        pdf.cell(width - 2, _LINE_MM, DATE_LINE, align=Align.R)
    pdf.set_xy(MARGIN_X, top + _SIGN_H)


_PAD = (1.2, 2.0)  # top/bottom, left/right inside a cover cell
_ROW_MM = 5.6  # a cover row's line: 18 rows, the sign-off block and the notes on one page


def _fits(pdf: FPDF, lines: list[str], width: float) -> bool:
    """Whether every line fits the width unwrapped: then it is drawn a line at a time with
    cell(); fpdf2's line breaking (multi_cell) measures the line again at each character,
    most of the time a 50-photo file took."""
    return all(pdf.get_string_width(line) <= width for line in lines)


def _pdf_row(pdf: FPDF, label: str, value: str, *, size: float) -> None:
    """One label | value row of the cover or the appendix. Drawn by hand, not with
    FPDF.table(), whose rows cannot continue on the next page: a long 办理结果 must not
    stop the file being made."""
    value_w = CONTENT_W - LABEL_W
    lines = value.split("\n")
    with pdf.local_context(font_size_pt=size):
        short = _fits(pdf, lines, value_w - 2 * _PAD[1] - 0.5)
        height = len(lines) * _ROW_MM + 2 * _PAD[0] if short else pdf.multi_cell(
            value_w, _ROW_MM, value, wrapmode=WrapMode.CHAR, padding=_PAD, dry_run=True,
            output=MethodReturnValue.HEIGHT)
    if pdf.get_y() + min(height, 3 * _ROW_MM) > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y()
    with pdf.local_context(fill_color=_LABEL_FILL):
        pdf.rect(MARGIN_X, top, LABEL_W, min(height, pdf.page_break_trigger - top), style="DF")
    spread = _label_width(pdf)
    _spread(pdf, label, MARGIN_X + (LABEL_W - spread) / 2, top + _PAD[0], spread, _ROW_MM,
            bold=True)
    x = MARGIN_X + LABEL_W
    with pdf.local_context(font_size_pt=size):
        if short:
            pdf.rect(x, top, value_w, height)
            for i, line in enumerate(lines):
                pdf.set_xy(x + _PAD[1] - pdf.c_margin, top + _PAD[0] + i * _ROW_MM)
                pdf.cell(value_w - 2 * _PAD[1], _ROW_MM, line, align=Align.L)
            pdf.set_xy(MARGIN_X, top + height)
            return
        pdf.set_xy(x, top)
        pdf.multi_cell(value_w, _ROW_MM, value, border=1, wrapmode=WrapMode.CHAR, padding=_PAD,
                       align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _pdf_photo(pdf: FPDF, photo: Photo, tz: ZoneInfo, layout: Layout, slot: int) -> None:
    """A photo in its slot: the whole page, or the top or bottom half of it."""
    slot_h = (PAGE_H - MARGIN_TOP - MARGIN_BOTTOM - _FOOTER_H) / layout.per_page
    if slot == 0:
        pdf.add_page()
    top = MARGIN_TOP + slot * slot_h
    pdf.set_xy(MARGIN_X, top + (4 if slot else 0))
    _title(pdf, photo.entry.heading, layout.heading_pt, layout.heading_pt * 0.55)
    pdf.ln(2)

    text_w = CONTENT_W - QR_MM - 4
    label_w = _label_width(pdf)
    value_w = text_w - label_w
    lines = [(label, f"：{value}") for label, value in photo_lines(photo.entry, tz)]
    # Measure the caption block first so that the photo takes what is left of the slot.
    heights = [_LINE_MM if _fits(pdf, [value], value_w - 2 * pdf.c_margin - 0.5) else
               pdf.multi_cell(value_w, _LINE_MM, value, wrapmode=WrapMode.CHAR, dry_run=True,
                              output=MethodReturnValue.HEIGHT) for _label, value in lines]
    block_h = max(sum(heights), QR_MM + 6)
    room = top + slot_h - pdf.get_y() - 4 - block_h
    width, height = fit(photo, CONTENT_W, max(room, 40.0))
    image_top = pdf.get_y()
    pdf.image(photo.jpeg, x=MARGIN_X + (CONTENT_W - width) / 2, y=image_top, w=width, h=height)

    block_top = image_top + height + 4
    y = block_top
    for (label, value), line_h in zip(lines, heights, strict=True):
        _spread(pdf, label, MARGIN_X, y, label_w, _LINE_MM)
        pdf.set_xy(MARGIN_X + label_w, y)
        if line_h == _LINE_MM:  # one line (the measure above): no line breaking
            pdf.cell(value_w, _LINE_MM, value, align=Align.L)
        else:
            pdf.multi_cell(value_w, _LINE_MM, value, wrapmode=WrapMode.CHAR, align=Align.L,
                           new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        y += line_h
    qr_x = MARGIN_X + CONTENT_W - QR_MM
    pdf.image(photo.qr, x=qr_x, y=block_top, w=QR_MM, h=QR_MM)
    pdf.set_xy(qr_x, block_top + QR_MM)
    with pdf.local_context(font_size_pt=9):
        pdf.cell(QR_MM, 5, photo.entry.short_code, align=Align.C)


def _pdf_appendix(pdf: FPDF, case: CaseSection, tz: ZoneInfo) -> None:
    """The case's ids and hashes, on a page of their own after its photos."""
    pdf.add_page()
    _title(pdf, APPENDIX_TITLE, 16, 10)
    pdf.ln(3)
    for label, value in appendix_rows(case, tz):
        _pdf_row(pdf, label, value, size=9 if "SHA-256" in value else 11)
    pdf.ln(4)
    with pdf.local_context(font_size_pt=9, text_color=_GREY):
        pdf.multi_cell(0, 5, APPENDIX_NOTE, wrapmode=WrapMode.CHAR, align=Align.L,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
