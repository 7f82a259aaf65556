"""Rates and counts over HTTP (GET /api/stats)."""

from __future__ import annotations

from server.api.blueprint import Blueprint
from server.api.ledgers.stats_schemas import StatsQuerySchema, StatsSchema
from server.api.security import current_user, load_user
from server.domain.core import runtime
from server.domain.ledgers import ledger_period, period, stats
from server.models.base import utcnow

blp = Blueprint("stats", __name__, url_prefix="/api",
                description="Rates and counts (办结率, 及时率, 回访率, 满意度, 抽查不满意率), each "
                            "with its definition, over the cases you see, as of any moment.")
blp.before_request(load_user)


@blp.route("/stats")
@blp.arguments(StatsQuerySchema, location="query")
@blp.response(200, StatsSchema)
def stats_report(args: dict):  # type: ignore[no-untyped-def]
    """The rates and counts of the cases received in a period (local dates), as of `at`,
    reproduced from the event log for a past `at`. Office roles and leaders (403
    `report.forbidden` otherwise); 422 `report.period_too_long`, `report.bad_period`,
    `report.at_before_period`, `report.bad_date`; 404 `unit.not_found`."""
    user = current_user()
    ledger_period.require_reader(user)  # the ledgers' rule: office roles and leaders
    asked = period.period(args["first"], args["last"], args["at"], now=utcnow())
    where = stats.narrowed(user, args["unit_id"], args["channel"], args["category"])
    return stats.report(user, asked, where, args["bucket"],
                        int(runtime.setting("REPORT_MAX_DAYS")))
