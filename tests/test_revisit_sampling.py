"""Revisit sampling: proportional, stratified, reproducible from its seed; and its figures."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from server.domain.revisits import sampling
from server.extensions import db
from server.models import Case, User
from tests.conftest import unit_id


# ---- the draw, pure ------------------------------------------------------------------------
def test_allocation_is_proportional_within_one_case_and_never_skips_a_stratum() -> None:
    rng = random.Random(7)
    for _ in range(300):
        sizes = {f"s{i}": rng.choice([0, 1, 2, 3, rng.randint(4, 400)])
                 for i in range(rng.randint(1, 12))}
        share = rng.choice([0.01, 0.05, 0.1, 0.25, 0.5, 0.9])
        counts = sampling.allocate(sizes, share)
        assert set(counts) == {s for s, n in sizes.items() if n > 0}
        for stratum, n in counts.items():
            assert 1 <= n <= sizes[stratum]
            assert abs(n - share * sizes[stratum]) < 1, (sizes, share, counts)


def test_a_worked_allocation() -> None:
    # 10% of 95 + 3 + 12 = 11 cases: 9.5 -> 10 (largest remainder), 0.3 -> 1 (at least
    # one), 1.2 -> 1; an empty stratum draws nothing.
    assert sampling.allocate({"a": 95, "b": 3, "c": 0, "d": 12}, 0.1) == \
        {"a": 10, "b": 1, "d": 1}


def test_the_same_seed_draws_the_same_cases_whatever_the_order() -> None:
    people = [(str(uuid.UUID(int=i)), f"unit{i % 4}|{'ab'[i % 2]}") for i in range(500)]
    first = sampling.draw(people, 0.1, "seed-2026")
    shuffled = people[:]
    random.Random(1).shuffle(shuffled)
    assert sampling.draw(shuffled, 0.1, "seed-2026") == first
    assert sampling.draw(people, 0.1, "another-seed") != first
    drawn = [c for ids in first.values() for c in ids]
    assert len(drawn) == len(set(drawn)) == 50


# ---- through the API --------------------------------------------------------------------
PERIOD = {"from": "2026-01-01T00:00:00+08:00", "to": "2027-01-01T00:00:00+08:00"}


def seed_cases(n_a: int, n_b: int) -> list[str]:
    """Handled cases in Street A and B over two channels (rows made directly: the draw
    only reads status, unit, channel and receipt time)."""
    ids = []
    when = datetime(2026, 3, 1, tzinfo=UTC)
    for unit, n in (("Street A", n_a), ("Street B", n_b)):
        for i in range(n):
            case = Case(channel=("hotline_12345", "online")[i % 3 == 0], category="noise_social",
                        subject=f"噪声 {unit} {i}", address="某路", received_at=when +
                        timedelta(hours=i), unit_id=unit_id(unit),
                        status=("closed", "submitted")[i % 2])
            db.session.add(case)
            db.session.flush()
            ids.append(case.id)
    # Outside the population: open, or received outside the period.
    db.session.add(Case(channel="online", category="odour", subject="未办结", address="某路",
                        received_at=when, unit_id=unit_id("Street A"), status="in_progress"))
    db.session.add(Case(channel="online", category="odour", subject="去年", address="某路",
                        received_at=datetime(2025, 6, 1, tzinfo=UTC), unit_id=unit_id("Street A"),
                        status="closed"))
    db.session.commit()
    return ids


def test_a_sample_is_drawn_again_the_same_and_tracked_to_its_figures(app, as_user) -> None:
    handled_ids = seed_cases(61, 19)
    office, revisit = as_user("reviewer"), as_user("revisit")
    body = {**PERIOD, "share": 0.1, "strata": ["unit", "channel"], "seed": "audit-2026"}
    first = office.post("/api/revisit-samples", json=body)
    assert first.status_code == 201, first.get_json()
    sample = first.get_json()
    assert sample["population"] == 80 and sample["seed"] == "audit-2026"
    cases = [c["case_id"] for c in sample["cases"]]
    assert len(cases) == len(set(cases)) and set(cases) <= set(handled_ids)
    # Four strata (2 units x 2 channels), each represented, each within one of 10%.
    strata = sample["strata_figures"]
    assert len(strata) == 4 and sum(s["population"] for s in strata) == 80
    for s in strata:
        assert s["drawn"] >= 1 and abs(s["drawn"] - 0.1 * s["population"]) < 1
        assert sum(c["stratum"] == s["stratum"] for c in sample["cases"]) == s["drawn"]
    # Drawn again with the same seed and parameters: the same sample, not a second one
    # tasking every case twice.
    drawn_again = office.post("/api/revisit-samples", json=body)
    assert drawn_again.status_code == 200
    again = drawn_again.get_json()
    assert again["id"] == sample["id"] and [c["case_id"] for c in again["cases"]] == cases
    assert again["population_hash"] == sample["population_hash"]
    # A different seed is another sample, drawn from the same cases.
    other = office.post("/api/revisit-samples", json={**body, "seed": "audit-2026-b"})
    assert other.status_code == 201 and other.get_json()["id"] != sample["id"]
    again = other.get_json()
    unseeded = office.post("/api/revisit-samples", json={**body, "seed": None}).get_json()
    assert unseeded["seed"] and len(unseeded["seed"]) == 16
    assert revisit.post("/api/revisit-samples", json=body).status_code == 403

    # Assigned to the revisit team, then revisited: one satisfied, one dissatisfied, one
    # unreachable after three calls.
    team = [db.session.scalar(sa.select(User.id).filter_by(username="revisit"))]
    assigned = office.post(f"/api/revisit-samples/{sample['id']}/assign",
                           json={"user_ids": team}).get_json()
    assert all(c["assignee"]["id"] == team[0] for c in assigned["cases"])
    bad = office.post(f"/api/revisit-samples/{sample['id']}/assign",
                      json={"user_ids": [db.session.scalar(
                          sa.select(User.id).filter_by(username="insp_a"))]})
    assert bad.status_code == 422
    todo = revisit.get("/api/revisit-tasks").get_json()["items"]
    assert sorted(t["case_id"] for t in todo) == sorted(cases)
    assert as_user("admin").get("/api/revisit-tasks").get_json()["items"] == []
    assert {t["kind"] for t in todo} == {"sample"}
    at = "2026-11-28T19:30:00+08:00"
    for case_id, satisfaction in zip(cases[:2], ("satisfied", "dissatisfied"), strict=True):
        answer = revisit.post(f"/api/cases/{case_id}/revisits", json={
            "client_id": str(uuid.uuid4()), "method": "phone", "at": at,
            "satisfaction": satisfaction, "respondents": [
                {"client_id": str(uuid.uuid4()), "kind": "complainant"}]})
        assert answer.status_code == 201, answer.get_json()
    calls = [{"at": f"2026-11-2{d}T{h}:00:00+08:00", "outcome": "no_answer"}
             for d, h in ((7, 10), (7, 15), (8, "09"))]
    assert revisit.post(f"/api/cases/{cases[2]}/revisits", json={
        "client_id": str(uuid.uuid4()), "method": "phone", "at": at, "attempts": calls,
        "unreachable_reason": "三次未接"}).status_code == 201
    left = [t["case_id"] for t in revisit.get("/api/revisit-tasks").get_json()["items"]]
    assert sorted(left) == sorted(cases[3:])
    listed = revisit.get("/api/revisit-samples").get_json()["items"]
    assert [x["id"] for x in listed] == [unseeded["id"], again["id"], sample["id"]]
    assert listed[-1]["drawn"] == len(cases) and listed[-1]["seed"] == "audit-2026"
    progress = revisit.get(f"/api/revisit-samples/{sample['id']}").get_json()
    figures = progress["figures"]
    assert (figures["sampled"], figures["revisited"], figures["reached"],
            figures["unreachable"]) == (len(cases), 3, 2, 1)
    assert figures["revisit_rate"] == {"numerator": 3, "denominator": len(cases),
                                       "rate": round(3 / len(cases), 4)}
    assert figures["satisfaction_rate"] == {"numerator": 1, "denominator": 2, "rate": 0.5}
    assert figures["dissatisfied_rate"]["numerator"] == 1
    assert sum(u["sampled"] for u in progress["by_unit"]) == len(cases)
    assert sum(c["revisited"] for c in progress["by_channel"]) == 3
    # The other sample, drawn before these revisits, counts those of its cases too.
    shared = {c["case_id"] for c in again["cases"]} & set(cases[:3])
    assert office.get(f"/api/revisit-samples/{again['id']}").get_json()["figures"][
        "revisited"] == len(shared)


@pytest.mark.parametrize(("change", "field"), [
    ({"share": 0}, "share"), ({"share": 1.5}, "share"), ({"strata": ["colour"]}, "strata"),
    ({"to": "2025-01-01T00:00:00+08:00"}, "to")])
def test_bad_sample_requests_name_the_field(app, as_user, change: dict, field: str) -> None:
    seed_cases(3, 0)
    answer = as_user("reviewer").post("/api/revisit-samples", json={
        **PERIOD, "share": 0.1, **change})
    assert answer.status_code == 422 and field in answer.get_json()["errors"]


def test_a_sample_over_other_units_is_not_found(app, as_user) -> None:
    seed_cases(5, 5)
    sample = as_user("reviewer").post("/api/revisit-samples",
                                      json={**PERIOD, "share": 0.5}).get_json()
    assert as_user("reviewer_a").get(f"/api/revisit-samples/{sample['id']}").status_code == 404
    mine = as_user("reviewer_a").post("/api/revisit-samples",
                                      json={**PERIOD, "share": 0.5}).get_json()
    assert mine["population"] == 5  # Street A's only


def test_a_case_transferred_after_the_draw_leaves_the_drawers_export_and_list(
        app, as_user) -> None:
    """Street A draws its sample; one case then moves to Street B, whose revisit team
    revisits it. Street A's office no longer reads it (404), so neither the sample's list
    nor its export shows that case's answers; it still counts in the sample's figures."""
    import io

    import openpyxl

    seed_cases(3, 0)
    office_a = as_user("reviewer_a")
    drawn = office_a.post("/api/revisit-samples", json={**PERIOD, "share": 1.0,
                                                         "strata": ["unit"], "seed": "s1"})
    assert drawn.status_code == 201, drawn.get_json()
    sample = drawn.get_json()
    moved = sample["cases"][0]["case_id"]
    db.session.execute(sa.update(Case).where(Case.id == moved)
                       .values(unit_id=unit_id("Street B")))  # as a reopen and transfer
    db.session.commit()
    assert office_a.get(f"/api/cases/{moved}").status_code == 404
    answer = as_user("revisit_b").post(f"/api/cases/{moved}/revisits", json={
        "client_id": str(uuid.uuid4()), "at": "2026-11-28T19:30:00+08:00", "method": "phone",
        "questionnaire": {"code": "phone-revisit", "version": 1},
        "respondents": [{"client_id": str(uuid.uuid4()), "kind": "complainant",
                         "name": "王五", "contact": "13900001111",
                         "answers": {"resolved": False, "contacted": True,
                                     "satisfaction": "dissatisfied",
                                     "comments": "B街道的回访意见"}}]})
    assert answer.status_code == 201, answer.get_json()
    sheet = office_a.get(f"/api/revisit-samples/{sample['id']}/export.xlsx")
    assert sheet.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(sheet.data)).worksheets[0].iter_rows(
        values_only=True))
    assert not any(moved in row or "B街道的回访意见" in row for row in rows)
    seen = office_a.get(f"/api/revisit-samples/{sample['id']}").get_json()
    assert moved not in [c["case_id"] for c in seen["cases"]] and len(seen["cases"]) == 2
    assert seen["drawn"] == 3
    # The district's office sees both streets: the case and its revisit are there.
    district = as_user("reviewer").get(f"/api/revisit-samples/{sample['id']}").get_json()
    assert moved in [c["case_id"] for c in district["cases"]]
