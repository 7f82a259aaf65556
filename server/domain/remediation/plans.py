"""Rectification plans (整改方案, seed 001 annex 1): what a rebound or a newly found problem
calls for, by whom, by when (完成时限, which becomes the case's due date) and who accepts
the work (验收（监管）单位). The closure checklist's `plan_accepted` rule holds a case with
plans until every one of them is accepted."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES
from server.domain.audit import audit, timeline
from server.domain.cases import deadline_rules, deadlines, lifecycle
from server.domain.closure import checklist, duties
from server.domain.core import labels, runtime, text
from server.domain.core.errors import Conflict, Forbidden, Invalid, NotFound
from server.domain.core.uow import command
from server.domain.remediation import campaigns
from server.extensions import db
from server.models import Campaign, Case, RecheckTask, RectificationPlan, Unit, User
from server.models.base import utcnow

# Longest texts of a plan's fields (the annex's cells).
TEXT_LIMITS = {"problem_type": 200, "original_problem": 4000, "new_problem": 4000,
               "measures": 4000, "target": 4000, "implementer": 300}


def acceptance_unit_ids(case_unit_id: str, organiser_unit_id: str | None) -> frozenset[str]:
    """The units that may accept a case's rectification: the case's unit and the units
    above it, and the campaign organiser's unit and the units above it."""
    allowed = scope.unit_and_above(case_unit_id)
    if organiser_unit_id:
        allowed |= scope.unit_and_above(organiser_unit_id)
    return allowed


def acceptance_choices(pairs: list[tuple[str, str | None]]) -> dict[tuple[str, str | None],
                                                                   list[dict[str, str]]]:
    """For each (case unit, organiser unit): the units that may accept, as {id, name}, the
    case's unit and its ancestors first, then the organiser's chain. One recursive query
    for every pair (a task list's hundreds of rows)."""
    seeds = {u for pair in pairs for u in pair if u}
    if not seeds:
        return {}
    chain = (sa.select(Unit.id.label("start"), Unit.id, Unit.name, Unit.parent_id,
                       sa.literal(0).label("depth"))
             .where(Unit.id.in_(seeds)).cte("chain", recursive=True))
    chain = chain.union_all(
        sa.select(chain.c.start, Unit.id, Unit.name, Unit.parent_id, chain.c.depth + 1)
        .join(chain, Unit.id == chain.c.parent_id))
    above: dict[str, list[dict[str, str]]] = {}
    for start, unit_id, name in db.session.execute(
            sa.select(chain.c.start, chain.c.id, chain.c.name)
            .order_by(chain.c.start, chain.c.depth)):
        above.setdefault(start, []).append({"id": unit_id, "name": name})
    out = {}
    for case_unit, organiser in pairs:
        seen: dict[str, dict[str, str]] = {}
        for unit in above.get(case_unit, []) + above.get(organiser or "", []):
            seen.setdefault(unit["id"], unit)
        out[(case_unit, organiser)] = list(seen.values())
    return out


def check_plan(case: Case, given: dict[str, Any] | None, *,
               new_problem: str | None, organiser_unit_id: str | None = None,
               day: date | None = None) -> dict[str, Any]:
    """The plan's fields, defaults filled (问题类型 from the case's channel, 按原交办问题来源
    填写; 原交办具体问题 from its subject), or 422 naming what is missing:
    `plan.due_missing`, `plan.acceptance_unit_missing`, then the others together. The
    acceptance unit is the case's unit or above it, or the organiser's unit or above it
    (422 `plan.acceptance_unit_out_of_scope`): a unit that cannot see the case cannot
    accept its work. `day`: the re-check's own local day (a re-check at 23:50 synced next
    morning keeps its day); the completion date is from that day (`plan.due_past`) to
    PLAN_MAX_DAYS after it (`plan.due_too_far`)."""
    plan = dict(given or {})
    if not plan.get("due_on"):
        raise Invalid("plan.due_missing", "A rectification plan needs its completion date.",
                      errors={"plan": {"due_on": ["Required."]}})
    if not plan.get("acceptance_unit_id"):
        raise Invalid("plan.acceptance_unit_missing", "A rectification plan needs the unit "
                      "that accepts the work.",
                      errors={"plan": {"acceptance_unit_id": ["Required."]}})
    errors: dict[str, list[str]] = {}
    due_on = plan["due_on"]
    if not isinstance(due_on, date):
        try:
            due_on = date.fromisoformat(str(due_on))
        except ValueError:
            errors["due_on"] = ["A date, YYYY-MM-DD."]
    day = day or campaigns.local_today()
    if isinstance(due_on, date) and due_on < day:
        raise Invalid("plan.due_past", "The plan's completion date is already past.",
                      errors={"plan": {"due_on": ["The re-check's day or later."]}})
    longest = runtime.setting("PLAN_MAX_DAYS")
    if isinstance(due_on, date) and due_on > day + timedelta(days=longest):
        raise Invalid("plan.due_too_far", f"The plan's completion date is more than "
                      f"{longest} days after the re-check.",
                      errors={"plan": {"due_on": [f"At most {longest} days after the "
                                                  "re-check."]}},
                      params={"days": longest})
    unit = db.session.get(Unit, plan["acceptance_unit_id"])
    if unit is None:
        errors["acceptance_unit_id"] = ["No such unit."]
    elif unit.id not in acceptance_unit_ids(case.unit_id, organiser_unit_id):
        raise Invalid("plan.acceptance_unit_out_of_scope", "The acceptance unit must be the "
                      "case's unit or a unit above it, or the campaign organiser's unit or "
                      "a unit above it.",
                      errors={"plan": {"acceptance_unit_id": ["Not a unit over this case."]}})
    # The subject only: a cross-check unit reads the plan, never the description's free
    # text (which may name the complainant).
    original = case.subject or ""
    clean = {"problem_type": plan.get("problem_type") or labels.label("channels", case.channel),
             "original_problem": plan.get("original_problem") or original,
             "new_problem": plan.get("new_problem") or new_problem or None,
             "measures": plan.get("measures"), "target": plan.get("target"),
             "implementer": plan.get("implementer")}
    for name, limit in TEXT_LIMITS.items():
        value = clean[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            if name != "new_problem":
                errors[name] = ["Required."]
            clean[name] = None
            continue
        wrong = text.checked(value, limit)
        if wrong:
            errors[name] = [wrong]
        else:
            clean[name] = value.strip()
    if errors:
        raise Invalid("plan.bad_fields", "The rectification plan is not complete: "
                      + ", ".join(sorted(errors)) + ".", errors={"plan": errors})
    return {**clean, "acceptance_unit_id": unit.id, "due_on": due_on}


def add_plan(case: Case, task: RecheckTask | None, fields: dict[str, Any], *,
             actor_id: str, now: Any) -> RectificationPlan:
    """A helper of the re-check command (no commit): the plan, its `plan_set` event (a
    clock event: the case is now due at the end of 完成时限) and its audit entry."""
    plan = RectificationPlan(case_id=case.id, task_id=task.id if task else None,
                             status="open", created_by=actor_id, created_at=now, **fields)
    db.session.add(plan)
    db.session.flush()
    data = {"plan_id": plan.id, "task_id": plan.task_id, "due_on": plan.due_on.isoformat(),
            "acceptance_unit_id": plan.acceptance_unit_id,
            "acceptance_unit": db.session.get(Unit, plan.acceptance_unit_id).name,
            "measures": plan.measures}
    deadline_rules.refresh(case, now, deadlines.ClockEvent("plan_set", now, data))
    db.session.flush()  # the new due date, one versioned update
    timeline.append(case, "plan_set", actor_id=actor_id, at=now, data=data)
    audit.append("plan.set", "rectification_plan", plan.id, actor_id=actor_id,
                 data={"case_id": case.id, **data})
    return plan


# ---- reading -----------------------------------------------------------------------------
def _refusal(user: User, plan: RectificationPlan) -> Forbidden | None:
    """Why this user may not accept this plan (None: they may). The office of the
    acceptance unit or above it who sees the case, and neither recorded its re-check nor
    handled the case (separation of duties, as closure.duties for approving). Leading the
    case, not only co-handling it (协办): a co-handler sees the case, not its closure."""
    case = db.session.get(Case, plan.case_id)
    if (user.role not in OFFICE_ROLES
            or plan.acceptance_unit_id not in scope.visible_unit_ids(user)
            or case is None or not lifecycle.leads(user, case)):
        return Forbidden("plan.accept_forbidden", "Only the office of the acceptance unit "
                         "(or a unit above it) that leads the case accepts a rectification.")
    checker = db.session.scalar(sa.select(RecheckTask.checked_by)
                                .where(RecheckTask.id == plan.task_id)) if plan.task_id else None
    if user.id in {checker, plan.created_by} or duties.handled_by(user, case):
        return Forbidden("plan.accept_own", "You recorded the re-check or handled this case: "
                         "someone else accepts its rectification.")
    return None


def _may_accept(user: User, plan: RectificationPlan) -> bool:
    return plan.status == "open" and _refusal(user, plan) is None


def present(user: User, plan: RectificationPlan,
            names: dict[str, str] | None = None) -> dict[str, Any]:
    names = names if names is not None else _names([plan])
    return {"id": plan.id, "case_id": plan.case_id, "task_id": plan.task_id,
            "problem_type": plan.problem_type, "original_problem": plan.original_problem,
            "new_problem": plan.new_problem, "measures": plan.measures,
            "target": plan.target, "implementer": plan.implementer,
            "acceptance_unit": {"id": plan.acceptance_unit_id,
                                "name": names.get(plan.acceptance_unit_id)},
            "due_on": plan.due_on, "status": plan.status, "accepted_at": plan.accepted_at,
            "accepted_by": plan.accepted_by,
            "accepted_by_name": names.get(plan.accepted_by) if plan.accepted_by else None,
            "acceptance_note": plan.acceptance_note, "may_accept": _may_accept(user, plan)}


def _names(plans: list[RectificationPlan]) -> dict[str, str]:
    """Unit and user names the plans mention, in two queries."""
    units = {p.acceptance_unit_id for p in plans}
    users = {p.accepted_by for p in plans if p.accepted_by}
    out = dict(db.session.execute(sa.select(Unit.id, Unit.name).where(Unit.id.in_(units))).all())
    if users:
        out.update(db.session.execute(sa.select(User.id, User.display_name)
                                      .where(User.id.in_(users))).all())
    return out


def plans_of(case_id: str) -> list[RectificationPlan]:
    return list(db.session.scalars(sa.select(RectificationPlan).filter_by(case_id=case_id)
                                   .order_by(RectificationPlan.created_at)))


def list_for_case(user: User, case_id: str) -> list[dict[str, Any]]:
    case = scope.get_case(user, case_id)
    found = plans_of(case.id)
    names = _names(found)
    return [present(user, p, names) for p in found]


def _visible_plan(user: User, plan_id: str) -> RectificationPlan:
    """A plan of a case the user sees, or one their units accept; else 404."""
    plan = db.session.get(RectificationPlan, plan_id)
    if plan is None or not (plan.acceptance_unit_id in scope.visible_unit_ids(user)
                            or scope.visible_case_ids(user, [plan.case_id])):
        raise NotFound("plan.not_found", "No such rectification plan.")
    return plan


@command
def accept(user: User, plan_id: str, note: str | None) -> dict[str, Any]:
    """验收: the office of the acceptance unit (or above it) accepts the rectification. A
    user who sees the plan but may not accept it is told so (403), not 404."""
    plan = _visible_plan(user, plan_id)
    refusal = _refusal(user, plan)
    if refusal is not None:
        raise refusal
    case = db.session.scalar(sa.select(Case).where(Case.id == plan.case_id)
                             .with_for_update(of=Case))
    db.session.refresh(plan)
    if plan.status != "open":
        raise Conflict("plan.already_accepted", "This rectification was already accepted.",
                       extra={"accepted_at": plan.accepted_at})
    now = utcnow()
    note = (note or "").strip() or None
    plan.status, plan.accepted_at, plan.accepted_by = "accepted", now, user.id
    plan.acceptance_note = note
    db.session.flush()
    data = {"plan_id": plan.id, "note": note}
    timeline.append(case, "plan_accepted", actor_id=user.id, at=now, data=data)
    audit.append("plan.accepted", "rectification_plan", plan.id, actor_id=user.id,
                 data={"case_id": case.id, **data})
    return present(user, plan)


def problem_list(user: User, campaign_id: str) -> dict[str, Any]:
    """Seed 001 annex 1 (问题清单) for a campaign: its rectification plans the user sees,
    in the order they were set, as plain rows (the ledgers' XLSX writes them)."""
    campaign: Campaign = campaigns.get_campaign(user, campaign_id)
    query = (sa.select(RectificationPlan, Unit.name)
             .join(RecheckTask, RecheckTask.id == RectificationPlan.task_id)
             .join(Unit, Unit.id == RectificationPlan.acceptance_unit_id)
             .where(RecheckTask.campaign_id == campaign.id,
                    campaigns.task_clause(user, campaign))
             .order_by(RectificationPlan.created_at, RectificationPlan.id))
    rows = [{"seq": i, "problem_type": p.problem_type, "original_problem": p.original_problem,
             "new_problem": p.new_problem or "", "measures": p.measures, "target": p.target,
             "implementer": p.implementer, "acceptance_unit": unit, "due_on": p.due_on,
             "status": p.status, "plan_id": p.id, "case_id": p.case_id}
            for i, (p, unit) in enumerate(db.session.execute(query), start=1)]
    organiser = db.session.get(Unit, campaign.unit_id)
    return {"campaign": {"id": campaign.id, "title": campaign.title,
                         "organiser_unit": organiser.name if organiser else "",
                         "from": campaign.period_from, "to": campaign.period_to},
            "rows": rows}


# ---- the closure checklist's rule ------------------------------------------------------------
@checklist.register_check("plan_accepted")
def plan_accepted(rule: dict[str, Any], case: Case) -> dict[str, Any] | None:
    """Met when every rectification plan of the case is accepted; None (the rule does not
    apply) for a case without plans."""
    found = plans_of(case.id)
    if not found:
        return None
    waiting = [p for p in found if p.status != "accepted"]
    refs = [{"plan_id": p.id, "status": p.status, "due_on": p.due_on.isoformat()}
            for p in found]
    if waiting:
        return checklist.result(rule, False, f"{len(waiting)} 项整改尚未验收。",
                                f"{len(waiting)} rectification plan(s) not accepted yet.",
                                refs)
    return checklist.result(rule, True, f"{len(found)} 项整改均已验收。",
                            f"All {len(found)} rectification plan(s) accepted.", refs)
