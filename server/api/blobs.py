"""Serve local-disk presigned URLs (`/api/blobs/<token>`) the way S3 serves presigned ones.

The token is the whole authorisation, like an S3 presigned URL: no session, no cookie and
hence no CSRF exposure. Only active when the app's storage is a LocalStorage.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import wrap_file

from server.api.problems import problem
from server.domain.audit import tampering
from server.observability import metrics
from server.storage import (
    ATTACHMENT_CACHE_CONTROL,
    BadToken,
    LocalStorage,
    ObjectNotFound,
    SizeMismatch,
    StorageError,
    TokenExpired,
    content_disposition,
)

__all__ = ["blobs_bp"]

blobs_bp = Blueprint("blobs", __name__, url_prefix="/api/blobs")

EXTENSION_KEY = "fieldcase.storage"
# What the app does with bytes an upload link has just received, registered by the API
# (server.api.fieldwork.evidence.completed_on_upload): a receipt for the answer, or None.
ON_RECEIVED_KEY = "fieldcase.on_received"
_CHUNK = 64 * 1024


def _claims(op: str, token: str) -> tuple[LocalStorage, dict[str, Any]] | Response:
    storage = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(storage, LocalStorage):
        # With S3 the store serves presigned URLs itself; this route does not exist.
        return problem(
            404, "blob.not_available", "Not found", "Blob URLs are only served for local storage."
        )
    try:
        claims = storage.read_token(token)
    except TokenExpired:
        return problem(
            403,
            "blob.token_expired",
            "Link expired",
            "This upload/download link has expired; request a new one.",
        )
    except BadToken:
        return problem(
            403, "blob.bad_token", "Invalid link", "This upload/download link is invalid."
        )
    if claims["op"] != op:
        # S3 answers a GET on a PUT-signed URL with 403 too.
        return problem(
            403,
            "blob.wrong_method",
            "Invalid link",
            f"This link is not valid for {request.method}.",
        )
    return storage, claims


def _exists(storage: LocalStorage, key: str) -> bool:
    try:
        storage.head(key)
    except ObjectNotFound:
        return False
    return True


@blobs_bp.put("/<token>")
def put_blob(token: str) -> Response | tuple[Response, int]:
    found = _claims("put", token)
    if isinstance(found, Response):
        return found
    storage, claims = found
    key, size, content_type = claims["key"], claims["size"], claims["ct"]

    if request.headers.get("Content-Type") != content_type:
        return problem(
            415,
            "blob.content_type_mismatch",
            "Wrong content type",
            f"This link accepts Content-Type {content_type} only.",
        )
    length = request.content_length
    if length is None:
        return problem(
            411,
            "blob.length_required",
            "Length required",
            "Send a Content-Length header (chunked uploads are not accepted).",
        )
    if length != size:
        status = 413 if length > size else 400
        return problem(
            status,
            "blob.size_mismatch",
            "Wrong size",
            f"This link accepts exactly {size} bytes, not {length}.",
        )

    try:
        existed = _exists(storage, key)
        # Staged bytes are made durable when they are promoted (LocalStorage.copy).
        storage.write_capped(key, request.stream, size=size, content_type=content_type,
                             durable=False)
    except (SizeMismatch, ClientDisconnected):
        return problem(
            400,
            "blob.incomplete_body",
            "Incomplete upload",
            f"The body did not have the announced {size} bytes.",
        )
    except StorageError:
        current_app.logger.exception("blob upload failed for %s", key)
        metrics.count_storage_error("upload")
        return problem(
            503,
            "blob.storage_unavailable",
            "Storage unavailable",
            "The upload could not be stored; try again later.",
        )
    answer: dict[str, Any] = {"key": key, "size": size}
    on_received = current_app.extensions.get(ON_RECEIVED_KEY)
    receipt = on_received(key) if on_received is not None else None
    if receipt is not None:
        answer["evidence"] = receipt
    return jsonify(answer), (200 if existed else 201)


class AlteredBytes(Exception):
    """Stored bytes differ from the hash the link was signed with: the download stops."""


def _checked(chunks: Any, sha256: str, key: str) -> Iterator[bytes]:
    """The chunks as they stream, hashed; the last is held back until the hash is known,
    so altered bytes never arrive whole (the client sees a download cut short of its
    Content-Length) and a security event is recorded."""
    digest, held = hashlib.sha256(), None
    try:
        for chunk in chunks:
            digest.update(chunk)
            if held is not None:
                yield held
            held = chunk
        if digest.hexdigest() != sha256:
            current_app.logger.error("blob %s: stored bytes hash %s, signed %s", key,
                                     digest.hexdigest(), sha256)
            parts = key.split("/")  # evidence/<id>/original
            tampering.refuse(f"stored bytes on download ({key})", parts[0][:30],
                             parts[1] if len(parts) > 1 else key[-36:], actor_id=None,
                             expected=sha256, actual=digest.hexdigest())
            raise AlteredBytes(key)
        if held is not None:
            yield held
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


@blobs_bp.get("/<token>")
def get_blob(token: str) -> Response:
    found = _claims("get", token)
    if isinstance(found, Response):
        return found
    storage, claims = found
    try:
        info, f = storage.open_object(claims["key"])
    except ObjectNotFound:
        return problem(404, "blob.not_found", "Not found", "The object does not exist.")
    except StorageError:
        current_app.logger.exception("blob download failed")
        metrics.count_storage_error("download")
        return problem(
            503,
            "blob.storage_unavailable",
            "Storage unavailable",
            "The object could not be read; try again later.",
        )

    body: Any = wrap_file(request.environ, f, _CHUNK)  # closed by the server, even on abort
    if claims.get("sha"):
        body = stream_with_context(_checked(body, claims["sha"], claims["key"]))
    resp = Response(
        body,
        content_type=claims.get("ct") or info.content_type or "application/octet-stream",
        direct_passthrough=True,
    )
    resp.content_length = info.size
    resp.last_modified = info.last_modified
    remaining = max(0, math.floor(claims["exp"] - time.time()))
    # A download (an original, a closure file naming the complainant, a ledger) is kept
    # nowhere, not even in the browser of a shared office computer; a thumbnail shown
    # inline may be, while its link lasts.
    resp.headers["Cache-Control"] = (ATTACHMENT_CACHE_CONTROL if claims.get("att")
                                     else f"private, max-age={remaining}")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    # User-supplied bytes on our origin: never let them run as a page.
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    if claims.get("att") or claims.get("fn"):
        resp.headers["Content-Disposition"] = content_disposition(
            claims.get("fn"), attachment=bool(claims.get("att"))
        )
    return resp
