"""Evidence intake: declare, receive bytes (storage), complete (`completion`). Every step is
repeatable.

Write order without two-phase commit: row `pending` (committed) -> bytes to a staging key
-> promotion to the evidence key (which no upload URL can write) and staging removed ->
verification of the evidence key's bytes, thumbnails -> row `stored` with its audit entry
in one transaction. What is verified is therefore exactly what is kept, whatever an upload
URL writes to staging meanwhile. A failed verification removes the promoted bytes. The
reconciler converges whatever a crash left between steps.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.domain.accounts import roles, scope
from server.domain.accounts.roles import EVIDENCE_ROLES, FIELD_ROLES, require_role
from server.domain.audit import audit, tampering
from server.domain.cases import lifecycle
from server.domain.core import idempotency, named_objects, runtime, shortcodes
from server.domain.core.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge, TooMany
from server.domain.core.uow import command
from server.domain.core.vocab import AUDIO_TYPES, EVIDENCE_TYPES
from server.extensions import db
from server.models import Case, Evidence, Respondent, Revisit, User, Visit
from server.models.base import new_id, utcnow
from server.storage import UploadTarget

# The fields whose equality makes a retried declaration "the same request".
DECLARED_FIELDS = ("client_id", "case_id", "visit_id", "sha256", "size", "content_type",
                   "captured_at", "geo", "photographer", "place", "caption")
# Part of the request only when given, so declarations made before they existed keep
# their fingerprint (a phone retrying one across an upgrade is not refused).
LINK_FIELDS = ("revisit_id", "respondent_id")


def final_key(evidence_id: str) -> str:
    return f"evidence/{evidence_id}/original"


def thumb_key(evidence_id: str, name: str) -> str:
    return f"evidence/{evidence_id}/thumb-{name}.jpg"


def _staging_key(evidence_id: str) -> str:
    # Random per declaration: a presigned URL can only ever write here, never to evidence.
    return f"staging/{evidence_id}/{secrets.token_urlsafe(16)}"


def staged_evidence_id(key: str) -> str | None:
    """The declaration a staging key (_staging_key) was made for; None for any other key."""
    parts = key.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == "staging" and parts[1] else None


def upload_target(user: User, ev: Evidence) -> UploadTarget | None:
    """Where to send a pending photo's bytes: only for the user who declared it. Anyone
    else who may read the record (the office, a revisit team) gets no live URL that could
    overwrite the inspector's staged upload."""
    if ev.state != "pending" or ev.uploaded_by != user.id:
        return None
    return runtime.storage().presign_upload(
        ev.staging_key, content_type=ev.declared_type, size=ev.size,
        expires_in=runtime.setting("UPLOAD_URL_TTL"))


# Built once (each completion and read runs it): one item by id with its case's status
# (the join that scopes it reads the case anyway), and the same in scope.
_BY_ID = scope.Scoped(sa.select(Evidence, Case.status).join(Case, Case.id == Evidence.case_id)
                      .where(Evidence.id == sa.bindparam("evidence_id")))


def get_evidence(user: User, evidence_id: str) -> Evidence:
    return evidence_with_case_status(user, evidence_id)[0]


def evidence_with_case_status(user: User, evidence_id: str) -> tuple[Evidence, str | None]:
    """The item if the user may see it, and its case's status read in the same statement
    (None for a re-check's photo found outside the user's units: not read)."""
    query, params = _BY_ID.for_user(user)
    row = db.session.execute(query, {"evidence_id": evidence_id, **params}).first()
    if row is not None:
        return row[0], row[1]
    ev = db.session.get(Evidence, evidence_id)
    if ev is None or not files_on_recheck(user, ev):
        raise NotFound("evidence.not_found", "No such evidence.")
    return ev, None


# ---- the one exception: a look-back re-check's photos -------------------------------------
RECHECK = "recheck"


def recheck_visit(user: User, visit_id: str | None, case_id: str) -> Visit | None:
    """Photos go to open cases the user sees, except on a look-back re-check's visit (kind
    `recheck`, recorded through its task by the remediation context): its author files
    that visit's photos whatever the case's state (a re-check that found nothing leaves it
    closed) and unit (a cross-check unit does not see the case). Only on that visit, only
    by who recorded it; a sealed case's seal lists what was stored before it, so it holds."""
    if not visit_id:
        return None
    return db.session.scalar(sa.select(Visit).where(
        Visit.id == visit_id, Visit.case_id == case_id, Visit.kind == RECHECK,
        Visit.created_by == user.id))


# A re-check's photos follow it within this long (the phone sends them after the re-check).
RECHECK_PHOTO_WINDOW = timedelta(hours=24)


def recheck_window_open(visit: Visit, case: Case, now: datetime) -> bool:
    """A re-check's visit takes photos within RECHECK_PHOTO_WINDOW of being recorded, and
    only until the case is closed again after it, whichever comes first: the exception to
    "closed cases take nothing" must not become a side door into a closed, sealed file."""
    if now - visit.received_at > RECHECK_PHOTO_WINDOW:
        return False
    return case.closed_at is None or case.closed_at <= visit.received_at


def recheck_exempt(ev: Evidence, case: Case, now: datetime) -> bool:
    """Whether the photo may go into `case` though it is closed: it belongs to a re-check's
    visit whose window (recheck_window_open) is still open. Asked when it is declared and
    again when it is stored: one declared in time and completed after the case closed
    again, or a day on, waits like any photo for a closed case."""
    visit = db.session.get(Visit, ev.visit_id) if ev.visit_id is not None else None
    return visit is not None and visit.kind == RECHECK and recheck_window_open(visit, case, now)


def files_on_recheck(user: User, ev: Evidence) -> bool:
    return ev.uploaded_by == user.id and recheck_visit(user, ev.visit_id, ev.case_id) is not None


def list_for_case(user: User, case_id: str, *, include_all: bool = False) -> list[Evidence]:
    case = scope.get_case(user, case_id)
    query = sa.select(Evidence).filter_by(case_id=case.id)
    if not include_all:
        query = query.where(Evidence.state == "stored")
    return list(db.session.scalars(query.order_by(Evidence.captured_at, Evidence.id)))


def visible_flags(user: User, flags: list[dict] | None) -> list[dict]:
    """The flags as `user` may see them. `duplicate_bytes` is stored with every case the
    same bytes are filed on; cases of units the user cannot see are counted, not named."""
    shown = []
    for flag in flags or []:
        if flag.get("code") == "duplicate_bytes":
            case_ids = flag.get("case_ids") or []
            visible = scope.visible_case_ids(user, case_ids)
            flag = {**flag, "case_ids": [c for c in case_ids if c in visible],
                    "other_units": sum(1 for c in case_ids if c not in visible)}
        shown.append(flag)
    return shown


# The answer presents the row as written: kept loaded past the commit, not read again.
@command(keep_loaded=True)
def declare(user: User, data: dict[str, Any]) -> tuple[Evidence, bool]:
    """(evidence, created). The same client_id with the same body returns the first
    declaration (reviving an expired one); with another body it is refused."""
    require_role(user, EVIDENCE_ROLES, "evidence.forbidden", "Your role may not file evidence.")
    request_hash = idempotency.fingerprint(
        {k: data.get(k) for k in DECLARED_FIELDS}
        | {k: data[k] for k in LINK_FIELDS if data.get(k) is not None})
    ev, created = idempotency.once(
        Evidence, data["client_id"], request_hash,
        create=lambda: _new_evidence(user, data, request_hash),
        # Always checked, also for the uploader: one moved to another unit gets nothing.
        visible=lambda earlier: bool(scope.visible_case_ids(user, [earlier.case_id]))
        or files_on_recheck(user, earlier))
    if created:
        audit.append("evidence.declared", "evidence", ev.id, actor_id=user.id,
                     data={"case_id": ev.case_id, "sha256": ev.sha256, "size": ev.size})
    elif ev.state == "expired":
        # A sealed case takes nothing more: the phone keeps the photo until a reopen.
        case = db.session.get(Case, ev.case_id)
        if not recheck_exempt(ev, case, utcnow()):
            lifecycle.require_open(case, "photos")
        _revive(ev, actor_id=user.id, staging_key=_staging_key(ev.id),
                device_time=data.get("device_time"))
    return ev, created


# A user's bytes declared since a moment (built once; the index holds every column read).
BYTES_DECLARED_SINCE = (sa.select(sa.func.coalesce(sa.func.sum(Evidence.size), 0))
                        .where(Evidence.uploaded_by == sa.bindparam("user_id"),
                               Evidence.declared_at >= sa.bindparam("since")))


def _check_quota(user: User, size: int, now: datetime) -> None:
    """DAILY_UPLOAD_BYTES a user a local day (a retry of a declaration is not new bytes:
    it never reaches here). Counted from the declarations, in one sum over an index."""
    quota = runtime.setting("DAILY_UPLOAD_BYTES")
    tz = ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))
    local = now.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    used = int(db.session.scalar(BYTES_DECLARED_SINCE,
                                 {"user_id": user.id, "since": midnight}) or 0)
    if used + size > quota:
        tomorrow = (midnight + timedelta(days=1)).astimezone(UTC)
        raise TooMany("evidence.quota_exceeded",
                      f"Today's photo allowance is used up ({used} of {quota} bytes); it "
                      "renews at midnight. The photo stays on the phone until then.",
                      extra={"used": used, "quota": quota, "retry_at": tomorrow.isoformat(),
                             "retry_after_s": int((tomorrow - now).total_seconds()) + 1})


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _new_evidence(user: User, data: dict[str, Any], request_hash: str) -> Evidence:
    recheck = recheck_visit(user, data.get("visit_id"), data["case_id"])
    if recheck is not None:
        case = db.session.get(Case, recheck.case_id)
        if not recheck_window_open(recheck, case, utcnow()):
            # Past the re-check's window: a closed case refuses as any closed case does;
            # an open one takes photos from those who see it, as any open case does.
            lifecycle.require_open(case, "photos")
            case = scope.get_case(user, data["case_id"])
    else:
        case = scope.get_case(user, data["case_id"], light=True)
        lifecycle.require_open(case, "photos")
    if data.get("visit_id") and db.session.scalar(
            sa.select(Visit.id).filter_by(id=data["visit_id"], case_id=case.id)) is None:
        raise Invalid("evidence.bad_visit", "That visit does not belong to this case.",
                      errors={"visit_id": ["Not a visit of this case."]})
    if data["content_type"] not in (*EVIDENCE_TYPES, *AUDIO_TYPES):
        raise Invalid("evidence.unsupported_type",
                      f"Photos must be one of: {', '.join(EVIDENCE_TYPES)}; interview "
                      f"recordings one of: {', '.join(AUDIO_TYPES)}.",
                      errors={"content_type": ["Not an accepted photo or audio format."]})
    revisit_id = _revisit_link(user, case, data)
    limit = runtime.setting("MAX_UPLOAD_BYTES")
    if data["size"] > limit:
        raise TooLarge("evidence.too_large",
                       f"The photo is {data['size']} bytes; the limit is {limit}.",
                       extra={"limit": limit})
    received = utcnow()
    _check_quota(user, data["size"], received)
    geo = data.get("geo") or {}
    ev = Evidence(
        client_id=data["client_id"], request_hash=request_hash, case_id=case.id,
        visit_id=data.get("visit_id"), revisit_id=revisit_id,
        respondent_id=data.get("respondent_id"), state="pending", sha256=data["sha256"].lower(),
        size=data["size"], declared_type=data["content_type"],
        # In UTC, as the database gives them back (the answer presents these, not a re-read).
        captured_at=_utc(data["captured_at"]),
        geo_lat=geo.get("lat"), geo_lon=geo.get("lon"), geo_accuracy_m=geo.get("accuracy_m"),
        geo_fixed_at=_utc(geo.get("fixed_at")), geo_source=geo.get("source"),
        photographer=data.get("photographer") or user.display_name,
        place=data.get("place"), caption=data.get("caption"), uploaded_by=user.id,
        declared_at=received, device_offset_s=_offset(received, data.get("device_time")),
    )
    ev.id = new_id()
    ev.short_code = shortcodes.new_code()
    ev.staging_key = _staging_key(ev.id)
    return ev


def _revisit_link(user: User, case: Case, data: dict[str, Any]) -> str | None:
    """The revisit a photo or recording belongs to. A recording names the respondent whose
    consent it was made under; a revisit team files for its revisits only."""
    revisit_id = data.get("revisit_id")
    if data["content_type"] in AUDIO_TYPES or data.get("respondent_id"):
        if not data.get("respondent_id"):
            raise Invalid("evidence.no_consent", "An interview recording names the respondent "
                          "who consented to it.",
                          errors={"respondent_id": ["Required for a recording."]})
        respondent = respondent_for_recording(case.id, data["respondent_id"])
        if revisit_id and revisit_id != respondent.revisit_id:
            raise Invalid("evidence.bad_revisit", "That respondent is not of that revisit.",
                          errors={"revisit_id": ["Not the respondent's revisit."]})
        revisit_id = respondent.revisit_id
    elif revisit_id and db.session.scalar(
            sa.select(Revisit.id).filter_by(id=revisit_id, case_id=case.id)) is None:
        raise Invalid("evidence.bad_revisit", "That revisit does not belong to this case.",
                      errors={"revisit_id": ["Not a revisit of this case."]})
    if revisit_id is None and user.role not in FIELD_ROLES:
        raise Forbidden("evidence.forbidden", "A revisit team files the photos and recordings "
                        "of its revisits only: name the revisit.")
    return revisit_id


def respondent_for_recording(case_id: str, respondent_id: str) -> Respondent:
    """The respondent an interview recording is filed under: on this case, and consenting.
    (Here, not in revisits: evidence sits below revisits and reads their rows only.)"""
    found = db.session.scalar(
        sa.select(Respondent).join(Revisit, Revisit.id == Respondent.revisit_id)
        .where(Respondent.id == respondent_id, Revisit.case_id == case_id))
    if found is None:
        raise Invalid("evidence.bad_respondent", "That respondent is not on this case.",
                      errors={"respondent_id": ["Not a respondent of this case."]})
    if not found.audio_consent:
        raise Invalid("evidence.no_consent",
                      "This respondent did not consent to being recorded; the recording "
                      "cannot be filed.",
                      errors={"respondent_id": ["No recorded consent to a recording."]})
    return found

def _offset(received: datetime, device_time: datetime | None) -> float | None:
    return (received - device_time).total_seconds() if device_time else None


def _revive(ev: Evidence, *, actor_id: str, staging_key: str,
            device_time: datetime | None = None) -> None:
    """An expired declaration comes back. It is a new receipt: declared_at restarts (or the
    reconciler, counting from the first one, would expire it again at once)."""
    received = utcnow()
    ev.state, ev.staging_key, ev.last_error, ev.declared_at = (
        "pending", staging_key, None, received)
    if device_time is not None:
        ev.device_offset_s = _offset(received, device_time)
    audit.append("evidence.revived", "evidence", ev.id, actor_id=actor_id)


def original_download(user: User, evidence_id: str, address: str | None) -> str:
    """A fresh link to the original photo, its handing-out recorded (who, from where): the
    originals carry the complainants' homes and faces, thumbnails are what people browse."""
    ev = get_evidence(user, evidence_id)
    if ev.revisit_id is not None:
        roles.require_answers(user)  # a revisit's recording or paper is a resident's answer
    if ev.state != "stored":
        raise Conflict("evidence.not_stored", "This photo is not stored yet.")
    _check_stored(user, ev)
    audit.record("security.original_downloaded", "evidence", ev.id, actor_id=user.id,
                 data={"address": address, "case_id": ev.case_id})
    return original_link(ev)


def _check_stored(user: User, ev: Evidence) -> None:
    """Hash the stored original as it streams from the store, before any link to it is
    handed out (the link's download then leaves without us: S3 serves it). Bytes changed
    since they were filed are refused and recorded as a security event, never served."""
    digest, size = hashlib.sha256(), 0
    for chunk in runtime.storage().iter_chunks(final_key(ev.id)):
        digest.update(chunk)
        size += len(chunk)
    if digest.hexdigest() != ev.sha256 or (ev.size is not None and size != ev.size):
        raise tampering.refuse("evidence original", "evidence", ev.id, actor_id=user.id,
                               expected=ev.sha256, actual=digest.hexdigest(), size=size)


def original_link(ev: Evidence) -> str:
    """A short-lived link to the original, as an attachment only (never shown inline)."""
    ext = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "audio/mp4": "m4a",
           "audio/webm": "webm", "audio/ogg": "ogg", "audio/mpeg": "mp3"}.get(
        ev.content_type or "", "heic")
    return runtime.storage().presign_download(
        final_key(ev.id), expires_in=runtime.setting("DOWNLOAD_URL_TTL"),
        filename=f"evidence-{ev.id}.{ext}", content_type=ev.content_type, attachment=True,
        sha256=ev.sha256)  # the local store checks the bytes again as they stream


def thumbnail_links(ev: Evidence, viewer: User,
                    names: Iterable[str] | None = None) -> dict[str, str]:
    """Short-lived links to the stored thumbnails (all, or those named) for `viewer` to
    display. Each link is a signature computed here, so a list signs only what it shows;
    and as a signed link is all the blob route asks for, this is where a revisit's photo
    (a resident's answer, as its original is) is kept from those who may not read answers."""
    if ev.state != "stored" or (ev.revisit_id is not None and not roles.reads_answers(viewer)):
        return {}
    store, ttl = runtime.storage(), runtime.setting("DOWNLOAD_URL_TTL")
    return {name: store.presign_download(thumb_key(ev.id, name), expires_in=ttl,
                                         content_type="image/jpeg", attachment=False)
            for name in (ev.thumbnails or {}) if names is None or name in names}



def _stored_objects(before: datetime) -> Iterator[str]:
    """Each stored photo's or recording's original and thumbnails (a backup checks the
    store holds them: core.named_objects)."""
    rows = db.session.execute(
        sa.select(Evidence.id, Evidence.thumbnails)
        .where(Evidence.state == "stored", Evidence.stored_at < before)
        .execution_options(yield_per=2000))
    for evidence_id, thumbnails in rows:
        yield final_key(evidence_id)
        for name in thumbnails or {}:
            yield thumb_key(evidence_id, name)


named_objects.register("evidence", _stored_objects)
