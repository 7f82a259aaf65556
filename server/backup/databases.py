"""The database half of a backup: a consistent snapshot out, a restore in, row counts.

SQLite goes through its online backup API (a reader in WAL mode: the app keeps serving);
PostgreSQL through pg_dump's custom format, taken in a snapshot this module exports so
that the row counts in the manifest are the dump's. Nothing here knows the app's tables.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

__all__ = ["BackupError", "Snapshot", "count_rows", "dialect_of", "emptiness_problem",
           "restore_database", "snapshot"]


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, for the operator."""


@dataclass(frozen=True)
class Snapshot:
    path: Path  # the file to put in the archive
    member: str  # its name inside the archive
    tables: dict[str, int]  # rows per table, as of the snapshot
    migration_head: str | None


def dialect_of(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name}")
    return name


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump/pg_restore, and the environment with the password, which
    must never be an argument (`ps` shows arguments to every user)."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: `fieldcase backup` and `restore` on PostgreSQL run "
            f"{name} (Debian: apt install postgresql-client, of the server's major version or "
            "newer). Or follow README, \"Backup and restore\": pg_dump, pgBackRest and the "
            "object store's copy, with deploy/backup/.")
    return found


def _migration_head(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    heads = list(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    return ",".join(sorted(heads)) or None


def _counts(conn: sa.Connection) -> dict[str, int]:
    out = {}
    quote = conn.dialect.identifier_preparer.quote
    for table in sorted(sa.inspect(conn).get_table_names()):
        out[table] = int(conn.execute(sa.text(f"SELECT count(*) FROM {quote(table)}")).scalar_one())
    return out


@contextmanager
def _engine(url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def count_rows(url: str) -> dict[str, int]:
    """Rows per table now (after a restore, to compare with the manifest's)."""
    if dialect_of(url) == "sqlite" and not _sqlite_path(url).exists():
        return {}
    with _engine(url) as engine, engine.connect() as conn:
        return _counts(conn)


@contextmanager
def snapshot(url: str, work: Path) -> Iterator[Snapshot]:
    """A consistent copy of the database in `work`, with its row counts; removed after."""
    if dialect_of(url) == "sqlite":
        yield _sqlite_snapshot(url, work)
    else:
        with _pg_snapshot(url, work) as snap:
            yield snap


def _sqlite_snapshot(url: str, work: Path) -> Snapshot:
    source = _sqlite_path(url)
    if not source.exists():
        raise BackupError(f"no SQLite database at {source}")
    copy = work / "fieldcase.sqlite3"
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(copy)
    try:
        # One step (pages=-1): a single read transaction, so the copy is one moment's
        # state. Under WAL the app's writers go on meanwhile; only checkpoints wait.
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    with _engine(f"sqlite:///{copy}") as engine, engine.connect() as conn:
        tables, head = _counts(conn), _migration_head(conn)
    return Snapshot(copy, "database/fieldcase.sqlite3", tables, head)


@contextmanager
def _pg_snapshot(url: str, work: Path) -> Iterator[Snapshot]:
    pg_dump = _tool("pg_dump")
    dump = work / "fieldcase.pgdump"
    target, env = _libpq(url)
    with _engine(url) as engine, engine.connect() as conn:
        # The counts and pg_dump read the same exported snapshot, held while pg_dump runs.
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snap_id = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            tables, head = _counts(conn), _migration_head(conn)
            done = subprocess.run(
                [pg_dump, "--format=custom", "--no-owner", "--no-privileges",
                 f"--snapshot={snap_id}", f"--file={dump}", f"--dbname={target}"],
                env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed ({done.returncode}): {done.stderr.strip()[-800:]}")
    yield Snapshot(dump, "database/fieldcase.pgdump", tables, head)


def emptiness_problem(url: str) -> str | None:
    """Why the database may not take a restore (it holds data), or None. On SQLite a file
    whose tables are all empty may be overwritten; PostgreSQL must have no table at all
    (pg_restore creates them)."""
    dialect = dialect_of(url)
    if dialect == "sqlite" and not _sqlite_path(url).exists():
        return None
    with _engine(url) as engine, engine.connect() as conn:
        counts = _counts(conn)
    full = {t: n for t, n in counts.items() if n}
    if full:
        shown = ", ".join(f"{t}: {n}" for t, n in sorted(full.items())[:8])
        more = f" and {len(full) - 8} more" if len(full) > 8 else ""
        return (f"the database is not empty ({len(full)} table(s) with rows: {shown}{more}); "
                "restore goes onto a new, empty database")
    if dialect == "postgresql" and counts:
        return (f"the database already has {len(counts)} table(s) (empty, e.g. "
                f"{next(iter(counts))}); restore goes onto a newly created database")
    return None


def restore_database(url: str, dump: Path) -> None:
    """Load the archive's database file (already checked against its hash) into `url`."""
    if dialect_of(url) == "sqlite":
        if dump.suffix != ".sqlite3":
            raise BackupError("this archive holds a PostgreSQL dump: restore it onto "
                              "PostgreSQL (DATABASE_URL), not SQLite")
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        src, dst = sqlite3.connect(dump), sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)  # page by page into the (empty) target, in one transaction
        finally:
            dst.close()
            src.close()
        return
    if dump.suffix != ".pgdump":
        raise BackupError("this archive holds a SQLite database: restore it onto SQLite "
                          "(DATABASE_URL=sqlite:///...), not PostgreSQL")
    target, env = _libpq(url)
    done = subprocess.run(
        [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
         "--single-transaction", f"--dbname={target}", str(dump)],
        env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed ({done.returncode}); nothing was loaded "
                          f"(one transaction): {done.stderr.strip()[-800:]}")
