"""Re-check tasks and the re-check itself (复查/回头看核查), recorded on the phone, offline
through the outbox: idempotent on the phone's client_id.

A task shows just what the re-check needs (the case's subject, place, category, handling
result), never the complainant; a cross-check unit sees its tasks and nothing else of the
case. A rebound (反弹) or a new problem found reopens the case in the same transaction,
with its rectification plan (plans.add_plan), the campaign acting: the lifecycle's reopen
semantics, audited with the checker as the actor.

The re-check is kept as a Visit of kind `recheck` (its place, findings, when), so its
photos go through the evidence flow unchanged, filed by the checker on that visit
(fieldwork.evidence's rule for a recheck visit's author).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import FIELD_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import hooks, lifecycle
from server.domain.core import idempotency, phonetime
from server.domain.core.errors import Conflict, Invalid, NotFound
from server.domain.core.uow import command
from server.domain.remediation import campaigns, plans
from server.extensions import db
from server.models import Campaign, Case, RecheckTask, RectificationPlan, Unit, User, Visit
from server.models.base import new_id, utcnow

LIST_LIMIT = 2000
# The handling unit's bell when a re-check reopens its case (a rebound or a new problem).
REBOUND_NOTICE = "recheck_reopened"


# ---- reading -----------------------------------------------------------------------------
def _task_rows(where: list[sa.ColumnElement[bool]]) -> list[dict[str, Any]]:
    """Tasks as the re-check needs them, with their case's few fields, their campaign and
    plan, in one query (no complainant column is read), and the units that may accept
    its plan in one more."""
    case_unit = sa.orm.aliased(Unit)
    check_unit = sa.orm.aliased(Unit)
    plan_id = (sa.select(RectificationPlan.id).where(RectificationPlan.task_id == RecheckTask.id)
               .limit(1).scalar_subquery())
    query = (sa.select(RecheckTask, Campaign.title, Campaign.check_unit_id, Campaign.unit_id,
                       Case.subject, Case.address, Case.category, Case.channel, Case.lat,
                       Case.lon, Case.result, Case.closed_at, Case.external_ref,
                       Case.status, case_unit.id, case_unit.name, check_unit.name,
                       plan_id.label("plan_id"))
             .join(Campaign, Campaign.id == RecheckTask.campaign_id)
             .join(Case, Case.id == RecheckTask.case_id)
             .join(case_unit, case_unit.id == Case.unit_id)
             .join(check_unit, check_unit.id == RecheckTask.check_unit_id)
             .where(*where)
             .order_by(RecheckTask.status.desc(), Case.received_at, RecheckTask.id)
             .limit(LIST_LIMIT))
    rows = db.session.execute(query).all()
    choices = plans.acceptance_choices(list({(r[14], r[3]) for r in rows}))
    out = []
    for (task, title, cross, organiser, subject, address, category, channel, lat, lon, result,
         closed_at, ref, status, unit_id, unit, check_name, plan) in rows:
        out.append({
            "id": task.id, "campaign_id": task.campaign_id, "campaign_title": title,
            "case": {"id": task.case_id, "subject": subject, "address": address,
                     "category": category, "channel": channel, "lat": lat, "lon": lon,
                     "result": result, "closed_at": closed_at, "external_ref": ref,
                     "status": status, "unit": {"id": unit_id, "name": unit}},
            "check_unit": {"id": task.check_unit_id, "name": check_name},
            "cross_check": cross is not None, "status": task.status,
            "rebound": task.rebound, "new_problem": task.new_problem,
            "findings": task.findings, "checked_at": task.checked_at,
            "visit_id": task.visit_id, "plan_id": plan,
            "acceptance_units": choices.get((unit_id, organiser), [])})
    return out


def _status(where: list[sa.ColumnElement[bool]], status: str | None) -> None:
    if status:
        where.append(RecheckTask.status == status)


def campaign_tasks(user: User, campaign_id: str, *, status: str | None = None,
                   unit_id: str | None = None) -> list[dict[str, Any]]:
    campaign = campaigns.get_campaign(user, campaign_id)
    where = [RecheckTask.campaign_id == campaign.id, campaigns.task_clause(user, campaign)]
    _status(where, status)
    if unit_id:
        where.append(RecheckTask.check_unit_id == unit_id)
    return _task_rows(where)


def my_tasks(user: User, *, status: str | None = None) -> list[dict[str, Any]]:
    """The phone's list: the tasks their units (and units below) check."""
    where = [RecheckTask.check_unit_id.in_(scope.visible_unit_ids(user))]
    _status(where, status)
    return _task_rows(where)


def task_answer(user: User, task: RecheckTask) -> dict[str, Any]:
    return _task_rows([RecheckTask.id == task.id])[0]


# ---- recording ---------------------------------------------------------------------------
@hooks.case_moved.register
def follow_the_case(case: Case, from_unit_id: str) -> None:
    """A case moved to another unit takes its pending re-check with it: the unit that
    handles a case checks it (a cross-check's unit is chosen and stays). Left with the old
    unit, its people could still record it, and reopen a case no longer theirs."""
    own_checks = sa.select(Campaign.id).where(Campaign.check_unit_id.is_(None))
    with db.session.no_autoflush:  # the case's change lands in its one versioned UPDATE
        db.session.execute(
            sa.update(RecheckTask)
            .where(RecheckTask.case_id == case.id, RecheckTask.status == "pending",
                   RecheckTask.check_unit_id == from_unit_id,
                   RecheckTask.campaign_id.in_(own_checks))
            .values(check_unit_id=case.unit_id).execution_options(synchronize_session=False))


def _find_task(user: User, campaign: Campaign, data: dict[str, Any]) -> RecheckTask:
    """The task named (by id, or by case in this campaign), if the user's units check it;
    a case only another campaign holds is refused with that campaign's name."""
    units = scope.visible_unit_ids(user)
    if not data.get("task_id") and not data.get("case_id"):
        raise Invalid("recheck.task_required", "Name the task (task_id) or its case (case_id).",
                      errors={"task_id": ["task_id or case_id is required."]})
    query = sa.select(RecheckTask).where(RecheckTask.campaign_id == campaign.id)
    if data.get("task_id"):
        query = query.where(RecheckTask.id == data["task_id"])
    else:
        query = query.where(RecheckTask.case_id == data.get("case_id")).order_by(
            RecheckTask.status.desc())  # the pending one first
    task = db.session.scalars(query.with_for_update().limit(1)).first()
    if task is None and data.get("case_id"):
        other = db.session.execute(
            sa.select(Campaign.id, Campaign.title).join(
                RecheckTask, RecheckTask.campaign_id == Campaign.id)
            .where(RecheckTask.case_id == data["case_id"], RecheckTask.status == "pending",
                   sa.or_(RecheckTask.check_unit_id.in_(units), Campaign.unit_id.in_(units)))
        ).first()
        if other is not None:
            raise Conflict("recheck.held_by_other",
                           f"This case is held by another campaign's re-check: {other.title}.",
                           extra={"campaign": {"id": other.id, "title": other.title}},
                           params={"title": other.title})
    if task is None or task.check_unit_id not in units:
        raise NotFound("recheck.task_not_found", "No such re-check task.")
    return task


@command
def record(user: User, campaign_id: str, data: dict[str, Any],
           contact: datetime | None = None) -> tuple[dict[str, Any], bool]:
    """(answer, created). One transaction: the task done, its visit, its timeline event
    and audit entry, and for a rebound or a new problem the case reopened with its plan.
    A retry with the same client_id and body answers as the first time; another body
    with the same client_id is refused (409)."""
    require_role(user, FIELD_ROLES, "recheck.forbidden", "Your role may not record re-checks.")
    campaign = campaigns.get_campaign(user, campaign_id)
    request_hash = idempotency.fingerprint({"campaign_id": campaign.id, **data})
    earlier = db.session.scalar(sa.select(RecheckTask).filter_by(client_id=data["client_id"]))
    if earlier is not None:
        if earlier.request_hash != request_hash or earlier.check_unit_id not in \
                scope.visible_unit_ids(user):
            raise Conflict("recheck.client_id_reused",
                           "This client_id was already used for a different re-check.")
        return _answer(user, earlier), False
    task = _find_task(user, campaign, data)  # locked: a racing retry waits here
    if task.status == "done" and task.client_id == data["client_id"]:
        if task.request_hash != request_hash:
            raise Conflict("recheck.client_id_reused",
                           "This client_id was already used for a different re-check.")
        return _answer(user, task), False
    if task.status == "done":
        raise Conflict("recheck.already_done", "This re-check was already recorded.",
                       extra={"task_id": task.id})
    case = db.session.scalar(sa.select(Case).where(Case.id == task.case_id)
                            .with_for_update(of=Case))
    db.session.refresh(case)
    if case.status != "closed":
        raise Conflict("recheck.case_not_closed",
                       "This case is no longer closed (it was reopened meanwhile); its "
                       "re-check cannot be recorded.", extra={"case_status": case.status})
    new_problem = (data.get("new_problem") or "").strip() or None
    found = bool(data["rebound"]) or new_problem is not None
    now = utcnow()
    judged = phonetime.judge(data.get("checked_at"), now, contact=contact,
                             sent_at=data.get("sent_at"))
    checked_at = judged.done_at if judged else now
    # The plan's dates are judged from the re-check's own local day, not the sync's.
    fields = plans.check_plan(case, data.get("plan"), new_problem=new_problem,
                              organiser_unit_id=campaign.unit_id,
                              day=checked_at.astimezone(campaigns.tz()).date()) \
        if found else None
    visit = Visit(id=new_id(), client_id=new_id(), request_hash=request_hash,
                  case_id=case.id, kind="recheck", started_at=checked_at,
                  lat=data.get("lat"), lon=data.get("lon"), accuracy_m=data.get("accuracy_m"),
                  participants=[], findings=data.get("findings") or "",
                  created_by=user.id, received_at=now,
                  device_offset_s=None)
    db.session.add(visit)
    db.session.flush()  # before the task names it (no relationship orders the two)
    task.status, task.rebound, task.new_problem = "done", bool(data["rebound"]), new_problem
    task.findings = (data.get("findings") or "").strip() or None
    task.lat, task.lon, task.accuracy_m = data.get("lat"), data.get("lon"), data.get("accuracy_m")
    task.checked_at, task.received_at, task.checked_by = checked_at, now, user.id
    task.visit_id, task.client_id, task.request_hash = visit.id, data["client_id"], request_hash
    db.session.flush()
    event = {"campaign_id": campaign.id, "campaign": campaign.title, "task_id": task.id,
             "visit_id": visit.id, "rebound": task.rebound, "new_problem": new_problem,
             "findings": task.findings,
             "check_unit": db.session.get(Unit, task.check_unit_id).name,
             **(judged.as_data() if judged else {})}
    timeline.append(case, "recheck_recorded", actor_id=user.id, at=now, data=event)
    audit.append("recheck.recorded", "recheck_task", task.id, actor_id=user.id,
                 data={"case_id": case.id, "campaign_id": campaign.id,
                       "rebound": task.rebound, "new_problem": new_problem is not None})
    if fields is not None:
        reason = "回头看发现问题反弹" if task.rebound else "回头看发现新问题"
        lifecycle.reopen_for(case, actor_id=user.id, now=now,
                             data={"campaign_id": campaign.id, "task_id": task.id,
                                   "reason": reason}, notify=REBOUND_NOTICE)
        plans.add_plan(case, task, fields, actor_id=user.id, now=now)
    return _answer(user, task), True


def _answer(user: User, task: RecheckTask) -> dict[str, Any]:
    plan = db.session.scalar(sa.select(RectificationPlan).filter_by(task_id=task.id))
    status = db.session.scalar(sa.select(Case.status).where(Case.id == task.case_id))
    return {"task": task_answer(user, task), "visit_id": task.visit_id,
            "plan": plans.present(user, plan) if plan else None,
            "case": {"id": task.case_id, "status": status}}
