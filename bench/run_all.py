"""Run every benchmark, each in a process of its own, and summarise: `make bench` (full
sizes, one after another) and, in `make test`, `--quick` (small sizes, three at a time).

Each bench prints its figures as it goes (shown here, prefixed with its name) and, last, a
line `BENCH {json}` (bench/report.py) with its status against its target:
  PASS   every target met;
  FAIL   a target missed: reported, not an error (exit status unaffected);
  SKIP   a service it needs (PostgreSQL, SeaweedFS) is missing; never under CI=true, where
         the bench exits non-zero instead;
  ERROR  the bench crashed, exited non-zero, timed out or printed no BENCH line.
Exits 1 if any bench is ERROR, else 0. A crash in one bench never stops the others.
The quick pass judges nothing about speed (its sizes are too small to mean anything): it
shows that every bench still runs to the end and prints its figures.

Run: .venv/bin/python bench/run_all.py [--quick] [--jobs N] [--json FILE] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PREFIX = "BENCH "  # as bench/report.py prints it
# In the order `make bench` runs them; the quick pass starts the longest first.
BENCHES = ("completion", "pwa", "board", "memory", "requests", "closure_file", "intake_read",
           "repeats", "intake", "campaigns", "ledger", "hard_cases", "stats", "restore")
QUICK_ORDER = ("requests", "board", "pwa", "memory", "closure_file", "completion",
               "intake_read", "repeats", "intake", "campaigns", "ledger", "hard_cases",
               "stats", "restore")
TIMEOUT_S = {"full": 3600, "quick": 300}  # per bench; then SIGINT (its cleanup), then kill


@dataclass
class Outcome:
    name: str
    status: str = "ERROR"
    seconds: float = 0.0
    returncode: int | None = None
    record: dict[str, Any] = field(default_factory=dict)
    why: str = ""


def parse(name: str, lines: list[str], returncode: int | None, seconds: float) -> Outcome:
    """The outcome from a bench's exit status and its last BENCH line."""
    out = Outcome(name, seconds=seconds, returncode=returncode)
    found = next((line for line in reversed(lines) if line.startswith(PREFIX)), None)
    if returncode is None:
        out.why = "timed out"
    elif returncode != 0:
        out.why = f"exit status {returncode}"
    elif found is None:
        out.why = "no BENCH line (it did not run to the end)"
    else:
        try:
            out.record = json.loads(found[len(PREFIX):])
        except json.JSONDecodeError as exc:
            out.why = f"unreadable BENCH line ({exc})"
            return out
        if out.record.get("name") != name or out.record.get("status") not in (
                "PASS", "FAIL", "SKIP"):
            out.why = f"unexpected BENCH line: {found[:200]}"
            return out
        out.status = out.record["status"]
    return out


def run_one(name: str, quick: bool, lock: threading.Lock) -> Outcome:
    command = [sys.executable, "-u", str(HERE / f"bench_{name}.py"), *(["--quick"] * quick)]
    timeout = TIMEOUT_S["quick" if quick else "full"]
    with lock:
        print(f"[{name}] $ {' '.join(command)}", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace")
    timed_out = threading.Event()

    def stop() -> None:  # SIGINT first: the bench's `finally` stops its servers, drops its db
        timed_out.set()
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()

    timer = threading.Timer(timeout, stop)
    timer.start()
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            with lock:
                print(f"[{name}] {line}", flush=True)
        process.wait()
    finally:
        timer.cancel()
    seconds = time.perf_counter() - started
    out = parse(name, lines, None if timed_out.is_set() else process.returncode, seconds)
    if out.why == "timed out":
        out.why = f"timed out after {timeout} s"
    if out.status == "ERROR" and (last := next((x for x in reversed(lines) if x.strip()), "")):
        out.why += f": {last.strip()[:160]}"  # a traceback's last line says what broke
    with lock:
        print(f"[{name}] {out.status} in {seconds:.1f} s {out.why}".rstrip(), flush=True)
    return out


def figures_text(figures: dict[str, Any]) -> str:
    return "  ".join(f"{k}={v}" for k, v in figures.items())


def summary(outcomes: list[Outcome], quick: bool, wall: float) -> str:
    mode = "quick pass (sizes too small to judge speed: only ERROR fails)" if quick else "full"
    rows = [f"== bench summary, {mode}; {wall:.0f} s in all =="]
    for out in outcomes:
        target = out.record.get("target", "")
        rows.append(f"{out.name:<13} {out.status:<5} {out.seconds:6.1f} s  "
                    f"{target if out.record else out.why}")
        if out.record:
            rows.append(textwrap.fill(figures_text(out.record.get("figures", {})), 100,
                                      initial_indent=" " * 14, subsequent_indent=" " * 14))
            if out.record.get("missed"):
                rows.append(textwrap.fill("missed: " + "; ".join(out.record["missed"]), 100,
                                          initial_indent=" " * 14, subsequent_indent=" " * 16))
            for note in out.record.get("skipped", []):
                rows.append(f"{'':<13} skipped: {note}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("PASS", "FAIL", "SKIP", "ERROR")}
    rows.append(", ".join(f"{n} {s}" for s, n in counts.items())
                + ("  (FAIL: a target missed, reported; not an error)" if counts["FAIL"] else ""))
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"only these, of {', '.join(BENCHES)}")
    parser.add_argument("--quick", action="store_true", help="small sizes, a few runs")
    parser.add_argument("--jobs", type=int, help="benches at once (default: 1; quick: 3)")
    parser.add_argument("--json", type=Path, help="also write the outcomes here")
    args = parser.parse_args()
    names = args.names or list(BENCHES)
    if unknown := set(names) - set(BENCHES):
        parser.error(f"no such bench: {', '.join(sorted(unknown))}")
    jobs = args.jobs or (3 if args.quick else 1)
    order = [n for n in QUICK_ORDER if n in names] if jobs > 1 else names
    lock = threading.Lock()
    started = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        done = {out.name: out for out in pool.map(lambda n: run_one(n, args.quick, lock), order)}
    outcomes = [done[n] for n in names]
    text = summary(outcomes, args.quick, time.perf_counter() - started)
    print(text, flush=True)
    if args.json:
        args.json.write_text(json.dumps(
            [{"name": o.name, "status": o.status, "seconds": round(o.seconds, 1),
              "why": o.why, **o.record} for o in outcomes], ensure_ascii=False, indent=1))
    return 1 if any(o.status == "ERROR" for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
