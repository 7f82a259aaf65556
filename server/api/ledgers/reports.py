"""The ledgers offices hand in, as downloads: the case ledger (台账, XLSX or CSV), the
repeat-complaint list, the revisit ledger, and a look-back campaign's two annexes."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from werkzeug.wsgi import wrap_file

from server.api.blueprint import Blueprint
from server.api.ledgers.schemas import (
    CampaignQuerySchema,
    LedgerQuerySchema,
    PeriodQuerySchema,
    ProgressQuerySchema,
)
from server.api.security import current_user, load_user
from server.domain.ledgers import exports
from server.storage import content_disposition

blp = Blueprint("ledgers", __name__, url_prefix="/api/reports",
                description="Ledgers as XLSX (and CSV) in the seeds' Chinese headings: a "
                            "title row with the unit and period, a frozen heading row, dates "
                            "as dates, no cell ever a formula. For the office and leaders, "
                            "over their units.")
blp.before_request(load_user)


def _doc(content_type: str, what: str) -> dict:
    return {"responses": {"200": {"description": what, "content": {
        content_type: {"schema": {"type": "string", "format": "binary"}}}}}}


XLSX_DOC = _doc(exports.XLSX, "The workbook.")


def _send(export: exports.Export) -> Response:
    """The written file: a small one (still in memory) as bytes, a large one streamed from
    disk (the server closes it, and so deletes it, once sent or on an aborted download)."""
    body: Any
    if export.size <= exports.SPOOL_BYTES:
        with export.file:
            body = export.file.read()
    else:
        body = wrap_file(request.environ, export.file)
    response = Response(body, content_type=export.mimetype, direct_passthrough=True)
    response.content_length = export.size
    response.headers["Content-Disposition"] = content_disposition(
        export.name, fallback=export.ascii_name)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _ledger(args: dict, fmt: str) -> Response:
    return _send(exports.case_ledger_file(
        current_user(), args["first"], args["last"], fmt, unit_id=args.get("unit_id"),
        channel=args.get("channel"), category=args.get("category")))


@blp.route("/ledger.xlsx")
@blp.arguments(LedgerQuerySchema, location="query")
@blp.doc(**XLSX_DOC)
def ledger_xlsx(args: dict) -> Response:
    """The case ledger (信访件台账, seed 003's four-colour ledger): one row per case received
    in the period in your scope, its deadline colour (绿/蓝/黄/红/逾期) as the fill of its
    办理进度 cell, a legend under the rows. No complainant name or phone."""
    return _ledger(args, "xlsx")


@blp.route("/ledger.csv")
@blp.arguments(LedgerQuerySchema, location="query")
@blp.doc(**_doc("text/csv", "The rows as CSV (UTF-8 with BOM)."))
def ledger_csv(args: dict) -> Response:
    """The case ledger's rows as CSV: UTF-8 with a byte-order mark, and a text cell that
    starts with = + - @ (or tab, CR) given a leading apostrophe, so a spreadsheet shows it
    as text instead of running it."""
    return _ledger(args, "csv")


@blp.route("/revisits.xlsx")
@blp.arguments(PeriodQuerySchema, location="query")
@blp.doc(**XLSX_DOC)
def revisits_xlsx(args: dict) -> Response:
    """The revisit ledger (回访台账): every revisit made in the period of a case in your
    scope: the case, when, how, who called, the result, the satisfaction, why nobody
    could be reached. No respondent's name, number or answers."""
    return _send(exports.revisit_ledger_file(current_user(), args["first"], args["last"],
                                             unit_id=args.get("unit_id")))


@blp.route("/repeats.xlsx")
@blp.doc(**XLSX_DOC)
def repeats_xlsx() -> Response:
    """The repeat-complaint list (反复投诉环境问题清单) as GET /api/repeats gives it: of
    other units' linked cases, a count only."""
    return _send(exports.repeat_list_file(current_user()))


@blp.route("/progress.xlsx")
@blp.arguments(ProgressQuerySchema, location="query")
@blp.doc(**XLSX_DOC)
def progress_xlsx(args: dict) -> Response:
    """A look-back campaign's weekly progress (seed 001 annex 2, 进展一览表): per checking
    unit 信访总数, 本周核查数, 累计核查数, 完成率, 新发现问题数, 累计新发现问题数, 备注, and the
    totals, as GET /api/campaigns/<id>/progress gives them. A campaign you may not see: 404."""
    return _send(exports.progress_file(current_user(), args["campaign"], args.get("week")))


@blp.route("/problems.xlsx")
@blp.arguments(CampaignQuerySchema, location="query")
@blp.doc(**XLSX_DOC)
def problems_xlsx(args: dict) -> Response:
    """A look-back campaign's problem list (seed 001 annex 1, 问题清单): one row per
    rectification plan (问题类型, 原交办具体问题, 新发现问题, 整改措施, 目标任务（标准）,
    整改实施主体, 验收（监管）单位, 完成时限), with the 填报单位/填报时间 line. A campaign you
    may not see: 404."""
    return _send(exports.problems_file(current_user(), args["campaign"]))
