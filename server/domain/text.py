"""The one rule for text people type that the system stores and shows again: what every
free-text field accepts, whether it comes through an API schema (server.api.schemas.Text),
a transition's parameters, a questionnaire answer, a calendar upload or the CLI."""

from __future__ import annotations

import re

# Bidirectional formatting controls: an override (U+202E) or isolate makes a name, caption
# or file name read differently from what it holds ("gpj.exe" shown as "exe.jpg"). Plain
# Chinese and English text never needs them; the marks (U+200E/F, U+061C) go too, as they
# reorder neutral characters just the same.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")
_BIDI = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")

NUL = "Must not contain NUL characters."
SURROGATE = "Must be valid Unicode text."
BIDI = "Must not contain text-direction control characters (U+202A-U+202E, U+2066-U+2069, " \
       "U+200E, U+200F, U+061C)."


def problem(value: str, *, bidi: bool = False) -> str | None:
    """Why `value` cannot be stored as text, or None. NUL: PostgreSQL refuses it; a lone
    surrogate (valid in JSON as an escape) has no UTF-8 encoding; bidi controls are
    refused unless `bidi` (a password is never shown)."""
    if "\x00" in value:
        return NUL
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE
    if not bidi and _BIDI.search(value):
        return BIDI
    return None


def checked(value: object, max_len: int) -> str | None:
    """The problem with a text field given outside a schema (not text, too long, or
    `problem`), or None."""
    if not isinstance(value, str) or len(value) > max_len:
        return f"Text of at most {max_len} characters."
    return problem(value)
