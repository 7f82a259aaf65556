"""Jobs over HTTP: start one (202), follow its progress, download its result."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, redirect, request
from marshmallow import ValidationError
from werkzeug.wrappers import Response

from server.api.blueprint import Blueprint
from server.api.jobs.schemas import PARAMS, JobCreateSchema, JobListSchema, JobSchema
from server.api.security import current_user, load_user
from server.domain.core.errors import Invalid
from server.domain.jobs import jobs, queue
from server.domain.jobs.kinds import LEDGER_KINDS
from server.extensions import limiter

blp = Blueprint("jobs", __name__, url_prefix="/api/jobs",
                description="Heavy work as jobs (batch closure files, archives): started "
                            "here, done by a worker, followed by polling; the result is "
                            "kept in the object store with its SHA-256.")
blp.before_request(load_user)


@blp.before_request
def _local_reaper() -> None:
    # Without Redis the web process reaps its own jobs: a new process (gunicorn recycles
    # workers) starts its timer on the first jobs request, such as the app's poll.
    queue.start_local_reaper(current_app._get_current_object())  # type: ignore[attr-defined]


# A ledger job counts with the ledger downloads (same scope, per user: REPORT_RATE_LIMIT);
# the other kinds are bounded by JOBS_PER_USER.
_ledger_limit = limiter.shared_limit(
    lambda: current_app.config["REPORT_RATE_LIMIT"], scope="reports",
    key_func=lambda: f"user:{g.user.id}",
    exempt_when=lambda: (request.get_json(silent=True) or {}).get("kind") not in LEDGER_KINDS)


def _params(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded = PARAMS[kind].load(raw)
    except ValidationError as error:
        raise Invalid("job.bad_params", "The job's parameters are not right.",
                      errors={"params": error.messages}) from error
    for day in ("closed_from", "closed_to"):  # kept as JSON on the job
        if day in loaded:
            loaded[day] = loaded[day].isoformat()
    if "first" in loaded:  # a ledger's period: the query's names, as its GET takes them
        loaded["from"], loaded["to"] = (loaded.pop("first").isoformat(),
                                        loaded.pop("last").isoformat())
    return loaded


@blp.route("", methods=["POST"])
@blp.arguments(JobCreateSchema)
@blp.response(202, JobSchema)
@_ledger_limit
def create(data: dict) -> dict:
    """Start a job. Its cases are checked now, as the synchronous download checks them
    (a case one cannot see is 404, one not closed 409): nothing is queued on a refusal.
    With the queue down the job is still made and waits."""
    job = jobs.create(current_user(), data["kind"], _params(data["kind"], data["params"]))
    return jobs.view(job)


@blp.route("")
@blp.response(200, JobListSchema)
def mine() -> dict:
    """My recent jobs (the 20 latest), newest first."""
    return {"items": [jobs.view(j) for j in jobs.recent(current_user())]}


@blp.route("/<job_id>")
@blp.response(200, JobSchema)
def one(job_id: str) -> dict:
    """A job's state, progress, error, and its result when done. Only the user who
    started it reads it; anyone else gets 404."""
    return jobs.view(jobs.get_mine(current_user(), job_id))


@blp.route("/<job_id>/download")
@blp.response(302, description="To a short-lived signed link to the file.")
def download(job_id: str) -> Response:
    """The result: a redirect to a signed link (its Content-Disposition names the file).
    A job not finished is 409 job.not_done; a failed one 409 job.failed."""
    job = jobs.get_mine(current_user(), job_id)
    response = redirect(jobs.download_link(job), code=302)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-SHA256"] = job.sha256 or ""
    return response
