"""The store's objects that the database's rows name, each kind by the context that owns
its rows: a context registers how to list them (as it is imported, server.domain.
load_contexts), and a backup checks that the store still holds every one. A backup copies
what the store has; without this check an object already lost there would be missing from
the archive too, and the restore (which checks the archive against its own manifest)
would not say so."""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator
from datetime import datetime, timedelta

# (before) -> the keys named by rows written before that moment (a row written since may
# name an object the backup listed before it was stored).
Lister = Callable[[datetime], Iterable[str]]
_LISTERS: dict[str, Lister] = {}
# Rows this much older than the backup's start are checked, the last minutes' are not: a
# row's time comes from the clock of the node that wrote it (nodes' clocks differ a little),
# and some rows take their time just before their object is written.
SETTLED = timedelta(minutes=5)


def register(what: str, lister: Lister) -> None:
    _LISTERS[what] = lister


def named_before(at: datetime) -> Iterator[tuple[str, str]]:
    """(what names it, key) for every object the rows written before `at` name."""
    for what, lister in sorted(_LISTERS.items()):
        for key in lister(at):
            yield what, key


def missing_from(keys: Container[str], started: datetime) -> list[tuple[str, str]]:
    """Those named by rows settled when the backup `started` that are not among `keys`
    (what the store held; a backup's index on disk, at scale)."""
    return [(what, key) for what, key in named_before(started - SETTLED) if key not in keys]
