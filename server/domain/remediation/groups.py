"""A hard case's leader group (包案小组, seed 000): its lead, a leader who may hold the case
(the case's leader in charge, Case.leader_id: one truth, set here or on the case form), and
its members, people of the case's unit or above, leaders or staff. The group, and only it,
records its visits to the complainant (带案下访) as visits of kind leader_visit: this
context answers fieldwork's question through the leader_group_member hook."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from server.domain.accounts import scope
from server.domain.accounts.roles import OFFICE_ROLES
from server.domain.audit import audit, timeline
from server.domain.cases import hooks, leaders, lifecycle
from server.domain.core.errors import Invalid
from server.domain.core.uow import command
from server.domain.core.vocab import LEADER_VISIT
from server.domain.fieldwork import visits
from server.domain.remediation import hardcases
from server.extensions import db
from server.models import Case, GroupMember, Unit, User
from server.models.base import utcnow
from server.models.hardcase import GROUP_ROLES

EVENT = "leader_group_set"
MEMBERS_MAX = 30


@hooks.leader_group_member.register
def is_member(user: User, case: Case) -> bool:
    """The case's lead (its leader in charge) or one of the group's members."""
    if case.leader_id is not None and case.leader_id == user.id:
        return True
    return bool(db.session.scalar(sa.select(sa.exists().where(
        GroupMember.case_id == case.id, GroupMember.user_id == user.id))))


def _name(user: User) -> str:
    return user.display_name or user.username


def _members(case: Case, user_ids: list[str]) -> list[User]:
    """Active people of the case's unit or a unit above it, in the order given; anyone
    else (or no such id) is refused alike."""
    if not user_ids:
        return []
    above = scope.unit_and_above(case.unit_id)
    found = {u.id: u for u in db.session.scalars(sa.select(User).where(
        User.id.in_(user_ids), User.active, User.units.any(Unit.id.in_(above))))}
    outside = [i for i in user_ids if i not in found]
    if outside:
        raise Invalid("group.member_out_of_scope", "Every member must work in the case's "
                      "unit or a unit above it.",
                      errors={"members": ["Not a person of this case's unit or above."]},
                      extra={"user_ids": outside})
    return [found[i] for i in user_ids]


def _split(members: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """The lead's id and the others' ids (once each, in the order given)."""
    if len(members) > MEMBERS_MAX:
        raise Invalid("group.too_large", f"A group has at most {MEMBERS_MAX} people.",
                      errors={"members": [f"At most {MEMBERS_MAX}."]})
    bad = [m.get("role") for m in members if m.get("role") not in GROUP_ROLES]
    if bad:
        raise Invalid("group.bad_role", "A member is the lead or a member.",
                      errors={"members": ["role: lead or member."]})
    leads = [m["user_id"] for m in members if m["role"] == "lead"]
    if len(set(leads)) != 1:
        raise Invalid("group.lead_required", "A group has one lead, a leader who may hold "
                      "the case.", errors={"members": ["Exactly one lead."]})
    lead = leads[0]
    others = [m["user_id"] for m in members if m["role"] == "member" and m["user_id"] != lead]
    return lead, list(dict.fromkeys(others))


def _member_ids(case_id: str) -> list[str]:
    return list(db.session.scalars(sa.select(GroupMember.user_id).where(
        GroupMember.case_id == case_id).order_by(GroupMember.added_at, GroupMember.user_id)))


@command
def put_group(user: User, case_id: str, members: list[dict[str, Any]]) -> bool:
    """Set a hard, open case's group (the office of its unit or above): the lead becomes
    the case's leader in charge; members not listed leave. Answers whether it changed
    (the same group again, a retry, writes nothing)."""
    case = hardcases.office_case(user, case_id)
    lifecycle.require_open(case, "a leader group")
    hardcases.require_hard(case, "a leader group")
    lead_id, other_ids = _split(members)
    lead = leaders.check_leader(case.unit_id, lead_id)  # roles.may_hold: the one rule
    people = _members(case, other_ids)
    before = _member_ids(case.id)
    if case.leader_id == lead.id and set(before) == set(other_ids):
        return False
    now = utcnow()
    previous = case.leader_user if case.leader_id and case.leader_id != lead.id else None
    if case.leader_id != lead.id:
        case.leader_id = lead.id
        case.updated_at = now
    leaving = [i for i in before if i not in set(other_ids)]
    if leaving:
        db.session.execute(sa.delete(GroupMember).where(
            GroupMember.case_id == case.id, GroupMember.user_id.in_(leaving)))
    for person in people:
        if person.id not in before:
            db.session.add(GroupMember(case_id=case.id, user_id=person.id, added_by=user.id,
                                       added_at=now))
    db.session.flush()
    data = {"lead": {"id": lead.id, "name": _name(lead)},
            "members": [{"id": p.id, "name": _name(p)} for p in people],
            **({"previous_lead": {"id": previous.id, "name": _name(previous)}}
               if previous else {})}
    timeline.append(case, EVENT, actor_id=user.id, at=now, data=data)
    audit.append("case.leader_group_set", "case", case.id, actor_id=user.id, data=data)
    return True


def get_group(user: User, case_id: str) -> dict[str, Any]:
    """The group as the case page shows it, and what this user may do with it."""
    case = scope.get_case(user, case_id)
    ids = _member_ids(case.id)
    people = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))} \
        if ids else {}
    lead = case.leader_user
    members = [{"id": i, "name": _name(people[i]), "role": "member",
                "user_role": people[i].role} for i in ids if i in people and i != case.leader_id]
    return {
        "case_id": case.id,
        "lead": {"id": lead.id, "name": _name(lead), "role": "lead", "user_role": lead.role}
        if lead else None,
        "members": members, "size": (1 if lead else 0) + len(members),
        "may_edit": user.role in OFFICE_ROLES and "lead" in lifecycle.relations(user, case)
        and scope.case_is_open(case),
        "may_record_visit": scope.case_is_open(case)
        and visits.may_record(user, case, LEADER_VISIT),
    }
