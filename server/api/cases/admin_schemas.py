"""Schemas of the admin's desk: deadline rules, the calendar years, webhooks."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, pre_load, validate

from server.api.fields import Text, UnitRefSchema, UUIDStr, _text


class MilestoneRuleSchema(Schema):
    name = Text(required=True)
    day = fields.Integer()
    hours = fields.Integer()
    until = Text(validate=validate.OneOf(("dispatched",)))


class ColourRuleSchema(Schema):
    colour = Text(required=True)
    from_day = fields.Integer()
    from_hour = fields.Integer()


class DeadlineRuleInSchema(Schema):
    code = _text(40, required=True)
    title = fields.Dict(keys=Text(), values=Text(), load_default=dict)
    source = _text(300, load_default="")
    channels = fields.List(Text(), required=True)
    key = fields.Boolean(allow_none=True, load_default=None)
    priority = fields.Integer(load_default=100)
    counting = Text(required=True)
    due = fields.Integer(required=True)
    milestones = fields.List(fields.Nested(MilestoneRuleSchema), load_default=list)
    colours = fields.List(fields.Nested(ColourRuleSchema), required=True)
    restart_on_transfer = fields.Boolean(load_default=False)
    rest_day_rollover = fields.Boolean(load_default=False, metadata={
        "description": "Calendar days only: a due date whose last day is a rest day moves "
                       "to the end of the next working day (Civil Code art. 203)."})
    max_extension = fields.Integer(allow_none=True, load_default=None)
    review_days = fields.Integer(allow_none=True, metadata={
        "description": "Days (of the rule's counting) a review takes when a dissatisfied "
                       "revisit sends a handled case back; 2 when not given."})


class DeadlineRuleSchema(Schema):
    code = Text()
    version = fields.Integer()
    created_at = fields.DateTime()
    body = fields.Dict()


class DeadlineRuleListSchema(Schema):
    items = fields.List(fields.Nested(DeadlineRuleSchema))


class RuleSavedSchema(Schema):
    rule = fields.Nested(DeadlineRuleSchema, allow_none=True)
    impact = fields.Dict(metadata={"description": "What the new version would do to open "
                                   "cases under this rule (they keep their version)."})


class DryRunSchema(Schema):
    dry_run = fields.Boolean(load_default=False)


class CalendarDaySchema(Schema):
    date = Text(required=True)
    kind = Text(required=True)
    name = Text(load_default="")


class CalendarInSchema(Schema):
    # A year's holidays and adjusted workdays are a few dozen; a year has 366 days.
    days = fields.List(fields.Dict(), required=True, validate=validate.Length(max=366))
    source = _text(300, load_default="")


class CalendarSchema(Schema):
    year = fields.Integer()
    source = Text()
    days = fields.List(fields.Nested(CalendarDaySchema))


class CalendarYearsSchema(Schema):
    items = fields.List(fields.Dict())
    warning = Text(allow_none=True)
    missing_year = fields.Integer(allow_none=True)


class WebhookInSchema(Schema):
    url = _text(500, required=True, metadata={
        "description": "https:// (http:// outside production), a public host, no user:pass@"})
    unit_id = UUIDStr(load_default=None, allow_none=True, metadata={
        "description": "One of the admin's units (and below); default: the admin's unit."})

    @pre_load
    def no_secret(self, data: Any, **_: Any) -> Any:
        if isinstance(data, dict) and "secret" in data:
            raise ValidationError("The server makes the secret and shows it once; do not "
                                  "send one.", "secret")
        return data


class WebhookItemSchema(Schema):
    id = Text()
    url = Text()
    unit = fields.Nested(UnitRefSchema)
    active = fields.Boolean()
    created_at = fields.DateTime()


class WebhookSchema(WebhookItemSchema):
    secret = Text(metadata={"description": "Shown once, when the webhook is added."})


class WebhookListSchema(Schema):
    items = fields.List(fields.Nested(WebhookItemSchema))
