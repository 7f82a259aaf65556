"""Photos anyone can verify: what a printed short code (and its QR code) resolves to.

A user who may see the case gets the evidence record. Anyone else (no login, or another
unit's user) gets the public answer only when the photo is listed in the case's latest
seal, that seal has been published (a public closure file was made of it) and the case is
closed: the hash, the capture and receipt times, and that the case was closed. Nothing
personal (no names, places, positions, case id). Every other code, unknown, malformed or
unpublished, gets the same 404, so a code reveals nothing about whether it exists.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased, lazyload

from server.domain.accounts import scope
from server.domain.closure import sealing
from server.domain.core import runtime, shortcodes
from server.domain.core.errors import Conflict, NotFound, TooLarge
from server.domain.fieldwork.evidence import visible_flags
from server.extensions import db
from server.models import Case, Evidence, Seal, User

CHUNK = 1 << 20


def verify_url(code: str, base: str) -> str:
    """What a photo's QR code encodes: `<base>/v/<code>` (the public page)."""
    return f"{base.rstrip('/')}/v/{code}"


def public_base() -> str:
    """The base of verify URLs: PUBLIC_BASE_URL, always the configured one. Never the
    address a request came to: a forged Host header would be printed into a closure file
    kept and served byte for byte to everyone after (server.config makes it required in
    production and gives development a fixed local address)."""
    base = runtime.setting("PUBLIC_BASE_URL")
    if not base:
        raise Conflict("closure.no_public_address", "No public address is configured "
                       "(PUBLIC_BASE_URL): files with verify codes cannot be made.")
    return base.rstrip("/")


def target_url(code: str) -> str:
    """The verify URL of a well-formed code (normalised), existing or not: a QR code of it
    shows nothing more than the code itself; 404 `verify.not_found` for a malformed one."""
    normal = shortcodes.normalise(code)
    if normal is None:
        raise _not_found()
    return verify_url(normal, public_base())


@dataclass(frozen=True)
class Resolved:
    evidence: Evidence
    case: Case
    public: bool
    seal: Seal | None  # full record: the latest seal listing the photo; public: the latest
    sealed_sha256: str | None  # the photo's hash as the seal's manifest lists it


def _not_found() -> NotFound:
    return NotFound("verify.not_found", "No published photo has this code.")


def _listed(seal: Seal, evidence_id: str) -> dict[str, Any] | None:
    """The manifest's entry for the photo, if the seal lists it."""
    try:
        entries = json.loads(seal.manifest).get("evidence") or []
    except (ValueError, AttributeError):  # not a manifest: lists nothing
        return None
    return next((e for e in entries if isinstance(e, dict) and e.get("id") == evidence_id),
                None)


def _seals(case_id: str) -> list[Seal]:
    """The case's seals, latest first."""
    return list(db.session.scalars(sa.select(Seal).filter_by(case_id=case_id)
                                   .order_by(Seal.number.desc())))


def _find(normal: str) -> tuple[Evidence | None, Case | None, Seal | None]:
    """The photo, its case and the case's latest seal, in one statement whatever the code:
    a code that exists costs the same round trip as one that does not (nothing loaded
    after it, not even the case's assignees), so timing tells nothing either."""
    newer = aliased(Seal)
    latest_number = (sa.select(sa.func.max(newer.number))
                     .where(newer.case_id == Evidence.case_id)
                     .correlate(Evidence).scalar_subquery())
    row = db.session.execute(
        sa.select(Evidence, Case, Seal)
        .join(Case, Case.id == Evidence.case_id)
        .outerjoin(Seal, sa.and_(Seal.case_id == Evidence.case_id,
                                 Seal.number == latest_number))
        .options(lazyload(Case.assignees), lazyload(Case.co_units))
        .where(Evidence.short_code == normal)).first()
    return (row[0], row[1], row[2]) if row is not None else (None, None, None)


def shown_in_public(revisit_id: str | None, respondent_id: str | None,
                    content_type: str | None) -> bool:
    """What a public closure file (办结公示) prints and the public verify page looks up:
    the site checks' photos. A resident's recorded interview or a revisit's photo is
    sealed with the case but is not the public's to see, look up, nor to confirm a copy
    of (/check)."""
    return (revisit_id is None and respondent_id is None
            and (content_type or "").startswith("image/"))


def resolve(user: User | None, code: str) -> Resolved:
    """What `code` resolves to for `user` (None: nobody logged in); 404 `verify.not_found`
    for anything that may not be shown. Unknown and unpublished codes take the same
    steps (the same statements) to the same 404."""
    normal = shortcodes.normalise(code)
    if normal is None:
        raise _not_found()
    ev, case, latest = _find(normal)
    # Asked for every logged-in caller, with or without a photo found.
    case_id = ev.case_id if ev is not None else ""
    visible = user is not None and bool(scope.visible_case_ids(user, [case_id]))
    if visible and ev is not None and case is not None:
        for seal in _seals(ev.case_id):
            entry = _listed(seal, ev.id)
            if entry is not None:
                return Resolved(ev, case, False, seal, entry.get("sha256") or ev.sha256)
        return Resolved(ev, case, False, None, None)
    # Only the latest seal speaks: after a reopen, an older published seal no longer does.
    # The cheap checks first: the manifest is read only for a published seal.
    if (ev is None or case is None or latest is None or latest.published_at is None
            or case.status != "closed" or ev.state != "stored"
            or not shown_in_public(ev.revisit_id, ev.respondent_id, ev.content_type)):
        raise _not_found()
    entry = _listed(latest, ev.id)
    if entry is None:
        raise _not_found()
    return Resolved(ev, case, True, latest, entry.get("sha256") or ev.sha256)


def answer(user: User | None, found: Resolved) -> dict[str, Any]:
    """The record as `user` may see it (a full record is only ever resolved for a user)."""
    ev = found.evidence
    if found.public:
        return {"public": True, "short_code": ev.short_code, "sha256": found.sealed_sha256,
                "captured_at": ev.captured_at, "received_at": ev.declared_at,
                "case_closed": True, "closed_at": found.case.closed_at}
    if user is None:  # cannot happen: resolve gives nobody a full record
        raise _not_found()
    geo = None
    if ev.geo_lat is not None:
        geo = {"lat": ev.geo_lat, "lon": ev.geo_lon, "accuracy_m": ev.geo_accuracy_m,
               "fixed_at": ev.geo_fixed_at, "source": ev.geo_source}
    seal = found.seal
    return {
        "public": False, "short_code": ev.short_code, "evidence_id": ev.id,
        "case_id": ev.case_id, "sha256": ev.sha256, "size": ev.size,
        "content_type": ev.content_type or ev.declared_type, "captured_at": ev.captured_at,
        "geo": geo, "received_at": ev.declared_at, "stored_at": ev.stored_at,
        "flags": visible_flags(user, ev.flags), "case_status": found.case.status,
        "seal": {"number": seal.number, "sha256": sealing.published_hash(seal),
                 "sealed_at": seal.sealed_at}
        if seal is not None else None,
    }


def lookup(user: User | None, code: str) -> dict[str, Any]:
    return answer(user, resolve(user, code))


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def check_bytes(stream: IO[bytes], limit: int) -> tuple[str, int]:
    """(SHA-256 hex, size) of the stream, read in chunks and kept nowhere; 413
    `verify.too_large` as soon as more than `limit` bytes have come."""
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(stream):
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        digest.update(chunk)
    return digest.hexdigest(), size


def _too_large(limit: int) -> TooLarge:
    return TooLarge("verify.too_large", f"A photo to check may be at most {limit} bytes.",
                    extra={"limit": limit})


def check(user: User | None, code: str, stream: IO[bytes],
          declared_length: int | None) -> dict[str, Any]:
    """Whether the bytes sent are the photo's: `{match, sha256}` (the hash of the bytes
    sent). The same visibility as `lookup`, decided before a byte is read."""
    found = resolve(user, code)
    expected = found.sealed_sha256 if found.public else found.evidence.sha256
    limit = runtime.setting("MAX_UPLOAD_BYTES")
    if declared_length is not None and declared_length > limit:
        raise _too_large(limit)
    sha256, _size = check_bytes(stream, limit)
    return {"match": sha256 == (expected or "").lower(), "sha256": sha256}
