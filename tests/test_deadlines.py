"""Deadlines as data: the rules, their colours and milestones, and the case API using them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from server.domain import vocab
from server.domain.deadlines import check_rules, deadline_for, deadline_rules, rule_for
from server.extensions import db
from server.models import Case

T0 = datetime(2026, 11, 20, 15, 5, tzinfo=UTC)
H, D = timedelta(hours=1), timedelta(days=1)
SECOND = timedelta(seconds=1)


# ---- the rules data ------------------------------------------------------------------
def test_committed_rules_are_valid_versioned_and_cover_every_channel() -> None:
    data = deadline_rules()
    check_rules(data)
    assert data["version"]
    assert {c: rule_for(c)["code"] for c in vocab.CHANNELS} == {
        "hotline_12345": "1+3+5+7", "hotline_12369": "1+3+5+7", "phone": "1+3+5+7",
        "online": "1+3+5+7", "media_monitoring": "1+3+5+7", "inspection_batch": "1+3+5+7",
        "letter": "petition-60", "visit": "petition-60"}


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.pop("version"), "version"),
    (lambda d: d["rules"][0]["colours"].pop(0), "day 0"),
    (lambda d: d["rules"][0]["colours"].reverse(), "day 0"),
    (lambda d: d["rules"][0]["colours"][1].update(colour="purple"), "colours are"),
    (lambda d: d["rules"][0].update(due_days=0), "due_days"),
    (lambda d: d["rules"][0]["milestones"][0].update(days=1), "exactly one"),
    (lambda d: d["rules"][1].update(code="1+3+5+7"), "repeated"),
    (lambda d: d["rules"][1].update(channels=[]), "no channels"),
])
def test_bad_rules_data_is_refused(change, message: str) -> None:  # type: ignore[no-untyped-def]
    data = copy.deepcopy(deadline_rules())
    change(data)
    with pytest.raises(ValueError, match=message):
        check_rules(data)


def test_a_rule_may_be_chosen_by_the_key_flag() -> None:
    data = copy.deepcopy(deadline_rules())
    starred = {**copy.deepcopy(data["rules"][0]), "code": "starred-3", "key": True,
               "due_days": 3, "milestones": [{"name": "closure", "days": 3}],
               "channels": ["inspection_batch"]}
    data["rules"].insert(0, starred)
    check_rules(data)
    assert deadline_for("inspection_batch", T0, T0, key=True, rules=data).rule == "starred-3"
    assert deadline_for("inspection_batch", T0, T0, key=False, rules=data).rule == "1+3+5+7"
    assert deadline_for("letter", T0, T0, key=True, rules=data).rule == "petition-60"


def test_no_rule_no_deadline() -> None:
    data = copy.deepcopy(deadline_rules())
    data["rules"] = [r for r in data["rules"] if r["code"] != "petition-60"]
    assert deadline_for("letter", T0, T0, rules=data) is None
    assert deadline_for("carrier_pigeon", T0, T0) is None


# ---- 1+3+5+7 -------------------------------------------------------------------------
@pytest.mark.parametrize(("elapsed", "colour", "overdue"), [
    (timedelta(0), "green", False),
    (5 * D - SECOND, "green", False),      # still day 4
    (5 * D, "yellow", False),              # day 5: preliminary review
    (6 * D - SECOND, "yellow", False),
    (6 * D, "blue", False),                # day 6
    (7 * D - SECOND, "blue", False),
    (7 * D, "red", True),                  # day 7: due
    (30 * D, "red", True),
])
def test_dazhou_colours_by_elapsed_days(elapsed: timedelta, colour: str,
                                        overdue: bool) -> None:
    for channel in ("inspection_batch", "hotline_12345", "hotline_12369", "phone", "online"):
        deadline = deadline_for(channel, T0, T0 + elapsed)
        assert deadline is not None and deadline.rule == "1+3+5+7"
        assert (deadline.colour, deadline.overdue) == (colour, overdue)
        assert deadline.due_at == T0 + 7 * D


@pytest.mark.parametrize(("elapsed", "name", "at"), [
    (timedelta(0), "dispatch", H),
    (H - SECOND, "dispatch", H),
    (H, "reminder", 3 * D),
    (3 * D - SECOND, "reminder", 3 * D),
    (3 * D, "preliminary_review", 5 * D),
    (5 * D, "closure", 7 * D),
    (7 * D - SECOND, "closure", 7 * D),
])
def test_dazhou_milestones(elapsed: timedelta, name: str, at: timedelta) -> None:
    milestone = deadline_for("hotline_12345", T0, T0 + elapsed).next_milestone
    assert (milestone.name, milestone.at) == (name, T0 + at)


def test_after_the_last_milestone_there_is_none() -> None:
    assert deadline_for("hotline_12345", T0, T0 + 7 * D).next_milestone is None


def test_times_keep_the_received_zone_and_count_elapsed_hours_not_dates() -> None:
    beijing = timezone(timedelta(hours=8))
    received = datetime(2026, 11, 20, 23, 5, tzinfo=beijing)
    # Two calendar dates later in Beijing, but only 25 hours: still day 1, green.
    deadline = deadline_for("phone", received, received + 25 * H)
    assert deadline.colour == "green" and deadline.due_at.utcoffset() == timedelta(hours=8)
    assert deadline.due_at == datetime(2026, 11, 27, 23, 5, tzinfo=beijing)
    # The same instant told in UTC gives the same answer.
    assert deadline_for("phone", received.astimezone(UTC), received + 5 * D).colour == "yellow"


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        deadline_for("phone", T0.replace(tzinfo=None), T0)


# ---- petition-60 ---------------------------------------------------------------------
@pytest.mark.parametrize(("day", "colour"), [
    (0, "green"), (29, "green"), (30, "blue"), (44, "blue"), (45, "yellow"), (59, "yellow"),
    (60, "red"),
])
def test_petition_colours(day: int, colour: str) -> None:
    for channel in ("letter", "visit"):
        deadline = deadline_for(channel, T0, T0 + day * D + H)
        assert (deadline.rule, deadline.colour) == ("petition-60", colour)
        assert deadline.due_at == T0 + 60 * D
        assert deadline.overdue is (day >= 60)


def test_petition_milestones() -> None:
    first = deadline_for("letter", T0, T0 + D).next_milestone
    assert (first.name, first.at) == ("notify_petitioner", T0 + 15 * D)
    later = deadline_for("letter", T0, T0 + 15 * D).next_milestone
    assert (later.name, later.at) == ("closure", T0 + 60 * D)


# ---- the case API --------------------------------------------------------------------
def ago(delta: timedelta) -> str:
    return (datetime.now(UTC) - delta).isoformat()


def close(case_id: str) -> None:
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(status="closed"))
    db.session.commit()


def test_every_case_answer_carries_its_deadline(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(channel="hotline_12345", received_at=ago(5 * D + 2 * H))
    deadline = case["deadline"]
    assert deadline["rule"] == "1+3+5+7" and deadline["colour"] == "yellow"
    assert deadline["overdue"] is False
    assert deadline["next_milestone"]["name"] == "closure"
    received = datetime.fromisoformat(case["received_at"])
    assert datetime.fromisoformat(deadline["due_at"]) == received + 7 * D
    assert datetime.fromisoformat(deadline["next_milestone"]["at"]) == received + 7 * D
    api = as_user("reviewer")
    assert api.get(f"/api/cases/{case['id']}").get_json()["deadline"] == deadline
    listed = api.get("/api/cases").get_json()["items"]
    assert listed[0]["deadline"]["colour"] == "yellow"
    patched = api.patch(f"/api/cases/{case['id']}",
                        json={"version": case["version"], "channel": "letter"}).get_json()
    assert (patched["deadline"]["rule"], patched["deadline"]["colour"]) == ("petition-60",
                                                                            "green")


def test_a_closed_case_has_no_deadline(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(received_at=ago(10 * D))
    assert case["deadline"]["overdue"] is True and case["deadline"]["colour"] == "red"
    close(case["id"])
    api = as_user("reviewer")
    assert api.get(f"/api/cases/{case['id']}").get_json()["deadline"] is None
    assert api.get("/api/cases").get_json()["items"][0]["deadline"] is None


def test_open_filter(app, as_user, make_case):  # type: ignore[no-untyped-def]
    open_case = make_case(subject="open")
    closed = make_case(subject="closed")
    close(closed["id"])
    api = as_user("reviewer")
    assert [c["id"] for c in api.get("/api/cases?open=true").get_json()["items"]] == [
        open_case["id"]]
    assert [c["id"] for c in api.get("/api/cases?open=false").get_json()["items"]] == [
        closed["id"]]
    assert api.get("/api/cases").get_json()["total"] == 2
    assert api.get("/api/cases?open=maybe").status_code == 422


def test_colour_filter_pages_and_counts_the_filtered_list(app, as_user, make_case):  # type: ignore[no-untyped-def]
    reds = [make_case(subject=f"red {i}", received_at=ago((8 + i) * D)) for i in range(3)]
    make_case(subject="green", received_at=ago(H))
    make_case(subject="yellow", received_at=ago(5 * D + H))
    make_case(subject="blue", received_at=ago(6 * D + H))
    make_case(subject="petition blue", channel="letter", received_at=ago(31 * D))
    close(make_case(subject="closed red", received_at=ago(20 * D))["id"])
    api = as_user("reviewer")
    first = api.get("/api/cases?colour=red&per_page=2").get_json()
    second = api.get("/api/cases?colour=red&per_page=2&page=2").get_json()
    assert (first["total"], second["total"], first["per_page"]) == (3, 3, 2)
    # Newest first, as without a colour.
    assert [c["id"] for c in first["items"] + second["items"]] == [r["id"] for r in reds]
    assert all(c["deadline"]["colour"] == "red" for c in first["items"] + second["items"])
    assert api.get("/api/cases?colour=red&per_page=2&page=3").get_json()["items"] == []
    blue = api.get("/api/cases?colour=blue").get_json()
    assert sorted(c["subject"] for c in blue["items"]) == ["blue", "petition blue"]
    assert [c["subject"] for c in api.get("/api/cases?colour=green").get_json()["items"]] == [
        "green"]
    assert api.get("/api/cases?colour=yellow&channel=letter").get_json()["total"] == 0
    assert api.get("/api/cases?colour=purple").status_code == 422


def test_sort_by_due_puts_the_most_urgent_first(app, as_user, make_case):  # type: ignore[no-untyped-def]
    same = ago(2 * D)
    plain = make_case(subject="plain", received_at=same)
    key = make_case(subject="key", received_at=same, key=True)
    overdue = make_case(subject="overdue", received_at=ago(9 * D))
    letter = make_case(subject="letter", channel="letter", received_at=ago(50 * D))
    fresh = make_case(subject="fresh", received_at=ago(H))
    closed = make_case(subject="closed", received_at=ago(30 * D))
    close(closed["id"])
    # Equal received_at would otherwise fall back to id order: give the key case the
    # larger id, so only the key rule can put it first.
    for case, new_id in ((plain, "00000000-0000-4000-8000-000000000000"),
                         (key, "ffffffff-ffff-4fff-bfff-ffffffffffff")):
        db.session.execute(sa.update(Case).where(Case.id == case["id"]).values(id=new_id))
    db.session.commit()
    api = as_user("reviewer")
    # letter: due in 10 days; the hotline cases: due in 7 days from receipt.
    expected = [overdue, key, plain, fresh, letter, closed]
    by_due = api.get("/api/cases?sort=due").get_json()
    assert [c["subject"] for c in by_due["items"]] == [c["subject"] for c in expected]
    assert by_due["total"] == 6
    paged = [c["subject"] for p in (1, 2, 3)
             for c in api.get(f"/api/cases?sort=due&per_page=2&page={p}").get_json()["items"]]
    assert paged == [c["subject"] for c in expected]
    assert [c["subject"] for c in api.get("/api/cases?sort=due&open=true").get_json()[
        "items"]] == [c["subject"] for c in expected[:-1]]
    # The default stays newest first.
    default = [c["subject"] for c in api.get("/api/cases").get_json()["items"]]
    assert default == ["fresh", "plain", "key", "overdue", "closed", "letter"]
    assert api.get("/api/cases?sort=urgent").status_code == 422


def test_colour_and_sort_stay_within_the_users_units(app, as_user, make_case):  # type: ignore[no-untyped-def]
    mine = make_case(unit="Street A", received_at=ago(8 * D))
    make_case(unit="Street B", received_at=ago(9 * D))
    insp_a = as_user("insp_a")
    for url in ("/api/cases?colour=red", "/api/cases?sort=due"):
        answer = insp_a.get(url).get_json()
        assert [c["id"] for c in answer["items"]] == [mine["id"]] and answer["total"] == 1

