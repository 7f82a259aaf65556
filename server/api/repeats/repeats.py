"""Repeat complaints over HTTP: the list, a subject's history and its leader, a case's
link and the office's decision on it."""

from __future__ import annotations

from flask.views import MethodView

from server.api.blueprint import Blueprint
from server.api.repeats.schemas import (
    CaseRepeatSchema,
    LeaderInSchema,
    SubjectDetailSchema,
    SubjectListSchema,
    SubjectQuerySchema,
)
from server.api.security import current_user, load_user
from server.domain.repeats import links, views

blp = Blueprint("repeats", __name__, url_prefix="/api",
                description="Repeat complaints (反复投诉): complaints linked by place, category "
                            "and time or by the complainant's number; the subjects complained "
                            "about 3 or more times, each with a leader in charge (包案领导).")
blp.before_request(load_user)


@blp.route("/repeats")
@blp.arguments(SubjectQuerySchema, location="query")
@blp.response(200, SubjectListSchema)
def repeat_list(args: dict):  # type: ignore[no-untyped-def]
    """The repeat-complaint list: listed subjects with a case you may see, the latest
    complaint first. Of other units' cases, a count only."""
    return {"items": views.list_subjects(current_user(), listed=args["listed"])}


@blp.route("/repeats/<subject_id>")
@blp.response(200, SubjectDetailSchema)
def repeat_subject(subject_id: str):  # type: ignore[no-untyped-def]
    """A subject's history: its linked cases you may see (with how each was linked and the
    link's state); other units' cases as a count only."""
    return views.subject_detail(current_user(), subject_id)


@blp.route("/repeats/<subject_id>/leader", methods=["PUT"])
@blp.arguments(LeaderInSchema)
@blp.response(200, SubjectDetailSchema)
def repeat_leader(data: dict, subject_id: str):  # type: ignore[no-untyped-def]
    """Put a leader in charge (包案领导; office roles; audited). 422 `repeat.not_a_leader`
    unless the user is active with the leader role."""
    user = current_user()
    leader_id = str(data["leader_id"]) if data["leader_id"] is not None else None
    links.set_leader(user, subject_id, leader_id)
    return views.subject_detail(user, subject_id)


@blp.route("/cases/<case_id>/repeat")
class CaseRepeat(MethodView):
    @blp.response(200, CaseRepeatSchema)
    def get(self, case_id: str):  # type: ignore[no-untyped-def]
        """The case's repeat link: its subject's summary, whether it is listed, the count,
        the leader, and whether you may decide on the link."""
        return views.case_repeat(current_user(), case_id)


@blp.route("/cases/<case_id>/repeat/confirm", methods=["POST"])
@blp.response(200, CaseRepeatSchema)
def confirm_repeat(case_id: str):  # type: ignore[no-untyped-def]
    """Confirm the link (office roles; idempotent; audited `repeat.link_confirmed`)."""
    user = current_user()
    links.confirm(user, case_id)
    return views.case_repeat(user, case_id)


@blp.route("/cases/<case_id>/repeat/undo", methods=["POST"])
@blp.response(200, CaseRepeatSchema)
def undo_repeat(case_id: str):  # type: ignore[no-untyped-def]
    """Not a repeat (office roles; idempotent; audited `repeat.link_undone`): the case
    leaves the subject's count and is never linked again automatically."""
    user = current_user()
    links.undo(user, case_id)
    return views.case_repeat(user, case_id)
