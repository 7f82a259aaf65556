"""Webhooks: reminders and escalations posted as JSON signed with HMAC-SHA256.

The signature covers the timestamp and the body (`t.body`), so a receiver can refuse a
replayed or altered message before forwarding it to SMS or WeChat Work. Deliveries are
rows: a failed one is retried with exponential backoff and never blocks the sweep.

A webhook belongs to a unit and is sent only what that unit's people may see (the rule is
server.domain.accounts.scope's). Its secret is made here, shown once, and stored encrypted with a
key kept outside the database. Its address must be public: the host is resolved when each
message is sent, every address it resolves to is checked, and the connection dials the
checked address (a DNS answer that changes in between cannot redirect it), follows no
redirect and carries no proxy. Deliveries run a few at once within a budget, so receivers
that never answer cannot hold up the sweep.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app

from server.domain.accounts import scope
from server.domain.accounts.roles import ADMIN_ROLES
from server.domain.audit import audit
from server.domain.cases.webhook_transport import check_url, post
from server.domain.core.errors import Forbidden, Invalid, NotFound
from server.domain.core.runtime import setting
from server.domain.core.uow import command, transaction
from server.extensions import db
from server.models import Case, Notification, Unit, User, Webhook, WebhookDelivery
from server.models.base import new_id, utcnow

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=30)
SIGNATURE_HEADER = "X-Fieldcase-Signature"
TIMESTAMP_HEADER = "X-Fieldcase-Timestamp"
_SIGNS = "fieldcase.webhook-secret:"
log = logging.getLogger(__name__)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *,
           now: float | None = None, tolerance_s: int = 300) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps."""
    try:
        age = abs((now or time.time()) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(sign(secret, timestamp, body), signature)


def backoff(attempts: int) -> timedelta:
    return BASE_BACKOFF * (2 ** max(0, attempts - 1))


# ---- the secret, encrypted outside the database's reach ---------------------------------
def seal(hook_id: str, secret: str) -> str:
    """AES-256-GCM under WEBHOOK_SECRET_KEY, bound to the webhook's id (associated data):
    a sealed secret copied onto another row does not open there."""
    nonce = os.urandom(12)
    box = AESGCM(bytes.fromhex(setting("WEBHOOK_SECRET_KEY"))).encrypt(
        nonce, secret.encode(), (_SIGNS + hook_id).encode())
    return "v1." + base64.urlsafe_b64encode(nonce + box).decode()


def unseal(hook_id: str, sealed: str) -> str:
    """The secret, or ValueError when it does not open (another key, another row)."""
    version, _, data = sealed.partition(".")
    if version != "v1":
        raise ValueError("unknown sealed secret")
    raw = base64.urlsafe_b64decode(data)
    try:
        return AESGCM(bytes.fromhex(setting("WEBHOOK_SECRET_KEY"))).decrypt(
            raw[:12], raw[12:], (_SIGNS + hook_id).encode()).decode()
    except InvalidTag as exc:
        raise ValueError("the sealed secret does not open with this key") from exc


def seal_legacy_secrets() -> int:
    """Secrets stored in plain before migration 0011 (which had no key to encrypt with):
    sealed and emptied, in one short transaction; none after the first sweep."""
    with transaction():
        rows = list(db.session.scalars(sa.select(Webhook)
                                       .where(Webhook.legacy_secret.is_not(None))))
        for hook in rows:
            hook.secret_sealed, hook.legacy_secret = seal(hook.id, hook.legacy_secret), None
    return len(rows)


# ---- the admin's commands ----------------------------------------------------------------
def _admin(user: User) -> None:
    if user.role not in ADMIN_ROLES:
        raise Forbidden("webhook.forbidden", "Only an admin may configure webhooks.")


@command
def add_webhook(user: User, url: str, unit_id: str | None = None) -> tuple[Webhook, str]:
    """A webhook for one of the admin's units (theirs when they have one), with a secret
    made here: the answer's is the only plain copy."""
    _admin(user)
    if unit_id is None:
        if len(user.units) != 1:
            raise Invalid("webhook.unit_required", "Say which of your units this webhook "
                          "is for.", errors={"unit_id": ["Required."]})
        unit_id = user.units[0].id
    if unit_id not in scope.visible_unit_ids(user):
        raise Invalid("webhook.bad_unit", "A webhook can be added only for your units.",
                      errors={"unit_id": ["Not one of your units."]})
    check_url(url)
    secret = secrets.token_urlsafe(32)
    hook_id = new_id()
    hook = Webhook(id=hook_id, unit_id=unit_id, url=url.strip(),
                   secret_sealed=seal(hook_id, secret))
    db.session.add(hook)
    db.session.flush()
    audit.append("webhook.added", "webhook", hook.id, actor_id=user.id,
                 data={"url": hook.url, "unit_id": unit_id})
    return hook, secret


def _visible(user: User) -> sa.Select:
    _admin(user)
    return sa.select(Webhook).where(Webhook.unit_id.in_(scope.visible_unit_ids(user)))


@command
def deactivate_webhook(user: User, hook_id: str) -> Webhook:
    """Stop posting to a webhook; what it was sent stays on record, what it still owed is
    given up. Another unit's webhook is the same 404 as none."""
    hook = db.session.scalar(_visible(user).where(Webhook.id == hook_id))
    if hook is None:
        raise NotFound("webhook.not_found", "No such webhook.")
    if hook.active:
        hook.active = False
        db.session.execute(sa.update(WebhookDelivery).where(
            WebhookDelivery.webhook_id == hook.id,
            WebhookDelivery.state.in_(("pending", "sending")))
            .values(state="failed", last_error="webhook deactivated"))
        audit.append("webhook.deactivated", "webhook", hook.id, actor_id=user.id,
                     data={"url": hook.url})
    return hook


def list_webhooks(user: User) -> list[Webhook]:
    """The webhooks of the admin's units and those below them."""
    return list(db.session.scalars(_visible(user).order_by(Webhook.created_at)))


# ---- the sweep's side --------------------------------------------------------------------
def active_hooks() -> dict[str, str]:
    """Active webhook -> its unit."""
    return {hook_id: unit_id for hook_id, unit_id in db.session.execute(
        sa.select(Webhook.id, Webhook.unit_id).where(Webhook.active))}


def enqueue(raised: Iterable[tuple[str, str]], at: datetime, hooks: dict[str, str]) -> None:
    """A delivery of each (notification, case) to every active webhook whose unit may see
    the case (a helper: no commit; one query for the whole batch)."""
    raised = list(raised)
    if not raised or not hooks:
        return
    seeing = scope.units_seeing(case_id for _, case_id in raised)
    db.session.add_all(
        WebhookDelivery(webhook_id=hook_id, notification_id=note_id, next_attempt_at=at)
        for note_id, case_id in raised for hook_id, unit_id in hooks.items()
        if unit_id in seeing.get(case_id, ()))


def payload(n: Notification, case: Case, unit: Unit) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "milestone": n.milestone, "due_at": n.due_at,
            "raised_at": n.created_at,
            # Raised well after due_at (a case entered late): not news of the moment.
            "late": bool((n.data or {}).get("late")),
            "case": {"id": case.id, "subject": case.subject, "address": case.address,
                     "status": case.status, "key": case.key,
                     # The leader in charge by name: the user's, else older cases' text.
                     "leader": case.leader_user.display_name if case.leader_user
                     else case.leader,
                     "due_at": case.due_at, "external_ref": case.external_ref},
            "unit": {"id": unit.id, "name": unit.name}}


@dataclass(frozen=True)
class _Job:
    """A delivery as plain data: what a worker thread needs, no ORM row."""

    delivery_id: str
    url: str
    secret: str | None  # None: it does not open (the key changed)
    body: bytes


def _claim(delivery_id: str, now: datetime) -> bool:
    """Take a delivery for this sender, with a lease: two sweeps never post it both, and
    one that died mid-post (or ran out of its budget) leaves it to be taken again once the
    lease runs out."""
    lease = timedelta(seconds=4 * float(setting("WEBHOOK_TIMEOUT_S")))
    with transaction():
        taken = db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id,
                   WebhookDelivery.state.in_(("pending", "sending")),
                   WebhookDelivery.next_attempt_at <= now)
            .values(state="sending", next_attempt_at=now + lease)
            .execution_options(synchronize_session=False)).rowcount
    return taken == 1


def _due(now: datetime, limit: int) -> list[_Job]:
    """The deliveries whose time has come, as plain jobs. One owed for a case the
    webhook's unit may no longer see (moved to another unit since) is given up unsent."""
    with transaction():
        rows = db.session.execute(
            sa.select(WebhookDelivery, Webhook, Notification, Case, Unit)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .join(Notification, Notification.id == WebhookDelivery.notification_id)
            .join(Case, Case.id == Notification.case_id)
            .join(Unit, Unit.id == Notification.unit_id)
            .where(WebhookDelivery.state.in_(("pending", "sending")),
                   WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at).limit(limit)).all()
        seeing = scope.units_seeing(case.id for _, _, _, case, _ in rows)
        jobs, unseen = [], []
        for delivery, hook, note, case, unit in rows:
            if hook.unit_id not in seeing.get(case.id, ()):
                unseen.append(delivery.id)
                continue
            try:
                secret = unseal(hook.id, hook.secret_sealed or "")
            except ValueError:
                secret = None
            jobs.append(_Job(delivery.id, hook.url, secret, json.dumps(
                payload(note, case, unit), ensure_ascii=False, default=str,
                separators=(",", ":")).encode()))
        if unseen:
            db.session.execute(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(unseen),
                       WebhookDelivery.state.in_(("pending", "sending")),
                       WebhookDelivery.next_attempt_at <= now)
                .values(state="failed", last_error="case outside the webhook's unit")
                .execution_options(synchronize_session=False))
    return jobs


def _send(job: _Job) -> str | None:
    """Post a job; None when the receiver took it (2xx), else what went wrong. A redirect
    is not followed: it fails with its status."""
    if job.secret is None:
        return "secret does not open (WEBHOOK_SECRET_KEY changed?)"
    stamp = str(int(time.time()))
    try:
        status = post(job.url, job.body, {
            "Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(job.secret, stamp, job.body),
            "X-Fieldcase-Delivery": job.delivery_id},
            float(setting("WEBHOOK_TIMEOUT_S")))
    except Invalid as exc:
        return exc.detail[:300]
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None if 200 <= status < 300 else f"HTTP {status}"


def _record(delivery_id: str, error: str | None, now: datetime) -> str | None:
    """The outcome of a claimed delivery, committed on its own: its counter's name."""
    with transaction():
        row = db.session.get(WebhookDelivery, delivery_id)
        if row is None or row.state != "sending":
            return None
        row.attempts += 1
        if error is None:
            row.state, row.delivered_at, row.last_error = "delivered", utcnow(), None
            return "delivered"
        if row.attempts >= MAX_ATTEMPTS:
            row.state, row.last_error = "failed", error
            return "given_up"
        row.state, row.last_error = "pending", error
        row.next_attempt_at = now + backoff(row.attempts)
        return "failed"


def _work(app: Flask, jobs: queue.SimpleQueue[_Job], now: datetime, deadline: float,
          counts: dict[str, int], lock: threading.Lock) -> None:
    """A delivery thread: its own app context and session; takes jobs while the sweep's
    budget lasts (one taken near its end may finish after the sweep returned)."""
    with app.app_context():
        try:
            while time.monotonic() < deadline:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    return
                try:
                    if not _claim(job.delivery_id, now):
                        continue  # another sweep took it
                    outcome = _record(job.delivery_id, _send(job), now)
                except Exception:  # the database went away: the lease brings it back
                    log.exception("webhook delivery %s not recorded", job.delivery_id)
                    db.session.rollback()
                    continue
                if outcome:
                    with lock:
                        counts[outcome] += 1
        finally:
            db.session.remove()


def deliver_due(now: datetime | None = None, *, limit: int = 200) -> dict[str, int]:
    """Send deliveries whose time has come, a few at once (WEBHOOK_CONCURRENCY), for at
    most WEBHOOK_SWEEP_BUDGET_S. Each outcome is committed on its own; no transaction is
    open across a network call. What the budget leaves unsent waits for the next sweep
    (untaken: pending; taken: until its lease runs out). Leases and backoff count from
    `now`, the sweep's clock."""
    now = now or utcnow()
    counts = {"delivered": 0, "failed": 0, "given_up": 0, "unfinished": 0}
    seal_legacy_secrets()
    jobs_list = _due(now, limit)
    if not jobs_list:
        return counts
    jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
    for job in jobs_list:
        jobs.put(job)
    deadline = time.monotonic() + float(setting("WEBHOOK_SWEEP_BUDGET_S"))
    lock = threading.Lock()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    workers = [threading.Thread(target=_work, name=f"webhook-delivery-{n}", daemon=True,
                                args=(app, jobs, now, deadline, counts, lock))
               for n in range(max(1, min(int(setting("WEBHOOK_CONCURRENCY")),
                                         len(jobs_list))))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    with lock:
        counts["unfinished"] = sum(worker.is_alive() for worker in workers)
        return dict(counts)
