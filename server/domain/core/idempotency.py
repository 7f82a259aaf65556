"""Retried requests (a phone's outbox): the same client UUID must carry the same body.

`once` is the one piece of code visits and evidence share: find the earlier request by its
client_id, or insert the new row; when a concurrent retry inserted first, answer as a
repeat; a repeat must be the same request and visible to the caller.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from server.domain.core.errors import Invalid
from server.extensions import db


class Idempotent(Protocol):
    client_id: Any
    request_hash: Any


Row = TypeVar("Row", bound=Idempotent)


def _default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def fingerprint(payload: dict[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_default,
                           ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Each model's lookup by client_id, built once (a statement built on every call had its
# cache key worked out anew each time).
_BY_CLIENT_ID: dict[type, sa.Select] = {}


def _earlier(model: type[Row], client_id: str) -> Row | None:
    query = _BY_CLIENT_ID.get(model)
    if query is None:
        query = _BY_CLIENT_ID.setdefault(model, sa.select(model).where(
            model.client_id == sa.bindparam("client_id")))  # type: ignore[attr-defined]
    return db.session.scalar(query, {"client_id": client_id})


def once(model: type[Row], client_id: str, request_hash: str, *,
         create: Callable[[], Row], visible: Callable[[Row], bool]) -> tuple[Row, bool]:
    """(row, created). A new client_id: `create()` builds the row (raising on bad input),
    which is added and flushed; the caller audits and commits. A known one: the earlier
    row, if the caller may see it and the body is the same; otherwise 422, the same answer
    whichever it is, so a client_id from another unit reveals nothing about that unit."""
    existing = _earlier(model, client_id)
    if existing is None:
        row = create()
        db.session.add(row)
        try:
            db.session.flush()
            return row, True
        except IntegrityError:
            # Two retries raced and the other inserted first: answer as a repeat.
            db.session.rollback()
            existing = _earlier(model, client_id)
            if existing is None:
                raise
    if not visible(existing) or existing.request_hash != request_hash:
        raise Invalid("idempotency.conflict",
                      "This client_id was already used for a different request.")
    return existing, False
