"""Peak memory of one photo completion's decode, for the largest file of each accepted
format (issue target: <= 200 MB each), beside a reference measured in the same run: the
growth from merely reading that file's bytes into memory.

Each measurement runs in a fresh Python process (ru_maxrss is a high-water mark). The
files are generated first: a 200 MP JPEG (the phones' largest mode), PNG, WebP and a
single-image HEIC at their full-decode limits (media.intake.FULL_DECODE_LIMITS), and a
48 MP HEIC as an iPhone saves it in "HEIF Max" (512 x 512 HEVC tiles, rotated by the
container, a thumbnail and EXIF: tests/heic_grid.py, cached in the temporary folder since
x265 takes 20 s or more to encode it), decoded tile by tile.
Run: .venv/bin/python bench/bench_memory.py [--quick]   (exits 0 when a target is missed;
prints the figures; --quick: each file 1/8 the width and height, a few MP)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_MB = 200
sys.path.insert(0, str(ROOT))
from report import emit  # noqa: E402  (bench/report.py, beside this script)

from server.media.intake import FULL_DECODE_LIMITS  # noqa: E402
from tests.heic_grid import cached_heic  # noqa: E402


def _four_three(pixels: int) -> tuple[int, int]:
    """The largest 4:3 image within `pixels` (what phone cameras shoot)."""
    height = int((pixels * 3 / 4) ** 0.5)
    return height * 4 // 3, height


FILES = (  # format, width, height: the largest each may be
    ("JPEG", 16320, 12240),
    *((fmt, *_four_three(limit)) for fmt, limit in FULL_DECODE_LIMITS.items()),
    ("HEIC_GRID", 8064, 6048),  # 48 MP "HEIF Max", stored landscape
)
MAKE = r"""
import sys
from PIL import Image, ImageDraw
import pillow_heif
pillow_heif.register_heif_opener()
Image.MAX_IMAGE_PIXELS = None
fmt, w, h, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
img = Image.effect_noise((w // 8, h // 8), 40).convert("RGB").resize((w, h))
ImageDraw.Draw(img).rectangle((w // 4, h // 4, w // 2, h // 2), fill=(200, 180, 40))
img.save(out, format=fmt, **({"quality": 80} if fmt in ("JPEG", "WEBP", "HEIF") else {}))
"""
MEASURE = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[3])
from PIL import Image
Image.MAX_IMAGE_PIXELS = 250_000_000
from server.media import read_image
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[2] == "decode":
    with open(sys.argv[1], "rb") as fp:
        read_image(fp, max_pixels=50_000_000, max_jpeg_pixels=250_000_000)
else:
    data = open(sys.argv[1], "rb").read()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024))
"""


def measure(path: Path, what: str) -> float:
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path), what, str(ROOT)],
                         check=True, capture_output=True, text=True, timeout=600)
    return float(json.loads(out.stdout))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="each file 1/8 the width and height: does it still run?")
    args = parser.parse_args()
    scale = 8 if args.quick else 1
    figures: dict[str, float] = {}
    met: dict[str, bool] = {}
    skipped: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, full_w, full_h in FILES:
            w, h = full_w // scale, full_h // scale
            path = Path(tmp) / f"largest.{fmt.lower()}"
            started = time.perf_counter()
            try:
                if fmt == "HEIC_GRID":
                    path = cached_heic(w, h)
                else:
                    subprocess.run([sys.executable, "-c", MAKE, fmt, str(w), str(h), str(path)],
                                   check=True, capture_output=True, timeout=900)
            except (subprocess.SubprocessError, OSError) as exc:
                print(f"memory bench: {fmt} not generated ({exc}); skipped")
                skipped.append(f"{fmt} not generated")
                continue
            made = time.perf_counter() - started
            reference = measure(path, "read")
            decode = measure(path, "decode")
            print(f"completion decode, largest {fmt:<9} {w}x{h} ({w * h / 1e6:.0f} MP, "
                  f"{path.stat().st_size / 1e6:.1f} MB file, made or found in {made:.0f} s): "
                  f"peak growth {decode:6.1f} MB (target <= {TARGET_MB} MB); "
                  f"reading its bytes alone {reference:5.1f} MB; "
                  f"ratio {decode / max(reference, 1):.1f}")
            figures[f"{fmt}_MP"] = w * h / 1e6
            figures[f"{fmt}_peak_mb"], figures[f"{fmt}_read_mb"] = decode, reference
            met[f"{fmt} <= {TARGET_MB} MB"] = decode <= TARGET_MB
    emit("memory", met, f"peak growth of one completion <= {TARGET_MB} MB, each format",
         figures, args.quick, skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
