"""Reading rows the way a checker must: a column that no longer parses (a blank or cut
JSON value written around the application) is a finding to name, not a crash."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa


def json_text(column: Any) -> Any:
    """The JSON column as its stored text, so the driver does not parse it (a malformed
    value would raise on fetch, stopping the whole check at the first bad row)."""
    return sa.cast(column, sa.Text).label(column.key)


def parse(raw: str | bytes | None) -> tuple[Any, str | None]:
    """(value, None), or (None, why) when the text is not JSON. NULL reads as None, as
    the ORM reads it."""
    if raw is None:
        return None, None
    try:
        return json.loads(raw), None
    except ValueError as exc:
        shown = raw if len(raw) <= 40 else f"{raw[:40]!r}…"
        return None, f"not valid JSON ({exc.msg}): {shown!r}"
