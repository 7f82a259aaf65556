"""Contract tests for server.storage: every backend must pass the same suite.

The S3 backend runs against a real SeaweedFS started by tests/storage_server.py. Without
a usable `weed` those tests are skipped, except under CI=true where they fail.
"""

from __future__ import annotations

import gc
import io
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import requests
from flask import Flask
from storage_server import SeaweedS3

from server.api.blobs import blobs_bp
from server.storage import (
    BadToken,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    SizeMismatch,
    Storage,
    StorageError,
    TokenExpired,
    UploadTarget,
    content_disposition,
    from_url,
)

SECRET = "test-secret-key"
MiB = 1 << 20


# -- fixtures ------------------------------------------------------------------------------


# `seaweed`: the session's SeaweedFS (tests/conftest.py), the one the scaled stack uses;
# each test here works in buckets of its own. Without a usable `weed` the S3 tests are
# skipped, except under CI=true where they fail.


def _new_bucket() -> str:
    return f"fc-{uuid.uuid4().hex[:20]}"


def _drop_bucket(storage: S3Storage) -> None:
    for info in list(storage.list("")):
        storage.delete(info.key)
    storage.client.delete_bucket(Bucket=storage.bucket)


@pytest.fixture
def s3_storage(seaweed: SeaweedS3) -> Iterator[S3Storage]:
    storage = from_url(seaweed.url(_new_bucket()))
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    try:
        yield storage
    finally:
        _drop_bucket(storage)
        storage.close()


@pytest.fixture
def local_storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "objects", secret_key=SECRET)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request: pytest.FixtureRequest) -> Storage:
    name = "local_storage" if request.param == "file" else "s3_storage"
    return request.getfixturevalue(name)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]  # lower-case names


class Http:
    """Follows presigned URLs the way a phone would: real HTTP for S3, and the blobs
    blueprint in a minimal Flask app (via its test client) for local relative URLs."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.flask = None
        if isinstance(storage, LocalStorage):
            app = Flask("blobs-test")
            app.extensions["fieldcase.storage"] = storage
            app.register_blueprint(blobs_bp)
            self.flask = app.test_client()

    def request(
        self, method: str, url: str, *, data: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        # Like fetch(): the transport computes Content-Length from the body.
        headers = {k: v for k, v in (headers or {}).items() if k.lower() != "content-length"}
        if self.flask is not None:
            resp = self.flask.open(url, method=method, data=data, headers=headers)
            try:
                return Reply(
                    resp.status_code,
                    resp.get_data(),
                    {k.lower(): v for k, v in resp.headers.items()},
                )
            finally:
                resp.close()
        with requests.request(method, url, data=data, headers=headers, timeout=30) as resp:
            return Reply(
                resp.status_code, resp.content, {k.lower(): v for k, v in resp.headers.items()}
            )

    def upload(self, target: UploadTarget, data: bytes, **override: str) -> Reply:
        return self.request(
            target.method, target.url, data=data, headers={**target.headers, **override}
        )

    def put_truncated(self, target: UploadTarget, sent: bytes) -> Reply:
        """Declare the signed length but send fewer bytes, then hang up (a dropped upload)."""
        declared = target.headers["Content-Length"]
        if self.flask is not None:
            resp = self.flask.put(
                target.url,
                data=sent,
                headers=target.headers,
                environ_overrides={"CONTENT_LENGTH": declared},
            )
            try:
                return Reply(resp.status_code, resp.get_data(), dict(resp.headers))
            finally:
                resp.close()
        parts = urlsplit(target.url)
        head = [
            f"PUT {parts.path}?{parts.query} HTTP/1.1",
            f"Host: {parts.netloc}",
            *(f"{k}: {v}" for k, v in target.headers.items()),
            "",
            "",
        ]
        with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
            sock.sendall("\r\n".join(head).encode() + sent)
            sock.shutdown(socket.SHUT_WR)
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
        status_line = raw.split(b"\r\n", 1)[0].decode() if raw else "HTTP/1.1 000"
        return Reply(int(status_line.split()[1]), raw, {})


class NonSeekable(io.RawIOBase):
    """A pipe-like body: read() only, no seek/tell/len, so nothing can cheat by size."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        return self._buf.readinto(b)


def _payload(size: int) -> bytes:
    block = os.urandom(64 * 1024)
    return (block * (size // len(block) + 1))[:size]


def _is_local(storage: Storage) -> bool:
    return isinstance(storage, LocalStorage)


# -- contract: objects --------------------------------------------------------------------


@pytest.mark.parametrize("size", [3 * MiB + 7, 17 * MiB + 3], ids=["3MiB", "17MiB-multipart"])
def test_put_stream_and_iter_chunks_roundtrip(storage: Storage, size: int) -> None:
    data = _payload(size)
    storage.put("evidence/a/original", NonSeekable(data), content_type="image/jpeg", size=size)
    chunks = list(storage.iter_chunks("evidence/a/original", chunk_size=MiB))
    assert len(chunks) >= size // MiB
    assert all(len(c) <= MiB for c in chunks)
    assert b"".join(chunks) == data


def test_put_without_size_and_put_bytes(storage: Storage) -> None:
    storage.put("a/unsized", NonSeekable(b"x" * 100_000), content_type="text/plain")
    storage.put_bytes("a/bytes", b"hello", content_type="text/plain; charset=utf-8")
    assert storage.head("a/unsized").size == 100_000
    assert b"".join(storage.iter_chunks("a/bytes")) == b"hello"


def test_head_reports_size_type_and_utc_mtime(storage: Storage) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    storage.put_bytes("staging/x/token", b"12345", content_type="image/heic")
    info = storage.head("staging/x/token")
    assert (info.key, info.size, info.content_type) == ("staging/x/token", 5, "image/heic")
    assert info.last_modified.utcoffset() == timedelta(0)
    assert before <= info.last_modified <= datetime.now(UTC) + timedelta(seconds=5)


def test_missing_key_raises_object_not_found(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        storage.head("nope/missing")
    with pytest.raises(ObjectNotFound):
        storage.iter_chunks("nope/missing")  # at call time, before any chunk
    with pytest.raises(ObjectNotFound):
        storage.copy("nope/missing", "nope/dst")


def test_object_not_found_is_a_storage_error(storage: Storage) -> None:
    with pytest.raises(StorageError):
        storage.head("nope/missing")


def test_delete_is_idempotent(storage: Storage) -> None:
    storage.put_bytes("d/k", b"1", content_type="text/plain")
    storage.delete("d/k")
    storage.delete("d/k")
    storage.delete("never/existed")
    with pytest.raises(ObjectNotFound):
        storage.head("d/k")


def test_copy_keeps_bytes_and_type(storage: Storage) -> None:
    storage.put_bytes("staging/u/t", b"photo-bytes", content_type="image/png")
    storage.copy("staging/u/t", "evidence/u/original")
    assert b"".join(storage.iter_chunks("evidence/u/original")) == b"photo-bytes"
    assert storage.head("evidence/u/original").content_type == "image/png"
    assert storage.head("staging/u/t").size == len(b"photo-bytes")


def test_copy_is_independent_of_its_source(storage: Storage) -> None:
    # The local store copies by hard link: a later write or delete of the source must
    # still leave the copy's bytes and type as they were (as on S3).
    storage.put_bytes("staging/v/t", b"first-bytes", content_type="image/jpeg")
    storage.copy("staging/v/t", "evidence/v/original")
    storage.put_bytes("staging/v/t", b"resent, different", content_type="image/png")
    assert b"".join(storage.iter_chunks("evidence/v/original")) == b"first-bytes"
    storage.delete("staging/v/t")
    info = storage.head("evidence/v/original")
    assert (info.size, info.content_type) == (len(b"first-bytes"), "image/jpeg")
    assert [i.key for i in storage.list("evidence/v/")] == ["evidence/v/original"]


def test_local_copy_links_and_falls_back_without_links(
    local_storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    local_storage.put_bytes("staging/w/t", b"linked", content_type="image/jpeg")
    local_storage.copy("staging/w/t", "evidence/w/original")
    linked = local_storage.root / "evidence/w/original"
    assert linked.stat().st_ino == (local_storage.root / "staging/w/t").stat().st_ino

    def no_links(*_: Any) -> None:
        raise OSError(18, "Invalid cross-device link")  # EXDEV, as across mounts

    monkeypatch.setattr(os, "link", no_links)
    local_storage.copy("staging/w/t", "evidence/w/second")
    second = local_storage.root / "evidence/w/second"
    assert second.read_bytes() == b"linked"
    assert second.stat().st_ino != linked.stat().st_ino
    assert local_storage.head("evidence/w/second").content_type == "image/jpeg"
    leftovers = [p.name for p in (local_storage.root / "evidence/w").iterdir()
                 if p.name.endswith(".tmp")]
    assert leftovers == []


def test_local_copy_of_a_source_written_anew_meanwhile_describes_the_bytes_it_holds(
    local_storage: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A phone re-sends other bytes to staging just as the copy looks at it: the copy must
    # hold one version whole, its sidecar (size, type) that version's, never a mix.
    import server.storage.local as local_module

    local_storage.put_bytes("staging/x/t", b"first, a jpeg", content_type="image/jpeg")
    real_link, resent = os.link, []

    def link_after_a_resend(src: Any, dst: Any) -> None:
        if not resent:
            resent.append(1)
            local_storage.put_bytes("staging/x/t", b"second: a png, longer",
                                    content_type="image/png")
        real_link(src, dst)

    monkeypatch.setattr(local_module.os, "link", link_after_a_resend)
    local_storage.copy("staging/x/t", "evidence/x/original")
    data = b"".join(local_storage.iter_chunks("evidence/x/original"))
    info = local_storage.head("evidence/x/original")
    assert (data, info.size, info.content_type) == (
        b"second: a png, longer", len(b"second: a png, longer"), "image/png")


def test_overwrite_replaces_object(storage: Storage) -> None:
    storage.put_bytes("o/k", b"first version", content_type="text/plain")
    storage.put_bytes("o/k", b"2nd", content_type="image/jpeg")
    info = storage.head("o/k")
    assert (info.size, info.content_type) == (3, "image/jpeg")


def test_list_with_prefix(storage: Storage) -> None:
    keys = [
        "evidence/a/original",
        "evidence/a/thumb",
        "evidence/ab/original",
        "evidence/b/original",
        "staging/x/y",
    ]
    for key in reversed(keys):
        storage.put_bytes(key, key.encode(), content_type="text/plain")
    assert listed(storage, "evidence/a/") == keys[:2]
    assert listed(storage, "evidence/a") == keys[:3]
    assert listed(storage, "") == keys
    assert list(storage.list("nothing/")) == []
    info = next(iter(storage.list("staging/")))
    assert (info.key, info.size, info.content_type) == ("staging/x/y", len(b"staging/x/y"), None)
    assert info.last_modified.tzinfo is not None


def listed(storage: Storage, prefix: str) -> list[str]:
    """The keys listed, each once (the order is no store's promise: SeaweedFS lists
    folder by folder, the local disk as its folders hold them)."""
    keys = [i.key for i in storage.list(prefix)]
    assert len(keys) == len(set(keys)), keys
    return sorted(keys)


def test_local_list_walks_every_folder_and_matches_prefixes_across_them(tmp_path: Path) -> None:
    """Keys beside folders of the same stem ("o/a-c", "o/a.txt", "o/a0" beside "o/a/"),
    a folder two levels down, a linked folder (not walked) and a hidden temp file (not
    an object)."""
    storage = LocalStorage(tmp_path / "objects")
    keys = ["o/a-c", "o/a.txt", "o/a/b", "o/a/b.txt", "o/a/c/d", "o/a0", "o/ä"]
    for key in reversed(keys):
        storage.put_bytes(key, b"x", content_type="text/plain")
    (tmp_path / "objects/o/link").symlink_to(tmp_path / "objects/o/a")
    (tmp_path / "objects/o/a/.b.tmp").write_bytes(b"half")
    assert listed(storage, "o/") == sorted(keys)
    assert listed(storage, "o/a") == sorted(keys[:-1])
    assert listed(storage, "o/a/") == sorted(keys[2:5])
    assert listed(storage, "o/a/c") == ["o/a/c/d"]


BAD_KEYS = [
    "",
    "/abs",
    "a/../b",
    "..",
    "a\\b",
    "a\x00b",
    "a//b",
    "a/",
    ".hidden",
    "a/./b",
    "a\nb",
    "x/" + "y" * 300,
]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_are_rejected(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        storage.put_bytes(key, b"x", content_type="text/plain")
    with pytest.raises(ValueError):
        storage.head(key)
    with pytest.raises(ValueError):
        storage.delete(key)
    with pytest.raises(ValueError):
        storage.presign_upload(key, content_type="image/jpeg", size=1, expires_in=60)


def test_bad_list_prefix_is_rejected(storage: Storage) -> None:
    for prefix in ["/abs", "../x", "a//", "a\\b"]:
        with pytest.raises(ValueError):
            list(storage.list(prefix))


@pytest.mark.parametrize("actual", [99_999, 100_001, 0])
def test_put_with_wrong_size_leaves_nothing(storage: Storage, actual: int) -> None:
    with pytest.raises(SizeMismatch):
        storage.put("s/k", NonSeekable(b"z" * actual), content_type="image/jpeg", size=100_000)
    with pytest.raises(ObjectNotFound):
        storage.head("s/k")
    assert list(storage.list("")) == []


def test_iter_chunks_releases_body_when_consumer_stops_early(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage.put_bytes("r/k", _payload(3 * MiB), content_type="application/octet-stream")
    bodies: list[Any] = []
    if isinstance(storage, S3Storage):
        real_get = storage.client.get_object

        def spy_get(**kwargs: Any) -> Any:
            response = real_get(**kwargs)
            bodies.append(response["Body"])
            return response

        monkeypatch.setattr(storage.client, "get_object", spy_get)
    chunks = storage.iter_chunks("r/k", chunk_size=64 * 1024)
    assert len(next(iter(chunks))) == 64 * 1024
    chunks.close()  # type: ignore[attr-defined]  # what WSGI servers do on abort
    assert list(chunks) == []
    # S3: the HTTP response is closed, not left half-read in the pool.
    assert all(body._raw_stream.closed for body in bodies)
    # Abandoned without close(), even before the first chunk: finalisation releases it.
    # Any unclosed file/socket would surface as a ResourceWarning -> error in this suite.
    started = storage.iter_chunks("r/k", chunk_size=1024)
    next(iter(started))
    del started
    del chunks
    storage.iter_chunks("r/k")
    gc.collect()
    # The store is still fully usable afterwards (no leaked pool slots).
    assert storage.head("r/k").size == 3 * MiB


def test_check_passes(storage: Storage) -> None:
    storage.check()


# -- contract: presigned URLs -------------------------------------------------------------


def test_presigned_upload_then_head(storage: Storage) -> None:
    data = _payload(200_000)
    target = storage.presign_upload(
        "staging/p/tok", content_type="image/jpeg", size=len(data), expires_in=300
    )
    assert target.method == "PUT"
    assert target.headers == {"Content-Type": "image/jpeg", "Content-Length": str(len(data))}
    if _is_local(storage):
        assert target.url.startswith("/api/blobs/")
    reply = Http(storage).upload(target, data)
    assert reply.status in (200, 201), reply.body
    info = storage.head("staging/p/tok")
    assert (info.size, info.content_type) == (len(data), "image/jpeg")
    assert b"".join(storage.iter_chunks("staging/p/tok")) == data


def test_presigned_download_is_an_attachment(storage: Storage) -> None:
    storage.put_bytes("evidence/d/original", b"\xff\xd8jpeg", content_type="image/jpeg")
    url = storage.presign_download(
        "evidence/d/original",
        expires_in=300,
        filename="Beweis Überlauf 1.jpg",
        content_type="image/jpeg",
    )
    reply = Http(storage).request("GET", url)
    assert reply.status == 200
    assert reply.body == b"\xff\xd8jpeg"
    assert reply.headers["content-type"] == "image/jpeg"
    disposition = reply.headers["content-disposition"]
    assert disposition == content_disposition("Beweis Überlauf 1.jpg")
    assert disposition.startswith('attachment; filename="Beweis Uberlauf 1.jpg"')
    assert "filename*=UTF-8''Beweis%20%C3%9Cberlauf%201.jpg" in disposition
    # A download is cached nowhere (a shared office computer), whichever store serves it.
    assert reply.headers["cache-control"] == "private, no-store"


def test_presigned_download_inline_without_filename(storage: Storage) -> None:
    storage.put_bytes("evidence/i/thumb", b"png", content_type="image/png")
    url = storage.presign_download("evidence/i/thumb", expires_in=60, attachment=False)
    reply = Http(storage).request("GET", url)
    assert reply.status == 200
    assert reply.headers["content-type"] == "image/png"
    assert "content-disposition" not in reply.headers
    assert "no-store" not in reply.headers.get("cache-control", "")  # a thumbnail may be


def test_presigned_upload_refuses_other_content_type(storage: Storage) -> None:
    target = storage.presign_upload(
        "staging/ct/tok", content_type="image/jpeg", size=4, expires_in=300
    )
    http = Http(storage)
    reply = http.upload(target, b"abcd", **{"Content-Type": "image/png"})
    # S3 refuses with 403 SignatureDoesNotMatch; the local endpoint says 415.
    assert reply.status == (415 if _is_local(storage) else 403)
    reply = http.request("PUT", target.url, data=b"abcd", headers={})
    assert reply.status == (415 if _is_local(storage) else 403)
    with pytest.raises(ObjectNotFound):
        storage.head("staging/ct/tok")


@pytest.mark.parametrize("sent", [999, 1001], ids=["shorter", "longer"])
def test_presigned_upload_pins_content_length(storage: Storage, sent: int) -> None:
    target = storage.presign_upload(
        "staging/len/tok", content_type="image/jpeg", size=1000, expires_in=300
    )
    reply = Http(storage).upload(target, b"q" * sent)
    if _is_local(storage):
        assert reply.status == (400 if sent < 1000 else 413)
    else:
        # Content-Length is a signed header: another length breaks the signature.
        assert reply.status == 403
        assert b"SignatureDoesNotMatch" in reply.body
    with pytest.raises(ObjectNotFound):
        storage.head("staging/len/tok")


def test_presigned_upload_truncated_body_is_not_stored(storage: Storage) -> None:
    target = storage.presign_upload(
        "staging/cut/tok", content_type="image/jpeg", size=50_000, expires_in=300
    )
    reply = Http(storage).put_truncated(target, b"c" * 20_000)
    assert reply.status >= 400
    with pytest.raises(ObjectNotFound):
        storage.head("staging/cut/tok")


def test_expired_urls_are_refused(storage: Storage) -> None:
    storage.put_bytes("evidence/e/original", b"old", content_type="image/jpeg")
    target = storage.presign_upload(
        "staging/e/tok", content_type="image/jpeg", size=3, expires_in=1
    )
    url = storage.presign_download("evidence/e/original", expires_in=1)
    time.sleep(2.1)
    http = Http(storage)
    put = http.upload(target, b"new")
    get = http.request("GET", url)
    assert (put.status, get.status) == (403, 403)
    if _is_local(storage):
        assert b"blob.token_expired" in put.body
    else:
        assert b"expired" in put.body
    with pytest.raises(ObjectNotFound):
        storage.head("staging/e/tok")


def test_presign_validates_arguments(storage: Storage) -> None:
    for expires in (0, -1, 8 * 24 * 3600):
        with pytest.raises(ValueError):
            storage.presign_upload("k/x", content_type="image/jpeg", size=1, expires_in=expires)
    with pytest.raises(ValueError):
        storage.presign_upload("k/x", content_type="image/jpeg\r\nX-Evil: 1", size=1, expires_in=60)
    with pytest.raises(ValueError):
        storage.presign_upload("k/x", content_type="image/jpeg", size=-1, expires_in=60)


# -- S3 specifics (SeaweedFS enforcing its signatures) -----------------------------------


def _flip(url: str, index: int) -> str:
    return url[:index] + ("0" if url[index] != "0" else "1") + url[index + 1 :]


@pytest.mark.s3
def test_s3_tampered_presigned_urls_are_refused_by_the_store(s3_storage: S3Storage) -> None:
    http = Http(s3_storage)
    target = s3_storage.presign_upload(
        "staging/t/tok", content_type="image/jpeg", size=3, expires_in=300
    )
    sig_at = target.url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    forged_sig = UploadTarget("PUT", _flip(target.url, sig_at + 5), target.headers)
    forged_key = UploadTarget(
        "PUT", target.url.replace("/staging/t/tok?", "/staging/t/other?"), target.headers
    )
    assert forged_key.url != target.url
    for forged in (forged_sig, forged_key):
        reply = http.upload(forged, b"abc")
        assert reply.status == 403
        assert b"SignatureDoesNotMatch" in reply.body
    for key in ("staging/t/tok", "staging/t/other"):
        with pytest.raises(ObjectNotFound):
            s3_storage.head(key)

    s3_storage.put_bytes("evidence/t/original", b"secret", content_type="image/jpeg")
    url = s3_storage.presign_download("evidence/t/original", expires_in=300)
    reply = http.request("GET", _flip(url, url.index("X-Amz-Signature=") + 20))
    assert reply.status == 403
    # Swapping the disposition (to serve inline) also breaks the signature.
    reply = http.request("GET", url.replace("attachment", "inline"))
    assert reply.status == 403
    assert http.request("GET", url).status == 200


@pytest.mark.s3
def test_s3_presigned_url_signed_for_public_endpoint(seaweed: SeaweedS3) -> None:
    public = seaweed.endpoint.replace("127.0.0.1", "localhost")
    storage = from_url(seaweed.url(_new_bucket(), public_endpoint=public))
    assert isinstance(storage, S3Storage)
    try:
        storage.ensure_bucket()
        target = storage.presign_upload(
            "staging/pub/tok", content_type="image/jpeg", size=2, expires_in=60
        )
        assert target.url.startswith(public + "/")
        assert Http(storage).upload(target, b"ok").status == 200
        assert storage.head("staging/pub/tok").size == 2
    finally:
        _drop_bucket(storage)
        storage.close()


@pytest.mark.s3
def test_s3_wrong_credentials_raise_storage_error(seaweed: SeaweedS3) -> None:
    bucket = _new_bucket()
    for extra in ({"access_key": "AKIDNOTAKEY"}, {"secret_key": "wrong-secret-value+/x"}):
        storage = from_url(seaweed.url(bucket, **extra))
        try:
            with pytest.raises(StorageError) as excinfo:
                storage.check()
            assert "wrong-secret-value" not in str(excinfo.value)
            assert seaweed.secret_key not in str(excinfo.value)
            with pytest.raises(StorageError):
                storage.put_bytes("k/x", b"1", content_type="text/plain")
            with pytest.raises(StorageError):
                storage.head("k/x")
        finally:
            storage.close()


@pytest.mark.s3
def test_s3_credentials_from_environment(
    seaweed: SeaweedS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweed.secret_key)
    storage = from_url(seaweed.url(_new_bucket(), access_key=None, secret_key=None))
    assert isinstance(storage, S3Storage)
    try:
        storage.ensure_bucket()
        storage.put_bytes("k/env", b"1", content_type="text/plain")
        assert storage.head("k/env").size == 1
    finally:
        _drop_bucket(storage)
        storage.close()


@pytest.mark.s3
def test_s3_missing_bucket_fails_check(seaweed: SeaweedS3) -> None:
    storage = from_url(seaweed.url(_new_bucket()))
    try:
        with pytest.raises(StorageError, match="does not exist"):
            storage.check()
    finally:
        storage.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.s3
def test_s3_unreachable_endpoint_raises_quickly(seaweed: SeaweedS3) -> None:
    storage = from_url(seaweed.url("fc-nowhere", endpoint=f"http://127.0.0.1:{_closed_port()}"))
    started = time.monotonic()
    try:
        for call in (
            storage.check,
            lambda: storage.head("k/x"),
            lambda: storage.put_bytes("k/x", b"1", content_type="text/plain"),
            lambda: list(storage.list("")),
        ):
            with pytest.raises(StorageError) as excinfo:
                call()
            assert not isinstance(excinfo.value, ObjectNotFound)
    finally:
        storage.close()
    assert time.monotonic() - started < 30


@pytest.mark.s3
def test_s3_cors_rules_from_ensure_bucket(seaweed: SeaweedS3) -> None:
    storage = from_url(seaweed.url(_new_bucket()))
    assert isinstance(storage, S3Storage)
    try:
        storage.ensure_bucket(cors_origins=["https://pwa.fieldcase.test"])
        storage.ensure_bucket(cors_origins=["https://pwa.fieldcase.test"])  # idempotent
        key_url = f"{seaweed.endpoint}/{storage.bucket}/staging/c/tok"
        preflight = {
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "content-type",
        }
        with requests.options(
            key_url, timeout=10, headers={"Origin": "https://pwa.fieldcase.test", **preflight}
        ) as ok:
            assert ok.status_code == 200
            assert ok.headers["Access-Control-Allow-Origin"] == "https://pwa.fieldcase.test"
            assert "PUT" in ok.headers["Access-Control-Allow-Methods"]
        with requests.options(
            key_url, timeout=10, headers={"Origin": "https://evil.test", **preflight}
        ) as bad:
            assert bad.status_code == 403
            assert "Access-Control-Allow-Origin" not in bad.headers
        target = storage.presign_upload(
            "staging/c/tok", content_type="image/jpeg", size=2, expires_in=60
        )
        with requests.put(
            target.url,
            data=b"ok",
            timeout=10,
            headers={**target.headers, "Origin": "https://pwa.fieldcase.test"},
        ) as put:
            assert put.status_code == 200
            assert "ETag" in put.headers["Access-Control-Expose-Headers"]
    finally:
        _drop_bucket(storage)
        storage.close()


# -- local specifics ----------------------------------------------------------------------


def _problem(reply: Reply) -> dict[str, Any]:
    import json

    assert reply.headers["content-type"] == "application/problem+json"
    body = json.loads(reply.body)
    assert body["status"] == reply.status
    assert body["type"] == f"https://fieldcase.dev/problems/{body['code']}"
    return body


def test_local_tampered_token_is_403(local_storage: LocalStorage) -> None:
    http = Http(local_storage)
    target = local_storage.presign_upload(
        "staging/l/tok", content_type="image/jpeg", size=2, expires_in=60
    )
    prefix_len = len("/api/blobs/")
    for forged in (
        _flip(target.url, len(target.url) - 3),  # signature
        _flip(target.url, prefix_len + 12),  # payload (key, type, size, expiry)
        "/api/blobs/not-a-token",
    ):
        reply = http.upload(UploadTarget("PUT", forged, target.headers), b"ok")
        assert reply.status == 403
        assert _problem(reply)["code"] == "blob.bad_token"
    assert http.upload(target, b"ok").status == 201
    assert http.upload(target, b"ok").status == 200  # overwrite, like S3's idempotent PUT


def test_local_token_from_another_secret_is_403(local_storage: LocalStorage) -> None:
    other = LocalStorage(local_storage.root, secret_key="another-secret")
    target = other.presign_upload("staging/l/tok", content_type="image/jpeg", size=2, expires_in=60)
    reply = Http(local_storage).upload(target, b"ok")
    assert (reply.status, _problem(reply)["code"]) == (403, "blob.bad_token")


def test_local_token_operation_is_enforced(local_storage: LocalStorage) -> None:
    http = Http(local_storage)
    local_storage.put_bytes("evidence/l/original", b"abc", content_type="image/jpeg")
    get_url = local_storage.presign_download("evidence/l/original", expires_in=60)
    target = local_storage.presign_upload(
        "evidence/l/original", content_type="image/jpeg", size=3, expires_in=60
    )
    assert (
        http.request("PUT", get_url, data=b"xyz", headers={"Content-Type": "image/jpeg"}).status
        == 403
    )
    assert http.request("GET", target.url).status == 403
    assert b"".join(local_storage.iter_chunks("evidence/l/original")) == b"abc"


def test_local_upload_requires_content_length(local_storage: LocalStorage) -> None:
    target = local_storage.presign_upload(
        "staging/l/chunked", content_type="image/jpeg", size=2, expires_in=60
    )
    reply = Http(local_storage).request(
        "PUT",
        target.url,
        data=b"ok",
        headers={"Content-Type": "image/jpeg", "Transfer-Encoding": "chunked"},
    )
    assert (reply.status, _problem(reply)["code"]) == (411, "blob.length_required")


def test_local_truncated_upload_leaves_no_file(local_storage: LocalStorage) -> None:
    target = local_storage.presign_upload(
        "staging/l/cut", content_type="image/jpeg", size=100_000, expires_in=60
    )
    reply = Http(local_storage).put_truncated(target, b"c" * 70_000)
    assert reply.status == 400
    assert not any(p.is_file() for p in local_storage.root.rglob("*")), "partial/temp file left"


def test_local_write_capped_short_and_long(local_storage: LocalStorage) -> None:
    for body in (b"a" * 10, b"a" * 12):
        with pytest.raises(SizeMismatch):
            local_storage.write_capped("w/k", io.BytesIO(body), size=11, content_type="text/plain")
    local_storage.write_capped("w/k", io.BytesIO(b"a" * 11), size=11, content_type="text/plain")
    assert local_storage.head("w/k").size == 11
    assert sorted(p.name for p in (local_storage.root / "w").iterdir()) == [".k.meta.json", "k"]


def test_local_a_key_naming_its_type_keeps_no_sidecar(local_storage: LocalStorage) -> None:
    """A thumbnail (`thumb-small.jpg`, image/jpeg) is one file: its name says its type, so
    no sidecar is written (two files and two fsyncs fewer on every photo). Any other type
    keeps its sidecar, and a later write in the named type removes the one left before."""
    root = local_storage.root / "evidence/t"
    local_storage.put_bytes("evidence/t/thumb-small.jpg", b"jpeg", content_type="image/jpeg")
    assert sorted(p.name for p in root.iterdir()) == ["thumb-small.jpg"]
    assert local_storage.head("evidence/t/thumb-small.jpg").content_type == "image/jpeg"
    # The same name in another type: the sidecar says so.
    local_storage.put_bytes("evidence/t/thumb-small.jpg", b"png!", content_type="image/png")
    assert local_storage.head("evidence/t/thumb-small.jpg").content_type == "image/png"
    assert ".thumb-small.jpg.meta.json" in {p.name for p in root.iterdir()}
    # Written again as what its name says (same size): the old sidecar goes with it.
    local_storage.put_bytes("evidence/t/thumb-small.jpg", b"jpg!", content_type="image/jpeg")
    assert sorted(p.name for p in root.iterdir()) == ["thumb-small.jpg"]
    assert local_storage.head("evidence/t/thumb-small.jpg").content_type == "image/jpeg"
    # A copy to a name without an extension keeps the type in a sidecar.
    local_storage.copy("evidence/t/thumb-small.jpg", "evidence/t/original")
    assert local_storage.head("evidence/t/original").content_type == "image/jpeg"
    assert (root / ".original.meta.json").is_file()


def _fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(device, inode) of each file or folder fsynced from now on."""
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        synced.append((st.st_dev, st.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_local_staged_bytes_are_made_durable_when_promoted(
        local_storage: LocalStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload link's bytes are written without fsync (a crash may lose them before
    their completion, which then asks the phone for them again); the copy that promotes
    them fsyncs the very file it links, its sidecar and its folder, as any durable write."""
    synced = _fsyncs(monkeypatch)
    local_storage.write_capped("staging/p/tok", io.BytesIO(b"x" * 100), size=100,
                               content_type="image/jpeg", durable=False)
    assert synced == []
    staged = (local_storage.root / "staging/p/tok").stat()
    local_storage.copy("staging/p/tok", "evidence/p/original")
    promoted = local_storage.root / "evidence/p"
    assert (staged.st_dev, staged.st_ino) in synced  # the bytes themselves
    sidecar = (promoted / ".original.meta.json").stat()
    assert (sidecar.st_dev, sidecar.st_ino) in synced
    assert (promoted.stat().st_dev, promoted.stat().st_ino) in synced  # the new names
    assert local_storage.head("evidence/p/original").content_type == "image/jpeg"
    # A durable write (the default) fsyncs its bytes before they are named.
    synced.clear()
    local_storage.write_capped("w/k", io.BytesIO(b"y" * 10), size=10, content_type="text/plain")
    written = (local_storage.root / "w/k").stat()
    assert (written.st_dev, written.st_ino) in synced


def test_put_many_stores_each_object(storage: Storage) -> None:
    storage.put_many([("evidence/m/thumb-small.jpg", b"small", "image/jpeg"),
                      ("evidence/m/thumb-large.jpg", b"large!", "image/jpeg"),
                      ("other/m/notes", b"{}", "application/json")])
    for key, data, content_type in (("evidence/m/thumb-small.jpg", b"small", "image/jpeg"),
                                    ("evidence/m/thumb-large.jpg", b"large!", "image/jpeg"),
                                    ("other/m/notes", b"{}", "application/json")):
        assert b"".join(storage.iter_chunks(key)) == data
        info = storage.head(key)
        assert (info.size, info.content_type) == (len(data), content_type)


def test_local_put_many_fsyncs_each_object_and_each_folder_once(
        local_storage: LocalStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo's thumbnails share a folder: each file is fsynced before it is named, the
    folder once after both are (one fsync fewer than two puts)."""
    synced = _fsyncs(monkeypatch)
    local_storage.put_many([("evidence/f/thumb-small.jpg", b"s", "image/jpeg"),
                            ("evidence/f/thumb-large.jpg", b"l", "image/jpeg")])
    folder = local_storage.root / "evidence/f"
    inodes = [((folder / name).stat().st_dev, (folder / name).stat().st_ino)
              for name in ("thumb-small.jpg", "thumb-large.jpg")]
    assert all(inode in synced for inode in inodes)
    assert synced.count((folder.stat().st_dev, folder.stat().st_ino)) == 1
    assert len(synced) == 3


def test_local_token_age_is_checked_against_its_own_ttl(local_storage: LocalStorage,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The token's signature is checked once; its signed time then against its ttl, as
    itsdangerous' max_age would: signed longer ago than the ttl, or in the future (a
    clock set back), it is expired, whatever its own exp claim says."""
    from itsdangerous import URLSafeTimedSerializer

    from server.storage.local import TOKEN_SALT

    real = time.time()

    def signed_at(offset: float) -> str:
        with monkeypatch.context() as patch:  # itsdangerous stamps time.time()
            patch.setattr(time, "time", lambda: real + offset)
            return str(URLSafeTimedSerializer(SECRET, salt=TOKEN_SALT).dumps(
                {"op": "get", "key": "evidence/a/original", "ct": None, "size": None,
                 "fn": None, "att": True, "ttl": 60, "exp": int(real) + 3600}))

    assert local_storage.read_token(signed_at(-30))["key"] == "evidence/a/original"
    for offset in (-61, -3600, 120):
        with pytest.raises(TokenExpired):
            local_storage.read_token(signed_at(offset))
    with pytest.raises(BadToken):
        local_storage.read_token(signed_at(-30)[:-2] + "xx")


def test_local_failing_stream_never_leaves_partial_object(local_storage: LocalStorage) -> None:
    class Broken(io.RawIOBase):
        sent = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            if self.sent > 200_000:
                raise ConnectionResetError("phone went away")
            b[: len(b)] = b"x" * len(b)
            self.sent += len(b)
            return len(b)

    local_storage.put_bytes("f/k", b"previous", content_type="text/plain")
    with pytest.raises(StorageError):
        local_storage.put("f/k", Broken(), content_type="image/jpeg")  # type: ignore[arg-type]
    assert b"".join(local_storage.iter_chunks("f/k")) == b"previous"
    assert local_storage.head("f/k").content_type == "text/plain"
    assert [p.name for p in (local_storage.root / "f").iterdir() if ".tmp" in p.name] == []


def test_local_metadata_survives_restart_and_ignores_crash_leftovers(tmp_path: Path) -> None:
    first = LocalStorage(tmp_path / "objects", secret_key=SECRET)
    first.put_bytes("evidence/r/original", b"jpeg", content_type="image/jpeg")
    # What a crash mid-write leaves behind: a hidden temp file, never a file at the key.
    (tmp_path / "objects/evidence/r/.thumb.abc123.tmp").write_bytes(b"half")
    again = LocalStorage(tmp_path / "objects", secret_key=SECRET)
    assert again.head("evidence/r/original").content_type == "image/jpeg"
    assert [i.key for i in again.list("")] == ["evidence/r/original"]
    with pytest.raises(ObjectNotFound):
        again.head("evidence/r/thumb")


def test_local_delete_prunes_empty_directories(local_storage: LocalStorage) -> None:
    local_storage.put_bytes("staging/uuid/tok", b"1", content_type="text/plain")
    local_storage.delete("staging/uuid/tok")
    assert list(local_storage.root.iterdir()) == []


def test_local_download_headers(local_storage: LocalStorage) -> None:
    local_storage.put_bytes("evidence/h/original", b"<html>x</html>", content_type="text/html")
    url = local_storage.presign_download("evidence/h/original", expires_in=120, filename='a"b.html')
    reply = Http(local_storage).request("GET", url)
    assert reply.status == 200
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["content-length"] == "14"
    assert (
        reply.headers["content-disposition"] == 'attachment; filename="ab.html"; '
        "filename*=UTF-8''a%22b.html"
    )
    assert reply.headers["cache-control"] == "private, no-store"  # a download: kept nowhere
    assert "sandbox" in reply.headers["content-security-policy"]
    # Shown inline (a thumbnail), it may be kept in the browser while its link lasts.
    inline = local_storage.presign_download("evidence/h/original", expires_in=120,
                                            attachment=False)
    cache, max_age = Http(local_storage).request("GET", inline).headers[
        "cache-control"].split(", max-age=")
    assert cache == "private" and 110 <= int(max_age) <= 120
    head = Http(local_storage).request("HEAD", url)
    assert (head.status, head.body) == (200, b"")
    local_storage.delete("evidence/h/original")
    reply = Http(local_storage).request("GET", url)
    assert (reply.status, _problem(reply)["code"]) == (404, "blob.not_found")


def test_blobs_route_is_404_without_local_storage(local_storage: LocalStorage) -> None:
    target = local_storage.presign_upload("k/x", content_type="image/jpeg", size=1, expires_in=60)
    app = Flask("no-local")
    app.extensions["fieldcase.storage"] = object()
    app.register_blueprint(blobs_bp)
    resp = app.test_client().put(target.url, data=b"1", headers={"Content-Type": "image/jpeg"})
    assert resp.status_code == 404
    assert resp.json is not None and resp.json["code"] == "blob.not_available"
    resp.close()


def test_local_presign_needs_secret(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    with pytest.raises(StorageError):
        storage.presign_download("k/x", expires_in=60)


# -- from_url ------------------------------------------------------------------------------


def test_from_url_file_relative_and_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = from_url("file:instance/objects", secret_key=SECRET)
    assert isinstance(relative, LocalStorage)
    assert relative.root == tmp_path / "instance" / "objects"
    assert relative.alias == "file"
    absolute = from_url(f"file://{tmp_path}/abs")
    assert isinstance(absolute, LocalStorage) and absolute.root == tmp_path / "abs"


def test_from_url_s3_options(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "ab+cd/ef=="
    storage = from_url(
        "s3://photos?endpoint=http://127.0.0.1:1&region=eu-central-1"
        f"&access_key=AK&secret_key={quote(secret, safe='')}"
    )
    assert isinstance(storage, S3Storage)
    try:
        assert storage.alias == "s3" and storage.bucket == "photos"
        creds = storage.client._request_signer._credentials.get_frozen_credentials()
        assert (creds.access_key, creds.secret_key) == ("AK", secret)
        assert storage.client.meta.config.s3["addressing_style"] == "path"
        assert secret not in repr(storage)
    finally:
        storage.close()
    raw_plus = from_url("s3://photos?access_key=AK&secret_key=a+b&endpoint=http://x:1")
    try:
        creds = raw_plus.client._request_signer._credentials.get_frozen_credentials()  # type: ignore[attr-defined]
        assert creds.secret_key == "a+b"
    finally:
        raw_plus.close()


@pytest.mark.parametrize(
    "url",
    [
        "s3://b?endpoint=http://x:1&secret_key=SUPERSECRET&access_key=a&bogus=1&colour=red",
        "file:objects?bogus=1&colour=red",
    ],
)
def test_from_url_refuses_unknown_options(url: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        from_url(url)
    assert "bogus" in str(excinfo.value) and "colour" in str(excinfo.value)
    assert "SUPERSECRET" not in str(excinfo.value)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x/y",
        "gs://bucket",
        "s3://?endpoint=http://x:1",
        "s3://b/prefix",
        "s3://b?access_key=only",
        "file://host/x",
        "s3://b?addressing=sideways",
    ],
)
def test_from_url_refuses_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        from_url(url)


def test_content_disposition() -> None:
    assert content_disposition(None) == "attachment"
    assert content_disposition(None, attachment=False) == "inline"
    assert content_disposition("photo.jpg") == 'attachment; filename="photo.jpg"'
    assert content_disposition("../x\r\n.jpg") == ('attachment; filename="_x.jpg"')
    assert content_disposition("日本.jpg", attachment=False) == (
        "inline; filename=\"download.jpg\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.jpg"
    )
