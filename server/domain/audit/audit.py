"""The hash-chained audit log: append inside the caller's transaction, verify on demand."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from server.extensions import db
from server.models import AuditEntry
from server.models.base import utcnow

GENESIS = "0" * 64
_LOCK_KEY = 0x46434155  # "FCAU": serialises appends on PostgreSQL


def _entry_hash(prev: str, at: datetime, actor: str | None, action: str, entity_type: str,
                entity_id: str, data: dict[str, Any]) -> str:
    body = json.dumps(
        [prev, at.astimezone(UTC).isoformat(), actor, action, entity_type, entity_id, data],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def append(action: str, entity_type: str, entity_id: str, *, actor_id: str | None,
           data: dict[str, Any] | None = None) -> AuditEntry:
    """Add an entry to the current transaction; it commits or rolls back with the change."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    head = session.scalar(sa.select(AuditEntry.entry_hash).order_by(AuditEntry.seq.desc())
                          .limit(1))
    prev = head or GENESIS
    at = utcnow()
    data = json.loads(json.dumps(data or {}, default=str))
    entry = AuditEntry(at=at, actor_id=actor_id, action=action, entity_type=entity_type,
                       entity_id=entity_id, data=data, prev_hash=prev,
                       entry_hash=_entry_hash(prev, at, actor_id, action, entity_type,
                                              entity_id, data))
    session.add(entry)
    session.flush()
    return entry


def record(action: str, entity_type: str, entity_id: str, *, actor_id: str | None,
           data: dict[str, Any] | None = None, attempts: int = 5) -> None:
    """An entry on its own, in its own transaction (a security event that is no part of a
    change, such as a failed login). SQLite has no lock to serialise appends: two at once
    collide on the chain's unique link, and the loser simply appends again."""
    for attempt in range(attempts):
        try:
            append(action, entity_type, entity_id, actor_id=actor_id, data=data)
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()
            if attempt == attempts - 1:
                raise


def verify_chain() -> tuple[bool, int | None]:
    """(True, None) when every entry hashes to itself and links to the one before;
    otherwise (False, seq of the first broken entry)."""
    prev = GENESIS
    for entry in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)):
        expected = _entry_hash(prev, entry.at, entry.actor_id, entry.action, entry.entity_type,
                               entry.entity_id, entry.data)
        if entry.prev_hash != prev or entry.entry_hash != expected:
            return False, entry.seq
        prev = entry.entry_hash
    return True, None
