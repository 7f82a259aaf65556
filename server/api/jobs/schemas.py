"""Schemas of jobs: what one asks for, and what one reads back."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.closure.schemas import BatchOnlySchema, BatchQuerySchema
from server.api.fields import Text
from server.api.ledgers.schemas import LedgerQuerySchema, PeriodQuerySchema

PUBLIC_KINDS = ("closure_file", "archive", "case_ledger", "revisit_ledger", "repeat_list")


class ClosureFileParamsSchema(BatchQuerySchema):
    """A batch closure file: the cases (or period) as GET /api/closure-files.<format>."""

    format = Text(required=True, validate=validate.OneOf(("docx", "pdf")))


class CaseLedgerParamsSchema(LedgerQuerySchema):
    """The case ledger: the period (`from`, `to`) and filters as GET /api/reports/ledger.*."""

    format = Text(required=True, validate=validate.OneOf(("xlsx", "csv")))


class RevisitLedgerParamsSchema(PeriodQuerySchema):
    """The revisit ledger: the period (`from`, `to`) and unit as GET /api/reports/revisits.xlsx."""


class RepeatListParamsSchema(Schema):
    """The repeat-complaint list, as GET /api/reports/repeats.xlsx: no parameters."""


# Each kind's parameters, checked as the synchronous downloads check their query.
PARAMS = {"closure_file": ClosureFileParamsSchema(), "archive": BatchOnlySchema(),
          "case_ledger": CaseLedgerParamsSchema(),
          "revisit_ledger": RevisitLedgerParamsSchema(),
          "repeat_list": RepeatListParamsSchema()}


class JobCreateSchema(Schema):
    kind = Text(required=True, validate=validate.OneOf(PUBLIC_KINDS), metadata={
        "description": "closure_file (params: format docx|pdf, case[] or closed_from/"
                       "closed_to/unit, public, per_page) or archive (params: case[] or "
                       "the period) or case_ledger (params: format xlsx|csv, from, to, unit_id, "
                       "channel, category) or revisit_ledger (params: from, to, unit_id) or "
                       "repeat_list (no params)."})
    params = fields.Dict(required=True)


class JobProgressSchema(Schema):
    done = fields.Integer()
    total = fields.Integer()


class JobResultSchema(Schema):
    filename = Text()
    content_type = Text()
    size = fields.Integer()
    sha256 = Text()
    url = Text(metadata={"description": "GET it: a redirect to a short-lived signed link."})


class JobSchema(Schema):
    id = Text()
    kind = Text()
    params = fields.Dict()
    state = Text(metadata={"description": "queued, running, done or failed."})
    stage = Text(metadata={"description": "What it does now: waiting, photos, rendering, "
                                          "archive, storing, done, failed."})
    progress = fields.Nested(JobProgressSchema)
    attempts = fields.Integer()
    error = fields.Dict(allow_none=True, metadata={
        "description": "A failed job's error: {code, messages: {zh, en}, ...}."})
    result = fields.Nested(JobResultSchema, allow_none=True)
    created_at = fields.DateTime()
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)


class JobListSchema(Schema):
    items = fields.List(fields.Nested(JobSchema))
