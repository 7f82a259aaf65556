"""A hard case's remediation plan (整治方案, seed 000): the approach (解决办法), the people
responsible (责任人员: users in scope, and people named in words), the deadline (完成时限),
and whether it is done, with a closing note. One plan a case, changed in place; every
version is on the timeline and in the audit log with all it said. The closure checklist's
rule `remediation_plan` asks a hard case for one."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES
from server.domain.audit import audit, timeline
from server.domain.cases import lifecycle
from server.domain.closure import checklist
from server.domain.core.errors import Conflict, Invalid
from server.domain.core.runtime import setting
from server.domain.core.uow import command
from server.domain.remediation import hardcases
from server.extensions import db
from server.models import Case, RemediationPlan, Unit, User
from server.models.base import utcnow
from server.models.hardcase import PLAN_STATUSES

EVENT = "remediation_plan_set"
TEXT_MAX = 4000
RESPONSIBLE_MAX = 20


def local_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(ZoneInfo(setting("LOCAL_TIMEZONE"))).date()


def responsible_users(case: Case, user_ids: list[str]) -> list[User]:
    """The users named responsible, in the order given: active people of the case's unit,
    a unit above it or a unit below it (who works on it). Anyone else, or nobody by that
    id, is refused alike (422): an id from elsewhere reveals nothing."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return []
    units = scope.subtree([case.unit_id]) | scope.unit_and_above(case.unit_id)
    found = {u.id: u for u in db.session.scalars(
        sa.select(User).where(User.id.in_(wanted), User.active,
                              User.units.any(Unit.id.in_(units))))}
    outside = [i for i in wanted if i not in found]
    if outside:
        raise Invalid("plan.responsible_out_of_scope", "Everyone responsible must work in "
                      "the case's unit, a unit above it or a unit below it.",
                      errors={"responsible_ids": ["Not a person of this case's units."]},
                      extra={"user_ids": outside})
    return [found[i] for i in wanted]


def _name(user: User) -> str:
    return user.display_name or user.username


def _check(plan: RemediationPlan | None, data: dict[str, Any], case: Case
           ) -> dict[str, Any]:
    """The plan as it will read, validated: 422 with the field at fault."""
    approach = (data.get("approach") or "").strip()
    if not approach:
        raise Invalid("plan.approach_required", "Write the approach (解决办法).",
                      errors={"approach": ["Required."]})
    responsible_text = (data.get("responsible_text") or "").strip()
    ids = data.get("responsible_ids") or []
    if len(ids) > RESPONSIBLE_MAX:
        raise Invalid("plan.responsible_out_of_scope", "Too many people responsible.",
                      errors={"responsible_ids": [f"At most {RESPONSIBLE_MAX}."]})
    people = responsible_users(case, ids)
    if not people and not responsible_text:
        raise Invalid("plan.responsible_required", "Name who is responsible (责任人员).",
                      errors={"responsible_ids": ["Name a person, or write who."]})
    deadline = data.get("deadline")
    if deadline is None:
        raise Invalid("plan.deadline_required", "Give the deadline (完成时限).",
                      errors={"deadline": ["Required."]})
    # Only a deadline being set is checked against today: an old plan past its deadline
    # may still be closed or reworded without moving it.
    if (plan is None or deadline != plan.deadline) and deadline < local_today():
        raise Invalid("plan.deadline_past", "The deadline cannot be in the past.",
                      errors={"deadline": ["Today or later."]})
    status = data.get("status") or "open"
    if status not in PLAN_STATUSES:
        raise Invalid("plan.bad_status", "A plan is open or done.",
                      errors={"status": ["open or done."]})
    note = (data.get("closing_note") or "").strip()
    if status == "done" and not note:
        raise Invalid("plan.closing_note_required", "Say how the plan was carried out.",
                      errors={"closing_note": ["Required when done."]})
    return {"approach": approach, "responsible_ids": [u.id for u in people],
            "responsible": [{"id": u.id, "name": _name(u)} for u in people],
            "responsible_text": responsible_text, "deadline": deadline, "status": status,
            "closing_note": note}


FIELDS = ("approach", "responsible_ids", "responsible_text", "deadline", "status",
          "closing_note")


@command
def put_plan(user: User, case_id: str, data: dict[str, Any]) -> tuple[RemediationPlan, bool]:
    """(plan, changed). The office of the case's unit or above sets the plan of a hard,
    open case; `version`, when given, must be the plan's current one (409 otherwise: two
    desks editing at once). Sending the plan as it is changes nothing (a retry)."""
    case = hardcases.office_case(user, case_id)
    lifecycle.require_open(case, "remediation plans")
    hardcases.require_hard(case, "a remediation plan")
    plan = db.session.scalar(sa.select(RemediationPlan).where(
        RemediationPlan.case_id == case.id).with_for_update())
    seen = data.get("version")
    if plan is not None and seen is not None and seen != plan.version:
        raise Conflict("plan.version_conflict", "Someone changed this plan meanwhile; "
                       "read it again.", extra={"version": plan.version})
    clean = _check(plan, data, case)
    if plan is not None and all(getattr(plan, f) == clean[f] for f in FIELDS):
        return plan, False
    now = utcnow()
    if plan is None:
        plan = RemediationPlan(case_id=case.id, version=1, created_by=user.id, created_at=now)
        db.session.add(plan)
    else:
        plan.version += 1
    for field in FIELDS:
        setattr(plan, field, clean[field])
    plan.updated_by, plan.updated_at = user.id, now
    db.session.flush()
    record = {"version": plan.version, "approach": clean["approach"],
              "responsible": clean["responsible"],
              "responsible_text": clean["responsible_text"],
              "deadline": clean["deadline"].isoformat(), "status": clean["status"],
              "closing_note": clean["closing_note"]}
    timeline.append(case, EVENT, actor_id=user.id, at=now, data=record)
    audit.append("case.remediation_plan_set", "case", case.id, actor_id=user.id,
                 data={"plan_id": plan.id, **record})
    return plan, True


def _people(ids: list[str]) -> list[dict[str, str]]:
    if not ids:
        return []
    found = {u.id: _name(u) for u in db.session.scalars(sa.select(User).where(
        User.id.in_(ids)))}
    return [{"id": i, "name": found.get(i, "")} for i in ids]


def present(plan: RemediationPlan) -> dict[str, Any]:
    names = {u["id"]: u["name"] for u in _people(
        [i for i in (plan.updated_by, plan.created_by) if i])}
    return {"id": plan.id, "case_id": plan.case_id, "version": plan.version,
            "approach": plan.approach, "responsible": _people(plan.responsible_ids or []),
            "responsible_text": plan.responsible_text, "deadline": plan.deadline,
            "status": plan.status, "closing_note": plan.closing_note,
            "created_at": plan.created_at, "updated_at": plan.updated_at,
            "updated_by": {"id": plan.updated_by, "name": names.get(plan.updated_by, "")}}


def get_plan(user: User, case_id: str) -> dict[str, Any]:
    """The case's plan (None: none yet), its versions newest first (from the timeline),
    whether the case is hard, and whether this user may change it."""
    case = scope.get_case(user, case_id)
    plan = db.session.scalar(sa.select(RemediationPlan).where(
        RemediationPlan.case_id == case.id))
    versions = timeline.events(case.id, kinds=(EVENT,))
    actors = {u["id"]: u["name"] for u in _people(
        list({e.actor_id for e in versions if e.actor_id}))}
    history = [{**e.data, "at": e.at, "by": {"id": e.actor_id,
                                              "name": actors.get(e.actor_id, "")}}
               for e in reversed(versions)]
    may_edit = (user.role in OFFICE_ROLES
                and "lead" in lifecycle.relations(user, case)
                and scope.case_is_open(case))
    return {"case_id": case.id, "hard": hardcases.is_hard(case),
            "plan": present(plan) if plan else None, "history": history,
            "may_edit": may_edit}


@checklist.register_check("remediation_plan")
def plan_rule(rule: dict[str, Any], case: Case) -> dict[str, Any] | None:
    """A hard case needs its remediation plan before it is closed; other cases are not
    asked (None)."""
    kinds = hardcases.kinds_of(case)
    if not kinds:
        return None
    plan = db.session.scalar(sa.select(RemediationPlan).where(
        RemediationPlan.case_id == case.id))
    zh_kinds = "、".join({"repeat": "重复信访", "backlog": "信访积案",
                         "difficult": "重点疑难"}[k] for k in kinds)
    if plan is None:
        return checklist.result(rule, False, f"本案属{zh_kinds}，尚未制订整治方案。",
                                f"A hard case ({', '.join(kinds)}) without a remediation "
                                "plan yet.")
    done = "已完成" if plan.status == "done" else "进行中"
    return checklist.result(
        rule, True, f"整治方案第{plan.version}版（{done}），完成时限{plan.deadline.isoformat()}。",
        f"Remediation plan version {plan.version} ({plan.status}), deadline "
        f"{plan.deadline.isoformat()}.",
        [{"plan_id": plan.id, "version": plan.version, "status": plan.status}])
