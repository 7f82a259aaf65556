"""Leaders (领导): who may be picked, their instructions (批示) on a case, and telling the
complainant the result (答复/反馈)."""

from __future__ import annotations

from datetime import datetime

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.api.blueprint import Blueprint
from server.api.fields import Aware, Text, _text
from server.api.security import current_user, load_user
from server.domain.accounts import scope
from server.domain.cases import leaders
from server.domain.core import vocab

blp = Blueprint("leaders", __name__, url_prefix="/api",
                description="Leaders (领导) and the cases they hold (包案), their "
                            "instructions (批示), and feedback to the complainant (答复).")
blp.before_request(load_user)


class LeadersQuerySchema(Schema):
    unit = Text(metadata={"description": "Only leaders who may hold a case of this unit "
                                         "(theirs, or a unit above it)."})


class LeaderSchema(Schema):
    id = Text()
    username = Text()
    display_name = Text()
    unit_ids = fields.List(Text())


class LeaderListSchema(Schema):
    items = fields.List(fields.Nested(LeaderSchema))


class InstructionInSchema(Schema):
    text = _text(4000, required=True)
    leader_id = Text(load_default=None, metadata={
        "description": "The office, recording on a leader's behalf: the leader who gave "
                       "it (required then). A leader writes their own (omit, or their id)."})
    given_at = Aware(load_default=None, metadata={
        "description": "When it was given (default now): not in the future, not before "
                       "the case was received."})


class InstructionSchema(Schema):
    leader_id = Text()
    leader_name = Text()
    text = Text()
    given_at = fields.DateTime()
    recorded_by = Text()
    at = fields.DateTime(metadata={"description": "When it was recorded."})


class InstructionListSchema(Schema):
    items = fields.List(fields.Nested(InstructionSchema), metadata={
        "description": "Newest first."})


class FeedbackInSchema(Schema):
    method = Text(required=True, validate=validate.OneOf(vocab.FEEDBACK_METHODS))
    told_at = Aware(required=True, metadata={
        "description": "When the complainant was told: not in the future, not before the "
                       "case was received."})
    note = _text(2000, load_default="")


class FeedbackSchema(Schema):
    method = Text()
    told_at = fields.DateTime()
    note = Text()
    recorded_by = Text()
    at = fields.DateTime(metadata={"description": "When it was recorded."})


class FeedbackListSchema(Schema):
    items = fields.List(fields.Nested(FeedbackSchema), metadata={"description": "Newest first."})


def _dated(item: dict, key: str) -> dict:
    """Times kept as ISO text in the timeline's data, as datetimes for the schema."""
    return {**item, key: datetime.fromisoformat(item[key])}


@blp.route("/leaders")
@blp.arguments(LeadersQuerySchema, location="query")
@blp.response(200, LeaderListSchema)
def list_leaders(args: dict):  # type: ignore[no-untyped-def]
    """Active leaders the user may pick (of their units, below and above them), for the
    case form's picker and the board's leader filter."""
    found = leaders.list_leaders(current_user(), args.get("unit"))
    return {"items": [{"id": u.id, "username": u.username,
                       "display_name": u.display_name or u.username,
                       "unit_ids": [x.id for x in u.units]} for u in found]}


@blp.route("/cases/<case_id>/instructions")
class Instructions(MethodView):
    @blp.response(200, InstructionListSchema)
    def get(self, case_id: str):  # type: ignore[no-untyped-def]
        """The case's leaders' instructions (领导批示), newest first."""
        case = scope.get_case(current_user(), case_id)
        return {"items": [_dated(i, "given_at") for i in leaders.instructions(case.id)]}

    @blp.arguments(InstructionInSchema, examples={"office": {"value": {
        "text": "请尽快核实，三日内反馈。", "leader_id": "<a leader's id>",
        "given_at": "2026-05-16T09:00:00+08:00"}}})
    @blp.response(201, InstructionSchema)
    def post(self, data: dict, case_id: str):  # type: ignore[no-untyped-def]
        """Record a leader's instruction: a leader's own, or the office's record of one given
        in writing or by word (leader_id required). Open cases only (409 case.closed)."""
        user = current_user()
        out = leaders.add_instruction(user, case_id, data["text"],
                                      leader_id=data["leader_id"], given_at=data["given_at"])
        return _dated(out, "given_at")


@blp.route("/cases/<case_id>/feedback")
class Feedback(MethodView):
    @blp.response(200, FeedbackListSchema)
    def get(self, case_id: str):  # type: ignore[no-untyped-def]
        """How and when the complainant was told the result, newest first."""
        case = scope.get_case(current_user(), case_id)
        return {"items": [_dated(i, "told_at") for i in leaders.feedback(case.id)]}

    @blp.arguments(FeedbackInSchema)
    @blp.response(201, FeedbackSchema)
    def post(self, data: dict, case_id: str):  # type: ignore[no-untyped-def]
        """Record telling the complainant the result (答复/反馈): how and when. The office and
        the revisit team; open cases only (409 case.closed)."""
        out = leaders.record_feedback(current_user(), case_id, data["method"],
                                      data["told_at"], data["note"])
        return _dated(out, "told_at")
