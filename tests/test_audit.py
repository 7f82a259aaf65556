"""The audit log's hash chain holds, and a changed entry is found."""

from __future__ import annotations

import sqlalchemy as sa

from server.domain import audit
from server.extensions import db
from server.models import AuditEntry


def test_chain_verifies_and_detects_tampering(app, make_case):  # type: ignore[no-untyped-def]
    make_case()
    make_case()
    assert audit.verify_chain() == (True, None)
    entries = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert len(entries) >= 2
    assert entries[1].prev_hash == entries[0].entry_hash
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == entries[1].seq)
                       .values(data={"channel": "forged"}))
    db.session.commit()
    assert audit.verify_chain() == (False, entries[1].seq)
