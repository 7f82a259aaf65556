"""The one rule for text people type that the system stores and shows again: what every
free-text field accepts, whether it comes through an API schema (server.api.fields.Text),
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
# What XML 1.0 cannot hold (a DOCX is XML): C0 controls but tab and line breaks, and the
# two non-characters. NUL is one of them, with its own message below.
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

NUL = "Must not contain NUL characters."
CONTROL = "Must not contain control characters (other than tab and line breaks)."
SURROGATE = "Must be valid Unicode text."
BIDI = "Must not contain text-direction control characters (U+202A-U+202E, U+2066-U+2069, " \
       "U+200E, U+200F, U+061C)."


def problem(value: str, *, shown: bool = True) -> str | None:
    """Why `value` cannot be stored as text, or None. NUL: PostgreSQL refuses it; a lone
    surrogate (valid in JSON as an escape) has no UTF-8 encoding. Text that is `shown`
    (all but a password) has no other control characters either (a closure file, XML,
    cannot hold them) and no bidi controls."""
    if "\x00" in value:
        return NUL
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE
    if shown and XML_UNSAFE.search(value):
        return CONTROL
    if shown and _BIDI.search(value):
        return BIDI
    return None


def printable(value: str) -> str:
    """Text stored before this rule, made fit for a file: what XML cannot hold and bidi
    controls show as U+FFFD."""
    return _BIDI.sub("\ufffd", XML_UNSAFE.sub("\ufffd", value))


def checked(value: object, max_len: int) -> str | None:
    """The problem with a text field given outside a schema (not text, too long, or
    `problem`), or None."""
    if not isinstance(value, str) or len(value) > max_len:
        return f"Text of at most {max_len} characters."
    return problem(value)


# ---- text that a spreadsheet program would run ------------------------------------------
# Excel, WPS and LibreOffice read a cell starting with one of these as a formula when a CSV
# is opened (and XlsxWriter's write() would too): "=HYPERLINK(...)", "+cmd|' /C calc'!A0",
# "-2+3", "@SUM(...)"; a leading tab or carriage return hides one from a quick look
# (OWASP "CSV injection"). Imports keep such text exactly, as data; exports neutralise it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: str) -> bool:
    return value.startswith(FORMULA_STARTS)


def csv_cell(value: str) -> str:
    """Text for a CSV export: a formula-looking cell gets a leading apostrophe, so the
    spreadsheet opens it as text instead of running it. The apostrophe is then part of
    the cell's value and shows in some readers (LibreOffice, WPS, Excel's data import).
    XLSX exports write every text with write_string instead, which needs no mark."""
    return "'" + value if looks_like_formula(value) else value
