"""The hash-chained audit log: append inside the caller's transaction, verify on demand."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from server.domain.audit import rows
from server.domain.core import bulk
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


# The chain's head (every append reads it): built once.
_HEAD = sa.select(AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
_INSERT = sa.insert(AuditEntry.__table__)
_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")


def append(action: str, entity_type: str, entity_id: str, *, actor_id: str | None,
           data: dict[str, Any] | None = None) -> None:
    """Add an entry to the current transaction; it commits or rolls back with the change."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK, {"k": _LOCK_KEY})
    prev = session.scalar(_HEAD) or GENESIS  # flushes the caller's changes first
    at = utcnow()
    data = json.loads(json.dumps(data or {}, default=str))
    # A plain INSERT (nobody reads the entry back as an object): the ORM's unit of work
    # cost more CPU than the statement.
    session.execute(_INSERT, {"at": at, "actor_id": actor_id, "action": action,
                              "entity_type": entity_type, "entity_id": entity_id,
                              "data": data, "prev_hash": prev,
                              "entry_hash": _entry_hash(prev, at, actor_id, action,
                                                        entity_type, entity_id, data)})


def append_many(entries: list[tuple[str, str, str, dict[str, Any] | None]], *,
                actor_id: str | None) -> None:
    """Entries (action, entity_type, entity_id, data), in order, chained as `append` would
    one by one: the head read once under the lock, the links made here, one flush."""
    if not entries:
        return
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    prev = session.scalar(sa.select(AuditEntry.entry_hash).order_by(AuditEntry.seq.desc())
                          .limit(1)) or GENESIS
    at = utcnow()
    rows = []
    for action, entity_type, entity_id, data in entries:
        data = json.loads(json.dumps(data or {}, default=str))
        entry_hash = _entry_hash(prev, at, actor_id, action, entity_type, entity_id, data)
        rows.append({"at": at, "actor_id": actor_id, "action": action,
                     "entity_type": entity_type, "entity_id": entity_id, "data": data,
                     "prev_hash": prev, "entry_hash": entry_hash})
        prev = entry_hash
    session.flush()
    bulk.insert(AuditEntry.__table__, rows)  # in order: seq follows the chain


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


def chain_problems() -> Iterator[tuple[int, str]]:
    """Every entry that does not hold, (seq, why), in order: each entry is checked against
    its own stored link, so one altered entry does not hide another after it, and a row
    that cannot be read is named rather than stopping the check."""
    prev = GENESIS
    query = sa.select(AuditEntry.seq, AuditEntry.at, AuditEntry.actor_id, AuditEntry.action,
                      AuditEntry.entity_type, AuditEntry.entity_id,
                      rows.json_text(AuditEntry.data), AuditEntry.prev_hash,
                      AuditEntry.entry_hash).order_by(AuditEntry.seq)
    result = db.session.execute(query.execution_options(yield_per=1000))
    try:  # closed even when the caller stops early (a server-side cursor)
        for row in result:
            reasons = []
            if row.prev_hash != prev:
                reasons.append("does not link to the entry before it (removed or reordered)")
            data, bad = rows.parse(row.data)
            if bad:
                reasons.append(f"malformed data column: {bad}")
            else:
                try:
                    expected = _entry_hash(row.prev_hash, row.at, row.actor_id, row.action,
                                           row.entity_type, row.entity_id, data)
                except (AttributeError, TypeError, ValueError) as exc:
                    reasons.append(f"unreadable row: {exc}")
                else:
                    if row.entry_hash != expected:
                        reasons.append("its content no longer matches its hash (altered)")
            if reasons:
                yield row.seq, "; ".join(reasons)
            prev = row.entry_hash
    finally:
        result.close()


def verify_chain() -> tuple[bool, int | None]:
    """(True, None) when every entry hashes to itself and links to the one before;
    otherwise (False, seq of the first broken entry)."""
    problems = chain_problems()
    first = next(problems, None)
    problems.close()  # its cursor with it
    return (True, None) if first is None else (False, first[0])
