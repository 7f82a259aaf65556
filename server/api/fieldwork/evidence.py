"""Evidence photos: declare, (bytes to the upload target), complete, read."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app, jsonify, redirect, request
from flask.views import MethodView

from server.api.blueprint import Blueprint
from server.api.fieldwork.schemas import EvidenceDeclareSchema, EvidenceListSchema, EvidenceSchema
from server.api.presenters import absolute, present_evidence
from server.api.security import current_user, load_user
from server.api.storage_slots import needs_storage, slot_if_free
from server.domain.core.errors import DomainError
from server.domain.fieldwork import completion, evidence
from server.extensions import db, limiter
from server.observability import metrics

log = logging.getLogger(__name__)

blp = Blueprint("evidence", __name__, url_prefix="/api",
                description="Photo evidence: declare, upload, complete.")
blp.before_request(load_user)
_EVIDENCE = EvidenceSchema()  # built once: a schema's fields are copied at each build


@blp.route("/evidence", methods=["POST"])
# Per user, not per address: an office behind one NAT address is many users.
@limiter.limit(lambda: current_app.config["UPLOAD_RATE_LIMIT"],
               key_func=lambda: f"user:{current_user().id}")
@blp.arguments(EvidenceDeclareSchema)
@blp.response(201, EvidenceSchema)
@blp.alt_response(200, schema=EvidenceSchema, description="A retry: the first declaration.")
def declare(data: dict):  # type: ignore[no-untyped-def]
    """Declare a photo (idempotent on client_id); answers where to send its bytes."""
    user = current_user()
    ev, created = evidence.declare(user, data)
    upload = evidence.upload_target(user, ev)
    response = jsonify(_EVIDENCE.dump(present_evidence(ev, user, upload)))
    response.status_code = 201 if created else 200
    return response


@blp.route("/evidence/<evidence_id>/complete", methods=["POST"])
@blp.response(200, EvidenceSchema)
@needs_storage
def complete(evidence_id: str):  # type: ignore[no-untyped-def]
    """Verify size and SHA-256, read EXIF, make thumbnails, flag, store. Repeatable."""
    user = current_user()
    return present_evidence(completion.complete(user, evidence_id), user)


def completed_on_upload(key: str) -> dict[str, Any] | None:
    """The local store's upload link has just received `key`'s bytes (server.api.blobs):
    their declaration completed at once, and the receipt the phone's outbox takes in place
    of its complete call's: id, state and the server's SHA-256 (nothing more, as the link
    needs no session), only when this very upload stored it. Otherwise None, and the phone
    calls complete, which answers why (counted then, not here: a refusal counts once). The
    bytes are kept whatever happens here: a failure is the complete call's to meet."""
    if not current_app.config["COMPLETE_ON_UPLOAD"]:
        return None
    with slot_if_free() as free:
        if not free:  # the worker's storage slots are taken: the complete call waits its turn
            return None
        try:
            ev = completion.complete_received(key)
        except DomainError:
            db.session.rollback()
            return None
        except Exception:  # a store or database error, or a bug: the bytes are kept
            # (counted as errors when the phone's complete call meets them, answered 503)
            db.session.rollback()
            log.warning("completing %s as it arrived failed; the phone's complete call (or "
                        "the reconciler) finishes it", key, exc_info=True)
            return None
    if ev is None:
        return None
    metrics.count_intake("complete", 200, None)
    return {"id": ev.id, "state": ev.state, "sha256": ev.sha256}


@blp.route("/evidence/<evidence_id>")
class EvidenceItem(MethodView):
    @blp.response(200, EvidenceSchema)
    def get(self, evidence_id: str):  # type: ignore[no-untyped-def]
        """One photo, with short-lived links to its thumbnails and original."""
        user = current_user()
        ev = evidence.get_evidence(user, evidence_id)
        return present_evidence(ev, user, evidence.upload_target(user, ev))


@blp.route("/cases/<case_id>/evidence")
class CaseEvidence(MethodView):
    @blp.response(200, EvidenceListSchema)
    def get(self, case_id: str):  # type: ignore[no-untyped-def]
        """The case's stored photos, in the order they were taken."""
        user = current_user()
        items = evidence.list_for_case(user, case_id)
        return {"items": [present_evidence(ev, user) for ev in items]}


@blp.route("/evidence/<evidence_id>/original")
@blp.response(302, description="To a short-lived link to the original's bytes.")
def original(evidence_id: str):  # type: ignore[no-untyped-def]
    """The original photo (as an attachment). Each download is recorded with the user
    and their address; `download_url` in an evidence record points here."""
    url = evidence.original_download(current_user(), evidence_id, request.remote_addr)
    response = redirect(absolute(url), code=302)
    response.headers["Cache-Control"] = "no-store"
    return response
