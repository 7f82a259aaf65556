"""Revisits (回访): calls and door-to-door surveys after a case is handled, recorded
idempotently on the phone's UUIDs (the revisit's, and each respondent's), answers checked
against the questionnaire version they were given under."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import REVISIT_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import lifecycle
from server.domain.core import idempotency
from server.domain.core.errors import Invalid, NotFound
from server.domain.core.geo import distance_m
from server.domain.core.runtime import setting
from server.domain.core.uow import command
from server.domain.core.vocab import SATISFACTION
from server.domain.revisits import attempts as tries
from server.domain.revisits import questionnaires
from server.domain.revisits.answers import keep_latest
from server.extensions import db
from server.models import Case, Questionnaire, Respondent, Revisit, User
from server.models.base import utcnow

MAX_RESPONDENTS = 500


def _forbid(user: User) -> None:
    require_role(user, REVISIT_ROLES, "revisit.forbidden", "Your role may not record revisits.")


def overall(stated: str | None, respondents: list[Respondent]) -> str | None:
    """The revisit's satisfaction: as the revisit user stated it; else the complainant's
    own; else the most common among respondents, a tie going to the less satisfied (a
    survey split evenly is not a satisfied one)."""
    if stated:
        return stated
    complainant = next((r.satisfaction for r in respondents
                        if r.kind == "complainant" and r.satisfaction), None)
    if complainant:
        return complainant
    counts = Counter(r.satisfaction for r in respondents if r.satisfaction)
    if not counts:
        return None
    top = max(counts.values())
    return max((s for s, n in counts.items() if n == top), key=SATISFACTION.index)


def _questionnaire(ref: dict[str, Any] | None) -> Questionnaire | None:
    if not ref:
        return None
    try:
        return questionnaires.get(ref["code"], ref["version"])
    except NotFound as exc:
        raise Invalid("revisit.unknown_questionnaire", exc.detail,
                      errors={"questionnaire": {"version": [
                          f"{ref['code']} has no version {ref['version']}."]}}) from None


def _respondent_errors(template: Questionnaire | None, r: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    answers = r.get("answers") or {}
    if template is None:
        if answers:
            errors["answers"] = ["Answers need the questionnaire they were given under."]
        return errors
    wrong = questionnaires.check_answers(template, answers)
    if wrong:
        errors["answers"] = wrong
    key = questionnaires.satisfaction_key(template)
    said = answers.get(key) if key else None
    if said and r.get("satisfaction") and said != r["satisfaction"]:
        errors["satisfaction"] = [f"Differs from the answer to {key!r} ({said})."]
    return errors


def _new_respondent(user: User, template: Questionnaire | None, r: dict[str, Any],
                    request_hash: str, position: int, received: datetime) -> Respondent:
    answers = r.get("answers") or {}
    key = questionnaires.satisfaction_key(template) if template else None
    return Respondent(
        client_id=r["client_id"], request_hash=request_hash, position=position,
        kind=r["kind"], name=(r.get("name") or "").strip() or None,
        contact=(r.get("contact") or "").strip() or None, answers=answers,
        satisfaction=r.get("satisfaction") or (answers.get(key) if key else None),
        audio_consent=bool(r.get("audio_consent")), created_by=user.id, received_at=received)


def _respondent_hash(revisit_key: str, r: dict[str, Any]) -> str:
    return idempotency.fingerprint({"revisit": revisit_key, **r})


@command
def record(user: User, case_id: str, data: dict[str, Any]) -> tuple[Revisit, bool]:
    """(revisit, created). A retry with the same client_id and body returns the first."""
    _forbid(user)
    case = scope.get_case(user, case_id, for_update=True)
    device_time = data.pop("device_time", None)
    tries.refuse_future(data)
    request_hash = idempotency.fingerprint({"case_id": case_id, **data})
    revisit, created = idempotency.once(
        Revisit, data["client_id"], request_hash,
        create=lambda: _new_revisit(user, case, data, request_hash, device_time),
        visible=lambda earlier: earlier.case_id == case.id)
    if created:
        now = revisit.received_at
        if revisit.outcome == "reached":
            mark_reached(case.id, now)
        if revisit.satisfaction is not None:
            keep_latest(case.id)
        timeline.append(case, "revisit_recorded", actor_id=user.id, at=now, data={
            "revisit_id": revisit.id, "method": revisit.method, "outcome": revisit.outcome,
            "satisfaction": revisit.satisfaction, "respondents": len(revisit.respondents),
            "attempts": len(revisit.attempts),
            "callback_at": revisit.callback_at.isoformat() if revisit.callback_at else None,
            "flags": [f["code"] for f in revisit.flags or []]})
        audit.append("revisit.recorded", "revisit", revisit.id, actor_id=user.id,
                     data={"case_id": case.id, "method": revisit.method,
                           "outcome": revisit.outcome, "satisfaction": revisit.satisfaction})
        if revisit.satisfaction == "dissatisfied":
            lifecycle.dissatisfied_revisit(case, actor_id=user.id, now=now,
                                           data=_why(revisit))
    return revisit, created


def _new_revisit(user: User, case: Case, data: dict[str, Any], request_hash: str,
                 device_time: datetime | None) -> Revisit:
    errors: dict[str, Any] = {}
    template = _questionnaire(data.get("questionnaire"))
    people = data.get("respondents") or []
    location = data.get("location")
    if location and data["method"] != "door":
        errors["location"] = ["Only a door-to-door revisit records where it was taken."]
    if data.get("callback_at") is not None and (people or data["method"] != "phone"):
        errors["callback_at"] = ["Only a call that reached nobody's answers is scheduled back."]
    for i, r in enumerate(people):
        wrong = _respondent_errors(template, r)
        if wrong:
            errors.setdefault("respondents", {})[str(i)] = wrong
    if len({r["client_id"] for r in people}) != len(people):
        errors.setdefault("respondents", {}).setdefault("client_id", []).append(
            "Each respondent has its own client_id.")
    code = None
    if not people and data["method"] == "phone":
        code = tries.check(data, errors)
    elif people and data.get("unreachable_reason"):
        errors["unreachable_reason"] = ["Someone was reached: no unreachable reason."]
    if errors:
        if code and set(errors) == {"attempts"}:
            raise Invalid(code, "The failed calls are too close together to count as tried.",
                          errors=errors)
        raise Invalid("revisit.invalid", "The revisit is not right; see the fields named.",
                      errors=errors)
    taken = db.session.scalars(sa.select(Respondent.client_id).where(
        Respondent.client_id.in_([r["client_id"] for r in people]))).all() if people else []
    if taken:
        raise Invalid("idempotency.conflict",
                      "A respondent's client_id was already used for another answer.",
                      errors={"respondents": {"client_id": sorted(taken)}})
    received = utcnow()
    location = location or {}
    revisit = Revisit(
        client_id=data["client_id"], request_hash=request_hash, case_id=case.id,
        method=data["method"], at=data["at"], questionnaire=template,
        stated_satisfaction=data.get("satisfaction"),
        attempts=sorted(({"at": a["at"].isoformat(), "outcome": a["outcome"]}
                         for a in data.get("attempts") or []), key=lambda a: a["at"]),
        unreachable_reason=(data.get("unreachable_reason") or "").strip() or None,
        notes=data.get("notes") or "", lat=location.get("lat"), lon=location.get("lon"),
        accuracy_m=location.get("accuracy_m"), created_by=user.id, received_at=received,
        callback_at=data.get("callback_at"), flags=_far_flags(case, location),
        device_offset_s=(received - device_time).total_seconds() if device_time else None)
    for i, r in enumerate(people):
        revisit.respondents.append(_new_respondent(
            user, template, r, _respondent_hash(data["client_id"], r), i, received))
    revisit.outcome = tries.outcome_of(people, revisit.attempts, revisit.unreachable_reason,
                                       revisit.callback_at)
    revisit.satisfaction = overall(revisit.stated_satisfaction, revisit.respondents)
    return revisit


@command
def add_respondent(user: User, revisit_id: str, data: dict[str, Any]
                   ) -> tuple[Respondent, bool]:
    """One more person asked on a door-to-door survey; idempotent on their client_id."""
    _forbid(user)
    revisit = get(user, revisit_id)
    data.pop("device_time", None)
    case = scope.get_case(user, revisit.case_id, for_update=True)
    # Read again under the case's lock: respondents added meanwhile count for the position
    # and for the overall satisfaction.
    db.session.refresh(revisit)
    request_hash = _respondent_hash(revisit.client_id, data)

    def create() -> Respondent:
        if revisit.outcome in ("unreachable", "refused", "callback"):
            raise Invalid("revisit.unreachable", "This revisit found nobody; record a new one.")
        if len(revisit.respondents) >= MAX_RESPONDENTS:
            raise Invalid("revisit.too_many_respondents",
                          f"A revisit holds at most {MAX_RESPONDENTS} respondents.")
        wrong = _respondent_errors(revisit.questionnaire, data)
        if wrong:
            raise Invalid("revisit.invalid", "The respondent's answers are not right; see the "
                          "fields named.", errors=wrong)
        return _new_respondent(user, revisit.questionnaire, data, request_hash,
                               len(revisit.respondents), utcnow())

    respondent, created = idempotency.once(
        Respondent, data["client_id"], request_hash, create=lambda: _attach(revisit, create()),
        visible=lambda earlier: earlier.revisit_id == revisit.id)
    if created:
        before = revisit.satisfaction
        revisit.outcome = "reached"
        revisit.satisfaction = overall(revisit.stated_satisfaction, revisit.respondents)
        now = respondent.received_at
        mark_reached(case.id, now)
        if revisit.satisfaction != before:
            keep_latest(case.id)
        timeline.append(case, "revisit_respondent", actor_id=user.id, at=now, data={
            "revisit_id": revisit.id, "respondent_id": respondent.id, "kind": respondent.kind,
            "satisfaction": respondent.satisfaction, "overall": revisit.satisfaction,
            "respondents": len(revisit.respondents)})
        audit.append("revisit.respondent_added", "revisit", revisit.id, actor_id=user.id,
                     data={"respondent_id": respondent.id, "case_id": case.id})
        if revisit.satisfaction == "dissatisfied" and before != "dissatisfied":
            lifecycle.dissatisfied_revisit(case, actor_id=user.id, now=now,
                                           data=_why(revisit))
    return respondent, created


def mark_reached(case_id: str, at: datetime) -> None:
    """A helper (no commit): the case's first revisit that reached someone, kept on the
    case for the revisit rate (ledgers.stats). A plain UPDATE: the case's version, which
    phones hold, is not the revisits' to move."""
    db.session.execute(
        sa.update(Case).where(Case.id == case_id, sa.or_(
            Case.revisit_reached_at.is_(None), Case.revisit_reached_at > at))
        .values(revisit_reached_at=at).execution_options(synchronize_session=False))


def _far_flags(case: Case, location: dict[str, Any]) -> list[dict[str, Any]]:
    """A door survey taken far from the case is flagged as a photo would be: a fact for the
    office to weigh (the survey still counts)."""
    if location.get("lat") is None or case.lat is None:
        return []
    limit = setting("REVISIT_FAR_FROM_CASE_M")
    distance = distance_m((location["lat"], location["lon"]), (case.lat, case.lon))
    if distance <= limit:
        return []
    return [{"code": "far_from_case", "message": "Taken far from the case's address.",
             "distance_m": round(distance), "limit_m": limit}]


def _attach(revisit: Revisit, respondent: Respondent) -> Respondent:
    revisit.respondents.append(respondent)
    return respondent


def _why(revisit: Revisit) -> dict[str, Any]:
    """What the timeline keeps of a dissatisfied revisit: the dissatisfied answers (no
    names or contacts: the timeline is read more widely than the revisit)."""
    return {"revisit_id": revisit.id, "method": revisit.method,
            "satisfaction": revisit.satisfaction,
            "dissatisfied": [{"respondent_id": r.id, "kind": r.kind, "answers": r.answers}
                             for r in revisit.respondents
                             if r.satisfaction == "dissatisfied"][:20],
            "notes": revisit.notes}


def get(user: User, revisit_id: str) -> Revisit:
    revisit = db.session.scalar(
        sa.select(Revisit).join(Case, Case.id == Revisit.case_id)
        .where(Revisit.id == revisit_id, scope.visible_clause(user)))
    if revisit is None:
        raise NotFound("revisit.not_found", "No such revisit.")
    return revisit


def list_for_case(user: User, case_id: str) -> list[Revisit]:
    case = scope.get_case(user, case_id)
    return list(db.session.scalars(sa.select(Revisit).filter_by(case_id=case.id)
                                   .order_by(Revisit.at, Revisit.id)))

