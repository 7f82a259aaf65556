"""Reminders exactly once (also with two sweeps at once), signed webhooks with retries,
the timeline chain, the colour board and the map feed, and the admin's rules and calendar."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from server.domain.cases import sweep, webhooks
from server.extensions import db
from server.models import CaseEvent, Notification, Webhook, WebhookDelivery
from tests.conftest import unit_id

H, D = timedelta(hours=1), timedelta(days=1)


def ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).isoformat()


def caught_up() -> int:
    """Raise now what cases received in the past already owe (late, as the sweep does),
    and drop the deliveries that queued: a test of what falls due next starts from here."""
    raised = sweep.sweep(datetime.now(UTC), deliver=False)["raised"]
    db.session.execute(sa.delete(WebhookDelivery))
    db.session.commit()
    return raised


class Receiver:
    """A webhook receiver on loopback that can be told to fail (or to redirect)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.got: list[tuple[dict, bytes]] = []
        self.paths: list[str] = []
        self.fail = False
        self.redirect: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.redirect:
                    self.send_response(307)
                    self.send_header("Location", outer.redirect)
                elif outer.fail:
                    self.send_response(503)
                else:
                    outer.got.append((dict(self.headers), body))
                    outer.paths.append(self.path)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = f"http{'s' if tls else ''}://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture()
def receiver(app: Flask) -> Iterator[Receiver]:
    """A receiver, and loopback allowed as the operator would allow an internal network
    (WEBHOOK_ALLOWED_NETWORKS): without it, 127.0.0.1 is refused."""
    app.config["WEBHOOK_ALLOWED_NETWORKS"] = ("127.0.0.0/8",)
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def add_hook(app: Flask, as_user, url: str, **body: Any) -> dict:  # type: ignore[no-untyped-def]
    """Added by the district's admin (or `by`): the answer carries the secret, once."""
    by = body.pop("by", "admin")
    answer = as_user(by).post("/api/webhooks", json={"url": url, **body})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_sweep_raises_each_milestone_once_and_signs_the_webhook(app, as_user, make_case,
                                                                receiver) -> None:
    case = make_case(received_at=ago(2 * D + H))  # past the day-3 reminder (at 2 days)
    # Created after its dispatch and reminder fell due: those are raised late, once.
    assert caught_up() == 2 and sweep.sweep()["raised"] == 0
    secret = add_hook(app, as_user, receiver.url)["secret"]
    # Four days on: the preliminary review (day 5) falls due.
    later = datetime.now(UTC) + 2 * D + 2 * H
    first = sweep.sweep(later)
    again = sweep.sweep(later)
    assert (first["raised"], again["raised"]) == (1, 0)
    assert first["delivered"] == 1 and again["delivered"] == 0
    headers, body = receiver.got[0]
    payload = json.loads(body)
    assert payload["milestone"] == "preliminary_review" and payload["case"]["id"] == case["id"]
    assert webhooks.verify(secret, headers["X-Fieldcase-Timestamp"], body,
                           headers["X-Fieldcase-Signature"])
    assert not webhooks.verify(secret, headers["X-Fieldcase-Timestamp"], body + b" ",
                               headers["X-Fieldcase-Signature"])
    assert not webhooks.verify("wrong", headers["X-Fieldcase-Timestamp"], body,
                               headers["X-Fieldcase-Signature"])
    kinds = [e.kind for e in db.session.scalars(sa.select(CaseEvent).where(
        CaseEvent.case_id == case["id"]).order_by(CaseEvent.seq))]
    assert kinds == ["received", "reminded", "reminded", "reminded"]
    # Overdue escalates once, too.
    overdue = sweep.sweep(later + 3 * D)
    assert overdue["raised"] == 1
    assert [n["kind"] for n in as_user("insp_a").get("/api/notifications").get_json()[
        "items"]] == ["overdue", "milestone", "milestone", "milestone"]
    assert as_user("insp_b").get("/api/notifications").get_json()["items"] == []


def test_a_failing_webhook_is_retried_with_backoff_and_never_blocks(app, as_user, make_case,
                                                                     receiver) -> None:
    make_case(received_at=ago(6 * D + 23 * H))
    caught_up()
    add_hook(app, as_user, receiver.url)
    add_hook(app, as_user, "http://127.0.0.1:9/nobody-listens")
    receiver.fail = True
    when = datetime.now(UTC) + 2 * H
    counts = sweep.sweep(when)
    assert counts["raised"] == 1 and counts["failed"] == 2
    rows = db.session.scalars(sa.select(WebhookDelivery)).all()
    assert all(r.state == "pending" and r.attempts == 1 and r.next_attempt_at > when
               for r in rows)
    receiver.fail = False
    assert sweep.sweep(when)["delivered"] == 0  # not yet: backing off
    retried = sweep.sweep(when + webhooks.backoff(1) + timedelta(seconds=5))
    assert retried["delivered"] == 1 and len(receiver.got) == 1


def test_two_sweeps_at_once_send_nothing_twice(app, as_user, make_case, receiver) -> None:
    for n in range(6):
        make_case(subject=f"case {n}", received_at=ago(4 * D - H))
    caught_up()
    add_hook(app, as_user, receiver.url)
    when = datetime.now(UTC) + 2 * H
    results: list[dict] = []
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                results.append(sweep.sweep(when))
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(r["raised"] for r in results) == 6
    # The 12 caught up (each case's dispatch and reminder) and these 6.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 12 + 6
    assert len(receiver.got) == 6
    assert len({json.loads(b)["id"] for _, b in receiver.got}) == 6


def test_webhook_urls_must_be_http(app, as_user) -> None:
    for url in ("ftp://example.org/x", "javascript:alert(1)", "http://"):
        answer = as_user("admin").post("/api/webhooks", json={"url": url})
        assert answer.status_code == 422, url
        assert answer.get_json()["code"] == "webhook.bad_url"
    assert as_user("reviewer").post("/api/webhooks",
                                    json={"url": "https://example.org"}).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Webhook)) == 0


def test_verify_audit_names_the_first_altered_timeline_event(app, as_user, make_case) -> None:
    from server.cli import cli

    case = make_case()
    office = as_user("reviewer")
    office.post(f"/api/cases/{case['id']}/transitions", json={
        "action": "dispatch", "version": case["version"], "unit_id": unit_id("Street A")})
    from server.domain.audit import timeline

    def verify():  # type: ignore[no-untyped-def]
        return app.test_cli_runner().invoke(cli, ["verify-audit"])

    assert verify().exit_code == 0
    assert list(timeline.verify_chains()) == []
    db.session.execute(sa.update(CaseEvent).where(CaseEvent.case_id == case["id"],
                                                  CaseEvent.seq == 2)
                       .values(data={"action": "dispatch", "unit": "somewhere else"}))
    db.session.commit()
    assert list(timeline.verify_chains()) == [(case["id"], 2)]
    broken = verify()
    assert broken.exit_code != 0
    assert f"case {case['id']}: timeline altered at event 2" in broken.output


def test_board_counts_by_colour_and_unit_with_overdue_apart(app, as_user, make_case) -> None:
    make_case(subject="green", received_at=ago(H))
    make_case(subject="yellow", received_at=ago(5 * D + H), key=True, leader="王局长")
    make_case(subject="red", received_at=ago(6 * D + H), unit="Street B")
    make_case(subject="overdue", received_at=ago(8 * D), unit="Street B")
    make_case(subject="fumes", category="cooking_fumes", received_at=ago(H))
    board = as_user("reviewer").get("/api/board").get_json()
    assert {k: board["totals"][k] for k in ("green", "yellow", "blue", "red", "overdue",
                                            "all")} == {
        "green": 2, "yellow": 1, "blue": 0, "red": 1, "overdue": 1, "all": 5}
    by_unit = {u["unit"]["name"]: u["counts"] for u in board["units"]}
    assert (by_unit["Street A"]["all"], by_unit["Street B"]["overdue"]) == (3, 1)
    assert [c["subject"] for c in board["cases"]["overdue"]] == ["overdue"]
    assert board["cases"]["yellow"][0]["leader"] == "王局长"
    keyed = as_user("reviewer").get("/api/board?key=true").get_json()
    assert keyed["totals"]["all"] == 1
    fumes = as_user("reviewer").get("/api/board?category=cooking_fumes").get_json()
    assert fumes["totals"] == {**fumes["totals"], "green": 1, "all": 1}
    mine = as_user("insp_a").get("/api/board").get_json()
    assert mine["totals"]["all"] == 3 and [u["unit"]["name"] for u in mine["units"]] == [
        "Street A"]
    assert as_user("reviewer").get("/api/board?channel=pigeon").status_code == 422
    # The period: received within it (from inclusive, to exclusive), for the district
    # (one statement reused with new values) and for a street (built for its scope).
    period = {"from": ago(7 * D), "to": ago(2 * H)}  # the yellow (A) and the red (B)
    for who, expected in (("reviewer", 2), ("insp_a", 1)):
        for _ in range(2):
            found = as_user(who).get("/api/board", query_string=period).get_json()
            assert found["totals"]["all"] == expected, (who, found["totals"])
    recent = as_user("reviewer").get("/api/board", query_string={"from": ago(2 * H)})
    assert recent.get_json()["totals"]["all"] == 2  # green and fumes, an hour old


def test_map_feed_is_geojson_in_wgs84(app, as_user, make_case) -> None:
    case = make_case(received_at=ago(5 * D + H))
    make_case(location=None)
    answer = as_user("insp_a").get("/api/cases.geojson")
    assert answer.status_code == 200 and answer.mimetype == "application/geo+json"
    features = answer.get_json()["features"]
    assert len(features) == 1
    assert features[0]["geometry"]["coordinates"] == [24.9068, 60.1467]
    assert features[0]["properties"]["colour"] == "yellow"
    assert features[0]["properties"]["id"] == case["id"]


def test_rule_versions_apply_to_new_cases_and_say_what_they_would_do(app, as_user,
                                                                    make_case) -> None:
    admin = as_user("admin")
    old = make_case(received_at=ago(H))
    current = {r["code"]: r for r in admin.get("/api/deadline-rules").get_json()["items"]}
    body = {**current["1+3+5+7"]["body"], "due": 5,
            "colours": [{"from_day": 1, "colour": "green"}, {"from_day": 4, "colour": "red"}],
            "milestones": [{"name": "reminder", "day": 2}]}
    dry = admin.post("/api/deadline-rules?dry_run=true", json=body)
    assert dry.status_code == 201 and dry.get_json()["rule"] is None
    assert dry.get_json()["impact"]["would_move_due"] == 1
    saved = admin.post("/api/deadline-rules", json=body).get_json()
    assert saved["rule"]["version"] == 3  # after the shipped 1 and 2 (0013)
    new = make_case(received_at=ago(H))
    assert (new["deadline"]["rule_version"], old["deadline"]["rule_version"]) == (3, 2)
    assert as_user("reviewer").get(f"/api/cases/{old['id']}").get_json()["deadline"][
        "rule_version"] == 2
    assert as_user("reviewer").post("/api/deadline-rules", json=body).status_code == 403


@pytest.mark.parametrize(("change", "code"), [
    ({"colours": [{"from_day": 1, "colour": "green"}, {"from_day": 3, "colour": "green"}]},
     "deadline_rule.contradictory"),
    ({"milestones": [{"name": "late", "day": 30}]}, "deadline_rule.contradictory"),
    ({"code": "another", "channels": ["hotline_12345"]}, "deadline_rule.overlap"),
    ({"channels": ["carrier_pigeon"]}, "deadline_rule.bad_channel"),
])
def test_contradictory_rules_are_422(app, as_user, change: dict, code: str) -> None:
    admin = as_user("admin")
    body = {**admin.get("/api/deadline-rules").get_json()["items"][0]["body"], **change}
    answer = admin.post("/api/deadline-rules", json=body)
    assert answer.status_code == 422 and answer.get_json()["code"] == code


def test_a_rule_longer_than_a_year_or_with_endless_milestones_is_422(
        app, as_user, make_case) -> None:
    """A working-day rule of 100,000 days ran past the calendar's years (500, on saving
    and then on every case taken in), and 400 milestones cost seconds a case: bounded,
    with the reason in both languages."""
    make_case()  # an open case for the dry run to weigh
    admin = as_user("admin")
    body = admin.get("/api/deadline-rules").get_json()["items"][0]["body"]
    far = {**body, "counting": "working_days", "due": 100_000, "rest_day_rollover": False}
    many = {**body, "milestones": [{"name": f"m{n}", "day": 1} for n in range(400)]}
    late_hours = {**body, "counting": "calendar_days",
                  "milestones": [{"name": "dispatch", "hours": 10**9}]}
    for wrong, field in ((far, "due"), (many, "milestones"), (late_hours, "milestones.0"),
                         ({**body, "max_extension": 5_000}, "max_extension")):
        for path in ("/api/deadline-rules?dry_run=true", "/api/deadline-rules"):
            answer = admin.post(path, json=wrong)
            assert answer.status_code == 422, (field, path, answer.get_json())
            problem = answer.get_json()
            assert field in problem["errors"], problem
            assert "最多" in str(problem["errors_zh"][field]) or "晚于" in str(
                problem["errors_zh"][field])
    year = {**body, "counting": "calendar_days", "due": 366,
            "colours": [{"from_day": 1, "colour": "green"}]}
    assert admin.post("/api/deadline-rules?dry_run=true", json=year).status_code == 201


def test_an_admin_loads_next_years_calendar(app, as_user) -> None:
    from server.domain.cases import workdays

    autumn = datetime(2026, 10, 1, tzinfo=UTC)  # 120 days on reach into 2027
    with app.app_context():
        assert workdays.missing_year(autumn) == 2027
        assert workdays.missing_year(datetime(2026, 6, 1, tzinfo=UTC)) is None
        warned = workdays.missing_year(datetime.now(UTC))
    admin = as_user("admin")
    years = admin.get("/api/calendar").get_json()
    assert 2026 in [y["year"] for y in years["items"]]
    assert years["missing_year"] == warned
    # The board warns the office, not the field.
    assert as_user("reviewer").get("/api/board").get_json()["calendar_missing_year"] == warned
    assert as_user("insp_a").get("/api/board").get_json()["calendar_missing_year"] is None
    twice = admin.put("/api/calendar/2027", json={"days": [
        {"date": "2027-01-01", "kind": "holiday"}, {"date": "2027-01-01", "kind": "holiday"}]})
    assert twice.status_code == 422 and "1" in twice.get_json()["errors"]
    tuesday = admin.put("/api/calendar/2027", json={"days": [
        {"date": "2027-01-05", "kind": "workday"}]})
    assert tuesday.status_code == 422
    flood = admin.put("/api/calendar/2027", json={"days": [{"date": "x", "kind": "y"}] * 30_000})
    assert flood.status_code == 422 and len(flood.data) < 4_000  # was a 7 MB answer
    loaded = admin.put("/api/calendar/2027", json={"source": "国办发明电〔2026〕",
                                                   "days": [
        {"date": "2027-01-01", "kind": "holiday", "name": "元旦"}]})
    assert loaded.status_code == 200
    assert admin.get("/api/calendar/2027").get_json()["days"][0]["name"] == "元旦"
    with app.app_context():
        assert workdays.missing_year(autumn) is None
    assert as_user("reviewer").put("/api/calendar/2027", json={"days": []}).status_code == 403


def test_the_cached_colour_agrees_with_the_computed_one_and_lapses_on_time(
        app, as_user, make_case) -> None:
    """The board and the colour filter read the colour the sweep caches; a cache whose
    instant has passed is computed again, so a missed sweep never shows a stale colour."""
    from server.domain.cases import board, cases, deadline_rules
    from server.models import Case, User

    for age in (H, 2 * D, 4 * D + H, 5 * D + H, 6 * D + H, 8 * D):
        make_case(subject=f"aged {age}", received_at=ago(age))
    with app.app_context():
        reviewer = db.session.scalar(sa.select(User).filter_by(username="reviewer"))

        def view(at: datetime) -> tuple[dict, dict, dict]:
            b = board.board(reviewer, at)
            listed = {c: sorted(x.subject for x in cases.list_cases(reviewer, colour=c,
                                                                   now=at)[0])
                      for c in ("green", "blue", "yellow", "red", "overdue")}
            return ({k: v for k, v in b["totals"].items() if v},
                    {g: [c["subject"] for c in items] for g, items in b["cases"].items()},
                    listed)

        now = datetime.now(UTC)
        computed = view(now)
        assert computed[0] == {"green": 2, "yellow": 1, "blue": 1, "red": 1, "overdue": 1,
                               "all": 6}
        assert deadline_rules.resolve_colours(now) == 6
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).where(
            Case.colour_until <= now)) == 0
        assert view(now) == computed  # read from the cache
        assert deadline_rules.resolve_colours(now) == 0  # nothing lapsed: nothing to do

        # Two days on, with no sweep in between: the lapsed caches are computed again...
        later = now + 2 * D
        lapsed = view(later)
        assert lapsed[0]["overdue"] >= 2 and lapsed[0] != computed[0]
        # ...and a sweep then caches exactly that.
        assert deadline_rules.resolve_colours(later) > 0
        db.session.commit()
        assert view(later) == lapsed
        # A transition leaves the colour to be computed again at once.
        case = db.session.scalar(sa.select(Case).filter_by(subject=f"aged {H}"))
        assert case.colour == "green" and case.colour_until > later
    green = as_user("reviewer").get(f"/api/cases/{case.id}").get_json()
    dispatched = as_user("reviewer").post(
        f"/api/cases/{case.id}/transitions",
        json={"action": "dispatch", "version": green["version"],
              "unit_id": unit_id("Street A")})
    assert dispatched.status_code == 200, dispatched.get_json()
    with app.app_context():
        assert db.session.get(Case, case.id).colour_until == deadline_rules.COLOUR_STALE


def test_the_bell_counts_unread_and_a_mark_only_moves_forward(app, as_user,
                                                               make_case) -> None:
    make_case(received_at=ago(2 * D + H))
    assert caught_up() == 2  # its dispatch and reminder, late
    later = datetime.now(UTC) + 2 * D + 2 * H
    assert sweep.sweep(later)["raised"] == 1
    inspector = as_user("insp_a")
    bell = inspector.get("/api/notifications").get_json()
    assert bell["unread"] == 3 and bell["seen_at"] is None and bell["items"][0]["unread"]
    newest = bell["items"][0]["at"]
    # A phone whose clock runs a year ahead cannot mark what is not raised yet.
    seen = inspector.post("/api/notifications/seen",
                          json={"up_to": (later + 365 * D).isoformat()}).get_json()
    assert seen["unread"] == 0
    assert datetime.fromisoformat(seen["seen_at"]) == datetime.fromisoformat(newest)
    assert sweep.sweep(later + 3 * D)["raised"] == 1  # overdue, raised after the mark
    bell = inspector.get("/api/notifications").get_json()
    assert bell["unread"] == 1 and [n["unread"] for n in bell["items"]] == [True] + [False] * 3
    # An older mark (another device, behind) does not bring the read one back.
    inspector.post("/api/notifications/seen", json={"up_to": ago(30 * D)})
    assert inspector.get("/api/notifications").get_json()["unread"] == 1
    # Each user has their own mark: the office has not seen any.
    assert as_user("reviewer").get("/api/notifications").get_json()["unread"] == 4
    bad = inspector.post("/api/notifications/seen", json={"up_to": "yesterday"})
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"
    naive = inspector.post("/api/notifications/seen", json={"up_to": "2026-12-01T10:00:00"})
    assert naive.status_code == 422


def test_a_deactivated_webhook_is_sent_nothing_more_and_keeps_its_record(
        app, as_user, make_case, receiver) -> None:
    make_case(received_at=ago(6 * D + 23 * H))
    make_case(received_at=ago(2 * D + H))  # its preliminary review comes later
    caught_up()
    hook = add_hook(app, as_user, receiver.url)
    receiver.fail = True
    when = datetime.now(UTC) + 2 * H
    assert sweep.sweep(when)["failed"] == 1  # one delivery owed, backing off
    assert as_user("reviewer").delete(f"/api/webhooks/{hook['id']}").status_code == 403
    assert as_user("admin").delete("/api/webhooks/nope").status_code == 404
    answer = as_user("admin").delete(f"/api/webhooks/{hook['id']}")
    assert answer.status_code == 200 and answer.get_json()["active"] is False
    assert "secret" not in answer.get_json()
    assert as_user("admin").delete(f"/api/webhooks/{hook['id']}").status_code == 200
    owed = db.session.scalars(sa.select(WebhookDelivery)).all()
    assert [(d.state, d.last_error) for d in owed] == [("failed", "webhook deactivated")]
    receiver.fail = False
    later = sweep.sweep(when + 3 * D)  # raised, but nothing for the inactive hook
    assert later["raised"] >= 1 and later["delivered"] == 0 and receiver.got == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 1
    listed = as_user("admin").get("/api/webhooks").get_json()["items"]
    assert [(h["id"], h["active"]) for h in listed] == [(hook["id"], False)]
