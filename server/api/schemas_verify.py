"""Schemas of the verify answers (a photo's short code resolved)."""

from __future__ import annotations

from marshmallow import Schema, fields

from server.api.schemas import FixSchema, Text


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
