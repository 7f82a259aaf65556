"""Running a job once, whatever happens to its workers.

claim: a conditional UPDATE (queued, or running with a stale heartbeat -> running,
attempts + 1) that one caller wins. While it runs, a thread writes the heartbeat and each
progress report is an UPDATE only the current attempt can make; a report that finds the
attempt gone stops the work. The result goes to a spool file, is hashed, put in the object
store under `jobs/<id>/<attempt>/...` (no row locked meanwhile), and the finishing UPDATE
again names the attempt: a stale attempt that gets there deletes its own object. The
reaper re-queues jobs whose worker stopped heartbeating, fails them after
JOB_MAX_ATTEMPTS, and sends the queued jobs that never reached the queue."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context

from server.domain.core import named_objects, problem_text, runtime
from server.domain.core.errors import DomainError
from server.domain.jobs import kinds, queue
from server.extensions import db
from server.models import Job, User
from server.models.base import utcnow
from server.storage import StorageError

log = logging.getLogger(__name__)

RESULT_PREFIX = "jobs"


class AttemptLost(Exception):
    """This attempt no longer holds the job (reaped and taken by another worker)."""


def _stale_before() -> Any:
    """Heartbeats and queue entries older than this are stale (by queue.shared_now)."""
    return queue.shared_now() - timedelta(seconds=runtime.setting("JOB_STALE_S"))


def claim(job_id: str) -> int | None:
    """Take the job: the attempt number won, or None when another worker has it (or it
    is finished, or out of attempts)."""
    running_stale = sa.and_(Job.state == "running", Job.heartbeat_at < _stale_before(),
                            Job.attempts < runtime.setting("JOB_MAX_ATTEMPTS"))
    now = queue.shared_now()
    won = db.session.execute(
        sa.update(Job).where(Job.id == job_id, sa.or_(Job.state == "queued", running_stale))
        .values(state="running", attempts=Job.attempts + 1, heartbeat_at=now,
                started_at=now, stage="starting", progress_done=0, progress_total=0)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not won:
        return None
    return db.session.scalar(sa.select(Job.attempts).where(Job.id == job_id))


def _mine(job_id: str, attempt: int) -> Any:
    return sa.and_(Job.id == job_id, Job.attempts == attempt, Job.state == "running")


class _Reporter:
    """Heartbeat and progress of one attempt, on a connection of their own (never the
    session the work reads with, so a report commits nothing of the work's)."""

    def __init__(self, app: Flask, job_id: str, attempt: int) -> None:
        self.app, self.job_id, self.attempt = app, job_id, attempt
        self.engine = db.engine
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id[:8]}",
                                        daemon=True)

    def _update(self, **values: Any) -> bool:
        with self.engine.begin() as conn:
            found = conn.execute(sa.update(Job).where(_mine(self.job_id, self.attempt))
                                 .values(heartbeat_at=queue.shared_now(conn.dialect.name), **values)
                                 ).rowcount
        if not found:
            self.lost = True
        return bool(found)

    def _beat(self) -> None:
        every = self.app.config["JOB_HEARTBEAT_S"]
        while not self._stop.wait(every):
            try:
                if not self._update():
                    return
            except Exception:  # a database blip: the next beat tries again
                log.warning("job %s: heartbeat not written", self.job_id, exc_info=True)

    def progress(self, done: int, total: int, stage: str) -> None:
        if self.lost or not self._update(progress_done=max(0, done),
                                         progress_total=max(0, total), stage=stage[:40]):
            raise AttemptLost(self.job_id)

    def __enter__(self) -> _Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def execute(job_id: str) -> str:
    """Run the job if this call wins its claim. Returns what happened (for logs and
    tests): done, failed, requeued, lost, skipped (not ours to run), or unclaimed (the
    database away: the row stays queued and the reaper sends it again)."""
    try:
        attempt = claim(job_id)
    except sa.exc.OperationalError as error:
        # Not raised to the queue: the job's row is the truth, still queued, and the reaper
        # sends it again once its queue entry is over (see queue.in_queue).
        db.session.rollback()
        log.warning("job %s: not claimed, the database is away (sent again later): %s",
                    job_id, error)
        return "unclaimed"
    if attempt is None:
        return "skipped"
    job = db.session.get(Job, job_id)
    assert job is not None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    try:
        with _Reporter(app, job_id, attempt) as reporter:
            user = db.session.get(User, job.user_id)
            kind = kinds.get(job.kind)
            if user is None or not user.active:
                raise DomainError("job.user_inactive", "The account that asked for this job "
                                  "is no longer active.")
            made = kind.run(user, dict(job.params), spool, reporter.progress)
            db.session.rollback()  # end the work's reads before the store is called
            reporter.progress(1, 1, "storing")
            return _store(job_id, attempt, made, spool)
    except AttemptLost:
        db.session.rollback()
        log.warning("job %s: attempt %s lost its claim; another worker has it", job_id, attempt)
        return "lost"
    except DomainError as error:  # the job cannot be done as asked: its error is kept
        db.session.rollback()
        _fail(job_id, attempt, error.code, error.detail, error.status_hint,
              {**error.extra, **error.params})
        return "failed"
    except (StorageError, sa.exc.OperationalError) as error:  # may pass: try again
        db.session.rollback()
        # The text (SQL, parameters, hosts) goes to the log only; the user sees the class.
        log.warning("job %s attempt %s: %s", job_id, attempt, error)
        return _retry_or_fail(job_id, attempt, "job.unavailable", type(error).__name__)
    except Exception as error:
        db.session.rollback()
        log.exception("job %s attempt %s failed", job_id, attempt)
        return _retry_or_fail(job_id, attempt, "job.failed", type(error).__name__)
    finally:
        spool.close()


def _own_result(key: str) -> bool:
    """The job's own object (its spool, stored), not a file it names (a closure file):
    only an own one is deleted with the job's result."""
    return key.startswith(f"{RESULT_PREFIX}/")


def _store(job_id: str, attempt: int, made: kinds.Made, spool: IO[bytes]) -> str:
    store = runtime.storage()
    if made.stored is not None:  # already in the store, checked: named, not copied
        key, sha256, size = made.stored.key, made.stored.sha256, made.stored.size
    else:
        size = spool.tell()
        spool.seek(0)
        digest = hashlib.sha256()
        for chunk in iter(lambda: spool.read(1 << 20), b""):
            digest.update(chunk)
        spool.seek(0)
        suffix = made.filename.rsplit(".", 1)[-1] if "." in made.filename else "bin"
        key, sha256 = f"{RESULT_PREFIX}/{job_id}/{attempt}/result.{suffix}", digest.hexdigest()
        store.put(key, spool, content_type=made.content_type, size=size)  # no row locked
    try:
        finished = db.session.execute(
            sa.update(Job).where(_mine(job_id, attempt))
            .values(state="done", result_key=key, sha256=sha256, size=size,
                    filename=made.filename[:255], content_type=made.content_type,
                    finished_at=utcnow(), stage="done", progress_done=1, progress_total=1,
                    error_code=None, error_zh=None, error_en=None, error_extra=None)
            .execution_options(synchronize_session=False)).rowcount
        if finished:  # the winning attempt's export is the one recorded
            for record in made.audits:
                record.append()
        db.session.commit()
    except sa.exc.SQLAlchemyError:
        # No row names the object: it goes (the next attempt stores its own), so a
        # database that failed here leaves no result nobody can reach or delete. Unless
        # the commit went through before the connection broke: the row names it then, and
        # it stays; so does it when the row cannot be read to tell.
        db.session.rollback()
        with contextlib.suppress(sa.exc.SQLAlchemyError, StorageError):
            named = db.session.scalar(sa.select(Job.result_key).where(Job.id == job_id))
            db.session.rollback()
            if named != key and _own_result(key):
                store.delete(key)
        raise
    if not finished:  # another attempt holds the job now: this one leaves nothing behind
        if _own_result(key):
            store.delete(key)
        log.warning("job %s: attempt %s finished late; its result was deleted", job_id, attempt)
        return "lost"
    return "done"


def _fail(job_id: str, attempt: int | None, code: str, detail: str, status: int,
          params: dict[str, Any]) -> bool:
    said = problem_text.messages(code, status, params)
    extra = {k: v for k, v in params.items() if isinstance(v, str | int | float | bool)}
    where = _mine(job_id, attempt) if attempt is not None else sa.and_(
        Job.id == job_id, Job.state == "running")
    done = db.session.execute(
        sa.update(Job).where(where).values(
            state="failed", error_code=code, error_zh=said["zh"], error_en=said["en"],
            error_extra={"detail": detail, **extra}, finished_at=utcnow(), stage="failed")
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return bool(done)


def _retry_or_fail(job_id: str, attempt: int, code: str, detail: str) -> str:
    if attempt < runtime.setting("JOB_MAX_ATTEMPTS"):
        again = db.session.execute(
            sa.update(Job).where(_mine(job_id, attempt))
            .values(state="queued", enqueued_at=None, stage="waiting")
            .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if again:
            queue.send(job_id)
            return "requeued"
        return "lost"
    _fail(job_id, attempt, code, detail, 500, {})
    return "failed"


def reap() -> dict[str, int]:
    """Once over the jobs (idempotent; two nodes at once act once, every change being
    conditional): stale running jobs taken again or failed, queued jobs that never reached
    the queue (or that the queue lost) sent, results past JOB_RESULT_DAYS deleted."""
    cutoff = _stale_before()
    most = runtime.setting("JOB_MAX_ATTEMPTS")
    counts = {"requeued": 0, "failed": 0, "sent": 0, "expired": 0}
    stale = db.session.execute(sa.select(Job.id, Job.attempts).where(
        Job.state == "running", Job.heartbeat_at < cutoff)).all()
    db.session.rollback()
    for job_id, attempts in stale:
        where = sa.and_(_mine(job_id, attempts), Job.heartbeat_at < cutoff)
        if attempts >= most:
            said = problem_text.messages("job.worker_lost", 500, {"attempts": attempts})
            n = db.session.execute(sa.update(Job).where(where).values(
                state="failed", error_code="job.worker_lost", error_zh=said["zh"],
                error_en=said["en"], error_extra={"attempts": attempts},
                finished_at=utcnow(), stage="failed")
                .execution_options(synchronize_session=False)).rowcount
            counts["failed"] += n
        else:
            n = db.session.execute(sa.update(Job).where(where).values(
                state="queued", enqueued_at=None, stage="waiting")
                .execution_options(synchronize_session=False)).rowcount
            counts["requeued"] += n
        db.session.commit()
        if n:
            _remove_attempt_results(job_id, attempts)
    # Never sent, or a queue entry older than a heartbeat's grace (by the shared clock)
    # that the queue no longer holds: sent again (a job sent twice is claimed once).
    waiting = db.session.execute(sa.select(Job.id, Job.enqueued_at, Job.queue_ref).where(
        Job.state == "queued", sa.or_(Job.enqueued_at.is_(None),
                                      Job.enqueued_at < _stale_before()))).all()
    db.session.rollback()
    for job_id, enqueued_at, ref in waiting:
        if enqueued_at is None or not queue.in_queue(ref):
            counts["sent"] += queue.send(job_id)
    counts["expired"] = _expire_results()
    return counts


def _remove_attempt_results(job_id: str, attempt: int) -> None:
    """What a dead attempt stored before it could name it (killed between its put and its
    finishing UPDATE): no row names it, so nothing else would ever delete it. Should that
    attempt still be alive, it finds the job no longer its own and deletes its result
    itself (see _store)."""
    store = runtime.storage()
    try:
        for info in store.list(f"{RESULT_PREFIX}/{job_id}/{attempt}/"):
            store.delete(info.key)
    except StorageError:  # the next reap does not come back to it: said in the log
        log.warning("job %s: what attempt %s stored was not removed", job_id, attempt,
                    exc_info=True)


def _expire_results() -> int:
    before = utcnow() - timedelta(days=runtime.setting("JOB_RESULT_DAYS"))
    old = db.session.execute(sa.select(Job.id, Job.result_key).where(
        Job.state == "done", Job.result_key.is_not(None), Job.finished_at < before)).all()
    db.session.rollback()
    store = runtime.storage()
    for job_id, key in old:
        # The row first: no download is offered for an object about to go.
        db.session.execute(sa.update(Job).where(Job.id == job_id, Job.result_key == key)
                           .values(result_key=None))
        db.session.commit()
        if not _own_result(key):  # a closure file: its own row keeps it
            continue
        try:
            store.delete(key)
        except StorageError:
            log.warning("job %s: old result %s not deleted", job_id, key)
    return len(old)


def run_queued(job_id: str) -> str:
    """What a queue's worker calls (`fieldcase worker` runs it inside the app's context):
    the job in an app context of its own, so each job has a fresh database session."""
    if not has_app_context():
        raise RuntimeError("jobs run inside the app: start workers with `fieldcase worker`")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    with app.app_context():
        return execute(job_id)


def _result_objects(before: datetime) -> Iterable[str]:
    """Each finished job's own file still offered (an expired one's row names none; a
    closure file it names is its own row's to list): a backup checks the store holds
    them."""
    return db.session.scalars(sa.select(Job.result_key).where(
        Job.state == "done", Job.result_key.like(f"{RESULT_PREFIX}/%"),
        Job.finished_at < before))


named_objects.register("job result", _result_objects)
