"""Query parameters of the ledgers' downloads."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.fields import Text, UUIDStr
from server.domain.core import vocab


class PeriodQuerySchema(Schema):
    first = fields.Date(required=True, data_key="from", metadata={
        "description": "The first day (local), YYYY-MM-DD."})
    last = fields.Date(required=True, data_key="to", metadata={
        "description": "The last day (local, included). At most REPORT_MAX_DAYS days "
                       "(366) after `from`: longer is 422 report.period_too_long."})
    unit_id = UUIDStr(metadata={"description": "One of your units: its cases and those of "
                                "the units below it. Another unit's id: 404."})


class LedgerQuerySchema(PeriodQuerySchema):
    channel = Text(validate=validate.OneOf(vocab.CHANNELS))
    category = Text(validate=validate.OneOf(vocab.CATEGORIES))


class CampaignQuerySchema(Schema):
    campaign = UUIDStr(required=True, metadata={
        "description": "The campaign; one you may not see is 404."})


class ProgressQuerySchema(CampaignQuerySchema):
    week = fields.Date(metadata={"description": "A day of the week wanted (weeks start on "
                                 "Monday, local time); the current week when absent."})
