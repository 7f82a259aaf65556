"""A platform sheet's messy cells made into a case's values: text, a moment, a phone.

Pure functions (no HTTP, no database). A cell that cannot be read raises `CellError` with
a dotted code (zh and en words in data/problem_messages.json) and an English message: the
import reports it against its row. Formula-looking text (=, +, -, @ ...) is DATA and is
kept exactly; exports neutralise it (server.domain.core.text.looks_like_formula)."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.domain.core import received
from server.domain.core import text as text_rules
from server.domain.core.privacy import normalise_phone
from server.domain.core.text import looks_like_formula

__all__ = ["BAD_DATE", "BAD_NUMBER", "BAD_PHONE", "BAD_TEXT", "CELL_LIMIT",
           "DATE_OUT_OF_RANGE", "TOO_LONG", "CellError", "Unreadable", "looks_like_formula",
           "phone", "text", "when"]

BAD_DATE = "import.bad_date"
DATE_OUT_OF_RANGE = "import.date_out_of_range"
BAD_PHONE = "import.bad_phone"
BAD_TEXT = "import.bad_text"
BAD_NUMBER = "import.bad_number"
TOO_LONG = "import.too_long"
# No cell is kept longer than the longest field (a case's description): a longer one is
# stored as `Unreadable(TOO_LONG)`, so a tiny file of huge repeated cells stays tiny.
CELL_LIMIT = 20_000


class Unreadable:
    """A cell the preview did not keep (too long, NaN or infinite): any use is an error."""

    def __init__(self, code: str) -> None:
        self.code = code

    def fail(self) -> CellError:
        return CellError(self.code, "The cell cannot be used.")


class CellError(ValueError):
    """One cell's value cannot be used: `code` (dotted) and `message` (English)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"CellError({self.code!r}, {self.message!r})"


# ---- text -------------------------------------------------------------------------------

# Full-width ASCII letters, digits and the ideographic space (U+3000) fold to half-width;
# full-width punctuation (，。：（）) is Chinese writing and stays as typed.
_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF10, 0xFF1A)}  # ０-９
_FOLD |= {cp: cp - 0xFEE0 for cp in range(0xFF21, 0xFF3B)}  # Ａ-Ｚ
_FOLD |= {cp: cp - 0xFEE0 for cp in range(0xFF41, 0xFF5B)}  # ａ-ｚ
_FOLD[0x3000] = 0x20
# What str.strip() keeps but a cell's edge should lose: zero-width space and joiners, BOM.
_EDGE = " \t\r\n\x0b\x0c\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
        "\u2008\u2009\u200a\u200b\u200c\u200d\u2028\u2029\u202f\u205f\u3000\ufeff"


def _number_text(value: float | int) -> str:
    """13800138000.0 -> "13800138000"; 1.5 -> "1.5"; no exponent for large whole numbers."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return ""
        if value.is_integer():
            return str(int(value))
        return repr(value)
    return str(value)


def text(value: object, *, max_len: int | None = None) -> str:
    """A cell as text: outer whitespace stripped (incl. U+3000 and NBSP), full-width ASCII
    letters, digits and spaces folded, "" for None, numbers as their plain text. A formula-
    looking text keeps every character but the outer spaces."""
    if value is None:
        return ""
    if isinstance(value, Unreadable):
        raise value.fail()
    if isinstance(value, bool):
        out = "是" if value else "否"
    elif isinstance(value, int | float):
        out = _number_text(value)
    elif isinstance(value, datetime):
        out = value.strftime("%Y-%m-%d %H:%M:%S").removesuffix(":00").removesuffix(" 00:00")
    elif isinstance(value, date):
        out = value.isoformat()
    elif isinstance(value, time):
        out = value.strftime("%H:%M")
    else:
        out = str(value)
    spaced = out.strip(" \u3000\u00a0")
    stripped = out.strip(_EDGE)
    if looks_like_formula(spaced):
        out = spaced  # a leading tab or CR is part of what it is
    elif looks_like_formula(stripped):
        out = stripped  # behind a zero-width space: kept exactly too, never folded
    else:
        out = stripped.translate(_FOLD)
    if max_len is not None and len(out) > max_len:
        raise CellError(TOO_LONG, f"Longer than {max_len} characters ({len(out)}).")
    # The one rule for stored text (server.domain.core.text): no NUL, control or bidi
    # characters, as the push API and the office's forms refuse them.
    problem = text_rules.problem(out)
    if problem is not None:
        raise CellError(BAD_TEXT, problem)
    return out


# ---- when -------------------------------------------------------------------------------

_EXCEL_EPOCH = datetime(1899, 12, 30)  # 1900 system, past Excel's 1900-02-29 bug
_DATE_TIME = re.compile(
    r"(?P<y>\d{4})[年/.\-](?P<m>\d{1,2})[月/.\-](?P<d>\d{1,2})日?"
    r"(?:[ T]*(?P<H>\d{1,2})(?:[:时点])(?P<M>\d{1,2})?分?(?::?(?P<S>\d{1,2})(?:\.\d+)?秒?)?)?")
_COMPACT = re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"
                      r"(?:[ T]?(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?")


def when(value: object, *, tz: str = "Asia/Shanghai", drift_s: int = 300) -> datetime:
    """A moment as an aware UTC datetime, from a cell in local time `tz`: a reader's
    datetime or date, an Excel serial number, or text such as 2025/5/16 20:00, 2025-05-16,
    2025年5月16日 20时00分, 2025.5.16, 20250516. A date alone is 00:00 local. In range as
    the office's form has it (server.domain.core.received: `drift_s` ahead at most)."""
    if isinstance(value, Unreadable):
        raise value.fail()
    zone = ZoneInfo(tz)
    local = _local(value)
    # Year 1 or 9999 overflows on the way to UTC: out of range before it is converted.
    if not received.EARLIEST.year - 1 <= local.year <= 9000:
        raise CellError(DATE_OUT_OF_RANGE, f"{local:%Y-%m-%d} is out of range.")
    moment = local.replace(tzinfo=zone) if local.tzinfo is None else local
    moment = moment.astimezone(UTC)
    problem = received.problem(moment, datetime.now(UTC), drift_s=drift_s)
    if problem is not None:
        raise CellError(DATE_OUT_OF_RANGE, f"{local:%Y-%m-%d %H:%M}: {problem}")
    return moment


def _local(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    if isinstance(value, bool) or value is None:
        raise CellError(BAD_DATE, "Not a date.")
    if isinstance(value, int | float):
        if isinstance(value, int) and not 0 < value < 10**9:
            raise CellError(BAD_DATE, "Not a date.")
        if float(value).is_integer() and 19_000_101 <= value <= 29_991_231:
            value = str(int(value))  # 20250516 kept as a number: a compact date, not a serial
        else:
            return _serial(float(value))
    raw = unicodedata.normalize("NFKC", str(value)).strip()
    if not raw:
        raise CellError(BAD_DATE, "Not a date (empty).")
    if re.fullmatch(r"\d{5}(\.\d+)?", raw):  # a serial number kept as text
        return _serial(float(raw))
    match = _DATE_TIME.fullmatch(raw) or _COMPACT.fullmatch(raw)
    if match is None and re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})", raw):
        try:  # ISO 8601 with an offset, as an API-minded platform writes it
            return datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise CellError(BAD_DATE, f"No such date: {raw[:40]!r}.") from exc
    if match is None:
        raise CellError(BAD_DATE, f"Not a date: {raw[:40]!r}.")
    parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
    try:
        return datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"], parts["S"])
    except ValueError as exc:
        raise CellError(BAD_DATE, f"No such date: {raw[:40]!r}.") from exc


def _serial(number: float) -> datetime:
    """Excel's day count (1900 system): 45793.8333 is 2025-05-16 20:00. Rounded to the
    second, as Excel stores 20:00 as 0.83333333333..."""
    if not 1 <= number < 2_958_466:  # 9999-12-31
        raise CellError(BAD_DATE, f"Not a date: {_number_text(number)}.")
    moment = _EXCEL_EPOCH + timedelta(days=number)
    return (moment + timedelta(microseconds=500_000)).replace(microsecond=0)


# ---- phone ------------------------------------------------------------------------------

_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x)\s*(\d{1,6})\s*$", re.IGNORECASE)
_PHONE_CHARS = re.compile(r"[\d\s\-+()（）.]*")


def phone(value: object) -> str | None:
    """A phone number as digits in text, normalised as server.domain.core.privacy does for
    the keyed digest (+86/0086 off, full-width digits folded); an extension after 转 stays
    as 转NNN. None for a blank cell. A number stored as a number (13812345678.0) is fine."""
    if value is None:
        return None
    if isinstance(value, Unreadable):
        raise value.fail()
    if isinstance(value, bool):
        raise CellError(BAD_PHONE, "Not a phone number.")
    if isinstance(value, int | float):
        raw = _number_text(value)
        if raw and "." in raw:
            raise CellError(BAD_PHONE, f"Not a phone number: {raw}.")
    else:
        raw = unicodedata.normalize("NFKC", str(value)).strip(_EDGE)
        raw = _unexponent(raw)
        decimal = re.fullmatch(r"(\d+)\.(\d+)", raw)
        if decimal:  # a number written out as text: "13812345678.0" is fine, ".5" is not
            if decimal.group(2).strip("0"):
                raise CellError(BAD_PHONE, f"Not a phone number: {raw[:30]!r}.")
            raw = decimal.group(1)
    if not raw:
        return None
    extension = ""
    found = _EXTENSION.search(raw)
    if found:
        extension = "转" + found.group(1)
        raw = raw[:found.start()].strip()
    if not _PHONE_CHARS.fullmatch(raw):
        raise CellError(BAD_PHONE, f"Not a phone number (letters or signs): {raw[:30]!r}.")
    digits = normalise_phone(raw)
    if digits is None or not 3 <= len(digits) <= 15:
        raise CellError(BAD_PHONE, f"Not a phone number: {raw[:30]!r}.")
    return digits + extension


_EXPONENT = re.compile(r"(\d)(?:\.(\d+))?[eE]\+?(\d{1,2})")


def _unexponent(raw: str) -> str:
    """"1.3812345678E10" (a number Excel showed in exponent form, then saved as text) as
    its digits, when every digit is there; "1.38123E+10" lost six of them and is refused."""
    match = _EXPONENT.fullmatch(raw)
    if match is None:
        return raw
    lead, fraction, power = match.group(1), match.group(2) or "", int(match.group(3))
    if len(fraction) > power:
        return raw  # not a whole number: refused below as not a phone
    if len(fraction) < power:
        raise CellError(BAD_PHONE, f"The number was shortened by the spreadsheet ({raw}): "
                        "its last digits are lost.")
    return lead + fraction
