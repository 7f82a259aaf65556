"""A case pushed by a platform (`POST /api/intake/<source>`), idempotent on the platform's
reference: the first push creates the case, every later push of the same reference (a
retry, a replay, a concurrent twin) is answered what the first one was, and creates
nothing. The case is made by cases.add_case, as the office's and a sheet's are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from server.domain.audit import audit
from server.domain.cases import cases
from server.domain.core.errors import Invalid
from server.domain.core.uow import command
from server.domain.intake import tokens
from server.domain.intake.sources import map_value
from server.domain.intake.tokens import Caller
from server.extensions import db
from server.models import Case, CaseEvent, IntakeSource, Unit

SUBJECT_FROM_DESCRIPTION = 60


def answer(case: Case) -> dict[str, Any]:
    """The push's answer, the same for the first push and every replay. The reference and
    source cannot be edited on a pushed case; the receipt time can (the office corrects
    it), so it is read from the case's first `received` event (what the push created,
    append-only) rather than the case, in UTC, so a replay reads it back identically."""
    return {"case_id": case.id, "external_ref": case.external_ref,
            "source": case.intake_source, "status": "created",
            "received_at": _first_received_at(case).astimezone(UTC)}


def _first_received_at(case: Case) -> datetime:
    data = db.session.scalar(
        sa.select(CaseEvent.data).where(CaseEvent.case_id == case.id,
                                        CaseEvent.kind == "received")
        .order_by(CaseEvent.seq).limit(1))
    try:
        return datetime.fromisoformat(str((data or {})["received_at"]))
    except (KeyError, ValueError):  # no such event (never for a case made by add_case)
        return case.received_at


def _existing(source_code: str, external_ref: str) -> Case | None:
    return db.session.scalar(sa.select(Case).where(Case.intake_source == source_code,
                                                   Case.external_ref == external_ref))


def push(caller: Caller, data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(answer, replayed). Two pushes of one reference at once: both find nothing, both
    insert, the unique index (intake_source, external_ref) lets one commit and the other
    fails; the loser rolls back and answers as a replay."""
    ref = data["external_ref"]
    if _existing(caller.source_code, ref) is not None:
        return _replay(caller, ref), True
    try:
        return _create(caller, data), False
    except IntegrityError:
        # The transaction was rolled back by the command; what the winner committed is seen.
        if _existing(caller.source_code, ref) is None:
            raise
        return _replay(caller, ref), True


@command
def _replay(caller: Caller, ref: str) -> dict[str, Any]:
    case = _existing(caller.source_code, ref)
    assert case is not None  # found just before, and cases are never deleted
    tokens.touch(caller)
    _audit(caller, case, replay=True)
    return answer(case)


@command
def _create(caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
    source = tokens.source_of(caller)
    fields, unit_from = _case_fields(source, data)
    case = cases.add_case(fields, created_by=None,
                          audit_data={"source": source.code, "token": caller.prefix,
                                      "unit_from": unit_from})
    tokens.touch(caller)
    _audit(caller, case, replay=False)
    return answer(case)


def _audit(caller: Caller, case: Case, *, replay: bool) -> None:
    audit.append("intake.pushed", "case", case.id, actor_id=None,
                 data={"source": caller.source_code, "token": caller.prefix,
                       "external_ref": case.external_ref, "case_id": case.id,
                       "replay": replay})


def _unit_names() -> dict[str, str]:
    return {name: id_ for id_, name in db.session.execute(sa.select(Unit.id, Unit.name))}


def _case_fields(source: IntakeSource, data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The case's fields from the push, with our category and unit; (fields, where the
    unit came from: "platform" or "default")."""
    category = map_value(source, "category", data["category"])
    if category is None:
        raise Invalid("intake.unknown_category",
                      "This source's category is not mapped to one of ours: the office maps "
                      "it in the source's category table.",
                      errors={"category": ["Not a category we know for this source."]},
                      extra={"category": data["category"]})
    unit_id, unit_from = None, "platform"
    if data.get("unit"):
        unit_id = map_value(source, "unit", data["unit"], ours=_unit_names())
        if unit_id is not None and db.session.get(Unit, unit_id) is None:
            unit_id = None  # a mapping to a unit removed since
    if unit_id is None:
        unit_id, unit_from = source.default_unit_id, "default"
    if unit_id is None:
        raise Invalid("intake.no_unit",
                      "No unit for this case: the push names none this source maps, and "
                      "the source has no default unit (an admin sets one).",
                      errors={"unit": ["No unit known for this source."]})
    subject = data.get("subject") or ""
    description = data.get("description") or ""
    if not subject:
        # Platforms often send only the complaint's text: its first line is the title.
        first = description.strip().splitlines()[0].strip() if description.strip() else ""
        subject = first[:SUBJECT_FROM_DESCRIPTION]
    if not subject:
        raise Invalid("intake.no_subject", "A push needs a subject or a description.",
                      errors={"subject": ["Give a subject or a description."]})
    fields = {
        "channel": source.channel, "category": category, "subject": subject,
        "address": data.get("address") or "", "description": description,
        "received_at": data["received_at"], "unit_id": unit_id, "key": bool(data.get("key")),
        "external_ref": data["external_ref"], "intake_source": source.code,
        "lat": data.get("lat"), "lon": data.get("lon"),
        "complainant_name": data.get("complainant_name"),
        "complainant_phone": data.get("complainant_phone"),
    }
    return fields, unit_from
