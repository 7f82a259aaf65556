"""Connecting a platform (district admin): its source's tokens for the push API, made
(shown once), listed and revoked, and where the source's cases go."""

from __future__ import annotations

from typing import Any

from server.api.blueprint import Blueprint
from server.api.intake.push_schemas import (
    NewTokenSchema,
    SourceConnectionListSchema,
    SourceConnectionSchema,
    SourcePatchSchema,
    TokenInSchema,
    TokenListSchema,
    TokenSchema,
)
from server.api.security import current_user, load_user
from server.domain.intake import tokens
from server.extensions import db
from server.models import IntakeSource, IntakeToken, Unit

blp = Blueprint("intake_tokens", __name__, url_prefix="/api",
                description="Connecting the hotline platforms: per-source push tokens.")
blp.before_request(load_user)

CODE_PARAM = {"in": "path", "name": "code", "required": True,
              "description": "The source's code, e.g. hotline_12345.",
              "schema": {"type": "string", "maxLength": 40}}


def present_token(row: IntakeToken) -> dict[str, Any]:
    return {"id": row.id, "label": row.label, "prefix": row.prefix,
            "created_at": row.created_at, "created_by": row.created_by,
            "revoked_at": row.revoked_at, "revoked_by": row.revoked_by,
            "last_used_at": row.last_used_at}


def present_source(source: IntakeSource, rows: list[IntakeToken]) -> dict[str, Any]:
    unit = db.session.get(Unit, source.default_unit_id) if source.default_unit_id else None
    return {"code": source.code, "name_zh": source.name_zh, "name_en": source.name_en,
            "channel": source.channel,
            "default_unit": {"id": unit.id, "name": unit.name} if unit else None,
            "tokens": [present_token(r) for r in rows]}


@blp.route("/intake-platforms", methods=["GET"])
@blp.response(200, SourceConnectionListSchema)
def list_platforms():  # type: ignore[no-untyped-def]
    """Every source with its default unit, channel and tokens (district admin)."""
    return {"items": [present_source(s, rows) for s, rows in
                      tokens.list_sources(current_user())]}


@blp.route("/intake-sources/<code>", methods=["PATCH"])
@blp.doc(parameters=[CODE_PARAM])
@blp.arguments(SourcePatchSchema)
@blp.response(200, SourceConnectionSchema)
def patch_source(body: dict, code: str):  # type: ignore[no-untyped-def]
    """Set the source's default unit (where a case naming no unit we know goes) or the
    channel its cases get (district admin; audited)."""
    source = tokens.update_source(current_user(), code, body)
    return present_source(source, tokens.list_tokens(current_user(), code))


@blp.route("/intake-sources/<code>/tokens", methods=["GET"])
@blp.doc(parameters=[CODE_PARAM])
@blp.response(200, TokenListSchema)
def list_source_tokens(code: str):  # type: ignore[no-untyped-def]
    """The source's tokens, revoked ones included, newest first (never the tokens
    themselves: only their first characters)."""
    return {"items": [present_token(r) for r in tokens.list_tokens(current_user(), code)]}


@blp.route("/intake-sources/<code>/tokens", methods=["POST"])
@blp.doc(parameters=[CODE_PARAM])
@blp.arguments(TokenInSchema)
@blp.response(201, NewTokenSchema)
def create_source_token(body: dict, code: str):  # type: ignore[no-untyped-def]
    """A new token for the platform to push with: shown in this answer only (the server
    keeps its hash). Audited."""
    row, token = tokens.create_token(current_user(), code, body["label"])
    return {"id": row.id, "label": row.label, "prefix": row.prefix,
            "created_at": row.created_at, "token": token}


@blp.route("/intake-sources/<code>/tokens/<token_id>", methods=["DELETE"])
@blp.doc(parameters=[CODE_PARAM])
@blp.response(200, TokenSchema)
def revoke_source_token(code: str, token_id: str):  # type: ignore[no-untyped-def]
    """Revoke the token: refused (401) from now on; kept in the list with who revoked it
    and when. Audited."""
    return present_token(tokens.revoke_token(current_user(), code, token_id))
