"""Schemas of the push API (a platform's case) and of connecting a platform (tokens, the
source's default unit and channel)."""

from __future__ import annotations

import unicodedata
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, pre_load, validate

from server.api.fields import ReceivedAt, Text, UnitRefSchema, _not_blank
from server.domain.core import vocab
from server.domain.intake import sources

# What a platform sends, as a sheet row would carry it (server.domain.intake.push).
PUSH_EXAMPLE = {
    "external_ref": "GD20251116000123",
    "received_at": "2025-11-16T20:05:00+08:00",
    "subject": "夜色KTV深夜噪声扰民",
    "address": "城中街道东湖路88号",
    "description": "每晚22点后音响声音过大，影响休息。",
    "category": "噪音扰民",
    "unit": "城中街道",
    "complainant_name": "张三",
    "complainant_phone": "13812341234",
    "lat": 30.5931,
    "lon": 114.3054,
    "key": False,
}


def _length(max_len: int) -> validate.Length:
    return validate.Length(max=max_len)


class DigitsText(Text):
    """Text, or a whole number read as its digits (a platform may send a phone or a
    reference as a JSON number). A decimal, an exponent or a non-finite number (NaN,
    Infinity, 1e400) is refused: its text would not be what the platform meant."""

    default_error_messages: ClassVar[dict[str, str]] = {
        "not_whole": "Give text or a whole number, not a decimal.",
    }

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        elif isinstance(value, float):
            raise self.make_error("not_whole")
        return super()._deserialize(value, attr, data, **kwargs)


class PushSchema(Schema):
    """A case from a platform. Text is trimmed; a value that looks like a formula
    (`=HYPERLINK(...)`, `+cmd|...`) is kept as plain text, never evaluated, and every
    export writes it as text. Unknown members are ignored (platforms send more)."""

    class Meta:
        unknown = EXCLUDE

    external_ref = DigitsText(required=True, validate=[_length(120), _not_blank], metadata={
        "description": "The platform's reference (工单编号): a second push of the same "
                       "reference returns the first answer and creates nothing."})
    received_at = ReceivedAt(required=True, metadata={
        "description": "When the platform received the complaint, ISO 8601 with its UTC "
                       "offset (2025-11-16T20:05:00+08:00); not in the future (beyond "
                       "CLOCK_DRIFT_S), not before 2000."})
    subject = Text(load_default="", validate=_length(300), metadata={
        "description": "A short title; when empty, the start of the description."})
    address = Text(load_default="", validate=_length(500))
    description = Text(load_default="", validate=_length(20000))
    category = Text(required=True, validate=[_length(120), _not_blank], metadata={
        "description": "Our category code, its Chinese or English name, or the platform's "
                       "own name as the office mapped it for this source (422 "
                       "intake.unknown_category otherwise)."})
    unit = Text(load_default=None, allow_none=True, validate=_length(120), metadata={
        "description": "The responsible unit by the platform's name for it (mapped for "
                       "this source, or our unit's own name). Left out or unknown: the "
                       "source's default unit (422 intake.no_unit when it has none)."})
    complainant_name = Text(load_default=None, allow_none=True, validate=_length(120))
    complainant_phone = DigitsText(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^\+?[0-9 ()\-]{3,20}$", error="Not a phone number."), metadata={
        "description": "Digits, spaces, +, () and -; full-width digits are read as digits."})
    lat = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-90, 90))
    lon = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-180, 180))
    key = fields.Boolean(load_default=False, metadata={"description": "A key case (重点件)."})

    @pre_load
    def _trim(self, data: Any, **_: Any) -> Any:
        # As a sheet's cells: spaces around a value are no part of it (a whole number
        # sent for a phone or a reference is read as its digits by DigitsText).
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, value in data.items():
            if name in ("lat", "lon", "key"):
                continue
            if isinstance(value, str):
                value = value.strip()
                if name == "external_ref":
                    # As a sheet's reference is kept (one rule: the same case either way).
                    value = sources.clean_reference(value)
                elif name == "complainant_phone":
                    # Full-width digits (１３８…) read as ASCII.
                    value = unicodedata.normalize("NFKC", value).strip()
                if value == "" and name in ("unit", "complainant_name", "complainant_phone"):
                    value = None
            out[name] = value
        return out

    @post_load
    def _point(self, data: dict, **_: Any) -> dict:
        if (data.get("lat") is None) != (data.get("lon") is None):
            raise ValidationError("Give both lat and lon, or neither.", "lat")
        return data


class PushedSchema(Schema):
    case_id = Text(required=True)
    external_ref = Text(required=True)
    source = Text(required=True)
    status = Text(required=True, metadata={"description": "Always `created`: a replay "
                                           "answers what the first push was answered."})
    received_at = fields.DateTime(required=True)


class TokenInSchema(Schema):
    label = Text(required=True, validate=[_length(120), _not_blank], metadata={
        "description": "Who holds the token, e.g. 市12345平台 (production)."})


class TokenSchema(Schema):
    id = Text()
    label = Text()
    prefix = Text(metadata={"description": "The token's first 8 characters."})
    created_at = fields.DateTime()
    created_by = Text(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    revoked_by = Text(allow_none=True)
    last_used_at = fields.DateTime(allow_none=True, metadata={
        "description": "The last successful push with it (to the minute)."})


class NewTokenSchema(Schema):
    id = Text()
    label = Text()
    prefix = Text()
    created_at = fields.DateTime()
    token = Text(metadata={"description": "The token itself: shown here only, never again "
                                          "(only its hash is kept)."})


class TokenListSchema(Schema):
    items = fields.List(fields.Nested(TokenSchema))


class SourceConnectionSchema(Schema):
    code = Text()
    name_zh = Text()
    name_en = Text()
    channel = Text()
    default_unit = fields.Nested(UnitRefSchema, allow_none=True)
    tokens = fields.List(fields.Nested(TokenSchema))


class SourceConnectionListSchema(Schema):
    items = fields.List(fields.Nested(SourceConnectionSchema))


class SourcePatchSchema(Schema):
    default_unit_id = Text(allow_none=True, validate=_length(36))
    channel = Text(validate=validate.OneOf(vocab.CHANNELS))
