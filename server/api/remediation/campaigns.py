"""Look-back campaigns (回头看) over HTTP: selection, the campaigns, their tasks and progress
(annex 2), the phone's re-checks, and the rectification plans and their acceptance."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView

from server.api.blueprint import Blueprint
from server.api.remediation.schemas import (
    AcceptInSchema,
    CampaignInSchema,
    CampaignListSchema,
    CampaignSchema,
    MyTaskQuerySchema,
    PreviewSchema,
    ProgressSchema,
    RecheckInSchema,
    RecheckSchema,
    RectificationPlanListSchema,
    RectificationPlanSchema,
    TaskListSchema,
    TaskQuerySchema,
    WeekQuerySchema,
)
from server.api.security import current_user, last_contact, load_user
from server.domain.remediation import campaigns, plans, rechecks

blp = Blueprint("campaigns", __name__, url_prefix="/api",
                description="Look-back campaigns (回头看, seed 001): closed cases chosen for a "
                            "re-check, cross-checks (交叉检查), the re-check on the phone, the "
                            "rectification plans a rebound reopens a case with, and the "
                            "weekly progress table.")
blp.before_request(load_user)
_CAMPAIGN = CampaignSchema()
_PREVIEW = PreviewSchema()
_RECHECK = RecheckSchema()


@blp.route("/campaigns")
class Campaigns(MethodView):
    @blp.response(200, CampaignListSchema)
    def get(self):  # type: ignore[no-untyped-def]
        """The campaigns you organise or check tasks of, newest first."""
        return {"items": campaigns.list_campaigns(current_user())}

    @blp.arguments(CampaignInSchema)
    @blp.response(201, CampaignSchema)
    @blp.alt_response(200, schema=PreviewSchema, description="preview: the count, nothing "
                                                             "written.")
    def post(self, data: dict):  # type: ignore[no-untyped-def]
        """Start a campaign (office roles): a task for every closed case in your scope
        received in the period and matching the filters, except those another campaign's
        pending task holds (counted in `skipped_held`). 422 `campaign.empty` for none,
        `campaign.period_too_long` past 5 years, `campaign.bad_period` when from > to."""
        data["from"] = data.pop("from_")
        user = current_user()
        if data.pop("preview"):
            response = jsonify(_PREVIEW.dump(campaigns.preview(user, data)))
            response.status_code = 200
            return response
        response = jsonify(_CAMPAIGN.dump(campaigns.create(user, data)))
        response.status_code = 201
        return response


@blp.route("/campaigns/<campaign_id>")
@blp.response(200, CampaignSchema)
def campaign_detail(campaign_id: str):  # type: ignore[no-untyped-def]
    """A campaign and the counts of its tasks you see."""
    return campaigns.detail(current_user(), campaign_id)


@blp.route("/campaigns/<campaign_id>/progress")
@blp.arguments(WeekQuerySchema, location="query")
@blp.response(200, ProgressSchema)
def campaign_progress(args: dict, campaign_id: str):  # type: ignore[no-untyped-def]
    """Annex 2 for a week (the current one by default): per checking unit, tasks, checks
    this week and to date, the completion rate, new problems this week and to date."""
    return campaigns.progress(current_user(), campaign_id, args["week"])


@blp.route("/campaigns/<campaign_id>/tasks")
@blp.arguments(TaskQuerySchema, location="query")
@blp.response(200, TaskListSchema)
def campaign_tasks(args: dict, campaign_id: str):  # type: ignore[no-untyped-def]
    """The campaign's tasks you see (all of them for its organiser's scope; a checking
    unit's own otherwise), pending first."""
    return {"items": rechecks.campaign_tasks(current_user(), campaign_id,
                                             status=args["status"], unit_id=args["unit_id"])}


@blp.route("/recheck-tasks")
@blp.arguments(MyTaskQuerySchema, location="query")
@blp.response(200, TaskListSchema)
def my_recheck_tasks(args: dict):  # type: ignore[no-untyped-def]
    """The re-check tasks of your units (the phone's list), pending first."""
    return {"items": rechecks.my_tasks(current_user(), status=args["status"])}


@blp.route("/campaigns/<campaign_id>/rechecks", methods=["POST"])
@blp.arguments(RecheckInSchema)
@blp.response(201, RecheckSchema)
@blp.alt_response(200, schema=RecheckSchema, description="A retry: the first answer.")
def record_recheck(data: dict, campaign_id: str):  # type: ignore[no-untyped-def]
    """Record a re-check (field roles of the checking unit; idempotent on client_id: a
    retry answers 200 as the first time, another body 409 `recheck.client_id_reused`).
    A rebound or a new problem reopens the case with its rectification plan (required:
    422 `plan.due_missing`, `plan.acceptance_unit_missing`, `plan.due_past`). 409
    `recheck.case_not_closed`, `recheck.already_done`, `recheck.held_by_other`."""
    answer, created = rechecks.record(current_user(), campaign_id, data,
                                      contact=last_contact())
    response = jsonify(_RECHECK.dump(answer))
    response.status_code = 201 if created else 200
    return response


@blp.route("/cases/<case_id>/plans")
@blp.response(200, RectificationPlanListSchema)
def case_plans(case_id: str):  # type: ignore[no-untyped-def]
    """The case's rectification plans (整改方案), oldest first, each saying whether you may
    accept it."""
    return {"items": plans.list_for_case(current_user(), case_id)}


@blp.route("/plans/<plan_id>/accept", methods=["POST"])
@blp.arguments(AcceptInSchema)
@blp.response(200, RectificationPlanSchema)
def accept_plan(data: dict, plan_id: str):  # type: ignore[no-untyped-def]
    """验收: the office of the acceptance unit (or above it) accepts the rectification;
    409 `plan.already_accepted`."""
    return plans.accept(current_user(), plan_id, data.get("note"))
