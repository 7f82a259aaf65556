"""Who may do what, by role: the one place the role sets live."""

from __future__ import annotations

from collections.abc import Collection

from server.domain.accounts import scope
from server.domain.core.errors import Forbidden
from server.models import User

# Work in the field: record visits, file photos and complete their upload.
FIELD_ROLES = ("inspector", "reviewer", "admin")
# The office: create and edit cases.
OFFICE_ROLES = ("reviewer", "admin")
# Who may change the rules: deadline rules, the working-day calendar, webhooks. Those
# that are district-wide (require_district_admin) only an admin of the top unit changes.
ADMIN_ROLES = ("admin",)
# Leaders (领导) who hold key and repeat cases (包案) and write instructions (批示) on them.
# A leader reads the cases of their units (scope), the board, list and map, and writes
# instructions on cases in scope; being in no other set, a leader does not edit cases,
# take lifecycle actions (approve...), reveal complainants, or read revisit answers.
LEADER_ROLES = ("leader",)
# Who records a leader's instruction: the leader (their own) and the office (a leader's
# written or spoken instruction, on their behalf).
INSTRUCTION_ROLES = ("leader", "reviewer", "admin")
# Who may see a complainant's contact (to call them back), with a logged reason.
REVEAL_ROLES = ("revisit", "reviewer", "admin")
# Who reads the rates, counts and ledgers (报表): the office and leaders, each over the
# cases they see. Inspectors and the revisit team do not: the figures judge units' work.
REPORT_ROLES = ("reviewer", "admin", "leader")
# Who records revisits (calls, door-to-door surveys) and files their photos and recordings.
REVISIT_ROLES = ("revisit", "reviewer", "admin")
# Who reads residents' answers to revisits (questionnaire answers, revisit notes) and
# hears their recordings: the office and the revisit team. Not the inspectors who handle
# the cases: the answers judge their work and name the neighbours (need to know).
ANSWER_ROLES = ("revisit", "reviewer", "admin")
# Who records telling the complainant the result (答复/反馈): the office and the revisit
# team, who call complainants back.
FEEDBACK_ROLES = ("revisit", "reviewer", "admin")
# Who files evidence: the field, and revisit teams (for their revisits only).
EVIDENCE_ROLES = ("inspector", "revisit", "reviewer", "admin")


def may_hold(leader: User | None, unit_id: str) -> bool:
    """Whether `leader` may be in charge of (hold, 包案) a case of this unit: an active
    leader of the unit or of a unit above it (a district leader holds a street's case)."""
    return bool(leader is not None and leader.active and leader.role in LEADER_ROLES
                and {u.id for u in leader.units} & scope.unit_and_above(unit_id))


def require_role(user: User, roles: Collection[str], code: str, message: str) -> None:
    if user.role not in roles:
        raise Forbidden(code, message)


DISTRICT_ONLY = ("Deadline rules, questionnaires and the working-day calendar are "
                 "district-wide settings: only the district's admin may change them.")


def require_district_admin(user: User, code: str, message: str) -> None:
    """Deadline rules, questionnaires and calendar years apply to every unit, so only an
    admin whose units cover every unit (the district's) may change them; a street's admin
    is refused with `admin.district_only`. Other roles get `code`."""
    require_role(user, ADMIN_ROLES, code, message)
    if not scope.sees_everything(user):
        raise Forbidden("admin.district_only", DISTRICT_ONLY)


def reads_answers(user: User) -> bool:
    """Whether `user` may read revisit answers and notes, and download revisit recordings:
    every payload and download of them asks here."""
    return user.role in ANSWER_ROLES


def require_answers(user: User) -> None:
    if not reads_answers(user):
        raise Forbidden("revisit.answers_forbidden", "Residents' answers and recordings are "
                        "for the office and the revisit team.")


# What of a timeline event's data is a resident's answer (a dissatisfied revisit's event
# carries the dissatisfied answers and the revisit's notes).
_ANSWER_KEYS = ("dissatisfied", "answers", "notes")


def hide_answers(user: User, data: dict) -> dict:
    """`data` as `user` may read it: without residents' answers and notes when they may
    not read those."""
    if reads_answers(user) or not any(k in data for k in _ANSWER_KEYS):
        return data
    return {**{k: v for k, v in data.items() if k not in _ANSWER_KEYS}, "answers_hidden": True}
