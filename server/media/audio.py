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
The magic bytes and that walk over the container's structure are audio_containers.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import av

from .audio_containers import _ACCEPTED, _check_structure, _damaged, _empty, _mpeg_frame, _sniff
from .errors import NO_AUDIO_TRACK, TOO_LONG, UNSUPPORTED_AUDIO, MediaError

CONTENT_TYPES = {"mp4": "audio/mp4", "webm": "audio/webm", "ogg": "audio/ogg", "mp3": "audio/mpeg"}
# FFmpeg's codec names (Codec.canonical_name) accepted in each container.
ACCEPTED_CODECS = {
    "mp4": frozenset({"aac"}),
    "webm": frozenset({"opus", "vorbis"}),
    "ogg": frozenset({"opus", "vorbis"}),
    "mp3": frozenset({"mp3"}),
}
_DEMUXERS = {"mp4": "mp4", "webm": "webm", "ogg": "ogg", "mp3": "mp3"}
_CODEC_NAMES = {"aac": "AAC", "opus": "Opus", "vorbis": "Vorbis", "mp3": "MP3", "alac": "ALAC",
                "flac": "FLAC", "mp2": "MP2", "amr_nb": "AMR", "amr_wb": "AMR-WB",
                "pcm_s16le": "PCM", "speex": "Speex"}
_CONTAINER_NAMES = {"mp4": "MP4", "webm": "WebM", "ogg": "Ogg", "mp3": "MP3"}
# Packets decoded to prove the stream is real audio (bounded: a few tens of ms each).
_DECODE_PACKETS = 8
# How far the packets may end before a duration the header declares (MP4, WebM).
_TRUNCATION_SLACK_S = 0.5


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
