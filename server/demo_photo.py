"""Site photos for the demo: a drawn street scene (a shop front with the case's subject on
its sign), 1280x960 JPEG, with the EXIF a phone camera writes (time taken with its UTC
offset, GPS position), so the demo's evidence goes through the real pipeline unflagged."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from functools import cache
from typing import Any

import piexif
from PIL import Image, ImageDraw, ImageFont

SIZE = (1280, 960)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def _font_file() -> str | None:
    """The CJK font the closure files embed, when installed; else none (Latin text)."""
    try:
        from server.reports.fonts import cjk_font

        return str(cjk_font().path)
    except Exception:  # any missing or broken font: draw Latin text instead
        return None


@cache
def _font(size: int) -> tuple[Font, bool]:
    """(font, draws Chinese)."""
    path = _font_file()
    if path is not None:
        try:
            return ImageFont.truetype(path, size), True
        except OSError:
            pass
    return ImageFont.load_default(size), False


def _text(draw: ImageDraw.ImageDraw, xy: tuple[int, int], zh: str, latin: str, size: int,
          fill: tuple[int, int, int], max_width: int, anchor: str = "la") -> None:
    """Chinese when the font has it, else the Latin text; smaller until it fits."""
    while True:
        font, cjk = _font(size)
        text = zh if cjk else latin
        if size <= 16 or draw.textlength(text, font=font) <= max_width:
            break
        size -= 4
    draw.text(xy, text, font=font, fill=fill, anchor=anchor)


def _rational(value: float, denominator: int) -> tuple[int, int]:
    return (round(value * denominator), denominator)


def _dms(degrees: float) -> tuple[tuple[int, int], ...]:
    degrees = abs(degrees)
    whole = int(degrees)
    minutes_float = (degrees - whole) * 60
    minutes = int(minutes_float)
    seconds = (minutes_float - minutes) * 60
    return ((whole, 1), (minutes, 1), _rational(seconds, 1000))


def exif_bytes(taken_local: datetime, lat: float, lon: float) -> bytes:
    """The EXIF of a phone photo: camera, time taken (local wall time plus its offset, as
    recent phones write it) and GPS position with the fix's UTC time."""
    offset = taken_local.utcoffset()
    if offset is None:
        raise ValueError("taken_local must carry its UTC offset")
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    stamp = taken_local.strftime("%Y:%m:%d %H:%M:%S").encode()
    utc = taken_local.astimezone(UTC)
    ifds: dict[str, Any] = {
        "0th": {piexif.ImageIFD.Make: b"Fieldcase", piexif.ImageIFD.Model: b"Demo camera",
                piexif.ImageIFD.Orientation: 1, piexif.ImageIFD.DateTime: stamp},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: stamp,
                 piexif.ExifIFD.DateTimeDigitized: stamp,
                 piexif.ExifIFD.OffsetTimeOriginal: zone.encode(),
                 piexif.ExifIFD.OffsetTimeDigitized: zone.encode(),
                 piexif.ExifIFD.PixelXDimension: SIZE[0],
                 piexif.ExifIFD.PixelYDimension: SIZE[1]},
        "GPS": {piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
                piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S",
                piexif.GPSIFD.GPSLatitude: _dms(lat),
                piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
                piexif.GPSIFD.GPSLongitude: _dms(lon),
                piexif.GPSIFD.GPSTimeStamp: ((utc.hour, 1), (utc.minute, 1),
                                             (utc.second, 1)),
                piexif.GPSIFD.GPSDateStamp: utc.strftime("%Y:%m:%d").encode()},
    }
    return piexif.dump(ifds)


def site_photo(*, subject: str, label: str, place: str, taken_local: datetime, lat: float,
               lon: float, seed: int) -> bytes:
    """A JPEG of a shop front or site at dusk: `subject` on the sign (Chinese when a CJK
    font is installed, else `label`), a caption strip with the place and time."""
    rng = random.Random(seed)
    img = Image.new("RGB", SIZE)
    draw = ImageDraw.Draw(img)
    width, height = SIZE
    horizon = 560
    top, bottom = (40 + rng.randrange(30), 60, 120), (230, 140 + rng.randrange(40), 90)
    for y in range(horizon):  # evening sky
        t = y / horizon
        draw.line([(0, y), (width, y)], fill=tuple(
            round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    draw.rectangle([0, horizon, width, height], fill=(70, 72, 78))  # road
    for x in range(40, width, 160):
        draw.rectangle([x, 760, x + 80, 772], fill=(225, 225, 210))  # lane marks
    # Neighbouring blocks with lit windows.
    x = 0
    while x < width:
        w, h = rng.randrange(140, 240), rng.randrange(220, 420)
        shade = rng.randrange(60, 110)
        draw.rectangle([x, horizon - h, x + w, horizon], fill=(shade, shade - 10, shade + 10))
        for wy in range(horizon - h + 20, horizon - 30, 46):
            for wx in range(x + 16, x + w - 30, 40):
                lit = rng.random() < 0.45
                draw.rectangle([wx, wy, wx + 22, wy + 28],
                               fill=(250, 215, 120) if lit else (40, 44, 60))
        x += w + rng.randrange(4, 20)
    # The shop front of the case, with its sign.
    sx, sw = 300 + rng.randrange(-60, 60), 680
    draw.rectangle([sx, 250, sx + sw, horizon], fill=(150, 120, 95))
    draw.rectangle([sx + 20, 270, sx + sw - 20, 360], fill=(170, 25, 30))
    _text(draw, (sx + 44, 315), subject, label, 56, (255, 236, 150), sw - 88, "lm")
    draw.rectangle([sx + 60, 400, sx + 300, horizon], fill=(35, 40, 52))  # door
    draw.rectangle([sx + 360, 400, sx + sw - 60, 520], fill=(120, 170, 190))  # window
    # A caption strip, as a field inspector's photo label would have it.
    draw.rectangle([0, height - 110, width, height], fill=(20, 20, 24))
    _text(draw, (30, height - 96), place, label, 34, (240, 240, 240), width - 60)
    draw.text((30, height - 46), f"{taken_local:%Y-%m-%d %H:%M} {lat:.5f}N {lon:.5f}E",
              font=_font(30)[0], fill=(200, 200, 200))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, exif=exif_bytes(taken_local, lat, lon))
    return out.getvalue()
