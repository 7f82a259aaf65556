"""Rate-limit counters in a SQLite file, shared exactly by every worker on one machine.

flask-limiter's memory:// counts in each process, so with two gunicorn workers each
would allow the whole login and upload limit (twice as loose). Redis shares them between
machines; for one machine without Redis (`make run`), this `limits` storage keeps the
fixed-window counters in a small SQLite file in the instance folder, which every process
updates under SQLite's own lock: the limits stay as exact as with one process.

    RATELIMIT_STORAGE_URI=fieldcase-sqlite:///path/to/instance/ratelimits.sqlite

Registered by importing this module (limits' storage registry is keyed by scheme). Only the
fixed-window strategy (flask-limiter's default) is supported; asking for another one
fails at start, never silently. Not for several machines: each has its own file.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import ClassVar

from limits.storage import Storage

SCHEME = "fieldcase-sqlite"

_SCHEMA = """CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL)"""
# One statement, hence atomic across processes: a window that has ended starts again.
_INCR = """INSERT INTO counters (key, value, expires_at) VALUES (:key, :amount, :expires)
ON CONFLICT (key) DO UPDATE SET
    value = CASE WHEN expires_at <= :now THEN :amount ELSE value + :amount END,
    expires_at = CASE WHEN expires_at <= :now THEN :expires ELSE expires_at END
RETURNING value"""
# Expired rows are removed now and then rather than on every hit.
_PURGE_EVERY = 512


class SQLiteLimitStorage(Storage):
    STORAGE_SCHEME: ClassVar[list[str]] = [SCHEME]  # limits registers the class by it

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False,
                 **options: float | str | bool) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        path = (uri or "").split("://", 1)[-1]
        if not path or path == uri:
            raise ValueError(f"{SCHEME}:// needs a file path, e.g. {SCHEME}:///var/lib/x.sqlite")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._pid = os.getpid()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._pid != os.getpid():  # never a connection from before a fork
            # Autocommit: each statement is its own transaction. WAL with synchronous=NORMAL
            # does not fsync each hit; a power loss may forget the last hits (the window
            # restarts), never corrupt the file. Counters are no record worth an fsync.
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._local.conn, self._pid = conn, os.getpid()
        return conn

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        conn = self._conn()
        if random.randrange(_PURGE_EVERY) == 0:
            conn.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
        row = conn.execute(_INCR, {"key": key, "amount": amount, "now": now,
                                   "expires": now + expiry}).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        row = self._conn().execute(
            "SELECT value FROM counters WHERE key = ? AND expires_at > ?",
            (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        now = time.time()
        row = self._conn().execute(
            "SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?",
            (key, now)).fetchone()
        return float(row[0]) if row else now

    def check(self) -> bool:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return self._conn().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._conn().execute("DELETE FROM counters WHERE key = ?", (key,))
