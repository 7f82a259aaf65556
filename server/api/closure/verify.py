"""Photos anyone can verify over HTTP: a short code's record, a check of bytes against it,
its QR code, and the public page `/v/<code>` that uses them.

No login needed: a session cookie, when there is a live one, makes the caller that user
(and a POST then needs the CSRF token, as every write does); otherwise the caller is
nobody, rate-limited per address, and sees only published photos (server.domain.
verification decides).
"""

from __future__ import annotations

from pathlib import Path

import flask
from flask import Response, current_app, g, request, send_from_directory

from server.api.blueprint import Blueprint
from server.api.closure.schemas import VerifyCheckSchema, VerifySchema
from server.api.security import FOREIGN_SITES, load_user, session_token
from server.domain.closure import verification
from server.domain.core.errors import Unauthenticated
from server.extensions import limiter
from server.reports.qr import qr_svg

# Per address for callers not logged in (VERIFY_RATE_LIMIT; the check reads and hashes
# up to MAX_UPLOAD_BYTES, so it has a tighter limit of its own), per user for those logged
# in (VERIFY_USER_RATE_LIMIT: higher, for the office checking photos; per user, as an
# office behind one address is many users). App config keys of those names.

blp = Blueprint("verify", __name__, url_prefix="/api",
                description="Photos anyone can verify: a printed short code resolved, "
                            "without login for published photos.")
# The public page is no API operation: a plain blueprint (server.api.register_api).
page_bp = flask.Blueprint("verify_page", __name__)
PAGE_DIR = Path(__file__).resolve().parents[2] / "verify_page"
PAGE_ASSETS = frozenset({"verify.js", "verify.css"})
# The code as documented: printed XXXX-XXXX; lower case, a space or no hyphen are read the
# same (anything else is the same 404 as an unknown code).
CODE_PARAM = {"in": "path", "name": "code", "required": True,
              "description": "The photo's short code, e.g. 7K3M-Q9TX (Crockford base32; "
                             "lower case, a space or no hyphen accepted).",
              "schema": {"type": "string", "pattern": "^[0-9A-Za-z]{4}[- ]?[0-9A-Za-z]{4}$"}}


@blp.before_request
def load_user_if_any() -> None:
    """The logged-in user, or None. An ended session is nobody, not a 401: the public
    answer needs no login."""
    g.user = None
    if not session_token() or request.headers.get("Sec-Fetch-Site") in FOREIGN_SITES:
        return  # another site's link (a QR code's page, a chat): the public answer
    try:
        load_user()  # checks the CSRF token of a write: a logged-in POST needs it
    except Unauthenticated:
        g.user = None


def _logged_in() -> bool:
    return g.get("user") is not None


_anonymous_limit = limiter.shared_limit(
    lambda: current_app.config["VERIFY_RATE_LIMIT"],
    scope="verify", exempt_when=_logged_in)
_anonymous_check_limit = limiter.limit(
    lambda: current_app.config["VERIFY_CHECK_RATE_LIMIT"],
    exempt_when=_logged_in)
# Lookups and checks of logged-in users (the QR code looks nothing up: not counted, a
# review page shows one per photo).
_user_limit = limiter.shared_limit(
    lambda: current_app.config["VERIFY_USER_RATE_LIMIT"], scope="verify-user",
    key_func=lambda: f"user:{g.user.id}", exempt_when=lambda: not _logged_in())


@blp.route("/verify/<code>")
@_anonymous_limit
@_user_limit
@blp.doc(parameters=[CODE_PARAM])
@blp.response(200, VerifySchema)
def record(code: str):  # type: ignore[no-untyped-def]
    """What a photo's short code resolves to (lower case and no hyphen accepted): the
    evidence record for a user who may see the case; for anyone else the public answer,
    only when the photo is in the published seal of a closed case; otherwise 404
    `verify.not_found`, the same for unknown, malformed and unpublished codes."""
    return verification.lookup(g.user, code)


@blp.route("/verify/<code>/check", methods=["POST"])
@_anonymous_limit
@_anonymous_check_limit
@_user_limit
@blp.doc(parameters=[CODE_PARAM],
         requestBody={"required": True, "description": "The photo's bytes, as they are.",
                      "content": {"application/octet-stream": {
                          "schema": {"type": "string", "format": "binary"}}}})
@blp.response(200, VerifyCheckSchema)
def check(code: str):  # type: ignore[no-untyped-def]
    """Whether these bytes are the photo's: hashed as they stream in, never stored. At
    most MAX_UPLOAD_BYTES (413 `verify.too_large`); the same visibility as GET."""
    return verification.check(g.user, code, request.stream, request.content_length)


@blp.route("/verify/<code>/qr.svg")
@_anonymous_limit
@blp.doc(parameters=[CODE_PARAM],
         responses={"200": {"description": "The QR code of the photo's verify URL.",
                            "content": {"image/svg+xml": {"schema": {"type": "string"}}}}})
def qr(code: str) -> Response:
    """The QR code (SVG) of the code's public page `<base>/v/<code>`. It holds only that
    URL, so any well-formed code gets one, whether it exists or not."""
    url = verification.target_url(code)
    response = Response(qr_svg(url), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@page_bp.route("/v/<code>")
def page(code: str) -> Response:
    """The public page: static; its script asks the API about the code in the path."""
    response = send_from_directory(PAGE_DIR, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@page_bp.route("/v/assets/<name>")
def page_asset(name: str) -> Response:
    if name not in PAGE_ASSETS:
        flask.abort(404)
    return send_from_directory(PAGE_DIR, name, max_age=0)
