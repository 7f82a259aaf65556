"""QR codes of verify URLs (segno: pure Python, deterministic output)."""

from __future__ import annotations

import io
from functools import lru_cache

import segno

# M (15 % recovery): survives a printed page's smudge or fold and stays at version 3-4
# (29-33 modules) for a verify URL, so a 2.5 cm print still has ~0.75 mm modules.
_ERROR = "m"
_BORDER = 4  # the quiet zone the standard asks for


def _make(text: str) -> segno.QRCode:
    return segno.make_qr(text, error=_ERROR, boost_error=False)


# The mask search makes a code cost ~13 ms of pure Python: a closure file's DOCX and PDF,
# and its reprints, draw the same codes, so the last few thousand are kept (~0.4 KB each).
@lru_cache(maxsize=4096)
def qr_png(text: str, *, scale: int = 8) -> bytes:
    """A black-on-white 1-bit PNG of `text`, `scale` pixels per module."""
    out = io.BytesIO()
    _make(text).save(out, kind="png", scale=scale, border=_BORDER)
    return out.getvalue()


def qr_svg(text: str, *, scale: int = 4) -> str:
    """A standalone SVG document of `text` (with the XML declaration and a title-less,
    script-less <svg>), for `GET /api/verify/<code>/qr.svg`."""
    out = io.BytesIO()
    _make(text).save(out, kind="svg", scale=scale, border=_BORDER, xmldecl=True, svgns=True)
    return out.getvalue().decode("utf-8")
