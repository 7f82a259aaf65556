"""CPU cost of the upload completion step vs libvips (reports; always exits 0).

Ours:    SHA-256 of the file in 1 MiB chunks + read_image (EXIF + both thumbnails).
libvips: thumbnail_buffer(data, 1600) and (data, 320), each saved as JPEG Q=82.

CPU time is time.process_time(), i.e. summed over all threads: libvips uses several
threads, so this compares work done, not latency.
Run: .venv/bin/python bench/bench_completion.py [-n RUNS] [--quick]   (--quick: 2 runs)
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from report import emit  # bench/report.py, beside this script

from server.media import THUMB_SIZES, read_image  # the project is installed (editable)

DEFAULT_PHOTO = (
    Path(__file__).resolve().parents[2] / "shared/samples/photos/phones/HMD_Nokia_8.3_5G.jpg"
)
CHUNK = 1 << 20


def ours(path: Path) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        while chunk := fp.read(CHUNK):
            digest.update(chunk)
        digest.hexdigest()
        read_image(fp)


def vips(data: bytes) -> None:
    import pyvips

    for _, box in THUMB_SIZES:
        pyvips.Image.thumbnail_buffer(data, box).jpegsave_buffer(Q=82)


def cpu_times(steps: list[Callable[[], None]], runs: int) -> list[list[float]]:
    """CPU seconds per run for each step; runs are interleaved so that both sides
    see the same machine conditions (frequency scaling, noisy neighbours)."""
    for step in steps:
        step()  # warm-up: imports, library init, page cache
    times: list[list[float]] = [[] for _ in steps]
    for _ in range(runs):
        for step, bucket in zip(steps, times, strict=True):
            start = time.process_time()
            step()
            bucket.append(time.process_time() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("-n", "--runs", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="2 runs: does it still run?")
    args = parser.parse_args()
    if args.quick:
        args.runs = 2

    import pyvips

    pyvips.cache_set_max(0)  # same buffer every run: without this vips replays its cache
    data = args.photo.read_bytes()
    mine, theirs = cpu_times([lambda: ours(args.photo), lambda: vips(data)], args.runs)

    print(f"photo: {args.photo.name} ({len(data) / 1e6:.1f} MB), runs: {args.runs}")
    print(f"thumb sizes: {THUMB_SIZES}; libvips {pyvips.version(0)}.{pyvips.version(1)}")
    print(
        f"ours  (sha256 + read_image): best {min(mine) * 1e3:7.1f} ms  "
        f"median {statistics.median(mine) * 1e3:7.1f} ms CPU"
    )
    print(
        f"vips  (thumbnail_buffer x2): best {min(theirs) * 1e3:7.1f} ms  "
        f"median {statistics.median(theirs) * 1e3:7.1f} ms CPU"
    )
    ratio_best = min(mine) / min(theirs)
    ratio_median = statistics.median(mine) / statistics.median(theirs)
    print(f"ratio ours/libvips: best {ratio_best:.2f}  median {ratio_median:.2f}")
    print(f"target <= 1.0: {'PASS' if ratio_median <= 1.0 else 'FAIL'} (on the median)")
    emit("completion", {"ratio <= 1.0": ratio_median <= 1.0},
         "CPU ratio ours/libvips <= 1.0 (median)",
         {"ours_ms": statistics.median(mine) * 1e3, "libvips_ms": statistics.median(theirs) * 1e3,
          "ratio": ratio_median, "runs": args.runs}, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
