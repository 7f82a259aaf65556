"""The platforms cases come from, and their value tables: one lookup for the sheet import
and the push API alike, so a platform's "噪音扰民" means the same wherever it arrives."""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa

from server.domain.core import labels
from server.domain.core.errors import NotFound
from server.extensions import db
from server.models import IntakeSource

# The value tables a source keeps (IntakeSource.value_maps): its names for our vocabularies.
VALUE_KINDS = ("category", "unit")


def get_source(code: str) -> IntakeSource:
    source = db.session.scalar(sa.select(IntakeSource).where(IntakeSource.code == code))
    if source is None:
        raise NotFound("intake.unknown_source", "There is no such intake source.")
    return source


def _key(raw: str) -> str:
    # Full-width letters and digits folded, spaces dropped: "ＫＴＶ噪音 " is "KTV噪音".
    return "".join(unicodedata.normalize("NFKC", raw).split())


def map_value(source: IntakeSource, kind: str, raw: str | None,
              ours: dict[str, str] | None = None) -> str | None:
    """Our value for the platform's `raw` one, or None when nobody has mapped it yet.

    The source's own table first (what the office mapped), then, for categories, our own
    codes and their Chinese and English names: a platform that already uses them needs no
    table. `ours` is {name: value} for kinds whose values are rows (units: name -> id)."""
    if raw is None or not _key(raw):
        return None
    key = _key(raw)
    table = {_key(k): v for k, v in (source.value_maps or {}).get(kind, {}).items()}
    if key in table:
        return table[key]
    if kind == "category":
        for code, names in labels.table().get("categories", {}).items():
            if key in (_key(code), _key(names.get("zh", "")), _key(names.get("en", ""))):
                return code
    if ours:
        return {_key(k): v for k, v in ours.items()}.get(key)
    return None


# What str.strip() keeps but a reference's edge should lose: zero-width space and joiners,
# word joiner, BOM (NFKC already made the other spaces plain ones).
_REF_EDGE = " \t\r\n\x0b\x0c\u200b\u200c\u200d\u2060\ufeff"


def clean_reference(raw: str | None) -> str:
    """A platform's reference as both paths keep it (the sheet import and the push API):
    NFKC (full-width letters, digits and signs as ASCII: "Ｘ－００７" is "X-007"), edge
    spaces and zero-width characters off. The duplicate check compares these."""
    if not raw:
        return ""
    return unicodedata.normalize("NFKC", raw).strip(_REF_EDGE)
