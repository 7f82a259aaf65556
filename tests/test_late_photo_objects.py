"""A photo that arrives after its case was sealed (issue 16): its bytes wait in staging,
never as evidence objects of a row that is not stored, and when the declaration expires
nothing of it stays in the store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from server.cli import cli
from server.domain.fieldwork import completion as evidence_completion
from server.extensions import db
from server.models import Evidence
from server.models.base import utcnow
from tests.test_seal import late_photo


def _objects_of(app: Any, evidence_id: str) -> list[str]:
    store = app.extensions["fieldcase.storage"]
    return sorted(i.key for prefix in ("evidence/", "staging/") for i in store.list(prefix)
                  if f"/{evidence_id}/" in i.key)


def _late_photo(app: Any, as_user: Any, make_case: Any) -> tuple[Any, str]:
    """A photo declared and sent while its case was being approved, completed after."""
    inspector = as_user("insp_a")
    _case_id, declared = late_photo(as_user("reviewer"), inspector, as_user("revisit"),
                                    make_case)
    return inspector, declared["id"]


def _only_staging(app: Any, evidence_id: str) -> None:
    kept = _objects_of(app, evidence_id)
    assert len(kept) == 1 and kept[0].startswith("staging/"), kept


def _expire_and_reconcile(app: Any, evidence_id: str) -> None:
    db.session.execute(sa.update(Evidence).where(Evidence.id == evidence_id)
                       .values(declared_at=utcnow() - timedelta(days=30)))
    db.session.commit()
    result = app.test_cli_runner().invoke(
        cli, ["reconcile", "--older-than-minutes", "0", "--expire-after-hours", "1"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Evidence, evidence_id).state == "expired"


@pytest.mark.usefixtures("two_step_upload")
def test_a_late_photo_waits_in_staging_and_leaves_nothing_once_expired(
        app, as_user, make_case) -> None:
    inspector, evidence_id = _late_photo(app, as_user, make_case)
    late = inspector.post(f"/api/evidence/{evidence_id}/complete")
    assert late.status_code == 409 and late.get_json()["code"] == "case.closed"
    _only_staging(app, evidence_id)  # no original, no thumbnails under evidence/
    # The reconciler tries it again each pass: still nothing promoted.
    assert app.test_cli_runner().invoke(
        cli, ["reconcile", "--older-than-minutes", "0"]).exit_code == 0
    _only_staging(app, evidence_id)
    _expire_and_reconcile(app, evidence_id)
    assert _objects_of(app, evidence_id) == []


def test_a_photo_sealed_out_while_being_verified_goes_back_to_staging(
        app, as_user, make_case, monkeypatch: pytest.MonkeyPatch) -> None:
    """The seal lands between the early check and the store step (the early check is
    skipped here to make that race): the refused photo's promoted original and
    thumbnails are removed and its bytes wait in staging, whence a reopen takes them."""
    inspector, evidence_id = _late_photo(app, as_user, make_case)
    monkeypatch.setattr(evidence_completion, "_require_open_case", lambda ev, status: None)
    late = inspector.post(f"/api/evidence/{evidence_id}/complete")
    assert late.status_code == 409 and late.get_json()["code"] == "case.closed"
    _only_staging(app, evidence_id)
    monkeypatch.undo()
    _expire_and_reconcile(app, evidence_id)
    assert _objects_of(app, evidence_id) == []
