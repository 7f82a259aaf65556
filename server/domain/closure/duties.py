"""Separation of duties (职责分离): who may approve a case. The one rule, in one place:
the approval gate refuses with it, and the case's offered actions (GET /api/cases/<id>,
/actions) leave approve out for the same people, saying why."""

from __future__ import annotations

import sqlalchemy as sa

from server.domain.cases import hooks
from server.domain.closure import revisit_review
from server.domain.core.errors import Forbidden
from server.extensions import db
from server.models import Case, Evidence, Respondent, Revisit, User, Visit

OWN_CASE_ZH = ("你处理过此案件（现场检查、上传照片或回访），不能验收。"
               "请由未参与办理的人员验收。")
OWN_CASE_EN = ("You recorded a visit, a photo or a revisit on this case: another reviewer "
               "must approve it.")
OWN_DECISION_ZH = "您记录了对不满意回访的复核决定，须由其他人员验收通过。"
OWN_DECISION_EN = ("You recorded the review decision on the dissatisfied revisit: someone "
                   "else must approve the case.")


def handled_by(user: User, case: Case) -> bool:
    """Whether the user recorded anything the approval judges: a visit, evidence (a photo,
    a recording), a revisit or one of its respondents. A reviewer who heard the
    complainant say "satisfied" is as much a party as one who took the photos."""
    return bool(db.session.scalar(sa.select(sa.or_(
        sa.exists().where(Visit.case_id == case.id, Visit.created_by == user.id),
        sa.exists().where(Evidence.case_id == case.id, Evidence.uploaded_by == user.id),
        sa.exists().where(Revisit.case_id == case.id, Revisit.created_by == user.id),
        sa.exists().where(Respondent.revisit_id == Revisit.id, Revisit.case_id == case.id,
                          Respondent.created_by == user.id)))))


@hooks.approval_refusal.register
def approval_refusal(user: User, case: Case) -> Forbidden | None:
    """Why this user may never approve this case, or None. Read-only (the offered actions
    ask it on every read of a case)."""
    if handled_by(user, case):
        return Forbidden("closure.own_case", OWN_CASE_EN,
                         extra={"message": {"zh": OWN_CASE_ZH, "en": OWN_CASE_EN}})
    if revisit_review.decided_by(case) == user.id:  # the decision and the approval apart
        return Forbidden("closure.own_decision", OWN_DECISION_EN,
                         extra={"message": {"zh": OWN_DECISION_ZH, "en": OWN_DECISION_EN}})
    return None
