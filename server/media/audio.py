"""Audio intake: an interview recording in, its facts out (no I/O beyond `fp`).

Accepted, by content and never by name or declared type:

| container | codecs | content type | made by |
| --- | --- | --- | --- |
| MP4 (ISO BMFF, `ftyp`) | AAC | audio/mp4 | Safari's MediaRecorder, phone call recorders |
| WebM (EBML, doctype webm) | Opus, Vorbis | audio/webm | Chrome's and Android's MediaRecorder |
| Ogg | Opus, Vorbis | audio/ogg | Firefox's MediaRecorder, older recorders |
| MP3 (MPEG-1/2/2.5 layer III) | MP3 | audio/mpeg | dictaphones, call recorders |

PyAV (FFmpeg) demultiplexes; FFmpeg's own probing is lenient (it finds MP3 frames in
almost anything), so the container is told by its magic bytes here first and FFmpeg is
then told which demuxer to use. The duration is measured from the packets, never taken
from a header alone: Chrome's MediaRecorder writes WebM with no duration at all, Safari's
writes fragmented MP4 whose header says 0, and a header can lie. Only packet headers are
read (the first few packets are decoded to prove the stream is real), so memory stays
bounded whatever the file's length. Truncation is found from the container's own
structure (an Ogg page, an EBML element, an MP4 box or an MP3 frame cut short at the end
of the file) and, where the header declares a duration, from packets ending before it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import av

from .errors import (
    EMPTY_AUDIO,
    NO_AUDIO_TRACK,
    NOT_AUDIO,
    TOO_LONG,
    UNDECODABLE,
    UNSUPPORTED_AUDIO,
    MediaError,
)

CONTENT_TYPES = {"mp4": "audio/mp4", "webm": "audio/webm", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
# FFmpeg's codec names (Codec.canonical_name) accepted in each container.
ACCEPTED_CODECS = {
    "mp4": frozenset({"aac"}),
    "webm": frozenset({"opus", "vorbis"}),
    "ogg": frozenset({"opus", "vorbis"}),
    "mp3": frozenset({"mp3"}),
}
_DEMUXERS = {"mp4": "mp4", "webm": "webm", "ogg": "ogg", "mp3": "mp3"}
_ACCEPTED = "Please upload an MP4 (AAC), WebM (Opus), Ogg (Opus or Vorbis) or MP3 recording."
_CODEC_NAMES = {"aac": "AAC", "opus": "Opus", "vorbis": "Vorbis", "mp3": "MP3", "alac": "ALAC",
                "flac": "FLAC", "mp2": "MP2", "amr_nb": "AMR", "amr_wb": "AMR-WB",
                "pcm_s16le": "PCM", "speex": "Speex"}
_CONTAINER_NAMES = {"mp4": "MP4", "webm": "WebM", "ogg": "Ogg", "mp3": "MP3"}
# Packets decoded to prove the stream is real audio (bounded: a few tens of ms each).
_DECODE_PACKETS = 8
# How far the packets may end before a duration the header declares (MP4, WebM).
_TRUNCATION_SLACK_S = 0.5

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
_SEGMENT, _CLUSTER = 0x18538067, 0x1F43B675


@dataclass(frozen=True)
class AudioFacts:
    content_type: str  # audio/mp4, audio/webm, audio/ogg or audio/mpeg (no parameters)
    container: str  # mp4, webm, ogg or mp3
    codec: str  # aac, opus, vorbis or mp3
    duration_s: float  # measured from the packets
    channels: int | None = None
    sample_rate: int | None = None


def read_audio(fp: BinaryIO, *, max_seconds: float) -> AudioFacts:
    """Verify an uploaded interview recording by its content and measure its duration.

    `fp` is a seekable binary file, read from the start; it is left open. Raises
    MediaError: `media.not_audio` (not a recording at all: a photo, text, random bytes),
    `media.unsupported_audio` (audio of another kind: WAV, FLAC, AMR, Matroska, ADTS,
    another codec, or a video), `media.no_audio_track` (an accepted container with no
    audio in it), `media.undecodable` (damaged or truncated), `media.empty_audio`
    (nothing recorded) or `media.too_long` (more than `max_seconds`).
    """
    if max_seconds <= 0:
        raise ValueError("max_seconds must be positive")
    size = fp.seek(0, os.SEEK_END)
    fp.seek(0)
    head = fp.read(64)
    container = _sniff(fp, head, size)
    whole = _check_structure(fp, container, size)
    fp.seek(0)
    try:
        handle = av.open(fp, mode="r", format=_DEMUXERS[container])
    except EOFError as exc:
        # Whole and well formed, yet the data ends before any sound: headers only.
        raise (_empty() if whole else _damaged()) from exc
    except (av.FFmpegError, OSError) as exc:
        raise _damaged() from exc
    with handle:
        return _inspect(handle, container, max_seconds)


# --- what kind of file ---------------------------------------------------------------


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


# --- truncation, from the container's structure ---------------------------------------


class _Truncated(Exception):
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


def _walk_ogg(fp: BinaryIO, size: int) -> bool:
    pos = 0
    while pos < size:
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
    pos = 0
    while pos < size:
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
    pos, end = 0, size
    while pos < end:
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


# --- the audio stream ------------------------------------------------------------------


def _inspect(handle: av.container.InputContainer, container: str,
             max_seconds: float) -> AudioFacts:
    name = _CONTAINER_NAMES[container]
    cover = av.stream.Disposition.attached_pic  # an MP3's or M4A's cover picture
    videos = [s for s in handle.streams.video if not s.disposition & cover]
    audio = next(iter(handle.streams.audio), None)
    if audio is None:
        what = "a video with no sound" if videos else "no audio"
        raise MediaError(NO_AUDIO_TRACK, f"This {name} file holds {what}. {_ACCEPTED}")
    if videos:
        raise MediaError(UNSUPPORTED_AUDIO, f"This {name} file is a video; upload the sound "
                         f"recording alone. {_ACCEPTED}")
    codec = audio.codec_context.codec.canonical_name
    if codec not in ACCEPTED_CODECS[container]:
        codec_name = _CODEC_NAMES.get(codec, codec)
        raise MediaError(UNSUPPORTED_AUDIO, f"{codec_name} audio in {name} is not accepted. "
                         f"{_ACCEPTED}")
    declared = handle.duration / av.time_base if handle.duration else None
    # An MP3's declared duration may be FFmpeg's guess from the bitrate: measure it instead.
    if declared is not None and declared > max_seconds and container != "mp3":
        raise _too_long(declared, max_seconds)

    duration = _measure(handle, audio, container, max_seconds, declared)
    if container in ("mp4", "webm") and declared and duration < declared - _TRUNCATION_SLACK_S:
        raise _damaged()  # the header says longer than the data that came
    if duration <= 0:
        raise _empty()
    if duration > max_seconds:
        raise _too_long(duration, max_seconds)
    context = audio.codec_context
    return AudioFacts(
        content_type=CONTENT_TYPES[container],
        container=container,
        codec=codec,
        duration_s=round(duration, 3),
        channels=context.channels or None,
        sample_rate=context.sample_rate or None,
    )


def _measure(handle: av.container.InputContainer, audio: av.AudioStream, container: str,
             max_seconds: float, declared: float | None) -> float:
    """Seconds from the first presented sample to the end of the last packet.

    Packets before 0 (encoder priming that players skip) do not count. Decodes the first
    few packets only, to prove the data is audio; everything else is packet headers.
    Stops as soon as the limit is passed (the message then quotes the declared duration,
    if longer: the whole length, which was not measured).
    """
    base = audio.time_base
    limit = max_seconds / base  # in the stream's time base: no Fraction per packet
    first = end = last = None
    decoded = 0
    try:
        for packet in handle.demux(audio):
            if packet.pts is None or packet.size == 0:
                continue
            if decoded < _DECODE_PACKETS:
                audio.codec_context.decode(packet)
                decoded += 1
            packet_end = packet.pts + (packet.duration or 0)
            if first is None:
                first = packet.pts
            end = packet_end if end is None else max(end, packet_end)
            last = packet
            if end - max(first, 0) > limit:
                whole = declared if declared and declared > max_seconds else None
                raise _too_long(whole, max_seconds)
    except (av.FFmpegError, EOFError, OSError) as exc:
        raise _damaged() from exc
    if first is None or end is None or last is None:
        return 0.0
    if container == "mp3":
        data = bytes(last)
        frame = _mpeg_frame(data[:4])
        if frame is None or len(data) < frame[2]:
            raise _damaged()  # the last MP3 frame is cut short
    return float((end - max(first, 0)) * base)


def _too_long(seconds: float | None, max_seconds: float) -> MediaError:
    if seconds is None:  # not measured to its end
        return MediaError(TOO_LONG, f"The recording is longer than the limit of "
                          f"{_clock(max_seconds)}.")
    return MediaError(TOO_LONG, f"The recording is too long ({_clock(seconds)}); "
                      f"the limit is {_clock(max_seconds)}.")


def _clock(seconds: float) -> str:
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    return (f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours
            else f"{rest // 60}:{rest % 60:02d}")


def _empty() -> MediaError:
    return MediaError(EMPTY_AUDIO, "The recording is empty: it holds no sound.")


def _damaged() -> MediaError:
    return MediaError(UNDECODABLE, "The recording is damaged or incomplete (cut off before "
                      "its end); record or send it again.")
