"""Cases: create, list, read, update; the complainant's contact on a logged reveal."""

from __future__ import annotations

from flask import current_app, g, request
from flask.views import MethodView

from server.api.blueprint import Blueprint
from server.api.cases.schemas import (
    CaseCreateSchema,
    CasePageSchema,
    CaseQuerySchema,
    CaseSchema,
    CaseUpdateSchema,
    ComplainantSchema,
    RevealSchema,
)
from server.api.presenters import case_fields, present_case
from server.api.rate_limits import fail_closed
from server.api.security import current_user, load_user
from server.domain.accounts import scope
from server.domain.cases import cases, lifecycle
from server.extensions import limiter
from server.models.base import utcnow

blp = Blueprint("cases", __name__, url_prefix="/api/cases",
                description="Complaint cases, scoped to the user's units.")
blp.before_request(load_user)


# Looking a number up, per user: a desk answers callers, nobody walks the digits behind
# a masked number (10,000 guesses recover 138****1234).
_phone_limit = limiter.limit(lambda: current_app.config["PHONE_SEARCH_RATE_LIMIT"],
                             key_func=lambda: f"phone-search:{g.get('user') and g.user.id}",
                             exempt_when=lambda: not request.args.get("phone"))
# With the limit store down a lookup by number is refused (503), never uncounted.
_phone_limit_counted = fail_closed(when=lambda: bool(request.args.get("phone")))


@blp.route("")
class Cases(MethodView):
    @_phone_limit
    @_phone_limit_counted
    @blp.arguments(CaseQuerySchema, location="query")
    @blp.response(200, CasePageSchema)
    def get(self, args: dict):  # type: ignore[no-untyped-def]
        """List cases with filters, newest first or most urgent first; phones are masked.

        `colour` and `sort=due` follow the deadline rules at the moment of the request,
        and every listed case's deadline is told at that same moment."""
        page, per_page = args.pop("page"), args.pop("per_page")
        now = utcnow()
        user = current_user()
        items, total = cases.list_cases(user, page=page, per_page=per_page, now=now, **args)
        if args.get("phone"):
            cases.log_phone_search(user, total)
        return {"items": [present_case(c, now) for c in items],
                "total": min(total, cases.COUNT_CAP), "total_exact": total <= cases.COUNT_CAP,
                "page": page,
                "per_page": per_page}

    @blp.arguments(CaseCreateSchema)
    @blp.response(201, CaseSchema)
    def post(self, data: dict):  # type: ignore[no-untyped-def]
        """Create a case (office staff)."""
        return present_case(cases.create_case(current_user(), case_fields(data)))


@blp.route("/<case_id>")
class CaseItem(MethodView):
    @blp.response(200, CaseSchema)
    def get(self, case_id: str):  # type: ignore[no-untyped-def]
        """One case, with the actions the current user may take now."""
        user = current_user()
        case = scope.get_case(user, case_id)
        return present_case(case, actions=[a.name for a in lifecycle.allowed(user, case)],
                            withheld=lifecycle.withheld(user, case),
                            leads=lifecycle.leads(user, case))

    @blp.arguments(CaseUpdateSchema)
    @blp.response(200, CaseSchema)
    def patch(self, data: dict, case_id: str):  # type: ignore[no-untyped-def]
        """Change a case; send the version you read (stale -> 409)."""
        version = data["version"]
        updated = cases.update_case(current_user(), case_id, case_fields(data), version)
        return present_case(updated)


@blp.route("/<case_id>/complainant/reveal", methods=["POST"])
@blp.arguments(RevealSchema)
@blp.response(200, ComplainantSchema)
def reveal(data: dict, case_id: str):  # type: ignore[no-untyped-def]
    """The complainant's unmasked contact, for calling back; the reason is audited."""
    return cases.reveal_complainant(current_user(), case_id, data["reason"])
