"""Schemas of look-back campaigns (回头看): selection, tasks, re-checks, rectification plans
and the progress table (annex 2)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.fields import Aware, Text, UnitRefSchema, UUIDStr, _text
from server.domain.core import vocab
from server.models.campaign import TASK_STATES


class CampaignInSchema(Schema):
    title = Text(validate=validate.Length(max=200), metadata={
        "description": "Required to start the campaign (422 `campaign.title_missing`); "
                       "a preview needs none."})
    from_ = fields.Date(required=True, data_key="from",
                        metadata={"description": "Closed cases RECEIVED on or after this "
                                                 "local date."})
    to = fields.Date(required=True, metadata={"description": "…and on or before this one "
                                                             "(at most 5 years after `from`)."})
    channel = Text(validate=validate.OneOf(vocab.CHANNELS), allow_none=True)
    category = Text(validate=validate.OneOf(vocab.CATEGORIES), allow_none=True)
    unit_id = Text(allow_none=True, validate=validate.Length(max=36),
                   metadata={"description": "The handling unit (and the units below it)."})
    check_unit_id = Text(allow_none=True, validate=validate.Length(max=36),
                         metadata={"description": "A cross-check (交叉检查): every task goes "
                                                  "to this unit instead of the handling one."})
    preview = fields.Boolean(load_default=False,
                             metadata={"description": "Count only: 200 {count, "
                                                      "skipped_held}, nothing written."})


class CampaignCountsSchema(Schema):
    total = fields.Integer()
    done = fields.Integer()
    rebound = fields.Integer()
    new_problems = fields.Integer()


class CampaignSchema(Schema):
    id = Text()
    title = Text()
    from_ = Text(data_key="from", attribute="from")
    to = Text()
    filters = fields.Dict()
    organiser_unit = fields.Nested(UnitRefSchema)
    check_unit = fields.Nested(UnitRefSchema, allow_none=True)
    status = Text()
    created_at = fields.DateTime()
    counts = fields.Nested(CampaignCountsSchema)
    skipped_held = fields.Integer(metadata={"description": "Chosen cases left out: held by "
                                                           "another campaign's pending task."})
    organiser = fields.Boolean(metadata={"description": "You see the whole campaign (its "
                                                        "organiser's scope)."})


class PreviewSchema(Schema):
    count = fields.Integer()
    skipped_held = fields.Integer()


class CampaignListSchema(Schema):
    items = fields.List(fields.Nested(CampaignSchema))


class WeekQuerySchema(Schema):
    week = fields.Date(load_default=None, metadata={"description": "Any day of the week "
                                                                  "(Monday start, local)."})


class ProgressRateSchema(Schema):
    numerator = fields.Integer()
    denominator = fields.Integer()
    value = fields.Float(allow_none=True)


class ProgressRowSchema(Schema):
    unit_id = Text(allow_none=True)
    unit = Text()
    total = fields.Integer(metadata={"description": "信访总数: the unit's tasks."})
    week_done = fields.Integer(metadata={"description": "本周核查数"})
    done = fields.Integer(metadata={"description": "累计核查数, to the week's end."})
    rate = fields.Nested(ProgressRateSchema, metadata={"description": "完成率: done / total."})
    week_new = fields.Integer(metadata={"description": "新发现问题数 (rebound or new "
                                                       "problem), this week."})
    new_total = fields.Integer(metadata={"description": "累计新发现问题数"})
    note = Text()


class WeekSchema(Schema):
    from_ = Text(data_key="from", attribute="from")
    to = Text()


class CampaignRefSchema(Schema):
    id = Text()
    title = Text()


class ProgressSchema(Schema):
    campaign = fields.Nested(CampaignRefSchema)
    week = fields.Nested(WeekSchema)
    weeks = fields.List(Text())
    rows = fields.List(fields.Nested(ProgressRowSchema))
    totals = fields.Nested(ProgressRowSchema)


class TaskQuerySchema(Schema):
    status = Text(load_default=None, validate=validate.OneOf(TASK_STATES))
    unit_id = Text(load_default=None, validate=validate.Length(max=36))


class MyTaskQuerySchema(Schema):
    status = Text(load_default=None, validate=validate.OneOf(TASK_STATES))


class TaskCaseSchema(Schema):
    id = Text()
    subject = Text()
    address = Text()
    category = Text()
    channel = Text()
    lat = fields.Float(allow_none=True)
    lon = fields.Float(allow_none=True)
    result = Text(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    external_ref = Text(allow_none=True)
    status = Text()
    unit = fields.Nested(UnitRefSchema)


class TaskSchema(Schema):
    id = Text()
    campaign_id = Text()
    campaign_title = Text()
    case = fields.Nested(TaskCaseSchema, metadata={"description": "What the re-check needs; "
                                                   "never the complainant."})
    check_unit = fields.Nested(UnitRefSchema)
    cross_check = fields.Boolean()
    status = Text()
    rebound = fields.Boolean(allow_none=True)
    new_problem = Text(allow_none=True)
    findings = Text(allow_none=True)
    checked_at = fields.DateTime(allow_none=True)
    visit_id = Text(allow_none=True)
    plan_id = Text(allow_none=True)


class TaskListSchema(Schema):
    items = fields.List(fields.Nested(TaskSchema))


class RectificationPlanInSchema(Schema):
    problem_type = _text(200, allow_none=True)
    original_problem = _text(4000, allow_none=True)
    new_problem = _text(4000, allow_none=True)
    measures = _text(4000, allow_none=True)
    target = _text(4000, allow_none=True)
    implementer = _text(300, allow_none=True)
    acceptance_unit_id = Text(allow_none=True, validate=validate.Length(max=36))
    due_on = fields.Date(allow_none=True)


class RecheckInSchema(Schema):
    task_id = Text(validate=validate.Length(max=36))
    case_id = Text(validate=validate.Length(max=36))
    client_id = UUIDStr(required=True)
    rebound = fields.Boolean(required=True, metadata={"description": "反弹"})
    new_problem = _text(4000, allow_none=True, metadata={"description": "新发现问题"})
    findings = _text(20000, allow_none=True)
    lat = fields.Float(allow_none=True, validate=validate.Range(-90, 90))
    lon = fields.Float(allow_none=True, validate=validate.Range(-180, 180))
    accuracy_m = fields.Float(allow_none=True, validate=validate.Range(min=0))
    checked_at = Aware(allow_none=True, metadata={
        "description": "The phone's clock when the re-check was done (judged as a queued "
                       "action's time: never after receipt, never before the last contact)."})
    sent_at = Aware(allow_none=True, metadata={"description": "The phone's clock when sending."})
    plan = fields.Nested(RectificationPlanInSchema, allow_none=True, metadata={
        "description": "Required for a rebound or a new problem (整改方案, annex 1)."})


class RectificationPlanSchema(Schema):
    id = Text()
    case_id = Text()
    task_id = Text(allow_none=True)
    problem_type = Text()
    original_problem = Text()
    new_problem = Text(allow_none=True)
    measures = Text()
    target = Text()
    implementer = Text()
    acceptance_unit = fields.Nested(UnitRefSchema)
    due_on = fields.Date()
    status = Text()
    accepted_at = fields.DateTime(allow_none=True)
    accepted_by = Text(allow_none=True, metadata={"description": "The accepting user's id."})
    accepted_by_name = Text(allow_none=True)
    acceptance_note = Text(allow_none=True)
    may_accept = fields.Boolean()


class RectificationPlanListSchema(Schema):
    items = fields.List(fields.Nested(RectificationPlanSchema))


class CaseStateSchema(Schema):
    id = Text()
    status = Text()


class RecheckSchema(Schema):
    task = fields.Nested(TaskSchema)
    visit_id = Text(allow_none=True, metadata={"description": "The re-check's visit: file "
                                               "its photos on it (evidence, visit_id)."})
    plan = fields.Nested(RectificationPlanSchema, allow_none=True)
    case = fields.Nested(CaseStateSchema)


class AcceptInSchema(Schema):
    note = _text(4000, allow_none=True)
