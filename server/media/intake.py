"""Photo intake: uploaded bytes in, facts and thumbnails out (no I/O beyond `fp`)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import pillow_heif
from PIL import Image

from . import heif_tiles
from .errors import DECOMPRESSION_BOMB, NOT_AN_IMAGE, UNDECODABLE, UNSUPPORTED_FORMAT, MediaError
from .exif import ExifFacts, read_exif
from .thumbnails import THUMB_SIZES, Thumbnail, make_thumbnails, plan_decode, upright_size

log = logging.getLogger(__name__)

# Global Pillow settings, made once at import: teach it HEIF/HEIC, and make its
# decompression-bomb warning (past PIL.Image.MAX_IMAGE_PIXELS, which create_app sets from
# MAX_IMAGE_PIXELS) a refusal. A filter set once is thread-safe; catch_warnings is not.
pillow_heif.register_heif_opener()
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

# Formats decoded in full (no reduced-scale decode), and the most pixels each may have so
# that one decode stays within about 200 MB: measured peaks per pixel, with the
# thumbnails, are about 5.3 bytes for PNG, 15 for WebP (RGBA buffers) and 7.3 for HEIF
# (bench/bench_memory.py prints them). A JPEG decodes at reduced scale instead. A HEIF
# grid (how phones store large HEIC) decodes one tile at a time at reduced scale
# (heif_tiles), so only its largest tile plus the reduced canvas count against this
# limit, and the photo itself may have up to `max_pixels`: a 48 MP "HEIF Max" photo grows
# the process by 50-58 MB at peak, its 8 MB of bytes included (bench/bench_memory.py;
# README, Benchmarks), against 356 MB decoded whole.
FULL_DECODE_LIMITS = {"PNG": 36_000_000, "WEBP": 12_000_000, "HEIF": 26_000_000}

# What libheif itself may allocate for one photo (its own accounting, a backstop under
# the pixel limits above: one tile, or a whole single-image HEIF at its limit, 4.5 bytes
# per pixel for its YCbCr planes and RGB copy). Past it libheif refuses, cleanly.
HEIF_DECODER_MEMORY = 160 * 2**20

# Formats are chosen by content; Pillow only tries these plugins.
_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",  # what iPhones send; HEIF and HEIC are one container format
}
_ACCEPTED = "Please upload a JPEG, PNG, WebP or HEIC photo."

# Image formats we recognise but do not accept, so the user gets a precise answer.
_OTHER_IMAGES = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF (or camera raw)"),
    (b"MM\x00*", "TIFF (or camera raw)"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"8BPS", "Photoshop"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"qoif", "QOI"),
    (b"v/1\x01", "OpenEXR"),
)
_OTHER_FTYP = {b"avif": "AVIF", b"avis": "AVIF", b"crx ": "Canon raw (CR3)"}
_BMP_HEADER_SIZES = (12, 40, 52, 56, 64, 108, 124)


@dataclass(frozen=True)
class ImageFacts:
    format: str
    content_type: str
    width: int  # upright, i.e. as a viewer shows it
    height: int
    exif: ExifFacts
    thumbnails: list[Thumbnail] = field(default_factory=list)


def read_image(
    fp: BinaryIO,
    *,
    max_pixels: int = 50_000_000,
    max_jpeg_pixels: int | None = None,
    thumb_sizes: Sequence[tuple[str, int]] = THUMB_SIZES,
) -> ImageFacts:
    """Inspect an uploaded photo and render its thumbnails.

    `fp` is a seekable binary file, read from the start; it is left open. `max_pixels`
    bounds what is decoded: PNG, WebP and HEIF decode in full, so it bounds their size; a
    JPEG decodes at 1/2 to 1/8 scale (DCT scaling) down to what the thumbnails need, so
    it is judged by that decoded size, and by `max_jpeg_pixels` (nominal) at most: the
    200-megapixel photos of many phones pass, a JPEG bomb does not.
    Raises MediaError on anything that is not a decodable JPEG, PNG, WebP or HEIF image.
    """
    fp.seek(0)
    head = fp.read(512)
    fp.seek(0)
    try:
        img = Image.open(fp, formats=_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError(
            DECOMPRESSION_BOMB, "The image dimensions are too large to process safely."
        ) from exc
    except Exception as exc:  # unknown format, or a header too damaged to parse
        raise _unreadable(head) from exc
    with img:
        if img.format == "HEIF" and heif_tiles.available():
            fp.seek(0)
            tiled = _inspect_heif_tiled(img, fp.read(), max_pixels, thumb_sizes)
            if tiled is not None:
                return tiled
        return _inspect(img, max_pixels, max_jpeg_pixels or max_pixels, thumb_sizes)


def _too_large(width: int, height: int, limit: int) -> MediaError:
    return MediaError(
        DECOMPRESSION_BOMB,
        f"The image is too large ({width} × {height} pixels); "
        f"the limit is {limit / 1e6:g} megapixels.",
    )


def _inspect(
    img: Image.Image, max_pixels: int, max_jpeg_pixels: int,
    thumb_sizes: Sequence[tuple[str, int]],
) -> ImageFacts:
    width, height = img.size
    # MPO is a JPEG with extra frames appended (phones write it); the first frame is the photo.
    fmt = "JPEG" if img.format == "MPO" else str(img.format)
    # Header facts only so far: refuse huge images before allocating a single pixel.
    nominal_limit = max_jpeg_pixels if fmt == "JPEG" else min(max_pixels,
                                                             FULL_DECODE_LIMITS[fmt])
    if width * height > nominal_limit:
        raise _too_large(width, height, nominal_limit)
    plan_decode(img, thumb_sizes)
    decoded_width, decoded_height = img.size  # a JPEG's draft scale shrinks it
    if decoded_width * decoded_height > max_pixels:
        raise _too_large(width, height, max_pixels)
    try:
        img.load()  # the one and only decode
    except Exception as exc:
        raise _undecodable() from exc

    # Read after load: PNG may keep its eXIf chunk after the pixel data.
    exif = _exif_of(img)
    # HEIF applies its rotation in the container (pillow-heif has already done it and
    # reset the EXIF tag); applying EXIF orientation again would double-rotate.
    orientation = None if fmt == "HEIF" else exif.orientation
    try:
        thumbnails = make_thumbnails(img, orientation, thumb_sizes)
    except Exception as exc:
        log.exception("thumbnail rendering failed for a %s %s image", fmt, img.mode)
        raise MediaError(UNDECODABLE, "The image could not be converted into a preview.") from exc

    upright_width, upright_height = upright_size((width, height), orientation)
    return ImageFacts(
        format=fmt,
        content_type=_CONTENT_TYPES[fmt],
        width=upright_width,
        height=upright_height,
        exif=exif,
        thumbnails=thumbnails,
    )


def _inspect_heif_tiled(
    img: Image.Image, data: bytes, max_pixels: int, thumb_sizes: Sequence[tuple[str, int]],
) -> ImageFacts | None:
    """A HEIF decoded tile by tile at reduced scale (see heif_tiles), or None for the
    full decode to judge it: when its tiling cannot be used (a cropped image), or when
    libheif's tile API cannot open a photo small enough for the full decode.

    A tile that fails to decode refuses the photo. (The full decode is lenient there: it
    fills a missing tile with black and accepts the rest; evidence with a hole is not.)"""
    width, height = img.size  # upright: the container's rotation is applied
    if width * height > max_pixels:
        raise _too_large(width, height, max_pixels)
    try:
        reader = heif_tiles.GridReader(data, max_pixels=max_pixels,
                                       max_memory=HEIF_DECODER_MEMORY)
    except heif_tiles.HeifTileError as exc:
        if not exc.over_limit and width * height <= FULL_DECODE_LIMITS["HEIF"]:
            log.warning("libheif's tile API cannot open this HEIF, decoding in full: %s", exc)
            return None
        raise _heif_refusal(exc, width, height) from exc
    try:
        with reader:
            canvas = _decode_tiled(reader, width, height, thumb_sizes)
    except heif_tiles.HeifTileError as exc:
        raise _heif_refusal(exc, width, height) from exc
    if canvas is None:
        return None
    exif = _exif_of(img)
    try:
        # Upright already (libheif applies the container's rotation and mirror); sized
        # from the photo's own size, not the canvas's rounded one.
        thumbnails = make_thumbnails(canvas, None, thumb_sizes, source_size=(width, height))
    except Exception as exc:
        log.exception("thumbnail rendering failed for a tiled HEIF image")
        raise MediaError(UNDECODABLE, "The image could not be converted into a preview.") from exc
    return ImageFacts(format="HEIF", content_type=_CONTENT_TYPES["HEIF"], width=width,
                      height=height, exif=exif, thumbnails=thumbnails)


def _decode_tiled(reader: heif_tiles.GridReader, width: int, height: int,
                  thumb_sizes: Sequence[tuple[str, int]]) -> Image.Image | None:
    grid = reader.grid
    if grid is None or (grid.width, grid.height) != (width, height):
        return None
    factor = grid.reduction(max((box for _, box in thumb_sizes), default=1))
    reduced = -(-width // factor) * -(-height // factor)
    # What one decode holds at once: one tile and the canvas; a single-image HEIF is one
    # tile of the whole photo, judged as before.
    held = width * height if grid.tiles == 1 else grid.tile_width * grid.tile_height + reduced
    limit = FULL_DECODE_LIMITS["HEIF"]
    if held > limit:
        raise _too_large(width, height, limit)
    return reader.decode_reduced(factor)  # every tile, so a damaged one is refused


def _heif_refusal(exc: heif_tiles.HeifTileError, width: int, height: int) -> MediaError:
    if exc.over_limit:  # libheif's memory budget: too big to decode here, not damaged
        log.warning("HEIF %dx%d refused by libheif's limits: %s", width, height, exc)
        return MediaError(
            DECOMPRESSION_BOMB, "The image dimensions are too large to process safely.")
    return _undecodable()


def _undecodable() -> MediaError:
    return MediaError(
        UNDECODABLE, "The image data is damaged or incomplete and could not be decoded."
    )


def _exif_of(img: Image.Image) -> ExifFacts:
    try:
        return read_exif(img.info.get("exif"))
    except Exception:  # read_exif guards every step; this is only a backstop
        log.exception("EXIF reader failed")
        return ExifFacts(errors=["EXIF metadata could not be read."])


def _unreadable(head: bytes) -> MediaError:
    kind = _other_image_kind(head)
    if kind:
        return MediaError(UNSUPPORTED_FORMAT, f"{kind} images are not supported. {_ACCEPTED}")
    return MediaError(NOT_AN_IMAGE, f"This file is not a photo we can read. {_ACCEPTED}")


def _other_image_kind(head: bytes) -> str | None:
    for magic, kind in _OTHER_IMAGES:
        if head.startswith(magic):
            return kind
    if head[4:8] == b"ftyp" and head[8:12] in _OTHER_FTYP:
        return _OTHER_FTYP[head[8:12]]
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES:
        return "BMP"
    if b"<svg" in head.lower():
        return "SVG"
    return None
