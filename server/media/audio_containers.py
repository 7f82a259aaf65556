"""What kind of audio file this is, and whether its container is whole: the magic bytes
(an accepted container, another kind of audio refused by name, or no audio at all) and a
walk over the container's own structure (Ogg pages, EBML elements, MP4 boxes, MP3 frames)
that finds a file cut short. Headers only; no decoding (that is audio.py's, with PyAV).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from .errors import EMPTY_AUDIO, NOT_AUDIO, UNDECODABLE, UNSUPPORTED_AUDIO, MediaError

_ACCEPTED = "Please upload an MP4 (AAC), WebM (Opus), Ogg (Opus or Vorbis) or MP3 recording."
# Files recognised by their first bytes, refused with a precise answer.
_OTHER_AUDIO = (
    (b"fLaC", "FLAC"),
    (b"#!AMR", "AMR"),
    (b"#!SILK", "SILK (WeChat voice)"),
    (b"\x02#!SILK", "SILK (WeChat voice)"),
    (b"MAC ", "Monkey's Audio"),
    (b"wvpk", "WavPack"),
    (b"caff", "Core Audio (CAF)"),
    (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "Windows Media (WMA/ASF)"),
    (b".RMF", "RealMedia"),
)
_NOT_AUDIO = (
    (b"\xff\xd8\xff", "a JPEG photo"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive or office document"),
    (b"\xd0\xcf\x11\xe0", "an office document"),
)
_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif",
                 b"avis", b"crx "}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
# The most pages, elements or boxes a walk reads: a two-hour Opus WebM from Chrome is about
# 370,000 blocks, an Ogg a few thousand pages, an MP4 a handful of boxes. A file of 40 MB
# of two-byte elements would take the walk (pure Python, holding the GIL) twenty million
# steps and most of a minute.
MAX_STEPS = 500_000
_SEGMENT, _CLUSTER = 0x18538067, 0x1F43B675


def _sniff(fp: BinaryIO, head: bytes, size: int) -> str:
    """The container by its magic bytes, or a MediaError saying what the file is."""
    if not head:
        raise MediaError(NOT_AUDIO, f"The file is empty. {_ACCEPTED}")
    if head.startswith(b"OggS"):
        return "ogg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            raise MediaError(NOT_AUDIO, f"This file is an image, not an audio recording. "
                             f"{_ACCEPTED}")
        return "mp4"
    if head.startswith(_EBML_MAGIC):
        doctype = _ebml_doctype(head + fp.read(4096 - len(head)))
        if doctype == "webm":
            return "webm"
        if doctype == "matroska":
            raise MediaError(UNSUPPORTED_AUDIO, f"Matroska (MKV) files are not accepted. "
                             f"{_ACCEPTED}")
        raise MediaError(NOT_AUDIO, f"This file is not a recording we can read. {_ACCEPTED}")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        raise MediaError(UNSUPPORTED_AUDIO, f"WAV recordings are not accepted. {_ACCEPTED}")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        raise MediaError(NOT_AUDIO, f"This file is a WebP image, not an audio recording. "
                         f"{_ACCEPTED}")
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        raise MediaError(UNSUPPORTED_AUDIO, f"AIFF recordings are not accepted. {_ACCEPTED}")
    for magic, kind in _OTHER_AUDIO:
        if head.startswith(magic):
            raise MediaError(UNSUPPORTED_AUDIO, f"{kind} recordings are not accepted. "
                             f"{_ACCEPTED}")
    for magic, kind in _NOT_AUDIO:
        if head.startswith(magic):
            raise MediaError(NOT_AUDIO, f"This file is {kind}, not an audio recording. "
                             f"{_ACCEPTED}")
    return _sniff_mpeg(fp, head, size)


def _sniff_mpeg(fp: BinaryIO, head: bytes, size: int) -> str:
    """MP3: an optional ID3v2 tag, then two MPEG audio frames in a row (or one, then EOF)."""
    offset = 0
    if head.startswith(b"ID3") and len(head) >= 10:
        tag_size = _syncsafe(head[6:10])
        if tag_size is None:
            raise MediaError(NOT_AUDIO, f"This file is not a recording we can read. {_ACCEPTED}")
        offset = 10 + tag_size + (10 if head[5] & 0x10 else 0)  # the footer flag
        if offset >= size:
            raise _damaged()  # cut off inside its tag (a cover picture can be large)
        fp.seek(offset)
        padded = fp.read(4096)  # some writers pad after the tag with zeros
        offset += len(padded) - len(padded.lstrip(b"\x00"))
    fp.seek(offset)
    first = _mpeg_frame(fp.read(4))
    if first is None:
        raise MediaError(NOT_AUDIO, f"This file is not a recording we can read. {_ACCEPTED}")
    layer, key, length = first
    if layer == "adts":
        raise MediaError(UNSUPPORTED_AUDIO, f"Raw AAC (ADTS) files are not accepted; the same "
                         f"audio in an MP4 (.m4a) is. {_ACCEPTED}")
    if offset + length > size:
        raise _damaged()  # the first frame runs past the end of the file
    if offset + length < size:
        fp.seek(offset + length)
        second = _mpeg_frame(fp.read(4))
        if second is None or second[0] != layer or second[1] != key:
            raise MediaError(NOT_AUDIO, f"This file is not a recording we can read. "
                             f"{_ACCEPTED}")
    if layer != "III":
        raise MediaError(UNSUPPORTED_AUDIO, f"MPEG layer {layer} audio (MP2) is not accepted. "
                         f"{_ACCEPTED}")
    return "mp3"


_MPEG_BITRATES = {  # kbit/s by (version is MPEG-1, layer), index 1..14
    (True, "I"): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, "II"): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, "III"): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, "I"): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, "II"): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, "III"): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame(header: bytes) -> tuple[str, tuple[int, int], int] | None:
    """(layer, (version, sample rate index), frame length) of an MPEG audio frame header."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version, layer_bits = (header[1] >> 3) & 3, (header[1] >> 1) & 3
    if layer_bits == 0:
        # ADTS (AAC) shares the sync word, with layer 00 and version bits 1x.
        return ("adts", (version, 0), 0) if version in (2, 3) else None
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if version == 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None  # reserved values, or free format (not supported)
    layer = {3: "I", 2: "II", 1: "III"}[layer_bits]
    mpeg1 = version == 3
    bitrate = _MPEG_BITRATES[mpeg1, layer][bitrate_index - 1] * 1000
    rate = _MPEG_RATES[version][rate_index]
    padding = (header[2] >> 1) & 1
    if layer == "I":
        length = (12 * bitrate // rate + padding) * 4
    else:
        length = (144 if mpeg1 or layer == "II" else 72) * bitrate // rate + padding
    return layer, (version, rate_index), length


def _syncsafe(data: bytes) -> int | None:
    if any(b & 0x80 for b in data):
        return None
    return (data[0] << 21) | (data[1] << 14) | (data[2] << 7) | data[3]


def _ebml_doctype(data: bytes) -> str | None:
    """The DocType in an EBML header, or None if it is not readable."""
    pos = len(_EBML_MAGIC)
    size, pos = _vint(data, pos)
    if size is None or pos + size > len(data):
        return None
    end = pos + size
    while pos < end:
        element, pos = _element_id(data, pos)
        length, pos = _vint(data, pos)
        if element is None or length is None or pos + length > end:
            return None
        if element == 0x4282:
            return data[pos:pos + length].rstrip(b"\x00").decode("ascii", "replace")
        pos += length
    return None


def _element_id(data: bytes, pos: int) -> tuple[int | None, int]:
    if pos >= len(data) or data[pos] == 0:
        return None, pos
    width = 8 - data[pos].bit_length() + 1
    if width > 4 or pos + width > len(data):
        return None, pos
    return int.from_bytes(data[pos:pos + width], "big"), pos + width


def _vint(data: bytes, pos: int) -> tuple[int | None, int]:
    """An EBML variable-size integer; -1 for "unknown size" (all value bits set)."""
    if pos >= len(data) or data[pos] == 0:
        return None, pos
    width = 8 - data[pos].bit_length() + 1
    if pos + width > len(data):
        return None, pos
    value = int.from_bytes(data[pos:pos + width], "big") & ((1 << (7 * width)) - 1)
    if value == (1 << (7 * width)) - 1:
        return -1, pos + width
    return value, pos + width


class _Truncated(Exception):
    pass


class _TooManyPieces(Exception):
    pass


def _check_structure(fp: BinaryIO, container: str, size: int) -> bool:
    """Raise if the file ends inside a page, element or box. Reads headers only.

    Junk that does not parse stops the walk (FFmpeg then decides); only a structure that
    runs past the end of the file is refused here, as a truncated upload. True if the
    walk reached the end of the file through well-formed structure alone.
    """
    walk = {"ogg": _walk_ogg, "webm": _walk_ebml, "mp4": _walk_boxes}.get(container)
    if walk is None:
        return False  # MP3: its last frame is checked on the packets
    try:
        return walk(fp, size)
    except _Truncated as exc:
        raise _damaged() from exc
    except _TooManyPieces as exc:
        raise MediaError(UNDECODABLE, "The recording is made of far more pieces than a phone "
                         "or browser writes; it cannot be read.") from exc


def _steps() -> Iterator[int]:
    """Counts a walk's steps; past MAX_STEPS the file is refused (_TooManyPieces)."""
    yield from range(MAX_STEPS)
    raise _TooManyPieces


def _walk_ogg(fp: BinaryIO, size: int) -> bool:
    pos, steps = 0, _steps()
    while pos < size:
        next(steps)
        fp.seek(pos)
        header = fp.read(27)
        if header[:4] != b"OggS":
            if len(header) < 4 and b"OggS".startswith(header):
                raise _Truncated
            return False
        if len(header) < 27:
            raise _Truncated
        lacing = fp.read(header[26])
        if len(lacing) < header[26]:
            raise _Truncated
        pos += 27 + len(lacing) + sum(lacing)
        if pos > size:
            raise _Truncated
    return True


def _walk_boxes(fp: BinaryIO, size: int) -> bool:
    pos, steps = 0, _steps()
    while pos < size:
        next(steps)
        fp.seek(pos)
        header = fp.read(16)
        if len(header) < 8:
            raise _Truncated
        length = int.from_bytes(header[:4], "big")
        if length == 0:
            return True  # the last box runs to the end of the file
        if length == 1:
            if len(header) < 16:
                raise _Truncated
            length = int.from_bytes(header[8:16], "big")
        if length < 8:
            return False
        pos += length
        if pos > size:
            raise _Truncated
    return True


def _walk_ebml(fp: BinaryIO, size: int) -> bool:
    """Top-level elements, the Segment's children, and the blocks of unknown-sized
    Clusters (Chrome's MediaRecorder writes the Segment and its Clusters without sizes)."""
    pos, end, steps = 0, size, _steps()
    while pos < end:
        next(steps)
        fp.seek(pos)
        header = fp.read(12)
        element, at = _element_id(header, 0)
        length, at = _vint(header, at) if element is not None else (None, at)
        if element is None or length is None:
            if len(header) < 12:  # a header cut off by the end of the file, or junk
                raise _Truncated
            return False
        pos += at
        if element == _SEGMENT:
            if length >= 0:
                if pos + length > size:
                    raise _Truncated
                end = pos + length
            continue  # walk into the Segment
        if element == _CLUSTER and length < 0:
            continue  # walk into the unknown-sized Cluster
        if length < 0:
            return False  # an unknown size anywhere else: leave it to FFmpeg
        pos += length
        if pos > end:
            raise _Truncated
    return True


def _empty() -> MediaError:
    return MediaError(EMPTY_AUDIO, "The recording is empty: it holds no sound.")


def _damaged() -> MediaError:
    return MediaError(UNDECODABLE, "The recording is damaged or incomplete (cut off before "
                      "its end); record or send it again.")
