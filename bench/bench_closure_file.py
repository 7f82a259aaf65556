"""A closure file of 50 photos, DOCX and PDF together, against reading its thumbnails back.

Makes 50 distinct 1600 px JPEG thumbnails (4:3 and 3:4 crops of the sample photos in
shared/samples, quality 82 as the intake writes them), stores them with LocalStorage in a
temp dir, then times, wall clock, in the same run:
  reference: reading the 50 thumbnails back from the store;
  ours:      reading them + render_docx + render_pdf of one case with those 50 photos.
The public version (every photo re-encoded without metadata) is timed too, for information.
Target: ours <= 5 s on this 2-core machine (on the median).
Run: .venv/bin/python bench/bench_closure_file.py [-n RUNS] [--quick]   (exits 0 when the
target is missed; --quick: 5 photos, 1 run)
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageOps
from report import emit  # bench/report.py, beside this script

from server.reports import CaseSection, ClosurePacket, PhotoEntry, render_docx, render_pdf
from server.reports.qr import qr_png
from server.storage import LocalStorage

SAMPLES = Path(__file__).resolve().parents[2] / "shared/samples/photos"
SOURCES = ("phones/HMD_Nokia_8.3_5G.jpg", "phones/iphone_hdr_NO.jpg", "phones/jolla.jpg",
           "phones/no_exif.jpg", "gps/DSCN0010.jpg", "gps/DSCN0021.jpg", "gps/DSCN0040.jpg")
PHOTOS = 50
LONG_EDGE = 1600
TARGET_S = 5.0


def make_thumbnails(n: int) -> list[bytes]:
    """n different upright 1600 px JPEGs: random 4:3 / 3:4 windows of the sample photos."""
    rng = random.Random(9)
    sources = []
    for name in SOURCES:
        with Image.open(SAMPLES / name) as img:
            sources.append(ImageOps.exif_transpose(img).convert("RGB"))
    thumbs = []
    for i in range(n):
        src = sources[i % len(sources)]
        aspect = 3 / 4 if i % 5 == 4 else 4 / 3  # every fifth photo portrait
        w, h = src.size
        cw = min(w, round(h * aspect)) * rng.uniform(0.75, 1.0)
        ch = cw / aspect
        x, y = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
        crop = src.crop((round(x), round(y), round(x + cw), round(y + ch)))
        size = (LONG_EDGE, round(LONG_EDGE / aspect)) if aspect > 1 else (
            round(LONG_EDGE * aspect), LONG_EDGE)
        out = io.BytesIO()
        crop.resize(size, Image.Resampling.BICUBIC).save(out, "JPEG", quality=82)
        thumbs.append(out.getvalue())
    return thumbs


def packet(images: list[bytes], public: bool) -> ClosurePacket:
    t0 = datetime(2024, 5, 16, 14, 15, tzinfo=UTC)
    photos = [
        PhotoEntry(
            evidence_id=f"ev-{i:03d}", short_code=f"7K3M-Q{i:03d}",
            verify_url=f"https://fieldcase.example/v/7K3M-Q{i:03d}",
            heading="柳州市城中生态环境局现场检查照片", taken_at=t0 + timedelta(minutes=7 * i),
            photographer="韦钧瀚", place="柳州市城中区时代商厦",
            caption="联合市公安局城中分局、区文旅局、青云社区对第玖季酒吧噪声扰民情况进行现场检查",
            sha256=f"{i:064x}", image=image,
        )
        for i, image in enumerate(images)
    ]
    case = CaseSection(
        case_id="C-2024-0001", subject="第玖季酒吧夜间噪声扰民", address="柳州市城中区时代商厦5楼",
        category="社会生活噪声", channel="12345热线", unit="城中生态环境局",
        received_at=t0 - timedelta(days=3), closed_at=t0 + timedelta(days=4),
        complainant=None if public else "张三 138****1234", verdict="属实",
        result="责令酒吧加装隔音设施，22时后降低音量。", revisit="电话回访 2024年5月20日 满意",
        readings=["夜间 52.3 dB(A)，限值 45，超标"], seal_number=1, seal_sha256="ab" * 32,
        sealed_at=t0 + timedelta(days=4), approver="覃松", photos=photos,
    )
    title = "环境信访案件办结公示" if public else "环境信访案件办结材料"
    return ClosurePacket(title, public, t0 + timedelta(days=5), [case])


def timed(step: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--photos", type=int, default=PHOTOS)
    parser.add_argument("--quick", action="store_true", help="5 photos, 1 run: does it still run?")
    args = parser.parse_args()
    if args.quick:
        args.photos, args.runs = 5, 1

    thumbs = make_thumbnails(args.photos)
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStorage(tmp)
        keys = [f"thumbs/{i:03d}/large.jpg" for i in range(args.photos)]
        for key, data in zip(keys, thumbs, strict=True):
            store.put(key, io.BytesIO(data), content_type="image/jpeg")

        def read_all() -> list[bytes]:
            return [b"".join(store.iter_chunks(key)) for key in keys]

        def render(public: bool) -> tuple[int, int]:
            qr_png.cache_clear()  # every run draws its QR codes anew (once for both files)
            pk = packet(read_all(), public)
            return len(render_docx(pk)), len(render_pdf(pk))

        start = time.perf_counter()
        docx_size, pdf_size = render(False)  # cold: imports done, font parsed for the first time
        cold = time.perf_counter() - start
        read_all()
        reference = timed(read_all, args.runs)
        ours = timed(lambda: render(False), args.runs)
        public = timed(lambda: render(True), args.runs)

    mean_kb = sum(map(len, thumbs)) / len(thumbs) / 1024
    print(f"{args.photos} thumbnails, {LONG_EDGE} px, mean {mean_kb:.0f} KB; runs: {args.runs}")
    print(f"DOCX {docx_size / 1e6:.1f} MB, PDF {pdf_size / 1e6:.1f} MB; first render {cold:.2f} s")
    rows = ((f"reference (read {args.photos} thumbnails)", reference),
            ("ours (read + DOCX + PDF)", ours), ("public (read + strip + DOCX + PDF)", public))
    for label, times in rows:
        print(f"{label:36} best {min(times) * 1e3:8.1f} ms  "
              f"median {statistics.median(times) * 1e3:8.1f} ms")
    ratio = statistics.median(ours) / statistics.median(reference)
    print(f"ratio ours/reference: median {ratio:.1f}")
    verdict = "PASS" if statistics.median(ours) <= TARGET_S else "FAIL"
    print(f"target ours <= {TARGET_S:.0f} s: {verdict} (median {statistics.median(ours):.2f} s)")
    emit("closure_file", {f"median <= {TARGET_S:.0f} s": statistics.median(ours) <= TARGET_S},
         f"{args.photos} photos, read + DOCX + PDF <= {TARGET_S:.0f} s (median)",
         {"photos": args.photos, "runs": args.runs, "ours_s": statistics.median(ours),
          "reference_ms": statistics.median(reference) * 1e3, "ratio": ratio,
          "public_s": statistics.median(public), "first_render_s": cold,
          "docx_mb": docx_size / 1e6, "pdf_mb": pdf_size / 1e6}, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
