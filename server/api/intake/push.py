"""The push API platforms call: `POST /api/intake/<source>` with `Authorization: Bearer
<token>`, a token an admin made for that source (server.api.intake.tokens).

No session here: a session cookie is never read (it grants nothing, so there is no CSRF
to check either), only the bearer token. Every refusal is audited (`intake.refused`,
in its own transaction, with the reason and the client's address; never the token, never
the body's personal data) and every success too (`intake.pushed`). Refused calls count
against a limit per client address (INTAKE_REFUSAL_RATE_LIMIT), so tokens cannot be tried
by the thousand (nor the audit log flooded). The token is checked first and only a refused
one is counted: a platform with a good token is never held off by others' wrong ones from
the same address (a NAT, a government gateway). Only calls that reached the token check
are audited; a request refused before it (a NUL in the path, a JSON body over
MAX_JSON_BYTES, a wrong method) is written to the app's log instead, so no caller without
a token can write more than the limit's worth of entries into the audit log.

An unknown source is answered as a wrong token (401, the same body): a caller without a
good token learns nothing, not even which sources exist; the audit entry tells the admin
which it was (unknown_source, other_source, revoked_token...).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, request
from limits import parse

from server.api.blueprint import Blueprint
from server.api.intake.push_schemas import PUSH_EXAMPLE, PushedSchema, PushSchema
from server.api.problems import ProblemSchema
from server.api.rate_limits import warn_store_down
from server.domain.audit import audit
from server.domain.core.errors import TooLarge, TooMany, Unauthenticated
from server.domain.intake import push as pushes
from server.domain.intake import tokens
from server.extensions import db, limiter

log = logging.getLogger(__name__)
REPLAY_HEADER = "Idempotent-Replayed"
PROBLEM = "application/problem+json"
# A bearer challenge (RFC 6750) instead of the app's cookie one.
CHALLENGE = 'Bearer realm="fieldcase-intake"'

blp = Blueprint("intake_push", __name__, url_prefix="/api",
                description="Cases pushed by the hotline platforms, with a per-source token.")

SOURCE_PARAM = {"in": "path", "name": "source", "required": True,
                "description": "The source's code, e.g. hotline_12345.",
                "schema": {"type": "string", "maxLength": 40}}


@blp.before_request
def _nobody_yet() -> None:
    # intake_checked: the call reached the token check (only those are audited).
    g.intake_caller, g.intake_refusal, g.intake_checked = None, None, False


def bearer_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Before the body is read: who is pushing, by the bearer token only (the session
    cookie is not looked at), a refused token counted against the address's limit; then
    the body's size."""

    @functools.wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        authenticate()
        return view(*args, **kwargs)

    return run


def authenticate() -> None:
    code = str((request.view_args or {}).get("source", ""))
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    g.intake_checked = True
    try:
        g.intake_caller = tokens.authenticate(
            code, token.strip() if scheme.lower() == "bearer" else None)
    except tokens.Refused as refused:
        _count_refusal()
        g.intake_refusal = refused.reason
        raise Unauthenticated("intake.unauthorized",
                              "A valid token for this source is needed: Authorization: "
                              "Bearer <token>.") from None
    _cap_body()


REFUSAL_SCOPE = "intake_refused"


def _count_refusal() -> None:
    """A refused token counts against its address (flask-limiter's storage, hit by hand:
    a route limit would also hold off good tokens); past the limit, 429 (not audited)."""
    if not limiter.enabled:
        return
    item = parse(current_app.config["INTAKE_REFUSAL_RATE_LIMIT"])
    address = request.remote_addr or "-"
    try:
        if limiter.limiter.hit(item, REFUSAL_SCOPE, address):
            return
        reset_at = limiter.limiter.get_window_stats(item, REFUSAL_SCOPE, address).reset_time
    except Exception:  # the limiter's store (Redis) is down: still a 401, never a 500
        # Fails open: a token is 256 random bits, and a platform's good pushes must not
        # wait on Redis (server/api/rate_limits.py).
        warn_store_down("a refused push was not counted")
        return
    raise TooMany("request.rate_limited",
                  "Too many refused pushes from this address; try again later.",
                  extra={"retry_after_s": max(1, int(reset_at - time.time()) + 1)})


def _cap_body() -> None:
    """A case is a few kilobytes: bodies past INTAKE_MAX_BODY_BYTES are refused (413)
    before they are read (a chunked one is read no further than the cap)."""
    cap = current_app.config["INTAKE_MAX_BODY_BYTES"]
    if request.content_length is not None:
        over = request.content_length > cap
    else:
        request.max_content_length = cap + 1
        over = len(request.get_data(cache=True)) > cap
    if over:
        raise TooLarge("intake.too_large", f"A pushed case may be at most {cap} bytes.",
                       params={"limit": cap})


@blp.after_request
def audit_refusal(response: Response) -> Response:
    """Every refused push that reached the token check (4xx but the rate limit's 429,
    which would let a flood fill the log) gets an entry of its own, committed after
    whatever the request began was rolled back. One refused before (by the app's checks,
    never counted by the limit) is only logged."""
    status = response.status_code
    if status == 401:
        response.headers["WWW-Authenticate"] = CHALLENGE
    if not 400 <= status < 500 or status == 429:
        return response
    problem = response.get_json(silent=True) or {}
    if not g.get("intake_checked"):
        current_app.logger.warning(
            "push refused before the token check: %s %s from %s (%s)", status,
            problem.get("code"), request.remote_addr, request.path[:120].encode(
                "unicode_escape").decode("ascii"))
        return response
    caller = g.get("intake_caller")
    source = str((request.view_args or {}).get("source", ""))[:40]
    data = {"source": source, "status": status, "code": problem.get("code"),
            "reason": g.get("intake_refusal") or problem.get("code"),
            "address": request.remote_addr,
            "token": caller.prefix if caller else None}
    if isinstance(problem.get("errors"), dict):
        data["fields"] = sorted(problem["errors"])[:20]  # which fields, never their values
    if problem.get("code") == "intake.unknown_category":
        data["category"] = str(problem.get("category", ""))[:120]  # for the office to map
    try:
        db.session.rollback()
        audit.record("intake.refused", "intake_source", caller.source_id if caller else "-",
                     actor_id=None, data=data)
    except Exception:  # the refusal stands even if it cannot be recorded
        db.session.rollback()
        log.exception("could not record a refused push")
    return response


@blp.route("/intake/<source>", methods=["POST"])
@bearer_only
@blp.doc(security=[{"intakeToken": []}], parameters=[SOURCE_PARAM])
@blp.arguments(PushSchema, example=PUSH_EXAMPLE)
@blp.response(201, PushedSchema, description="The case was created.")
@blp.alt_response(200, schema=PushedSchema, description=(
    "A replay: this source's reference was pushed before; the first answer, unchanged "
    "(nothing created or changed)."), headers={REPLAY_HEADER: {
        "description": "`true` on a replay.", "schema": {"type": "string"}}})
@blp.alt_response(401, schema=ProblemSchema, content_type=PROBLEM, description=(
    "No token, or not a live token of this source (or no such source: the same answer). "
    "Audited."))
@blp.alt_response(413, schema=ProblemSchema, content_type=PROBLEM,
                  description="The body is larger than INTAKE_MAX_BODY_BYTES.")
@blp.alt_response(429, schema=ProblemSchema, content_type=PROBLEM, description=(
    "Too many refused tokens from this address (INTAKE_REFUSAL_RATE_LIMIT); Retry-After "
    "says when to come back. A push with a good token is never held off."))
def push(data: dict, source: str):  # type: ignore[no-untyped-def]
    """A case from a platform, created once per reference.

    Idempotent on (source, `external_ref`): pushing a reference again (a retry after a
    timeout, a replay, two pushes at once) creates nothing and answers 200 with the first
    answer and `Idempotent-Replayed: true`. The category and unit are the platform's
    names, mapped by the source's tables as a sheet's are; a case naming no unit we know
    goes to the source's default unit. Refused: 401 (token), 413 (size), 422 (body, an
    unmapped category `intake.unknown_category`, no unit `intake.no_unit`), 429."""
    result, replayed = pushes.push(g.intake_caller, data)
    if replayed:
        return result, 200, {REPLAY_HEADER: "true"}
    return result
