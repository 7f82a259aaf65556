"""Visits to a case: site and night checks, monitoring, meetings, joint enforcement."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView

from server.api.blueprint import Blueprint
from server.api.fieldwork.schemas import VisitCreateSchema, VisitListSchema, VisitSchema
from server.api.presenters import present_visit
from server.api.security import current_user, last_contact, load_user
from server.domain.fieldwork import visits

blp = Blueprint("visits", __name__, url_prefix="/api/cases",
                description="Visits with readings judged against the noise standards.")
blp.before_request(load_user)
_VISIT = VisitSchema()  # built once: a schema's fields are copied at each build


@blp.route("/<case_id>/visits")
class CaseVisits(MethodView):
    @blp.response(200, VisitListSchema)
    def get(self, case_id: str):  # type: ignore[no-untyped-def]
        """The case's visits, oldest first."""
        items = visits.list_visits(current_user(), case_id)
        photos = visits.meter_photos(items)
        return {"items": [present_visit(v, photos) for v in items]}

    @blp.arguments(VisitCreateSchema)
    @blp.response(201, VisitSchema)
    @blp.alt_response(200, schema=VisitSchema, description="A retry: the visit recorded first.")
    def post(self, data: dict, case_id: str):  # type: ignore[no-untyped-def]
        """Record a visit; idempotent on client_id."""
        visit, created = visits.record_visit(current_user(), case_id, data,
                                             contact=last_contact())
        response = jsonify(_VISIT.dump(present_visit(visit)))
        response.status_code = 201 if created else 200
        return response
