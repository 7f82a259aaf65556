"""Rates and counts (issue 21): each rate against a fixture worked out by hand, as of a
date before a reopen and after it; seed 002's 600 of 607; scope; bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from server.domain.accounts import auth
from server.domain.audit import timeline
from server.domain.cases import cases, hooks, lifecycle
from server.domain.core.uow import transaction
from server.domain.revisits import revisits
from server.domain.revisits.answers import keep_latest
from server.extensions import db
from server.models import Case, Revisit, RevisitSample, SampleCase, User
from tests.conftest import unit_id

SH = ZoneInfo("Asia/Shanghai")


def local(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SH)


def add(unit: str, received: datetime, n: int = 1, **extra: Any) -> list[str]:
    with transaction():
        made = cases.add_cases([{
            "channel": "hotline_12345", "category": "noise_social", "subject": "夜间噪声扰民",
            "address": f"东湖路{i}号", "description": "", "received_at": received,
            "unit_id": unit_id(unit), **extra} for i in range(n)], created_by=None)
    return [c.id for c in made]


@pytest.fixture()
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    """Lifecycle actions done at a chosen moment, the closure checklist and seal out of the
    way (they are tested elsewhere): what matters here is when the events happened."""
    monkeypatch.setattr(hooks, "approval_gate", lambda *a, **k: None)
    monkeypatch.setattr(hooks, "approval_seal", lambda *a, **k: None)

    def act(case_id: str, action: str, when: datetime, **params: Any) -> None:
        monkeypatch.setattr(lifecycle, "utcnow", lambda: when.astimezone(UTC))
        office = db.session.scalar(sa.select(User).filter_by(username="reviewer"))
        if action == "approve":  # handled: straight to submitted, as test_lifecycle does
            db.session.execute(sa.update(Case).where(Case.id == case_id)
                               .values(status="submitted"))
            db.session.commit()
        version = db.session.scalar(sa.select(Case.version).where(Case.id == case_id))
        lifecycle.act(office, case_id, action, version, params)
        db.session.expire_all()

    return act


def revisit(case_id: str, when: datetime, outcome: str, satisfaction: str | None) -> str:
    office = db.session.scalar(sa.select(User.id).filter_by(username="revisit"))
    row = Revisit(client_id=str(uuid.uuid4()), request_hash="0" * 64, case_id=case_id,
                  method="phone", at=when.astimezone(UTC), outcome=outcome,
                  satisfaction=satisfaction, stated_satisfaction=satisfaction,
                  created_by=office, received_at=when.astimezone(UTC), attempts=[])
    db.session.add(row)
    if outcome == "reached":  # what recording it does to the case (revisits.record)
        revisits.mark_reached(case_id, when.astimezone(UTC))
    if satisfaction is not None:
        keep_latest(case_id)
    db.session.commit()
    return row.id


def dissatisfied(case_id: str, when: datetime, revisit_id: str) -> None:
    """What a dissatisfied revisit does to a closed case: back to review (unclosed)."""
    with transaction():
        case = db.session.get(Case, case_id)
        lifecycle.dissatisfied_revisit(case, actor_id=None, now=when.astimezone(UTC),
                                       data={"revisit_id": revisit_id})


def sample(case_ids: list[str], when: datetime) -> None:
    office = db.session.scalar(sa.select(User.id).filter_by(username="revisit"))
    drawn = RevisitSample(period_from=local(6, 1), period_to=local(6, 30), share=0.5,
                          strata=[], seed="s", population=len(case_ids),
                          population_hash="0" * 64, allocation=[], unit_scope=[],
                          created_by=office, created_at=when.astimezone(UTC))
    db.session.add(drawn)
    db.session.flush()
    db.session.add_all(SampleCase(sample_id=drawn.id, case_id=c, stratum="all")
                       for c in case_ids)
    db.session.commit()


@pytest.fixture()
def june(app, clock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Cases received in June 2026 (hotline, due 7 days after receipt) and one in July:
    A closed on time; B closed late and reopened on 07-05; C never closed; D closed late
    on 07-02; E (Street B) closed on time then unclosed by a dissatisfied revisit; F
    received in July, outside the period."""
    a, = add("Street A", local(6, 2))
    b, = add("Street A", local(6, 3))
    c, = add("Street A", local(6, 10), channel="letter")
    d, = add("Street A", local(6, 12), category="cooking_fumes")
    e, = add("Street B", local(6, 15))
    f, = add("Street A", local(7, 1))
    clock(a, "approve", local(6, 5))          # due 06-09: on time
    clock(b, "approve", local(6, 20))         # due 06-10: late
    clock(d, "approve", local(7, 2))          # due 06-19: late
    clock(e, "approve", local(6, 16))         # due 06-22: on time
    clock(f, "approve", local(7, 2))
    clock(b, "reopen", local(7, 5), reason="回头看发现反弹")
    revisit(a, local(6, 6), "reached", "satisfied")
    revisit(b, local(6, 21), "unreachable", None)
    dissatisfied(e, local(6, 17), revisit(e, local(6, 17), "reached", "dissatisfied"))
    revisit(b, local(7, 6), "reached", "basically_satisfied")
    revisit(d, local(7, 8), "reached", "satisfied")
    sample([a, e], local(6, 10))
    return {"A": a, "B": b, "C": c, "D": d, "E": e, "F": f}


def figures(api: Any, **query: Any) -> dict[str, Any]:
    answer = api.get("/api/stats", query_string={"from": "2026-06-01", "to": "2026-06-30",
                                                  **query})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def rates(body: dict[str, Any]) -> dict[str, tuple[int, int, str | None]]:
    return {r["code"]: (r["numerator"], r["denominator"], r["percent"]) for r in body["rates"]}


def test_each_rate_as_of_a_date_before_the_reopen(june, as_user) -> None:  # type: ignore[no-untyped-def]
    body = figures(as_user("reviewer"), at="2026-06-30")
    assert rates(body) == {
        "closure_rate": (2, 5, "40.0%"),          # A, B (reopened only on 07-05)
        "on_time_rate": (1, 2, "50.0%"),          # A on time, B late
        "revisit_rate": (1, 2, "50.0%"),          # A reached; B's call reached nobody
        "satisfaction_rate": (1, 2, "50.0%"),     # A satisfied, E dissatisfied
        "spot_check_dissatisfied_rate": (1, 2, "50.0%"),  # of A and E, E
    }
    # B counts as closed on 06-30 though it is open today; D, closed today, did not yet.
    noise = rates(figures(as_user("reviewer"), at="2026-06-30", category="noise_social"))
    assert noise["closure_rate"] == (2, 4, "50.0%")  # A and B of A, B, C, E
    fumes = rates(figures(as_user("reviewer"), at="2026-06-30", category="cooking_fumes"))
    assert fumes["closure_rate"] == (0, 1, "0.0%")
    assert body["as_of"].startswith("2026-06-30T23:59:59")
    assert body["period"] == {"from": "2026-06-01", "to": "2026-06-30"}
    closure = body["rates"][0]
    assert closure["label"] == {"zh": "办结率", "en": "Closure rate"}
    assert closure["value"] == pytest.approx(0.4)
    assert closure["definition"]["zh"] and closure["denominator_means"]["en"]


def test_each_rate_as_of_a_date_after_the_reopen(june, as_user) -> None:  # type: ignore[no-untyped-def]
    body = figures(as_user("reviewer"), at="2026-07-10")
    assert rates(body) == {
        "closure_rate": (2, 5, "40.0%"),          # A, D (B reopened on 07-05)
        "on_time_rate": (1, 2, "50.0%"),          # A on time, D late
        "revisit_rate": (2, 2, "100.0%"),         # A, and D on 07-08
        "satisfaction_rate": (3, 4, "75.0%"),     # A, B basically, D; E dissatisfied
        "spot_check_dissatisfied_rate": (1, 2, "50.0%"),
    }
    # Today the log says the same as on 07-10; before anything closed, nothing was.
    assert rates(figures(as_user("reviewer"))) == rates(body)
    early = rates(figures(as_user("reviewer"), at="2026-06-04"))
    assert early["closure_rate"] == (0, 2, "0.0%")  # A and B received by then
    assert early["on_time_rate"] == (0, 0, None)


def test_counts_by_category_channel_unit_and_week(june, as_user) -> None:  # type: ignore[no-untyped-def]
    body = figures(as_user("reviewer"), at="2026-07-10")
    counts = body["counts"]
    assert [(c["key"], c["count"]) for c in counts["by_category"]] == [
        ("noise_social", 4), ("cooking_fumes", 1)]
    assert counts["by_category"][1]["label"] == {"zh": "餐饮油烟", "en": "Cooking fumes"}
    assert [(c["key"], c["count"]) for c in counts["by_channel"]] == [
        ("hotline_12345", 4), ("letter", 1)]
    assert [(c["label"]["zh"], c["count"]) for c in counts["by_unit"]] == [
        ("Street A", 4), ("Street B", 1)]
    weeks = counts["by_period"]
    # June 2026: 06-01 is a Monday (W23) ... 06-29/30 (W27, cut by the period's end).
    # A and B (06-02, 06-03), C and D (06-10, 06-12), E (06-15).
    assert [(w["key"], w["count"]) for w in weeks] == [
        ("2026-W23", 2), ("2026-W24", 2), ("2026-W25", 1), ("2026-W26", 0),
        ("2026-W27", 0)]
    assert (weeks[-1]["from"], weeks[-1]["to"]) == ("2026-06-29", "2026-06-30")
    months = figures(as_user("reviewer"), bucket="month")["counts"]["by_period"]
    assert months == [{"key": "2026-06", "from": "2026-06-01", "to": "2026-06-30",
                       "count": 5}]


def test_other_units_cases_are_not_counted(june, as_user) -> None:  # type: ignore[no-untyped-def]
    street_a = rates(figures(as_user("reviewer_a"), at="2026-07-10"))
    assert street_a["closure_rate"] == (2, 4, "50.0%")      # E is Street B's
    assert street_a["satisfaction_rate"] == (3, 3, "100.0%")
    leader = figures(as_user("lead_a"), at="2026-07-10")
    assert rates(leader) == street_a
    only_b = figures(as_user("reviewer"), at="2026-06-30", unit_id=unit_id("Street B"))
    assert only_b["scope"]["unit"] == {"id": unit_id("Street B"), "name": "Street B"}
    assert rates(only_b)["closure_rate"] == (0, 1, "0.0%")
    # Street B is not Street A's reviewer's to ask about: as if it did not exist.
    hidden = as_user("reviewer_a").get("/api/stats", query_string={
        "unit_id": unit_id("Street B")})
    assert hidden.status_code == 404 and hidden.get_json()["code"] == "unit.not_found"
    fumes = figures(as_user("reviewer"), category="cooking_fumes", at="2026-07-10")
    assert rates(fumes)["closure_rate"] == (1, 1, "100.0%")


@pytest.mark.parametrize("who", ["insp_a", "revisit"])
def test_field_and_revisit_staff_may_not_read_the_rates(app, as_user, who: str) -> None:  # type: ignore[no-untyped-def]
    answer = as_user(who).get("/api/stats")
    assert answer.status_code == 403 and answer.get_json()["code"] == "report.forbidden"


@pytest.mark.parametrize(("query", "status", "code"), [
    ({"from": "2026-07-01", "to": "2026-06-01"}, 422, "report.bad_period"),
    ({"from": "2025-01-01", "to": "2026-06-30"}, 422, "report.period_too_long"),
    ({"from": "2026-06-01", "to": "2026-06-30", "at": "2026-05-31"}, 422,
     "report.at_before_period"),
    ({"from": "2026-06-01", "at": "2026-13-01"}, 422, "report.bad_date"),
    ({"from": "2026-02-30"}, 422, None),
    ({"bucket": "year"}, 422, None),
    ({"unit_id": "no-such-unit"}, 404, "unit.not_found"),
])
def test_bad_input_is_refused_clearly(app, as_user, query: dict, status: int,
                                      code: str | None) -> None:  # type: ignore[no-untyped-def]
    answer = as_user("reviewer").get("/api/stats", query_string=query)
    assert answer.status_code == status, answer.get_json()
    if code:
        assert answer.get_json()["code"] == code


def test_the_period_limit_is_a_setting(app, as_user) -> None:  # type: ignore[no-untyped-def]
    app.config["REPORT_MAX_DAYS"] = 31
    api = as_user("reviewer")
    ok = api.get("/api/stats", query_string={"from": "2026-06-01", "to": "2026-07-01"})
    assert ok.status_code == 200 and ok.get_json()["limits"] == {"max_days": 31}
    long = api.get("/api/stats", query_string={"from": "2026-06-01", "to": "2026-07-02"})
    assert long.status_code == 422 and long.get_json()["code"] == "report.period_too_long"
    assert "32" in long.get_json()["detail"]


def test_the_approval_records_whether_it_came_before_the_deadline(june) -> None:  # type: ignore[no-untyped-def]
    found = dict(db.session.execute(sa.select(Case.id, timeline.CaseEvent.data).join(
        timeline.CaseEvent, timeline.CaseEvent.case_id == Case.id).where(
        timeline.CaseEvent.kind == "approved")).all())
    assert found[june["A"]]["on_time"] is True and found[june["B"]]["on_time"] is False


def test_seed_002_closure_rate_600_of_607(app, as_user) -> None:  # type: ignore[no-untyped-def]
    """Seed 002: 607 cases received in the period, 600 closed: 98.8%. Built in bulk: the
    cases through add_cases, their approvals as events in one batch."""
    ids = add("Street A", local(6, 3), n=607)
    closed_at = local(6, 20).astimezone(UTC)
    with transaction():
        db.session.execute(sa.update(Case).where(Case.id.in_(ids[:600]))
                           .values(status="closed", closed_at=closed_at))
        rows = db.session.scalars(sa.select(Case).where(Case.id.in_(ids[:600]))).all()
        timeline.append_many([(c, "approved", {"action": "approve", "from": "submitted",
                                               "on_time": False}) for c in rows],
                             actor_id=None, at=closed_at)
    closure = rates(figures(as_user("reviewer"), at="2026-06-30"))["closure_rate"]
    assert closure == (600, 607, "98.8%")


def test_a_unit_created_after_is_still_a_unit(app) -> None:  # type: ignore[no-untyped-def]
    """Unit subtrees: a unit under Street A counts in Street A's figures."""
    auth.create_unit("Community A1", "Street A")
    db.session.commit()
    add("Community A1", local(6, 5))
    from server.domain.ledgers import period, stats

    office = db.session.scalar(sa.select(User).filter_by(username="reviewer"))
    p = period.period(local(6, 1).date(), local(6, 30).date(), None,
                      now=local(7, 1).astimezone(UTC))
    s = stats.narrowed(office, unit_id("Street A"), None, None)
    body = stats.report(office, p, s, "week", 366)
    assert [(u["label"]["zh"], u["count"]) for u in body["counts"]["by_unit"]] == [
        ("Community A1", 1)]
    assert timedelta(0) < body["as_of"] - local(6, 30) < timedelta(days=2)


def test_todays_copy_and_the_event_log_agree_on_every_day(june, as_user) -> None:  # type: ignore[no-untyped-def]
    """The figures read today's columns for cases unchanged since `at` and the events for
    the others; the events alone say the same, day after day across the reopen."""
    from server.domain.ledgers import asof

    api = as_user("reviewer")
    for day in range(0, 45, 3):
        at = (local(6, 1, 23) + timedelta(days=day)).replace(minute=59, second=59)
        period_ids = sa.select(Case.id).where(
            Case.received_at >= local(6, 1), Case.received_at < local(7, 1),
            Case.received_at <= at)
        st = asof.standing(period_ids, at)
        by_log = db.session.execute(sa.select(
            sa.func.count(), sa.func.sum(sa.case((asof.verdict(st.c.last) == asof.ON_TIME, 1),
                                                 else_=0)))
            .select_from(st).where(asof.closed(st.c.last))).one()
        shown = rates(figures(api, at=at.isoformat()))
        assert (shown["closure_rate"][0], shown["on_time_rate"][0]) == (
            by_log[0], by_log[1] or 0), at


def test_a_reopen_a_rule_decides_moves_the_closure_too(june, as_user) -> None:  # type: ignore[no-untyped-def]
    """A look-back's rebound reopens through lifecycle.reopen_for: the case's
    `closure_changed_at` moves with it, so a date before the reopen still counts the case
    closed and a date after does not."""
    when = local(7, 20).astimezone(UTC)
    with transaction():
        lifecycle.reopen_for(db.session.get(Case, june["A"]), actor_id=None, now=when,
                             data={"reason": "回头看发现反弹"})
    assert db.session.get(Case, june["A"]).closure_changed_at == when
    api = as_user("reviewer")
    assert rates(figures(api, at="2026-07-15"))["closure_rate"][:2] == (2, 5)  # A, D
    assert rates(figures(api, at="2026-07-25"))["closure_rate"][:2] == (1, 5)  # D


def test_the_cases_latest_answer_and_the_revisits_agree_on_every_day(june, as_user) -> None:  # type: ignore[no-untyped-def]
    """The satisfaction rates read the case's latest answer unless it came after `at`;
    the revisits alone say the same, day after day (answers on 06-06, 06-17, 07-06,
    07-08), and a later answer does not change an earlier day's figure."""
    from server.domain.ledgers import stats

    api = as_user("reviewer")
    seen = []
    for day in range(0, 45, 3):
        at = (local(6, 1, 23) + timedelta(days=day)).replace(minute=59, second=59)
        latest = stats.latest_answers(at)
        by_revisits = db.session.execute(sa.select(
            sa.func.count(), sa.func.sum(sa.case((latest.c.last % 4 <= 1, 1), else_=0)))
            .join(Case, Case.id == latest.c.case_id)
            .where(Case.received_at >= local(6, 1), Case.received_at < local(7, 1),
                   Case.received_at <= at)).one()
        shown = rates(figures(api, at=at.isoformat()))["satisfaction_rate"]
        assert shown[:2] == (by_revisits[1] or 0, by_revisits[0]), at
        seen.append(shown[:2])
    assert (0, 0) in seen and (2, 3) in seen and len(set(seen)) >= 4  # it moved


def test_a_revisit_that_reached_someone_marks_the_case_with_the_first(app, as_user,  # type: ignore[no-untyped-def]
                                                                     make_case) -> None:
    from tests.closure_facts import phone_revisit

    case = make_case()
    api = as_user("revisit")
    first = api.post(f"/api/cases/{case['id']}/revisits", json=phone_revisit())
    assert first.status_code == 201, first.get_json()
    second = api.post(f"/api/cases/{case['id']}/revisits",
                      json={**phone_revisit(), "satisfaction": "basically_satisfied"})
    assert second.status_code == 201, second.get_json()
    db.session.expire_all()
    row = db.session.get(Case, case["id"])
    got = db.session.get(Revisit, first.get_json()["id"])
    assert row.revisit_reached_at == got.received_at
    # and the latest answer (the second), for the satisfaction rates
    latest = db.session.get(Revisit, second.get_json()["id"])
    assert (row.last_answer_at, row.last_answer % 4) == (latest.received_at, 1)
    assert row.version == case["version"]  # phones' versions are not moved by it
