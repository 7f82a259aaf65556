"""The closure checklist's revisit rule, and the review decision that can meet it.

A dissatisfied revisit has teeth: after it, the rule stays unmet until either the case is
handled again (a visit or a handling action after the dissatisfied revisit, then a new
revisit with a result), or someone records a review decision saying why closing stands.
Whoever records that decision may not also approve the case (closure.own_decision at the
approval gate): two people agree before a dissatisfied complainant's case is closed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import lifecycle
from server.domain.core import labels
from server.domain.core.errors import Conflict, Invalid
from server.domain.core.uow import command
from server.extensions import db
from server.models import Case, Revisit, User
from server.models.base import utcnow

# What counts as handling the case again after a dissatisfied revisit: a visit, or an
# action of the people handling it.
HANDLING = ("visit_recorded", "returned", "reopened", "started", "submitted", "dispatched",
            "transferred")
DECISION = "revisit_decision"


def _rows(case: Case) -> list[Any]:
    return db.session.execute(
        sa.select(Revisit.id, Revisit.outcome, Revisit.satisfaction, Revisit.unreachable_reason,
                  Revisit.received_at)
        .where(Revisit.case_id == case.id)
        .order_by(Revisit.received_at.desc(), Revisit.id.desc())).all()


def _settled(rows: list[Any]) -> tuple[dict[str, str], dict[str, str], str] | None:
    """The newest revisit with a result: (zh, en, revisit id), or None."""
    for r in rows:
        if r.satisfaction:
            return (f"满意度：{labels.label('satisfaction', r.satisfaction)}。",
                    f"Satisfaction: {labels.label('satisfaction', r.satisfaction, 'en')}.", r.id)
        if r.outcome == "refused":
            return "拒绝回访。", "Refused the revisit.", r.id
        if r.outcome == "unreachable" and r.unreachable_reason:
            return (f"无法联系：{r.unreachable_reason}",
                    f"Not reachable: {r.unreachable_reason}", r.id)
    return None


def _after(rows: list[Any], since: datetime) -> list[Any]:
    return [r for r in rows if r.received_at > since]


def state(case: Case) -> dict[str, Any]:
    """Where the case stands on its revisit: met or not, why (zh, en) and the refs."""
    rows = _rows(case)
    unhappy = next((r for r in rows if r.satisfaction == "dissatisfied"), None)
    if unhappy is None:
        settled = _settled(rows)
        if settled is None:
            return {"met": False, "zh": "没有记录满意度的回访，也没有写明无法回访的原因。",
                    "en": "No revisit with a satisfaction answer or a reason why none was "
                          "possible.", "refs": []}
        return {"met": True, "zh": settled[0], "en": settled[1],
                "refs": [{"revisit_id": settled[2]}]}
    events = timeline.events(case.id, kinds=(*HANDLING, DECISION))
    decided = [e for e in events if e.kind == DECISION
               and e.data.get("revisit_id") == unhappy.id]
    if decided:
        last = decided[-1]
        return {"met": True, "zh": f"回访不满意，复核决定维持办结：{last.data.get('reason')}",
                "en": f"Dissatisfied revisit; review decided closing stands: "
                      f"{last.data.get('reason')}",
                "refs": [{"revisit_id": unhappy.id, "decision_by": last.actor_id}]}
    handled = [e for e in events if e.kind in HANDLING and e.at > unhappy.received_at]
    if handled:
        settled = _settled(_after(rows, handled[0].at))
        if settled is not None:
            return {"met": True, "zh": f"回访不满意后已重新办理并再次回访。{settled[0]}",
                    "en": f"Handled again after the dissatisfied revisit and revisited. "
                          f"{settled[1]}",
                    "refs": [{"revisit_id": settled[2], "after": unhappy.id}]}
    return {"met": False, "unhappy": unhappy.id,
            "zh": "回访不满意：须重新办理后再次回访，或由审核人以外的人员记录复核决定"
                  "（说明维持办结的理由）。",
            "en": "Dissatisfied revisit: handle the case again and revisit it, or have someone "
                  "other than the approver record a review decision saying why closing "
                  "stands.", "refs": [{"revisit_id": unhappy.id}]}


@command
def decide(user: User, case_id: str, reason: str) -> dict[str, Any]:
    """A review decision on a dissatisfied revisit: closing stands, and why. Timeline and
    audit together; the approver must then be someone else."""
    require_role(user, OFFICE_ROLES, "closure.forbidden",
                 "Only the office records review decisions.")
    case = scope.get_case(user, case_id, for_update=True)
    lifecycle.require_open(case, "review decisions")
    if len(reason.strip()) < 4:
        raise Invalid("closure.decision_reason", "Say why closing stands.",
                      errors={"reason": ["A reason is required."]})
    now = state(case)
    if now["met"] or "unhappy" not in now:
        raise Conflict("closure.no_dissatisfied_revisit", "No dissatisfied revisit of this "
                       "case is waiting for a decision.")
    data = {"revisit_id": now["unhappy"], "reason": reason.strip()}
    at = utcnow()
    timeline.append(case, DECISION, actor_id=user.id, at=at, data=data)
    audit.append("case.revisit_decision", "case", case.id, actor_id=user.id, data=data)
    return {**data, "decided_by": user.id, "at": at}


def decided_by(case: Case) -> str | None:
    """Who recorded the review decision the revisit rule stands on (None: none does)."""
    now = state(case)
    return next((r.get("decision_by") for r in now["refs"] if r.get("decision_by")), None) \
        if now["met"] else None
