"""One problem+json shape (RFC 9457) for every error under /api/, with stable dotted codes."""

from __future__ import annotations

import http
import logging
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, Response, current_app, g, has_request_context, json, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from marshmallow import INCLUDE, Schema, fields
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    StatementError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from server.domain.audit import audit
from server.domain.core import problem_text
from server.domain.core.errors import DomainError
from server.extensions import db
from server.observability import metrics, request_id
from server.storage import StorageError

PROBLEM_BASE = "https://fieldcase.dev/problems/"
log = logging.getLogger(__name__)

# Codes for HTTP errors that no domain rule raised (routing, parsing, limits).
HTTP_CODES = {
    400: "request.bad", 401: "auth.required", 403: "auth.forbidden", 404: "route.not_found",
    405: "request.method_not_allowed", 409: "request.conflict", 411: "request.length_required",
    413: "request.too_large", 415: "request.unsupported_media_type",
    422: "request.invalid", 429: "request.rate_limited", 503: "service.unavailable",
}


def problem(status: int, code: str, title: str, detail: str | None = None, *,
            errors: dict | None = None, headers: dict[str, str] | None = None,
            params: dict[str, Any] | None = None, **extra: Any) -> Response:
    """The problem+json answer. `detail` stays the server's English (older clients read
    it); `messages` says it in both languages from the one code table, `message` in the
    language the request prefers, and `errors_zh` the per-field messages in Chinese."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status,
                            "code": code, "detail": detail or title}
    said = problem_text.messages(code, status, {**extra, **(params or {})})
    body["messages"] = said
    accept = request.headers.get("Accept-Language") if has_request_context() else None
    body["message"] = said[problem_text.preferred(accept)]
    if errors:
        body["errors"] = errors
        body["errors_zh"] = problem_text.errors_zh(errors)
    body.update(extra)
    # The id of this request, also in the X-Request-ID header and every log line of it:
    # the app shows it under the message, so a screenshot finds the log lines.
    body["request_id"] = request_id.current_id()
    response = Response(json.dumps(body, ensure_ascii=False), status=status,
                        mimetype="application/problem+json")
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten_messages(messages: dict) -> dict:
    """webargs nests errors by location ({"json": {...}}); clients want the fields."""
    flat: dict = {}
    for location, found in messages.items():
        if isinstance(found, dict):
            flat.update(found)
        else:
            flat[location] = found
    return flat


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error under /api/ is answered; a problem may
    carry more members (the allowed actions, what changed, when to retry)."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(metadata={"description": "A URL naming the problem kind"})
    title = fields.String()
    status = fields.Integer()
    code = fields.String(metadata={"description": "A stable dotted code, e.g. case.not_found"})
    detail = fields.String()
    errors = fields.Dict(metadata={"description": "Per field, what is wrong (422)"})
    errors_zh = fields.Dict(metadata={"description": "The same per-field messages in Chinese"})
    messages = fields.Dict(metadata={
        "description": "The message in Chinese and English: {\"zh\": ..., \"en\": ...}"})
    message = fields.String(metadata={
        "description": "The message in the language Accept-Language prefers (zh unless en "
                       "ranks higher)"})
    request_id = fields.String(allow_none=True, metadata={
        "description": "This request's id, as in the X-Request-ID header and the server's "
                       "log lines (the app shows it as 编号 Ref)"})


class FieldcaseApi(Api):
    """flask-smorest's Api, answering every HTTP error as problem+json, and documenting
    them so."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # As flask-smorest's own, but errors are application/problem+json.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, "application/problem+json")
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, "application/problem+json")
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def handle_http_exception(self, error: HTTPException) -> Response:
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        messages = data.get("messages")
        if status == 422 and messages:
            return problem(422, "request.invalid", "Some fields are not valid.",
                           "Check the fields listed in errors.",
                           errors=_flatten_messages(messages))
        headers = dict(getattr(error, "headers", None) or {})
        # RFC 9110: a 405 names the methods the resource has.
        headers.update({k: v for k, v in error.get_headers() if k == "Allow"})
        if error.response is not None:  # e.g. flask-limiter's 429
            headers.update({k: v for k, v in error.response.headers.items()
                            if k.lower().startswith(("retry-after", "x-ratelimit"))})
        return problem(status, HTTP_CODES.get(status, f"http.{status}"),
                       error.name, error.description, headers=headers)


def refuse_nul() -> Response | None:
    """before_request for the whole app: a NUL in the path or the query string (%00) would
    reach a query as text, which PostgreSQL refuses; answer 400 before any route runs."""
    if "\x00" in request.path or b"\x00" in unquote_to_bytes(request.query_string):
        return problem(400, "request.bad", "Bad request",
                       "The address contains a NUL character.")
    return None


def cap_json_body() -> Response | None:
    """before_request: a JSON body may be at most MAX_JSON_BYTES (photo bytes, which are
    not JSON, keep their own limit). A declared length over it is refused before anything
    is read; a body without one (chunked) is read no further than the cap."""
    if not request.is_json:
        return None
    cap = current_app.config["MAX_JSON_BYTES"]
    if request.content_length is not None:
        over = request.content_length > cap
    else:
        # Chunked: Werkzeug stops reading at the maximum without saying so, so read one
        # byte past the cap here (kept for the route) and refuse if it came.
        request.max_content_length = cap + 1
        over = len(request.get_data(cache=True)) > cap
    if not over:
        return None
    return problem(413, "request.too_large", "Request body too large",
                   f"A JSON body may be at most {cap} bytes.")


def _record_refusal(error: DomainError) -> None:
    """A refused access (403) is a security event: who, what, from where. Whatever the
    request had begun is rolled back first, so only the record is written."""
    user = getattr(g, "user", None)
    db.session.rollback()
    try:
        audit.record("security.refused", "user", user.id if user else "-",
                     actor_id=user.id if user else None,
                     data={"method": request.method, "path": request.path[:300],
                           "code": error.code, "address": request.remote_addr})
    except Exception:  # the refusal stands even if it cannot be recorded
        db.session.rollback()
        log.exception("could not record a refused access")


def register_error_handlers(app: Flask) -> None:
    app.before_request(refuse_nul)
    app.before_request(cap_json_body)

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(error: Exception) -> Response:
        # The database is down, restarting, failing over or out of connections: the
        # client's retry will do (the phone's outbox retries on its own), so say when.
        try:
            db.session.rollback()
        except Exception:  # the connection is gone; the pool drops it
            log.debug("rollback on a lost connection", exc_info=True)
        log.warning("database unavailable: %s", error)
        metrics.count_database_error(error)
        return problem(503, "database.unavailable", "The database is not reachable.",
                       "Nothing was saved; try again in a moment.",
                       headers={"Retry-After": "30"})

    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        if error.status_hint == 403:
            _record_refusal(error)
        headers = {"WWW-Authenticate": 'Cookie realm="fieldcase"'} \
            if error.status_hint == 401 else {}
        extra = dict(error.extra)
        if "retry_after_s" in extra:  # a limit: say when to come back
            headers["Retry-After"] = str(extra.pop("retry_after_s"))
        return problem(error.status_hint, error.code, error.detail, errors=error.errors,
                       headers=headers, params=error.params, **extra)

    @app.errorhandler(StorageError)
    def _storage(error: StorageError) -> Response:
        log.warning("object store failure: %s", error)
        metrics.count_storage_error("unavailable")
        return problem(503, "storage.unavailable", "The photo store is not reachable.",
                       "Nothing was lost: keep the item and try again in a minute.",
                       headers={"Retry-After": "60"})

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError) -> Response:
        # A constraint caught what validation could not (a concurrent insert): no partial
        # write survives the rollback, and the client may simply retry.
        db.session.rollback()
        log.warning("integrity error: %s", error.orig)
        return problem(409, "request.conflict", "This conflicts with a record saved at "
                       "the same moment.", "Nothing was saved; try again.")

    @app.errorhandler(StatementError)
    @app.errorhandler(OverflowError)
    def _bad_value(error: Exception) -> Response:
        # The backstop for a value validation let through and the database refused: the
        # request's fault, not the server's. PostgreSQL says DataError (NUL in text, bigint
        # out of range); a column type's bind step fails as a StatementError wrapping a
        # ValueError or OverflowError; sqlite3 raises a bare OverflowError for integers
        # past 64 bits. StatementError is also the base of OperationalError and the like,
        # which stay 500s.
        bad_value = isinstance(error, DataError | OverflowError) or (
            type(error) is StatementError
            and isinstance(error.orig, ValueError | OverflowError))
        if not bad_value:
            return _unexpected(error)
        db.session.rollback()
        log.warning("value refused by the database: %s", error, exc_info=error)
        return problem(422, "request.invalid_value", "A value cannot be stored.",
                       "A value in the request is outside what can be stored; nothing was "
                       "saved.")

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):  # non-API paths keep Flask's own handling
            return error  # type: ignore[return-value]
        log.exception("unhandled error on %s %s", request.method,
                      request_id.loggable_path(request.path))
        return problem(500, "server.error", "Something went wrong on the server.",
                       "The error was logged. Nothing partial was saved; try again.")
