"""Liveness of the process, and readiness of the parts: database and object store."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import jsonify

from server.api.blueprint import Blueprint
from server.api.fields import HealthSchema, LiveSchema
from server.domain.core import runtime
from server.extensions import db
from server.storage import StorageError

blp = Blueprint("health", __name__, url_prefix="/api", description="Health check.")
log = logging.getLogger(__name__)


@blp.route("/live")
@blp.response(200, LiveSchema)
def live():  # type: ignore[no-untyped-def]
    """The process answers: touches neither database nor store (a liveness probe, and the
    reference the per-request cost bench measures against)."""
    return {"status": "ok"}


@blp.route("/health")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema, description="A part is down.")
def health():  # type: ignore[no-untyped-def]
    """ok, or 503 naming the failing part."""
    result = {"status": "ok", "database": "ok", "storage": "ok"}
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception:  # any driver error means "down" here
        log.exception("health: database")
        db.session.rollback()
        result["database"] = "unavailable"
    try:
        runtime.storage().check()
    except StorageError:
        log.exception("health: storage")
        result["storage"] = "unavailable"
    if "unavailable" in result.values():
        result["status"] = "degraded"
    response = jsonify(result)
    response.status_code = 200 if result["status"] == "ok" else 503
    return response
