"""Object storage: one small interface (Storage), a local-disk and an S3 backend.

Pick a backend with a URL (config STORAGE_URL):

    file:instance/objects                     relative to the current directory
    file:///var/lib/fieldcase/objects         absolute
    s3://BUCKET?endpoint=http://127.0.0.1:8333&region=us-east-1
        &access_key=...&secret_key=...&addressing=path&public_endpoint=https://s3.example

Query values are percent-decoded, but '+' stays a literal '+' (AWS secrets contain it).
Unknown query options are refused, so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from .base import (
    ATTACHMENT_CACHE_CONTROL,
    BadToken,
    ChunkStream,
    ObjectInfo,
    ObjectNotFound,
    SizeMismatch,
    Storage,
    StorageError,
    TokenExpired,
    UploadTarget,
    content_disposition,
    validate_key,
    validate_prefix,
)
from .local import LocalStorage
from .s3 import S3Storage

__all__ = [
    "ATTACHMENT_CACHE_CONTROL",
    "BadToken",
    "ChunkStream",
    "LocalStorage",
    "ObjectInfo",
    "ObjectNotFound",
    "S3Storage",
    "SizeMismatch",
    "Storage",
    "StorageError",
    "TokenExpired",
    "UploadTarget",
    "content_disposition",
    "from_url",
    "validate_key",
    "validate_prefix",
]

_S3_OPTIONS = frozenset(
    {"endpoint", "region", "access_key", "secret_key", "addressing", "public_endpoint"}
)


def _query(raw: str, allowed: frozenset[str], scheme: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in filter(None, raw.split("&")):
        name, _, value = part.partition("=")
        name = unquote(name)
        if name in options:
            raise ValueError(f"{scheme} storage URL repeats option {name!r}")
        options[name] = unquote(value)  # not unquote_plus: '+' is literal
    unknown = sorted(set(options) - allowed)
    if unknown:
        # Name the options, never echo the URL: it may carry a secret.
        raise ValueError(f"unknown {scheme} storage URL option(s): {', '.join(unknown)}")
    return options


def from_url(url: str, *, secret_key: str = "", connect_timeout: float = 3,
             read_timeout: float = 20, max_attempts: int = 3) -> Storage:
    """Build a Storage from a URL; `secret_key` signs local presigned tokens; the timeouts
    and attempts bound each call to a remote store."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        _query(parts.query, frozenset(), "file")
        if parts.netloc not in ("", "localhost"):
            raise ValueError("file storage URL takes no host: use file:///abs or file:rel")
        path = unquote(parts.path)
        if not path:
            raise ValueError("file storage URL needs a path")
        return LocalStorage(path, secret_key=secret_key)
    if scheme == "s3":
        options = _query(parts.query, _S3_OPTIONS, "s3")
        bucket = parts.netloc
        if not bucket or "@" in bucket:
            raise ValueError("s3 storage URL needs a bucket: s3://BUCKET?...")
        if parts.path not in ("", "/"):
            raise ValueError("s3 storage URL takes no key prefix")
        return S3Storage(
            bucket,
            endpoint=options.get("endpoint") or None,
            region=options.get("region") or None,
            access_key=options.get("access_key") or None,
            secret_key=options.get("secret_key") or None,
            addressing=options.get("addressing") or None,
            public_endpoint=options.get("public_endpoint") or None,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_attempts=max_attempts,
        )
    raise ValueError(f"unsupported storage URL scheme: {parts.scheme!r}")
