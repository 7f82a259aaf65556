"""One run at a time of a periodic task (sweep, reconcile, audit checkpoint), whichever
node's timer fires it.

Every node runs the same timers. On PostgreSQL the run takes a session-level advisory
lock, one key per task, on a connection of its own (autocommit: no transaction stays open
while the task runs, so no snapshot holds back VACUUM and no row is locked). A second
node that finds it held skips the run rather than queue behind it: the next tick comes
soon, and the task is written to be safe to repeat anyway. PostgreSQL frees the lock when
its connection ends, so a node killed mid-run does not keep it.

On SQLite (one machine) an exclusive `flock` on a file in the instance folder does the
same for two processes; the kernel frees it when the process dies.

The lock only excludes the same task: nothing else waits on it, so the task may call the
object store or the network while holding it. It needs a session of its own on the
server: behind PgBouncer, a session pool (or a direct connection), not a transaction pool,
which would hand the lock's server session to other clients between statements.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlalchemy as sa

from server.domain.core import runtime
from server.extensions import db

log = logging.getLogger(__name__)


def advisory_key(task: str) -> int:
    """A stable signed 64-bit key for the task (pg_advisory_lock takes a bigint); the
    prefix keeps Fieldcase's keys apart from any other application's in the database."""
    digest = hashlib.sha256(f"fieldcase:{task}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def exclusive(task: str, *, wait: bool = False) -> Iterator[bool]:
    """Yields True when this process runs the task (the lock is held until the block
    ends, even on error), False when another process holds it (skip the run). With
    `wait`, waits for the other to finish instead (then always True): for work every
    node must see done before it goes on, such as migrating the schema."""
    if db.engine.dialect.name == "postgresql":
        with _advisory(task, wait) as held:
            yield held
    else:
        with _file_lock(task, wait) as held:
            yield held


@contextmanager
def _advisory(task: str, wait: bool) -> Iterator[bool]:
    key = advisory_key(task)
    conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    # This connection sits idle while the task runs on others: an idle_session_timeout
    # (PostgreSQL 14+, set for the server or the role) would end it mid-run, and free the
    # lock for another node to run the task at once. Off for this session while it holds
    # the lock, and back to the server's before the pool hands the connection out again.
    timeout_off = (conn.dialect.server_version_info or (0,)) >= (14,)
    try:
        if timeout_off:
            conn.execute(sa.text("SET idle_session_timeout = 0"))
        if wait:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            held = True
        else:
            held = bool(conn.scalar(sa.text("SELECT pg_try_advisory_lock(:key)"),
                                    {"key": key}))
        try:
            yield held
        finally:
            if held:
                try:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                except sa.exc.SQLAlchemyError:
                    # The connection is gone, and the lock with it; make sure the pool
                    # does not hand it out again.
                    log.warning("run lock %s: unlock failed; dropping the connection", task,
                                exc_info=True)
                    conn.invalidate()
    finally:
        if timeout_off and not conn.invalidated:
            try:
                conn.execute(sa.text("RESET idle_session_timeout"))
            except sa.exc.SQLAlchemyError:
                conn.invalidate()  # not back to the pool with the timeout off
        with suppress(sa.exc.SQLAlchemyError):
            conn.close()


@contextmanager
def _file_lock(task: str, wait: bool) -> Iterator[bool]:
    folder = Path(runtime.setting("INSTANCE_PATH")) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{task}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
