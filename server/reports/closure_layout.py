"""The closure file's layout, one description both renderers draw (closure_file.py the
DOCX, closure_pdf.py the PDF): the page's geometry, the cover's head, rows and sign-off
block, a photo's lines, the appendix of hashes and ids, and how many photos share a page.

What an office files as is: "附件" and the issuing office at the head of each cover; the
cover names who handled and who approved the case, with the approver's opinion and dates
and a block to sign and stamp; the machine-facing hashes and ids are on an appendix page
at the end of each case, not on the cover. Labels are plain words ("摄影人", "地点") that
the renderers spread over a fixed width (分散对齐) instead of padding them with typed spaces,
so the text stays searchable.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from PIL import Image

from server.media.strip import without_metadata
from server.reports.packet import CaseSection, ClosurePacket, PhotoEntry
from server.reports.qr import qr_png

SHANGHAI = ZoneInfo("Asia/Shanghai")

# A4 and the margins of an office document, in mm; shared so both files look alike.
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 20.0, 18.0, 18.0
CONTENT_W = PAGE_W - 2 * MARGIN_X
QR_MM = 26.0  # with its quiet zone; ~0.7 mm modules for a version 3-4 code
LABEL_W = 32.0  # the cover's label column
LABEL_CHARS = 4  # labels are spread to the width of the longest, 摄影时间 / 承办单位

ATTACHMENT = "附件"
VERIFY_NOTE = (
    "照片核验：每张照片下方的二维码及短码对应该照片的证据记录（SHA-256 哈希值、拍摄时间、"
    "接收时间）；扫码或在核验页输入短码即可查看，并可上传照片文件核对是否一致。"
    "封存编号、哈希值及各项编号见本案附录。"
)
APPENDIX_TITLE = "附录：核验信息"
APPENDIX_NOTE = ("以上编号与哈希值供核验使用：封存哈希为封存清单（JSON）的 SHA-256，"
                 "照片哈希为原始文件的 SHA-256。")
# The sign-off block under the cover: (who signs, what they do), and the date line.
SIGN_OFF = (("承办人", "签字"), ("审核人", "签字"), ("承办单位", "盖章"))
DATE_LINE = "年    月    日"


@dataclass(frozen=True)
class Layout:
    """How the photo pages are laid out: one photo a page (the annex offices know), or two
    (half the pages: a 50-photo case on 25 pages)."""

    per_page: int
    heading_pt: float
    photo_max_h: float  # mm; the DOCX's fixed photo box (Word flows the rest itself)


LAYOUTS = {1: Layout(1, 16.0, 175.0), 2: Layout(2, 13.0, 74.0)}
PER_PAGE = tuple(LAYOUTS)


def layout_of(packet: ClosurePacket) -> Layout:
    if packet.photos_per_page not in LAYOUTS:
        raise ValueError(f"photos per page: one of {PER_PAGE}")
    return LAYOUTS[packet.photos_per_page]


def check(packet: ClosurePacket) -> None:
    if not packet.cases:
        raise ValueError("a closure packet holds at least one case")
    layout_of(packet)


def local(dt: datetime, tz: ZoneInfo) -> datetime:
    # SQLite hands back naive datetimes; everything the app stores is UTC.
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(tz)


def when(dt: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """2024年1月22日17:24 (the annex's style: no leading zeros in month and day)."""
    t = local(dt, tz)
    return f"{t.year}年{t.month}月{t.day}日{t.hour:02d}:{t.minute:02d}"


def day(dt: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    t = local(dt, tz)
    return f"{t.year}年{t.month}月{t.day}日"


def head(packet: ClosurePacket) -> tuple[str, str]:
    """The cover's head: "附件" at the top left and the issuing office above the title."""
    return ATTACHMENT, packet.office


def photo_lines(photo: PhotoEntry, tz: ZoneInfo = SHANGHAI) -> list[tuple[str, str]]:
    """The four (label, value) lines under a photo; the renderers spread the label."""
    return [
        ("摄影时间", when(photo.taken_at, tz)),
        ("摄影人", photo.photographer),
        ("地点", photo.place),
        ("说明", photo.caption),
    ]


def cover_rows(case: CaseSection, public: bool, tz: ZoneInfo = SHANGHAI) -> list[tuple[str, str]]:
    """(label, value) rows of a case's cover; no complainant in a public file, whatever the
    packet holds. No hash and no system id: those are on the appendix."""
    rows = [
        ("案件编号", case.case_id),
        ("投诉事项", case.subject),
        ("地址", case.address),
        ("类别", case.category),
        ("来源", case.channel),
        ("承办单位", case.unit),
        ("承办人", case.handlers or "—"),
        ("受理时间", when(case.received_at, tz)),
        ("办结时间", when(case.closed_at, tz) if case.closed_at else "未办结"),
    ]
    if not public and case.complainant:
        rows.append(("投诉人", case.complainant))
    rows += [
        ("调查结论", case.verdict),
        ("办理结果", case.result),
        ("回访情况", case.revisit),
        *([("领导批示", "\n".join(case.instructions))]
          if case.instructions and not public else []),
        ("答复情况", case.feedback or "无"),
        ("监测数据", "\n".join(case.readings) if case.readings else "无"),
        ("照片", f"{len(case.photos)} 张"),
        ("审核人", case.approver),
        ("审核意见", case.opinion or "同意办结"),
        ("审核时间", when(case.approved_at or case.sealed_at, tz)),
    ]
    return rows


def appendix_rows(case: CaseSection, tz: ZoneInfo = SHANGHAI) -> list[tuple[str, str]]:
    """The appendix of a case: its ids and hashes, the seal's and each photo's."""
    rows = [
        ("案件编号", case.case_id),
        ("系统编号", case.case_uuid or case.case_id),
        ("封存编号", f"第 {case.seal_number} 号"),
        ("封存时间", when(case.sealed_at, tz)),
        ("封存哈希", f"SHA-256 {case.seal_sha256}"),
    ]
    for i, photo in enumerate(case.photos, 1):
        rows.append((f"照片{i}", f"短码 {photo.short_code}\n证据编号 {photo.evidence_id}\n"
                                 f"SHA-256 {photo.sha256}"))
    return rows


@dataclass(frozen=True)
class Photo:
    entry: PhotoEntry
    jpeg: bytes  # what gets embedded
    width_px: int
    height_px: int
    qr: bytes  # PNG


def photos(case: CaseSection, public: bool) -> Iterator[Photo]:
    for entry in case.photos:
        jpeg = without_metadata(entry.image) if public else entry.image
        with Image.open(io.BytesIO(jpeg)) as img:  # reads the header only
            width, height = img.size
        yield Photo(entry, jpeg, width, height, qr_png(entry.verify_url))


def fit(photo: Photo, max_w: float, max_h: float) -> tuple[float, float]:
    """The photo's size in mm: as wide as allowed, aspect kept, never taller than max_h."""
    scale = min(max_w / photo.width_px, max_h / photo.height_px)
    return photo.width_px * scale, photo.height_px * scale
