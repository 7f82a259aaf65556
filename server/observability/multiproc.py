"""gunicorn's workers' metric files: a dead worker's counts folded into one file.

prometheus-client's multiprocess mode keeps a file per process and type
(counter_<pid>.db, histogram_<pid>.db) and every scrape reads them all. gunicorn recycles a
worker every GUNICORN_MAX_REQUESTS requests, so without folding a busy instance would
gather thousands of files between restarts and each scrape would read every one. When a
worker exits (gunicorn's child_exit, in the master) its counter and histogram values are
added into counter_archive.db / histogram_archive.db and its files removed: the sums a
scrape shows do not change, and the folder holds the live workers' files and one archive
per type. (Counters, histograms and summaries only: they add up. Fieldcase keeps no gauge
in a worker.)

A scrape reads the folder under a shared lock and the fold runs under an exclusive one, so
a scrape never sees a worker's counts twice (archive and file) or not at all, which
Prometheus would take for a counter reset; and never misses a file removed under it.

Only the standard library and prometheus-client's file format here: gunicorn.conf.py
imports this in the master.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client.mmap_dict import MmapedDict

ADDITIVE = ("counter", "histogram", "summary")
LOCK_NAME = "fold.lock"  # not *.db: prometheus-client reads only those


@contextmanager
def folder_lock(folder: str | Path, *, exclusive: bool) -> Iterator[None]:
    with open(Path(folder) / LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def fold_dead_worker(pid: int, folder: str | Path) -> int:
    """Add a dead worker's values into the archive files and remove its own; the number
    of files folded."""
    folder = Path(folder)
    folded = 0
    with folder_lock(folder, exclusive=True):
        for kind in ADDITIVE:
            dead = folder / f"{kind}_{pid}.db"
            if not dead.exists():
                continue
            archive = MmapedDict(str(folder / f"{kind}_archive.db"))
            try:
                for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(
                        str(dead)):
                    before, _ = archive.read_value(key)
                    archive.write_value(key, before + value, 0.0)
            finally:
                archive.close()
            dead.unlink()
            folded += 1
    return folded
