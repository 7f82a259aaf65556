"""Issue 19: `verify-case` and `verify-audit` list every difference, not just the first,
and name a malformed row instead of crashing (a blank JSON column gave a JSONDecodeError
traceback)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from server.cli import cli
from server.domain.fieldwork.evidence import final_key
from server.extensions import db
from server.models import AuditEntry, Case, CaseEvent, Measurement, Seal, Visit
from tests.closure_facts import submit_ready
from tests.test_seal import approve, in_hand


def run(app: Any, *args: str) -> Any:
    return app.test_cli_runner().invoke(cli, list(args))


def no_traceback(result: Any) -> None:
    """A clean refusal: click's own exit, never an exception escaping the command."""
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output


def sqlite_only() -> None:
    # PostgreSQL's json type refuses a malformed value on write: it cannot arise there.
    if db.engine.dialect.name != "sqlite":
        pytest.skip("a malformed JSON value can only be written on SQLite")


def sealed(app: Any, as_user: Any, make_case: Any) -> tuple[str, dict]:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    photo = submit_ready(office, inspector, as_user("revisit"), case_id)
    assert approve(office, case_id).status_code == 200
    assert run(app, "verify-case", case_id).exit_code == 0
    return case_id, photo


def test_verify_case_lists_every_difference(app, as_user, make_case) -> None:
    case_id, photo = sealed(app, as_user, make_case)
    store = app.extensions["fieldcase.storage"]
    key = final_key(photo["id"])
    changed = bytearray(b"".join(store.iter_chunks(key)))
    changed[len(changed) // 2] ^= 0x01
    store.put_bytes(key, bytes(changed), content_type="image/jpeg")
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(
        result="改过的结果", address="别的地址"))
    db.session.execute(sa.update(Measurement).values(value_dba=44.0).where(
        Measurement.visit_id.in_(sa.select(Visit.id).where(Visit.case_id == case_id))))
    db.session.execute(sa.update(CaseEvent).where(CaseEvent.case_id == case_id,
                                                  CaseEvent.seq.in_((2, 3)))
                       .values(data={"forged": True}))
    db.session.commit()
    found = run(app, "verify-case", case_id)
    no_traceback(found)
    assert found.exit_code == 1
    out = found.output
    for expected in ("seal 1 case: case.result", "seal 1 case: case.address",
                     "seal 1 visits: visits[0].measurements[0].value_dba",
                     f"seal 1 evidence {photo['id']}",
                     hashlib.sha256(bytes(changed)).hexdigest(),
                     "timeline event 2", "timeline event 3"):
        assert expected in out, (expected, out)


def test_verify_case_names_a_malformed_row(app, as_user, make_case) -> None:
    case_id, _photo = sealed(app, as_user, make_case)
    s = db.session.scalar(sa.select(Seal).filter_by(case_id=case_id))
    db.session.execute(sa.update(Seal).where(Seal.id == s.id).values(manifest=""))
    db.session.commit()
    found = run(app, "verify-case", case_id)
    no_traceback(found)
    assert found.exit_code == 1 and "seal 1 manifest" in found.output


def test_verify_case_names_a_blank_json_column(app, as_user, make_case) -> None:
    sqlite_only()
    case_id, photo = sealed(app, as_user, make_case)
    db.session.execute(sa.text("UPDATE evidence SET flags = '' WHERE id = :id"),
                       {"id": photo["id"]})
    db.session.execute(sa.text("UPDATE case_events SET data = '' WHERE case_id = :c AND "
                               "seq = 2"), {"c": case_id})
    db.session.execute(sa.text("UPDATE cases SET milestones = '{' WHERE id = :c"),
                       {"c": case_id})
    db.session.commit()
    db.session.expire_all()
    found = run(app, "verify-case", case_id)
    no_traceback(found)
    assert found.exit_code == 1
    assert f"evidence id {photo['id']}: column flags" in found.output
    assert "case_events seq 2: column data" in found.output
    assert f"cases id {case_id}: column milestones" in found.output
    assert "timeline event 2: malformed data column" in found.output


def test_verify_audit_lists_every_broken_entry_and_names_a_malformed_one(
        app, make_case) -> None:
    make_case()
    make_case()
    seqs = list(db.session.scalars(sa.select(AuditEntry.seq).order_by(AuditEntry.seq)))
    assert len(seqs) >= 3
    for seq in (seqs[0], seqs[2]):
        db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == seq)
                           .values(data={"forged": seq}))
    db.session.commit()
    found = run(app, "verify-audit")
    no_traceback(found)
    assert found.exit_code == 1
    assert f"audit entry {seqs[0]}:" in found.output
    assert f"audit entry {seqs[2]}:" in found.output
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.text("UPDATE audit_log SET data = '' WHERE seq = :s"),
                           {"s": seqs[1]})
        db.session.commit()
        found = run(app, "verify-audit")
        no_traceback(found)
        assert found.exit_code == 1
        assert f"audit entry {seqs[1]}: malformed data column" in found.output
        assert f"audit entry {seqs[2]}:" in found.output
