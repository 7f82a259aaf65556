"""Hard cases over HTTP (seed 000): the list, a case's hard-case facts and the office's
difficult flag, its remediation plan (整治方案) and its leader group (包案小组)."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from server.api.blueprint import Blueprint
from server.api.fields import MAX_PAGE, Text, _text
from server.api.security import current_user, load_user
from server.domain.remediation import groups, hardcases, remediation_plans

blp = Blueprint("hardcases", __name__, url_prefix="/api",
                description="Hard cases (重复信访、信访积案、重点疑难): their remediation plans "
                            "(整治方案) and leader groups (包案小组).")
blp.before_request(load_user)


class HardPersonSchema(Schema):
    id = Text(allow_none=True)
    name = Text()


class HardQuerySchema(Schema):
    kind = Text(validate=validate.OneOf(hardcases.KINDS), metadata={
        "description": "repeat: linked to a listed repeat subject; backlog: open and due "
                       "more than BACKLOG_OVERDUE_DAYS ago; difficult: flagged by the office."})
    has_plan = fields.Boolean(metadata={"description": "With a remediation plan, or without."})
    page = fields.Integer(load_default=1, validate=validate.Range(1, MAX_PAGE))
    per_page = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class HardPlanBriefSchema(Schema):
    status = Text()
    deadline = fields.Date()


class HardUnitSchema(Schema):
    id = Text()
    name = Text()


class HardCaseSchema(Schema):
    id = Text()
    subject = Text()
    address = Text()
    status = Text()
    unit = fields.Nested(HardUnitSchema)
    received_at = fields.DateTime()
    due_at = fields.DateTime(allow_none=True)
    kinds = fields.List(Text(), metadata={"description": "Why it is hard: repeat, backlog, "
                                                         "difficult."})
    hard_reason = Text(allow_none=True, metadata={"description": "The office's reason, for "
                                                                 "a difficult case."})
    leader = fields.Nested(HardPersonSchema, allow_none=True)
    plan = fields.Nested(HardPlanBriefSchema, allow_none=True)
    group_size = fields.Integer(metadata={"description": "The lead and the members."})


class HardListSchema(Schema):
    items = fields.List(fields.Nested(HardCaseSchema))
    total = fields.Integer(metadata={"description": "Exact up to 1,000; beyond that 1000 "
                                                    "with total_exact false."})
    total_exact = fields.Boolean()
    page = fields.Integer()
    per_page = fields.Integer()


class HardFlagSchema(Schema):
    reason = Text()
    at = fields.DateTime()
    by = fields.Nested(HardPersonSchema)


class HardnessSchema(Schema):
    case_id = Text()
    hard = fields.Boolean()
    kinds = fields.List(Text())
    flag = fields.Nested(HardFlagSchema, allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    backlog_days = fields.Integer(metadata={"description": "BACKLOG_OVERDUE_DAYS."})
    may_decide = fields.Boolean(metadata={"description": "Whether you may flag it and set "
                                                         "its plan and group."})


class FlagInSchema(Schema):
    flagged = fields.Boolean(required=True, metadata={
        "description": "true: flag the case difficult (重点疑难); false: clear the flag."})
    reason = _text(hardcases.REASON_MAX, load_default="", metadata={
        "description": "Why (required both ways)."})


class RemediationPlanInSchema(Schema):
    approach = _text(remediation_plans.TEXT_MAX, load_default="", metadata={
        "description": "解决办法 (required)."})
    responsible_ids = fields.List(Text(), load_default=list, metadata={
        "description": "责任人员 who are users: of the case's unit, a unit above or below it."})
    responsible_text = _text(1000, load_default="", metadata={
        "description": "责任人员 named in words (another bureau's); this or a user required."})
    deadline = fields.Date(load_default=None, metadata={
        "description": "完成时限, a local date: today or later when set or changed."})
    status = Text(load_default="open", validate=validate.OneOf(("open", "done")))
    closing_note = _text(remediation_plans.TEXT_MAX, load_default="", metadata={
        "description": "How it was carried out: required when done."})
    version = fields.Integer(load_default=None, metadata={
        "description": "The version you read: 409 plan.version_conflict when it moved on."})


class RemediationPlanSchema(Schema):
    id = Text()
    case_id = Text()
    version = fields.Integer()
    approach = Text()
    responsible = fields.List(fields.Nested(HardPersonSchema))
    responsible_text = Text()
    deadline = fields.Date()
    status = Text()
    closing_note = Text()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    updated_by = fields.Nested(HardPersonSchema)


class RemediationPlanVersionSchema(Schema):
    version = fields.Integer()
    approach = Text()
    responsible = fields.List(fields.Nested(HardPersonSchema))
    responsible_text = Text()
    deadline = Text()
    status = Text()
    closing_note = Text()
    at = fields.DateTime()
    by = fields.Nested(HardPersonSchema)


class RemediationPlanAnswerSchema(Schema):
    case_id = Text()
    hard = fields.Boolean()
    plan = fields.Nested(RemediationPlanSchema, allow_none=True)
    history = fields.List(fields.Nested(RemediationPlanVersionSchema), metadata={
        "description": "Every version, newest first (from the timeline)."})
    may_edit = fields.Boolean()


class GroupMemberInSchema(Schema):
    user_id = Text(required=True)
    role = Text(required=True, validate=validate.OneOf(("lead", "member")))


class GroupInSchema(Schema):
    members = fields.List(fields.Nested(GroupMemberInSchema), required=True, metadata={
        "description": "One lead (a leader who may hold the case: becomes its leader in "
                       "charge) and members (people of the case's unit or above)."})


class GroupMemberSchema(Schema):
    id = Text()
    name = Text()
    role = Text(metadata={"description": "lead or member"})
    user_role = Text(metadata={"description": "The person's role (leader, reviewer...)."})


class GroupSchema(Schema):
    case_id = Text()
    lead = fields.Nested(GroupMemberSchema, allow_none=True)
    members = fields.List(fields.Nested(GroupMemberSchema))
    size = fields.Integer()
    may_edit = fields.Boolean()
    may_record_visit = fields.Boolean(metadata={
        "description": "Whether you may record the group's visit to the complainant "
                       "(带案下访: POST /api/cases/<id>/visits with kind leader_visit)."})


@blp.route("/hard-cases")
@blp.arguments(HardQuerySchema, location="query")
@blp.response(200, HardListSchema)
def hard_cases(args: dict):  # type: ignore[no-untyped-def]
    """The hard cases you see, most urgent first: why each is hard, its leader, its plan's
    status and its group's size."""
    items, total = hardcases.list_hard(current_user(), kind=args.get("kind"),
                                       has_plan=args.get("has_plan"), page=args["page"],
                                       per_page=args["per_page"])
    return {"items": items, "total": min(total, hardcases.COUNT_CAP),
            "total_exact": total <= hardcases.COUNT_CAP, "page": args["page"],
            "per_page": args["per_page"]}


@blp.route("/cases/<case_id>/hard-case")
@blp.response(200, HardnessSchema)
def hardness(case_id: str):  # type: ignore[no-untyped-def]
    """Whether the case is hard and why (repeat, backlog, difficult with the office's
    reason)."""
    return hardcases.case_hardness(current_user(), case_id)


@blp.route("/cases/<case_id>/hard-flag", methods=["PUT"])
@blp.arguments(FlagInSchema)
@blp.response(200, HardnessSchema)
def hard_flag(data: dict, case_id: str):  # type: ignore[no-untyped-def]
    """Flag the case difficult (重点疑难), or clear the flag, saying why (the office of its
    unit or above; audited, on the timeline)."""
    user = current_user()
    if data["flagged"]:
        hardcases.flag(user, case_id, data["reason"])
    else:
        hardcases.unflag(user, case_id, data["reason"])
    return hardcases.case_hardness(user, case_id)


@blp.route("/cases/<case_id>/remediation-plan")
class Plan(MethodView):
    @blp.response(200, RemediationPlanAnswerSchema)
    def get(self, case_id: str):  # type: ignore[no-untyped-def]
        """The case's remediation plan (null: none yet) and its versions."""
        return remediation_plans.get_plan(current_user(), case_id)

    @blp.arguments(RemediationPlanInSchema, examples={"plan": {"value": {
        "approach": "约谈经营者，限期安装隔音设施；街道每周夜查一次。",
        "responsible_ids": ["<a user's id>"], "responsible_text": "区城管执法局",
        "deadline": "2027-01-31"}}})
    @blp.response(200, RemediationPlanAnswerSchema)
    @blp.alt_response(201, schema=RemediationPlanAnswerSchema, description="The first version.")
    def put(self, data: dict, case_id: str):  # type: ignore[no-untyped-def]
        """Set the plan of a hard, open case (the office of its unit or above): each change
        is a new version, on the timeline and in the audit log. 422 remediation.not_hard
        for a case that is not hard."""
        user = current_user()
        plan, changed = remediation_plans.put_plan(user, case_id, data)
        answer = remediation_plans.get_plan(user, case_id)
        response = jsonify(RemediationPlanAnswerSchema().dump(answer))
        response.status_code = 201 if changed and plan.version == 1 else 200
        return response


@blp.route("/cases/<case_id>/group")
class Group(MethodView):
    @blp.response(200, GroupSchema)
    def get(self, case_id: str):  # type: ignore[no-untyped-def]
        """The case's leader group: its lead (the case's leader in charge) and members."""
        return groups.get_group(current_user(), case_id)

    @blp.arguments(GroupInSchema)
    @blp.response(200, GroupSchema)
    def put(self, data: dict, case_id: str):  # type: ignore[no-untyped-def]
        """Set the leader group of a hard, open case (the office of its unit or above):
        the lead becomes the case's leader in charge; audited, on the timeline."""
        user = current_user()
        groups.put_group(user, case_id, data["members"])
        return groups.get_group(user, case_id)
