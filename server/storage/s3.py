"""S3 backend (boto3), tested against SeaweedFS; works with AWS S3 and other compatibles."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .base import (
    ATTACHMENT_CACHE_CONTROL,
    ChunkStream,
    ObjectInfo,
    ObjectNotFound,
    SizeMismatch,
    Storage,
    StorageError,
    UploadTarget,
    content_disposition,
    validate_content_type,
    validate_expiry,
    validate_key,
    validate_prefix,
)

__all__ = ["S3Storage"]

_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket", "404", "NotFound"})


class _CheckedReader:
    """File-like wrapper that raises SizeMismatch as soon as the stream disagrees with `size`.

    s3transfer reads it chunk by chunk, so the error aborts the upload before completion.
    """

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self._stream = stream
        self._size = size
        self._seen = 0

    def read(self, n: int = -1) -> bytes:
        want = self._size - self._seen + 1  # one extra byte reveals an oversized stream
        chunk = self._stream.read(want if n is None or n < 0 else min(n, want))
        self._seen += len(chunk)
        if self._seen > self._size:
            raise SizeMismatch(self._size, None)
        if not chunk and self._seen < self._size:
            raise SizeMismatch(self._size, self._seen)
        return chunk


class S3Storage(Storage):
    alias = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        addressing: str | None = None,
        public_endpoint: str | None = None,
        connect_timeout: float = 3,
        read_timeout: float = 20,
        max_attempts: int = 3,
    ) -> None:
        if not bucket:
            raise ValueError("S3 bucket name is required")
        if (access_key is None) != (secret_key is None):
            raise ValueError("give both access_key and secret_key, or neither")
        if addressing is None:
            # Custom endpoints (SeaweedFS, MinIO, ...) rarely have wildcard DNS.
            addressing = "path" if endpoint else "auto"
        if addressing not in ("path", "virtual", "auto"):
            raise ValueError("addressing must be path, virtual or auto")
        self.bucket = bucket
        self.endpoint = endpoint
        self.public_endpoint = public_endpoint
        config = Config(
            signature_version="s3v4",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": max_attempts, "mode": "standard"},
            s3={"addressing_style": addressing},
            # Newer botocore adds CRC trailers by default; many S3 compatibles reject them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # Keys and types are validated here before any call (validate_key and co.);
            # botocore's own walk over each request's parameters is CPU on every call.
            parameter_validation=False,
        )
        # Credentials left as None fall through to boto3's normal chain (env, files, IMDS).
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        try:
            self.client = session.client("s3", endpoint_url=endpoint, config=config)
            # SigV4 signs the Host header, so URLs for phones must be signed for the host
            # phones actually use. No network I/O happens in presigning.
            self._presign_client = (
                session.client("s3", endpoint_url=public_endpoint, config=config)
                if public_endpoint
                else self.client
            )
        except (BotoCoreError, ValueError) as exc:
            raise StorageError(f"cannot configure S3 client: {type(exc).__name__}") from exc
        # The health check's own client: one try, a second each to connect and read, so
        # a hung store is reported within its budget instead of after the retries.
        probe_config = config.merge(Config(connect_timeout=1, read_timeout=1,
                                           retries={"max_attempts": 1, "mode": "standard"}))
        try:
            self._probe_client = session.client("s3", endpoint_url=endpoint,
                                                config=probe_config)
        except (BotoCoreError, ValueError) as exc:
            raise StorageError(f"cannot configure S3 client: {type(exc).__name__}") from exc
        self._transfer = TransferConfig(
            multipart_threshold=16 * 1024 * 1024,
            multipart_chunksize=8 * 1024 * 1024,
            max_concurrency=2,
        )

    def close(self) -> None:
        self.client.close()
        self._probe_client.close()
        if self._presign_client is not self.client:
            self._presign_client.close()

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    @contextmanager
    def _errors(self, op: str, key: str | None = None) -> Iterator[None]:
        """Translate boto errors into StorageError / ObjectNotFound (no secrets in messages)."""
        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if key is not None and code in _NOT_FOUND_CODES:
                raise ObjectNotFound(key) from None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            where = f" for {key}" if key else ""
            raise StorageError(f"s3 {op} failed{where}: {code or 'error'} (HTTP {status})") from exc
        except BotoCoreError as exc:
            where = f" for {key}" if key else ""
            raise StorageError(f"s3 {op} failed{where}: {type(exc).__name__}") from exc

    # -- objects ---------------------------------------------------------------------------

    def put(
        self, key: str, stream: BinaryIO, *, content_type: str, size: int | None = None
    ) -> None:
        validate_key(key)
        validate_content_type(content_type)
        body: Any = stream if size is None else _CheckedReader(stream, size)
        with self._errors("put", key):
            # upload_fileobj reads in bounded chunks (multipart above the threshold), so
            # memory stays flat whatever the object size.
            self.client.upload_fileobj(
                body,
                self.bucket,
                key,
                ExtraArgs={"ContentType": content_type},
                Config=self._transfer,
            )

    def put_bytes(self, key: str, data: bytes, *, content_type: str) -> None:
        validate_key(key)
        validate_content_type(content_type)
        with self._errors("put", key):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def iter_chunks(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        validate_key(key)
        with self._errors("get", key):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]

        def wrap(exc: BaseException) -> BaseException:
            return StorageError(f"s3 get failed for {key}: {type(exc).__name__}")

        return ChunkStream(body.read, body.close, chunk_size, wrap)

    def head(self, key: str) -> ObjectInfo:
        validate_key(key)
        with self._errors("head", key):
            r = self.client.head_object(Bucket=self.bucket, Key=key)
        return ObjectInfo(
            key, int(r["ContentLength"]), r.get("ContentType"), _utc(r["LastModified"])
        )

    def delete(self, key: str) -> None:
        validate_key(key)
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def copy(self, src: str, dst: str) -> None:
        validate_key(src)
        validate_key(dst)
        with self._errors("copy", src):
            self.client.copy_object(
                Bucket=self.bucket,
                Key=dst,
                MetadataDirective="COPY",
                CopySource={"Bucket": self.bucket, "Key": src},
            )

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list"):
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", ()):
                    if item["Key"].endswith("/"):
                        continue  # folder markers some stores report
                    yield ObjectInfo(
                        item["Key"], int(item["Size"]), None, _utc(item["LastModified"])
                    )

    # -- presigning ------------------------------------------------------------------------

    def browser_origins(self) -> list[str]:
        endpoint = self.public_endpoint or self.endpoint
        if not endpoint:  # AWS itself: bucket and region hosts
            return ["https://*.amazonaws.com"]
        parts = urlsplit(endpoint)
        return [f"{parts.scheme}://{parts.netloc}"]

    def presign_upload(
        self, key: str, *, content_type: str, size: int, expires_in: int
    ) -> UploadTarget:
        validate_key(key)
        validate_content_type(content_type)
        validate_expiry(expires_in)
        if not isinstance(size, int) or size < 0:
            raise ValueError("size must be a non-negative int")
        with self._errors("presign", key):
            # Content-Type and Content-Length become signed headers: the store refuses
            # (403 SignatureDoesNotMatch) a body of another type or length.
            url = self._presign_client.generate_presigned_url(
                "put_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ContentType": content_type,
                    "ContentLength": size,
                },
                ExpiresIn=expires_in,
                HttpMethod="PUT",
            )
        return UploadTarget("PUT", url, {"Content-Type": content_type, "Content-Length": str(size)})

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
        validate_expiry(expires_in)
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename or attachment:
            params["ResponseContentDisposition"] = content_disposition(
                filename, attachment=attachment
            )
        if attachment:  # as the local store's own links: a download is cached nowhere
            params["ResponseCacheControl"] = ATTACHMENT_CACHE_CONTROL
        if content_type is not None:
            params["ResponseContentType"] = validate_content_type(content_type)
        with self._errors("presign", key):
            return str(
                self._presign_client.generate_presigned_url(
                    "get_object", Params=params, ExpiresIn=expires_in
                )
            )

    # -- bucket ----------------------------------------------------------------------------

    def _bucket_exists(self, client: Any = None) -> bool:
        try:
            (client or self.client).head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING_BUCKET_CODES:
                return False
            raise StorageError(f"s3 check failed: {code or 'error'}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"s3 check failed: {type(exc).__name__}") from exc
        return True

    def check(self) -> None:
        """Within about two seconds, whatever the store does (the health check's budget)."""
        if not self._bucket_exists(self._probe_client):
            raise StorageError(f"s3 bucket {self.bucket!r} does not exist")

    def ensure_bucket(self, cors_origins: Sequence[str] = ()) -> None:
        """Create the bucket if missing; with origins, let browsers PUT/GET presigned URLs."""
        if not self._bucket_exists():
            region = self.client.meta.region_name
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if region and region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                self.client.create_bucket(**kwargs)
            except ClientError as cexc:
                code = cexc.response.get("Error", {}).get("Code")
                if code != "BucketAlreadyOwnedByYou":  # "AlreadyExists" = someone else's
                    raise StorageError(f"s3 create bucket failed: {code}") from cexc
            except BotoCoreError as cexc:
                raise StorageError(f"s3 create bucket failed: {type(cexc).__name__}") from cexc
        if cors_origins:
            rule = {
                "AllowedOrigins": list(cors_origins),
                "AllowedMethods": ["PUT", "GET", "HEAD"],
                "AllowedHeaders": [
                    "Content-Type",
                    "Content-Length",
                    "Content-MD5",
                    "Cache-Control",
                    "x-amz-*",
                ],
                "ExposeHeaders": ["ETag", "Content-Length", "Content-Type"],
                "MaxAgeSeconds": 3600,
            }
            with self._errors("put bucket cors"):
                self.client.put_bucket_cors(
                    Bucket=self.bucket, CORSConfiguration={"CORSRules": [rule]}
                )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
