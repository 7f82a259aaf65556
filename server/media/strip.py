"""A JPEG re-encoded with its pixels only: no EXIF, GPS, XMP, ICC profile or comment.

Used for what leaves the office in public (办结公示): the stored thumbnails already carry
no metadata, but a public file must not depend on that, so its photos are decoded and
encoded again by Pillow, which writes only the segments it is given.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import ExifTags, Image, JpegImagePlugin

from server.media.thumbnails import UPRIGHT

# Where the source's own quantisation tables cannot be reused (a colour mode that JPEG
# cannot keep, e.g. CMYK); the stored thumbnails themselves are JPEG quality 82.
_FALLBACK_QUALITY = 88


def without_metadata(jpeg: bytes) -> bytes:
    """`jpeg` decoded and encoded again as a baseline JPEG holding nothing but pixels.

    An EXIF orientation is applied to the pixels first, so the picture stays upright once
    the tag is gone. Only the first frame of a multi-picture file (MPO) is kept.
    """
    with Image.open(io.BytesIO(jpeg), formats=("JPEG",)) as src:
        orientation = src.getexif().get(ExifTags.Base.Orientation, 1)
        options: dict[str, Any] = {"quality": _FALLBACK_QUALITY}
        tables = getattr(src, "quantization", None)
        if src.mode in ("RGB", "L") and tables:
            # The source's own tables and chroma subsampling: a second encode at the same
            # settings loses far less than one at a new quality (also after a rotation:
            # the tables are near symmetric).
            options = {"qtables": tables, "subsampling": JpegImagePlugin.get_sampling(src)}
        img = src.convert("RGB") if src.mode not in ("RGB", "L") else src.copy()
        if orientation in UPRIGHT:
            img = img.transpose(UPRIGHT[orientation])
    img.info.clear()
    out = io.BytesIO()
    # exif, icc_profile, xmp and dpi are written only when passed; the comment is the one
    # thing Pillow copies from the source unless given, hence comment=b"".
    img.save(out, "JPEG", comment=b"", optimize=False, **options)
    return out.getvalue()
