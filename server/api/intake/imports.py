"""A platform's sheet in: the sources' mappings, the preview and the confirmation."""

from __future__ import annotations

from flask import request

from server.api.blueprint import Blueprint
from server.api.intake.schemas import (
    ImportConfirmedSchema,
    ImportPreviewSchema,
    IntakeSourceListSchema,
    IntakeSourceSchema,
    MappingInSchema,
)
from server.api.security import current_user, load_user
from server.domain.core.errors import Invalid
from server.domain.intake import imports

blp = Blueprint("imports", __name__, url_prefix="/api",
                description="Cases from the hotline platforms' sheets: each source's column "
                            "mapping and value tables, a preview that writes no case, and "
                            "an all-or-nothing confirmation.")
blp.before_request(load_user)

UPLOAD_DOC = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file", "source"], "properties": {
        "file": {"type": "string", "format": "binary",
                 "description": "The platform's export: .xlsx, .xls or .csv."},
        "source": {"type": "string", "example": "hotline_12345",
                   "description": "The intake source's code (GET /api/intake-sources)."}}}}}}}


def _present_source(source) -> dict:  # type: ignore[no-untyped-def]
    return {"code": source.code, "name_zh": source.name_zh, "name_en": source.name_en,
            "channel": source.channel, "default_unit_id": source.default_unit_id,
            "column_map": source.column_map or {}, "value_maps": source.value_maps or {}}


@blp.route("/intake-sources")
@blp.response(200, IntakeSourceListSchema)
def list_sources():  # type: ignore[no-untyped-def]
    """The platforms cases come from, each with its column map and value tables; the case
    fields a column can fill; the headers recognised without a mapping (office)."""
    items = imports.list_sources(current_user())
    return {"items": [_present_source(s) for s in items],
            "fields": [{"field": f, "name_zh": zh, "name_en": en, "required": required}
                       for f, zh, en, required in imports.FIELDS],
            "default_headers": {f: list(h) for f, h in imports.DEFAULT_HEADERS.items()}}


@blp.route("/intake-sources/<code>/mapping", methods=["PUT"])
@blp.arguments(MappingInSchema)
@blp.response(200, IntakeSourceSchema)
def save_mapping(body: dict, code: str):  # type: ignore[no-untyped-def]
    """Save the source's column map and value tables (office, audited): the next sheet
    from it maps itself, and an open preview shows the change on its next look."""
    return _present_source(imports.save_mapping(current_user(), code, body))


@blp.route("/imports", methods=["POST"])
@blp.doc(**UPLOAD_DOC)
@blp.response(201, ImportPreviewSchema)
def upload():  # type: ignore[no-untyped-def]
    """Preview a platform's sheet: each row new, duplicate (the source's reference is
    already a case) or invalid (with reasons), and each row's likely repeat. Writes no
    case. Refused whole: a file that is not a sheet (415), over IMPORT_MAX_ROWS rows
    (413 import.too_many_rows), without the columns a case needs (422
    import.wrong_header, with the sheet's `columns` and the `missing` fields)."""
    upload = request.files.get("file")
    source = request.form.get("source", "")
    errors = {}
    if upload is None:
        errors["file"] = ["Missing data for required field."]
    if not source:
        errors["source"] = ["Missing data for required field."]
    if errors:
        raise Invalid("request.invalid", "The upload needs a file and a source.",
                      errors=errors)
    try:
        data = upload.read()
    finally:  # a large upload is spooled to a temporary file: closed here
        upload.close()
    return imports.preview(current_user(), source, data, upload.filename or "")


@blp.route("/imports/<batch_id>")
@blp.response(200, ImportPreviewSchema)
def get_preview(batch_id: str):  # type: ignore[no-untyped-def]
    """The preview again, against the source's mappings as they are now."""
    return imports.look(current_user(), batch_id)


@blp.route("/imports/<batch_id>/remap", methods=["POST"])
@blp.response(200, ImportPreviewSchema)
def remap(batch_id: str):  # type: ignore[no-untyped-def]
    """The stored rows evaluated again after the mapping changed (no upload again)."""
    return imports.look(current_user(), batch_id)


@blp.route("/imports/<batch_id>/confirm", methods=["POST"])
@blp.response(200, ImportConfirmedSchema)
def confirm(batch_id: str):  # type: ignore[no-untyped-def]
    """Create every row that is new now, in one transaction, or none. Duplicates and
    invalid rows are skipped and counted. Confirming again returns the first answer."""
    return imports.confirm(current_user(), batch_id)
