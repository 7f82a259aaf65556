"""The CJK font the PDF closure files embed (subset: only the glyphs a file uses).

Where it comes from: Noto Sans SC Regular (思源黑体 简体), by Google and Adobe
(https://github.com/notofonts/noto-cjk), as shipped on PyPI in the wheel
`pylopdf-fonts-zh-cn` (pinned in pyproject.toml, so `pip install -e .`, and thus
`make run` / `make test`, installs it: no system package, no sudo, no download at run
time). Licence: SIL Open Font License 1.1, which allows embedding the font, subset or
whole, in documents, and places no condition on the documents made with it; the licence
text is in that wheel's dist-info (licenses/LICENSE).

An operator can point FIELDCASE_CJK_FONT at another TrueType/OpenType file (and
FIELDCASE_CJK_FONT_INDEX at the face within a .ttc collection), e.g. Debian's
/usr/share/fonts/truetype/wqy/wqy-microhei.ttc (fonts-wqy-microhei).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# fontTools logs every glyph it keeps at INFO when fpdf2 subsets the font: not news.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONT_SOURCE = "Noto Sans SC (Google/Adobe), PyPI pylopdf-fonts-zh-cn, SIL OFL 1.1"


class FontMissing(RuntimeError):
    """No CJK font file: the PDF could only show empty boxes, so it is not made."""


@dataclass(frozen=True)
class FontFile:
    path: Path
    index: int = 0  # the face within a TrueType/OpenType collection (.ttc)


@cache
def cjk_font() -> FontFile:
    """The CJK font file to embed; FontMissing when there is none (a broken install)."""
    override = os.environ.get("FIELDCASE_CJK_FONT")
    if override:
        path = Path(override)
        if not path.is_file():
            raise FontMissing(f"FIELDCASE_CJK_FONT={override} is not a file")
        return FontFile(path, int(os.environ.get("FIELDCASE_CJK_FONT_INDEX", "0")))
    try:
        import pylopdf_fonts_zh_cn  # the font's wheel: its only code returns the paths
    except ImportError:
        raise FontMissing(
            "the CJK font package is not installed: run `pip install -e .` (make run does)"
        ) from None
    path = Path(pylopdf_fonts_zh_cn.sans_path())
    if not path.is_file():
        raise FontMissing(f"the CJK font file {path} is missing: reinstall pylopdf-fonts-zh-cn")
    return FontFile(path)
