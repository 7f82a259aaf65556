"""Schemas of the closure checklist and flag acknowledgements."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.schemas import Text, _not_blank, _text


class ClosureRuleSchema(Schema):
    code = Text()
    title = fields.Dict(metadata={"description": "{zh, en}"})
    met = fields.Boolean()
    why = fields.Dict(metadata={"description": "{zh, en}: why the rule is met or not."})
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


class PublicQuerySchema(Schema):
    public = fields.Boolean(load_default=False, metadata={
        "description": "1: the published version (办结公示), without personal data or GPS."})


class BatchOnlySchema(Schema):
    case = fields.List(_text(36), required=True, validate=validate.Length(min=1, max=50),
                       metadata={"description": "A closed case's id; repeat for each."})


class BatchQuerySchema(BatchOnlySchema, PublicQuerySchema):
    pass


class SealSummarySchema(Schema):
    id = Text()
    number = fields.Integer()
    sha256 = Text()
    sealed_at = fields.DateTime()


class CurrentSealSchema(SealSummarySchema):
    published_at = fields.DateTime(allow_none=True)
    sealed_by = fields.Dict()
    manifest = fields.Dict(metadata={"description": "Exactly what was hashed (canonical "
                                                    "JSON: sorted keys, no spaces)."})


class SealViewSchema(Schema):
    current = fields.Nested(CurrentSealSchema, allow_none=True, metadata={
        "description": "The seal of the case's present closure; null while reopened."})
    seals = fields.List(fields.Nested(SealSummarySchema))
