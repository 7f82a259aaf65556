"""The admin's data: deadline rules (versioned), the working-day calendar, webhooks."""

from __future__ import annotations

from datetime import date

from server.api.blueprint import Blueprint
from server.api.cases.admin_schemas import (
    CalendarInSchema,
    CalendarSchema,
    CalendarYearsSchema,
    DeadlineRuleInSchema,
    DeadlineRuleListSchema,
    DryRunSchema,
    RuleSavedSchema,
    WebhookInSchema,
    WebhookItemSchema,
    WebhookListSchema,
    WebhookSchema,
)
from server.api.security import current_user, load_user
from server.domain.accounts.roles import OFFICE_ROLES
from server.domain.cases import deadline_rules, webhooks, workdays
from server.domain.core.errors import Forbidden
from server.models.base import utcnow

blp = Blueprint("admin", __name__, url_prefix="/api",
                description="Deadline rules, the working-day calendar and webhooks.")
blp.before_request(load_user)


def _office() -> None:
    if current_user().role not in OFFICE_ROLES:
        raise Forbidden("admin.forbidden", "Office staff only.")


@blp.route("/deadline-rules", methods=["GET"])
@blp.response(200, DeadlineRuleListSchema)
def list_rules():  # type: ignore[no-untyped-def]
    """The current version of every rule, in the order they are tried."""
    return {"items": deadline_rules.current_rules()}


@blp.route("/deadline-rules", methods=["POST"])
@blp.arguments(DeadlineRuleInSchema)
@blp.arguments(DryRunSchema, location="query")
@blp.response(201, RuleSavedSchema)
def save_rule(body: dict, query: dict):  # type: ignore[no-untyped-def]
    """A new version of a rule (admin): it applies to new cases; the answer says what it
    would do to open ones, which keep theirs. `?dry_run=true` only tells."""
    row, impact = deadline_rules.save_rule(current_user(), body, dry_run=query["dry_run"])
    return {"rule": row, "impact": impact}


@blp.route("/calendar")
@blp.response(200, CalendarYearsSchema)
def calendar_years():  # type: ignore[no-untyped-def]
    """The years whose holidays and make-up working days are loaded."""
    _office()
    now = utcnow()
    missing = workdays.missing_year(now)
    return {"items": workdays.years(), "missing_year": missing,
            "warning": workdays.warning(now, missing) if missing else None}


@blp.route("/calendar/<int:year>", methods=["GET"])
@blp.response(200, CalendarSchema)
def calendar_year(year: int):  # type: ignore[no-untyped-def]
    _office()
    return {"year": year, "source": "",
            "days": [{"date": d.day.isoformat(), "kind": d.kind, "name": d.name}
                     for d in workdays.year_days(year)]}


@blp.route("/calendar/<int:year>", methods=["PUT"])
@blp.arguments(CalendarInSchema)
@blp.response(200, CalendarSchema)
def load_calendar_year(body: dict, year: int):  # type: ignore[no-untyped-def]
    """Load a year's schedule (the State Council's notice): every holiday, weekend days
    of holiday periods included, and every make-up working day. Replaces that year."""
    days = workdays.load_year(current_user(), year, body["days"], body["source"])
    return {"year": year, "source": body["source"],
            "days": [{"date": date.isoformat(d.date), "kind": d.kind, "name": d.name}
                     for d in days]}


@blp.route("/webhooks", methods=["GET"])
@blp.response(200, WebhookListSchema)
def list_hooks():  # type: ignore[no-untyped-def]
    """The webhooks of the admin's units and the units below them."""
    return {"items": webhooks.list_webhooks(current_user())}


@blp.route("/webhooks", methods=["POST"])
@blp.arguments(WebhookInSchema)
@blp.response(201, WebhookSchema)
def add_hook(body: dict):  # type: ignore[no-untyped-def]
    """Post the reminders and escalations of a unit's cases to this URL, signed:
    `X-Fieldcase-Signature: sha256=HMAC-SHA256(secret, timestamp + "." + body)` with
    `X-Fieldcase-Timestamp`. The secret is made by the server and shown only here."""
    hook, secret = webhooks.add_webhook(current_user(), body["url"], body["unit_id"])
    return {"id": hook.id, "url": hook.url, "unit": hook.unit, "active": hook.active,
            "created_at": hook.created_at, "secret": secret}


@blp.route("/webhooks/<hook_id>", methods=["DELETE"])
@blp.response(200, WebhookItemSchema)
def deactivate_hook(hook_id: str):  # type: ignore[no-untyped-def]
    """Stop posting to this webhook (admin of its unit). Its record and delivery history
    are kept; deliveries still owed are given up."""
    return webhooks.deactivate_webhook(current_user(), hook_id)
