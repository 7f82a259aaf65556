"""Phone time on offline actions (issue 19): a start, submit or check done offline keeps
the phone's time beside the receipt, and "on time" is judged by when it was done, within
bounds: not after receipt, not before the phone's last contact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from server.domain.core import phonetime
from server.extensions import db
from server.models import User, UserSession
from tests.conftest import unit_id

H, D = timedelta(hours=1), timedelta(days=1)


def ago(delta: timedelta) -> datetime:
    return datetime.now(UTC) - delta


def paused(username: str, last_seen: timedelta) -> None:
    """The user's phone was last in touch `last_seen` ago, then went quiet (offline)."""
    user = db.session.scalar(sa.select(User).filter_by(username=username))
    db.session.execute(sa.update(UserSession).where(UserSession.user_id == user.id).values(
        created_at=ago(last_seen + H), last_seen_at=ago(last_seen), offline_since=None))
    db.session.commit()


def started_case(as_user, make_case, *, received: timedelta) -> tuple[Any, dict]:  # type: ignore[no-untyped-def]
    """A case received `received` ago, dispatched to Street A; the inspector's client."""
    case = make_case(received_at=ago(received).isoformat())
    office = as_user("reviewer")
    case = office.post(f"/api/cases/{case['id']}/transitions", json={
        "action": "dispatch", "version": case["version"],
        "unit_id": unit_id("Street A")}).get_json()
    return as_user("insp_a"), case


def act(phone, case: dict, action: str, **body: Any) -> dict:  # type: ignore[no-untyped-def]
    answer = phone.post(f"/api/cases/{case['id']}/transitions", json={
        "action": action, "version": case["version"], **body})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def event(phone, case: dict, kind: str) -> dict:  # type: ignore[no-untyped-def]
    items = phone.get(f"/api/cases/{case['id']}/timeline").get_json()["items"]
    return next(e for e in reversed(items) if e["kind"] == kind)["data"]


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_a_submit_done_before_the_deadline_and_synced_after_it_is_on_time(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    # Due an hour ago (1+3+5+7: the end of day 7). The inspector started at 23:40 and
    # submitted at 23:50 offline (3 and 2 hours ago); the phone synced this morning.
    phone, case = started_case(as_user, make_case, received=7 * D + H)
    paused("insp_a", last_seen=9 * H)
    started = ago(3 * H)
    case = act(phone, case, "start", device_time=started.isoformat())
    submitted = ago(2 * H)
    case = act(phone, case, "submit", verdict="true", result="已整改",
               device_time=submitted.isoformat())
    data = event(phone, case, "submitted")
    assert when(data["device_time"]) == when(data["done_at"]) == submitted
    assert when(data["received_at"]) > when(case["deadline"]["due_at"]) > submitted
    assert data["on_time"] is True and "device_time_clamped" not in data
    assert event(phone, case, "started")["on_time"] is True


def test_without_the_phones_time_an_action_is_done_when_received(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    phone, case = started_case(as_user, make_case, received=7 * D + H)
    case = act(phone, case, "start")
    data = event(phone, case, "started")
    assert data["on_time"] is False and "device_time" not in data


def test_a_time_in_the_future_is_brought_back_to_the_receipt_and_flagged(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    phone, case = started_case(as_user, make_case, received=7 * D + H)
    case = act(phone, case, "start", device_time=(datetime.now(UTC) + 3 * H).isoformat())
    data = event(phone, case, "started")
    assert data["device_time_clamped"] == "future"
    assert when(data["done_at"]) == when(data["received_at"])
    assert data["on_time"] is False  # received after the deadline: late


def test_a_time_before_the_phones_last_contact_is_brought_up_to_it_and_flagged(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    phone, case = started_case(as_user, make_case, received=7 * D + H)
    paused("insp_a", last_seen=30 * 60 * timedelta(seconds=1))  # in touch 30 minutes ago
    # Claims to have started three hours ago, before the phone was last in touch.
    case = act(phone, case, "start", device_time=ago(3 * H).isoformat())
    data = event(phone, case, "started")
    assert data["device_time_clamped"] == "before_contact"
    contact = when(data["done_at"])
    assert abs(contact - ago(30 * timedelta(minutes=1))) < timedelta(minutes=1)
    assert data["on_time"] is False  # the contact was after the deadline


def test_a_wrong_phone_clock_still_gives_the_moment_from_the_wait(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    phone, case = started_case(as_user, make_case, received=7 * D + H)
    paused("insp_a", last_seen=9 * H)
    skew = 8 * H  # the phone's clock eight hours ahead
    case = act(phone, case, "start", device_time=(ago(2 * H) + skew).isoformat(),
               sent_at=(datetime.now(UTC) + skew).isoformat())
    data = event(phone, case, "started")
    assert abs(when(data["done_at"]) - ago(2 * H)) < timedelta(minutes=1)
    assert data["on_time"] is True and "device_time_clamped" not in data


def test_a_check_done_offline_keeps_its_phone_time_on_the_timeline(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    phone, case = started_case(as_user, make_case, received=2 * D)
    paused("insp_a", last_seen=9 * H)
    done = ago(2 * H)
    answer = phone.post(f"/api/cases/{case['id']}/visits", json={
        "client_id": "6f1c2b1e-0000-4000-8000-000000000001", "kind": "site_check",
        "started_at": (done - H).isoformat(), "ended_at": done.isoformat(),
        "findings": "已停业", "device_time": done.isoformat(),
        "sent_at": datetime.now(UTC).isoformat()})
    assert answer.status_code == 201, answer.get_json()
    data = event(phone, case, "visit_recorded")
    assert abs(when(data["done_at"]) - done) < timedelta(seconds=5)
    assert when(data["received_at"]) > when(data["done_at"])


def test_the_judgement_alone() -> None:
    received = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)  # 08:00 in Beijing
    contact = received - 9 * H
    night = received - 8 * H - 10 * timedelta(minutes=1)  # 23:50 in Beijing
    judged = phonetime.judge(night, received, contact=contact)
    assert judged is not None and judged.done_at == night and judged.clamped is None
    assert phonetime.judge(None, received, contact=contact) is None
    ahead = phonetime.judge(received + timedelta(minutes=1), received, contact=contact)
    assert ahead is not None and ahead.done_at == received and ahead.clamped is None  # drift


def test_a_phone_that_logs_in_again_keeps_its_last_contact(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    """Its session ended while it was offline: the login before sending is not its last
    contact; the ended session's last use is."""
    _phone, case = started_case(as_user, make_case, received=7 * D + H)
    paused("insp_a", last_seen=9 * H)
    user = db.session.scalar(sa.select(User).filter_by(username="insp_a"))
    db.session.execute(sa.update(UserSession).where(UserSession.user_id == user.id)
                       .values(expires_at=ago(H)))
    db.session.commit()
    again = as_user("insp_a")  # the same phone (user agent), a new session
    case = act(again, case, "start", device_time=ago(2 * H).isoformat())
    data = event(again, case, "started")
    assert "device_time_clamped" not in data and data["on_time"] is True
