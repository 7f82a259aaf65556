"""A HEIF grid decoded one tile at a time into a reduced-scale picture.

Phones store a large HEIC as a grid of small HEVC tiles (iPhones: 512 x 512; HEVC's
highest level allows about 35.6 MP in one picture). pillow-heif decodes the whole grid
into one RGB buffer (about 7.3 bytes per pixel at peak: 350 MB for a 48 MP photo);
libheif (>= 1.19) can also decode one tile at a time, which pillow-heif does not expose,
so this calls it through ctypes on the very libheif pillow-heif loaded. Each tile is
box-reduced by a power of two that divides the tile size (so no seams) and pasted into a
small canvas: the peak is one tile plus the canvas, and every tile is still decoded, so a
damaged one is still refused.

`available()` is False without such a libheif, and `GridReader(...).grid` is None for a
tiling this cannot place (a cropped image): the caller then decodes in full as before.
"""

from __future__ import annotations

import ctypes
import glob
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import pillow_heif
from PIL import Image

log = logging.getLogger(__name__)

# libheif enums (heif_image.h).
_COLORSPACE_RGB = 1
_CHROMA_RGB = 10  # interleaved 8-bit RGB
_CHROMA_RGBA = 11
_CHANNEL_INTERLEAVED = 10


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("subcode", ctypes.c_int), ("message", ctypes.c_char_p)]


class _Tiling(ctypes.Structure):  # heif_image_tiling, version 1 (libheif 1.19+)
    _fields_ = [
        ("version", ctypes.c_int),
        ("num_columns", ctypes.c_uint32), ("num_rows", ctypes.c_uint32),
        ("tile_width", ctypes.c_uint32), ("tile_height", ctypes.c_uint32),
        ("image_width", ctypes.c_uint32), ("image_height", ctypes.c_uint32),
        ("top_offset", ctypes.c_uint32), ("left_offset", ctypes.c_uint32),
        ("number_of_extra_dimensions", ctypes.c_uint8),
        ("extra_dimension_size", ctypes.c_uint32 * 8),
        ("_room", ctypes.c_uint8 * 256),  # a later libheif may write a longer struct
    ]


class _DecodingOptions(ctypes.Structure):  # the stable prefix of heif_decoding_options
    _fields_ = [
        ("version", ctypes.c_uint8),
        ("ignore_transformations", ctypes.c_uint8),
        ("start_progress", ctypes.c_void_p), ("on_progress", ctypes.c_void_p),
        ("end_progress", ctypes.c_void_p), ("progress_user_data", ctypes.c_void_p),
        ("convert_hdr_to_8bit", ctypes.c_uint8),  # version 2
        ("strict_decoding", ctypes.c_uint8),  # version 3
    ]


class _SecurityLimits(ctypes.Structure):  # the prefix of heif_security_limits we set
    _fields_ = [
        ("version", ctypes.c_uint8),
        ("max_image_size_pixels", ctypes.c_uint64),
        ("max_number_of_tiles", ctypes.c_uint64),
        ("max_bayer_pattern_pixels", ctypes.c_uint32),
        ("max_items", ctypes.c_uint32),
        ("max_color_profile_size", ctypes.c_uint32),
        ("max_memory_block_size", ctypes.c_uint64),
        ("max_components", ctypes.c_uint32),
        ("max_iloc_extents_per_item", ctypes.c_uint32),
        ("max_size_entity_group", ctypes.c_uint32),
        ("max_children_per_box", ctypes.c_uint32),
        ("max_total_memory", ctypes.c_uint64),  # version 2
    ]


_SECURITY_LIMIT_EXCEEDED = 1000  # heif_suberror_Security_limit_exceeded


class HeifTileError(Exception):
    """libheif refused the file or one of its tiles; `over_limit`: for a limit set on the
    context (its memory budget), not for damaged data."""

    def __init__(self, message: str, over_limit: bool = False):
        super().__init__(message)
        self.over_limit = over_limit


# Tile offsets and the tiling struct as this module reads them are libheif 1.23's; 1.19 to
# 1.22 have the calls but placed some tiles differently. An older one: decode in full.
_MIN_VERSION = (1, 23)


def _pillow_heifs_libheif() -> list[str]:
    """The libheif files pillow-heif itself has loaded (its wheel's copy, or the system's
    if it was built against that): on Linux, the ones mapped into this process; else its
    wheel's. Never another copy found on the system, which pillow-heif never initialised
    and whose version nobody checked."""
    import _pillow_heif  # noqa: F401  (pillow-heif's extension: loads its libheif)

    found: list[str] = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)  # address perms offset dev inode path
                path = fields[5].strip() if len(fields) == 6 else ""
                if os.path.basename(path).startswith("libheif") and path not in found:
                    found.append(path)
    except OSError:  # not Linux
        pass
    if found:
        return found
    here = os.path.dirname(os.path.dirname(pillow_heif.__file__))
    found = sorted(glob.glob(os.path.join(here, "pillow_heif.libs", "libheif*.so*")))
    return found + sorted(glob.glob(os.path.join(here, "pillow_heif", ".dylibs", "libheif*")))


def _version(lib: ctypes.CDLL) -> tuple[int, int]:
    major, minor = lib.heif_get_version_number_major, lib.heif_get_version_number_minor
    major.restype = minor.restype = ctypes.c_int
    major.argtypes = minor.argtypes = []
    return major(), minor()


def _load() -> ctypes.CDLL | None:
    """The libheif that pillow-heif uses, if it is new enough for tile decoding."""
    for path in _pillow_heifs_libheif():
        try:
            lib = ctypes.CDLL(path)
            version = _version(lib)
            lib.heif_image_handle_decode_image_tile  # noqa: B018  (libheif >= 1.19)
            lib.heif_image_handle_get_image_tiling  # noqa: B018
        except (OSError, AttributeError):
            continue
        if version < _MIN_VERSION:
            log.warning("pillow-heif's libheif is %d.%d, older than %d.%d: large HEIC "
                        "photos decode in full", *version, *_MIN_VERSION)
            return None
        _declare(lib)
        return lib
    log.warning("libheif with tile decoding not found; large HEIC photos decode in full")
    return None


def _declare(lib: ctypes.CDLL) -> None:
    p, vp = ctypes.POINTER, ctypes.c_void_p
    signatures = {
        "heif_context_alloc": (vp, []),
        "heif_context_free": (None, [vp]),
        "heif_context_read_from_memory_without_copy": (
            _Error, [vp, ctypes.c_char_p, ctypes.c_size_t, vp]),
        "heif_context_get_security_limits": (p(_SecurityLimits), [vp]),
        "heif_context_get_primary_image_handle": (_Error, [vp, p(vp)]),
        "heif_image_handle_release": (None, [vp]),
        "heif_image_handle_has_alpha_channel": (ctypes.c_int, [vp]),
        "heif_image_handle_get_image_tiling": (_Error, [vp, ctypes.c_int, p(_Tiling)]),
        "heif_decoding_options_alloc": (p(_DecodingOptions), []),
        "heif_decoding_options_free": (None, [p(_DecodingOptions)]),
        "heif_image_handle_decode_image_tile": (
            _Error, [vp, p(vp), ctypes.c_int, ctypes.c_int, p(_DecodingOptions),
                     ctypes.c_uint32, ctypes.c_uint32]),
        "heif_image_get_plane_readonly": (vp, [vp, ctypes.c_int, p(ctypes.c_int)]),
        "heif_image_get_width": (ctypes.c_int, [vp, ctypes.c_int]),
        "heif_image_get_height": (ctypes.c_int, [vp, ctypes.c_int]),
        "heif_image_release": (None, [vp]),
    }
    for name, (restype, argtypes) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = restype, argtypes


_LIB = _load()


def available() -> bool:
    return _LIB is not None


def _check(error: _Error, what: str) -> None:
    if error.code != 0:
        message = (error.message or b"").decode("utf-8", "replace")
        raise HeifTileError(f"{what}: {message} ({error.code}/{error.subcode})",
                            over_limit=error.subcode == _SECURITY_LIMIT_EXCEEDED)


@dataclass(frozen=True)
class Grid:
    """The primary image's tiling, upright (libheif applies rotation, mirror and crop)."""

    width: int
    height: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    left_offset: int
    top_offset: int

    @property
    def tiles(self) -> int:
        return self.columns * self.rows

    def reduction(self, box: int) -> int:
        """The largest power of two by which the picture still covers `box` on its long
        edge, and that divides the tile size (so reduced tiles meet without a seam)."""
        factor = 1
        while (max(self.width, self.height) // (factor * 2) >= box
               and (self.tiles == 1 or (self.tile_width % (factor * 2) == 0
                                        and self.tile_height % (factor * 2) == 0
                                        and self.left_offset % (factor * 2) == 0
                                        and self.top_offset % (factor * 2) == 0))):
            factor *= 2
        return factor


def _upright_grid(stored: _Tiling, upright: _Tiling) -> Grid | None:
    """The upright tiling, or None when it cannot be trusted (a crop, odd sizes).

    A grid's tiles overhang its picture on the right and bottom as stored; after a
    rotation or mirror that overhang may be on the left or top. libheif 1.23 reports the
    side but not the amount (its offset is the visible part of the edge tile, and a crop
    adds coordinates to it), so the amount is computed here and a cropped (clap) image,
    whose size differs from the stored one, is left to the full decode.
    """
    width, height = upright.image_width, upright.image_height
    if {(width, height), (height, width)} != {(stored.image_width, stored.image_height),
                                              (stored.image_height, stored.image_width)}:
        return None
    columns, rows = upright.num_columns, upright.num_rows
    tile_width, tile_height = upright.tile_width, upright.tile_height
    if not (columns and rows and tile_width and tile_height):
        return None
    over_x, over_y = columns * tile_width - width, rows * tile_height - height
    if not (0 <= over_x < tile_width and 0 <= over_y < tile_height):
        return None  # tiles that do not cover the picture, or a whole spare row of them
    return Grid(
        width=width, height=height, columns=columns, rows=rows,
        tile_width=tile_width, tile_height=tile_height,
        left_offset=over_x if upright.left_offset else 0,
        top_offset=over_y if upright.top_offset else 0,
    )


class GridReader:
    """One HEIF file opened in libheif; use as a context manager (frees libheif's memory)."""

    def __init__(self, data: bytes, max_pixels: int, max_memory: int):
        assert _LIB is not None
        self._data = data  # libheif reads it in place: keep it alive as long as the context
        self._ctx = _LIB.heif_context_alloc()
        self._handle = ctypes.c_void_p()
        if not self._ctx:
            raise MemoryError("heif_context_alloc")
        try:
            limits = _LIB.heif_context_get_security_limits(self._ctx)
            if limits:
                # libheif refuses, cleanly, any image (tile or whole) over these.
                limits.contents.max_image_size_pixels = max_pixels
                if limits.contents.version >= 2:
                    limits.contents.max_total_memory = max_memory
            _check(_LIB.heif_context_read_from_memory_without_copy(
                self._ctx, data, len(data), None), "read")
            _check(_LIB.heif_context_get_primary_image_handle(
                self._ctx, ctypes.byref(self._handle)), "primary image")
            stored, tiling = _Tiling(), _Tiling()
            _check(_LIB.heif_image_handle_get_image_tiling(
                self._handle, 0, ctypes.byref(stored)), "tiling")
            _check(_LIB.heif_image_handle_get_image_tiling(
                self._handle, 1, ctypes.byref(tiling)), "tiling")
        except BaseException:
            self.close()
            raise
        self.grid = _upright_grid(stored, tiling)
        self._alpha = bool(_LIB.heif_image_handle_has_alpha_channel(self._handle))

    def __enter__(self) -> GridReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if _LIB is None:
            return
        if self._handle:
            _LIB.heif_image_handle_release(self._handle)
            self._handle = ctypes.c_void_p()
        if self._ctx:
            _LIB.heif_context_free(self._ctx)
            self._ctx = None

    def decode_reduced(self, factor: int) -> Image.Image:
        """Every tile decoded, box-reduced by `factor` and placed: the upright picture at
        1/factor scale, 8-bit RGB (transparency flattened onto white)."""
        from .thumbnails import to_rgb  # the one flattening rule for every format

        assert _LIB is not None
        grid = self.grid
        if grid is None:
            raise HeifTileError("no usable tiling")
        canvas = Image.new("RGB", (-(-grid.width // factor), -(-grid.height // factor)))
        options = _LIB.heif_decoding_options_alloc()
        try:
            if options.contents.version >= 2:
                options.contents.convert_hdr_to_8bit = 1  # 10-bit photos to 8-bit RGB
            chroma = _CHROMA_RGBA if self._alpha else _CHROMA_RGB
            mode = "RGBA" if self._alpha else "RGB"
            for row in range(grid.rows):
                for column in range(grid.columns):
                    # Where the tile lands in the upright picture (rotated or cropped
                    # grids start above and left of it).
                    x = column * grid.tile_width - grid.left_offset
                    y = row * grid.tile_height - grid.top_offset
                    tile = ctypes.c_void_p()
                    _check(_LIB.heif_image_handle_decode_image_tile(
                        self._handle, ctypes.byref(tile), _COLORSPACE_RGB, chroma, options,
                        column, row), f"tile {column},{row}")
                    try:
                        _place(grid, canvas, tile, mode, x, y, factor, to_rgb)
                    finally:
                        _LIB.heif_image_release(tile)
        finally:
            _LIB.heif_decoding_options_free(options)
        return canvas


def _place(grid: Grid, canvas: Image.Image, tile: ctypes.c_void_p, mode: str, x: int, y: int,
           factor: int, to_rgb: Callable[[Image.Image], Image.Image]) -> None:
    assert _LIB is not None
    stride = ctypes.c_int()
    plane = _LIB.heif_image_get_plane_readonly(tile, _CHANNEL_INTERLEAVED,
                                               ctypes.byref(stride))
    width = _LIB.heif_image_get_width(tile, _CHANNEL_INTERLEAVED)
    height = _LIB.heif_image_get_height(tile, _CHANNEL_INTERLEAVED)
    if not plane or width <= 0 or height <= 0 or stride.value < width * len(mode):
        raise HeifTileError("a tile decoded to no pixels")
    if grid.tiles > 1 and (width > grid.tile_width or height > grid.tile_height):
        raise HeifTileError(f"a tile of {width}x{height} in a grid of "
                            f"{grid.tile_width}x{grid.tile_height} tiles")
    # Only the part of the tile inside the picture counts (edge tiles overhang it).
    left, top = max(0, -x), max(0, -y)
    right, bottom = min(width, grid.width - x), min(height, grid.height - y)
    if right <= left or bottom <= top:
        return
    buffer = (ctypes.c_uint8 * (stride.value * height)).from_address(plane)
    # A view on libheif's buffer, dropped before the tile is released by the caller.
    view = Image.frombuffer(mode, (width, height), buffer, "raw", mode, stride.value, 1)
    box = (left, top, right, bottom)
    part = view.reduce(factor, box) if factor > 1 else view.crop(box)
    del view, buffer
    canvas.paste(to_rgb(part), ((x + left) // factor, (y + top) // factor))
