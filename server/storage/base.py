"""The object-store interface shared by every backend.

Storage deals in opaque keys and bytes only; it knows nothing about cases or evidence.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import BinaryIO
from urllib.parse import quote

__all__ = [
    "MAX_PRESIGN_SECONDS",
    "BadToken",
    "ChunkStream",
    "ObjectInfo",
    "ObjectNotFound",
    "SizeMismatch",
    "Storage",
    "StorageError",
    "TokenExpired",
    "UploadTarget",
    "content_disposition",
    "validate_content_type",
    "validate_expiry",
    "validate_key",
    "validate_prefix",
]

# SigV4 presigned URLs cannot live longer than 7 days; local tokens follow the same rule
# so that code tested against disk behaves the same on S3.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600

# S3's own key limit is 1024 bytes; the segment limit leaves room under the usual
# 255-byte file-name limit for the local backend's ".<name>.<suffix>" helper files.
_MAX_KEY_BYTES = 1024
_MAX_SEGMENT_BYTES = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class StorageError(Exception):
    """Any backend failure (unreachable, denied, misconfigured, ...).

    Messages name the operation and the key, never credentials or signed URLs.
    """


class ObjectNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"object not found: {key}")
        self.key = key


class BadToken(StorageError):
    """A local presigned token that was tampered with, malformed or signed with another key."""


class TokenExpired(BadToken):
    """A local presigned token whose lifetime is over."""


class SizeMismatch(StorageError):
    """The uploaded stream was shorter or longer than the size that was announced."""

    def __init__(self, expected: int, actual: int | None) -> None:
        got = "more" if actual is None else str(actual)
        super().__init__(f"expected {expected} bytes, got {got}")
        self.expected = expected
        self.actual = actual  # None: longer than expected (we stop reading)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    content_type: str | None  # None in list() results: S3 listings do not carry it
    last_modified: datetime  # aware, UTC


@dataclass(frozen=True)
class UploadTarget:
    """What a phone must send: `method` to `url` with exactly these `headers`.

    Content-Length is part of the signature. Browsers set it themselves from the body
    (fetch() silently drops it from user headers), other clients must send it as given.
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def validate_key(key: str) -> str:
    """Return `key` unchanged or raise ValueError.

    Keys are relative, '/'-separated, with no empty, '.'-leading or '..' parts, so a key
    can never escape the local root and means the same thing on every backend.
    """
    if not isinstance(key, str) or not key:
        raise ValueError("storage key must be a non-empty string")
    _check_chars(key, "key")
    for segment in key.split("/"):
        _check_segment(segment, key)
    return key


def validate_prefix(prefix: str) -> str:
    """A list() prefix: a key prefix that may end inside a segment or with '/' (or be empty)."""
    if not isinstance(prefix, str):
        raise ValueError("storage prefix must be a string")
    if not prefix:
        return prefix
    _check_chars(prefix, "prefix")
    *complete, _last = prefix.split("/")
    for segment in complete:
        _check_segment(segment, prefix)
    return prefix


def _check_chars(value: str, what: str) -> None:
    if value.startswith("/"):
        raise ValueError(f"storage {what} must be relative: {value!r}")
    if "\\" in value or _CONTROL.search(value):
        raise ValueError(f"storage {what} has a backslash or control character: {value!r}")
    if ".." in value:
        raise ValueError(f"storage {what} must not contain '..': {value!r}")
    if len(value.encode()) > _MAX_KEY_BYTES:
        raise ValueError(f"storage {what} is longer than {_MAX_KEY_BYTES} bytes")


def _check_segment(segment: str, key: str) -> None:
    if not segment:
        raise ValueError(f"storage key has an empty segment: {key!r}")
    if segment.startswith("."):
        # '.'-names are reserved for the local backend's temp and sidecar files.
        raise ValueError(f"storage key segment must not start with '.': {key!r}")
    if len(segment.encode()) > _MAX_SEGMENT_BYTES:
        raise ValueError(f"storage key segment is longer than {_MAX_SEGMENT_BYTES} bytes")


def validate_content_type(content_type: str) -> str:
    # It ends up in HTTP headers and signatures: refuse anything that could split them.
    if not content_type or _CONTROL.search(content_type) or not content_type.isascii():
        raise ValueError(f"invalid content type: {content_type!r}")
    return content_type


def validate_expiry(expires_in: int) -> int:
    if not isinstance(expires_in, int) or not 1 <= expires_in <= MAX_PRESIGN_SECONDS:
        raise ValueError(f"expires_in must be 1..{MAX_PRESIGN_SECONDS} seconds")
    return expires_in


# A signed link's download (not a thumbnail shown inline): kept in no cache, not even
# the browser's of a shared office computer, whichever store serves it.
ATTACHMENT_CACHE_CONTROL = "private, no-store"


def content_disposition(filename: str | None, *, attachment: bool = True,
                        fallback: str | None = None) -> str:
    """RFC 6266 header value: ASCII fallback `filename=` plus UTF-8 `filename*=`. The
    fallback is the name less what is not ASCII, or `fallback` when given (a Chinese
    name would leave only its digits)."""
    kind = "attachment" if attachment else "inline"
    if not filename:
        return kind
    # Drop anything that could break the header or smuggle a path.
    name = _CONTROL.sub("", filename).replace("/", "_").replace("\\", "_").strip()
    name = name.lstrip(".")  # no hidden files on the user's disk
    if not name:
        return kind
    ascii_from = name if fallback is None else \
        _CONTROL.sub("", fallback).replace("/", "_").replace("\\", "_").strip()
    fallback = unicodedata.normalize("NFKD", ascii_from).encode("ascii", "ignore").decode()
    fallback = fallback.replace('"', "").replace("%", "").strip()
    if not fallback or fallback.startswith("."):  # e.g. "日本.jpg" -> ".jpg"
        fallback = "download" + fallback
    value = f'{kind}; filename="{fallback}"'
    if fallback != name:
        value += f"; filename*=UTF-8''{quote(name, safe='')}"
    return value


class ChunkStream(Iterator[bytes]):
    """Iterator of chunks that always releases the underlying body.

    Unlike a generator, the body is opened before the first chunk (so ObjectNotFound is
    raised by iter_chunks() itself) and close() works even if iteration never started.
    WSGI servers call close() on response iterables, so an aborted download releases
    the file or HTTP connection at once.
    """

    def __init__(
        self,
        read: Callable[[int], bytes],
        close: Callable[[], None],
        chunk_size: int,
        wrap_error: Callable[[BaseException], BaseException] | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._read = read
        self._close = close
        self._chunk_size = chunk_size
        self._wrap_error = wrap_error
        self._closed = False

    def __iter__(self) -> ChunkStream:
        return self

    def __next__(self) -> bytes:
        if self._closed:
            raise StopIteration
        try:
            chunk = self._read(self._chunk_size)
        except Exception as exc:
            self.close()
            if self._wrap_error is None:
                raise
            raise self._wrap_error(exc) from exc
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Last resort for a consumer that neither exhausted nor closed us.
        with suppress(Exception):
            self.close()


class Storage(ABC):
    """A flat key -> bytes store with presigned upload/download URLs."""

    alias: str

    @abstractmethod
    def put(
        self, key: str, stream: BinaryIO, *, content_type: str, size: int | None = None
    ) -> None:
        """Store `stream` under `key`, streamed. With `size`, anything else is SizeMismatch."""

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        self.put(key, BytesIO(data), content_type=content_type, size=len(data))

    def put_many(self, items: Sequence[tuple[str, bytes, str]]) -> None:
        """Several small objects, (key, bytes, content type) each, all durable when this
        returns (a photo's thumbnails). One by one here; a backend may do better."""
        for key, data, content_type in items:
            self.put_bytes(key, data, content_type=content_type)

    @abstractmethod
    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Stream an object. Raises ObjectNotFound at call time; close() releases the body."""

    def open_file(self, key: str) -> BinaryIO | None:
        """The object as a seekable file the caller closes, where the store keeps objects
        as files that are never changed in place (so the file stays the bytes it was
        opened on, whatever is written to the key meanwhile); None where it does not (a
        reader then streams it with iter_chunks). Raises ObjectNotFound."""
        return None

    @abstractmethod
    def head(self, key: str) -> ObjectInfo:
        """Size, content type and mtime of `key`; raises ObjectNotFound."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""

    def settle(self, key: str) -> None:  # noqa: B027 - most stores need nothing here
        """Make `key`'s bytes durable ahead of a copy of them, so the copy itself is quick:
        a store that takes uploads without waiting for its disk (the local one) flushes
        them here; nothing where a write is durable once answered (S3). May raise
        ObjectNotFound."""

    @abstractmethod
    def copy(self, src: str, dst: str) -> None:
        """Copy inside the store (content type kept); raises ObjectNotFound for `src`."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix`, each once, in no order a caller may
        count on (S3 lists in key order, SeaweedFS folder by folder, the local disk as its
        folders hold them); content_type is None."""

    def browser_origins(self) -> list[str]:
        """Origins the browser sends photos to and reads them from (for the app's CSP);
        none beyond the app's own by default."""
        return []

    @abstractmethod
    def presign_upload(
        self, key: str, *, content_type: str, size: int, expires_in: int
    ) -> UploadTarget:
        """A URL a client can PUT exactly `size` bytes of `content_type` to, once or more."""

    @abstractmethod
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
        """A URL that GETs `key`, with Content-Disposition and optional Content-Type override.
        `sha256`: the bytes' recorded hash; a store that serves the bytes through this app
        checks it as they stream and cuts the download short on a mismatch (S3 serves them
        itself: the caller checks before handing out the link)."""

    @abstractmethod
    def check(self) -> None:
        """Health probe; raises StorageError when the store is unusable."""

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release pooled connections (S3); the instance must not be used afterwards."""
