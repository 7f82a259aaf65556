"""What every benchmark prints last, for bench/run_all.py: one line

    BENCH {"name": ..., "status": "PASS"|"FAIL"|"SKIP", "target": ..., "figures": {...},
           "quick": bool, "missed": [targets missed], "skipped": [...]}

PASS: every target met; FAIL: a target missed (reported, not an error); SKIP: a service it
needs (PostgreSQL, SeaweedFS) is missing, outside CI only: under CI=true a missing service
is an error (`unavailable` exits 2), as in the test suite. A bench that crashes prints no
such line, and run_all.py counts it as ERROR.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

IN_CI = os.environ.get("CI") == "true"
PREFIX = "BENCH "


def unavailable(what: str) -> str:
    """A service is missing: a skip on a developer's machine, an error under CI=true.
    Returns the note to pass to `emit(skipped=...)`."""
    print(what, flush=True)
    first = what.splitlines()[0]
    if IN_CI:
        print(f"CI needs this: {first}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(f"skipped: {first}", flush=True)
    return first


def emit(name: str, met: dict[str, bool], target: str, figures: dict[str, Any], quick: bool,
         skipped: list[str] | None = None) -> None:
    """Print the machine-readable last line. `met`: each target checked (e.g. "red p95 <=
    50 ms") and whether it was met; empty when everything was skipped."""
    status = "SKIP" if not met else ("PASS" if all(met.values()) else "FAIL")
    record = {"name": name, "status": status, "target": target, "quick": quick,
              "missed": [what for what, ok in met.items() if not ok],
              "figures": {k: round(v, 3) if isinstance(v, float) else v
                          for k, v in figures.items()},
              "skipped": skipped or []}
    print(PREFIX + json.dumps(record, ensure_ascii=False), flush=True)
