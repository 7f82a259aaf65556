"""A HEIC stored the way iPhones store one: a grid of 512 x 512 HEVC tiles, rotated by the
container (irot) from the sensor's landscape to portrait, with an embedded 320 px thumbnail
and EXIF (camera, time, GPS). Used by tests/test_media.py and bench/bench_memory.py.

Encoding 48 MP takes x265 about 20 s even at its fastest preset, so files are made in a
child process (150 MB of pixels) and cached in the system's temporary folder by size and
by FORMAT_VERSION (bump it when the content below changes).

The picture, as stored (landscape): noise, and a red block in the top-left corner. Shown
upright (rotated 90 degrees clockwise, EXIF orientation 6), the block is top-right.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

FORMAT_VERSION = 1
TAKEN_AT = datetime(2026, 11, 30, 21, 14, 5, tzinfo=timezone(timedelta(hours=8)))
GPS = (31.2304, 121.4737)  # lat, lon
MAKE, MODEL = "Apple", "iPhone 16 Pro"

_MAKE = r"""
import sys
import piexif
import pillow_heif
from PIL import Image, ImageDraw
pillow_heif.register_heif_opener()
Image.MAX_IMAGE_PIXELS = None
width, height, tile, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
img = Image.effect_noise((max(1, width // 8), max(1, height // 8)), 40).convert("RGB")
img = img.resize((width, height))
ImageDraw.Draw(img).rectangle((0, 0, width // 4, height // 4), fill=(220, 20, 20))
def dms(value):
    d = int(value); m = int((value - d) * 60); s = round(((value - d) * 60 - m) * 60 * 100)
    return ((d, 1), (m, 1), (s, 100))
exif = piexif.dump({
    "0th": {piexif.ImageIFD.Make: b"Apple", piexif.ImageIFD.Model: b"iPhone 16 Pro",
            piexif.ImageIFD.Orientation: 6},
    "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2026:11:30 21:14:05",
             piexif.ExifIFD.OffsetTimeOriginal: b"+08:00"},
    "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: dms(31.2304),
            piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: dms(121.4737)},
})
options = {"tile_size": tile} if tile else {}
img.save(out, format="HEIF", quality=80, thumbnails=[320], exif=exif,
         enc_params={"preset": "ultrafast"}, **options)
"""


def make_heic(path: Path, width: int, height: int, tile: int = 512) -> Path:
    """Write the picture above as `width` x `height` (stored, landscape) HEIC to `path`;
    `tile=0` writes one HEVC image instead of a grid."""
    subprocess.run([sys.executable, "-c", _MAKE, str(width), str(height), str(tile),
                    str(path)], check=True, capture_output=True, timeout=600)
    return path


def cached_heic(width: int, height: int, tile: int = 512) -> Path:
    """The file `make_heic` makes, made once per machine (parallel test workers each
    write their own and rename it into place: the last one wins, all are equal)."""
    folder = Path(tempfile.gettempdir()) / "fieldcase-heic"
    folder.mkdir(exist_ok=True)
    path = folder / f"v{FORMAT_VERSION}-{width}x{height}-tile{tile}.heic"
    if not path.exists():
        partial = folder / f".{path.name}.{os.getpid()}"
        make_heic(partial, width, height, tile)
        os.replace(partial, path)
    return path
