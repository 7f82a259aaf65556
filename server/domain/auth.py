"""Users, units, passwords and sessions."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.domain import audit
from server.domain.errors import Conflict, Invalid, NotFound, Unauthenticated
from server.domain.uow import command
from server.extensions import db
from server.models import ROLES, Unit, User, UserSession
from server.models.base import utcnow

# argon2id with the library's current defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths take the same time.
_DUMMY_HASH = _hasher.hash("fieldcase-not-a-password")
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid("user.weak_password",
                      f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.",
                      errors={"password": [f"At least {MIN_PASSWORD_LENGTH} characters."]})
    return _hasher.hash(password)


@command
def create_unit(name: str, parent_name: str | None = None) -> Unit:
    name = name.strip()
    if not name:
        raise Invalid("unit.name_required", "A unit needs a name.")
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
    user = User(username=username, password_hash=hash_password(password), role=role,
                display_name=display_name or username, units=units)
    db.session.add(user)
    db.session.flush()
    audit.append("user.created", "user", user.id, actor_id=None,
                 data={"username": username, "role": role, "units": unit_names})
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@command
def login(username: str, password: str, ttl: timedelta) -> tuple[User, str, str]:
    """Check the password and open a session: (user, cookie token, CSRF token)."""
    user = db.session.scalar(sa.select(User).filter_by(username=username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        raise Unauthenticated("auth.invalid_credentials", "Wrong username or password.")
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    db.session.add(UserSession(token_hash=_token_hash(token), user=user, csrf_token=csrf,
                               expires_at=utcnow() + ttl))
    # Expired sessions are swept here rather than by a separate job.
    db.session.execute(sa.delete(UserSession).where(UserSession.expires_at < utcnow()))
    return user, token, csrf


def resolve_session(token: str | None) -> UserSession:
    if not token:
        raise Unauthenticated("auth.required", "Please log in.")
    found = db.session.get(UserSession, _token_hash(token))
    if found is None:
        raise Unauthenticated("auth.session_expired", "Your session has ended; log in again.")
    if found.expires_at < utcnow() or not found.user.active:
        raise Unauthenticated("auth.session_expired", "Your session has ended; log in again.")
    return found


@command
def logout(token: str | None) -> None:
    if token:
        db.session.execute(sa.delete(UserSession).where(
            UserSession.token_hash == _token_hash(token)))
