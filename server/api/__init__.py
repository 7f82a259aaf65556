"""HTTP in: blueprints, schemas, problem+json errors, the OpenAPI document.

One package per domain context (accounts, cases, fieldwork, revisits, closure), each with
its routes and, beside them, their schemas; shared here: the field types (fields), the
blueprint class, problem+json errors, security (who is logged in), presenters (model ->
answer), health, and the local-disk blob routes."""

from __future__ import annotations

from flask import Flask

from server.api import health
from server.api.accounts import session
from server.api.cases import admin, cases, leaders, lifecycle
from server.api.closure import closure, verify
from server.api.fieldwork import evidence, standards, visits
from server.api.intake import imports
from server.api.intake import push as intake_push
from server.api.intake import tokens as intake_tokens
from server.api.jobs import jobs as job_routes
from server.api.ledgers import reports as ledger_reports
from server.api.ledgers import stats as ledger_stats
from server.api.problems import FieldcaseApi, register_error_handlers
from server.api.remediation import campaigns as remediation_campaigns
from server.api.remediation import hardcases
from server.api.repeats import repeats
from server.api.revisits import exports as revisit_exports
from server.api.revisits import revisits

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
    cookie = app.config["SESSION_COOKIE_NAME"]  # __Host-fieldcase when COOKIE_SECURE is on
    api.spec.components.security_scheme("session", {
        "type": "apiKey", "in": "cookie", "name": cookie,
        "description": f"The `{cookie}` cookie set by POST /api/auth/login (HttpOnly, "
                       "SameSite=Lax). Every write also needs the X-CSRF-Token header with "
                       "the token the login returned (GET /api/me returns it again)."})
    api.spec.components.security_scheme("intakeToken", {
        "type": "http", "scheme": "bearer",
        "description": "A platform's token for POST /api/intake/<source>, made by an admin "
                       "for that source (POST /api/intake-sources/<code>/tokens) and shown "
                       "once. No session cookie and no CSRF token here."})
    for module in (health, session, cases, visits, evidence, standards, lifecycle, revisits,
                   revisit_exports, closure, verify, admin, leaders, repeats, imports,
                   intake_push, intake_tokens, remediation_campaigns, hardcases,
                   ledger_reports, ledger_stats, job_routes):
        for name in ("blp", "me_blp"):
            if hasattr(module, name):
                api.register_blueprint(getattr(module, name))
    from server.api.blobs import ON_RECEIVED_KEY, blobs_bp  # local stand-in for presigned URLs

    app.register_blueprint(blobs_bp)
    app.extensions[ON_RECEIVED_KEY] = evidence.completed_on_upload
    app.register_blueprint(verify.page_bp)  # the public page /v/<code>, no API operation
    register_error_handlers(app)
    app.extensions["fieldcase.api"] = api
    return api
