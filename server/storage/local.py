"""Local-disk backend: the default for development, tests and single-box installs.

Layout under `root`: the object for key "a/b/c" is the plain file `root/a/b/c`; its content
type lives in the sidecar `root/a/b/.c.meta.json`, except when the key's own extension
names it (`thumb-small.jpg`, image/jpeg): such an object has no sidecar, one file and one
fsync fewer (a photo's two thumbnails are written on every completion). Key segments may
not start with '.', so sidecars and temp files (`.c.<random>.tmp`) never collide with keys
and list() skips them.

Presigned URLs are relative `/api/blobs/<token>` URLs served by server.api.blobs, with
the token signed by itsdangerous, so the phone-side upload flow is the same as on S3.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from itsdangerous import BadSignature, URLSafeTimedSerializer

from .base import (
    BadToken,
    ChunkStream,
    ObjectInfo,
    ObjectNotFound,
    SizeMismatch,
    Storage,
    StorageError,
    TokenExpired,
    UploadTarget,
    validate_content_type,
    validate_expiry,
    validate_key,
    validate_prefix,
)

__all__ = ["TOKEN_SALT", "LocalStorage"]

TOKEN_SALT = "fieldcase.blobs"
_COPY_CHUNK = 64 * 1024
# An upload's body is read in 1 MiB pieces: gunicorn hands the body over in small socket
# reads, and each read call costs Python work; 64 KiB reads spent twice the CPU on a
# 2.2 MB photo (2.5 ms against 1.2 ms per upload, measured under gunicorn's gthread).
_UPLOAD_CHUNK = 1 << 20
_META_SUFFIX = ".meta.json"
# A filesystem (or mount) without hard links answers one of these: the copy writes bytes.
_NO_LINK_ERRNOS = frozenset({errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP,
                             errno.EOPNOTSUPP, errno.ENOSYS})


class _NoLinks(Exception):
    """This filesystem refused a hard link: copy the bytes instead."""


class _Again(Exception):
    """The source changed, or the copy's folder went, between a look and the link."""


# The content types a key's extension names: an object whose type is its name's keeps no
# sidecar. A fixed list, not the system's mime.types: a store must read the same anywhere.
_NAMED_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                ".pdf": "application/pdf", ".json": "application/json", ".zip": "application/zip"}


def _named_type(path: Path) -> str | None:
    return _NAMED_TYPES.get(os.path.splitext(path.name)[1].lower())


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable, not just the file contents.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mtime(st: os.stat_result) -> datetime:
    return datetime.fromtimestamp(st.st_mtime, tz=UTC)


class LocalStorage(Storage):
    alias = "file"

    def __init__(
        self, root: str | os.PathLike[str], *, secret_key: str = "", url_prefix: str = "/api/blobs"
    ) -> None:
        # Resolved once so a later chdir() cannot move the store.
        self.root = Path(root).resolve()
        self._secret_key = secret_key
        self._tokens: URLSafeTimedSerializer | None = None
        self.url_prefix = url_prefix.rstrip("/")

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    # -- paths -------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    @staticmethod
    def _meta_path(path: Path) -> Path:
        return path.with_name(f".{path.name}{_META_SUFFIX}")

    @contextmanager
    def _os_errors(
        self, op: str, key: str, *, missing_is_not_found: bool = False
    ) -> Iterator[None]:
        try:
            yield
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            if missing_is_not_found:
                raise ObjectNotFound(key) from None
            raise StorageError(f"local {op} failed for {key}: {exc.strerror}") from exc
        except OSError as exc:
            raise StorageError(f"local {op} failed for {key}: {exc.strerror or exc}") from exc

    def _read_content_type(self, path: Path, st: os.stat_result) -> str | None:
        named = _named_type(path)
        try:
            meta = json.loads(self._meta_path(path).read_text("utf-8"))
        except (OSError, ValueError):
            return named
        # The sidecar is written just before the data file is renamed into place; after a
        # crash in between (overwrites only) sizes usually disagree and we admit not knowing.
        if not isinstance(meta, dict) or meta.get("size") != st.st_size:
            return named
        ct = meta.get("content_type")
        return ct if isinstance(ct, str) else named

    # -- writing ---------------------------------------------------------------------------

    def _commit(self, key: str, content_type: str, fill: Callable[[BinaryIO], None], *,
                durable: bool = True, sync_folder: bool = True) -> int:
        """Write through a temp file in the target directory, then rename it into place.

        A crash or an exception leaves at most a hidden temp file, never a partial object.
        `durable=False`: nothing is fsynced (see write_capped); `sync_folder=False`: all
        but the folder, which the caller fsyncs (put_many).
        """
        path = self._path(key)
        validate_content_type(content_type)

        def write(tmp: str) -> int:
            with open(tmp, "wb") as f:
                fill(f)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
                return os.fstat(f.fileno()).st_size

        with self._os_errors("write", key):
            return self._install(path, content_type, write, durable=durable,
                                 sync_folder=sync_folder)

    def _install(self, path: Path, content_type: str, make: Callable[[str], int], *,
                 durable: bool = True, sync_folder: bool = True) -> int:
        """`make` puts the object's bytes at a temp name beside `path` and answers their
        size; then the sidecar, the rename into place and the directory's fsync."""
        tmp = self._mkstemp(path)
        named = _named_type(path) == content_type
        try:
            size = make(tmp)
            if not named:
                self._write_meta(path, {"content_type": content_type, "size": size},
                                 durable=durable)
            os.replace(tmp, path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        if named:  # a sidecar an earlier write left would say more than the name
            with suppress(FileNotFoundError):
                self._meta_path(path).unlink()
        if durable and sync_folder:
            _fsync_dir(path.parent)
        return size

    @staticmethod
    def _mkstemp(path: Path) -> str:
        # The folder is made when it is missing (not asked about first: most writes go to
        # one that is there). delete() prunes empty folders; if it races us, make it again.
        for _ in range(5):
            try:
                fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                continue
            os.close(fd)
            return tmp
        raise StorageError(f"could not create a temp file next to {path.name}")

    def _write_meta(self, path: Path, meta: dict[str, Any], *, durable: bool = True) -> None:
        meta_path = self._meta_path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{meta_path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(meta, f)
                f.flush()
                if durable:
                    os.fsync(f.fileno())
            os.replace(tmp, meta_path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise

    def put(
        self, key: str, stream: BinaryIO, *, content_type: str, size: int | None = None
    ) -> None:
        if size is not None:
            self.write_capped(key, stream, size=size, content_type=content_type)
            return
        self._commit(key, content_type, lambda f: shutil.copyfileobj(stream, f, _COPY_CHUNK))

    def put_many(self, items: Sequence[tuple[str, bytes, str]]) -> None:
        """Each object's bytes fsynced and renamed into place, then each folder fsynced
        once (a photo's two thumbnails share theirs: one fsync of it, not two)."""
        folders: dict[Path, str] = {}
        for key, data, content_type in items:
            self._commit(key, content_type, lambda f, data=data: f.write(data),
                         sync_folder=False)
            folders.setdefault(self._path(key).parent, key)
        for folder, key in folders.items():
            with self._os_errors("write", key):
                _fsync_dir(folder)

    def write_capped(self, key: str, stream: BinaryIO, *, size: int, content_type: str,
                     durable: bool = True) -> None:
        """Store exactly `size` bytes from `stream`; SizeMismatch (and no file) otherwise.

        Never reads more than size + 1 bytes, so an oversized body cannot fill the disk.
        `durable=False` (an upload link's staged bytes): no fsync, the object whole or
        absent after a crash as ever, only perhaps absent. Nothing counts on staged bytes
        until they are promoted, and `copy` makes its copy durable: a phone whose staged
        bytes a crash took is told so at its completion and sends them again.
        """
        if not isinstance(size, int) or size < 0:
            raise ValueError("size must be a non-negative int")

        def fill(f: BinaryIO) -> None:
            remaining = size
            while remaining:
                chunk = stream.read(min(_UPLOAD_CHUNK, remaining))
                if not chunk:
                    raise SizeMismatch(size, size - remaining)
                f.write(chunk)
                remaining -= len(chunk)
            if stream.read(1):
                raise SizeMismatch(size, None)

        self._commit(key, content_type, fill, durable=durable)

    # -- reading ---------------------------------------------------------------------------

    def open_object(self, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """Open `key` for reading; info and bytes come from the same file (no race).

        Local-only: used by the blobs endpoint to set Content-Length. Caller closes.
        """
        path = self._path(key)
        with self._os_errors("read", key, missing_is_not_found=True):
            f = open(path, "rb")  # noqa: SIM115 - handed to the caller
            try:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise ObjectNotFound(key)
                info = ObjectInfo(key, st.st_size, self._read_content_type(path, st), _mtime(st))
            except BaseException:
                f.close()
                raise
        return info, f

    def open_file(self, key: str) -> BinaryIO:
        # Every write is a new file renamed over the key: an open file never changes.
        return self.open_object(key)[1]

    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        _, f = self.open_object(key)

        def wrap(exc: BaseException) -> BaseException:
            return StorageError(f"local read failed for {key}: {exc}")

        return ChunkStream(f.read, f.close, chunk_size, wrap)

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        with self._os_errors("head", key, missing_is_not_found=True):
            st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound(key)
        return ObjectInfo(key, st.st_size, self._read_content_type(path, st), _mtime(st))

    def delete(self, key: str) -> None:
        path = self._path(key)
        with self._os_errors("delete", key):
            # Data first: it is the commit point, an orphan sidecar is harmless.
            for p in (path, self._meta_path(path)):
                with suppress(FileNotFoundError, NotADirectoryError):
                    if p.is_dir():
                        continue  # a "directory" of other keys, not an object
                    p.unlink()
            self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        # Keep the tree from filling with empty staging/<uuid>/ directories.
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def settle(self, key: str) -> None:
        """Flush an upload's staged bytes (written without fsync, see write_capped) to the
        disk, so the copy that promotes them (under a database lock) has nothing left to
        flush. Raises ObjectNotFound."""
        path = self._path(key)
        with self._os_errors("settle", key, missing_is_not_found=True):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def copy(self, src: str, dst: str) -> None:
        """A hard link where the filesystem has them: the bytes were made durable when
        they were put, so the copy is two links and a directory fsync instead of a second
        write of the photo. Safe because no object is ever written in place (every write
        is a new file renamed over its key): the two keys never change each other."""
        validate_key(dst)
        try:
            self._link(src, dst)
        except _NoLinks:
            self._copy_bytes(src, dst)

    def _link(self, src: str, dst: str) -> None:
        for _ in range(3):
            try:
                self._link_once(src, dst)
                return
            except _Again:
                continue
        # Still moving after three tries: copy from one open file, its bytes and its size.
        raise _NoLinks

    def _link_once(self, src: str, dst: str) -> None:
        src_path, path = self._path(src), self._path(dst)
        with self._os_errors("copy", src, missing_is_not_found=True):
            st = src_path.stat()
            if not stat.S_ISREG(st.st_mode):
                raise ObjectNotFound(src)
            content_type = self._read_content_type(src_path, st)

        def link(tmp: str) -> int:
            os.unlink(tmp)  # the name only: the link takes it
            try:
                os.link(src_path, tmp)
            except FileNotFoundError:
                if not src_path.exists():  # removed since it was looked at
                    raise ObjectNotFound(src) from None
                raise _Again from None  # the copy's folder pruned by a delete meanwhile
            except OSError as exc:
                if exc.errno in _NO_LINK_ERRNOS:
                    raise _NoLinks from exc
                raise
            fd = os.open(tmp, os.O_RDONLY)
            try:
                linked = os.fstat(fd)
                if (linked.st_dev, linked.st_ino) != (st.st_dev, st.st_ino):
                    raise _Again  # the source was written anew: its size and type were old
                os.fsync(fd)  # the source may have been written without (write_capped)
            finally:
                os.close(fd)
            return st.st_size

        # Past the source: a failure to write the copy is the store's, never "not found".
        with self._os_errors("copy", dst):
            self._install(path, content_type or "application/octet-stream", link)

    def _copy_bytes(self, src: str, dst: str) -> None:
        info, f = self.open_object(src)
        with f:
            self._commit(
                dst,
                info.content_type or "application/octet-stream",
                lambda out: shutil.copyfileobj(f, out, _COPY_CHUNK),
            )

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        directory, _, _ = prefix.rpartition("/")
        base = self.root.joinpath(*directory.split("/")) if directory else self.root
        yield from self._listed(str(base), f"{directory}/" if directory else "", prefix)

    def _listed(self, folder: str, at: str, prefix: str) -> Iterator[ObjectInfo]:
        """The objects under `folder` (whose keys begin with `at`) that begin with
        `prefix`, as the folders hold them: each folder is read as it is walked, so the
        listing holds one open folder per level and no names (sorting a folder's names, as
        S3 orders keys, held every photo's folder name of `evidence/`: ~90 MB at a million
        photos). Nothing relies on a listing's order (SeaweedFS lists folder by folder).
        Paths as strings: pathlib interns each part in the interpreter's table of interned
        strings."""
        try:
            entries = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return
        with entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue  # temp files and sidecars
                if entry.is_dir():
                    if entry.is_symlink():
                        continue  # a linked folder is not walked (as os.walk)
                    key = f"{at}{name}/"
                    if key.startswith(prefix) or prefix.startswith(key):
                        yield from self._listed(os.path.join(folder, name), key, prefix)
                    continue
                key = at + name
                if not key.startswith(prefix):
                    continue
                try:
                    validate_key(key)
                    st = os.stat(os.path.join(folder, name))
                except (FileNotFoundError, ValueError):
                    continue  # deleted meanwhile, or a stray file that is no valid key
                yield ObjectInfo(key, st.st_size, None, _mtime(st))

    # -- presigning ------------------------------------------------------------------------

    def _serializer(self) -> URLSafeTimedSerializer:
        if not self._secret_key:
            raise StorageError("local presigned URLs need a secret_key (from_url(secret_key=))")
        if self._tokens is None:  # made once: every photo's links are signed with it
            self._tokens = URLSafeTimedSerializer(self._secret_key, salt=TOKEN_SALT)
        return self._tokens

    def _sign(self, claims: dict[str, Any], expires_in: int) -> str:
        validate_expiry(expires_in)
        claims["ttl"] = expires_in
        claims["exp"] = int(time.time()) + expires_in
        return str(self._serializer().dumps(claims))

    def presign_upload(
        self, key: str, *, content_type: str, size: int, expires_in: int
    ) -> UploadTarget:
        validate_key(key)
        validate_content_type(content_type)
        if not isinstance(size, int) or size < 0:
            raise ValueError("size must be a non-negative int")
        token = self._sign(
            {"op": "put", "key": key, "ct": content_type, "size": size, "fn": None, "att": False},
            expires_in,
        )
        return UploadTarget(
            "PUT",
            f"{self.url_prefix}/{token}",
            {"Content-Type": content_type, "Content-Length": str(size)},
        )

    def presign_download(
        self,
        key: str,
        *,
        expires_in: int,
        filename: str | None = None,
        content_type: str | None = None,
        attachment: bool = True,
        sha256: str | None = None,
    ) -> str:
        validate_key(key)
        if content_type is not None:
            validate_content_type(content_type)
        token = self._sign(
            {
                "op": "get",
                "key": key,
                "ct": content_type,
                "size": None,
                "fn": filename,
                "att": bool(attachment),
                **({"sha": sha256} if sha256 else {}),
            },
            expires_in,
        )
        return f"{self.url_prefix}/{token}"

    def read_token(self, token: str) -> dict[str, Any]:
        """Verify a token from presign_*; BadToken if forged/malformed, TokenExpired if old."""
        try:
            # The signature checked once; its signed time is compared with the ttl below.
            claims, signed_at = self._serializer().loads(token, return_timestamp=True)
        except BadSignature:
            raise BadToken("invalid blob token") from None
        if (
            not isinstance(claims, dict)
            or claims.get("op") not in ("put", "get")
            or not isinstance(claims.get("ttl"), int)
            or not isinstance(claims.get("exp"), int)
        ):
            raise BadToken("malformed blob token")
        try:
            validate_key(claims.get("key"))  # type: ignore[arg-type]
        except ValueError:
            raise BadToken("malformed blob token") from None
        # Both checks: the signed timestamp's age (as itsdangerous' max_age counts it, in
        # whole seconds, a negative age too) and our own "exp" claim.
        now = time.time()
        age = int(now) - int(signed_at.timestamp())
        if age > claims["ttl"] or age < 0 or now > claims["exp"]:
            raise TokenExpired("blob token expired")
        return claims

    # -- health ----------------------------------------------------------------------------

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"local storage root unusable: {exc.strerror}") from exc
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError("local storage root is not a writable directory")
