"""Schemas of the closure checklist, flag acknowledgements, seals, closure files, and the
public verification of a photo."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from server.api.fields import FixSchema, Text, _not_blank, _text


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


class PerPageSchema(Schema):
    per_page = fields.Integer(load_default=1, validate=validate.OneOf((1, 2)), metadata={
        "description": "Photos per page: 1 (as the annex), or 2 (half the pages)."})


class BatchOnlySchema(Schema):
    """The cases of a batch: named (`case` repeated), or chosen by closing period
    (`closed_from` and `closed_to`, local days, both included; `unit` narrows it to a unit
    and the units below it)."""

    case = fields.List(_text(36), validate=validate.Length(min=1, max=50),
                       metadata={"description": "A closed case's id; repeat for each."})
    closed_from = fields.Date(metadata={"description": "Closed on or after this day."})
    closed_to = fields.Date(metadata={"description": "Closed on or before this day."})
    unit = _text(36, metadata={"description": "Only this unit's cases (and its units')."})

    @validates_schema
    def _one_way(self, data: dict, **_kwargs: object) -> None:
        period = [k for k in ("closed_from", "closed_to") if k in data]
        if "case" in data and (period or "unit" in data):
            raise ValidationError("Name the cases or a period, not both.", "case")
        if "case" not in data and len(period) < 2:
            missing = [k for k in ("closed_from", "closed_to") if k not in data]
            raise ValidationError({k: ["Required (or name the cases)."] for k in missing})


class BatchQuerySchema(BatchOnlySchema, PublicQuerySchema, PerPageSchema):
    pass


class CaseFileQuerySchema(PublicQuerySchema, PerPageSchema):
    pass


class SealSummarySchema(Schema):
    id = Text()
    number = fields.Integer()
    sha256 = Text()
    sealed_at = fields.DateTime()


class CurrentSealSchema(SealSummarySchema):
    published_at = fields.DateTime(allow_none=True)
    sealed_by = fields.Dict()
    manifest = fields.Dict(allow_none=True, metadata={
        "description": "Exactly what was hashed (canonical JSON: sorted keys, no spaces); "
                       "null when the stored manifest no longer parses (see `altered`)."})


class AlteredSchema(Schema):
    what = Text(metadata={"description": "e.g. `seal 1 case`, `timeline event 3`."})
    field = Text(metadata={"description": "e.g. `case.result`; empty for a whole part."})


class SealViewSchema(Schema):
    current = fields.Nested(CurrentSealSchema, allow_none=True, metadata={
        "description": "The seal of the case's present closure; null while reopened."})
    seals = fields.List(fields.Nested(SealSummarySchema))
    altered = fields.List(fields.Nested(AlteredSchema), metadata={
        "description": "Where a sealed value no longer matches what is stored now (empty "
                       "when intact): the seal or timeline part and the field."})


# ---- verification ----------------------------------------------------------------------
class VerifySealSchema(Schema):
    number = fields.Integer()
    sha256 = Text()
    sealed_at = fields.DateTime()


class VerifySchema(Schema):
    """A photo's record. `public: true` (no login, or a user who may not see the case):
    only short_code, sha256, captured_at, received_at, case_closed and closed_at. `public:
    false` (a user who may see the case): the evidence record, without the closing
    fields."""

    public = fields.Boolean()
    short_code = Text(metadata={"description": "XXXX-XXXX, printed under the QR code"})
    sha256 = Text(metadata={"description": "SHA-256 of the photo's bytes (hex)"})
    captured_at = fields.DateTime(metadata={"description": "When the phone took it"})
    received_at = fields.DateTime(metadata={"description": "When the server received its "
                                                           "declaration (hash included)"})
    case_closed = fields.Boolean(metadata={"description": "Public answer: always true"})
    closed_at = fields.DateTime(allow_none=True, metadata={"description": "Public answer"})
    evidence_id = Text()
    case_id = Text()
    size = fields.Integer()
    content_type = Text()
    geo = fields.Nested(FixSchema, allow_none=True)
    stored_at = fields.DateTime(allow_none=True)
    flags = fields.List(fields.Dict())
    case_status = Text()
    seal = fields.Nested(VerifySealSchema, allow_none=True, metadata={
        "description": "The latest seal listing the photo, if any"})


class VerifyCheckSchema(Schema):
    match = fields.Boolean(metadata={"description": "The bytes sent are the photo's"})
    sha256 = Text(metadata={"description": "SHA-256 of the bytes sent (hex)"})
