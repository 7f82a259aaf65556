"""Evidence intake, second half: the bytes have been sent, `complete` (or the reconciler)
verifies them and stores the row. Every step is repeatable.

Promotion of the staged bytes to the evidence key (which no upload URL can write) and
staging removed -> verification of the evidence key's bytes, thumbnails -> row `stored`
with its audit entry in one transaction. What is verified is therefore exactly what is
kept, whatever an upload URL writes to staging meanwhile. A failed verification removes
the promoted bytes. The reconciler converges whatever a crash left between steps. The
first half (declare, and the keys) is in `evidence`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import lazyload, load_only
from sqlalchemy.orm.attributes import set_committed_value

from server import media
from server.domain.accounts import scope
from server.domain.accounts.roles import EVIDENCE_ROLES, FIELD_ROLES, require_role
from server.domain.audit import audit, timeline
from server.domain.core import runtime
from server.domain.core.errors import Conflict, Forbidden, Invalid
from server.domain.core.uow import step, transaction
from server.domain.core.vocab import AUDIO_TYPES
from server.domain.fieldwork.evidence import (
    _revive,
    evidence_with_case_status,
    final_key,
    recheck_exempt,
    staged_evidence_id,
    thumb_key,
)
from server.domain.fieldwork.integrity import Thresholds, integrity_flags
from server.extensions import db
from server.models import Case, Evidence, User
from server.models.base import utcnow
from server.storage import ObjectNotFound, Storage, StorageError

CHUNK = 1 << 20
log = logging.getLogger(__name__)

# Statements every completion runs, built once (building them cost more CPU than running
# them): the case's status, the locking read that holds a pending row's lock, and the
# other cases holding the same bytes. They are on the table, not the ORM entity: the row
# in the session is set by hand after the UPDATE (an ORM UPDATE worked out its cache key
# and its session bookkeeping anew on every call).
_EVIDENCE = Evidence.__table__
_CASE_STATUS = sa.select(Case.status).where(Case.id == sa.bindparam("case_id"))
# A read, not a no-op UPDATE: it takes the same lock (the row's on PostgreSQL, the writer
# lock on SQLite) and its step's commit has nothing to write (no WAL, no fsync).
_HOLD_PENDING = (sa.select(_EVIDENCE.c.id)
                 .where(_EVIDENCE.c.id == sa.bindparam("evidence_id"),
                        _EVIDENCE.c.state == "pending")
                 .with_for_update())
# The pending row stored (conditional on `pending`: of two completions, one stores it).
_STORED_COLUMNS = ("state", "object_key", "content_type", "stored_at", "width", "height",
                   "duration_s", "exif", "exif_errors", "flags", "thumbnails", "last_error")
_STORE = (sa.update(_EVIDENCE)
          .where(_EVIDENCE.c.id == sa.bindparam("evidence_id"),
                 _EVIDENCE.c.state == "pending")
          .values({name: sa.bindparam(f"new_{name}") for name in _STORED_COLUMNS}))
# The case as a completion stores into it, under its row lock: its status (the decisive
# check), place (the flags) and version (the timeline's event), not its other columns,
# assignees and co-handling units; read afresh even if the session holds it already.
_CASE_LOCKED = (sa.select(Case).where(Case.id == sa.bindparam("case_id"))
                .options(load_only(Case.status, Case.lat, Case.lon, Case.version,
                                   Case.closed_at),
                         lazyload("*"))
                .with_for_update().execution_options(populate_existing=True))
_DUPLICATES = (sa.select(Evidence.case_id).distinct()
               .where(Evidence.sha256 == sa.bindparam("sha256"), Evidence.state == "stored",
                      Evidence.case_id != sa.bindparam("case_id")))


def complete(user: User, evidence_id: str) -> Evidence:
    require_role(user, EVIDENCE_ROLES, "evidence.forbidden", "Your role may not file evidence.")
    ev, case_status = evidence_with_case_status(user, evidence_id)
    if user.role not in FIELD_ROLES and ev.uploaded_by != user.id:
        raise Forbidden("evidence.forbidden", "A revisit team completes its own uploads only.")
    try:
        if ev.state == "expired" and _exists(runtime.storage(), ev.staging_key):
            # The bytes arrived (the upload URL outlives the declaration): take them.
            with transaction():
                _revive(ev, actor_id=user.id, staging_key=ev.staging_key)
        if ev.state != "pending":
            return _settled(ev)
        return _finish(ev, user.id, case_status)[0]
    except Conflict as exc:
        # The bytes last received were refused and discarded (by the upload's own
        # completion, complete_received, whose answer the phone does not read for a
        # refusal): say so, not merely that no bytes are at hand.
        if exc.code == "evidence.upload_missing" and ev.last_error in _MISMATCHES:
            raise _mismatch(ev, ev.last_error) from None
        raise


# The declaration with whether its uploader may still act (a deactivated one's photo
# waits for the reconciler) and its case's status (the completion's first check), in one
# statement.
_RECEIVED = (sa.select(Evidence, User.active, Case.status)
             .join(User, User.id == Evidence.uploaded_by)
             .join(Case, Case.id == Evidence.case_id)
             .where(Evidence.id == sa.bindparam("evidence_id")))


def complete_received(staging_key: str) -> Evidence | None:
    """Bytes have just arrived at `staging_key` on this server (the local store's upload
    link, which has no session): complete their pending declaration at once, in the
    uploader's name, as the reconciler would later in the system's, so the phone needs no
    complete call. The row if this very call stored it, else None: a row not pending
    (stored already, expired, refused) or not this key's, an uploader no longer active,
    or another completion that stored it meanwhile are the phone's complete call to answer,
    under its session. A refusal raises as `complete` would, leaving the row as that does."""
    evidence_id = staged_evidence_id(staging_key)
    found = (db.session.execute(_RECEIVED, {"evidence_id": evidence_id}).first()
             if evidence_id is not None else None)
    if found is None:
        return None
    ev, active, case_status = found
    if ev.state != "pending" or ev.staging_key != staging_key or not active:
        return None
    stored, mine = _finish(ev, ev.uploaded_by, case_status)
    return stored if mine else None


_MISMATCHES = frozenset({"evidence.size_mismatch", "evidence.hash_mismatch"})


def _mismatch(ev: Evidence, code: str) -> Invalid:
    return Invalid(code, "The bytes received differ from the photo declared; they were "
                   "discarded. Send the photo again.",
                   extra={"expected_size": ev.size, "expected_sha256": ev.sha256})


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


@contextlib.contextmanager
def _fetched(store: Storage, key: str, limit: int) -> Iterator[tuple[int, str, IO[bytes]]]:
    """(size, SHA-256, the bytes as a file at its start) of the object; reading stops past
    `limit`. A store that keeps objects as unchanging files lends the file itself, so what
    is hashed is what is read next; any other is copied to a temp file as it is hashed."""
    digest, size = hashlib.sha256(), 0
    local = store.open_file(key)
    with local if local is not None else tempfile.TemporaryFile() as fp:
        chunks = (iter(lambda: fp.read(CHUNK), b"") if local is not None
                  else store.iter_chunks(key, CHUNK))
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    break
                digest.update(chunk)
                if local is None:
                    fp.write(chunk)
            fp.seek(0)
        except OSError as exc:  # the disk's own failure (EIO, a full temp folder)
            raise StorageError(f"reading {key} failed: {exc.strerror or exc}") from exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        yield size, digest.hexdigest(), fp


def _discard(store: Storage, *keys: str) -> None:
    for key in keys:
        with contextlib.suppress(StorageError):  # the reconciler removes what stays behind
            store.delete(key)


def _discard_promoted(store: Storage, evidence_id: str) -> None:
    _discard(store, final_key(evidence_id),
             *(thumb_key(evidence_id, name) for name, _ in media.THUMB_SIZES))


def _require_open_case(ev: Evidence, status: str | None) -> None:
    """`status`: the case's, if read already (not decisive: see _mark_stored)."""
    if status is None:
        status = db.session.scalar(_CASE_STATUS, {"case_id": ev.case_id})
    if not scope.status_is_open(status) and not recheck_exempt(
            ev, db.session.get(Case, ev.case_id), utcnow()):
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


def _promote(store: Storage, ev: Evidence) -> tuple[bool, bool]:
    """Move the staged bytes to the evidence key: (whether the row was still pending when
    its lock was taken, whether staging may still hold bytes).

    Never over an existing evidence object: one there was promoted before (by a crash
    or a concurrent completion) and is what gets verified, so bytes re-sent to staging
    can never replace bytes being verified. Promotions of one row are serialised by a
    locking read, which holds its row lock (PostgreSQL) or the writer lock (SQLite) until
    the end of this step's transaction (the caller's).
    """
    final = final_key(ev.id)
    locked = db.session.execute(_HOLD_PENDING, {"evidence_id": ev.id}).first() is not None
    if not locked or _exists(store, final):
        return locked, True
    # No HEAD first: a missing source raises ObjectNotFound from the copy itself, which
    # the caller answers from the row (stored by a concurrent completion, or still waiting
    # for its bytes).
    store.copy(ev.staging_key, final)
    return True, False


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
    slots = _decode_slots.get(size)
    if slots is None:
        with _decode_guard:
            slots = _decode_slots.setdefault(size, threading.BoundedSemaphore(size))
    with slots:
        yield


def _finish(ev: Evidence, actor_id: str | None,
            case_status: str | None = None) -> tuple[Evidence, bool]:
    """finish_pending, and whether this very call stored it (not a concurrent one);
    `case_status`, the case's if the caller read it with the row."""
    store = runtime.storage()
    # A closed (sealed) case takes no photo: say so before the bytes are promoted, so they
    # wait in staging for a reopen instead of becoming evidence objects of no stored row.
    # The decisive check stays in _mark_stored, under the case's lock.
    _require_open_case(ev, case_status)
    try:
        # The staged bytes reach the disk before the lock (on SQLite the one writer lock,
        # which every phone's write waits on): the promotion under it has nothing left to
        # flush. Missing bytes are the promotion's to judge (they may be promoted already);
        # a flush that fails is the copy's to retry (it flushes what it links).
        try:
            store.settle(ev.staging_key)
        except ObjectNotFound:
            pass
        except StorageError:
            log.warning("flushing %s before its promotion failed", ev.staging_key,
                        exc_info=True)
        # Nothing changes: the step only holds the row lock. The row stays loaded past
        # it; read again only when it had left `pending` (a concurrent completion settled
        # it). One that settles it later loses to this one's conditional store, or wins
        # it, and the store's rowcount says which.
        with step(keep_loaded=True):
            pending, staging_left = _promote(store, ev)
        if not pending:
            db.session.refresh(ev)
        if not staging_left:
            _discard(store, ev.staging_key)
        if ev.state != "pending":  # another completion settled it meanwhile
            return _settled(ev), False
        with _fetched(store, final_key(ev.id), ev.size) as (size, digest, received_fp):
            if size != ev.size or digest != ev.sha256:
                code = "evidence.size_mismatch" if size != ev.size else "evidence.hash_mismatch"
                _discard_promoted(store, ev.id)
                with step():
                    ev.last_error = code
                raise _mismatch(ev, code)
            try:
                with _decode_slot():
                    facts = _read(ev, received_fp)
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

    made = getattr(facts, "thumbnails", ())
    store.put_many([(thumb_key(ev.id, t.name), t.data, t.content_type) for t in made])
    thumbnails = {t.name: {"width": t.width, "height": t.height} for t in made}

    received = utcnow()
    # Conditional on `pending`, so two completions racing store it once.
    try:
        with step(keep_loaded=True):
            mine = _mark_stored(ev, facts, thumbnails, received, actor_id)
    except Conflict:
        # Sealed while this photo was being verified: its bytes go back to staging (where
        # a reopen finds them) and no promoted object outlives the pending row.
        _demote(store, ev)
        raise
    if not mine:  # settled by another completion: what it wrote
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


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _flags(ev: Evidence, case: Case, facts: Any) -> list[dict]:
    duplicates = db.session.scalars(_DUPLICATES, {"sha256": ev.sha256,
                                                  "case_id": ev.case_id}).all()
    exif = getattr(facts, "exif", None)
    return integrity_flags(
        exif_gps=exif.gps if exif else None, exif_taken_at=exif.taken_at if exif else None,
        exif_errors=exif.errors if exif else [],
        geo=(ev.geo_lat, ev.geo_lon) if ev.geo_lat is not None else None,
        case_location=(case.lat, case.lon) if case.lat is not None else None,
        captured_at=ev.captured_at, received_at=ev.declared_at,
        device_offset_s=ev.device_offset_s, duplicate_case_ids=list(duplicates),
        declared_type=ev.declared_type, content_type=facts.content_type,
        limits=Thresholds(runtime.setting("FAR_FROM_CASE_M"), runtime.setting("CLOCK_DRIFT_S"),
                          runtime.setting("LOCAL_TIMEZONE")), photo=exif is not None)


def _mark_stored(ev: Evidence, facts: Any, thumbnails: dict[str, Any], received: datetime,
                 actor_id: str | None) -> bool:
    # Under the case's row lock, which an approval holds until it commits: a photo declared
    # while the case was being approved is not stored into its seal. It stays pending (the
    # phone keeps it, with the reason) and completes after a reopen.
    case = db.session.scalar(_CASE_LOCKED, {"case_id": ev.case_id})
    status = case.status if case is not None else None
    if not scope.status_is_open(status) and (case is None or not recheck_exempt(
            ev, case, received)):
        raise _closed_conflict(status)
    flags = _flags(ev, case, facts)
    exif = getattr(facts, "exif", None)
    values = {"state": "stored", "object_key": final_key(ev.id),
              "content_type": facts.content_type, "stored_at": received,
              "width": getattr(facts, "width", None), "height": getattr(facts, "height", None),
              "duration_s": getattr(facts, "duration_s", None),
              # JSON as the database gives it back (the row is not read again, below).
              "exif": _as_json(exif.to_dict()) if exif else None,
              "exif_errors": _as_json(exif.errors) if exif else None,
              "flags": _as_json(flags), "thumbnails": _as_json(thumbnails), "last_error": None}
    done = db.session.execute(_STORE, {"evidence_id": ev.id,
                                       **{f"new_{name}": v for name, v in values.items()}})
    if done.rowcount == 1:
        # This call stored the row: it holds exactly these values now, so the answer needs
        # no second read of it (the caller's step keeps them past its commit).
        for name, value in values.items():
            set_committed_value(ev, name, value)
        timeline.record(case, "evidence_stored", actor_id=actor_id, locked=True,
                         data={"evidence_id": ev.id, "sha256": ev.sha256, "size": ev.size,
                               "place": ev.place, "captured_at": ev.captured_at,
                               "flags": [f["code"] for f in flags]})
        audit.append("evidence.stored", "evidence", ev.id, actor_id=actor_id,
                     data={"sha256": ev.sha256, "size": ev.size,
                           "flags": [f["code"] for f in flags]})
    return done.rowcount == 1


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
