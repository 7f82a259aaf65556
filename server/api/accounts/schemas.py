"""Schemas of logging in, the sessions and who is logged in."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.fields import Secret, Text, UnitRefSchema, _text


class LoginSchema(Schema):
    username = _text(80, required=True)
    password = Secret(required=True, validate=validate.Length(max=200))


class UserSchema(Schema):
    id = Text()
    username = Text()
    display_name = Text()
    role = Text()
    units = fields.List(fields.Nested(UnitRefSchema))
    sees_every_unit = fields.Boolean(metadata={
        "description": "The user's units cover every unit (the district's): only an admin "
                       "who does changes district-wide settings."})


class LoginResultSchema(Schema):
    user = fields.Nested(UserSchema)
    csrf_token = Text()


class SessionSchema(Schema):
    id = Text(metadata={"description": "A prefix of the token's hash; DELETE it to end it"})
    created_at = fields.DateTime()
    last_seen_at = fields.DateTime(allow_none=True)
    address = Text(allow_none=True)
    user_agent = Text(allow_none=True)
    current = fields.Boolean(metadata={"description": "The session making this request"})


class SessionListSchema(Schema):
    items = fields.List(fields.Nested(SessionSchema))


class MeSchema(UserSchema):
    csrf_token = Text()
