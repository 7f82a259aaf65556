"""Photo intake (server.media) against real field samples and crafted bad input."""

from __future__ import annotations

import io
import statistics
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import piexif
import pytest
from PIL import Image

from server.media import (
    THUMB_SIZES,
    ExifFacts,
    ImageFacts,
    MediaError,
    read_exif,
    read_image,
)
from server.media.thumbnails import plan_decode
from tests import heic_grid

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "photos"


# --- helpers ----------------------------------------------------------------------------


def samples(folder: str) -> list[Path]:
    paths = sorted(p for p in (SAMPLES / folder).iterdir() if p.is_file())
    assert paths, f"no samples in {folder}"
    return paths


def ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def read(path: Path, **kwargs) -> ImageFacts:
    with path.open("rb") as fp:
        return read_image(fp, **kwargs)


def read_bytes(data: bytes, **kwargs) -> ImageFacts:
    return read_image(io.BytesIO(data), **kwargs)


def media_error(data: bytes, **kwargs) -> MediaError:
    with pytest.raises(MediaError) as caught:
        read_bytes(data, **kwargs)
    return caught.value


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def open_thumb(facts: ImageFacts, name: str) -> Image.Image:
    thumb = next(t for t in facts.thumbnails if t.name == name)
    img = Image.open(io.BytesIO(thumb.data))
    img.load()
    return img


def assert_clean_thumbnails(facts: ImageFacts) -> None:
    """[large, small], JPEG, sizes as declared, within their boxes, no metadata."""
    assert [t.name for t in facts.thumbnails] == [name for name, _ in THUMB_SIZES]
    for thumb, (_, box) in zip(facts.thumbnails, THUMB_SIZES, strict=True):
        assert thumb.content_type == "image/jpeg"
        assert thumb.data[:2] == b"\xff\xd8"
        img = Image.open(io.BytesIO(thumb.data))
        assert img.format == "JPEG"
        assert img.mode == "RGB"
        assert img.size == (thumb.width, thumb.height)
        assert max(img.size) <= box
        assert "exif" not in img.info and "comment" not in img.info
        assert b"Exif\x00\x00" not in thumb.data
    large, small = facts.thumbnails
    # small is derived from large and keeps its shape (within rounding)
    assert abs(large.width / large.height - small.width / small.height) < 0.05


def pillow_gps(path: Path) -> tuple[float, float]:
    """GPS straight from Pillow's own parser: independent of piexif, which we use."""
    with Image.open(path) as img:
        gps = img.getexif().get_ifd(0x8825)

    def degrees(dms) -> float:
        d, m, s = (float(x) for x in dms)
        return d + m / 60 + s / 3600

    lat = degrees(gps[2]) * (-1 if gps[1] == "S" else 1)
    lon = degrees(gps[4]) * (-1 if gps[3] == "W" else 1)
    return lat, lon


def pillow_taken_at(path: Path) -> datetime:
    with Image.open(path) as img:
        exif_ifd = img.getexif().get_ifd(0x8769)
    return datetime.strptime(exif_ifd[0x9003], "%Y:%m:%d %H:%M:%S")


def png_with_header(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR claims width x height (valid CRC, tiny pixel data)."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "PNG"))
    assert data[12:16] == b"IHDR"
    ihdr = bytes(data[16:29])
    ihdr = struct.pack(">II", width, height) + ihdr[8:]
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def exif_block(exif_dict: dict) -> bytes:
    full = {"0th": {}, "Exif": {}, "GPS": {}, "1st": {}, "thumbnail": None}
    full.update(exif_dict)
    return piexif.dump(full)


# --- gps/: exact GPS and time -------------------------------------------------------


@pytest.mark.parametrize("path", samples("gps"), ids=ids(samples("gps")))
def test_gps_samples_read_exactly(path: Path) -> None:
    facts = read(path)
    exif = facts.exif
    assert exif.errors == []
    assert exif.gps == pytest.approx(pillow_gps(path), abs=1e-9)
    assert exif.taken_at == pillow_taken_at(path)
    assert exif.taken_at.tzinfo is None  # no OffsetTimeOriginal in these Nikons
    assert (exif.make, exif.model) == ("NIKON", "COOLPIX P6000")
    assert (facts.format, facts.content_type) == ("JPEG", "image/jpeg")
    assert (facts.width, facts.height) == (640, 480)
    assert_clean_thumbnails(facts)
    # smaller than the large box: never upscaled
    assert [(t.width, t.height) for t in facts.thumbnails] == [(640, 480), (320, 240)]


def test_gps_known_value_dscn0010() -> None:
    # GPSLatitude 43/1 28/1 281400000/100000000 N, GPSLongitude 11/1 53/1
    # 645599999/100000000 E, DateTimeOriginal 2008:10:22 16:28:39 (checked with a hex dump).
    exif = read(SAMPLES / "gps" / "DSCN0010.jpg").exif
    assert exif.gps == pytest.approx((43 + 28 / 60 + 2.814 / 3600, 11 + 53 / 60 + 6.456 / 3600))
    assert exif.gps == pytest.approx((43.467448, 11.885127), abs=1e-6)
    assert exif.taken_at == datetime(2008, 10, 22, 16, 28, 39)
    assert exif.to_dict() == {
        "taken_at": "2008-10-22T16:28:39",
        "gps": {"lat": exif.gps[0], "lon": exif.gps[1]},
        "make": "NIKON",
        "model": "COOLPIX P6000",
        "orientation": 1,
    }


# --- phones/ ---------------------------------------------------------------------------


def test_nokia_phone() -> None:
    facts = read(SAMPLES / "phones" / "HMD_Nokia_8.3_5G.jpg")
    exif = facts.exif
    assert exif.gps == pytest.approx((60.1467, 24.9068), abs=1e-3)
    # OffsetTimeOriginal is present: the time is aware (Helsinki summer time)
    assert exif.taken_at == datetime(2022, 8, 14, 14, 12, 31, tzinfo=timezone(timedelta(hours=3)))
    assert exif.taken_at.utcoffset() == timedelta(hours=3)
    assert (exif.make, exif.model, exif.orientation) == ("HMD Global", "Nokia 8.3 5G", 1)
    assert exif.errors == []
    assert (facts.width, facts.height) == (4608, 1976)
    assert_clean_thumbnails(facts)
    # large is exactly on the box (the draft decode never goes below the target)
    assert [(t.width, t.height) for t in facts.thumbnails] == [(1600, 686), (320, 137)]


def test_jpeg_draft_picks_the_biggest_scaling_that_covers_the_large_box() -> None:
    with Image.open(SAMPLES / "phones" / "HMD_Nokia_8.3_5G.jpg") as img:
        plan_decode(img, THUMB_SIZES)
        # 4608 / 2 = 2304 >= 1600, 4608 / 4 = 1152 < 1600: half-scale decode
        assert img.size == (2304, 988)


def test_iphone_has_gps_in_western_hemisphere() -> None:
    exif = read(SAMPLES / "phones" / "iphone_hdr_NO.jpg").exif
    assert exif.gps is not None
    assert exif.gps == pytest.approx(pillow_gps(SAMPLES / "phones" / "iphone_hdr_NO.jpg"))
    assert exif.gps[1] < 0  # GPSLongitudeRef W (Madrid)
    assert exif.make == "Apple"
    assert exif.taken_at == datetime(2015, 4, 10, 20, 12, 23)


def test_jolla_has_no_gps() -> None:
    exif = read(SAMPLES / "phones" / "jolla.jpg").exif
    assert exif.gps is None
    assert "gps" not in exif.to_dict()
    assert exif.taken_at == datetime(2014, 9, 21, 16, 0, 56)
    assert exif.errors == []


def test_no_exif_jpeg() -> None:
    facts = read(SAMPLES / "phones" / "no_exif.jpg")
    exif = facts.exif
    # Despite its name the file carries a Photoshop-written EXIF block with no camera
    # facts: no GPS, no make/model, no DateTimeOriginal. Its only time is IFD0 DateTime,
    # the Photoshop save time, which is no capture time and must not be reported as one.
    assert exif.gps is None and exif.make is None and exif.model is None
    assert exif.taken_at is None
    assert exif.errors == []
    assert_clean_thumbnails(facts)


def test_image_without_any_exif_gives_empty_facts() -> None:
    facts = read_bytes(encode(Image.new("RGB", (50, 40), "red"), "JPEG"))
    assert facts.exif == ExifFacts()
    assert facts.exif.to_dict() == {}


# --- orientation/: thumbnails upright -----------------------------------------------------


def signature(img: Image.Image) -> list[int]:
    small = img.convert("L").resize((img.width // 5, img.height // 5), Image.Resampling.BOX)
    return list(small.tobytes())


def similarity(a: Image.Image, b: Image.Image) -> float:
    """Pearson correlation of coarse greyscale pixels: robust to the brightness
    difference between the *_1 files (Photoshop re-saves) and the others."""
    assert a.size == b.size
    return statistics.correlation(signature(a), signature(b))


@pytest.mark.parametrize("kind", ["landscape", "portrait"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_thumbnails_are_upright(kind: str, orientation: int) -> None:
    reference = read(SAMPLES / "orientation" / f"{kind}_1.jpg")
    facts = read(SAMPLES / "orientation" / f"{kind}_{orientation}.jpg")
    assert facts.exif.orientation == orientation
    assert (facts.width, facts.height) == ((600, 450) if kind == "landscape" else (450, 600))
    assert_clean_thumbnails(facts)
    for name in ("large", "small"):
        want, got = open_thumb(reference, name), open_thumb(facts, name)
        assert got.size == want.size
        assert similarity(got, want) > 0.95
        # The check can fail: the same thumbnail mirrored or turned is clearly rejected.
        for wrong in (
            Image.Transpose.FLIP_LEFT_RIGHT,
            Image.Transpose.FLIP_TOP_BOTTOM,
            Image.Transpose.ROTATE_180,
        ):
            assert similarity(got.transpose(wrong), want) < 0.8


# --- heic/ -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", samples("heic"), ids=ids(samples("heic")))
def test_heic_accepted_with_jpeg_thumbnails(path: Path) -> None:
    facts = read(path)
    assert facts.format == "HEIF"
    assert facts.content_type == "image/heic"
    assert facts.height > facts.width  # both are portrait after the container's rotation
    assert_clean_thumbnails(facts)
    assert all(t.data[:2] == b"\xff\xd8" for t in facts.thumbnails)
    assert [(t.width, t.height) for t in facts.thumbnails] == [(1200, 1600), (240, 320)]


def test_heic_exif() -> None:
    iphone = read(SAMPLES / "heic" / "iphone_13_pro_max.HEIC").exif
    assert (iphone.make, iphone.model) == ("Apple", "iPhone 13 Pro Max")
    assert iphone.taken_at == datetime(2022, 2, 16, 12, 55, 41, tzinfo=timezone(timedelta(hours=1)))
    nokia = read(SAMPLES / "heic" / "HMD_Nokia_8.3_5G.heif").exif
    assert nokia.gps == pytest.approx((40.7887, -4.0051), abs=1e-3)


def red_corner(img: Image.Image) -> str:
    """Which corner of `img` holds the generated HEIC's red block (tests/heic_grid.py)."""
    w, h = img.size
    corners = {"top-left": (w // 10, h // 10), "top-right": (w - w // 10, h // 10),
               "bottom-left": (w // 10, h - h // 10),
               "bottom-right": (w - w // 10, h - h // 10)}
    red = [name for name, xy in corners.items()
           if (lambda p: p[0] > 150 and p[1] < 80 and p[2] < 80)(img.convert("RGB").getpixel(xy))]
    assert len(red) == 1, red
    return red[0]


def test_a_grid_heic_like_an_iphone_is_read_tile_by_tile(tmp_path: Path) -> None:
    path = heic_grid.make_heic(tmp_path / "grid.heic", 1008, 756)  # 2 x 2 tiles of 512
    facts = read(path)
    assert (facts.format, facts.content_type) == ("HEIF", "image/heic")
    assert (facts.width, facts.height) == (756, 1008)  # upright: the container's rotation
    assert_clean_thumbnails(facts)
    assert [(t.width, t.height) for t in facts.thumbnails] == [(756, 1008), (240, 320)]
    assert red_corner(open_thumb(facts, "large")) == "top-right"
    assert red_corner(open_thumb(facts, "small")) == "top-right"
    assert facts.exif.taken_at == heic_grid.TAKEN_AT
    assert facts.exif.gps == pytest.approx(heic_grid.GPS, abs=1e-4)
    assert (facts.exif.make, facts.exif.model) == (heic_grid.MAKE, heic_grid.MODEL)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_tiles_are_placed_as_libheif_places_the_whole_image(orientation: int) -> None:
    # Each EXIF orientation becomes the container's rotation and mirror (irot, imir);
    # the tiles overhang the picture (1000 x 600 in tiles of 256), on a side that moves
    # with the rotation. The tiled decode must equal libheif's own full decode.
    import pillow_heif
    from PIL import ImageChops, ImageDraw

    from server.media import heif_tiles

    img = Image.effect_noise((125, 75), 60).convert("RGB").resize((1000, 600))
    ImageDraw.Draw(img).rectangle((0, 0, 250, 150), fill=(220, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(img, "HEIF", quality=90, tile_size=256, exif=exif.tobytes(),
                  enc_params={"preset": "ultrafast"})
    assert pillow_heif.open_heif(io.BytesIO(data))[0].info["tiling"]["num_columns"] > 1
    with Image.open(io.BytesIO(data)) as full:
        whole = full.convert("RGB")
    with heif_tiles.GridReader(data, max_pixels=10**7, max_memory=10**8) as reader:
        assert reader.grid is not None and reader.grid.tiles > 1
        for factor in (1, 2, 4):
            tiled = reader.decode_reduced(factor)
            want = whole.reduce(factor) if factor > 1 else whole
            assert tiled.size == want.size
            assert ImageChops.difference(tiled, want).getbbox() is None, (orientation, factor)


def test_a_single_image_heic_still_decodes(tmp_path: Path) -> None:
    path = heic_grid.make_heic(tmp_path / "one.heic", 1008, 756, tile=0)
    facts = read(path)
    assert (facts.width, facts.height) == (756, 1008)
    assert red_corner(open_thumb(facts, "large")) == "top-right"
    assert facts.exif.taken_at == heic_grid.TAKEN_AT


def test_heic_decoding_cost_is_judged_before_decoding(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from server.media import intake

    grid = heic_grid.make_heic(tmp_path / "grid.heic", 1008, 756)
    single = heic_grid.make_heic(tmp_path / "one.heic", 1008, 756, tile=0)
    # Over max_pixels: refused whatever the layout.
    for path in (grid, single):
        error = media_error(path.read_bytes(), max_pixels=700_000)
        assert error.code == "media.decompression_bomb" and "0.7 megapixels" in error.message
    # A single HEVC image decodes whole: its size counts against the full-decode limit;
    # a grid only holds one tile (262k pixels) and the canvas at half scale (190k).
    small = (("small", 320),)
    monkeypatch.setitem(intake.FULL_DECODE_LIMITS, "HEIF", 600_000)
    error = media_error(single.read_bytes(), thumb_sizes=small)
    assert error.code == "media.decompression_bomb" and "0.6 megapixels" in error.message
    assert read(grid, thumb_sizes=small).thumbnails[0].height == 320
    monkeypatch.setitem(intake.FULL_DECODE_LIMITS, "HEIF", 400_000)  # < one tile + canvas
    error = media_error(grid.read_bytes(), thumb_sizes=small)
    assert error.code == "media.decompression_bomb"


def test_a_heic_past_libheifs_memory_budget_is_refused_as_too_large(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The budget is a backstop under the pixel limits (a tile lying about its size): what
    # libheif refuses with it is a bomb, not a damaged photo, and nothing is half-made.
    from server.media import intake

    monkeypatch.setattr(intake, "HEIF_DECODER_MEMORY", 100_000)  # < one 512 x 512 tile
    data = heic_grid.cached_heic(1008, 756).read_bytes()
    assert media_error(data).code == "media.decompression_bomb"


def test_a_10_bit_grid_heic_is_brought_to_8_bits() -> None:
    import struct

    import pillow_heif

    # 16-bit RGB in, stored as 10-bit HEVC tiles: red on the left, blue (40000) right.
    row = struct.pack("<3H", 65535, 0, 0) * 300 + struct.pack("<3H", 0, 0, 40000) * 300
    heif = pillow_heif.from_bytes("RGB;16", (600, 400), row * 400)
    out = io.BytesIO()
    heif.save(out, quality=90, tile_size=256, enc_params={"preset": "ultrafast"})
    stored = pillow_heif.open_heif(io.BytesIO(out.getvalue()), convert_hdr_to_8bit=False)[0]
    assert stored.info["bit_depth"] == 10 and stored.info["tiling"]["num_columns"] == 3
    large = open_thumb(read_bytes(out.getvalue()), "large")
    assert large.getpixel((100, 100))[0] > 240
    assert 140 < large.getpixel((500, 200))[2] < 170  # 40000 / 65535 of 255, not clipped


def test_a_transparent_heic_is_flattened_onto_white() -> None:
    img = Image.new("RGBA", (600, 400), (0, 0, 255, 255))
    img.paste((0, 0, 0, 0), (0, 0, 300, 400))  # the left half fully transparent
    large = open_thumb(read_bytes(encode(img, "HEIF", quality=90)), "large")
    assert large.getpixel((50, 50)) == (255, 255, 255)
    assert large.getpixel((500, 200))[2] > 240


@pytest.mark.parametrize("full_decode_allowed", [True, False])
def test_a_heic_with_a_damaged_tile_is_refused(monkeypatch, full_decode_allowed: bool) -> None:  # type: ignore[no-untyped-def]
    from server.media import intake

    data = heic_grid.cached_heic(1008, 756).read_bytes()
    # Cut the file inside its last tiles' data (pillow-heif writes the boxes first):
    # the header still parses, a tile does not. Refused whatever its size: the full
    # decode would have accepted it with black where the tiles were.
    if not full_decode_allowed:
        monkeypatch.setitem(intake.FULL_DECODE_LIMITS, "HEIF", 700_000)  # < 1008 x 756
    error = media_error(data[: len(data) * 3 // 4], thumb_sizes=(("small", 320),))
    assert error.code == "media.undecodable"


def test_a_cropped_heic_is_left_to_the_full_decode() -> None:
    # A clean-aperture crop changes the picture's size; libheif's upright offsets do not
    # account for it, so no tiling is offered and the whole image is decoded instead.
    from server.media.heif_tiles import _Tiling, _upright_grid

    def tiling(width: int, height: int, left: int = 0) -> _Tiling:
        return _Tiling(version=1, num_columns=8, num_rows=6, tile_width=512,
                       tile_height=512, image_width=width, image_height=height,
                       left_offset=left)

    assert _upright_grid(tiling(4032, 3024), tiling(4000, 3000)) is None
    upright = _upright_grid(tiling(4032, 3024), tiling(4032, 3024, left=448))
    assert upright is not None and (upright.left_offset, upright.top_offset) == (64, 0)
    # Tiles that do not cover the picture, or a spare column of them: no tiling either.
    assert _upright_grid(tiling(4200, 3024), tiling(4200, 3024)) is None
    assert _upright_grid(tiling(3500, 3024), tiling(3500, 3024)) is None


# --- malformed/ ------------------------------------------------------------------------

# piexif raises on these two; everything else in malformed/ parses.
BROKEN_EXIF = {"30-type_error.jpg", "45-gps_ifd.jpg"}


@pytest.mark.parametrize("path", samples("malformed"), ids=ids(samples("malformed")))
def test_malformed_never_crash(path: Path) -> None:
    try:
        facts = read(path)
    except MediaError as exc:
        # Only acceptable for image data that really does not decode.
        assert path.name == "corrupted.jpg" and exc.code == "media.undecodable"
        return
    assert bool(facts.exif.errors) == (path.name in BROKEN_EXIF), facts.exif.errors
    assert all(isinstance(note, str) and note for note in facts.exif.errors)
    assert_clean_thumbnails(facts)


def test_malformed_exif_is_salvaged() -> None:
    # ExifTag pointer stored as a string: the Exif IFD (and its capture time) is lost;
    # IFD0's DateTime survives but is a save time, not a capture time.
    type_error = read(SAMPLES / "malformed" / "30-type_error.jpg").exif
    assert type_error.taken_at is None
    assert "TypeError" in type_error.errors[0]
    # GPS IFD pointer with count 0: piexif gives up, the rest is still read.
    gps_ifd = read(SAMPLES / "malformed" / "45-gps_ifd.jpg").exif
    assert gps_ifd.make == "Polyphony Digital Inc."
    assert gps_ifd.model == "Gran Turismo 5"
    assert gps_ifd.taken_at == datetime(2012, 6, 23, 6, 55, 49)
    assert gps_ifd.gps is None
    zero_length = read(SAMPLES / "malformed" / "67-0_length_string.jpg").exif
    assert zero_length.gps == pytest.approx((51.025, 7 + 35 / 60 + 31 / 3600))
    nikon = read(SAMPLES / "malformed" / "87_OSError.jpg").exif
    assert nikon.gps == pytest.approx((43.7856, 11.2346), abs=1e-4)


# --- invalid/ --------------------------------------------------------------------------


@pytest.mark.parametrize("path", samples("invalid"), ids=ids(samples("invalid")))
def test_invalid_samples_answer(path: Path) -> None:
    # These once looped EXIF readers; their APP1 is large XMP, not EXIF. They decode.
    try:
        facts = read(path)
    except MediaError:
        return
    assert facts.exif == ExifFacts()
    assert_clean_thumbnails(facts)


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        b"<html><body>not a photo</body></html>",
        b"\xff\xd8\xff\xe0\x00\x10JFIF",  # a JPEG header that stops right away
    ],
    ids=["empty", "text", "pdf", "html", "truncated-header"],
)
def test_non_images_are_refused(data: bytes) -> None:
    error = media_error(data)
    assert error.code == "media.not_an_image"
    assert "JPEG" in error.message  # tells the user what to send instead


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF")],
)
def test_other_image_formats_are_unsupported(fmt: str, kind: str) -> None:
    error = media_error(encode(Image.new("RGB", (8, 8), "blue"), fmt))
    assert error.code == "media.unsupported_format"
    assert error.message.startswith(kind)


def test_avif_is_unsupported() -> None:
    header = struct.pack(">I", 28) + b"ftypavif" + b"\x00" * 4 + b"avifmif1miaf" + b"\x00" * 64
    assert media_error(header).code == "media.unsupported_format"


def test_svg_is_unsupported() -> None:
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'
    assert media_error(svg).code == "media.unsupported_format"


def test_format_comes_from_content_not_name(tmp_path: Path) -> None:
    disguised = tmp_path / "photo.jpg"
    disguised.write_bytes(encode(Image.new("RGB", (8, 8)), "GIF"))
    with pytest.raises(MediaError) as caught, disguised.open("rb") as fp:
        read_image(fp)
    assert caught.value.code == "media.unsupported_format"
    png_named_jpg = tmp_path / "other.jpg"
    png_named_jpg.write_bytes(encode(Image.new("RGB", (8, 8)), "PNG"))
    assert read(png_named_jpg).content_type == "image/png"


def test_truncated_jpeg_is_undecodable() -> None:
    data = (SAMPLES / "gps" / "DSCN0010.jpg").read_bytes()
    error = media_error(data[: len(data) // 2])
    assert error.code == "media.undecodable"


def test_bomb_refused_from_header_before_decoding() -> None:
    # 50000 x 50000 claimed by a 1x1 image: Pillow's own hard limit.
    assert media_error(png_with_header(50_000, 50_000)).code == "media.decompression_bomb"
    # 5000 x 5000 is under Pillow's limit; ours refuses it. Had it been decoded, the
    # 1-pixel data would have raised "undecodable" instead: the check is header-only.
    error = media_error(png_with_header(5_000, 5_000), max_pixels=1_000_000)
    assert error.code == "media.decompression_bomb"
    assert "5000 × 5000" in error.message
    # Sanity: the same bytes with a generous limit really are undecodable.
    assert media_error(png_with_header(5_000, 5_000)).code == "media.undecodable"


def test_pillow_bomb_warning_becomes_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    # 10000 x 10000 = 100 MP: within max_pixels, above Pillow's warning threshold (which
    # create_app sets process-wide from MAX_IMAGE_PIXELS; pinned here).
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60_000_000)
    error = media_error(png_with_header(10_000, 10_000), max_pixels=10**9)
    assert error.code == "media.decompression_bomb"


def test_real_photo_over_the_limit_is_a_bomb() -> None:
    with pytest.raises(MediaError) as caught:
        read(SAMPLES / "gps" / "DSCN0010.jpg", max_pixels=640 * 480 - 1)
    assert caught.value.code == "media.decompression_bomb"


def test_media_error_shape() -> None:
    error = MediaError("media.undecodable", "Broken.")
    assert (error.code, error.message, str(error)) == ("media.undecodable", "Broken.", "Broken.")
    with pytest.raises(ValueError):
        MediaError("media.typo", "x")


# --- other input shapes ------------------------------------------------------------------


def test_reads_from_the_start_of_the_file() -> None:
    fp = io.BytesIO((SAMPLES / "gps" / "DSCN0012.jpg").read_bytes())
    fp.seek(0, io.SEEK_END)  # e.g. after the caller hashed it
    assert read_image(fp).width == 640
    assert not fp.closed


@pytest.mark.parametrize(
    ("img", "fmt", "content_type"),
    [
        (Image.new("RGBA", (400, 300), (255, 0, 0, 0)), "PNG", "image/png"),
        (Image.new("LA", (400, 300), (0, 0)), "PNG", "image/png"),
        (Image.new("P", (400, 300), 3), "PNG", "image/png"),
        (Image.new("L", (400, 300), 128), "PNG", "image/png"),
        (Image.new("1", (400, 300), 1), "PNG", "image/png"),
        (Image.new("CMYK", (400, 300), (0, 255, 255, 0)), "JPEG", "image/jpeg"),
        (Image.new("L", (400, 300), 128), "JPEG", "image/jpeg"),
        (Image.new("RGB", (400, 300), "green"), "WEBP", "image/webp"),
        (Image.new("RGBA", (400, 300), (0, 0, 255, 128)), "WEBP", "image/webp"),
    ],
    ids=["png-rgba", "png-la", "png-p", "png-l", "png-1", "jpeg-cmyk", "jpeg-l", "webp", "webp-a"],
)
def test_formats_and_modes(img: Image.Image, fmt: str, content_type: str) -> None:
    facts = read_bytes(encode(img, fmt))
    assert facts.format == fmt
    assert facts.content_type == content_type
    assert (facts.width, facts.height) == (400, 300)
    assert_clean_thumbnails(facts)


def test_transparency_is_flattened_onto_white() -> None:
    facts = read_bytes(encode(Image.new("RGBA", (400, 300), (255, 0, 0, 0)), "PNG"))
    r, g, b = open_thumb(facts, "small").getpixel((10, 10))
    assert min(r, g, b) > 245


def test_16_bit_greyscale_is_scaled_not_clipped() -> None:
    img = Image.new("I;16", (400, 300), 32768)  # mid-grey in 16 bits
    grey = open_thumb(read_bytes(encode(img, "PNG")), "small").getpixel((10, 10))
    assert all(120 <= channel <= 136 for channel in grey)


def test_png_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (400, 300), "white")
    img.paste((0, 0, 0), (0, 0, 40, 40))  # black square top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display turns it 90 degrees clockwise
    facts = read_bytes(encode(img, "PNG", exif=exif))
    assert facts.exif.orientation == 6
    assert (facts.width, facts.height) == (300, 400)
    small = open_thumb(facts, "small")
    assert small.size == (240, 320)
    # rotated clockwise, the top-left corner goes to the top-right
    assert sum(small.getpixel((small.width - 5, 5))) < 100
    assert sum(small.getpixel((5, 5))) > 600


def test_mpo_reported_as_jpeg() -> None:
    first, second = Image.new("RGB", (400, 300), "red"), Image.new("RGB", (400, 300), "blue")
    data = encode(first, "MPO", save_all=True, append_images=[second])
    facts = read_bytes(data)
    assert (facts.format, facts.content_type) == ("JPEG", "image/jpeg")
    red, _, blue = open_thumb(facts, "small").getpixel((10, 10))
    assert red > 200 and blue < 60  # the first frame, not the second


def test_jpeg_comment_is_not_copied_into_thumbnails() -> None:
    data = encode(Image.new("RGB", (400, 300)), "JPEG", comment=b"secret location")
    facts = read_bytes(data)
    assert all(b"secret" not in t.data for t in facts.thumbnails)


def test_custom_thumb_sizes() -> None:
    facts = read(SAMPLES / "phones" / "jolla.jpg", thumb_sizes=(("small", 100), ("big", 800)))
    assert [(t.name, t.width, t.height) for t in facts.thumbnails] == [
        ("small", 100, 75),
        ("big", 800, 600),
    ]


# --- EXIF reader edge cases ------------------------------------------------------------


def test_exif_time_falls_back_and_reads_offset() -> None:
    raw = exif_block(
        {
            "0th": {piexif.ImageIFD.Make: b"ACME\x00\x00  ", piexif.ImageIFD.Model: b"   "},
            "Exif": {
                piexif.ExifIFD.DateTimeOriginal: b"not a date",
                piexif.ExifIFD.DateTimeDigitized: b"2020:01:02 03:04:05",
                piexif.ExifIFD.OffsetTimeDigitized: b"-05:00",
            },
        }
    )
    exif = read_exif(raw)
    assert exif.taken_at == datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))
    assert exif.make == "ACME"
    assert exif.model is None  # blank string
    assert any("DateTimeOriginal" in note for note in exif.errors)
    assert exif.to_dict() == {"taken_at": "2020-01-02T03:04:05-05:00", "make": "ACME"}


def test_exif_placeholder_time_is_absent_not_an_error() -> None:
    raw = exif_block({"Exif": {piexif.ExifIFD.DateTimeOriginal: b"0000:00:00 00:00:00"}})
    exif = read_exif(raw)
    assert exif.taken_at is None
    assert exif.errors == []


def gps_block(lat, lat_ref: bytes, lon, lon_ref: bytes) -> bytes:
    return exif_block(
        {
            "GPS": {
                piexif.GPSIFD.GPSLatitudeRef: lat_ref,
                piexif.GPSIFD.GPSLatitude: lat,
                piexif.GPSIFD.GPSLongitudeRef: lon_ref,
                piexif.GPSIFD.GPSLongitude: lon,
            }
        }
    )


def test_exif_gps_signs_and_nonsense() -> None:
    south_west = gps_block(((33, 1), (51, 1), (54, 1)), b"S", ((151, 1), (12, 1), (36, 1)), b"W")
    assert read_exif(south_west).gps == pytest.approx((-33.865, -151.21))
    null_island = gps_block(((0, 1), (0, 1), (0, 1)), b"N", ((0, 1), (0, 1), (0, 1)), b"E")
    assert read_exif(null_island).gps is None
    assert read_exif(null_island).errors == []
    off_the_map = gps_block(((95, 1), (0, 1), (0, 1)), b"N", ((10, 1), (0, 1), (0, 1)), b"E")
    assert read_exif(off_the_map).gps is None
    assert any("out of range" in note for note in read_exif(off_the_map).errors)
    zero_denominator = gps_block(((45, 0), (0, 1), (0, 1)), b"N", ((10, 1), (0, 1), (0, 1)), b"E")
    assert read_exif(zero_denominator).gps is None
    assert read_exif(zero_denominator).errors


def test_bad_gps_does_not_lose_the_time() -> None:
    raw = exif_block(
        {
            "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2021:05:06 07:08:09"},
            "GPS": {
                piexif.GPSIFD.GPSLatitudeRef: b"Q",  # no such hemisphere
                piexif.GPSIFD.GPSLatitude: ((1, 1), (2, 1), (3, 1)),
                piexif.GPSIFD.GPSLongitude: ((4, 1), (5, 1), (6, 1)),
            },
        }
    )
    exif = read_exif(raw)
    assert exif.taken_at == datetime(2021, 5, 6, 7, 8, 9)
    assert exif.gps is None and exif.errors


def test_exif_orientation_out_of_range_is_noted() -> None:
    exif = read_exif(exif_block({"0th": {piexif.ImageIFD.Orientation: 9}}))
    assert exif.orientation is None
    assert exif.errors


@pytest.mark.parametrize(
    ("kind", "count", "padding"),
    [
        (4, 100_000, 8),  # LONG: more data than the whole block
        (4, 0xFFFFFFFF, 8),  # LONG: piexif would build a 4-billion-character format
        (3, 70_000, 140_100),  # SHORT: fits in a big (HEIF/PNG) block, still absurd
    ],
    ids=["beyond-block", "4-billion", "too-many-numbers"],
)
def test_piexif_is_bounded_on_huge_value_counts(kind: int, count: int, padding: int) -> None:
    # IFD0: Make "ACME", then StripOffsets claiming `count` values. The pre-scan refuses
    # before piexif runs, and Pillow's parser (which skips such tags) salvages the make.
    entries = [(0x010F, 2, 5, 38), (0x0111, kind, count, 43)]
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(entries))
    tiff += b"".join(struct.pack("<HHII", *entry) for entry in entries)
    tiff += struct.pack("<I", 0) + b"ACME\x00" + b"\x00" * padding
    exif = read_exif(b"Exif\x00\x00" + tiff)
    assert exif.make == "ACME"
    assert any(f"claims {count} values" in note for note in exif.errors), exif.errors


def test_exif_that_is_not_tiff_is_never_read_as_a_file_name() -> None:
    # piexif.load() opens its argument as a path when it is not JPEG/TIFF/WebP bytes.
    path = bytes(SAMPLES / "gps" / "DSCN0010.jpg")
    for raw in (path, b"Exif\x00\x00" + path):
        exif = read_exif(raw)
        assert exif.make is None  # would be "NIKON" had piexif opened the file
        assert exif.errors == ["EXIF block has no TIFF header and was ignored."]


def test_exif_facts_to_dict_omits_none() -> None:
    assert ExifFacts().to_dict() == {}
    aware = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert ExifFacts(taken_at=aware, gps=(1.5, -2.5), orientation=3).to_dict() == {
        "taken_at": "2024-01-02T03:04:05+00:00",
        "gps": {"lat": 1.5, "lon": -2.5},
        "orientation": 3,
    }


# ---- the largest real photos, and bombs ----------------------------------------------
PEAK_RSS_SCRIPT = r"""
import resource, sys, json
sys.path.insert(0, sys.argv[2])
from PIL import Image
Image.MAX_IMAGE_PIXELS = 250_000_000
from server.media import read_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[1], "rb") as fp:
    facts = read_image(fp, max_pixels=50_000_000, max_jpeg_pixels=250_000_000)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mb": (after - before) / 1024, "width": facts.width,
                  "height": facts.height, "thumbs": [t.width for t in facts.thumbnails]}))
"""


@pytest.fixture(scope="session")
def photo_200mp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16320 x 12240 JPEG, the 200 MP mode of many phones sold in China (made in a
    child process: 600 MB of pixels to encode)."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("big") / "200mp.jpg"
    subprocess.run([sys.executable, "-c", (
        "import sys; from PIL import Image, ImageDraw\n"
        "Image.MAX_IMAGE_PIXELS = None\n"
        "img = Image.new('RGB', (16320, 12240), (40, 60, 90))\n"
        "ImageDraw.Draw(img).rectangle((4000, 3000, 12000, 9000), fill=(200, 180, 40))\n"
        "img.save(sys.argv[1], quality=80)\n"), str(path)], check=True, timeout=120)
    return path


def test_a_200_megapixel_phone_jpeg_is_accepted_and_cheap_to_read(photo_200mp: Path) -> None:
    import json
    import subprocess
    import sys

    answer = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_SCRIPT, str(photo_200mp),
         str(Path(__file__).resolve().parents[1])],
        check=True, capture_output=True, text=True, timeout=120)
    found = json.loads(answer.stdout)
    assert (found["width"], found["height"]) == (16320, 12240)
    assert found["thumbs"] and max(found["thumbs"]) <= 2048
    # Decoded at 1/8 scale: a few MB of pixels, not the 600 MB of a full decode.
    assert found["growth_mb"] <= 200, found


HEIC_48MP_SCRIPT = r"""
import base64, json, resource, sys
sys.path.insert(0, sys.argv[2])
from PIL import Image
Image.MAX_IMAGE_PIXELS = 50_000_000  # as create_app sets it from MAX_IMAGE_PIXELS
from server.media import read_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(sys.argv[1], "rb") as fp:
    facts = read_image(fp, max_pixels=50_000_000, max_jpeg_pixels=250_000_000)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "growth_mb": (after - before) / 1024, "format": facts.format,
    "width": facts.width, "height": facts.height,
    "thumbs": [(t.width, t.height) for t in facts.thumbnails],
    "taken_at": facts.exif.taken_at.isoformat(), "gps": facts.exif.gps,
    "large": base64.b64encode(facts.thumbnails[0].data).decode()}))
"""


@pytest.fixture(scope="session")
def heic_48mp() -> Path:
    """8064 x 6048 in 512 x 512 tiles, what an iPhone saves in "HEIF Max" (cached)."""
    return heic_grid.cached_heic(8064, 6048)


def test_a_48_megapixel_iphone_heic_is_accepted_within_the_memory_bound(
    heic_48mp: Path,
) -> None:
    import base64
    import json
    import subprocess
    import sys

    answer = subprocess.run(
        [sys.executable, "-c", HEIC_48MP_SCRIPT, str(heic_48mp),
         str(Path(__file__).resolve().parents[1])],
        check=True, capture_output=True, text=True, timeout=300)
    found = json.loads(answer.stdout)
    assert found["format"] == "HEIF"
    assert (found["width"], found["height"]) == (6048, 8064)  # upright
    assert found["thumbs"] == [[1200, 1600], [240, 320]]
    assert found["taken_at"] == heic_grid.TAKEN_AT.isoformat()
    assert found["gps"] == pytest.approx(heic_grid.GPS, abs=1e-4)
    large = Image.open(io.BytesIO(base64.b64decode(found["large"])))
    assert red_corner(large) == "top-right"
    # Tile by tile at 1/4 scale: a few tens of MB, not the 350 MB of a full decode.
    assert found["growth_mb"] <= 200, found


def test_formats_that_decode_in_full_have_the_lower_limit() -> None:
    # 60 MP: a tiny PNG file, but 240 MB to decode in full: refused from its header
    # alone, though a JPEG of that size passes.
    error = media_error(png_with_header(8_000, 7_500), max_pixels=50_000_000,
                        max_jpeg_pixels=250_000_000)
    assert error.code == "media.decompression_bomb" and "36 megapixels" in error.message
    # Each full-decode format has its own limit, from what one decode of it costs.
    webp = media_error(encode(
        Image.new("RGB", (4_100, 3_100)), "WEBP"), max_pixels=50_000_000)
    assert webp.code == "media.decompression_bomb" and "12 megapixels" in webp.message


def test_a_jpeg_claiming_billions_of_pixels_is_still_a_bomb() -> None:
    data = bytearray(encode(Image.new("RGB", (64, 48), (1, 2, 3)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 60_000, 60_000)  # height, width
    error = media_error(bytes(data), max_pixels=50_000_000, max_jpeg_pixels=250_000_000)
    assert error.code == "media.decompression_bomb"


def test_tiles_use_only_pillow_heifs_own_libheif_and_only_if_new_enough(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Another libheif on the system (pillow-heif never initialised it, maybe 1.19-1.22
    with other tile offsets) is never looked for; pillow-heif's own one older than 1.23
    means the whole-image decode, with a warning."""
    import ctypes.util

    import pillow_heif

    from server.media import heif_tiles

    def no_search(_name: str) -> str:
        raise AssertionError("looked for a system libheif")

    monkeypatch.setattr(ctypes.util, "find_library", no_search)
    lib = heif_tiles._load()
    assert lib is not None
    assert ".".join(map(str, heif_tiles._version(lib))) == \
        ".".join(pillow_heif.libheif_version().split(".")[:2])
    monkeypatch.setattr(heif_tiles, "_MIN_VERSION", (1, 99))
    with caplog.at_level("WARNING", logger="server.media.heif_tiles"):
        assert heif_tiles._load() is None
    assert "older than 1.99: large HEIC photos decode in full" in caplog.text
