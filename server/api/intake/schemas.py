"""Schemas of the intake: the platforms' sources and their mappings, a sheet's preview and
its confirmation."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.api.fields import Text, _text


class MappedFieldSchema(Schema):
    field = Text(metadata={"description": "The case field a column fills."})
    name_zh = Text()
    name_en = Text()
    required = fields.Boolean(metadata={
        "description": "A sheet without it is refused (address: address or subject)."})


class IntakeSourceSchema(Schema):
    code = Text(metadata={"description": "e.g. hotline_12345, hotline_12369, petition"})
    name_zh = Text()
    name_en = Text()
    channel = Text(metadata={"description": "The channel its cases get."})
    default_unit_id = Text(allow_none=True, metadata={
        "description": "The unit a row goes to when it names none we know."})
    column_map = fields.Dict(keys=Text(), values=Text(), metadata={
        "description": "{case field: the sheet's header}, e.g. {\"external_ref\": \"工单编号\"}."})
    value_maps = fields.Dict(keys=Text(), values=fields.Dict(keys=Text(), values=Text()),
                             metadata={"description": "{\"category\": {their name: our "
                                       "code}, \"unit\": {their name: unit id}}"})


class IntakeSourceListSchema(Schema):
    items = fields.List(fields.Nested(IntakeSourceSchema))
    fields_ = fields.List(fields.Nested(MappedFieldSchema), data_key="fields", attribute="fields",
                          metadata={"description": "The case fields a column can fill."})
    default_headers = fields.Dict(keys=Text(), values=fields.List(Text()), metadata={
        "description": "{field: headers recognised without any mapping}."})


class MappingInSchema(Schema):
    column_map = fields.Dict(keys=Text(validate=validate.Length(max=40)),
                             values=_text(200, required=True), metadata={
                                 "description": "Replaces the stored column map."})
    value_maps = fields.Dict(
        keys=Text(validate=validate.OneOf(("category", "unit"))),
        values=fields.Dict(keys=Text(validate=validate.Length(min=1, max=200)),
                           values=Text(validate=validate.Length(max=40))),
        metadata={"description": "Each table given (category, unit) replaces the stored one."})
    default_unit_id = Text(allow_none=True)


class RowErrorSchema(Schema):
    field = Text()
    code = Text(metadata={"description": "e.g. import.unknown_category, cell.bad_date"})
    message_zh = Text()
    message_en = Text()


class PreviewCaseSchema(Schema):
    external_ref = Text(allow_none=True)
    received_at = fields.DateTime(allow_none=True)
    subject = Text(allow_none=True)
    address = Text(allow_none=True)
    description = Text(allow_none=True, metadata={"description": "The first 200 characters."})
    complainant_name = Text(allow_none=True, metadata={"description": "Masked, e.g. 张*"})
    complainant_phone = Text(allow_none=True, metadata={"description": "Masked, e.g. 138****1234"})
    category = Text(allow_none=True, metadata={"description": "Ours; null while unmapped."})
    category_raw = Text(allow_none=True, metadata={"description": "As the sheet says."})
    unit_id = Text(allow_none=True)
    unit_raw = Text(allow_none=True)
    channel = Text(allow_none=True)


class RepeatLeaderSchema(Schema):
    id = Text()
    name = Text()


class RepeatHintSchema(Schema):
    subject_id = Text(allow_none=True, metadata={
        "description": "The repeat subject it would join; null: a new one would be made."})
    listed = fields.Boolean(metadata={
        "description": "On the repeat-complaint list once this complaint arrives."})
    count = fields.Integer(metadata={"description": "Linked complaints, this one included."})
    matched_by = fields.List(Text(), metadata={"description": "address, radius, phone"})
    case_ids = fields.List(Text(), metadata={"description": "Linked cases you may see."})
    other_units = fields.Integer(metadata={
        "description": "Linked cases of units you may not see: a count, never their ids."})
    leader = fields.Nested(RepeatLeaderSchema, allow_none=True, metadata={
        "description": "包案领导 in charge of the subject."})


class PreviewRowSchema(Schema):
    row = fields.Integer(metadata={"description": "The row's number in the file (1-based)."})
    status = Text(metadata={"description": "new | duplicate | invalid"})
    errors = fields.List(fields.Nested(RowErrorSchema))
    case = fields.Nested(PreviewCaseSchema)
    duplicate_of = Text(allow_none=True, metadata={
        "description": "The existing case's id, only when you may see it."})
    repeat = fields.Nested(RepeatHintSchema, allow_none=True, metadata={
        "description": "Present when the row likely repeats earlier complaints."})


class ImportCountsSchema(Schema):
    new = fields.Integer()
    duplicate = fields.Integer()
    invalid = fields.Integer()
    repeat = fields.Integer()


class ImportUnknownValueSchema(Schema):
    value = Text()
    count = fields.Integer()


class ImportUnknownSchema(Schema):
    category = fields.List(fields.Nested(ImportUnknownValueSchema))
    unit = fields.List(fields.Nested(ImportUnknownValueSchema))


class ImportConfirmedSchema(Schema):
    id = Text()
    created = fields.Integer()
    skipped_duplicates = fields.Integer()
    invalid = fields.Integer()
    case_ids = fields.List(Text())


class ImportPreviewSchema(Schema):
    id = Text()
    source = Text()
    filename = Text()
    status = Text(metadata={"description": "previewed | confirmed | expired"})
    created_at = fields.DateTime()
    header_row = fields.Integer(metadata={"description": "The header's row in the file."})
    headers = fields.List(Text())
    column_map = fields.Dict(keys=Text(), values=Text(), metadata={
        "description": "As applied: {case field: the sheet's header}."})
    counts = fields.Nested(ImportCountsSchema)
    unknown = fields.Nested(ImportUnknownSchema, metadata={
        "description": "The sheet's categories and units nobody has mapped yet."})
    rows = fields.List(fields.Nested(PreviewRowSchema))
    result = fields.Nested(ImportConfirmedSchema, allow_none=True, metadata={
        "description": "The confirmation's answer once confirmed."})
