"""The closure file as PDF (fpdf2, the CJK font embedded as a subset): the same pages as
the DOCX (closure_file.py holds the layout both share), pure and deterministic."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, TextMode, WrapMode, XPos, YPos

from server.reports.closure_file import (
    CONTENT_W,
    MARGIN_BOTTOM,
    MARGIN_TOP,
    MARGIN_X,
    PAGE_H,
    QR_MM,
    SHANGHAI,
    VERIFY_NOTE,
    _check,
    _fit,
    _local,
    _Photo,
    _photos,
    cover_rows,
    photo_lines,
    when,
)
from server.reports.fonts import cjk_font
from server.reports.packet import CaseSection, ClosurePacket

__all__ = ["render_pdf"]
_FONT = "cjk"
_LINE_MM = 6.2  # 11 pt text with CJK leading
_GREY = (85, 85, 85)
_LABEL_FILL = (242, 242, 242)


class _ClosurePDF(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        with self.local_context(font_size_pt=9, text_color=_GREY):
            self.cell(0, 5, f"第 {self.page_no()} 页  共 {{nb}} 页", align=Align.C)


def render_pdf(packet: ClosurePacket, *, tz: ZoneInfo = SHANGHAI) -> bytes:
    _check(packet)
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
    pdf.set_creation_date(_local(packet.generated_at, UTC).replace(microsecond=0))
    pdf.set_font(_FONT, size=11)
    for case in packet.cases:
        _pdf_cover(pdf, packet, case, tz)
        for photo in _photos(case, packet.public):
            _pdf_photo(pdf, photo, tz)
    return bytes(pdf.output())


def _bold(pdf: FPDF, size: float) -> AbstractContextManager[None]:
    # The font has one weight: bold is drawn as fill plus a thin outline of each glyph.
    return pdf.local_context(
        font_size_pt=size, text_mode=TextMode.FILL_STROKE, line_width=size * 0.012
    )


def _pdf_cover(pdf: FPDF, packet: ClosurePacket, case: CaseSection, tz: ZoneInfo) -> None:
    pdf.add_page()
    with _bold(pdf, 18):
        pdf.cell(0, 12, packet.title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    for label, value in cover_rows(case, packet.public, tz):
        _pdf_row(pdf, label, value, size=9 if label == "封存哈希" else 11)
    pdf.ln(6)
    with pdf.local_context(font_size_pt=9, text_color=_GREY):
        pdf.multi_cell(0, 5, VERIFY_NOTE, wrapmode=WrapMode.CHAR, align=Align.L,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.multi_cell(0, 5, f"生成时间：{when(packet.generated_at, tz)}",
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)


_LABEL_W = 32.0
_PAD = (1.6, 2.0)  # top/bottom, left/right inside a cover cell


def _pdf_row(pdf: FPDF, label: str, value: str, *, size: float) -> None:
    """One label | value row of the cover. Drawn by hand, not with FPDF.table(), whose rows
    cannot continue on the next page: a long 办理结果 must not stop the file being made."""
    value_w = CONTENT_W - _LABEL_W
    with pdf.local_context(font_size_pt=size):
        height = pdf.multi_cell(value_w, _LINE_MM, value, wrapmode=WrapMode.CHAR, padding=_PAD,
                                dry_run=True, output=MethodReturnValue.HEIGHT)
    if pdf.get_y() + min(height, 3 * _LINE_MM) > pdf.page_break_trigger:
        pdf.add_page()
    top = pdf.get_y()
    with pdf.local_context(fill_color=_LABEL_FILL):
        pdf.cell(_LABEL_W, min(height, pdf.page_break_trigger - top), label, border=1,
                 fill=True, align=Align.L, new_x=XPos.RIGHT, new_y=YPos.TOP)
    with pdf.local_context(font_size_pt=size):
        pdf.multi_cell(value_w, _LINE_MM, value, border=1, wrapmode=WrapMode.CHAR, padding=_PAD,
                       align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _pdf_photo(pdf: FPDF, photo: _Photo, tz: ZoneInfo) -> None:
    pdf.add_page()
    with _bold(pdf, 16):
        pdf.multi_cell(0, 9, photo.entry.heading, align=Align.C, wrapmode=WrapMode.CHAR,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)

    text_w = CONTENT_W - QR_MM - 4
    lines = photo_lines(photo.entry, tz)
    sha_line = f"SHA-256：{photo.entry.sha256}"
    # Measure the caption block first so that the photo takes what is left of the page.
    text_h = sum(
        pdf.multi_cell(text_w, _LINE_MM, line, wrapmode=WrapMode.CHAR, dry_run=True,
                       output=MethodReturnValue.HEIGHT)
        for line in lines
    ) + 5
    block_h = max(text_h, QR_MM + 6)
    room = PAGE_H - MARGIN_BOTTOM - pdf.get_y() - 4 - block_h
    width, height = _fit(photo, CONTENT_W, max(room, 60.0))
    top = pdf.get_y()
    pdf.image(photo.jpeg, x=MARGIN_X + (CONTENT_W - width) / 2, y=top, w=width, h=height)

    block_top = top + height + 4
    pdf.set_xy(MARGIN_X, block_top)
    for line in lines:
        pdf.multi_cell(text_w, _LINE_MM, line, wrapmode=WrapMode.CHAR, align=Align.L,
                       new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    with pdf.local_context(font_size_pt=7, text_color=_GREY):
        pdf.cell(text_w, 5, sha_line)
    qr_x = MARGIN_X + CONTENT_W - QR_MM
    pdf.image(photo.qr, x=qr_x, y=block_top, w=QR_MM, h=QR_MM)
    pdf.set_xy(qr_x, block_top + QR_MM)
    with pdf.local_context(font_size_pt=9):
        pdf.cell(QR_MM, 5, photo.entry.short_code, align=Align.C)
