"""Users, units, passwords and sessions."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import joinedload

from server.domain.accounts import login_throttle
from server.domain.audit import audit
from server.domain.core import runtime, text
from server.domain.core.errors import Conflict, Invalid, NotFound, Unauthenticated
from server.domain.core.uow import command, transaction
from server.extensions import db
from server.models import ROLES, Unit, User, UserSession
from server.models.base import utcnow

# argon2id with the library's current defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("fieldcase-not-a-password")
MIN_PASSWORD_LENGTH = 8


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def hash_password(password: str, username: str = "") -> str:
    """NIST SP 800-63B: a length floor and a check against the commonest passwords and the
    account's own name; no composition rules."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("user.weak_password",
                      f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.",
                      errors={"password": [f"At least {MIN_PASSWORD_LENGTH} characters."]})
    lowered = password.lower()
    if lowered in _common_passwords() or (username and username.lower() in lowered):
        raise Invalid("user.common_password",
                      "That password is among the commonest or contains the user name; "
                      "choose another.",
                      errors={"password": ["Too common or too easy to guess."]})
    return _hasher.hash(password)


def _check_text(code: str, values: dict[str, tuple[str, int]]) -> None:
    """Names typed at the CLI follow the API's text rule: they are shown on every screen."""
    errors = {field: [wrong] for field, (value, max_len) in values.items()
              if (wrong := text.checked(value, max_len))}
    if errors:
        raise Invalid(code, "; ".join(f"{k}: {v[0]}" for k, v in errors.items()),
                      errors=errors)


@command
def create_unit(name: str, parent_name: str | None = None) -> Unit:
    name = name.strip()
    if not name:
        raise Invalid("unit.name_required", "A unit needs a name.")
    _check_text("unit.bad_name", {"name": (name, 200)})
    if db.session.scalar(sa.select(Unit).filter_by(name=name)):
        raise Conflict("unit.exists", f"A unit named {name!r} exists already.")
    parent = None
    if parent_name:
        parent = db.session.scalar(sa.select(Unit).filter_by(name=parent_name))
        if parent is None:
            raise NotFound("unit.not_found", f"No unit named {parent_name!r}.")
    unit = Unit(name=name, parent=parent)
    db.session.add(unit)
    db.session.flush()
    audit.append("unit.created", "unit", unit.id, actor_id=None, data={"name": name})
    return unit


@command
def create_user(username: str, password: str, role: str, unit_names: list[str],
                display_name: str = "") -> User:
    if role not in ROLES:
        raise Invalid("user.bad_role", f"Role must be one of {', '.join(ROLES)}.")
    _check_text("user.bad_name", {"username": (username, 80),
                                  "display_name": (display_name, 120)})
    if not unit_names:
        raise Invalid("user.unit_required", "A user belongs to at least one unit.")
    if db.session.scalar(sa.select(User).filter_by(username=username)):
        raise Conflict("user.exists", f"User {username!r} exists already.")
    units = []
    for name in unit_names:
        unit = db.session.scalar(sa.select(Unit).filter_by(name=name))
        if unit is None:
            raise NotFound("unit.not_found", f"No unit named {name!r}.")
        units.append(unit)
    user = User(username=username, password_hash=hash_password(password, username), role=role,
                display_name=display_name or username, units=units)
    db.session.add(user)
    db.session.flush()
    audit.append("user.created", "user", user.id, actor_id=None,
                 data={"username": username, "role": role, "units": unit_names})
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(username: str, password: str, ttl: timedelta, *, address: str | None = None,
          user_agent: str | None = None) -> tuple[User, str, str]:
    """Check the password and open a session: (user, cookie token, CSRF token). Every
    attempt is counted against the account name first (login_throttle); a right password
    clears the count, a wrong one is recorded with its address."""
    now = utcnow()
    with transaction():  # counted and committed before the (slow) password check
        until = login_throttle.count_attempt(username, address, now)
    if until is not None:
        raise login_throttle.locked(until, now)
    user = db.session.scalar(sa.select(User).filter_by(username=username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        name = login_throttle.key(username)
        audit.record("security.login_failed", "user", name[:36], actor_id=None,
                     data={"username": name, "address": address})
        raise Unauthenticated("auth.invalid_credentials", "Wrong username or password.")
    return _open_session(user, password, ttl, address, user_agent, now)


@command
def _open_session(user: User, password: str, ttl: timedelta, address: str | None,
                  user_agent: str | None, now: datetime) -> tuple[User, str, str]:
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    login_throttle.clear(user.username)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    agent = (user_agent or "")[:300] or None
    # A phone logging in again (its session ended while it was offline) keeps its last
    # contact: what it queued before this login still counts as done when it was done.
    before = db.session.scalar(sa.select(sa.func.max(UserSession.last_seen_at)).where(
        UserSession.user_id == user.id, UserSession.user_agent == agent)) if agent else None
    db.session.add(UserSession(token_hash=_token_hash(token), user=user, csrf_token=csrf,
                               expires_at=now + ttl, last_seen_at=now, address=address,
                               user_agent=agent, offline_since=before))
    # Expired sessions are swept here rather than by a separate job.
    db.session.execute(sa.delete(UserSession).where(UserSession.expires_at < now))
    audit.append("security.login", "user", user.id, actor_id=user.id,
                 data={"address": address})
    return user, token, csrf


# The session's last use is written at most this often (not on every request).
SEEN_EVERY = timedelta(minutes=1)
# A session unused this long has paused (offline, or put away): its last use before that
# is the phone's last contact (UserSession.offline_since).
OFFLINE_GAP = timedelta(minutes=5)


def session_id(found: UserSession) -> str:
    """What the user sees of a session: a prefix of the token's hash (never the token)."""
    return found.token_hash[:24]


# On every request: the session and its user in one statement, built once. Not the user's
# units unless asked for: the scope reads them with the unit tree (scope._scope), and few
# requests read them otherwise (loaded then, when asked for).
_BY_TOKEN = sa.select(UserSession).where(UserSession.token_hash == sa.bindparam("token_hash"))
_SESSION_BY_TOKEN = _BY_TOKEN.options(joinedload(UserSession.user).lazyload(User.units))
_SESSION_WITH_UNITS = _BY_TOKEN.options(joinedload(UserSession.user).joinedload(User.units))


def resolve_session(token: str | None, *, with_units: bool = False) -> UserSession:
    """The live session of this token. `with_units`: the user's units loaded with it (for
    a request that shows them: who am I)."""
    if not token:
        raise Unauthenticated("auth.required", "Please log in.")
    params = {"token_hash": _token_hash(token)}
    found = (db.session.scalars(_SESSION_WITH_UNITS, params).unique().one_or_none()
             if with_units else db.session.scalar(_SESSION_BY_TOKEN, params))
    if found is None:
        raise Unauthenticated("auth.session_expired", "Your session has ended; log in again.")
    now = utcnow()
    idle = timedelta(minutes=runtime.setting("SESSION_IDLE_MINUTES"))
    last = found.last_seen_at or found.created_at
    if found.expires_at < now or not found.user.active or last < now - idle:
        raise Unauthenticated("auth.session_expired", "Your session has ended; log in again.")
    if now - last > SEEN_EVERY:
        with transaction():
            if now - last >= OFFLINE_GAP:
                found.offline_since = last
            found.last_seen_at = now
    return found


def last_contact(found: UserSession) -> datetime:
    """The phone's last contact with the server before its latest pause (or its login):
    an action it queued offline was done after it, or it would have been sent then.
    Written at most every SEEN_EVERY, so it may be that much early: on the phone's side.
    A session opened again on the same device (user agent) starts from the last contact
    of the one before; otherwise the login is the bound."""
    return found.offline_since or found.created_at


@command
def logout(token: str | None, *, address: str | None = None) -> None:
    if token:
        found = db.session.get(UserSession, _token_hash(token))
        if found is not None:
            db.session.delete(found)
            audit.append("security.logout", "user", found.user_id, actor_id=found.user_id,
                         data={"address": address})


def sessions_of(user: User) -> list[UserSession]:
    return list(db.session.scalars(sa.select(UserSession).where(
        UserSession.user_id == user.id, UserSession.expires_at > utcnow())
        .order_by(UserSession.created_at.desc())))


@command
def revoke_session(user: User, sid: str) -> None:
    """End one of the user's own sessions (a lost phone)."""
    found = next((s for s in sessions_of(user) if session_id(s) == sid), None)
    if found is None:
        raise NotFound("session.not_found", "No such session.")
    db.session.delete(found)
    audit.append("security.session_revoked", "user", user.id, actor_id=user.id,
                 data={"session": sid})


def _named(username: str) -> User:
    user = db.session.scalar(sa.select(User).filter_by(username=username))
    if user is None:
        raise NotFound("user.not_found", f"No user named {username!r}.")
    return user


@command
def revoke_sessions(username: str) -> int:
    """End every session of a user (the operator's CLI)."""
    user = _named(username)
    ended = db.session.execute(sa.delete(UserSession).where(
        UserSession.user_id == user.id)).rowcount
    audit.append("security.sessions_revoked", "user", user.id, actor_id=None,
                 data={"sessions": ended})
    return ended


@command
def deactivate_user(username: str) -> int:
    """No more logins, and every open session ends now (the operator's CLI)."""
    user = _named(username)
    user.active = False
    ended = db.session.execute(sa.delete(UserSession).where(
        UserSession.user_id == user.id)).rowcount
    audit.append("user.deactivated", "user", user.id, actor_id=None,
                 data={"sessions": ended})
    return ended
