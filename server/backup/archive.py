"""One archive per backup: a streamed tar of the database snapshot, every object of the
store, the list of the objects and, last, manifest.json (written last because the objects'
hashes are taken as they stream).

    database/fieldcase.sqlite3 | database/fieldcase.pgdump
    objects/<key>              one member per object, its bytes as stored
    objects.jsonl              one line per object: key, size, sha256 and content type
    manifest.json              format, times, versions, row counts, the object count and
                               the list's size and sha256

Nothing grows with the number of objects in memory, writing or reading: the list is
spooled to a file as the objects stream, and a reader walks the tar's headers one at a
time (never tarfile's index of every member), and pairs the object members with the
list's entries through an index on disk (keyindex). Format 1 (the objects' entries inside
manifest.json) is still read.

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
from .keyindex import DuplicateKey, KeyIndex

__all__ = ["FORMAT", "MANIFEST", "Finding", "RestoreReport", "check_archive", "make_backup",
           "read_manifest", "restore"]

FORMAT = "fieldcase-backup/2"
FORMAT_1 = "fieldcase-backup/1"  # still read: its manifest lists every object itself
MANIFEST = "manifest.json"
OBJECTS = "objects/"
OBJECT_LIST = "objects.jsonl"
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


def _add(tar: tarfile.TarFile, info: tarfile.TarInfo, data: Any) -> None:
    """Write a member. tarfile keeps every header it writes in `members`, which nothing
    reads when streaming: emptied, or a million objects' headers would stay in memory."""
    tar.addfile(info, data)
    tar.members.clear()


def make_backup(out: BinaryIO, *, database_url: str, storage: Storage,
                keys: dict[str, Any], app_version: str,
                progress: Callable[[str], None] = lambda _m: None,
                on_object: Callable[[str], None] = lambda _key: None) -> dict[str, Any]:
    """Write the archive to `out` (streamed: nothing is held whole in memory, whatever
    the number of objects); returns its manifest. The database snapshot comes first, then
    the objects as listed after it, so every object the snapshot's rows name is there
    (objects are written before the rows that name them, and evidence is never deleted).
    `on_object` is told each object's key as it is written."""
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="fieldcase-backup-") as tmp, \
            snapshot(database_url, Path(tmp)) as snap, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        progress(f"database snapshot: {sum(snap.tables.values())} rows in "
                 f"{len(snap.tables)} tables")
        db_size = snap.path.stat().st_size
        with open(snap.path, "rb") as f:
            reader = _Hashing(iter(lambda: f.read(_CHUNK), b""), db_size)
            _add(tar, _member(snap.member, db_size, time.time()), reader)
        database = {"dialect": dialect_of(database_url), "member": snap.member,
                    "size": db_size, "sha256": reader.sha256.hexdigest(),
                    "migration_head": snap.migration_head, "tables": snap.tables}
        count = total = 0
        list_path = Path(tmp) / OBJECT_LIST
        list_hash = hashlib.sha256()
        with open(list_path, "wb") as lines:
            for info in storage.list(""):
                entry = _add_object(tar, storage, info.key, info.size,
                                    info.last_modified.timestamp())
                if entry is None:
                    continue
                line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
                lines.write(line)
                list_hash.update(line)
                count, total = count + 1, total + entry["size"]
                on_object(entry["key"])
                if count % 1000 == 0:
                    progress(f"{count} objects")
        list_size = list_path.stat().st_size
        with open(list_path, "rb") as f:
            _add(tar, _member(OBJECT_LIST, list_size, time.time()), f)
        manifest = {
            "format": FORMAT,
            "created_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "app_version": app_version,
            "migration_head": snap.migration_head,
            "database": database,
            "store": storage.alias,
            "object_count": count,
            "object_bytes": total,
            "object_list": {"member": OBJECT_LIST, "size": list_size,
                            "sha256": list_hash.hexdigest()},
            "keys": keys,
        }
        data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
        _add(tar, _member(MANIFEST, len(data), time.time()), io.BytesIO(data))
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
        _add(tar, _member(OBJECTS + key, size, mtime), reader)
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


def _walk(tar: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    """The archive's members in order, one header at a time. tarfile keeps every header
    it reads in `members` (a million objects' worth): emptied as it goes."""
    while True:
        try:
            member = tar.next()
        except (OSError, tarfile.TarError) as exc:
            raise BackupError(f"{path} is damaged or cut short: {exc}") from exc
        tar.members.clear()
        if member is None:
            return
        yield member


# The database members a backup writes (databases.snapshot): nothing else is unpacked.
_DATABASE_MEMBERS = frozenset({"database/fieldcase.sqlite3", "database/fieldcase.pgdump"})


@dataclass
class _Layout:
    """Where an archive's parts are: found by one walk over its headers."""

    path: Path
    manifest: dict[str, Any]
    database: tarfile.TarInfo | None
    object_list: tarfile.TarInfo | None  # format 2's

    @property
    def format(self) -> str:
        return self.manifest["format"]


def _layout(path: Path) -> _Layout:
    found: dict[str, tarfile.TarInfo] = {}
    with _open(path) as tar:
        for member in _walk(tar, path):
            if member.isfile() and (member.name in (MANIFEST, OBJECT_LIST)
                                    or member.name in _DATABASE_MEMBERS):
                found[member.name] = member
        if MANIFEST not in found:
            raise BackupError(f"{path} has no {MANIFEST}: not a Fieldcase backup, or cut "
                              "short (the manifest is written last)")
        try:
            raw = tar.extractfile(found[MANIFEST])
            manifest = json.loads(raw.read()) if raw else None
        except (ValueError, tarfile.TarError, OSError) as exc:
            raise BackupError(f"{path}: {MANIFEST} is unreadable: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") not in (FORMAT, FORMAT_1):
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise BackupError(f"{path}: unknown backup format {got!r} (this version reads "
                          f"{FORMAT} and {FORMAT_1})")
    if problem := _shape_problem(manifest):
        raise BackupError(f"{path}: {MANIFEST} is damaged or forged ({problem}). Nothing "
                          "was written.")
    database = found.get(manifest["database"]["member"])
    object_list = found.get(OBJECT_LIST) if manifest["format"] == FORMAT else None
    if manifest["format"] == FORMAT and object_list is None:
        raise BackupError(f"{path} has no {OBJECT_LIST}: the archive is damaged or forged. "
                          "Nothing was written.")
    return _Layout(path, manifest, database, object_list)


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
    if manifest["format"] == FORMAT_1:
        objects = manifest.get("objects")
        if not isinstance(objects, list):
            return "its list of objects"
        for entry in objects:
            if problem := _entry_problem(entry):
                return problem
        return None
    listed = manifest.get("object_list")
    if not (isinstance(listed, dict) and listed.get("member") == OBJECT_LIST
            and isinstance(listed.get("size"), int) and isinstance(listed.get("sha256"), str)):
        return "its object list's entry"
    if not isinstance(manifest.get("object_count"), int):
        return "its object count"
    return None


def _entry_problem(entry: Any) -> str | None:
    if (isinstance(entry, dict) and isinstance(entry.get("key"), str)
            and isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("content_type", ""), str | None)):
        return None
    return f"an object entry: {str(entry)[:80]!r}"


def read_manifest(path: Path) -> dict[str, Any]:
    return _layout(path).manifest


def _entries(layout: _Layout) -> Iterator[dict[str, Any]]:
    """The archive's list of objects, entry by entry, each checked as it is read (its
    shape, a key the store accepts) and at the end the list's count, size and hash against
    the manifest's. A fault raises BackupError: read it all before writing anything."""
    if layout.format == FORMAT_1:
        for entry in layout.manifest["objects"]:
            _check_key(layout, entry["key"])
            yield entry
        return
    expected = layout.manifest["object_list"]
    digest, count, size = hashlib.sha256(), 0, 0
    assert layout.object_list is not None
    with _open(layout.path) as tar:
        raw = tar.extractfile(layout.object_list)
        assert raw is not None
        for line in raw:
            digest.update(line)
            size += len(line)
            try:
                entry = json.loads(line)
            except ValueError:
                raise _damaged(layout, f"line {count + 1} of {OBJECT_LIST} is not JSON") \
                    from None
            if problem := _entry_problem(entry):
                raise _damaged(layout, f"{OBJECT_LIST} holds {problem}")
            _check_key(layout, entry["key"])
            count += 1
            yield entry
    if (count, size, digest.hexdigest()) != (layout.manifest["object_count"],
                                              expected["size"], expected["sha256"]):
        raise _damaged(layout, f"{OBJECT_LIST} does not match the manifest ({count} "
                               f"objects, {layout.manifest['object_count']} in the manifest)")


def _damaged(layout: _Layout, what: str) -> BackupError:
    return BackupError(f"{layout.path}: {what}; the archive is damaged or forged. Nothing "
                       "was written.")


def _check_key(layout: _Layout, key: str) -> None:
    try:
        validate_key(key)
    except ValueError as exc:
        raise _damaged(layout, f"the manifest lists an object key that is not valid: "
                               f"{key!r} ({exc})") from exc


def _index(layout: _Layout, folder: Path | None = None) -> KeyIndex:
    """Every entry of the list, checked, in an index on disk: built whole before anything
    is written, so a damaged or forged list writes nothing."""
    index = KeyIndex(folder)
    try:
        for entry in _entries(layout):
            index.add(entry["key"], entry)
        index.flush()  # a duplicate in the last batch is found here
    except DuplicateKey as exc:
        index.close()
        raise _damaged(layout, f"the object {exc} is listed twice") from None
    except BaseException:
        index.close()
        raise
    return index


def _objects(tar: tarfile.TarFile, layout: _Layout, index: KeyIndex,
             strays: list[Finding] | None = None
             ) -> Iterator[tuple[dict[str, Any], tarfile.TarInfo]]:
    """(entry, member) for each object member the list names, in archive order; a
    member the backup does not write, the list does not name, or named twice is added
    to `strays`. What is left untaken in the index afterwards is missing."""
    known = {MANIFEST, OBJECT_LIST, layout.manifest["database"]["member"]}
    for member in _walk(tar, layout.path):
        if not member.isfile() or member.name in known:
            continue
        entry = (index.take(member.name[len(OBJECTS):])
                 if member.name.startswith(OBJECTS) else None)
        if entry is not None:
            yield entry, member
        elif strays is not None:
            strays.append(Finding(f"member {member.name}", "in the archive but not in the "
                                                           "manifest"))


def _missing(layout: _Layout, index: KeyIndex) -> list[Finding]:
    """What the list names and the walk did not find (after _objects), and the database
    if it is not there."""
    found = [] if layout.database is not None else [
        Finding("database", f"{layout.manifest['database']['member']} is missing from "
                            "the archive")]
    return found + [Finding(f"object {entry['key']}", "listed in the manifest but missing "
                                                      "from the archive")
                    for entry in index.untaken()]


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
    """Every member against the manifest and the list, reading the whole archive once,
    writing nothing: what is missing, what differs, what is there unlisted."""
    layout = _layout(path)
    manifest, differ, strays = layout.manifest, [], []
    with _index(layout) as index, _open(path) as tar:
        if layout.database is not None:
            bad = _differs("database", manifest["database"], layout.database.size,
                           _hash_member(tar, layout.database))
            differ += [bad] if bad else []
        for entry, member in _objects(tar, layout, index, strays):
            if bad := _differs(f"object {entry['key']}", entry, member.size,
                               _hash_member(tar, member)):
                differ.append(bad)
        return manifest, _missing(layout, index) + differ + strays


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
    layout = _layout(path)
    manifest = layout.manifest
    report = RestoreReport(manifest)
    database = manifest["database"]
    if database.get("dialect") != dialect_of(database_url):
        raise BackupError(f"restore refused: the archive holds a {database.get('dialect')} "
                          f"database and DATABASE_URL is {dialect_of(database_url)} (a "
                          "SQLite archive goes onto SQLite, a pg_dump onto PostgreSQL). "
                          "Nothing was written.")
    if layout.database is None:
        raise BackupError(f"restore refused: the archive has no database "
                          f"({database['member']}). Nothing was written.")
    with _index(layout, work_dir) as index:
        # A first walk, headers only: what is missing is known before anything is written.
        with _open(path) as tar:
            for _pair in _objects(tar, layout, index):
                pass
        report.findings = _missing(layout, index)
        if report.findings and not partial:
            return report  # named by the caller; nothing written
        index.untake_all()
        with tempfile.TemporaryDirectory(prefix="fieldcase-restore-", dir=work_dir) as tmp, \
                _open(path) as tar:
            dump = Path(tmp) / Path(database["member"]).name
            with open(dump, "wb") as sink:
                sha = _hash_member(tar, layout.database, sink)
            if bad := _differs("database", database, layout.database.size, sha):
                raise BackupError(f"restore refused: {bad}. Nothing was written.")
            progress(f"database file checked ({layout.database.size} bytes)")
            try:
                _restore_objects(tar, _objects(tar, layout, index), storage, report,
                                 progress)
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


def _restore_objects(tar: tarfile.TarFile,
                     objects: Iterator[tuple[dict[str, Any], tarfile.TarInfo]],
                     storage: Storage, report: RestoreReport,
                     progress: Callable[[str], None]) -> None:
    """Objects in the archive's order (one sequential read of the file). A small one is
    read and hashed here, and written by a pool of writers only if its hash holds (each
    write waits on the disk's fsync or the store's answer, which overlap); a large one is
    streamed through, hashed as it goes, and removed again if it differs."""
    in_flight: set[Future[None]] = set()
    held = 0  # bytes read and not yet written

    def written(future: Future[None]) -> None:
        nonlocal held
        in_flight.discard(future)
        held -= future.size  # type: ignore[attr-defined]
        future.result()  # a failed write stops the restore

    with ThreadPoolExecutor(_WRITERS, thread_name_prefix="restore") as pool:
        try:
            for entry, member in objects:
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
