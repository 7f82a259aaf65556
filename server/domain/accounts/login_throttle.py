"""Login attempts counted per account name, across every address and worker (a row in
the database, so no shared cache is needed): past LOGIN_MAX_FAILURES attempts without a
right password within LOGIN_FAILURE_WINDOW_MIN the name is locked for LOGIN_LOCKOUT_MIN,
during which even the right password is refused with the time to come back. An admin can
unlock it sooner. Names that do not exist are counted the same way, so a lock reveals
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from server.domain.accounts import scope
from server.domain.accounts.roles import ADMIN_ROLES, require_role
from server.domain.audit import audit
from server.domain.core import runtime
from server.domain.core.errors import TooMany
from server.domain.core.uow import command
from server.extensions import db
from server.models import LoginThrottle, User


def key(username: str) -> str:
    return username.strip().lower()[:80]


def _limits() -> tuple[int, timedelta, timedelta]:
    return (runtime.setting("LOGIN_MAX_FAILURES"),
            timedelta(minutes=runtime.setting("LOGIN_FAILURE_WINDOW_MIN")),
            timedelta(minutes=runtime.setting("LOGIN_LOCKOUT_MIN")))


def locked(until: datetime, now: datetime) -> TooMany:
    wait = max(1, int((until - now).total_seconds()) + 1)
    return TooMany("auth.locked",
                   "Too many wrong passwords for this account. Try again after the time "
                   "given, or ask an admin to unlock it.",
                   extra={"retry_at": until.isoformat(), "retry_after_s": wait})


def count_attempt(username: str, address: str | None, now: datetime) -> datetime | None:
    """Count an attempt before its password is checked (a helper: the caller commits at
    once). Counting first makes the limit exact under concurrency: attempts arriving
    together each take a number, and those past LOGIN_MAX_FAILURES are never checked, so
    no right password slips through a lock being set. A right password clears the count
    (clear). Answers the end of the lock if the name is locked, now or by this attempt."""
    name, (most, window, lockout) = key(username), _limits()
    table = LoginThrottle.__table__
    row = table.c
    unlocked = sa.or_(row.locked_until.is_(None), row.locked_until <= now)
    # Another attempt may commit the row between any two statements here (READ COMMITTED):
    # each statement is written so that a row it did not see is counted on the next pass,
    # never overwritten.
    for _ in range(5):
        counted = db.session.execute(
            table.update().where(row.username == name, unlocked,
                                 row.first_failed_at >= now - window)
            .values(failures=row.failures + 1, last_address=address)).rowcount
        if not counted:  # its window is over: start again (only then)
            counted = db.session.execute(
                table.update().where(row.username == name, unlocked,
                                     row.first_failed_at < now - window)
                .values(failures=1, first_failed_at=now, locked_until=None,
                        last_address=address)).rowcount
        if counted:
            break
        state = db.session.execute(sa.select(unlocked).where(row.username == name)).first()
        if state is not None:
            if not state[0]:
                break  # locked: nothing to count
            continue  # made by a concurrent attempt since the updates: count on it
        try:
            with db.session.begin_nested():
                db.session.execute(table.insert().values(
                    username=name, failures=1, first_failed_at=now, last_address=address))
            break
        except IntegrityError:
            continue
    db.session.execute(
        table.update().where(row.username == name, unlocked, row.failures > most)
        .values(locked_until=now + lockout, failures=0, first_failed_at=now))
    # Forget names whose window is long over and that are not locked (a spray of made-up
    # names must not grow the table for ever).
    db.session.execute(table.delete().where(
        row.first_failed_at < now - window - lockout, unlocked))
    until = db.session.execute(sa.select(row.locked_until).where(row.username == name)
                               ).scalar()
    if until is not None and until.tzinfo is None:  # SQLite keeps naive UTC
        until = until.replace(tzinfo=UTC)
    return until if until is not None and until > now else None


def clear(username: str) -> None:
    """After a right password (a helper: no commit)."""
    db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.username == key(username)))


@command
def unlock_user(admin: User, user_id: str) -> bool:
    """An admin lifts a person's lock now: only a person of the admin's units (anybody else
    is the same 404 as nobody). True if one was there."""
    require_role(admin, ADMIN_ROLES, "auth.forbidden", "Only an admin may unlock an account.")
    return _lift(scope.get_person(admin, user_id).username, admin.id)


@command
def unlock(username: str) -> bool:
    """Lift a lock now from the command line (the operator). True if one was there."""
    return _lift(username, None)


def _lift(username: str, actor_id: str | None) -> bool:
    """Helper: no commit."""
    gone = db.session.execute(sa.delete(LoginThrottle).where(
        LoginThrottle.username == key(username))).rowcount
    audit.append("security.unlocked", "user", key(username)[:36], actor_id=actor_id,
                 data={"username": key(username), "had_lock": bool(gone)})
    return bool(gone)
