"""EXIF facts (time, place, camera, orientation) from a raw EXIF block.

piexif is the primary reader; it is brittle on malformed files, so every failure is
caught, noted in `ExifFacts.errors`, and Pillow's EXIF parser is used to salvage
what it can. Each field is extracted on its own, so a broken GPS IFD cannot cost
us the capture time. The fallback parses the same bytes with `Image.Exif().load()`,
i.e. `img.getexif()` without its XMP orientation guess, so facts only ever come
from the EXIF block.
"""

from __future__ import annotations

import math
import re
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import piexif
from PIL import Image

# Tag numbers (EXIF 2.32).
_MAKE, _MODEL, _ORIENTATION, _DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
_EXIF_IFD, _GPS_IFD, _INTEROP_IFD = 0x8769, 0x8825, 0xA005
_DT_ORIGINAL, _DT_DIGITIZED = 0x9003, 0x9004
_OFFSET, _OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 0x9010, 0x9011, 0x9012
_GPS_LAT_REF, _GPS_LAT, _GPS_LON_REF, _GPS_LON = 1, 2, 3, 4

# (ifd, time tag, matching UTC-offset tag, label), in order of preference.
# catch_warnings swaps process-wide state; gunicorn threads must not interleave it, or
# one thread restores the filters another set and they stay wrong for the process.
_WARNINGS_LOCK = threading.Lock()

_TIME_SOURCES = (
    ("Exif", _DT_ORIGINAL, _OFFSET_ORIGINAL, "DateTimeOriginal"),
    ("Exif", _DT_DIGITIZED, _OFFSET_DIGITIZED, "DateTimeDigitized"),
    # Not IFD0 DateTime: editors rewrite it on every save, so it is no capture time.
)

_TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
_MAX_NUMBERS = 65_536  # per tag; real EXIF tags hold a handful of numbers
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}

_DATETIME_RE = re.compile(r"(\d{4})[:\-/](\d{2})[:\-/](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET_RE = re.compile(r"([+-])(\d{2}):?(\d{2})")


@dataclass(frozen=True)
class ExifFacts:
    taken_at: datetime | None = None
    gps: tuple[float, float] | None = None
    make: str | None = None
    model: str | None = None
    orientation: int | None = None
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        data: dict[str, Any] = {
            "taken_at": self.taken_at.isoformat() if self.taken_at else None,
            "gps": {"lat": self.gps[0], "lon": self.gps[1]} if self.gps else None,
            "make": self.make,
            "model": self.model,
            "orientation": self.orientation,
        }
        return {key: value for key, value in data.items() if value is not None}


# A source answers (ifd name, tag) -> raw value or None; it may raise on broken data.
Source = Callable[[str, int], Any]


def read_exif(raw: bytes | None) -> ExifFacts:
    """Facts from the raw EXIF block as Pillow exposes it (`img.info["exif"]`)."""
    if not raw:
        return ExifFacts()
    errors: list[str] = []
    tiff = _tiff_block(raw)
    if tiff is None:
        return ExifFacts(errors=["EXIF block has no TIFF header and was ignored."])

    sources = _Sources(tiff, errors)
    taken_at = None
    for ifd, tag, offset_tag, label in _TIME_SOURCES:
        # A garbled DateTimeOriginal should not hide a good DateTimeDigitized.
        taken_at = _first(sources, _tag(ifd, tag, _time), label, errors)
        if taken_at is not None:
            tz = _first(sources, _tag("Exif", offset_tag, _offset), f"{label} offset", errors)
            if tz is not None:
                taken_at = taken_at.replace(tzinfo=tz)
            break
    gps = _first(sources, _gps, "GPS position", errors)
    make = _first(sources, _tag("0th", _MAKE, _text), "camera make", errors)
    model = _first(sources, _tag("0th", _MODEL, _text), "camera model", errors)
    orientation = _first(sources, _tag("0th", _ORIENTATION, _orientation), "orientation", errors)
    return ExifFacts(
        taken_at=taken_at,
        gps=gps,
        make=make,
        model=model,
        orientation=orientation,
        errors=list(dict.fromkeys(errors)),  # same note from both readers: keep one
    )


class _Sources:
    """piexif first; Pillow built only when piexif failed or a field needs a second try."""

    def __init__(self, tiff: bytes, errors: list[str]):
        self._tiff = tiff
        self._errors = errors
        self._piexif: Source | None = None
        self._pillow: Source | None = None
        self._piexif_failed = False
        self._pillow_failed = False

    def __iter__(self) -> Iterator[Source]:
        if not self._piexif_failed:
            if self._piexif is None:
                self._piexif = self._load_piexif()
            if self._piexif is not None:
                yield self._piexif
        if not self._pillow_failed:
            if self._pillow is None:
                self._pillow = self._load_pillow()
            if self._pillow is not None:
                yield self._pillow

    def _load_piexif(self) -> Source | None:
        try:
            problem = _oversized_entry(self._tiff)
            if problem is None:
                data = piexif.load(self._tiff)
        except Exception as exc:
            problem = _describe(exc)
        if problem is not None:
            self._piexif_failed = True
            self._errors.append(f"EXIF block is malformed ({problem}); salvaged what we could.")
            return None
        return lambda ifd, tag: data.get(ifd, {}).get(tag)

    def _load_pillow(self) -> Source | None:
        exif = Image.Exif()
        try:
            with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                exif.load(self._tiff)
        except Exception as exc:
            self._pillow_failed = True
            self._errors.append(f"EXIF block could not be read at all ({_describe(exc)}).")
            return None
        self._errors.extend(f"EXIF: {w.message}" for w in caught)
        ifds: dict[str, Any] = {}

        def get(ifd: str, tag: int) -> Any:
            if ifd == "0th":
                return exif.get(tag)
            if ifd not in ifds:
                with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    ifds[ifd] = exif.get_ifd(_EXIF_IFD if ifd == "Exif" else _GPS_IFD)
                self._errors.extend(f"EXIF: {w.message}" for w in caught)
            return ifds[ifd].get(tag)

        return get


def _tag(ifd: str, tag: int, convert: Callable[[Any], Any]) -> Callable[[Source], Any]:
    return lambda get: convert(get(ifd, tag))


def _first(sources: _Sources, extract: Callable[[Source], Any], label: str, errors: list[str]):
    """First reader that extracts the field cleanly wins; each failure becomes a note."""
    for get in sources:
        try:
            return extract(get)
        except Exception as exc:
            errors.append(f"Unreadable {label} in EXIF ({_describe(exc)}).")
    return None


def _tiff_block(raw: bytes) -> bytes | None:
    # Pillow gives JPEG/HEIF/WebP EXIF with an "Exif\0\0" prefix and PNG eXIf without.
    # Only ever hand piexif a TIFF block: given anything else it treats the bytes as a
    # JPEG to scan or even as a *file name* to open.
    tiff = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    return tiff if tiff[:4] in _TIFF_HEADERS else None


def _oversized_entry(tiff: bytes) -> str | None:
    """Bound piexif's work before it runs.

    piexif builds a struct format of `count` characters for each entry ("L" * count), so
    one entry claiming 4 billion values makes it allocate gigabytes and stall. Walk the
    IFDs piexif will read and refuse entries that claim more data than the block holds,
    or absurdly many numbers. Returns what is wrong, or None if piexif may run.
    """
    endian = "<" if tiff[:2] == b"II" else ">"
    size = len(tiff)
    pending = [("0th", struct.unpack_from(endian + "L", tiff, 4)[0])]
    seen: set[int] = set()
    while pending:
        name, offset = pending.pop()
        if offset in seen or offset + 2 > size:
            continue  # loops and dangling pointers make piexif raise, not stall
        seen.add(offset)
        count = struct.unpack_from(endian + "H", tiff, offset)[0]
        for index in range(count):
            entry = offset + 2 + 12 * index
            if entry + 12 > size:
                break
            tag, kind, n, value = struct.unpack_from(endian + "HHLL", tiff, entry)
            # Text and opaque bytes are sliced; numbers become one Python object each, so
            # cap their count too (HEIF/PNG EXIF blocks are not limited to 64 KiB).
            too_many = kind not in (2, 7) and n > _MAX_NUMBERS
            if too_many or n * _TYPE_SIZES.get(kind, 1) > size:
                return f"tag 0x{tag:04X} in the {name} IFD claims {n} values"
            if n == 1 and kind == 4:
                child = {
                    ("0th", _EXIF_IFD): "Exif",
                    ("0th", _GPS_IFD): "GPS",
                    ("Exif", _INTEROP_IFD): "Interop",
                }.get((name, tag))
                if child:
                    pending.append((child, value))
        link = offset + 2 + 12 * count
        if name == "0th" and link + 4 <= size:
            next_ifd = struct.unpack_from(endian + "L", tiff, link)[0]
            if next_ifd:  # 0 means "no thumbnail IFD"
                pending.append(("1st", next_ifd))
    return None


def _describe(exc: BaseException) -> str:
    kind = type(exc).__name__
    if type(exc).__module__ not in ("builtins", "__main__"):
        kind = f"{type(exc).__module__}.{kind}"  # "struct.error" reads better than "error"
    text = str(exc).strip()
    return f"{kind}: {text.splitlines()[0][:120]}" if text else kind


# --- field extraction; each raises on malformed values so the caller can note it -----


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    # C strings: anything after the first NUL is padding or garbage.
    value = value.split("\x00", 1)[0].strip()
    return value or None


def _time(value: Any) -> datetime | None:
    text = _text(value)
    if text is None or not text.strip("0: -"):
        return None  # absent, or a "0000:00:00 00:00:00" placeholder
    match = _DATETIME_RE.match(text)
    if not match:
        raise ValueError(f"not a date: {text[:40]!r}")
    return datetime(*(int(part) for part in match.groups()))


def _offset(value: Any) -> timezone | None:
    text = _text(value)
    if text is None:
        return None
    match = _OFFSET_RE.fullmatch(text)
    if not match:
        raise ValueError(f"invalid UTC offset: {text[:20]!r}")
    delta = timedelta(hours=int(match[2]), minutes=int(match[3]))
    return timezone(-delta if match[1] == "-" else delta)


def _rational(value: Any) -> float:
    # piexif: (numerator, denominator) tuples; Pillow: IFDRational, int or float.
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError("malformed rational")
        numerator, denominator = value
        if denominator == 0:
            raise ValueError("zero denominator")
        number = numerator / denominator
    else:
        number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _degrees(value: Any) -> float:
    # Degrees, minutes, seconds; some writers store fewer parts. piexif collapses a
    # single rational to a plain (num, den) pair, so tell that apart from a tuple of them.
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        parts = [value]
    elif isinstance(value, tuple | list) and 1 <= len(value) <= 3:
        parts = list(value)
    else:
        raise ValueError("malformed coordinate")
    return sum(_rational(part) / 60**index for index, part in enumerate(parts))


def _gps(get: Source) -> tuple[float, float] | None:
    raw_lat, raw_lon = get("GPS", _GPS_LAT), get("GPS", _GPS_LON)
    if raw_lat is None or raw_lon is None:
        return None
    lat, lon = _degrees(raw_lat), _degrees(raw_lon)
    lat_ref = (_text(get("GPS", _GPS_LAT_REF)) or "N").upper()
    lon_ref = (_text(get("GPS", _GPS_LON_REF)) or "E").upper()
    if lat_ref not in ("N", "S") or lon_ref not in ("E", "W"):
        raise ValueError(f"unknown hemisphere {lat_ref!r}/{lon_ref!r}")
    lat = -lat if lat_ref == "S" else lat
    lon = -lon if lon_ref == "W" else lon
    if lat == 0 and lon == 0:
        return None  # "no fix" placeholder written by some cameras
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError(f"position out of range ({lat:.4f}, {lon:.4f})")
    return lat, lon


def _orientation(value: Any) -> int | None:
    if isinstance(value, tuple | list) and value:
        value = value[0]
    if value is None:
        return None
    if not isinstance(value, int) or not 1 <= value <= 8:
        raise ValueError(f"orientation {value!r} is not 1..8")
    return value
