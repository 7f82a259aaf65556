"""Review and closure over HTTP: the closure checklist, acknowledged evidence flags, the
seal, closure files and archives."""

from __future__ import annotations

import tempfile
from typing import Any

from flask import Response, request
from werkzeug.wsgi import wrap_file

from server.api.blueprint import Blueprint
from server.api.closure.schemas import (
    AcknowledgedSchema,
    AcknowledgeSchema,
    BatchOnlySchema,
    BatchQuerySchema,
    CaseFileQuerySchema,
    ChecklistSchema,
    SealViewSchema,
)
from server.api.security import current_user, load_user
from server.domain.closure import checklist as closure_checklist
from server.domain.closure import closure_files, periods
from server.storage import content_disposition

blp = Blueprint("closure", __name__, url_prefix="/api",
                description="Review and closure (验收销号): the computed checklist.")
blp.before_request(load_user)


@blp.route("/cases/<case_id>/closure-checklist")
@blp.response(200, ChecklistSchema)
def checklist(case_id: str):  # type: ignore[no-untyped-def]
    """Each closure rule that applies to the case (by category and channel), met or not,
    with why and what satisfies it."""
    return closure_checklist.checklist(current_user(), case_id)


@blp.route("/evidence/<evidence_id>/acknowledgements", methods=["POST"])
@blp.arguments(AcknowledgeSchema)
@blp.response(201, AcknowledgedSchema)
def acknowledge(data: dict, evidence_id: str):  # type: ignore[no-untyped-def]
    """Explain one of the evidence's integrity flags (office): kept on the case's
    timeline, and the checklist counts the flag as explained."""
    return closure_checklist.acknowledge_flag(current_user(), evidence_id, data["code"],
                                              data["note"])


# ---- the seal, closure files and archives ---------------------------------------------------
def _download(body: Any, name: str, content_type: str, sha256: str | None,
              size: int | None) -> Response:
    response = Response(body, content_type=content_type, direct_passthrough=True)
    if size is not None:
        response.content_length = size
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    if sha256:
        response.headers["ETag"] = f'"{sha256}"'
        response.headers["X-Content-SHA256"] = sha256
    return response


def _batch(args: dict) -> list[str]:
    """The batch's cases: those named, or those closed in the period (and unit) given."""
    if "case" in args:
        return args["case"]
    return periods.closed_in(current_user(), args["closed_from"], args["closed_to"],
                                   args.get("unit"))


def _file(case_ids: list[str], kind: str, public: bool, per_page: int = 1) -> Response:
    made = closure_files.closure_file(current_user(), case_ids, kind, public, request.host_url,
                                      per_page)
    return _download(made.chunks(), made.name, made.content_type, made.sha256, made.size)


def _archive(case_ids: list[str]) -> Response:
    spool = tempfile.SpooledTemporaryFile(max_size=32 << 20)  # noqa: SIM115 - handed on
    try:
        name = closure_files.write_archive(current_user(), case_ids, request.host_url, spool)
    except BaseException:
        spool.close()
        raise
    size = spool.tell()
    spool.seek(0)
    return _download(wrap_file(request.environ, spool), name, "application/zip", None, size)


FILE_DOC = {"responses": {"200": {"description": "The file (same bytes for the same seals).",
                                  "content": {t: {"schema": {"type": "string",
                                                             "format": "binary"}}
                                              for t in closure_files.CONTENT_TYPES.values()}}}}
ZIP_DOC = {"responses": {"200": {"description": "The archive.", "content": {
    "application/zip": {"schema": {"type": "string", "format": "binary"}}}}}}


@blp.route("/cases/<case_id>/seal")
@blp.response(200, SealViewSchema)
def seal(case_id: str):  # type: ignore[no-untyped-def]
    """The case's current seal (its manifest and hash) while it is closed, and every seal
    it has had (a reopen keeps them; each closure adds one)."""
    return closure_files.seal_view(current_user(), case_id)


@blp.route("/cases/<case_id>/closure-file.<any(docx, pdf):kind>")
@blp.arguments(CaseFileQuerySchema, location="query")
@blp.doc(**FILE_DOC)
def case_closure_file(args: dict, case_id: str, kind: str) -> Response:
    """The closure file of a closed case (办结材料), or with `public=1` its published
    version (办结公示: no complainant, photos without EXIF or GPS); `per_page=2` puts two
    photos on a page."""
    return _file([case_id], kind, args["public"], args["per_page"])


@blp.route("/closure-files.<any(docx, pdf):kind>")
@blp.arguments(BatchQuerySchema, location="query")
@blp.doc(**FILE_DOC)
def batch_closure_file(args: dict, kind: str) -> Response:
    """One closure file for several closed cases: `case` repeated, or those closed from
    `closed_from` to `closed_to` (and of `unit`); at most 50. `per_page=2`: two photos a
    page."""
    return _file(_batch(args), kind, args["public"], args["per_page"])


@blp.route("/cases/<case_id>/archive.zip")
@blp.doc(**ZIP_DOC)
def case_archive(case_id: str) -> Response:
    """The archive of a closed case: its originals, seal manifests, closure files and a
    README on checking the hashes (SHA256SUMS)."""
    return _archive([case_id])


@blp.route("/archives.zip")
@blp.arguments(BatchOnlySchema, location="query")
@blp.doc(**ZIP_DOC)
def batch_archive(args: dict) -> Response:
    """The archive of several closed cases: `case` repeated, or those closed from
    `closed_from` to `closed_to` (and of `unit`); at most 50."""
    return _archive(_batch(args))
