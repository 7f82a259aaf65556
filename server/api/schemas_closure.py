"""Schemas of the closure checklist and flag acknowledgements."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.schemas import Text, _not_blank, _text


class ClosureRuleSchema(Schema):
    code = Text()
    title = fields.Dict(metadata={"description": "{zh, en}"})
    met = fields.Boolean()
    why = Text()
    refs = fields.List(fields.Dict(), metadata={
        "description": "What satisfies the rule, or what keeps it unmet (evidence, "
                       "measurements, revisits by id)."})


class ChecklistSchema(Schema):
    ready = fields.Boolean(metadata={"description": "Every rule that applies is met."})
    rules = fields.List(fields.Nested(ClosureRuleSchema))
    rules_version = Text()


class AcknowledgeSchema(Schema):
    code = _text(60, required=True)
    note = Text(required=True, validate=[validate.Length(max=2000), _not_blank])


class AcknowledgedSchema(Schema):
    evidence_id = Text()
    code = Text()
    note = Text()
