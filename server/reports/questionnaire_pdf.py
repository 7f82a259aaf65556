"""A questionnaire as a paper form (PDF, fpdf2, the CJK font embedded as a subset) for
revisit teams without phones: header lines to fill in, each question with boxes to tick
or lines to write on, and signatures. Pure: the template in, bytes out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import Align, WrapMode, XPos, YPos

from server.reports.closure_file import CONTENT_W, MARGIN_BOTTOM, MARGIN_TOP, MARGIN_X
from server.reports.fonts import cjk_font

__all__ = ["render_form"]
_FONT = "cjk"
_LINE = 7.0  # mm between written lines
_BOX = 3.6  # mm, a tick box
_GREY = (85, 85, 85)
# Filled in by hand: the form belongs to no case until a team takes it out.
HEADER_FIELDS = ("案件编号", "受访人", "联系电话", "回访日期", "回访人", "回访方式")
MAX_SCALE_BOXES = 11  # a wider scale is a number written on a line


class _FormPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        with self.local_context(font_size_pt=9, text_color=_GREY):
            self.cell(0, 5, f"第 {self.page_no()} 页  共 {{nb}} 页", align=Align.C)


def render_form(title: str, code: str, version: int, questions: Sequence[dict[str, Any]],
                created_at: datetime) -> bytes:
    """`questions` as a template stores them ({key, kind, label{zh,en}, options, ...})."""
    font = cjk_font()
    pdf = _FormPDF(format="A4", unit="mm")
    pdf.add_font(_FONT, "", str(font.path), collection_font_number=font.index)
    pdf.fonts[_FONT].ttfont.recalcBBoxes = False  # as closure_pdf: the full box encloses
    pdf.set_margins(MARGIN_X, MARGIN_TOP, MARGIN_X)
    pdf.set_auto_page_break(True, margin=MARGIN_BOTTOM)
    pdf.set_title(title)
    pdf.set_creator("Fieldcase")
    pdf.set_producer("Fieldcase")
    pdf.set_lang("zh-CN")
    # The same template makes the same bytes: its own date, never "now".
    pdf.set_creation_date(created_at.astimezone(UTC).replace(microsecond=0))
    pdf.add_page()
    pdf.set_font(_FONT, size=17)
    pdf.multi_cell(0, 10, title, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, size=9)
    pdf.set_text_color(*_GREY)
    pdf.cell(0, 5, f"问卷 {code} · 第 {version} 版", align=Align.C,
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.ln(4)
    _header(pdf)
    pdf.ln(3)
    pdf.set_font(_FONT, size=9)
    pdf.set_text_color(*_GREY)
    pdf.multi_cell(0, 5, "请在选项前的方框内打“√”；带 * 的为必答题。",
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.ln(2)
    for n, q in enumerate(questions, start=1):
        _question(pdf, n, q)
    _signatures(pdf)
    return bytes(pdf.output())


def _blank(pdf: FPDF, label: str, width: float) -> None:
    """A label and a line to write on, `width` mm in all."""
    pdf.set_font(_FONT, size=11)
    label_w = pdf.get_string_width(label + "：") + 1
    x, y = pdf.get_x(), pdf.get_y()
    pdf.cell(label_w, _LINE, label + "：")
    pdf.line(x + label_w, y + _LINE - 1.2, x + width - 4, y + _LINE - 1.2)
    pdf.set_xy(x + width, y)


def _header(pdf: FPDF) -> None:
    half = CONTENT_W / 2
    for i in range(0, len(HEADER_FIELDS), 2):
        pdf.set_x(MARGIN_X)
        for label in HEADER_FIELDS[i:i + 2]:
            _blank(pdf, label, half)
        pdf.ln(_LINE + 2)


def _choices(pdf: FPDF, texts: Sequence[str]) -> None:
    """A box to tick before each text, side by side, wrapping at the margin."""
    pdf.set_font(_FONT, size=11)
    left, right = MARGIN_X + 6, MARGIN_X + CONTENT_W
    pdf.set_x(left)
    for text in texts:
        width = _BOX + 2 + pdf.get_string_width(text) + 7
        if pdf.get_x() + width > right and pdf.get_x() > left:
            pdf.ln(_LINE)
            pdf.set_x(left)
        if pdf.get_y() + _LINE > pdf.page_break_trigger:
            pdf.add_page()
            pdf.set_x(left)
        x, y = pdf.get_x(), pdf.get_y()
        pdf.rect(x, y + (_LINE - _BOX) / 2, _BOX, _BOX)
        pdf.set_x(x + _BOX + 2)
        pdf.cell(width - _BOX - 2, _LINE, text)
    pdf.ln(_LINE + 1)


def _lines(pdf: FPDF, count: int) -> None:
    for _ in range(count):
        if pdf.get_y() + _LINE > pdf.page_break_trigger:
            pdf.add_page()
        y = pdf.get_y() + _LINE
        pdf.line(MARGIN_X + 6, y, MARGIN_X + CONTENT_W, y)
        pdf.set_y(y)
    pdf.ln(2)


def _question(pdf: FPDF, n: int, q: dict[str, Any]) -> None:
    kind = q.get("kind")
    # Keep a question's text with at least its first line of answers.
    if pdf.get_y() + 3 * _LINE > pdf.page_break_trigger:
        pdf.add_page()
    pdf.set_font(_FONT, size=11.5)
    hint = {"multi": "（可多选）", "scale": f"（{q.get('min')}–{q.get('max')} 分）"}.get(kind, "")
    text = f"{n}. {q['label']['zh']}{hint}{' *' if q.get('required') else ''}"
    pdf.multi_cell(0, _LINE, text, wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN,
                   new_y=YPos.NEXT)
    if kind in ("single", "multi"):
        _choices(pdf, [o["label"]["zh"] for o in q.get("options") or []])
    elif kind == "yesno":
        _choices(pdf, ["是", "否"])
    elif kind == "scale":
        lo, hi = int(q["min"]), int(q["max"])
        if hi - lo + 1 <= MAX_SCALE_BOXES:
            _choices(pdf, [str(v) for v in range(lo, hi + 1)])
        else:
            _lines(pdf, 1)
    else:
        _lines(pdf, 3)
    pdf.ln(1)


def _signatures(pdf: FPDF) -> None:
    if pdf.get_y() + 3 * _LINE > pdf.page_break_trigger:
        pdf.add_page()
    pdf.ln(4)
    third = CONTENT_W / 3
    pdf.set_x(MARGIN_X)
    for label in ("受访人签字", "回访人签字", "日期"):
        _blank(pdf, label, third)
    pdf.ln(_LINE)
