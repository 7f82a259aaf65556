"""Photo intake: bytes in, facts out. No Flask, no database, no storage.

facts = read_image(fp)   # raises MediaError on bad input
"""

from .errors import MediaError
from .exif import ExifFacts, read_exif
from .intake import ImageFacts, read_image
from .thumbnails import THUMB_SIZES, Thumbnail

__all__ = [
    "THUMB_SIZES",
    "ExifFacts",
    "ImageFacts",
    "MediaError",
    "Thumbnail",
    "read_exif",
    "read_image",
]
