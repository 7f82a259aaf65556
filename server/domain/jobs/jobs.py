"""Jobs as users see them: created after the same access checks as the synchronous
downloads, read only by the user who asked (anyone else: 404), downloaded through a
short-lived signed link to the stored result, with its hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from server.domain.core import runtime
from server.domain.core.errors import Conflict, DomainError, Forbidden, NotFound, TooMany
from server.domain.core.uow import transaction
from server.domain.jobs import kinds, queue
from server.extensions import db
from server.models import Job, User
from server.models.base import utcnow

RECENT = 20


def create(user: User, kind: str, params: dict[str, Any]) -> Job:
    """Check, record, then send: a refusal queues nothing; a queue that is down leaves
    the job waiting (202 all the same)."""
    spec = kinds.get(kind)
    kept = spec.prepare(user, params)
    _within_cap(user)
    with transaction():
        job = Job(kind=kind, params=kept, user_id=user.id, state="queued", stage="waiting",
                  progress_done=0, progress_total=0, attempts=0, created_at=utcnow())
        db.session.add(job)
    queue.send(job.id)  # after the commit: no lock held while Redis is called
    db.session.refresh(job)
    return job


def _still_allowed(user: User, job: Job) -> bool:
    """The kind's access rule run again now: a user moved to another unit (or whose role
    changed) no longer sees the cases, the result, nor its link. Only a refusal of access
    counts (a case since reopened is not one: the job's own error still shows)."""
    try:
        kinds.check_access(user, job.kind, job.params or {})
    except (Forbidden, NotFound):
        return False
    except DomainError:  # bad params, too many: not a question of access
        return True
    return True


def _within_cap(user: User) -> None:
    """At most JOBS_PER_USER unfinished jobs per user. Counted before the insert: two
    requests at once may both pass (one over the cap at worst), not worth a lock."""
    cap = runtime.setting("JOBS_PER_USER")
    unfinished = db.session.scalar(sa.select(sa.func.count()).select_from(Job).where(
        Job.user_id == user.id, Job.state.in_(("queued", "running"))))
    if unfinished >= cap:
        raise TooMany("job.too_many", f"You already have {cap} jobs waiting or running.",
                      extra={"limit": cap, "retry_after_s": 30})


def get_mine(user: User, job_id: str) -> Job:
    job = db.session.get(Job, job_id) if len(job_id) <= 36 else None
    if job is None or job.user_id != user.id or not _still_allowed(user, job):
        raise NotFound("job.not_found", "No such job.")
    return job


def recent(user: User) -> list[Job]:
    mine = db.session.scalars(sa.select(Job).where(Job.user_id == user.id)
                              .order_by(Job.created_at.desc(), Job.id).limit(RECENT))
    return [job for job in mine if _still_allowed(user, job)]


def download_link(job: Job) -> str:
    """A signed link to the result (the file's name, type and hash in it); only for a
    finished job whose result is still kept."""
    if job.state == "failed":
        raise Conflict("job.failed", "This job failed: there is nothing to download.",
                       extra={"job_id": job.id, "error_code": job.error_code})
    if job.state != "done":
        raise Conflict("job.not_done", "This job is not finished yet.",
                       extra={"job_id": job.id, "state": job.state})
    if not job.result_key:
        raise NotFound("job.expired", "This job's file is no longer kept: start it again.")
    return runtime.storage().presign_download(
        job.result_key, expires_in=runtime.setting("DOWNLOAD_URL_TTL"), filename=job.filename,
        content_type=job.content_type, attachment=True, sha256=job.sha256)


def view(job: Job) -> dict[str, Any]:
    done = job.state == "done" and bool(job.result_key)
    return {
        "id": job.id, "kind": job.kind, "params": job.params, "state": job.state,
        "stage": job.stage,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "attempts": job.attempts,
        "error": None if job.state != "failed" else {
            "code": job.error_code, "messages": {"zh": job.error_zh, "en": job.error_en},
            **{k: v for k, v in (job.error_extra or {}).items() if k != "messages"}},
        "result": None if not done else {
            "filename": job.filename, "content_type": job.content_type, "size": job.size,
            "sha256": job.sha256, "url": f"/api/jobs/{job.id}/download"},
        "created_at": job.created_at, "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def queue_depth(now: datetime | None = None) -> dict[str, float]:
    """For /metrics: the jobs waiting, and how long the oldest has waited (seconds)."""
    count, oldest = db.session.execute(sa.select(sa.func.count(), sa.func.min(Job.created_at))
                                       .where(Job.state == "queued")).one()
    age = ((now or utcnow()) - oldest).total_seconds() if oldest is not None else 0.0
    return {"queued": int(count), "oldest_queued_age_s": max(0.0, age)}
