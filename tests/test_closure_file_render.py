"""The closure file renderers read back: DOCX parsed, PDF text extracted, pages drawn and
their QR codes decoded, every embedded image inspected for metadata.

Photos are real camera files with EXIF GPS (shared/samples/photos/gps), embedded as they
are, so the public version's stripping has something to strip.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import docx
import pymupdf
import pytest
import zxingcpp
from docx.oxml.ns import qn
from PIL import Image, ImageChops, ImageCms, ImageOps, ImageStat

from server.media.strip import without_metadata
from server.reports import (
    CaseSection,
    ClosurePacket,
    PhotoEntry,
    qr_png,
    qr_svg,
    render_docx,
    render_pdf,
)
from server.reports.fonts import cjk_font

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "photos"
GPS_PHOTOS = ("gps/DSCN0010.jpg", "gps/DSCN0021.jpg", "gps/DSCN0040.jpg")
COMPLAINANT = "张三 138****1234"
APPENDIX = "附录：核验信息"
T0 = datetime(2024, 1, 22, 9, 24, tzinfo=UTC)  # 17:24 in Shanghai


def _photo(i: int, image: bytes, heading: str, photographer: str, place: str,
           caption: str) -> PhotoEntry:
    code = f"7K3M-Q9T{i}"
    return PhotoEntry(
        evidence_id=f"ev-{i}", short_code=code, verify_url=f"https://fieldcase.example/v/{code}",
        heading=heading, taken_at=T0 + timedelta(days=i, minutes=7 * i),
        photographer=photographer, place=place, caption=caption,
        sha256=hashlib.sha256(image).hexdigest(), image=image,
    )


@pytest.fixture(scope="module")
def originals() -> list[bytes]:
    images = [(SAMPLES / name).read_bytes() for name in GPS_PHOTOS]
    for data in images:  # the premise of the public checks: there is GPS to remove
        assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "sample lost its GPS"
    return images


@pytest.fixture(scope="module")
def cases(originals: list[bytes]) -> list[CaseSection]:
    a_photos = [
        _photo(0, originals[0], "柳州市城中生态环境局现场检查照片", "覃松", "柳州市城中区东郡小区",
               "对东郡小区油烟反映人开展回访工作"),
        _photo(1, originals[1], "银龙大厦居民家现场检查照片", "韦钧瀚", "柳州市城中区时代商厦",
               "联合市公安局城中分局、区文旅局、青云社区在银龙大厦居民家对第玖季酒吧噪声扰民情况进行现场核查"),
    ]
    b_photos = [
        _photo(2, originals[2], "恒隆汇现场检查照片", "黄丽", "恒隆汇8楼",
               "对恒隆汇8楼NOV11酒吧开展联合检查"),
    ]
    common = {
        "category": "社会生活噪声", "channel": "12345热线", "unit": "城中生态环境局",
        "complainant": COMPLAINANT, "verdict": "属实", "approver": "李审核",
        "handlers": "王承办、赵承办", "opinion": "整改到位，复测达标，同意办结。",
    }
    return [
        CaseSection(
            case_id="C-2024-0001", subject="第玖季酒吧夜间噪声扰民",
            address="柳州市城中区时代商厦5楼",
            received_at=T0 - timedelta(days=2), closed_at=T0 + timedelta(days=5),
            result="责令酒吧加装隔音设施，22时后降低音量", revisit="电话回访 2024年1月28日 满意",
            readings=["夜间 52.3 dB(A)，限值 45，超标", "夜间 44.1 dB(A)，限值 45，达标"],
            seal_number=1, seal_sha256="a1" * 32, sealed_at=T0 + timedelta(days=5),
            approved_at=T0 + timedelta(days=5), case_uuid="0b6f1c2e-aaaa-4bbb-8ccc-000000000001",
            photos=a_photos, **common,
        ),
        CaseSection(
            case_id="C-2024-0002", subject="恒隆汇酒吧噪声", address="柳州市城中区恒隆汇8楼",
            received_at=T0, closed_at=T0 + timedelta(days=6), result="已整改",
            revisit="无法联系：空号", readings=[], seal_number=2, seal_sha256="b2" * 32,
            sealed_at=T0 + timedelta(days=6), approved_at=T0 + timedelta(days=6),
            case_uuid="0b6f1c2e-aaaa-4bbb-8ccc-000000000002", photos=b_photos, **common,
        ),
    ]


OFFICE = "柳州市生态环境局城中分局"


def _packet(cases: list[CaseSection], public: bool, per_page: int = 1) -> ClosurePacket:
    # The public packet still carries the complainant: the renderer must leave it out anyway.
    title = "环境信访案件办结公示" if public else "环境信访案件办结材料"
    return ClosurePacket(title, public, T0 + timedelta(days=7), cases, office=OFFICE,
                         photos_per_page=per_page)


@pytest.fixture(scope="module")
def internal(cases: list[CaseSection]) -> tuple[bytes, bytes]:
    packet = _packet(cases, public=False)
    return render_docx(packet), render_pdf(packet)


@pytest.fixture(scope="module")
def public(cases: list[CaseSection]) -> tuple[bytes, bytes]:
    packet = _packet(cases, public=True)
    return render_docx(packet), render_pdf(packet)


def expected_lines(photo: PhotoEntry) -> list[str]:
    """A photo's heading, its four labels as typed (spread by the layout, not by spaces)
    each followed by its value, and its short code."""
    local = photo.taken_at + timedelta(hours=8)
    return [
        photo.heading,
        "摄影时间", f"：{local.year}年{local.month}月{local.day}日{local:%H:%M}",
        "摄影人", f"：{photo.photographer}",
        "地点", f"：{photo.place}",
        "说明", f"：{photo.caption}",
        photo.short_code,
    ]


TYPED_SPACES = re.compile(
    r"(摄 +影 +人|地 +点|说 +明|地 +址|类 +别|来 +源|照 +片|审 +核 +人|投 +诉 +人)")


# -- reading the files back ------------------------------------------------------------------


def docx_paragraphs(data: bytes) -> list[str]:
    """Every paragraph's text, in body order, those inside table cells included."""
    body = docx.Document(io.BytesIO(data)).element.body
    return ["".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p"))]


def docx_parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def pdf_pages(data: bytes) -> list[str]:
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        return [page.get_text() for page in doc]


def flat(text: str) -> str:
    return text.replace("\n", "")  # lines wrapped by the layout join up again


def pdf_images(data: bytes) -> list[dict]:
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        xrefs = sorted({img[0] for page in doc for img in page.get_images(full=True)})
        return [doc.extract_image(xref) for xref in xrefs]


def jpeg_markers(data: bytes) -> list[int]:
    """The markers of the segments before the image data (SOS)."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers, i = [], 2
    while i + 4 <= len(data):
        assert data[i] == 0xFF, f"bad segment at {i}"
        marker = data[i + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return markers


def assert_no_metadata(data: bytes) -> None:
    img = Image.open(io.BytesIO(data))
    assert len(img.getexif()) == 0
    for key in ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "photoshop"):
        assert key not in img.info, key
    if img.format == "JPEG":
        markers = jpeg_markers(data)
        # APP0 (JFIF) is the only application segment allowed: APP1 EXIF/XMP, APP2 ICC/MPF,
        # APP13 IPTC, COM comments all gone.
        assert [m for m in markers if 0xE1 <= m <= 0xEF or m == 0xFE] == []


def decode_qr(page: pymupdf.Page) -> list[str]:
    pix = page.get_pixmap(dpi=150)
    img = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    found = zxingcpp.read_barcodes(img)
    return [r.text for r in found if r.format == zxingcpp.BarcodeFormat.QRCode]


# -- DOCX --------------------------------------------------------------------------------------


def test_docx_holds_the_cover_and_every_photo_with_its_lines(
    internal: tuple[bytes, bytes], cases: list[CaseSection]
) -> None:
    paragraphs = docx_paragraphs(internal[0])
    text = "\n".join(paragraphs)
    assert paragraphs.count("环境信访案件办结材料") == 2  # one cover per case
    for case in cases:
        for value in (case.case_id, case.subject, case.address, case.result, case.revisit,
                      f"SHA-256 {case.seal_sha256}", f"第 {case.seal_number} 号", case.approver,
                      *case.readings):
            assert value in paragraphs, value
        for photo in case.photos:
            for line in expected_lines(photo):
                assert line in paragraphs, line
            assert f"SHA-256 {photo.sha256}" in paragraphs  # on the appendix
    assert "：2024年1月22日17:24" in paragraphs  # UTC 09:24 printed in Shanghai time
    assert COMPLAINANT in text  # the internal file names the complainant
    # The cover is a real table: label and value side by side.
    tables = docx.Document(io.BytesIO(internal[0])).tables
    assert (tables[0].cell(0, 0).text, tables[0].cell(0, 1).text) == ("案件编号", "C-2024-0001")
    # Photos follow their case's cover, in order.
    order = [paragraphs.index(line) for line in (
        "7K3M-Q9T0", "7K3M-Q9T1", APPENDIX, "C-2024-0002", "7K3M-Q9T2")]
    assert order == sorted(order)


def test_docx_embeds_each_stored_jpeg_as_it_is(
    internal: tuple[bytes, bytes], originals: list[bytes]
) -> None:
    media = {name: blob for name, blob in docx_parts(internal[0]).items()
             if name.startswith("word/media/")}
    assert len(media) == 6  # 3 photos + 3 QR codes
    for original in originals:  # no decode, no re-encode for the office's own file
        assert original in media.values()
    qrs = [blob for name, blob in media.items() if name.endswith(".png")]
    assert len(qrs) == 3
    decoded = {zxingcpp.read_barcodes(Image.open(io.BytesIO(q)))[0].text for q in qrs}
    assert decoded == {f"https://fieldcase.example/v/7K3M-Q9T{i}" for i in range(3)}


def test_docx_is_a_valid_package_with_fixed_properties(internal: tuple[bytes, bytes]) -> None:
    with zipfile.ZipFile(io.BytesIO(internal[0])) as zf:
        assert zf.testzip() is None
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert not any(name.startswith("docProps/thumbnail") for name in zf.namelist())
    props = docx.Document(io.BytesIO(internal[0])).core_properties
    assert (props.author, props.title) == ("Fieldcase", "环境信访案件办结材料")
    assert props.created == T0 + timedelta(days=7)


# -- PDF ---------------------------------------------------------------------------------------


def test_pdf_text_has_the_chinese_content(
    internal: tuple[bytes, bytes], cases: list[CaseSection]
) -> None:
    pages = pdf_pages(internal[1])
    assert len(pages) == 2 + 3 + 2  # a cover per case, a page per photo, an appendix per case
    whole = flat("".join(pages))
    for case in cases:
        for value in (case.subject, case.address, case.result, case.revisit, case.seal_sha256,
                      case.approver, *case.readings):
            assert value in whole, value
    assert COMPLAINANT in whole
    photo_pages = [flat(pages[i]) for i in (1, 2, 5)]
    for page, photo in zip(photo_pages, [p for c in cases for p in c.photos], strict=True):
        for line in expected_lines(photo):
            assert line in page, line  # each photo's own lines on its own page
    for i, case in ((3, cases[0]), (6, cases[1])):  # the hashes: on the case's appendix
        appendix = flat(pages[i])
        assert APPENDIX in appendix
        assert all(photo.sha256 in appendix for photo in case.photos)


def test_pdf_embeds_a_subset_cjk_font(
    internal: tuple[bytes, bytes], originals: list[bytes]
) -> None:
    with pymupdf.open(stream=internal[1], filetype="pdf") as doc:
        fonts = {f[0]: f for page in doc for f in page.get_fonts()}
        assert fonts, "no font in the PDF"
        for xref, ext, _type, basefont, *_ in fonts.values():
            assert ext != "n/a", f"{basefont} is not embedded"
            assert re.fullmatch(r"[A-Z]{6}\+NotoSansSC", basefont), basefont
            embedded = doc.extract_font(xref)[-1]
            assert 0 < len(embedded) < cjk_font().path.stat().st_size / 20  # a subset
    # The photos, a few hundred glyphs and the page structure: nothing like the 8 MB font.
    assert len(internal[1]) < sum(map(len, originals)) + 300_000


def test_pdf_qr_code_of_each_photo_decodes_to_its_verify_url(
    internal: tuple[bytes, bytes], cases: list[CaseSection]
) -> None:
    photos = [p for c in cases for p in c.photos]
    with pymupdf.open(stream=internal[1], filetype="pdf") as doc:
        for photo in photos:
            [page] = [page for page in doc if photo.short_code in page.get_text()
                      and APPENDIX not in page.get_text()]
            assert decode_qr(page) == [photo.verify_url]
        assert decode_qr(doc[0]) == []  # the cover has none


def test_pdf_embeds_each_stored_jpeg_as_it_is(
    internal: tuple[bytes, bytes], originals: list[bytes]
) -> None:
    jpegs = [img["image"] for img in pdf_images(internal[1]) if img["ext"] in ("jpeg", "jpg")]
    assert sorted(jpegs) == sorted(originals)


def test_rendering_is_deterministic(
    cases: list[CaseSection], internal: tuple[bytes, bytes]
) -> None:
    packet = _packet(cases, public=False)
    assert render_docx(packet) == internal[0]
    assert render_pdf(packet) == internal[1]


# -- a file an office files as is (issue 19) ---------------------------------------------------


def docx_cover_cells(data: bytes) -> dict[str, str]:
    """The first cover's label -> value."""
    table = docx.Document(io.BytesIO(data)).tables[0]
    return {row.cells[0].text: row.cells[1].text for row in table.rows}


def test_the_cover_names_who_handled_and_approved_with_a_block_to_sign_and_stamp(
    internal: tuple[bytes, bytes], cases: list[CaseSection]
) -> None:
    case = cases[0]
    cells = docx_cover_cells(internal[0])
    assert cells["承办单位"] == case.unit and cells["承办人"] == "王承办、赵承办"
    assert cells["审核人"] == "李审核" and cells["审核意见"] == "整改到位，复测达标，同意办结。"
    assert cells["审核时间"] == "2024年1月27日17:24" and cells["受理时间"] == "2024年1月20日17:24"
    sign = docx.Document(io.BytesIO(internal[0])).tables[1]
    assert [c.text.split("\n")[0] for c in sign.rows[0].cells] == [
        "承办人（签字）：", "审核人（签字）：", "承办单位（盖章）："]
    assert all(c.text.rstrip().endswith("日") for c in sign.rows[0].cells)  # a date line each
    cover = flat(pdf_pages(internal[1])[0])
    for words in ("承办单位城中生态环境局", "承办人王承办、赵承办", "审核人李审核",
                  "审核意见整改到位，复测达标，同意办结。", "审核时间2024年1月27日17:24",
                  "承办人（签字）：", "审核人（签字）：", "承办单位（盖章）：", "年    月    日"):
        assert words in cover, words


def test_attachment_and_the_issuing_office_head_each_cover(
    internal: tuple[bytes, bytes]
) -> None:
    paragraphs = [p for p in docx_paragraphs(internal[0]) if p]
    assert paragraphs[:3] == ["附件", OFFICE, "环境信访案件办结材料"]
    second = paragraphs.index("C-2024-0002")
    assert paragraphs[second - 4:second - 1] == ["附件", OFFICE, "环境信访案件办结材料"]
    for page in (0, 4):
        assert pdf_pages(internal[1])[page].startswith(f"附件\n{OFFICE}\n环境信访案件办结材料")


def test_docx_pages_are_numbered_in_the_footer(internal: tuple[bytes, bytes]) -> None:
    footer = docx.Document(io.BytesIO(internal[0])).sections[0].footer
    xml = footer._element.xml
    fields = [f.get(qn("w:instr")).strip() for f in footer._element.iter(qn("w:fldSimple"))]
    assert fields == ["PAGE", "NUMPAGES"], xml
    text = "".join(t.text or "" for t in footer._element.iter(qn("w:t")))
    assert text == "第 1 页  共 1 页"  # the fields' placeholders until Word lays out


@pytest.fixture(scope="module")
def fifty(originals: list[bytes], cases: list[CaseSection]) -> CaseSection:
    many = [_photo(i, originals[i % 3], "现场检查照片", "覃松", "东郡小区", f"第{i}张")
            for i in range(50)]
    return replace(cases[0], photos=many)


def test_two_photos_a_page_halve_the_photo_pages(fifty: CaseSection) -> None:
    one, two = (_packet([fifty], public=False, per_page=n) for n in (1, 2))
    def photo_pages(packet: ClosurePacket) -> list[str]:
        with pymupdf.open(stream=render_pdf(packet), filetype="pdf") as doc:
            texts = [page.get_text() for page in doc]
            assert APPENDIX in "".join(texts) and "现场检查照片" not in texts[0]
            return [t for t in texts if "现场检查照片" in t]

    pages = photo_pages(two)
    assert len(pages) == 25
    for i, text in enumerate(pages):
        assert text.count("现场检查照片") == 2
        assert f"7K3M-Q9T{2 * i}\n" in text and f"7K3M-Q9T{2 * i + 1}\n" in text
    assert len(photo_pages(one)) == 50
    with pymupdf.open(stream=render_pdf(two), filetype="pdf") as doc:
        assert len(decode_qr(doc[1])) == 2
    body = docx.Document(io.BytesIO(render_docx(two))).element.body
    breaks = [p for p in body.iter(qn("w:p")) if p.find(f"{qn('w:pPr')}/{qn('w:pageBreakBefore')}")
              is not None]
    texts = ["".join(t.text or "" for t in p.iter(qn("w:t"))) for p in breaks]
    assert texts == ["现场检查照片"] * 25 + [APPENDIX]
    pictures = body.findall(f".//{qn('w:drawing')}")
    assert len(pictures) == 100  # each photo and its QR code


def test_labels_are_spread_not_typed_with_spaces(internal: tuple[bytes, bytes]) -> None:
    paragraphs = docx_paragraphs(internal[0])
    for label in ("摄影人", "地点", "说明", "地址", "审核人"):
        assert label in paragraphs, label
    assert not [p for p in paragraphs if TYPED_SPACES.search(p)]
    body = docx.Document(io.BytesIO(internal[0])).element.body
    spread = {"".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p"))
              if (jc := p.find(f"{qn('w:pPr')}/{qn('w:jc')}")) is not None
              and jc.get(qn("w:val")) == "distribute"}
    assert {"摄影时间", "摄影人", "地点", "说明", "地址", "承办人", "审核意见"} <= spread
    text = "".join(pdf_pages(internal[1]))
    lines = text.splitlines()
    for label in ("摄影人", "地点", "说明", "地址", "审核人"):
        assert label in lines, label
    assert not TYPED_SPACES.search(text), TYPED_SPACES.search(text)
    with pymupdf.open(stream=internal[1], filetype="pdf") as doc:
        assert doc[1].search_for("地点") and doc[1].search_for("摄影人")
        # Spread, not packed: "地" and "点" stand a character's width and more apart.
        words = [w for w in doc[1].get_text("rawdict")["blocks"] for w in w.get("lines", [])]
        chars = [c for line in words for span in line["spans"] for c in span["chars"]]
        places = [c for c in chars if c["c"] in "地点"]
        assert len(places) >= 2


def test_hashes_and_ids_are_on_the_appendix_not_the_cover(
    internal: tuple[bytes, bytes], cases: list[CaseSection]
) -> None:
    pages = pdf_pages(internal[1])
    cover, appendix = flat(pages[0]), flat(pages[3])
    case = cases[0]
    for machine in (case.seal_sha256, case.case_uuid, *(p.sha256 for p in case.photos),
                    *(p.evidence_id for p in case.photos), "第 1 号"):
        assert machine not in cover, machine
        assert machine in appendix, machine
    for photo_page in (pages[1], pages[2]):
        assert "SHA-256" not in photo_page
    cells = docx_cover_cells(internal[0])
    assert not any(case.seal_sha256 in v or "SHA-256" in v for v in cells.values())
    paragraphs = docx_paragraphs(internal[0])
    assert paragraphs.index(APPENDIX) > paragraphs.index("7K3M-Q9T1")
    assert f"SHA-256 {case.seal_sha256}" in paragraphs[paragraphs.index(APPENDIX):]


# -- the public version (办结公示) ------------------------------------------------------------


def test_public_files_name_no_complainant(public: tuple[bytes, bytes]) -> None:
    docx_data, pdf_data = public
    for name, blob in docx_parts(docx_data).items():
        if not name.startswith("word/media/"):
            text = blob.decode("utf-8")
            assert "张三" not in text and "138****1234" not in text, name
    assert "投诉人" not in docx_paragraphs(docx_data)
    whole = "".join(pdf_pages(pdf_data))
    assert "张三" not in whole and "138****1234" not in whole and "投诉人" not in whole
    assert "环境信访案件办结公示" in whole
    with pymupdf.open(stream=pdf_data, filetype="pdf") as doc:
        assert "张三" not in str(doc.metadata)


def test_public_docx_images_carry_no_metadata(
    public: tuple[bytes, bytes], originals: list[bytes]
) -> None:
    media = [blob for name, blob in docx_parts(public[0]).items()
             if name.startswith("word/media/")]
    assert len(media) == 6
    for blob in media:
        assert blob not in originals  # re-encoded
        assert_no_metadata(blob)
    sizes = sorted(Image.open(io.BytesIO(b)).size for b in media if b[:2] == b"\xff\xd8")
    assert sizes == sorted(Image.open(io.BytesIO(o)).size for o in originals)


def test_public_pdf_images_carry_no_metadata(
    public: tuple[bytes, bytes], internal: tuple[bytes, bytes]
) -> None:
    images = pdf_images(public[1])
    assert len([i for i in images if i["ext"] in ("jpeg", "jpg")]) == 3
    for img in images:
        assert_no_metadata(img["image"])
    # The check above can fail: the internal file keeps the cameras' EXIF and GPS.
    exif = [i["image"] for i in pdf_images(internal[1]) if i["ext"] in ("jpeg", "jpg")]
    assert all(Image.open(io.BytesIO(e)).getexif().get_ifd(0x8825) for e in exif)


def test_public_pdf_still_has_every_photo_page_and_qr(
    public: tuple[bytes, bytes], cases: list[CaseSection]
) -> None:
    with pymupdf.open(stream=public[1], filetype="pdf") as doc:
        for photo in (p for c in cases for p in c.photos):
            [page] = [page for page in doc if photo.short_code in page.get_text()
                      and APPENDIX not in page.get_text()]
            assert decode_qr(page) == [photo.verify_url]
            assert f"说明：{photo.caption}" in flat(page.get_text())


# -- helpers: metadata stripping, QR codes -----------------------------------------------------


def _similar(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    return sum(ImageStat.Stat(diff).mean) / 3


def test_without_metadata_keeps_the_pixels_and_drops_gps(originals: list[bytes]) -> None:
    stripped = without_metadata(originals[0])
    assert_no_metadata(stripped)
    before, after = Image.open(io.BytesIO(originals[0])), Image.open(io.BytesIO(stripped))
    assert after.size == before.size
    assert _similar(before, after) < 2.0


@pytest.mark.parametrize("name", ["orientation/landscape_6.jpg", "orientation/portrait_8.jpg",
                                  "orientation/landscape_3.jpg"])
def test_without_metadata_keeps_the_picture_upright(name: str) -> None:
    data = (SAMPLES / name).read_bytes()
    assert Image.open(io.BytesIO(data)).getexif().get(0x0112) not in (None, 1)
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    after = Image.open(io.BytesIO(without_metadata(data)))
    assert after.size == upright.size
    assert _similar(upright, after) < 3.0
    assert_no_metadata(without_metadata(data))


def test_without_metadata_drops_icc_xmp_and_comment() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(
        out, "JPEG", icc_profile=icc, comment=b"resident: 13800001234",
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">GPS</x:xmpmeta>',
    )
    assert {0xE1, 0xE2, 0xFE} <= set(jpeg_markers(out.getvalue()))  # all three went in
    stripped = without_metadata(out.getvalue())
    assert_no_metadata(stripped)
    assert b"13800001234" not in stripped and b"xmpmeta" not in stripped


def test_qr_png_and_svg_encode_the_url() -> None:
    url = "https://fieldcase.example/v/7K3M-Q9TX"
    [result] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(url))))
    assert (result.format, result.text) == (zxingcpp.BarcodeFormat.QRCode, url)
    svg = qr_svg(url)
    assert svg.startswith("<?xml") and "<svg" in svg and "<script" not in svg
    assert qr_svg(url) == svg and qr_png(url) == qr_png(url)
