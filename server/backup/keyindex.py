"""A set of object keys, each with its archive entry, kept in a temporary SQLite file.

A backup at scale holds a million objects or more: as Python objects their keys and
entries would take hundreds of megabytes. A reader pairs an archive's members with the
entries of its list through this index in whatever order either comes, and the backup
checks the keys the database names against those it wrote, all with a few megabytes of
memory (SQLite's page cache) and the index's file on disk."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

_BATCH = 5000


class DuplicateKey(ValueError):
    """The same key added twice."""


class KeyIndex:
    def __init__(self, folder: Path | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="fieldcase-keys-", dir=folder)
        # Its own throwaway file: no journal, no fsync, nothing to recover after a crash.
        self._db = sqlite3.connect(Path(self._dir.name) / "keys.sqlite3",
                                   isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE keys (key TEXT PRIMARY KEY, entry TEXT, "
                         "taken INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID")
        self._pending: list[tuple[str, str | None]] = []
        self._db.execute("BEGIN")

    def add(self, key: str, entry: dict[str, Any] | None = None) -> None:
        self._pending.append((key, json.dumps(entry) if entry is not None else None))
        if len(self._pending) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        try:
            self._db.executemany("INSERT INTO keys (key, entry) VALUES (?, ?)", self._pending)
        except sqlite3.IntegrityError:
            # Which one: the batch's own duplicate or one added before.
            seen: set[str] = set()
            for key, _ in self._pending:
                if key in seen or self._db.execute("SELECT 1 FROM keys WHERE key = ?",
                                                   (key,)).fetchone():
                    raise DuplicateKey(key) from None
                seen.add(key)
            raise
        finally:
            self._pending.clear()

    def __contains__(self, key: object) -> bool:
        self.flush()
        return self._db.execute("SELECT 1 FROM keys WHERE key = ?", (key,)).fetchone() is not None

    def take(self, key: str) -> dict[str, Any] | None:
        """The key's entry, the first time it is asked for; None after, or if not held."""
        self.flush()
        row = self._db.execute("SELECT entry FROM keys WHERE key = ? AND taken = 0",
                               (key,)).fetchone()
        if row is None:
            return None
        self._db.execute("UPDATE keys SET taken = 1 WHERE key = ?", (key,))
        return json.loads(row[0]) if row[0] is not None else None

    def untaken(self) -> Iterator[dict[str, Any]]:
        """The entries never taken, in key order."""
        self.flush()
        for (entry,) in self._db.execute("SELECT entry FROM keys WHERE taken = 0 "
                                         "ORDER BY key"):
            if entry is not None:
                yield json.loads(entry)

    def untake_all(self) -> None:
        self.flush()
        self._db.execute("UPDATE keys SET taken = 0 WHERE taken = 1")

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()

    def __enter__(self) -> KeyIndex:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
