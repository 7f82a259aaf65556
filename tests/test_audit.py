"""The audit log's hash chain holds, and a changed entry is found."""

from __future__ import annotations

import sqlalchemy as sa

from server.domain.audit import audit
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


def _rechain() -> None:
    """What an attacker with database access does: rewrite an entry, then recompute every
    hash after it so the chain verifies again."""
    prev = audit.GENESIS
    for entry in db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)):
        entry.prev_hash = prev
        entry.entry_hash = audit._entry_hash(prev, entry.at, entry.actor_id, entry.action,
                                             entry.entity_type, entry.entity_id, entry.data)
        prev = entry.entry_hash
    # The unique links are swapped in place; on PostgreSQL check them at commit.
    db.session.flush()
    db.session.commit()


def test_a_rewritten_and_rechained_log_fails_its_signed_checkpoint(app, make_case):  # type: ignore[no-untyped-def]
    from server.cli import cli
    from server.domain.audit import audit_checkpoints
    from server.models import AuditCheckpoint

    make_case()
    first = audit_checkpoints.checkpoint()
    assert first is not None and audit_checkpoints.checkpoint() is None  # nothing new
    make_case()
    second = audit_checkpoints.checkpoint()
    assert second.audit_seq > first.audit_seq
    assert audit_checkpoints.verify() == []
    ok = app.test_cli_runner().invoke(cli, ["verify-audit"])
    assert ok.exit_code == 0, ok.output
    # The copy in the store holds the signature too.
    store = app.extensions["fieldcase.storage"]
    assert second.signature.encode() in b"".join(store.iter_chunks(second.object_key))

    target = db.session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)).first()
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == target.seq)
                       .values(data={"channel": "forged"}))
    db.session.commit()
    db.session.expire_all()
    # Deleting the old links first keeps the unique constraints happy while re-chaining.
    db.session.execute(sa.update(AuditEntry).values(prev_hash=AuditEntry.seq.cast(sa.String),
                                                    entry_hash="x" + AuditEntry.seq.cast(
                                                        sa.String)))
    db.session.commit()
    _rechain()
    assert audit.verify_chain() == (True, None)  # the chain alone is fooled
    problems = audit_checkpoints.verify()
    assert {p.checkpoint_id for p in problems} == {first.id, second.id}
    assert all("rewritten" in p.reason for p in problems)
    failed = app.test_cli_runner().invoke(cli, ["verify-audit"])
    assert failed.exit_code != 0 and f"entry {first.audit_seq}" in failed.output

    # A forged checkpoint row (no key to sign it) and a removed copy are named too.
    db.session.execute(sa.update(AuditCheckpoint).where(AuditCheckpoint.id == first.id)
                       .values(head_hash="0" * 64))
    db.session.commit()
    store.delete(second.object_key)
    reasons: dict[int, str] = {}
    for p in audit_checkpoints.verify():
        reasons[p.checkpoint_id] = reasons.get(p.checkpoint_id, "") + p.reason + "; "
    assert "signature" in reasons[first.id] and "copy" in reasons[second.id]
    # Checked against another installation's public key, nothing verifies.
    other = "0" * 63 + "1"
    assert audit_checkpoints.verify(other)


def test_the_sweep_signs_the_head_and_the_key_stays_out_of_the_database(app, make_case):  # type: ignore[no-untyped-def]
    from server.domain.cases import sweep

    make_case()
    assert sweep.sweep(deliver=False)["audit_checkpoint"] is True
    assert sweep.sweep(deliver=False)["audit_checkpoint"] is False  # nothing new
    key = app.config["AUDIT_SIGNING_KEY"]
    with db.engine.connect() as conn:
        for table in db.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                assert key not in str(tuple(row)), table.name


def test_the_signing_key_is_required_in_production_and_kept_outside_otherwise(tmp_path):  # type: ignore[no-untyped-def]
    import pytest

    from server.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="AUDIT_SIGNING_KEY"):
        load_config(str(tmp_path), {"FIELDCASE_ENV": "production", "SECRET_KEY": "s"})
    first = load_config(str(tmp_path), {})["AUDIT_SIGNING_KEY"]
    assert len(bytes.fromhex(first)) == 32
    assert load_config(str(tmp_path), {})["AUDIT_SIGNING_KEY"] == first  # kept
    assert (tmp_path / "audit_signing_key").stat().st_mode & 0o777 == 0o600
    given = load_config(str(tmp_path), {"AUDIT_SIGNING_KEY": "ab" * 32})
    assert given["AUDIT_SIGNING_KEY"] == "ab" * 32
