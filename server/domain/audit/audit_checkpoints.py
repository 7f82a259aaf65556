"""Anchors for the audit log. The chain alone shows an entry changed only if nobody
recomputed the hashes after it; a checkpoint signs the head at a moment with an Ed25519
key kept outside the database (AUDIT_SIGNING_KEY) and keeps a copy in the object store.
`fieldcase verify-audit` checks each checkpoint's signature, that the entry it names still
has that hash, and that the store's copy agrees, so a rewritten and re-chained log, a forged
checkpoint row or a removed copy are all named."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from server.domain.core import named_objects, runtime
from server.domain.core.uow import command
from server.extensions import db
from server.models import AuditCheckpoint, AuditEntry
from server.models.base import utcnow
from server.storage import ObjectNotFound, StorageError

PREFIX = "audit/checkpoints/"


def _private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex(runtime.setting("AUDIT_SIGNING_KEY")))


def public_key_hex() -> str:
    """What an auditor keeps to check checkpoints without being able to make them."""
    return _private_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def _payload(audit_seq: int, head_hash: str, at: str) -> bytes:
    return json.dumps({"audit_seq": audit_seq, "head_hash": head_hash, "at": at},
                      sort_keys=True, separators=(",", ":")).encode()


@command
def checkpoint() -> AuditCheckpoint | None:
    """Sign the head if it moved since the last checkpoint."""
    head = db.session.execute(sa.select(AuditEntry.seq, AuditEntry.entry_hash)
                              .order_by(AuditEntry.seq.desc()).limit(1)).first()
    if head is None:
        return None
    last = db.session.scalar(sa.select(sa.func.max(AuditCheckpoint.audit_seq)))
    if last is not None and last >= head.seq:
        return None
    now = utcnow()
    at = now.isoformat()
    payload = _payload(head.seq, head.entry_hash, at)
    signature = _private_key().sign(payload).hex()
    row = AuditCheckpoint(audit_seq=head.seq, head_hash=head.entry_hash, at=now,
                          public_key=public_key_hex(), signature=signature,
                          object_key=f"{PREFIX}{head.seq:012d}.json")
    # The row first: its unique audit_seq decides between two sweeps at once, and only
    # the winner writes the store's copy (then commits, so a row always has its copy).
    db.session.add(row)
    db.session.flush()
    document = {"audit_seq": head.seq, "head_hash": head.entry_hash, "at": at,
                "public_key": row.public_key, "signature": signature}
    runtime.storage().put_bytes(row.object_key, json.dumps(document, indent=1).encode(),
                                content_type="application/json")
    return row


@dataclass(frozen=True)
class Problem:
    checkpoint_id: int
    audit_seq: int
    reason: str


def verify(public_key: str | None = None) -> list[Problem]:
    """Every checkpoint against the key (by default this installation's), the log and the
    store's copy; an empty list when all hold."""
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key or public_key_hex()))
    store = runtime.storage()
    hashes = dict(db.session.execute(
        sa.select(AuditEntry.seq, AuditEntry.entry_hash).where(AuditEntry.seq.in_(
            sa.select(AuditCheckpoint.audit_seq)))).all())
    problems = []
    for row in db.session.scalars(sa.select(AuditCheckpoint).order_by(AuditCheckpoint.id)):
        try:
            copy = json.loads(b"".join(store.iter_chunks(row.object_key)))
        except (ObjectNotFound, StorageError, ValueError):
            copy = None
        at = copy["at"] if copy else row.at.isoformat()
        def bad(reason: str, row: AuditCheckpoint = row) -> None:
            problems.append(Problem(row.id, row.audit_seq, reason))
        try:
            key.verify(bytes.fromhex(row.signature), _payload(row.audit_seq, row.head_hash, at))
        except (InvalidSignature, ValueError):
            bad("signature does not match (a forged or altered checkpoint, or another key)")
        if hashes.get(row.audit_seq) != row.head_hash:
            bad("the audit log no longer has this head: entries up to here were rewritten")
        if copy is None:
            bad(f"the store's copy {row.object_key} is missing or unreadable")
        elif (copy.get("head_hash"), copy.get("signature")) != (row.head_hash, row.signature):
            bad("the store's copy differs from the database's")
    return problems


def _checkpoint_objects(before: datetime) -> Iterable[str]:
    """Each checkpoint's copy in the store (a backup checks the store holds them)."""
    return db.session.scalars(sa.select(AuditCheckpoint.object_key)
                              .where(AuditCheckpoint.at < before))


named_objects.register("audit checkpoint", _checkpoint_objects)
