"""Visits to a case and their readings, recorded idempotently on the phone's UUID."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import FIELD_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import hooks, lifecycle
from server.domain.core import idempotency, phonetime
from server.domain.core.errors import Forbidden, Invalid
from server.domain.core.uow import command
from server.domain.core.vocab import FIELD_CHECK_KINDS, LEADER_VISIT
from server.domain.fieldwork import noise_record
from server.domain.fieldwork.noise_record import UNJUDGED_SOURCES
from server.extensions import db
from server.models import Case, Evidence, Measurement, User, Visit
from server.models.base import utcnow


@command
def record_visit(user: User, case_id: str, data: dict[str, Any],
                 contact: datetime | None = None) -> tuple[Visit, bool]:
    """(visit, created). A retry with the same client_id and body returns the first visit;
    the same client_id with another body, or on another case, is refused. `contact`: the
    phone's last contact, the earliest a check it queued offline counts as done."""
    if data.get("kind") != LEADER_VISIT:
        require_role(user, FIELD_ROLES, "visit.forbidden", "Your role may not record visits.")
    # Under the case's row lock, as a revisit: an approval holds it until it commits, so a
    # visit is judged open or closed as the approval leaves the case, never recorded onto
    # a case being sealed without it.
    case = scope.get_case(user, case_id, for_update=True)
    require_may_record(user, case, data.get("kind"))
    device_time = data.pop("device_time", None)
    sent_at = data.pop("sent_at", None)
    request_hash = idempotency.fingerprint({"case_id": case_id, **data})
    visit, created = idempotency.once(
        Visit, data["client_id"], request_hash,
        create=lambda: _new_visit(user, case, data, request_hash, sent_at or device_time),
        visible=lambda earlier: earlier.case_id == case.id)
    if created:
        lifecycle.require_open(case, "visits")
        # Done when the phone says (within bounds), beside when it was received.
        phone = phonetime.judge(device_time, visit.received_at, contact=contact,
                                sent_at=sent_at)
        timeline.append(case, "visit_recorded", actor_id=user.id,
                        data={"visit_id": visit.id, "kind": visit.kind,
                              "started_at": visit.started_at,
                              "measurements": len(visit.measurements),
                              **(phone.as_data() if phone else {})})
        audit.append("visit.recorded", "visit", visit.id, actor_id=user.id,
                     data={"case_id": case.id, "kind": visit.kind,
                           "measurements": len(visit.measurements)})
    return visit, created


def may_record(user: User, case: Case, kind: str | None) -> bool:
    """The one rule for who records a visit of this kind on a case they see: the field's
    roles record checks; the case's leader group (包案小组), and only it, records its visit
    to the complainant (带案下访), a leader among them too."""
    if kind == LEADER_VISIT:
        return bool(hooks.leader_group_member(user, case))
    return user.role in FIELD_ROLES


def require_may_record(user: User, case: Case, kind: str | None) -> None:
    if may_record(user, case, kind):
        return
    if kind == LEADER_VISIT:
        raise Forbidden("visit.not_in_group", "Only the case's leader group records its "
                        "visit to the complainant.")
    raise Forbidden("visit.forbidden", "Your role may not record visits.")


def _new_visit(user: User, case: Case, data: dict[str, Any], request_hash: str,
               device_time: datetime | None) -> Visit:
    # device_time here: the phone's clock when sending, for its offset from the server's.
    received = utcnow()
    location = data.get("location") or {}
    visit = Visit(
        client_id=data["client_id"], request_hash=request_hash, case_id=case.id,
        kind=data["kind"], started_at=data["started_at"], ended_at=data.get("ended_at"),
        lat=location.get("lat"), lon=location.get("lon"),
        accuracy_m=location.get("accuracy_m"), participants=data.get("participants") or [],
        findings=data.get("findings") or "", created_by=user.id, received_at=received,
        device_offset_s=(received - device_time).total_seconds() if device_time else None,
    )
    if visit.ended_at and visit.ended_at < visit.started_at:
        raise Invalid("visit.bad_times", "A visit cannot end before it starts.",
                      errors={"ended_at": ["Before started_at."]})
    if data.get("measurements") and visit.kind not in FIELD_CHECK_KINDS:
        raise Invalid("visit.leader_visit_measurements", "A leader group's visit to the "
                      "complainant carries no noise readings: record them on a site check.",
                      errors={"measurements": ["Only a field check carries readings."]})
    for position, reading in enumerate(data.get("measurements") or []):
        source = reading.get("source", "meter")
        device = (reading.get("device") or "").strip() or None
        if source in UNJUDGED_SOURCES and device is None:
            raise Invalid("visit.estimate_without_device",
                          "A phone estimate must name the phone model.",
                          errors={"measurements": {str(position): {
                              "device": ["Required for a phone_estimate."]}}})
        # The assessment is frozen with the reading, as its limit is: a later change to
        # the rules data never rewrites an old judgement (rules_version says which).
        judged = noise_record.assess(reading, case.category)
        record_data = {k: reading[k] for k in noise_record.RECORD_DATA_FIELDS
                       if reading.get(k) is not None}
        visit.measurements.append(Measurement(
            position=position, kind=reading["kind"], value_dba=reading["value_dba"],
            zone_class=reading.get("zone_class"), period=reading["period"],
            limit_dba=judged.limit_dba, standard=judged.standard, exceeded=judged.exceeded,
            source=source, device=device,
            calibration_offset_db=reading.get("calibration_offset_db"),
            record_kind=judged.record, record_data=record_data or None,
            lmax_dba=reading.get("lmax_dba"), background_dba=reading.get("background_dba"),
            background_correction_db=judged.background_correction_db,
            corrected_dba=judged.corrected_dba,
            valid_for_enforcement=judged.valid_for_enforcement,
            invalid_reasons=judged.invalid_reasons, verdict=judged.verdict,
            verdict_rule=judged.verdict_rule, rules_version=judged.rules_version,
            meter_photo_client_id=reading.get("meter_photo_client_id"),
        ))
    return visit


def meter_photos(visits: list[Visit]) -> dict[str, str]:
    """client_id -> evidence id of the meter-display photos these visits' readings name
    that have been declared on their cases (a photo may arrive after its reading); one
    query for a whole list."""
    wanted = {m.meter_photo_client_id for v in visits for m in v.measurements
              if m.meter_photo_client_id}
    if not wanted:
        return {}
    rows = db.session.execute(sa.select(Evidence.client_id, Evidence.id).where(
        Evidence.client_id.in_(wanted), Evidence.case_id.in_({v.case_id for v in visits})))
    return {client_id: evidence_id for client_id, evidence_id in rows}


def list_visits(user: User, case_id: str) -> list[Visit]:
    case = scope.get_case(user, case_id)
    return list(db.session.scalars(sa.select(Visit).filter_by(case_id=case.id)
                                   .order_by(Visit.started_at)))
