"""Who is calling: the session cookie, the CSRF token, the role."""

from __future__ import annotations

import hmac
from datetime import datetime

from flask import current_app, g, request

from server.domain.accounts import auth
from server.domain.core.errors import Forbidden
from server.models import User
from server.observability import request_id

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
# What a browser says of a request another site started (Fetch Metadata). The session
# cookie is SameSite=Lax, so a link or a redirect on another site still carries it: a GET
# that writes (a public closure file publishes its seals, a download is audited) must not
# be made in the user's name by someone else's page. The app's own requests are
# same-origin, a typed or bookmarked address "none"; clients without browsers send none.
FOREIGN_SITES = frozenset({"cross-site", "same-site"})


def session_token() -> str | None:
    return request.cookies.get(current_app.config["SESSION_COOKIE_NAME"])


def load_user(*, with_units: bool = False) -> None:
    """before_request for every authenticated blueprint; `with_units` for one that shows
    the user's units (auth.resolve_session)."""
    if request.headers.get("Sec-Fetch-Site") in FOREIGN_SITES:
        raise Forbidden("request.cross_site", "This request came from another site's page; "
                        "open Fieldcase and do it there.")
    found = auth.resolve_session(session_token(), with_units=with_units)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), found.csrf_token.encode()):
            raise Forbidden("auth.csrf_failed",
                            f"Missing or wrong {CSRF_HEADER} header; log in again if needed.")
    g.user = found.user
    g.user_session = found
    request_id.set_user(found.user.id)  # later log lines of the request name the user


def current_user() -> User:
    return g.user


def last_contact() -> datetime:
    """The calling phone's last contact before its latest pause (auth.last_contact): the
    earliest an action it queued offline may count as done."""
    return auth.last_contact(g.user_session)
