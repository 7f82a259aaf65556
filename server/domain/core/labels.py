"""Chinese and English names of the vocabularies' values (categories, channels, statuses,
verdicts, satisfaction, revisit methods): one table, read by the documents the server makes
and served to the app in GET /api/vocab."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

DATA = Path(__file__).parents[1] / "data" / "vocab_labels.json"


@cache
def table() -> dict[str, dict[str, dict[str, str]]]:
    return json.loads(DATA.read_text(encoding="utf-8"))


def label(group: str, value: str | None, lang: str = "zh") -> str:
    """The value's name, or the value itself when the table has none."""
    if value is None:
        return ""
    return table().get(group, {}).get(value, {}).get(lang) or value
