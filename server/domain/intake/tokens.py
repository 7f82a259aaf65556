"""Connecting a platform that calls out: the tokens an admin makes for its source, and
where its cases go (the source's default unit and channel).

A token is 32 random bytes, shown once when made and never stored: only its SHA-256 is
kept (IntakeToken.token_hash), with its first characters to tell tokens apart. A push
finds its token by that hash (an indexed lookup) and compares in constant time.
Connecting a platform is a district-wide setting: only the district's admin does it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from server.domain.accounts.roles import require_district_admin
from server.domain.audit import audit
from server.domain.core import vocab
from server.domain.core.errors import Invalid, NotFound
from server.domain.core.uow import command
from server.domain.intake.sources import get_source
from server.extensions import db
from server.models import IntakeSource, IntakeToken, Unit, User
from server.models.base import utcnow

TOKEN_BYTES = 32
PREFIX_LEN = 8
# last_used_at is written at most once a minute per token: a platform pushing a burst
# does not rewrite (and lock) its token's row on every call.
LAST_USED_GRAIN = timedelta(minutes=1)


def _admin(user: User) -> None:
    require_district_admin(user, "intake.forbidden",
                           "Only an admin connects the hotline platforms.")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# ---- admin: tokens and the source's settings ------------------------------------------
def list_tokens(user: User, code: str) -> list[IntakeToken]:
    _admin(user)
    source = get_source(code)
    return list(db.session.scalars(sa.select(IntakeToken).where(
        IntakeToken.source_id == source.id).order_by(IntakeToken.created_at.desc(),
                                                     IntakeToken.id)))


def list_sources(user: User) -> list[tuple[IntakeSource, list[IntakeToken]]]:
    """Every source with its tokens, newest first (the admin's screen)."""
    _admin(user)
    sources = list(db.session.scalars(sa.select(IntakeSource).order_by(IntakeSource.code)))
    tokens: dict[str, list[IntakeToken]] = {s.id: [] for s in sources}
    for token in db.session.scalars(sa.select(IntakeToken).order_by(
            IntakeToken.created_at.desc(), IntakeToken.id)):
        tokens.setdefault(token.source_id, []).append(token)
    return [(s, tokens[s.id]) for s in sources]


@command
def create_token(user: User, code: str, label: str) -> tuple[IntakeToken, str]:
    """A new token for the source: (the row, the token). The token is in this answer only."""
    _admin(user)
    source = get_source(code)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = IntakeToken(source_id=source.id, label=label.strip(), token_hash=token_hash(token),
                      prefix=token[:PREFIX_LEN], created_by=user.id, created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    audit.append("intake.token_created", "intake_token", row.id, actor_id=user.id,
                 data={"source": source.code, "label": row.label, "prefix": row.prefix})
    return row, token


@command
def revoke_token(user: User, code: str, token_id: str) -> IntakeToken:
    """Refuse the token from now on; the row stays, with who revoked it and when. Revoking
    a revoked token changes nothing (and is not audited again)."""
    _admin(user)
    source = get_source(code)
    row = db.session.get(IntakeToken, token_id)
    if row is None or row.source_id != source.id:
        raise NotFound("intake.token_not_found", "This source has no such token.")
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = utcnow(), user.id
        audit.append("intake.token_revoked", "intake_token", row.id, actor_id=user.id,
                     data={"source": source.code, "label": row.label, "prefix": row.prefix})
    return row


@command
def update_source(user: User, code: str, changes: dict[str, Any]) -> IntakeSource:
    """Where a source's cases go: its default unit (for a push or row that names no unit
    we know) and the channel its cases get."""
    _admin(user)
    source = get_source(code)
    before: dict[str, Any] = {}
    if "default_unit_id" in changes:
        unit_id = changes["default_unit_id"]
        if unit_id is not None and db.session.get(Unit, unit_id) is None:
            raise Invalid("intake.bad_unit", "There is no such unit.",
                          errors={"default_unit_id": ["No such unit."]})
        before["default_unit_id"] = source.default_unit_id
        source.default_unit_id = unit_id
    if "channel" in changes:
        if changes["channel"] not in vocab.CHANNELS:
            raise Invalid("intake.bad_channel", "That is not a channel.",
                          errors={"channel": ["Not a channel."]})
        before["channel"] = source.channel
        source.channel = changes["channel"]
    db.session.flush()
    audit.append("intake.source_updated", "intake_source", source.id, actor_id=user.id,
                 data={"source": source.code, "before": before,
                       "after": {k: getattr(source, k) for k in before}})
    return source


# ---- a push: who is calling ------------------------------------------------------------
@dataclass(frozen=True)
class Caller:
    """A platform let in: its source and the token it showed (by id and prefix only)."""

    source_id: str
    source_code: str
    token_id: str
    prefix: str


class Refused(Exception):
    """The token does not open this source: `reason` says why, for the audit log only
    (the caller is told the same whatever it is)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def authenticate(code: str, token: str | None) -> Caller:
    """The caller if `token` is a live token of source `code`, else Refused(reason):
    missing_token, unknown_token, revoked_token, other_source, unknown_source."""
    if not token:
        raise Refused("missing_token")
    digest = token_hash(token)
    row = db.session.scalar(sa.select(IntakeToken).where(IntakeToken.token_hash == digest))
    # The lookup finds the row by its hash (an attacker cannot steer a hash's prefix, so
    # timing says nothing about a token); the compare is constant-time all the same.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        raise Refused("unknown_token")
    source = db.session.get(IntakeSource, row.source_id)
    if source is None:
        raise Refused("unknown_token")
    if row.revoked_at is not None:
        raise Refused("revoked_token")
    if source.code != code:
        known = db.session.scalar(sa.select(IntakeSource.id).where(IntakeSource.code == code))
        raise Refused("other_source" if known else "unknown_source")
    return Caller(source.id, source.code, row.id, row.prefix)


def touch(caller: Caller) -> None:
    """Note the token's use (a helper: the push's command commits it). One conditional
    UPDATE, a no-op within LAST_USED_GRAIN of the last one."""
    now = utcnow()
    db.session.execute(sa.update(IntakeToken).where(
        IntakeToken.id == caller.token_id,
        sa.or_(IntakeToken.last_used_at.is_(None),
               IntakeToken.last_used_at < now - LAST_USED_GRAIN))
        .values(last_used_at=now).execution_options(synchronize_session=False))


def source_of(caller: Caller) -> IntakeSource:
    source = db.session.get(IntakeSource, caller.source_id)
    if source is None:  # deleted since the token was checked
        raise NotFound("intake.unknown_source", "There is no such intake source.")
    return source
