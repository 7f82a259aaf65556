"""Review and closure over HTTP: the closure checklist and acknowledged evidence flags."""

from __future__ import annotations

from server.api.blueprint import Blueprint
from server.api.schemas_closure import AcknowledgedSchema, AcknowledgeSchema, ChecklistSchema
from server.api.security import current_user, load_user
from server.domain import closure

blp = Blueprint("closure", __name__, url_prefix="/api",
                description="Review and closure (验收销号): the computed checklist.")
blp.before_request(load_user)


@blp.route("/cases/<case_id>/closure-checklist")
@blp.response(200, ChecklistSchema)
def checklist(case_id: str):  # type: ignore[no-untyped-def]
    """Each closure rule that applies to the case (by category and channel), met or not,
    with why and what satisfies it."""
    return closure.checklist(current_user(), case_id)


@blp.route("/evidence/<evidence_id>/acknowledgements", methods=["POST"])
@blp.arguments(AcknowledgeSchema)
@blp.response(201, AcknowledgedSchema)
def acknowledge(data: dict, evidence_id: str):  # type: ignore[no-untyped-def]
    """Explain one of the evidence's integrity flags (office): kept on the case's
    timeline, and the checklist counts the flag as explained."""
    return closure.acknowledge_flag(current_user(), evidence_id, data["code"], data["note"])
