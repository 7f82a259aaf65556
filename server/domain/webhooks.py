"""Webhooks: reminders and escalations posted as JSON signed with HMAC-SHA256.

The signature covers the timestamp and the body (`t.body`), so a receiver can refuse a
replayed or altered message before forwarding it to SMS or WeChat Work. Deliveries are
rows: a failed one is retried with exponential backoff and never blocks the sweep.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import sqlalchemy as sa

from server.domain import audit
from server.domain.errors import Forbidden, Invalid, NotFound
from server.domain.roles import ADMIN_ROLES
from server.domain.uow import command, transaction
from server.extensions import db
from server.models import Case, Notification, Unit, User, Webhook, WebhookDelivery
from server.models.base import utcnow

TIMEOUT_S = 5
MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=30)
LEASE = timedelta(seconds=TIMEOUT_S * 4)
SIGNATURE_HEADER = "X-Fieldcase-Signature"
TIMESTAMP_HEADER = "X-Fieldcase-Timestamp"


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


@command
def add_webhook(user: User, url: str, secret: str | None) -> Webhook:
    if user.role not in ADMIN_ROLES:
        raise Forbidden("webhook.forbidden", "Only an admin may configure webhooks.")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("webhook.bad_url", "A webhook URL must be http(s) with a host.",
                      errors={"url": ["Must start with http:// or https://."]})
    hook = Webhook(url=url.strip(), secret=secret or secrets.token_urlsafe(32))
    db.session.add(hook)
    db.session.flush()
    audit.append("webhook.added", "webhook", hook.id, actor_id=user.id, data={"url": hook.url})
    return hook


@command
def deactivate_webhook(user: User, hook_id: str) -> Webhook:
    """Stop posting to a webhook; what it was sent stays on record, what it still owed is
    given up."""
    if user.role not in ADMIN_ROLES:
        raise Forbidden("webhook.forbidden", "Only an admin may configure webhooks.")
    hook = db.session.get(Webhook, hook_id)
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


def list_webhooks() -> list[Webhook]:
    return list(db.session.scalars(sa.select(Webhook).order_by(Webhook.created_at)))


def active_ids() -> list[str]:
    return list(db.session.scalars(sa.select(Webhook.id).where(Webhook.active)))


def enqueue(notification_id: str, at: datetime, hook_ids: list[str]) -> None:
    """A delivery per active webhook (a helper: no commit)."""
    db.session.add_all(WebhookDelivery(webhook_id=hook_id, notification_id=notification_id,
                                       next_attempt_at=at) for hook_id in hook_ids)


def payload(n: Notification, case: Case, unit: Unit) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "milestone": n.milestone, "due_at": n.due_at,
            "raised_at": n.created_at,
            "case": {"id": case.id, "subject": case.subject, "address": case.address,
                     "status": case.status, "key": case.key, "leader": case.leader,
                     "due_at": case.due_at, "external_ref": case.external_ref},
            "unit": {"id": unit.id, "name": unit.name}}


def _claim(delivery_id: str, now: datetime) -> bool:
    """Take a delivery for this sender, with a lease: two sweeps never post it both, and
    one that died mid-post leaves it to be taken again once the lease runs out."""
    with transaction():
        taken = db.session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id,
                   WebhookDelivery.state.in_(("pending", "sending")),
                   WebhookDelivery.next_attempt_at <= now)
            .values(state="sending", next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)).rowcount
    return taken == 1


def deliver_due(now: datetime | None = None, *, limit: int = 200) -> dict[str, int]:
    """Send deliveries whose time has come; each outcome is committed on its own so one
    slow or failing receiver holds up nothing else. Leases and backoff count from `now`,
    the sweep's clock."""
    now = now or utcnow()
    counts = {"delivered": 0, "failed": 0, "given_up": 0}
    rows = db.session.execute(
        sa.select(WebhookDelivery, Webhook, Notification, Case, Unit)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .join(Notification, Notification.id == WebhookDelivery.notification_id)
        .join(Case, Case.id == Notification.case_id)
        .join(Unit, Unit.id == Notification.unit_id)
        .where(WebhookDelivery.state.in_(("pending", "sending")),
               WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at).limit(limit)).all()
    db.session.rollback()  # hold no transaction open across the network calls
    for delivery, hook, note, case, unit in rows:
        if not _claim(delivery.id, now):
            continue  # another sweep took it
        body = json.dumps(payload(note, case, unit), ensure_ascii=False, default=str,
                          separators=(",", ":")).encode()
        stamp = str(int(time.time()))
        error = None
        try:
            answer = requests.post(hook.url, data=body, timeout=TIMEOUT_S, headers={
                "Content-Type": "application/json", TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sign(hook.secret, stamp, body),
                "X-Fieldcase-Delivery": delivery.id})
            answer.close()
            if not 200 <= answer.status_code < 300:
                error = f"HTTP {answer.status_code}"
        except requests.RequestException as exc:
            error = type(exc).__name__
        with transaction():
            row = db.session.get(WebhookDelivery, delivery.id)
            if row is None or row.state != "sending":
                continue
            row.attempts += 1
            if error is None:
                row.state, row.delivered_at, row.last_error = "delivered", utcnow(), None
                counts["delivered"] += 1
            elif row.attempts >= MAX_ATTEMPTS:
                row.state, row.last_error = "failed", error
                counts["given_up"] += 1
            else:
                row.state, row.last_error = "pending", error
                row.next_attempt_at = now + backoff(row.attempts)
                counts["failed"] += 1
    return counts
