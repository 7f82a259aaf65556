"""Audio intake (server.media.read_audio) against the real interview recordings and fakes.

Fakes are made here with PyAV (the library read_audio itself uses) or by hand: each is a
few kilobytes and takes milliseconds.
"""

from __future__ import annotations

import io
import math
import random
import struct
import wave
from pathlib import Path

import av
import pytest

from server.media import AudioFacts, MediaError, read_audio
from server.media.errors import CODES

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "audio"
PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "samples" / "photos"
INTERVIEW_S = 30.7  # README.md beside the samples
HOUR = 3600.0

EXPECTED = {  # file: (content type, container, codec, channels, sample rate)
    "interview.m4a": ("audio/mp4", "mp4", "aac", 1, 22050),
    "interview.webm": ("audio/webm", "webm", "opus", 1, 48000),
    "interview.ogg": ("audio/ogg", "ogg", "vorbis", 1, 22050),
    "interview.opus.ogg": ("audio/ogg", "ogg", "opus", 1, 48000),
    "interview.mp3": ("audio/mpeg", "mp3", "mp3", 1, 22050),
}
INTERVIEWS = sorted(EXPECTED)
CHROMIUM = "chromium-mediarecorder.webm"
SEGMENT_ID, CLUSTER_ID = b"\x18\x53\x80\x67", b"\x1f\x43\xb6\x75"  # Matroska elements
# How Safari's MediaRecorder writes MP4: fragmented, no duration in the header.
SAFARI_MOVFLAGS = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}


# --- helpers ----------------------------------------------------------------------------


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def read(data: bytes, max_seconds: float = HOUR) -> AudioFacts:
    return read_audio(io.BytesIO(data), max_seconds=max_seconds)


def refused(data: bytes, max_seconds: float = HOUR) -> MediaError:
    with pytest.raises(MediaError) as caught:
        read(data, max_seconds)
    assert caught.value.code in CODES
    assert caught.value.message
    return caught.value


def tone_frame(samples: int, rate: int, start: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
    pcm = b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * 440 * (start + i) / rate)))
                   for i in range(samples))
    plane = frame.planes[0]
    plane.update(pcm + bytes(plane.buffer_size - len(pcm)))
    frame.sample_rate, frame.pts = rate, start
    return frame


def encode(fmt: str, codec: str | None, seconds: float, *, rate: int = 48000,
           video: str | None = None, options: dict[str, str] | None = None) -> bytes:
    """A file of `seconds` of a tone (`codec`) and/or black frames (`video`), in memory."""
    out = io.BytesIO()
    with av.open(out, "w", format=fmt, options=options or {}) as container:
        vstream = astream = None
        if video:
            vstream = container.add_stream(video, rate=10)
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        if codec:
            astream = container.add_stream(codec, rate=rate)
            astream.layout = "mono"
        if vstream:
            for index in range(int(seconds * 10)):
                picture = av.VideoFrame(64, 48, "yuv420p")
                for plane in picture.planes:
                    plane.update(bytes(plane.buffer_size))
                picture.pts = index
                container.mux(vstream.encode(picture))
            container.mux(vstream.encode(None))
        if astream:
            total, pts = int(seconds * rate), 0
            while pts < total:
                count = min(960, total - pts)
                container.mux(astream.encode(tone_frame(count, rate, pts)))
                pts += count
            container.mux(astream.encode(None))
    return out.getvalue()


def id3v23(frames: bytes) -> bytes:
    size = len(frames)
    syncsafe = bytes((size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + frames


def id3_frame(frame_id: bytes, body: bytes) -> bytes:
    return frame_id + struct.pack(">I", len(body)) + b"\x00\x00" + body


def mp3_frames(data: bytes) -> bytes:
    """interview.mp3 without its ID3v2 tag: the MPEG frames alone."""
    assert data[:3] == b"ID3"
    size = (data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9]
    return data[10 + size:]


# --- the real recordings ----------------------------------------------------------------


@pytest.mark.parametrize("name", INTERVIEWS)
def test_interview_recordings_are_read_with_their_duration(name):
    content_type, container, codec, channels, rate = EXPECTED[name]
    with (SAMPLES / name).open("rb") as fp:
        facts = read_audio(fp, max_seconds=HOUR)
        assert not fp.closed  # left open, like read_image
    assert facts.content_type == content_type
    assert facts.container == container
    assert facts.codec == codec
    assert facts.channels == channels and facts.sample_rate == rate
    assert abs(facts.duration_s - INTERVIEW_S) <= 0.1


def test_chromium_mediarecorder_webm_is_measured_from_its_clusters():
    data = sample(CHROMIUM)
    with av.open(io.BytesIO(data)) as container:
        assert container.duration is None  # nothing in the header to read
    facts = read(data)
    assert (facts.content_type, facts.container, facts.codec) == ("audio/webm", "webm", "opus")
    assert abs(facts.duration_s - 4.0) <= 0.1
    assert facts.sample_rate == 48000


def test_a_file_is_read_from_its_start_whatever_its_position():
    fp = io.BytesIO(sample("interview.opus.ogg"))
    fp.seek(5000)
    assert read_audio(fp, max_seconds=HOUR).codec == "opus"


def test_safari_style_fragmented_mp4_is_measured_from_its_fragments():
    # Safari's MediaRecorder writes fragmented MP4 whose header declares no duration.
    data = encode("mp4", "aac", 2.0, rate=44100, options=SAFARI_MOVFLAGS)
    facts = read(data)
    assert (facts.content_type, facts.codec) == ("audio/mp4", "aac")
    assert abs(facts.duration_s - 2.0) <= 0.1


def test_an_mp3_with_cover_art_is_still_audio():
    # FFmpeg shows the ID3 picture as a video stream (an attached picture), not a video.
    jpeg = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()[:2000]
    apic = id3_frame(b"APIC", b"\x00image/jpeg\x00\x03cover\x00" + jpeg)
    data = id3v23(id3_frame(b"TIT2", b"\x00interview") + apic) + mp3_frames(
        sample("interview.mp3"))
    with av.open(io.BytesIO(data)) as container:
        assert container.streams.video  # the cover
    facts = read(data)
    assert facts.content_type == "audio/mpeg"
    assert abs(facts.duration_s - INTERVIEW_S) <= 0.1


def test_an_mp3_without_id3_tag_is_recognised_by_its_frames():
    assert read(mp3_frames(sample("interview.mp3"))).codec == "mp3"


def remux(data: bytes, fmt: str) -> bytes:
    """The same audio packets, in another container (no re-encoding)."""
    out = io.BytesIO()
    with av.open(io.BytesIO(data)) as source, av.open(out, "w", format=fmt) as target:
        stream = target.add_stream_from_template(source.streams.audio[0])
        for packet in source.demux(source.streams.audio[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    return out.getvalue()


def test_vorbis_in_webm_is_accepted():
    facts = read(remux(sample("interview.ogg"), "webm"))
    assert (facts.content_type, facts.codec) == ("audio/webm", "vorbis")
    assert abs(facts.duration_s - INTERVIEW_S) <= 0.1


# --- too long, empty --------------------------------------------------------------------


@pytest.mark.parametrize("name", INTERVIEWS)
def test_a_recording_over_the_limit_is_refused(name):
    error = refused(sample(name), max_seconds=20)
    assert error.code == "media.too_long"
    assert "0:31" in error.message and "0:20" in error.message


def test_a_recording_with_no_declared_duration_is_refused_when_too_long():
    error = refused(sample(CHROMIUM), max_seconds=2)
    assert error.code == "media.too_long"
    assert error.message == "The recording is longer than the limit of 0:02."


def test_a_recording_exactly_within_the_limit_passes():
    assert read(sample("interview.opus.ogg"), max_seconds=31).duration_s <= 31


def test_max_seconds_must_be_positive():
    with pytest.raises(ValueError):
        read(sample("interview.mp3"), max_seconds=0)


def headers_only(fmt: str, codec: str, options: dict[str, str] | None = None) -> bytes:
    """A container with its audio track declared and not one packet of sound."""
    out = io.BytesIO()
    with av.open(out, "w", format=fmt, options=options or {}) as container:
        stream = container.add_stream(codec, rate=48000)
        stream.layout = "mono"
        container.start_encoding()
    return out.getvalue()


@pytest.mark.parametrize(("fmt", "codec", "options"), [
    ("webm", "libopus", None), ("ogg", "libopus", None), ("mp4", "aac", SAFARI_MOVFLAGS)])
def test_a_recording_with_no_sound_is_empty(fmt, codec, options):
    data = headers_only(fmt, codec, options)
    assert data  # the header was written
    error = refused(data)
    assert error.code == "media.empty_audio"
    assert "no sound" in error.message


def test_an_mp4_with_no_track_at_all_has_no_audio_track():
    # FFmpeg's plain MP4 muxer writes no track for a stream that got no samples.
    assert refused(headers_only("mp4", "aac")).code == "media.no_audio_track"


# --- not audio ---------------------------------------------------------------------------


def test_a_jpeg_declared_as_audio_is_not_audio():
    error = refused((PHOTOS / "gps" / "DSCN0010.jpg").read_bytes())
    assert error.code == "media.not_audio"
    assert "JPEG" in error.message


def test_an_iphone_heic_photo_is_not_audio():
    # An ISO BMFF file like MP4, told apart by its ftyp brand.
    error = refused((PHOTOS / "heic" / "iphone_13_pro_max.HEIC").read_bytes())
    assert error.code == "media.not_audio"


@pytest.mark.parametrize("data", [
    "您好，这是一个改名为 .mp3 的文本文件。\n".encode() * 50,
    b"",
    bytes(4096),
    b"<html><body>not a recording</body></html>",
], ids=["text", "empty", "zeros", "html"])
def test_text_and_nothing_are_not_audio(data):
    assert refused(data).code == "media.not_audio"


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_are_not_audio(seed):
    data = random.Random(seed).randbytes(20_000)
    assert refused(data).code == "media.not_audio"


@pytest.mark.parametrize("prefix", [
    b"\xff\xfb\x90\x64",  # one valid MPEG-1 layer III frame header, then noise
    b"ID3\x04\x00\x00\x00\x00\x00\x00",  # an empty ID3 tag, then noise
    b"\x1a\x45\xdf\xa3\x80",  # an EBML magic number with no DocType
], ids=["mpeg-sync", "id3", "ebml"])
def test_noise_behind_a_magic_number_is_not_audio(prefix):
    # FFmpeg's MP3 probe alone would find "frames" in such noise.
    data = prefix + random.Random(7).randbytes(20_000)
    assert refused(data).code == "media.not_audio"


@pytest.mark.parametrize("filler", ["noise", "zeros"])
def test_a_valid_header_with_no_valid_sound_behind_it_is_damaged(filler):
    # The WebM header of a real recording (its duration declared), then noise or zeros
    # where its clusters were.
    data = sample("interview.webm")
    cut = data.index(CLUSTER_ID)  # the first Cluster
    rest = len(data) - cut
    fill = random.Random(3).randbytes(rest) if filler == "noise" else bytes(rest)
    assert refused(data[:cut] + fill).code == "media.undecodable"


@pytest.mark.parametrize("kind", ["webm", "mp4", "ogg"])
def test_a_container_of_countless_tiny_pieces_is_refused_at_the_walks_bound(kind):
    """Millions of two-byte EBML Voids behind a real WebM header (or eight-byte MP4 `free`
    boxes, or empty Ogg pages) held a worker in the structure walk for most of a minute:
    the walk stops at MAX_STEPS pieces and refuses the file, without reading the rest."""
    from server.media import audio_containers

    pieces = audio_containers.MAX_STEPS + 10
    if kind == "webm":
        web = sample(CHROMIUM)
        header = web[:web.index(b"\x18\x53\x80\x67")]
        data = header + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + (
            b"\xec\x80" * pieces)
    elif kind == "mp4":
        m4a = sample("interview.m4a")
        data = m4a[:int.from_bytes(m4a[:4], "big")] + b"\x00\x00\x00\x08free" * pieces
    else:
        data = (b"OggS" + bytes(23)) * pieces
    opened = io.BytesIO(data)
    reads = 0
    real_read = opened.read

    def counting_read(n: int = -1) -> bytes:
        nonlocal reads
        reads += 1
        return real_read(n)

    opened.read = counting_read  # type: ignore[method-assign]
    with pytest.raises(MediaError) as refused_:
        audio_containers._check_structure(opened, kind, len(data))
    assert refused_.value.code == "media.undecodable"
    assert "pieces" in str(refused_.value)
    assert reads <= 2 * audio_containers.MAX_STEPS + 2  # stopped at the bound


# --- truncated --------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*INTERVIEWS, CHROMIUM])
@pytest.mark.parametrize("keep", [0.5, 0.9, -7])
def test_a_truncated_recording_is_damaged(name, keep):
    data = sample(name)
    cut = len(data) + keep if keep < 0 else int(len(data) * keep)
    error = refused(data[:cut])
    assert error.code == "media.undecodable"
    assert "incomplete" in error.message


@pytest.mark.parametrize("name", [*INTERVIEWS, CHROMIUM])
def test_only_the_first_bytes_of_a_recording_are_damaged(name):
    assert refused(sample(name)[:300]).code == "media.undecodable"


def test_an_mp3_cut_off_inside_its_id3_tag_is_damaged():
    jpeg = (PHOTOS / "gps" / "DSCN0010.jpg").read_bytes()[:20_000]
    data = id3v23(id3_frame(b"APIC", b"\x00image/jpeg\x00\x03\x00" + jpeg)) + mp3_frames(
        sample("interview.mp3"))
    assert refused(data[:10_000]).code == "media.undecodable"


def test_a_webm_whose_header_promises_more_than_its_clusters_is_damaged():
    # Cut at a Cluster boundary (so no element is cut short) and mark the Segment's size
    # unknown (as Chrome writes it): only the declared duration tells clusters are missing.
    data = bytearray(sample("interview.webm"))
    size_at = data.index(SEGMENT_ID) + 4
    width = 8 - data[size_at].bit_length() + 1
    data[size_at:size_at + width] = bytes([0xFF >> (width - 1)]) + b"\xff" * (width - 1)
    clusters = [i for i in range(len(data)) if data[i:i + 4] == CLUSTER_ID]
    assert len(clusters) > 2
    assert refused(bytes(data[:clusters[len(clusters) // 2]])).code == "media.undecodable"


# --- audio of other kinds, and video ----------------------------------------------------


def wav_bytes() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(16000))
    return out.getvalue()


@pytest.mark.parametrize(("make", "named"), [
    (wav_bytes, "WAV"),
    (lambda: encode("flac", "flac", 1.0), "FLAC"),
    (lambda: encode("ipod", "alac", 1.0), "ALAC"),
    (lambda: encode("mp2", "mp2", 1.0), "MP2"),
    (lambda: encode("adts", "aac", 1.0), "ADTS"),
    (lambda: encode("matroska", "libopus", 1.0), "Matroska"),
    (lambda: encode("mp4", "libmp3lame", 1.0, rate=44100), "MP3 audio in MP4"),
    (lambda: encode("amr", "libopencore_amrnb", 1.0, rate=8000,
                    options={"strict": "experimental"}), "AMR"),
], ids=["wav", "flac", "alac-m4a", "mp2", "adts", "mkv", "mp3-in-mp4", "amr"])
def test_audio_of_another_kind_is_unsupported(make, named):
    try:
        data = make()
    except av.FFmpegError as exc:
        pytest.fail(f"could not build the {named} sample: {exc}")
    error = refused(data)
    assert error.code == "media.unsupported_audio", error
    assert named.split()[0] in error.message


def test_a_video_only_mp4_has_no_audio_track():
    error = refused(encode("mp4", None, 1.0, video="mpeg4"))
    assert error.code == "media.no_audio_track"
    assert "video" in error.message


def test_a_video_with_sound_is_not_an_audio_recording():
    error = refused(encode("webm", "libopus", 1.0, video="libvpx"))
    assert error.code == "media.unsupported_audio"
    assert "video" in error.message


def test_every_code_read_audio_raises_is_registered():
    for code in ("media.not_audio", "media.unsupported_audio", "media.no_audio_track",
                 "media.empty_audio", "media.too_long", "media.undecodable"):
        assert code in CODES
