"""Login, logout, who am I."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from flask import current_app, g, jsonify, request
from flask.views import MethodView

from server.api.accounts.schemas import LoginResultSchema, LoginSchema, MeSchema, SessionListSchema
from server.api.blueprint import Blueprint
from server.api.problems import ProblemSchema
from server.api.rate_limits import fail_closed
from server.api.security import load_user, session_token
from server.domain.accounts import auth, login_throttle, scope
from server.domain.core.errors import Unauthenticated
from server.extensions import limiter

blp = Blueprint("session", __name__, url_prefix="/api",
                description="Log in and out; the session cookie and CSRF token.")
me_blp = Blueprint("me", __name__, url_prefix="/api", description="The logged-in user.")
me_blp.before_request(lambda: load_user(with_units=True))  # present_user shows them


def present_user(user) -> dict:  # type: ignore[no-untyped-def]
    return {"id": user.id, "username": user.username, "display_name": user.display_name,
            "role": user.role, "units": [{"id": u.id, "name": u.name} for u in user.units],
            "sees_every_unit": scope.sees_everything(user)}


@blp.route("/auth/login", methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
@fail_closed  # Redis down: 503, never an uncounted guess (server/api/rate_limits.py)
@blp.arguments(LoginSchema)
@blp.response(200, LoginResultSchema)
@blp.alt_response(503, schema=ProblemSchema, content_type="application/problem+json",
                  description="The shared rate-limit store (Redis) is unreachable: the "
                  "login limit fails closed (`request.limits_unavailable`, Retry-After).")
def login(data: dict):  # type: ignore[no-untyped-def]
    """Log in: sets the session cookie and returns the CSRF token for writes."""
    ttl = timedelta(hours=current_app.config["SESSION_TTL_HOURS"])
    user, token, csrf = auth.login(data["username"], data["password"], ttl,
                                   address=request.remote_addr,
                                   user_agent=request.headers.get("User-Agent"))
    response = jsonify({"user": present_user(user), "csrf_token": csrf})
    response.set_cookie(current_app.config["SESSION_COOKIE_NAME"], token,
                        max_age=int(ttl.total_seconds()), httponly=True,
                        secure=current_app.config["COOKIE_SECURE"], samesite="Lax", path="/")
    return response


@blp.route("/auth/logout", methods=["POST"])
@blp.response(204)
def logout():  # type: ignore[no-untyped-def]
    """Log out: ends the session on the server too.

    A live session's logout is a write like any other and needs the CSRF token (403
    `auth.csrf_failed`), so another site cannot end it; with no live session (none,
    expired, ended) there is nothing to protect: 204 with the cookie cleared, so an app
    whose session ran out still ends up logged out."""
    with contextlib.suppress(Unauthenticated):
        load_user()
    auth.logout(session_token(), address=request.remote_addr)
    response = current_app.response_class(status=204)
    response.delete_cookie(current_app.config["SESSION_COOKIE_NAME"], path="/",
                           secure=current_app.config["COOKIE_SECURE"], httponly=True,
                           samesite="Lax")
    return response


@me_blp.route("/me")
class Me(MethodView):
    @me_blp.response(200, MeSchema)
    def get(self):  # type: ignore[no-untyped-def]
        """The logged-in user, with the CSRF token (a reloaded page gets it again here)."""
        return {**present_user(g.user), "csrf_token": g.user_session.csrf_token}


@me_blp.route("/me/sessions")
class MySessions(MethodView):
    @me_blp.response(200, SessionListSchema)
    def get(self):  # type: ignore[no-untyped-def]
        """The user's open sessions (phones and browsers), newest first."""
        current = auth.session_id(g.user_session)
        return {"items": [{"id": auth.session_id(s), "created_at": s.created_at,
                           "last_seen_at": s.last_seen_at, "address": s.address,
                           "user_agent": s.user_agent, "current": auth.session_id(s) == current}
                          for s in auth.sessions_of(g.user)]}


@me_blp.route("/me/sessions/<sid>", methods=["DELETE"])
@me_blp.response(204)
def revoke_session(sid: str):  # type: ignore[no-untyped-def]
    """End one of the user's sessions now (a lost phone): its next request is refused."""
    auth.revoke_session(g.user, sid)
    return current_app.response_class(status=204)


@me_blp.route("/users/<user_id>/unlock", methods=["POST"])
@me_blp.response(204)
def unlock_user(user_id: str):  # type: ignore[no-untyped-def]
    """Lift a login lock (too many wrong passwords) before it ends by itself (admin).

    Only a person of the admin's units: anybody else is the same 404 as nobody."""
    login_throttle.unlock_user(g.user, user_id)
    return current_app.response_class(status=204)
