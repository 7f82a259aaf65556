"""Revisit documents the office takes out: a sample's revisits as XLSX, and a
questionnaire as a paper form (PDF) for teams without phones."""

from __future__ import annotations

import io

from flask import Response

from server.api.blueprint import Blueprint
from server.api.revisits.schemas import QuestionnaireQuerySchema
from server.api.security import current_user, load_user
from server.domain.revisits import export, questionnaires
from server.storage import content_disposition

blp = Blueprint("revisit_exports", __name__, url_prefix="/api",
                description="Revisit documents: a sample's answers as XLSX, a questionnaire "
                            "as a paper form (PDF).")
blp.before_request(load_user)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _doc(content_type: str, what: str) -> dict:
    return {"responses": {"200": {"description": what, "content": {
        content_type: {"schema": {"type": "string", "format": "binary"}}}}}}


def _download(body, name: str, content_type: str, size: int) -> Response:  # type: ignore[no-untyped-def]
    response = Response(body, content_type=content_type, direct_passthrough=True)
    response.content_length = size
    response.headers["Content-Disposition"] = content_disposition(name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"  # residents' answers
    return response


@blp.route("/revisit-samples/<sample_id>/export.xlsx")
@blp.doc(**_doc(XLSX, "The workbook."))
def sample_xlsx(sample_id: str) -> Response:
    """The sample's revisits since its draw as XLSX: one row per respondent, the questions
    as columns (Chinese headings). For whoever may see the sample."""
    # A sample is hundreds of rows, a few hundred kB: held, then sent with its length.
    out = io.BytesIO()
    sample = export.write_sample(current_user(), sample_id, out)
    name = f"回访结果-{sample.created_at:%Y%m%d}-{sample.id[:8]}.xlsx"
    return _download(out.getvalue(), name, XLSX, out.tell())


@blp.route("/questionnaires/<code>/form.pdf")
@blp.arguments(QuestionnaireQuerySchema, location="query")
@blp.doc(**_doc("application/pdf", "The paper form."))
def questionnaire_pdf(args: dict, code: str) -> Response:
    """The questionnaire (newest version, or `?version=`) as a paper form to fill in by
    hand: header lines, boxes to tick, lines to write on, signatures."""
    body, name = questionnaires.paper_form(current_user(), code, args.get("version"))
    return _download(body, name, "application/pdf", len(body))
