"""Schemas of repeat complaints: the list, a subject's history, a case's link."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.fields import Text, UUIDStr

_MATCHED_BY = fields.List(Text(validate=validate.OneOf(("address", "radius", "phone"))),
                          metadata={"description": "What linked it: address (the same "
                                    "place by address), radius (located within "
                                    "REPEAT_RADIUS_M), phone (the same complainant's number)."})


class LeaderSchema(Schema):
    id = Text()
    name = Text()


class SubjectSchema(Schema):
    id = Text()
    title = Text(metadata={"description": "The place as people say it (the address of its "
                           "earliest case you may see)."})
    category = Text()
    count = fields.Integer(metadata={"description": "Complaints linked (links not undone)."})
    first_at = fields.DateTime()
    last_at = fields.DateTime()
    listed = fields.Boolean(metadata={"description": "On the repeat-complaint list "
                                      "(REPEAT_LIST_AT or more complaints)."})
    listed_at = fields.DateTime(allow_none=True)
    leader = fields.Nested(LeaderSchema, allow_none=True,
                           metadata={"description": "The leader in charge (包案领导)."})
    resolved = fields.Boolean()
    visible_cases = fields.Integer(metadata={"description": "Linked cases you may see."})
    other_units = fields.Integer(metadata={"description": "Linked cases of units you do not "
                                           "see: a count only, never which."})


class SubjectListSchema(Schema):
    items = fields.List(fields.Nested(SubjectSchema))


class SubjectQuerySchema(Schema):
    listed = fields.Boolean(load_default=True, metadata={
        "description": "false: every subject you see, listed or not yet."})


class SubjectCaseSchema(Schema):
    id = Text()
    received_at = fields.DateTime()
    status = Text()
    subject = Text()
    category = Text()
    unit_id = Text()
    matched_by = _MATCHED_BY
    state = Text(metadata={"description": "auto, confirmed or undone."})
    decided_at = fields.DateTime(allow_none=True)


class SubjectDetailSchema(SubjectSchema):
    cases = fields.List(fields.Nested(SubjectCaseSchema), metadata={
        "description": "The linked cases you may see, oldest first (undone links too)."})


class LinkSchema(Schema):
    state = Text()
    matched_by = _MATCHED_BY
    decided_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class CaseRepeatSchema(Schema):
    linked = fields.Boolean()
    may_decide = fields.Boolean(metadata={"description": "You may confirm or undo the link."})
    link = fields.Nested(LinkSchema, allow_none=True)
    subject = fields.Nested(SubjectSchema, allow_none=True)


class LeaderInSchema(Schema):
    leader_id = UUIDStr(required=True, allow_none=True, metadata={
        "description": "An active user with the leader role; null: nobody in charge."})
