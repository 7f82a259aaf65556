"""One archive per backup: a streamed tar of the database snapshot, every object of the
store and, last, manifest.json (written last because the objects' hashes are taken as
they stream; a reader finds it through the tar's index).

    database/fieldcase.sqlite3 | database/fieldcase.pgdump
    objects/<key>              one member per object, its bytes as stored
    manifest.json              format, times, versions, row counts, every object's
                               key, size, sha256 and content type

Keys are never in the archive: the caller records what it is told to (the audit public
key, key check values) under "keys" and says there what was left out.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from server.storage import ObjectNotFound, Storage, StorageError, validate_key

from .databases import (
    BackupError,
    count_rows,
    dialect_of,
    emptiness_problem,
    restore_database,
    snapshot,
)

__all__ = ["FORMAT", "MANIFEST", "Finding", "RestoreReport", "check_archive", "make_backup",
           "read_manifest", "restore"]

FORMAT = "fieldcase-backup/1"
MANIFEST = "manifest.json"
OBJECTS = "objects/"
_CHUNK = 1 << 20
# Restore: objects up to _SMALL are read whole and written by _WRITERS threads, at most
# _HELD_BYTES of them waiting; larger ones are streamed one at a time.
_SMALL = 8 << 20
_WRITERS = 8
_HELD_BYTES = 64 << 20


@dataclass(frozen=True)
class Finding:
    """One thing wrong with an archive or a restore, named for the operator."""

    what: str  # "object KEY", "database", "table NAME", "member NAME"
    detail: str

    def __str__(self) -> str:
        return f"{self.what}: {self.detail}"


class _Hashing:
    """A file-like view of chunks that hashes and counts what is read through it, and
    refuses more than `size` bytes (tarfile reads exactly the header's size)."""

    def __init__(self, chunks: Iterator[bytes], size: int) -> None:
        self._chunks, self._size = chunks, size
        self._chunk, self._at = b"", 0  # the current chunk and how much of it is read
        self.read_bytes = 0
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        parts: list[bytes] = []
        want = n if n >= 0 else None
        while want is None or want > 0:
            if self._at >= len(self._chunk):
                self._chunk, self._at = next(self._chunks, b""), 0
                if not self._chunk:
                    break
            end = len(self._chunk) if want is None else min(len(self._chunk),
                                                            self._at + want)
            parts.append(self._chunk[self._at:end])
            if want is not None:
                want -= end - self._at
            self._at = end
        out = b"".join(parts)
        self.read_bytes += len(out)
        self.sha256.update(out)
        return out

    def has_more(self) -> bool:
        return self._at < len(self._chunk) or bool(next(self._chunks, b""))


class _HashingFile:
    """Hashes what a consumer (Storage.put) reads from an archive member."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw, self.sha256, self.read_bytes = raw, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        out = self._raw.read(n)
        self.sha256.update(out)
        self.read_bytes += len(out)
        return out


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(mtime), 0o600
    return info


def make_backup(out: BinaryIO, *, database_url: str, storage: Storage,
                keys: dict[str, Any], app_version: str,
                progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Write the archive to `out` (streamed: nothing is held whole in memory); returns
    its manifest. The database snapshot comes first, then the objects as listed after
    it, so every object the snapshot's rows name is there (objects are written before
    the rows that name them, and evidence is never deleted)."""
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="fieldcase-backup-") as tmp, \
            snapshot(database_url, Path(tmp)) as snap, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        progress(f"database snapshot: {sum(snap.tables.values())} rows in "
                 f"{len(snap.tables)} tables")
        db_size = snap.path.stat().st_size
        with open(snap.path, "rb") as f:
            reader = _Hashing(iter(lambda: f.read(_CHUNK), b""), db_size)
            tar.addfile(_member(snap.member, db_size, time.time()), reader)
        database = {"dialect": dialect_of(database_url), "member": snap.member,
                    "size": db_size, "sha256": reader.sha256.hexdigest(),
                    "migration_head": snap.migration_head, "tables": snap.tables}
        objects = []
        for info in storage.list(""):
            entry = _add_object(tar, storage, info.key, info.size,
                                info.last_modified.timestamp())
            if entry is not None:
                objects.append(entry)
                if len(objects) % 1000 == 0:
                    progress(f"{len(objects)} objects")
        manifest = {
            "format": FORMAT,
            "created_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "app_version": app_version,
            "migration_head": snap.migration_head,
            "database": database,
            "store": storage.alias,
            "object_count": len(objects),
            "object_bytes": sum(o["size"] for o in objects),
            "objects": objects,
            "keys": keys,
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
        tar.addfile(_member(MANIFEST, len(data), time.time()), io.BytesIO(data))
    return manifest


def _add_object(tar: tarfile.TarFile, storage: Storage, key: str, size: int,
                mtime: float) -> dict[str, Any] | None:
    try:
        # Opened before the header is written: an object gone since the listing (a
        # staging leftover reconcile removed) is skipped, never half-written.
        content_type = storage.head(key).content_type
        chunks = storage.iter_chunks(key, _CHUNK)
    except ObjectNotFound:
        return None
    try:
        reader = _Hashing(iter(chunks), size)
        tar.addfile(_member(OBJECTS + key, size, mtime), reader)
        if reader.has_more():
            raise BackupError(f"object {key} grew while it was copied; run the backup again")
    except OSError as exc:  # tarfile: "unexpected end of data" (it shrank)
        raise BackupError(f"object {key} changed while it was copied ({exc}); run the "
                          "backup again") from exc
    except StorageError as exc:
        raise BackupError(f"object {key} could not be read: {exc}") from exc
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return {"key": key, "size": size, "sha256": reader.sha256.hexdigest(),
            "content_type": content_type}


# -- reading -----------------------------------------------------------------------------

def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{path} is not a readable backup archive: {exc}") from exc


def _manifest_of(tar: tarfile.TarFile, path: Path) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
        raw = tar.extractfile(member)
        manifest = json.loads(raw.read()) if raw else None
    except KeyError:
        raise BackupError(f"{path} has no {MANIFEST}: not a Fieldcase backup, or cut short "
                          "(the manifest is written last)") from None
    except (ValueError, tarfile.TarError, OSError) as exc:
        raise BackupError(f"{path}: {MANIFEST} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise BackupError(f"{path}: unknown backup format {got!r} (this version reads "
                          f"{FORMAT})")
    if problem := _shape_problem(manifest):
        raise BackupError(f"{path}: {MANIFEST} is damaged or forged ({problem}). Nothing "
                          "was written.")
    return manifest


# The database members a backup writes (databases.snapshot): nothing else is unpacked.
_DATABASE_MEMBERS = frozenset({"database/fieldcase.sqlite3", "database/fieldcase.pgdump"})


def _shape_problem(manifest: dict[str, Any]) -> str | None:
    """What in the manifest is not as a backup writes it, checked before anything is
    read by it: a forged or damaged one is refused in words, never with a traceback."""
    database = manifest.get("database")
    if not isinstance(database, dict) or database.get("member") not in _DATABASE_MEMBERS:
        return "its database entry"
    if not isinstance(database.get("size"), int) or not isinstance(database.get("sha256"), str):
        return "the database's size or hash"
    tables = database.get("tables")
    if not isinstance(tables, dict) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in tables.items()):
        return "the database's row counts"
    if not isinstance(manifest.get("migration_head"), str | None):
        return "its migration"
    if not isinstance(manifest.get("keys", {}), dict):
        return "its keys' entry"
    objects = manifest.get("objects")
    if not isinstance(objects, list):
        return "its list of objects"
    for entry in objects:
        if not (isinstance(entry, dict) and isinstance(entry.get("key"), str)
                and isinstance(entry.get("size"), int)
                and isinstance(entry.get("sha256"), str)
                and isinstance(entry.get("content_type", ""), str | None)):
            return f"an object entry: {str(entry)[:80]!r}"
    return None


def read_manifest(path: Path) -> dict[str, Any]:
    with _open(path) as tar:
        return _manifest_of(tar, path)


def _members(tar: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    return {m.name: m for m in tar.getmembers() if m.isfile()}


def _missing(manifest: dict[str, Any], members: dict[str, tarfile.TarInfo]) -> list[Finding]:
    """What the manifest lists and the archive lacks. Every key is checked first, so a
    forged or damaged manifest (`../outside.txt`) stops a restore before anything is
    written rather than half way, with the store no longer empty."""
    for entry in manifest["objects"]:
        try:
            validate_key(entry["key"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"the manifest lists an object key that is not valid: "
                              f"{entry.get('key')!r} ({exc}); the archive is damaged or "
                              "forged. Nothing was written.") from exc
    found = []
    database = manifest["database"]
    if database["member"] not in members:
        found.append(Finding("database", f"{database['member']} is missing from the archive"))
    for entry in manifest["objects"]:
        if OBJECTS + entry["key"] not in members:
            found.append(Finding(f"object {entry['key']}",
                                 "listed in the manifest but missing from the archive"))
    return found


def _hash_member(tar: tarfile.TarFile, member: tarfile.TarInfo,
                 sink: BinaryIO | None = None) -> str:
    raw = tar.extractfile(member)
    assert raw is not None
    digest = hashlib.sha256()
    while chunk := raw.read(_CHUNK):
        digest.update(chunk)
        if sink is not None:
            sink.write(chunk)
    return digest.hexdigest()


def _differs(what: str, entry: dict[str, Any], size: int, sha256: str) -> Finding | None:
    if size != entry["size"]:
        return Finding(what, f"{size} bytes in the archive, {entry['size']} in the manifest")
    if sha256 != entry["sha256"]:
        return Finding(what, f"sha256 {sha256} in the archive, {entry['sha256']} in the "
                             "manifest")
    return None


def check_archive(path: Path) -> tuple[dict[str, Any], list[Finding]]:
    """Every member against the manifest, reading the whole archive, writing nothing:
    what is missing, what differs, what is there unlisted."""
    with _open(path) as tar:
        manifest = _manifest_of(tar, path)
        members = _members(tar)
        findings = _missing(manifest, members)
        database = manifest["database"]
        if (member := members.get(database["member"])) is not None:
            bad = _differs("database", database, member.size, _hash_member(tar, member))
            findings += [bad] if bad else []
        listed = {OBJECTS + e["key"]: e for e in manifest["objects"]}
        for name, member in members.items():
            if name in listed:
                bad = _differs(f"object {listed[name]['key']}", listed[name], member.size,
                               _hash_member(tar, member))
                findings += [bad] if bad else []
            elif name not in (MANIFEST, database["member"]):
                findings.append(Finding(f"member {name}", "in the archive but not in the "
                                                          "manifest"))
    return manifest, findings


# -- restoring -----------------------------------------------------------------------------

@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    objects: int = 0
    object_bytes: int = 0
    findings: list[Finding] = field(default_factory=list)
    database_restored: bool = False


def _store_problem(storage: Storage) -> str | None:
    first = next(iter(storage.list("")), None)
    if first is None:
        return None
    return (f"the object store is not empty (it holds {first.key}, at least); restore goes "
            "into a new bucket or folder")


def restore(path: Path, *, database_url: str, storage: Storage, partial: bool = False,
            work_dir: Path | None = None,
            progress: Callable[[str], None] = lambda _m: None) -> RestoreReport:
    """Restore the archive onto an empty database and an empty store.

    Refused, with nothing written, when the database or the store holds data, when the
    database file differs from its hash, or (unless `partial`) when objects the manifest
    lists are missing. Each object's hash is checked as it is written; one that differs
    is removed again and named. The database goes in last, so a restore that stops half
    way leaves the database empty."""
    problem = emptiness_problem(database_url) or _store_problem(storage)
    if problem:
        raise BackupError(f"restore refused: {problem}. Nothing was written.")
    with _open(path) as tar:
        manifest = _manifest_of(tar, path)
        report = RestoreReport(manifest)
        members = _members(tar)
        report.findings = _missing(manifest, members)
        database = manifest["database"]
        if database.get("dialect") != dialect_of(database_url):
            raise BackupError(f"restore refused: the archive holds a {database.get('dialect')} "
                              f"database and DATABASE_URL is {dialect_of(database_url)} (a "
                              "SQLite archive goes onto SQLite, a pg_dump onto PostgreSQL). "
                              "Nothing was written.")
        if any(f.what == "database" for f in report.findings):
            raise BackupError(f"restore refused: the archive has no database "
                              f"({database['member']}). Nothing was written.")
        if report.findings and not partial:
            return report  # named by the caller; nothing written
        with tempfile.TemporaryDirectory(prefix="fieldcase-restore-", dir=work_dir) as tmp:
            dump = Path(tmp) / Path(database["member"]).name
            member = members[database["member"]]
            with open(dump, "wb") as sink:
                sha = _hash_member(tar, member, sink)
            if bad := _differs("database", database, member.size, sha):
                raise BackupError(f"restore refused: {bad}. Nothing was written.")
            progress(f"database file checked ({member.size} bytes)")
            try:
                _restore_objects(tar, members, manifest, storage, report, progress)
                restore_database(database_url, dump)
            except Exception as exc:  # any cause: the operator's next step is the same
                raise BackupError(_half_done(exc, report)) from exc
        report.database_restored = True
    now = count_rows(database_url)
    for table, rows in sorted(database["tables"].items()):
        if now.get(table) != rows:
            report.findings.append(Finding(f"table {table}", f"{now.get(table)} rows after "
                                                             f"the restore, {rows} backed up"))
    return report


def _half_done(exc: Exception, report: RestoreReport) -> str:
    """A restore that failed after it began writing: the store is no longer empty, so the
    next attempt would be refused until the operator clears it; say so."""
    return (f"restore failed: {exc}. {report.objects} object(s) were already written to "
            "the object store, and the database was not restored. Before running "
            "`fieldcase restore` again (it refuses a store that is not empty): empty the "
            "new bucket or folder (STORAGE_URL), and if the database now has any table, "
            "drop and re-create it (PostgreSQL) or delete the file (SQLite)")


def _restore_objects(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                     manifest: dict[str, Any], storage: Storage, report: RestoreReport,
                     progress: Callable[[str], None]) -> None:
    """Objects in the archive's order (one sequential read of the file). A small one is
    read and hashed here, and written by a pool of writers only if its hash holds (each
    write waits on the disk's fsync or the store's answer, which overlap); a large one is
    streamed through, hashed as it goes, and removed again if it differs."""
    listed = {OBJECTS + e["key"]: e for e in manifest["objects"]}
    in_flight: set[Future[None]] = set()
    held = 0  # bytes read and not yet written

    def written(future: Future[None]) -> None:
        nonlocal held
        in_flight.discard(future)
        held -= future.size  # type: ignore[attr-defined]
        future.result()  # a failed write stops the restore

    with ThreadPoolExecutor(_WRITERS, thread_name_prefix="restore") as pool:
        try:
            for member in sorted((m for n, m in members.items() if n in listed),
                                 key=lambda m: m.offset_data):
                entry = listed[member.name]
                raw = tar.extractfile(member)
                assert raw is not None
                content_type = entry.get("content_type") or "application/octet-stream"
                if member.size > _SMALL:
                    bad = _stream_one(storage, entry, raw, member.size, content_type)
                else:
                    data = raw.read()
                    bad = _differs(f"object {entry['key']}", entry, len(data),
                                   hashlib.sha256(data).hexdigest())
                    if bad is None:
                        while in_flight and (held + len(data) > _HELD_BYTES
                                             or len(in_flight) >= 4 * _WRITERS):
                            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                            for future in done:
                                written(future)
                        future = pool.submit(storage.put_bytes, entry["key"], data,
                                             content_type=content_type)
                        future.size = len(data)  # type: ignore[attr-defined]
                        held += len(data)
                        in_flight.add(future)
                if bad:
                    report.findings.append(bad)
                    continue
                report.objects += 1
                report.object_bytes += member.size
                if report.objects % 1000 == 0:
                    progress(f"{report.objects} objects restored")
            for future in list(in_flight):
                written(future)
        except StorageError as exc:
            for future in in_flight:
                future.cancel()
            raise BackupError(f"writing an object failed: {exc}; the database was not "
                              "restored") from exc


def _stream_one(storage: Storage, entry: dict[str, Any], raw: BinaryIO, size: int,
                content_type: str) -> Finding | None:
    reader = _HashingFile(raw)
    storage.put(entry["key"], reader, content_type=content_type,  # type: ignore[arg-type]
                size=size)
    bad = _differs(f"object {entry['key']}", entry, reader.read_bytes,
                   reader.sha256.hexdigest())
    if bad:
        storage.delete(entry["key"])  # never keep bytes that are not the backed-up ones
    return bad
