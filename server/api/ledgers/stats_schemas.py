"""Schemas of the rates and counts (GET /api/stats)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.fields import Text
from server.domain.core import vocab
from server.domain.ledgers.definitions import BUCKETS


class StatsQuerySchema(Schema):
    # `from` is a keyword in Python: the field keeps the query's name through data_key.
    first = fields.Date(data_key="from", load_default=None, metadata={
        "description": "First local date received (Asia/Shanghai); default the 1st of "
                       "`to`'s month."})
    last = fields.Date(data_key="to", load_default=None, metadata={
        "description": "Last local date received, included; default today. At most "
                       "REPORT_MAX_DAYS days from `from` (422 `report.period_too_long`)."})
    at = Text(load_default=None, metadata={
        "description": "The moment the figures are as of: a date (the end of that local "
                       "day) or an ISO date and time; default now. Not before `from`."})
    unit_id = Text(load_default=None, metadata={
        "description": "Only this unit's cases and its subtree's (404 for a unit you do "
                       "not see)."})
    channel = Text(load_default=None, validate=validate.OneOf(vocab.CHANNELS))
    category = Text(load_default=None, validate=validate.OneOf(vocab.CATEGORIES))
    bucket = Text(load_default="week", validate=validate.OneOf(BUCKETS), metadata={
        "description": "The buckets of `counts.by_period`: day, week (ISO, 2026-W23) or "
                       "month (2026-06)."})


class StatsWordsSchema(Schema):
    zh = Text()
    en = Text()


class StatsRateSchema(Schema):
    code = Text(metadata={"description": "closure_rate, on_time_rate, revisit_rate, "
                          "satisfaction_rate or spot_check_dissatisfied_rate."})
    label = fields.Nested(StatsWordsSchema)
    numerator = fields.Integer()
    denominator = fields.Integer()
    value = fields.Float(allow_none=True, metadata={
        "description": "numerator / denominator, 0..1; null when the denominator is 0."})
    percent = Text(allow_none=True, metadata={
        "description": "One decimal, rounded half up (\"98.8%\"); null when the "
                       "denominator is 0."})
    definition = fields.Nested(StatsWordsSchema)
    numerator_means = fields.Nested(StatsWordsSchema)
    denominator_means = fields.Nested(StatsWordsSchema)


class StatsCountSchema(Schema):
    key = Text()
    label = fields.Nested(StatsWordsSchema)
    count = fields.Integer()


class StatsBucketSchema(Schema):
    key = Text()
    # The bucket's days inside the period (a week or month cut by the period's ends).
    first = fields.Date(data_key="from")
    last = fields.Date(data_key="to")
    count = fields.Integer()


class StatsCountsSchema(Schema):
    by_category = fields.List(fields.Nested(StatsCountSchema))
    by_channel = fields.List(fields.Nested(StatsCountSchema))
    by_unit = fields.List(fields.Nested(StatsCountSchema))
    by_period = fields.List(fields.Nested(StatsBucketSchema))


class StatsPeriodSchema(Schema):
    first = fields.Date(data_key="from")
    last = fields.Date(data_key="to")


class StatsUnitRefSchema(Schema):
    id = Text()
    name = Text()


class StatsScopeSchema(Schema):
    unit = fields.Nested(StatsUnitRefSchema, allow_none=True)
    channel = Text(allow_none=True)
    category = Text(allow_none=True)


class StatsLimitsSchema(Schema):
    max_days = fields.Integer(metadata={"description": "REPORT_MAX_DAYS."})


class StatsSchema(Schema):
    as_of = fields.DateTime(metadata={"description": "The moment the figures are as of "
                                      "(local time)."})
    period = fields.Nested(StatsPeriodSchema)
    scope = fields.Nested(StatsScopeSchema)
    rates = fields.List(fields.Nested(StatsRateSchema))
    counts = fields.Nested(StatsCountsSchema)
    limits = fields.Nested(StatsLimitsSchema)
