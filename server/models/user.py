"""Users, their role, and their server-side sessions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, UTCDateTime, new_id, utcnow
from server.models.unit import Unit, user_units

# A leader (领导) holds key and repeat cases (包案) and writes instructions (批示) on them.
ROLES = ("inspector", "revisit", "reviewer", "admin", "leader")


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(sa.String(80), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(120), default="")
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Notifications up to here have been seen (one mark a user, not a row a notification).
    notifications_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    units: Mapped[list[Unit]] = relationship(secondary=user_units, lazy="selectin")

    __table_args__ = (sa.CheckConstraint(f"role IN {ROLES!r}", name="role"),)


class UserSession(Base):
    """A login. The cookie holds a random token; only its SHA-256 is stored, so a leaked
    database does not hand out sessions, and logout really ends it."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # For the idle timeout and the user's list of their sessions.
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last use before the session's latest pause (auth.OFFLINE_GAP or longer): the
    # phone's last contact, before which nothing it queued offline can have been done.
    offline_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(300))

    user: Mapped[User] = relationship(lazy="joined")


class LoginThrottle(Base):
    """Wrong passwords per account name (known or not, so it reveals nothing), counted
    across every address and worker; enough of them lock the name for a while."""

    __tablename__ = "login_throttle"

    username: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_address: Mapped[str | None] = mapped_column(sa.String(64))
