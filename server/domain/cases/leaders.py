"""Leaders (领导): the cases they hold (包案), their instructions (批示), and telling the
complainant the result (答复/反馈), chain 接访→登记→领导批示→办理→督办→办结→反馈."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from server.domain.accounts import roles, scope
from server.domain.accounts.roles import (
    FEEDBACK_ROLES,
    INSTRUCTION_ROLES,
    LEADER_ROLES,
    require_role,
)
from server.domain.audit import audit, timeline
from server.domain.cases import lifecycle
from server.domain.core import vocab
from server.domain.core.errors import Invalid
from server.domain.core.uow import command
from server.extensions import db
from server.models import Case, Unit, User
from server.models.base import utcnow

# A time typed at a desk a little ahead of the server's clock is drift, not the future.
DRIFT = timedelta(minutes=2)


def leaders_query(user: User, unit_id: str | None = None) -> sa.Select:
    """Active leaders `user` may pick: those of the user's units, the units below them and
    the units above them (a district leader holds a street's case). With `unit_id`, only
    those who may hold a case of that unit (theirs, or a unit above it)."""
    mine = [u.id for u in user.units]
    units = set(scope.visible_unit_ids(user))
    for unit in mine:
        units |= scope.unit_and_above(unit)
    if unit_id is not None:
        units &= scope.unit_and_above(unit_id)
    return (sa.select(User).where(User.active, User.role.in_(LEADER_ROLES),
                                  User.units.any(Unit.id.in_(units)))
            .order_by(User.display_name, User.username))


def list_leaders(user: User, unit_id: str | None = None) -> list[User]:
    return list(db.session.scalars(leaders_query(user, unit_id)))


def check_leader(case_unit_id: str, leader_id: str) -> User:
    """The active leader who may hold a case of this unit: one of their units is the
    case's unit or a unit above it; 422 case.not_a_leader otherwise."""
    leader = db.session.get(User, leader_id)
    if not roles.may_hold(leader, case_unit_id):
        raise Invalid("case.not_a_leader", "That person is not an active leader over this "
                      "case's unit.", errors={"leader_id": ["Not a leader of this unit."]})
    return leader


def _moment(value: datetime | None, case: Case, now: datetime, code: str,
            field: str) -> datetime:
    """A time someone says a thing happened: not in the future, not before the case was
    received."""
    value = value or now
    if value > now + DRIFT:
        raise Invalid(code, "That time is in the future.",
                      errors={field: ["Not later than now."]})
    if value < case.received_at:
        raise Invalid(code, "That time is before the case was received.",
                      errors={field: ["Not before the case was received."]})
    return min(value, now).astimezone(UTC)


@command
def add_instruction(user: User, case_id: str, text: str, *, leader_id: str | None = None,
                    given_at: datetime | None = None) -> dict[str, Any]:
    """A leader's instruction (领导批示) on a case: their own (a leader), or one given in
    writing or by word and recorded by the office on the leader's behalf (leader_id
    required; given_at when it was given). Open cases only."""
    require_role(user, INSTRUCTION_ROLES, "instruction.forbidden",
                 "Only leaders and the office record leaders' instructions.")
    case = scope.get_case(user, case_id, for_update=True)
    lifecycle.require_open(case, "instructions")
    text = text.strip()
    if not text:
        raise Invalid("instruction.empty", "Write the instruction.",
                      errors={"text": ["Required."]})
    if user.role in LEADER_ROLES:
        if leader_id not in (None, user.id):
            raise Invalid("instruction.own_only", "A leader writes their own instructions.",
                          errors={"leader_id": ["Yours only."]})
        leader = user
    else:
        if not leader_id:
            raise Invalid("instruction.leader_required", "Say which leader gave it.",
                          errors={"leader_id": ["Required."]})
        leader = check_leader(case.unit_id, leader_id)
    now = utcnow()
    given = _moment(given_at, case, now, "instruction.bad_time", "given_at")
    data = {"leader_id": leader.id, "leader_name": leader.display_name or leader.username,
            "text": text, "given_at": given.isoformat(), "recorded_by": user.id}
    timeline.append(case, "leader_instruction", actor_id=user.id, at=now, data=data)
    audit.append("case.instruction_added", "case", case.id, actor_id=user.id,
                 data={"leader_id": leader.id, "given_at": given.isoformat(),
                       "on_behalf": leader.id != user.id})
    return {**data, "at": now}


@command
def record_feedback(user: User, case_id: str, method: str, told_at: datetime,
                    note: str = "") -> dict[str, Any]:
    """How and when the complainant was told the result (答复/反馈). Allowed while the case
    is open: it is told once the result is known (typically after submission), and the
    closure checklist asks for it before approval where the channel's rule says so; a
    closed case is sealed, so feedback after closing needs a reopen like any change."""
    require_role(user, FEEDBACK_ROLES, "feedback.forbidden",
                 "Only the office and the revisit team record feedback to the complainant.")
    if method not in vocab.FEEDBACK_METHODS:
        raise Invalid("feedback.bad_method", "Phone, SMS, letter or in person.",
                      errors={"method": ["Unknown method."]})
    case = scope.get_case(user, case_id, for_update=True)
    lifecycle.require_open(case, "feedback")
    now = utcnow()
    told = _moment(told_at, case, now, "feedback.bad_time", "told_at")
    data = {"method": method, "told_at": told.isoformat(), "note": note.strip(),
            "recorded_by": user.id}
    timeline.append(case, "complainant_informed", actor_id=user.id, at=now, data=data)
    audit.append("case.feedback_recorded", "case", case.id, actor_id=user.id,
                 data={"method": method, "told_at": told.isoformat()})
    return {**data, "at": now}


def instructions(case_id: str) -> list[dict[str, Any]]:
    """A case's instructions, newest first."""
    return [{**ev.data, "at": ev.at} for ev in
            reversed(timeline.events(case_id, kinds=("leader_instruction",)))]


def feedback(case_id: str) -> list[dict[str, Any]]:
    """How the complainant was told, newest first."""
    return [{**ev.data, "at": ev.at} for ev in
            reversed(timeline.events(case_id, kinds=("complainant_informed",)))]
