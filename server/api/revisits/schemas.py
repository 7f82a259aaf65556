"""Schemas of questionnaires, revisits and revisit samples."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.fields import Aware, FixSchema, Text, UUIDStr, _not_blank, _text
from server.domain.core import vocab

_SATISFACTION = validate.OneOf(vocab.SATISFACTION)


class LabelSchema(Schema):
    zh = _text(500, required=True)
    en = _text(500, required=True)


class OptionSchema(Schema):
    value = _text(60, required=True)
    label = fields.Nested(LabelSchema, required=True)


class QuestionSchema(Schema):
    key = _text(40, required=True)
    kind = Text(required=True, validate=validate.OneOf(vocab.QUESTION_KINDS))
    label = fields.Nested(LabelSchema, required=True)
    required = fields.Boolean(load_default=False)
    options = fields.List(fields.Nested(OptionSchema), allow_none=True)
    min = fields.Integer(allow_none=True)
    max = fields.Integer(allow_none=True)
    satisfaction = fields.Boolean(metadata={
        "description": "The satisfaction question: single choice of satisfied, "
                       "basically_satisfied, dissatisfied (at most one per template)."})


class QuestionnaireInSchema(Schema):
    code = Text(required=True, validate=validate.Regexp(
        r"^[a-z0-9][a-z0-9-]{0,59}$", error="Lower-case letters, digits and -."))
    title = fields.Nested(LabelSchema, required=True)
    questions = fields.List(fields.Nested(QuestionSchema), required=True)


class QuestionnaireSchema(Schema):
    code = Text()
    version = fields.Integer()
    title = fields.Dict()
    questions = fields.List(fields.Dict())
    created_at = fields.DateTime()


class QuestionnaireListSchema(Schema):
    items = fields.List(fields.Nested(QuestionnaireSchema))


class QuestionnaireQuerySchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1))


class QuestionnaireRefSchema(Schema):
    code = _text(60, required=True)
    version = fields.Integer(required=True, validate=validate.Range(min=1))


class RespondentInSchema(Schema):
    client_id = UUIDStr(required=True)
    kind = Text(required=True, validate=validate.OneOf(vocab.RESPONDENT_KINDS))
    name = _text(120, allow_none=True, metadata={"description": "Personal data (masked)."})
    contact = _text(120, allow_none=True, metadata={"description": "Personal data (masked)."})
    answers = fields.Dict(keys=Text(validate=validate.Length(max=40)),
                          values=fields.Raw(allow_none=True),
                          load_default=dict, metadata={
                              "description": "{question key: answer}: single -> option "
                                             "value; multi -> list of values; scale -> "
                                             "integer; yesno -> boolean; text -> string."})
    satisfaction = Text(allow_none=True, validate=_SATISFACTION)
    audio_consent = fields.Boolean(load_default=False, metadata={
        "description": "Consent to an interview recording; a recording needs it."})


class RespondentAddSchema(RespondentInSchema):
    device_time = Aware(metadata={"description": "The phone's clock when sending."})


class AttemptSchema(Schema):
    at = Aware(required=True)
    outcome = Text(required=True, validate=validate.OneOf(vocab.ATTEMPT_OUTCOMES))


class RevisitCreateSchema(Schema):
    client_id = UUIDStr(required=True)
    method = Text(required=True, validate=validate.OneOf(vocab.REVISIT_METHODS))
    at = Aware(required=True)
    questionnaire = fields.Nested(QuestionnaireRefSchema, allow_none=True)
    respondents = fields.List(fields.Nested(RespondentInSchema),
                              validate=validate.Length(max=500), load_default=list)
    satisfaction = Text(allow_none=True, validate=_SATISFACTION, metadata={
        "description": "The overall satisfaction as the revisit user judged it; when "
                       "absent it is the complainant's, else the respondents' most common."})
    attempts = fields.List(fields.Nested(AttemptSchema), validate=validate.Length(max=50),
                           load_default=list)
    unreachable_reason = _text(2000, allow_none=True)
    notes = _text(20000, allow_none=True)
    location = fields.Nested(FixSchema, allow_none=True)
    device_time = Aware(metadata={"description": "The phone's clock when sending."})


class RespondentSchema(Schema):
    id = Text()
    client_id = Text()
    revisit_id = Text()
    kind = Text()
    name = Text(allow_none=True, metadata={"description": "Masked."})
    contact = Text(allow_none=True, metadata={"description": "Masked."})
    answers = fields.Dict()
    satisfaction = Text(allow_none=True)
    audio_consent = fields.Boolean()
    received_at = fields.DateTime()


class RespondentAddedSchema(RespondentSchema):
    revisit_satisfaction = Text(allow_none=True, metadata={
        "description": "The revisit's overall satisfaction after this respondent."})


class PersonRefSchema(Schema):
    id = Text()
    name = Text()


class RevisitSchema(Schema):
    id = Text()
    client_id = Text()
    case_id = Text()
    method = Text()
    at = fields.DateTime()
    questionnaire = fields.Dict(allow_none=True, metadata={
        "description": "{code, version, title, questions}: the version the answers were "
                       "given under, its question texts in zh and en."})
    respondents = fields.List(fields.Nested(RespondentSchema))
    satisfaction = Text(allow_none=True)
    stated_satisfaction = Text(allow_none=True)
    outcome = Text(metadata={"description": "reached | unreachable | open (a survey still "
                                            "taking respondents)."})
    attempts = fields.List(fields.Dict())
    unreachable_reason = Text(allow_none=True)
    notes = Text()
    location = fields.Dict(allow_none=True)
    created_by = fields.Nested(PersonRefSchema)
    received_at = fields.DateTime()


class RevisitListSchema(Schema):
    items = fields.List(fields.Nested(RevisitSchema))


# ---- samples ---------------------------------------------------------------------------
class SampleCreateSchema(Schema):
    from_ = Aware(required=True, data_key="from")
    to = Aware(required=True)
    share = fields.Float(required=True, validate=validate.Range(min=0, max=1, min_inclusive=False))
    strata = fields.List(Text(validate=validate.OneOf(vocab.SAMPLE_STRATA)),
                         load_default=lambda: list(vocab.SAMPLE_STRATA))
    seed = Text(allow_none=True, validate=[validate.Length(min=1, max=40), _not_blank])


class SampleAssignSchema(Schema):
    user_ids = fields.List(Text(), required=True, validate=validate.Length(min=1, max=100))


class RateSchema(Schema):
    numerator = fields.Integer()
    denominator = fields.Integer()
    rate = fields.Float(allow_none=True)


class FiguresSchema(Schema):
    sampled = fields.Integer()
    revisited = fields.Integer()
    reached = fields.Integer()
    unreachable = fields.Integer()
    revisit_rate = fields.Nested(RateSchema)
    satisfaction_rate = fields.Nested(RateSchema)
    dissatisfied_rate = fields.Nested(RateSchema)


class SampleCaseSchema(Schema):
    case_id = Text()
    subject = Text()
    unit = fields.Nested(PersonRefSchema)
    channel = Text()
    stratum = Text()
    assignee = fields.Nested(PersonRefSchema, allow_none=True)
    revisit = fields.Dict(allow_none=True, metadata={
        "description": "The latest revisit since the draw: {id, outcome, satisfaction, at}."})


class SampleSummarySchema(Schema):
    id = Text()
    period_from = fields.DateTime(data_key="from")
    period_to = fields.DateTime(data_key="to")
    share = fields.Float()
    strata = fields.List(Text())
    seed = Text()
    population = fields.Integer()
    drawn = fields.Integer()
    created_at = fields.DateTime()


class SampleSchema(SampleSummarySchema):
    population_hash = Text(metadata={"description": "SHA-256 of the population's sorted "
                                                    "case ids: a re-draw checks it saw the "
                                                    "same cases."})
    created_by = fields.Nested(PersonRefSchema)
    strata_figures = fields.List(fields.Dict(), metadata={
        "description": "[{stratum, population, drawn}]: the allocation."})
    figures = fields.Nested(FiguresSchema)
    by_unit = fields.List(fields.Dict())
    by_channel = fields.List(fields.Dict())
    cases = fields.List(fields.Nested(SampleCaseSchema))


class SampleListSchema(Schema):
    items = fields.List(fields.Nested(SampleSummarySchema))


class RevisitTaskSchema(Schema):
    case_id = Text()
    sample_id = Text()
    subject = Text()
    address = Text()
    status = Text()
    drawn_at = fields.DateTime()


class RevisitTaskListSchema(Schema):
    items = fields.List(fields.Nested(RevisitTaskSchema))
