"""The closure packet: everything a closure file shows, as plain data.

The lead builds it from the database rows and the stored thumbnails; the renderers in
closure_file.py turn it into DOCX and PDF and never touch the database or the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PhotoEntry:
    evidence_id: str
    short_code: str  # "7K3M-Q9TX", printed under the QR code
    verify_url: str  # what the QR code encodes, e.g. https://host/v/7K3M-Q9TX
    heading: str  # e.g. "城中生态环境局现场检查照片" (the place's heading)
    taken_at: datetime  # aware; printed in Asia/Shanghai as 2024年1月22日17:24
    photographer: str
    place: str
    caption: str  # 说明
    sha256: str
    image: bytes  # JPEG bytes of the stored "large" thumbnail (<= 1600 px)


@dataclass(frozen=True)
class CaseSection:
    case_id: str
    subject: str
    address: str
    category: str  # Chinese label, e.g. 社会生活噪声
    channel: str  # Chinese label, e.g. 12345热线
    unit: str  # responsible unit's name
    received_at: datetime
    closed_at: datetime | None
    complainant: str | None  # "张三 138****1234"; None in the public version
    verdict: str  # 属实 / 部分属实 / 不属实
    result: str  # 办理结果 (the measures taken)
    revisit: str  # one line, e.g. "电话回访 2024年5月20日 满意" or "无法联系：空号"
    readings: list[str]  # one line per noise reading, e.g. "夜间 52.3 dB(A)，限值 45，超标"
    seal_number: int
    seal_sha256: str
    sealed_at: datetime
    approver: str
    photos: list[PhotoEntry]
    # The cover's sign-off (defaults keep older packets drawable): who handled the case
    # (承办人, its assignees), the approver's opinion (审核意见, the approval's note) and
    # when it was approved; the ids the appendix lists beside the hashes.
    handlers: str = ""
    opinion: str = ""
    approved_at: datetime | None = None
    case_uuid: str = ""  # the case's id in the system (the appendix); case_id is printed
    # Leaders' instructions (领导批示), oldest first, one line each: "王局长 2024年5月16日
    # 09:00：请街道三日内办结" (never in a public file); and how and when the complainant
    # was told the result (答复), e.g. "电话答复 2024年5月20日10:00 已告知整改情况".
    instructions: tuple[str, ...] = ()
    feedback: str = ""


@dataclass(frozen=True)
class ClosurePacket:
    title: str  # e.g. "环境信访案件办结材料" / "环境信访案件办结公示"
    public: bool  # True: 办结公示 (photos re-encoded without EXIF/GPS by the renderer)
    generated_at: datetime
    cases: list[CaseSection]
    office: str = ""  # the issuing office (发文单位), at the head of each cover
    photos_per_page: int = 1  # 1, or 2 so that 50 photos are 25 pages, not 50
