"""Media intake: bytes in, facts out. No Flask, no database, no storage.

facts = read_image(fp)                    # a photo; raises MediaError on bad input
facts = read_audio(fp, max_seconds=3600)  # an interview recording; raises MediaError
"""

from .audio import AudioFacts, read_audio
from .errors import MediaError
from .exif import ExifFacts, read_exif
from .intake import ImageFacts, read_image
from .thumbnails import THUMB_SIZES, Thumbnail

__all__ = [
    "THUMB_SIZES",
    "AudioFacts",
    "ExifFacts",
    "ImageFacts",
    "MediaError",
    "Thumbnail",
    "read_audio",
    "read_exif",
    "read_image",
]
