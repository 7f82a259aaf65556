"""HTTP in: blueprints, schemas, problem+json errors, the OpenAPI document."""

from __future__ import annotations

from flask import Flask

from server.api import cases, evidence, health, session, standards, visits
from server.api.problems import FieldcaseApi, register_error_handlers

API_SPEC = {
    "API_TITLE": "Fieldcase API",
    "API_VERSION": "1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "openapi.json",
}


def register_api(app: Flask) -> FieldcaseApi:
    for key, value in API_SPEC.items():
        app.config.setdefault(key, value)
    api = FieldcaseApi(app)
    api.spec.components.security_scheme(
        "session", {"type": "apiKey", "in": "cookie", "name": "fieldcase_session"})
    for module in (health, session, cases, visits, evidence, standards):
        for name in ("blp", "me_blp"):
            if hasattr(module, name):
                api.register_blueprint(getattr(module, name))
    from server.api.blobs import blobs_bp  # local-disk stand-in for presigned URLs

    app.register_blueprint(blobs_bp)
    register_error_handlers(app)
    app.extensions["fieldcase.api"] = api
    return api
