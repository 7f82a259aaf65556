"""Reading a platform's 10,000-row sheet safely, against python-calamine alone.

Writes a realistic 12345 export (tests/intake_sheets.py: title rows, a merged two-row
header, every messy cell, the bad rows and a real formula) as .xlsx, then times, wall
clock, in the same run:
  reference: python-calamine alone reading the same file's first sheet (to_python);
  ours:      server.media.spreadsheets.read_sheet (content sniffing, the zip's checks, the
             formulas read from the sheet XML, the header found, blank rows left out).
Also, for information, the same rows as .csv (UTF-8) and .xls.
Target: ours <= 2x the reference + 0.25 s (the safety checks cost little beside reading;
calamine runs in a child process with capped memory, whose start is 0.1-0.2 s here).
The imports helper adds preview and confirm timings beside these: `read_only_seconds(path)`
is the reference, importable (`from bench_intake_read import read_only_seconds`).
Run: .venv/bin/python bench/bench_intake_read.py [-n RUNS] [--rows N] [--quick]
(exits 0 when the target is missed; --quick: 500 rows, 1 run)
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import python_calamine
from report import emit  # bench/report.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.media.spreadsheets import read_sheet  # noqa: E402
from tests.intake_sheets import KNOWN_HEADERS, make_12345_sheet  # noqa: E402

ROWS = 10_000
RATIO = 2.0
SLACK_S = 0.25  # the child process's start


def read_only_seconds(path: str | Path) -> float:
    """python-calamine alone reading the file's first sheet into Python rows: the floor
    any import of the same file is measured against."""
    data = Path(path).read_bytes()
    start = time.perf_counter()
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    rows = book.get_sheet_by_index(0).to_python()
    elapsed = time.perf_counter() - start
    assert rows
    return elapsed


def read_sheet_seconds(path: str | Path) -> float:
    data = Path(path).read_bytes()
    start = time.perf_counter()
    sheet = read_sheet(data, Path(path).name, known_headers=KNOWN_HEADERS)
    elapsed = time.perf_counter() - start
    assert sheet.rows
    return elapsed


def timed(fn: Callable[[], float], runs: int) -> list[float]:
    return [fn() for _ in range(runs)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--quick", action="store_true", help="500 rows, 1 run")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.runs = 500, 1

    with tempfile.TemporaryDirectory() as tmp:
        made = {fmt: make_12345_sheet(Path(tmp) / f"12345.{fmt}", fmt, rows=args.rows)
                for fmt in ("xlsx", "csv", "xls")}
        sizes = {fmt: m.path.stat().st_size for fmt, m in made.items()}
        xlsx = made["xlsx"].path
        read_only_seconds(xlsx)  # warm: imports done, the allocator grown
        read_sheet_seconds(xlsx)
        reference = timed(lambda: read_only_seconds(xlsx), args.runs)
        ours = timed(lambda: read_sheet_seconds(xlsx), args.runs)
        others = {fmt: (timed(lambda p=made[fmt].path: read_only_seconds(p), args.runs)
                        if fmt == "xls" else None,
                        timed(lambda p=made[fmt].path: read_sheet_seconds(p), args.runs))
                  for fmt in ("csv", "xls")}

    ref, got = statistics.median(reference), statistics.median(ours)
    ratio = got / ref
    print(f"{args.rows} rows (+ bad ones); xlsx {sizes['xlsx'] / 1e6:.2f} MB, "
          f"csv {sizes['csv'] / 1e6:.2f} MB, xls {sizes['xls'] / 1e6:.2f} MB; runs {args.runs}")
    print(f"{'reference (calamine alone, xlsx)':36} median {ref * 1e3:8.1f} ms")
    print(f"{'ours (read_sheet, xlsx)':36} median {got * 1e3:8.1f} ms  ratio {ratio:.2f}")
    for fmt, (alone, mine) in others.items():
        label = f"ours (read_sheet, {fmt})"
        line = f"{label:36} median {statistics.median(mine) * 1e3:8.1f} ms"
        if alone:
            line += f"  (calamine alone {statistics.median(alone) * 1e3:.1f} ms)"
        print(line)
    met = got <= RATIO * ref + SLACK_S
    print(f"target ours <= {RATIO:.0f}x reference + {SLACK_S * 1e3:.0f} ms: "
          f"{'PASS' if met else 'FAIL'}")
    emit("intake_read", {f"read_sheet <= {RATIO:.0f}x calamine + {SLACK_S * 1e3:.0f} ms": met},
         f"{args.rows}-row xlsx: read_sheet <= {RATIO:.0f}x calamine alone + "
         f"{SLACK_S * 1e3:.0f} ms (median)",
         {"rows": args.rows, "runs": args.runs, "calamine_ms": ref * 1e3, "ours_ms": got * 1e3,
          "ratio": ratio, "csv_ms": statistics.median(others["csv"][1]) * 1e3,
          "xls_ms": statistics.median(others["xls"][1]) * 1e3,
          "xlsx_mb": sizes["xlsx"] / 1e6}, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
