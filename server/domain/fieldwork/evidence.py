"""Evidence intake: declare, receive bytes (storage), complete. Every step is repeatable.

Write order without two-phase commit: row `pending` (committed) -> bytes to a staging key
-> promotion to the evidence key (which no upload URL can write) and staging removed ->
verification of the evidence key's bytes, thumbnails -> row `stored` with its audit entry
in one transaction. What is verified is therefore exactly what is kept, whatever an upload
URL writes to staging meanwhile. A failed verification removes the promoted bytes. The
reconciler converges whatever a crash left between steps.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import tempfile
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import lazyload

from server import media
from server.domain.accounts import scope
from server.domain.accounts.roles import EVIDENCE_ROLES, FIELD_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.cases import lifecycle
from server.domain.core import idempotency, runtime, shortcodes
from server.domain.core.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge, TooMany
from server.domain.core.uow import command, step, transaction
from server.domain.core.vocab import AUDIO_TYPES, EVIDENCE_TYPES
from server.domain.fieldwork.integrity import Thresholds, integrity_flags
from server.extensions import db
from server.models import Case, Evidence, Respondent, Revisit, User, Visit
from server.models.base import new_id, utcnow
from server.storage import ObjectNotFound, Storage, StorageError, UploadTarget

CHUNK = 1 << 20
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


def upload_target(user: User, ev: Evidence) -> UploadTarget | None:
    """Where to send a pending photo's bytes: only for the user who declared it. Anyone
    else who may read the record (the office, a revisit team) gets no live URL that could
    overwrite the inspector's staged upload."""
    if ev.state != "pending" or ev.uploaded_by != user.id:
        return None
    return runtime.storage().presign_upload(
        ev.staging_key, content_type=ev.declared_type, size=ev.size,
        expires_in=runtime.setting("UPLOAD_URL_TTL"))


def get_evidence(user: User, evidence_id: str) -> Evidence:
    ev = db.session.scalar(
        sa.select(Evidence).join(Case, Case.id == Evidence.case_id)
        .where(Evidence.id == evidence_id, scope.visible_clause(user)))
    if ev is None:
        raise NotFound("evidence.not_found", "No such evidence.")
    return ev


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


@command
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
        visible=lambda earlier: bool(scope.visible_case_ids(user, [earlier.case_id])))
    if created:
        audit.append("evidence.declared", "evidence", ev.id, actor_id=user.id,
                     data={"case_id": ev.case_id, "sha256": ev.sha256, "size": ev.size})
    elif ev.state == "expired":
        # A sealed case takes nothing more: the phone keeps the photo until a reopen.
        lifecycle.require_open(db.session.get(Case, ev.case_id), "photos")
        _revive(ev, actor_id=user.id, staging_key=_staging_key(ev.id),
                device_time=data.get("device_time"))
    return ev, created


def _check_quota(user: User, size: int, now: datetime) -> None:
    """DAILY_UPLOAD_BYTES a user a local day (a retry of a declaration is not new bytes:
    it never reaches here). Counted from the declarations, in one indexed sum."""
    quota = runtime.setting("DAILY_UPLOAD_BYTES")
    tz = ZoneInfo(runtime.setting("LOCAL_TIMEZONE"))
    local = now.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    used = int(db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Evidence.size), 0))
                                 .where(Evidence.uploaded_by == user.id,
                                        Evidence.declared_at >= midnight)) or 0)
    if used + size > quota:
        tomorrow = (midnight + timedelta(days=1)).astimezone(UTC)
        raise TooMany("evidence.quota_exceeded",
                      f"Today's photo allowance is used up ({used} of {quota} bytes); it "
                      "renews at midnight. The photo stays on the phone until then.",
                      extra={"used": used, "quota": quota, "retry_at": tomorrow.isoformat(),
                             "retry_after_s": int((tomorrow - now).total_seconds()) + 1})


def _new_evidence(user: User, data: dict[str, Any], request_hash: str) -> Evidence:
    case = scope.get_case(user, data["case_id"])
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
        size=data["size"], declared_type=data["content_type"], captured_at=data["captured_at"],
        geo_lat=geo.get("lat"), geo_lon=geo.get("lon"), geo_accuracy_m=geo.get("accuracy_m"),
        geo_fixed_at=geo.get("fixed_at"), geo_source=geo.get("source"),
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


def complete(user: User, evidence_id: str) -> Evidence:
    require_role(user, EVIDENCE_ROLES, "evidence.forbidden", "Your role may not file evidence.")
    ev = get_evidence(user, evidence_id)
    if user.role not in FIELD_ROLES and ev.uploaded_by != user.id:
        raise Forbidden("evidence.forbidden", "A revisit team completes its own uploads only.")
    if ev.state == "expired" and _exists(runtime.storage(), ev.staging_key):
        # The bytes arrived (the upload URL outlives the declaration): take them.
        with transaction():
            _revive(ev, actor_id=user.id, staging_key=ev.staging_key)
    if ev.state != "pending":
        return _settled(ev)
    return finish_pending(ev, actor_id=user.id)


def _settled(ev: Evidence) -> Evidence:
    """The answer for a row that is no longer pending."""
    if ev.state == "stored":
        return ev
    if ev.state == "rejected":
        raise Invalid(f"evidence.{ev.rejected_reason}",
                      "This photo was refused earlier: the file is not an accepted image.")
    if ev.state == "expired":
        raise Conflict("evidence.expired", "This declaration expired; declare it again.")
    raise Conflict("evidence.upload_missing",
                   "The photo's bytes are not at hand (not sent yet, or another completion "
                   "is verifying them); send them if needed, then complete again.")


def _exists(store: Storage, key: str) -> bool:
    try:
        store.head(key)
    except ObjectNotFound:
        return False
    return True


def _spool(store: Storage, key: str, out: IO[bytes], limit: int) -> tuple[int, str]:
    """Copy the object to a temp file, hashing as it goes; stop reading past `limit`."""
    digest, size = hashlib.sha256(), 0
    for chunk in store.iter_chunks(key, CHUNK):
        size += len(chunk)
        if size > limit:
            break
        digest.update(chunk)
        out.write(chunk)
    out.flush()
    return size, digest.hexdigest()


def _discard(store: Storage, *keys: str) -> None:
    for key in keys:
        with contextlib.suppress(StorageError):  # the reconciler removes what stays behind
            store.delete(key)


def _discard_promoted(store: Storage, evidence_id: str) -> None:
    _discard(store, final_key(evidence_id),
             *(thumb_key(evidence_id, name) for name, _ in media.THUMB_SIZES))


def _require_open_case(ev: Evidence) -> None:
    status = db.session.scalar(sa.select(Case.status).where(Case.id == ev.case_id))
    if not scope.status_is_open(status):
        raise _closed_conflict(status)


def _closed_conflict(status: str | None) -> Conflict:
    return Conflict("case.closed", "This case was closed and sealed before the photo "
                    "arrived; it can be added once the case is reopened.",
                    extra={"case_status": status})


def _demote(store: Storage, ev: Evidence) -> None:
    """Put promoted bytes back in staging and remove the evidence objects. Should the
    copy fail, the promoted original stays (bytes are never dropped) and the next
    completion, or the expiry, deals with it."""
    try:
        if not _exists(store, ev.staging_key):
            store.copy(final_key(ev.id), ev.staging_key)
    except StorageError:
        return
    _discard_promoted(store, ev.id)


def _promote(store: Storage, ev: Evidence) -> bool:
    """Move the staged bytes to the evidence key; True when staging may still hold bytes.

    Never over an existing evidence object: one there was promoted before (by a crash
    or a concurrent completion) and is what gets verified, so bytes re-sent to staging
    can never replace bytes being verified. Promotions of one row are serialised by a
    no-op UPDATE, which holds its row lock (PostgreSQL) or the write lock (SQLite) until
    the end of this step's transaction (the caller's).
    """
    final = final_key(ev.id)
    locked = db.session.execute(
        sa.update(Evidence).where(Evidence.id == ev.id, Evidence.state == "pending")
        .values(state="pending").execution_options(synchronize_session=False)).rowcount
    if locked == 0 or _exists(store, final):
        return True
    # No HEAD first: a missing source raises ObjectNotFound from the copy itself, which
    # the caller answers from the row (stored by a concurrent completion, or still waiting
    # for its bytes).
    store.copy(ev.staging_key, final)
    return False


def finish_pending(ev: Evidence, *, actor_id: str | None) -> Evidence:
    """Completion in steps, each its own transaction, because storage calls lie between
    them: promote (under the row lock), verify, then store the row, its timeline event and
    its audit entry together. Every step may be repeated."""
    return _finish(ev, actor_id)[0]


_decode_slots: dict[int, threading.BoundedSemaphore] = {}
_decode_guard = threading.Lock()


@contextlib.contextmanager
def _decode_slot() -> Iterator[None]:
    """At most DECODE_CONCURRENCY photos decoded at once in this process: eight large
    photos completing together wait their turn instead of meeting the OOM killer."""
    size = runtime.setting("DECODE_CONCURRENCY")
    with _decode_guard:
        slots = _decode_slots.setdefault(size, threading.BoundedSemaphore(size))
    with slots:
        yield


def _finish(ev: Evidence, actor_id: str | None) -> tuple[Evidence, bool]:
    """finish_pending, and whether this very call stored it (not a concurrent one)."""
    store = runtime.storage()
    # A closed (sealed) case takes no photo: say so before the bytes are promoted, so they
    # wait in staging for a reopen instead of becoming evidence objects of no stored row.
    # The decisive check stays in _mark_stored, under the case's lock.
    _require_open_case(ev)
    try:
        with step():  # nothing changes: the step only holds the row lock
            staging_left = _promote(store, ev)
        db.session.refresh(ev)  # once, before anything reads the row again
        if not staging_left:
            _discard(store, ev.staging_key)
        if ev.state != "pending":  # another completion settled it meanwhile
            return _settled(ev), False
        with tempfile.TemporaryFile() as tmp:
            size, digest = _spool(store, final_key(ev.id), tmp, ev.size)
            if size != ev.size or digest != ev.sha256:
                code = "evidence.size_mismatch" if size != ev.size else "evidence.hash_mismatch"
                _discard_promoted(store, ev.id)
                with step():
                    ev.last_error = code
                raise Invalid(code, "The bytes received differ from the photo declared; they "
                              "were discarded. Send the photo again.",
                              extra={"expected_size": ev.size, "expected_sha256": ev.sha256})
            tmp.seek(0)
            try:
                with _decode_slot():
                    facts = _read(ev, tmp)
            except media.MediaError as exc:
                _discard_promoted(store, ev.id)
                reason = exc.code.split(".", 1)[1]
                with step():
                    ev.state, ev.rejected_reason = "rejected", reason
                    audit.append("evidence.rejected", "evidence", ev.id, actor_id=actor_id,
                                 data={"reason": reason})
                raise Invalid(f"evidence.{reason}", exc.message) from exc
    except ObjectNotFound:
        # The bytes are not there: never sent, or a concurrent completion took them (and
        # stored them, or failed to verify them and removed them). The row says which.
        db.session.rollback()
        db.session.refresh(ev)
        return _settled(ev), False

    thumbnails = {}
    for thumb in getattr(facts, "thumbnails", ()):
        store.put_bytes(thumb_key(ev.id, thumb.name), thumb.data, content_type=thumb.content_type)
        thumbnails[thumb.name] = {"width": thumb.width, "height": thumb.height}

    received = utcnow()
    # Only its place and version are read here: not its assignees and co-handling units.
    case = db.session.get(Case, ev.case_id, options=[lazyload("*")])
    duplicates = db.session.scalars(
        sa.select(Evidence.case_id).distinct()
        .where(Evidence.sha256 == ev.sha256, Evidence.state == "stored",
               Evidence.case_id != ev.case_id)).all()
    exif = getattr(facts, "exif", None)
    flags = integrity_flags(
        exif_gps=exif.gps if exif else None, exif_taken_at=exif.taken_at if exif else None,
        exif_errors=exif.errors if exif else [],
        geo=(ev.geo_lat, ev.geo_lon) if ev.geo_lat is not None else None,
        case_location=(case.lat, case.lon) if case.lat is not None else None,
        captured_at=ev.captured_at, received_at=ev.declared_at,
        device_offset_s=ev.device_offset_s, duplicate_case_ids=list(duplicates),
        declared_type=ev.declared_type, content_type=facts.content_type,
        limits=Thresholds(runtime.setting("FAR_FROM_CASE_M"), runtime.setting("CLOCK_DRIFT_S"),
                          runtime.setting("LOCAL_TIMEZONE")), photo=exif is not None)
    # Conditional on `pending`, so two completions racing store it once.
    try:
        with step():
            mine = _mark_stored(ev, case, facts, flags, thumbnails, received, actor_id)
    except Conflict:
        # Sealed while this photo was being verified: its bytes go back to staging (where
        # a reopen finds them) and no promoted object outlives the pending row.
        _demote(store, ev)
        raise
    db.session.refresh(ev)
    if staging_left and ev.state == "stored":
        _discard(store, ev.staging_key)  # a re-send that is no longer needed
    return _settled(ev), mine


def _read(ev: Evidence, fp: IO[bytes]) -> media.ImageFacts | media.AudioFacts:
    """What the bytes are, judged by their content; the declared type only picks which
    reader is tried (a photo declared as audio is refused as not audio)."""
    if ev.declared_type in AUDIO_TYPES:
        return media.read_audio(fp, max_seconds=runtime.setting("MAX_AUDIO_SECONDS"))
    return media.read_image(fp, max_pixels=runtime.setting("MAX_IMAGE_PIXELS"),
                            max_jpeg_pixels=runtime.setting("MAX_JPEG_PIXELS"))


def _mark_stored(ev: Evidence, case: Case, facts: Any, flags: list[dict],
                 thumbnails: dict[str, Any], received: datetime, actor_id: str | None) -> bool:
    # Under the case's row lock, which an approval holds until it commits: a photo declared
    # while the case was being approved is not stored into its seal. It stays pending (the
    # phone keeps it, with the reason) and completes after a reopen.
    status = db.session.scalar(sa.select(Case.status).where(Case.id == case.id)
                               .with_for_update())
    if not scope.status_is_open(status):
        raise _closed_conflict(status)
    exif = getattr(facts, "exif", None)
    done = db.session.execute(
        sa.update(Evidence).where(Evidence.id == ev.id, Evidence.state == "pending")
        .values(state="stored", object_key=final_key(ev.id), content_type=facts.content_type,
                stored_at=received, width=getattr(facts, "width", None),
                height=getattr(facts, "height", None),
                duration_s=getattr(facts, "duration_s", None),
                exif=exif.to_dict() if exif else None, exif_errors=exif.errors if exif else None,
                flags=flags,
                thumbnails=thumbnails, last_error=None)
        .execution_options(synchronize_session=False))
    if done.rowcount == 1:
        timeline.append(case, "evidence_stored", actor_id=actor_id,
                         data={"evidence_id": ev.id, "sha256": ev.sha256, "size": ev.size,
                               "place": ev.place, "captured_at": ev.captured_at,
                               "flags": [f["code"] for f in flags]})
        audit.append("evidence.stored", "evidence", ev.id, actor_id=actor_id,
                     data={"sha256": ev.sha256, "size": ev.size,
                           "flags": [f["code"] for f in flags]})
    return done.rowcount == 1


def original_download(user: User, evidence_id: str, address: str | None) -> str:
    """A fresh link to the original photo, its handing-out recorded (who, from where): the
    originals carry the complainants' homes and faces, thumbnails are what people browse."""
    ev = get_evidence(user, evidence_id)
    if ev.state != "stored":
        raise Conflict("evidence.not_stored", "This photo is not stored yet.")
    audit.record("security.original_downloaded", "evidence", ev.id, actor_id=user.id,
                 data={"address": address, "case_id": ev.case_id})
    return original_link(ev)


def original_link(ev: Evidence) -> str:
    """A short-lived link to the original, as an attachment only (never shown inline)."""
    ext = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "audio/mp4": "m4a",
           "audio/webm": "webm", "audio/ogg": "ogg", "audio/mpeg": "mp3"}.get(
        ev.content_type or "", "heic")
    return runtime.storage().presign_download(
        final_key(ev.id), expires_in=runtime.setting("DOWNLOAD_URL_TTL"),
        filename=f"evidence-{ev.id}.{ext}", content_type=ev.content_type, attachment=True)


def thumbnail_links(ev: Evidence, names: Iterable[str] | None = None) -> dict[str, str]:
    """Short-lived links to the stored thumbnails (all, or those named) for display.
    Each link is a signature computed here, so a list signs only what it shows."""
    if ev.state != "stored":
        return {}
    store, ttl = runtime.storage(), runtime.setting("DOWNLOAD_URL_TTL")
    return {name: store.presign_download(thumb_key(ev.id, name), expires_in=ttl,
                                         content_type="image/jpeg", attachment=False)
            for name in (ev.thumbnails or {}) if names is None or name in names}


def reconcile(*, older_than: timedelta, expire_after: timedelta) -> dict[str, Any]:
    """Finish declarations whose bytes arrived but were never completed, expire those whose
    bytes never came, and remove staging objects nobody is waiting for. Row by row: a row
    the store or the database fails on is reported in `errors` and the run goes on.
    `completed` counts what this run stored; `settled_elsewhere` what another completion
    (or reconciler) settled meanwhile."""
    counts: dict[str, Any] = {"completed": 0, "settled_elsewhere": 0, "failed": 0,
                              "expired": 0, "waiting": 0, "staging_removed": 0}
    errors: list[dict[str, str]] = []
    now, store = utcnow(), runtime.storage()
    pending = db.session.scalars(sa.select(Evidence).where(
        Evidence.state == "pending", Evidence.declared_at < now - older_than)).all()
    for ev in pending:
        try:
            _, mine = _finish(ev, actor_id=None)
            counts["completed" if mine else "settled_elsewhere"] += 1
        except Conflict:  # no bytes
            with transaction():
                # Conditional: a revival meanwhile (a new receipt) is not expired.
                expired = db.session.execute(
                    sa.update(Evidence).where(Evidence.id == ev.id,
                                              Evidence.state == "pending",
                                              Evidence.declared_at < now - expire_after)
                    .values(state="expired").execution_options(synchronize_session=False))
                if expired.rowcount == 1:
                    audit.append("evidence.expired", "evidence", ev.id, actor_id=None)
                    counts["expired"] += 1
                else:
                    counts["waiting"] += 1
            if expired.rowcount == 1:  # no object outlives its row (staging goes below)
                _discard_promoted(store, ev.id)
        except Invalid:
            counts["failed"] += 1
        except (StorageError, SQLAlchemyError) as exc:
            db.session.rollback()
            errors.append({"evidence_id": ev.id, "error": f"{type(exc).__name__}: {exc}"})
    try:
        wanted = set(db.session.scalars(sa.select(Evidence.staging_key)
                                        .where(Evidence.state == "pending")))
        for info in store.list("staging/"):
            if info.key not in wanted and info.last_modified < now - older_than:
                try:
                    store.delete(info.key)
                    counts["staging_removed"] += 1
                except StorageError as exc:
                    errors.append({"staging_key": info.key, "error": str(exc)})
    except (StorageError, SQLAlchemyError) as exc:
        db.session.rollback()
        errors.append({"staging": "list", "error": f"{type(exc).__name__}: {exc}"})
    counts["errors"] = errors
    return counts
