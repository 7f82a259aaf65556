"""Repeat complaints (seed 002): linking by address, radius and phone within the window,
the list at 3, the office's decisions, the leader in charge, and what another unit learns
(a count, nothing else)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from server.domain.accounts import auth
from server.domain.core import privacy
from server.domain.repeats import detect
from server.domain.repeats.addresses import address_key, address_keys
from server.extensions import db
from server.models import AuditEntry, Case, User
from tests.conftest import PASSWORD, unit_id

# ---- the address key, without a database ------------------------------------------------
SAME_PLACE = [
    ("城中街道中山路12号", "中山路十二号附近"),
    ("江苏省南京市鼓楼区中山路12号", "中山路１２号 3栋2单元501室"),
    ("中山路12号对面", "中山路12号门口"),
    ("福华三路一百号", "福华三路100号旁"),
    ("解放大道8号3号楼", "解放大道8号"),
    ("金色家园小区3栋", "金色家园小区门口"),
    ("金嗓子ktv", "城中街道 金嗓子KTV旁"),
    ("西湖区文三路附近", "文三路"),
    ("长安街1号A座", "长安街1号 1层"),
]
OTHER_PLACE = [
    ("中山路12号", "中山路14号"),
    ("中山路12号", "中山北路12号"),
    ("解放大道8号", "解放路8号"),
    ("解放路3号楼", "解放路3号"),  # a building's number is not a house number
    ("金色家园小区", "银色家园小区"),
    ("南京路3号", "北京路3号"),
]


@pytest.mark.parametrize(("a", "b"), SAME_PLACE)
def test_variants_of_one_place_have_one_key(a: str, b: str) -> None:
    assert address_key(a) is not None
    assert address_key(a) == address_key(b)


@pytest.mark.parametrize(("a", "b"), OTHER_PLACE)
def test_other_places_have_other_keys(a: str, b: str) -> None:
    assert address_key(a) != address_key(b)


def test_keys_in_a_batch_are_the_keys_one_by_one() -> None:
    texts = [a for pair in SAME_PLACE + OTHER_PLACE for a in pair] + ["", None]
    assert address_keys(texts) == [address_key(t) for t in texts]


# ---- helpers ---------------------------------------------------------------------------
RECEIVED = "2026-11-20T23:05:00+08:00"


@pytest.fixture()
def mk(make_case):  # type: ignore[no-untyped-def]
    """A case with no location and no number unless given (the shared body has both)."""
    def make(address: str, *, phone: str | None = None, loc: tuple[float, float] | None = None,
             category: str = "noise_social", received: str = RECEIVED,
             unit: str = "Street A", **extra: Any) -> dict:
        return make_case(unit, address=address, category=category, received_at=received,
                         **extra,
                         complainant={"name": "张三", "phone": phone} if phone else None,
                         location={"lat": loc[0], "lon": loc[1]} if loc else None)
    return make


def repeat(api: Any, case_id: str) -> dict:
    response = api.get(f"/api/cases/{case_id}/repeat")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def kinds(api: Any, case_id: str) -> list[dict]:
    items = api.get(f"/api/cases/{case_id}/timeline").get_json()["items"]
    return [e for e in items if e["kind"].startswith("repeat_")]


def north(lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat + metres / 111_195, lon


BASE = (25.0, 110.0)


# ---- linking ---------------------------------------------------------------------------
def test_linked_by_address_variants(mk, as_user) -> None:  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")
    first = mk("城中街道中山路12号")
    second = mk("中山路十二号3栋附近", received="2026-12-01T09:00:00+08:00")
    answer = repeat(reviewer, second["id"])
    assert answer["linked"] and answer["may_decide"]
    assert answer["link"] == {**answer["link"], "state": "auto", "matched_by": ["address"]}
    assert answer["subject"]["count"] == 2 and not answer["subject"]["listed"]
    assert repeat(reviewer, first["id"])["subject"]["id"] == answer["subject"]["id"]
    [event] = kinds(reviewer, second["id"])
    assert event["kind"] == "repeat_linked"
    assert event["data"] == {"subject_id": answer["subject"]["id"], "count": 2,
                             "listed": False, "matched_by": ["address"]}


def test_linked_by_radius_not_beyond(mk, as_user) -> None:  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")
    mk("夜色酒吧", loc=BASE)
    near = mk("滨江广场东侧", loc=north(*BASE, 60))
    far = mk("体育馆北门", loc=north(*BASE, 300))
    assert repeat(reviewer, near["id"])["link"]["matched_by"] == ["radius"]
    assert repeat(reviewer, far["id"])["linked"] is False


def test_linked_by_phone_in_any_format(mk, as_user) -> None:  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")
    mk("东湖路1号", phone="13812341234")
    other = mk("西湖路99号", phone="+86 138 1234 1234", category="odour")
    assert repeat(reviewer, other["id"])["link"]["matched_by"] == ["phone"]
    stranger = mk("南湖路5号", phone="13900000000")
    assert repeat(reviewer, stranger["id"])["linked"] is False


def test_not_linked_outside_window_or_across_categories(mk, as_user) -> None:  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")
    mk("中山路12号", phone="13812341234", received="2026-07-20T10:00:00+08:00")
    late = mk("中山路12号", phone="13812341234")
    assert repeat(reviewer, late["id"])["linked"] is False  # 123 days > 90
    other_kind = mk("中山路12号", category="odour")
    assert repeat(reviewer, other_kind["id"])["linked"] is False


def test_third_complaint_lists_the_subject(mk, as_user) -> None:  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")
    assert reviewer.get("/api/repeats").get_json()["items"] == []
    for day in (1, 5):
        mk("中山路12号", received=f"2026-11-0{day}T10:00:00+08:00")
    third = mk("中山路十二号", received="2026-11-09T10:00:00+08:00")
    answer = repeat(reviewer, third["id"])
    assert answer["subject"]["listed"] and answer["subject"]["count"] == 3
    [event] = kinds(reviewer, third["id"])
    assert event["data"]["listed"] is True and event["data"]["count"] == 3
    [listed] = reviewer.get("/api/repeats").get_json()["items"]
    assert listed["id"] == answer["subject"]["id"]
    assert listed["title"] == "中山路12号" and listed["visible_cases"] == 3
    assert listed["other_units"] == 0 and listed["category"] == "noise_social"
    detail = reviewer.get(f"/api/repeats/{listed['id']}").get_json()
    assert [c["id"] for c in detail["cases"]][-1] == third["id"]
    assert len(detail["cases"]) == 3


def _audits(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).filter_by(action=action)))


def test_confirm_and_undo_are_audited_and_undo_sticks(mk, as_user) -> None:  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")
    mk("中山路12号")
    second = mk("中山路12号")
    url = f"/api/cases/{second['id']}/repeat"
    assert as_user("insp_a").post(f"{url}/confirm").status_code == 403
    for _ in range(2):  # idempotent
        response = reviewer.post(f"{url}/confirm")
        assert response.status_code == 200 and response.get_json()["link"]["state"] == "confirmed"
    assert len(_audits("repeat.link_confirmed")) == 1
    for _ in range(2):
        answer = reviewer.post(f"{url}/undo").get_json()
    assert answer["link"]["state"] == "undone" and answer["subject"]["count"] == 1
    [entry] = _audits("repeat.link_undone")
    assert entry.entity_id == second["id"] and entry.data["was"] == "confirmed"
    assert [e["kind"] for e in kinds(reviewer, second["id"])] == [
        "repeat_linked", "repeat_link_confirmed", "repeat_link_undone"]
    # An edit of the place does not link it again, nor does a new complaint pull it in.
    case = reviewer.get(f"/api/cases/{second['id']}").get_json()
    assert reviewer.patch(f"/api/cases/{second['id']}", json={
        "version": case["version"], "address": "中山路十二号"}).status_code == 200
    third = mk("中山路12号")
    assert repeat(reviewer, second["id"])["link"]["state"] == "undone"
    assert repeat(reviewer, third["id"])["subject"]["count"] == 2
    assert reviewer.post("/api/cases/" + third["id"] + "/repeat/undo").status_code == 200
    lone = mk("北湖路1号")
    response = reviewer.post(f"/api/cases/{lone['id']}/repeat/confirm")
    assert response.status_code == 404 and response.get_json()["code"] == "repeat.no_link"


def test_an_edited_address_is_keyed_and_linked(mk, as_user) -> None:  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")
    mk("中山路12号")
    moved = mk("北湖路1号")
    assert repeat(reviewer, moved["id"])["linked"] is False
    case = reviewer.get(f"/api/cases/{moved['id']}").get_json()
    assert reviewer.patch(f"/api/cases/{moved['id']}", json={
        "version": case["version"], "address": "中山路十二号旁"}).status_code == 200
    assert db.session.get(Case, moved["id"]).address_key == "中山路12号"
    assert repeat(reviewer, moved["id"])["link"]["matched_by"] == ["address"]


def _leader(name: str, *, active: bool = True) -> User:
    user = db.session.scalar(sa.select(User).filter_by(username=name))
    if user is None:
        user = auth.create_user(name, PASSWORD, "leader", ["District"], display_name="王局长")
    user.active = active
    db.session.commit()
    return user


def test_only_an_active_leader_is_put_in_charge(mk, as_user) -> None:  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")
    mk("中山路12号")
    second = mk("中山路12号")
    subject_id = repeat(reviewer, second["id"])["subject"]["id"]
    url = f"/api/repeats/{subject_id}/leader"
    reviewer_id = db.session.scalar(sa.select(User.id).filter_by(username="reviewer"))
    for who in (reviewer_id, _leader("leader_off", active=False).id,
                "00000000-0000-4000-8000-000000000000"):
        response = reviewer.put(url, json={"leader_id": who})
        assert response.status_code == 422 and response.get_json()["code"] == "repeat.not_a_leader"
    leader = _leader("lead_d")  # the people's district leader (conftest)
    assert as_user("insp_a").put(url, json={"leader_id": leader.id}).status_code == 403
    response = reviewer.put(url, json={"leader_id": leader.id})
    assert response.status_code == 200
    assert response.get_json()["leader"] == {"id": leader.id, "name": "王局长"}
    assert repeat(reviewer, second["id"])["subject"]["leader"]["id"] == leader.id
    [entry] = _audits("repeat.leader_set")
    assert entry.data == {"leader_id": leader.id, "was": None}
    assert reviewer.put("/api/repeats/nope/leader", json={"leader_id": None}).status_code == 404


# ---- across units ------------------------------------------------------------------------
def test_another_units_cases_are_a_count_only(mk, as_user, app) -> None:  # type: ignore[no-untyped-def]
    reviewer_a = as_user("reviewer_a")
    # Street B's complaints, linked to Street A's by the caller's number alone.
    hidden = [mk("西城区秘密路7号", phone="13812341234", unit="Street B", subject="化工厂夜间偷排",
                 category="noise_construction", received=f"2026-11-0{d}T10:00:00+08:00")
              for d in (1, 2)]
    mine = mk("东湖路88号", phone="+8613812341234")
    answer = repeat(reviewer_a, mine["id"])
    assert answer["subject"]["count"] == 3 and answer["subject"]["listed"]
    assert answer["subject"]["other_units"] == 2 and answer["subject"]["visible_cases"] == 1
    assert answer["subject"]["title"] == "东湖路88号"
    # Its category and dates are those of the cases Street A sees, not Street B's.
    assert answer["subject"]["category"] == "noise_social"
    assert answer["subject"]["first_at"] == answer["subject"]["last_at"]
    assert answer["subject"]["first_at"].startswith("2026-11-20")
    listed = reviewer_a.get("/api/repeats").get_json()
    detail = reviewer_a.get(f"/api/repeats/{answer['subject']['id']}").get_json()
    assert [c["id"] for c in detail["cases"]] == [mine["id"]]
    assert detail["other_units"] == 2
    with app.test_request_context():
        user = db.session.scalar(sa.select(User).filter_by(username="reviewer_a"))
        [hint] = detect.hints(user, [detect.Draft(
            category="odour", address="别处1号", lat=None, lon=None,
            phone_digest=privacy.phone_digest("138-1234-1234"),
            received_at=datetime.fromisoformat("2026-11-05T10:00:00+08:00"),
            unit_id=unit_id("Street A"))])
    assert hint is not None and hint["count"] == 4 and hint["case_ids"] == [mine["id"]]
    assert hint["other_units"] == 2 and hint["matched_by"] == ["phone"]
    said = json.dumps([answer, listed, detail, hint], ensure_ascii=False, default=str)
    for case in hidden:
        for secret in (case["id"], "秘密路", "西城区", case["subject"], "13812341234",
                       "noise_construction", "2026-11-01", "2026-11-02"):
            assert secret not in said
    # Street B's own subject (no case of Street A in it) is not there at all.
    mk("北城路3号", unit="Street B")
    only_b = mk("北城路3号", unit="Street B")
    subject_b = repeat(as_user("reviewer"), only_b["id"])["subject"]["id"]
    assert reviewer_a.get(f"/api/repeats/{subject_b}").status_code == 404
    assert subject_b not in json.dumps(reviewer_a.get("/api/repeats?listed=false").get_json())


def test_hints_for_a_sheets_rows(mk, as_user, app) -> None:  # type: ignore[no-untyped-def]
    first = mk("中山路12号", loc=BASE)
    second = mk("中山路十二号")
    with app.test_request_context():
        user = db.session.scalar(sa.select(User).filter_by(username="reviewer"))
        at = datetime.fromisoformat("2026-11-25T10:00:00+08:00")
        street = unit_id("Street A")

        def draft(address: str, loc: tuple[float, float] | None = None,
                  category: str = "noise_social") -> detect.Draft:
            return detect.Draft(category=category, address=address, lat=loc and loc[0],
                                lon=loc and loc[1], phone_digest=None, received_at=at,
                                unit_id=street)

        hints = detect.hints(user, [draft("江苏省南京市鼓楼区中山路12号"),
                                    draft("无名处", north(*BASE, 50)),
                                    draft("中山路12号", category="odour"),
                                    draft("北湖路1号")])
    by_address, by_radius, other_kind, nothing = hints
    assert by_address == {"subject_id": by_address["subject_id"], "listed": True, "count": 3,
                          "matched_by": ["address"],
                          "case_ids": sorted([first["id"], second["id"]]),
                          "other_units": 0, "leader": None}
    assert by_address["subject_id"] is not None
    assert by_radius["matched_by"] == ["radius"] and by_radius["count"] == 3
    assert other_kind is None and nothing is None


def test_a_sheets_cases_link_together_at_the_end(app) -> None:  # type: ignore[no-untyped-def]
    """An import adds its rows inside `deferred()`: one batched lookup at the end links
    them with each other and with earlier cases, as one by one would."""
    from server.domain.cases.cases import add_case
    from server.domain.core.uow import transaction
    from server.domain.repeats import links
    from server.models import RepeatLink, RepeatSubject

    street = unit_id("Street A")
    rows = [{"channel": "hotline_12345", "category": "noise_social", "subject": f"行{i}",
             "address": address, "description": "", "unit_id": street,
             "received_at": datetime.fromisoformat(f"2026-11-0{i + 1}T10:00:00+08:00")}
            for i, address in enumerate(("中山路12号", "中山路十二号", "中山路12号旁",
                                         "北湖路1号"))]
    with app.test_request_context(), transaction(), links.deferred():
        made = [add_case(row, created_by=None) for row in rows]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RepeatLink)) == 0
    [subject] = db.session.scalars(sa.select(RepeatSubject)).all()
    assert subject.count == 3 and subject.listed_at is not None
    assert subject.title == "中山路12号"
    linked = set(db.session.scalars(sa.select(RepeatLink.case_id)))
    assert linked == {c.id for c in made[:3]}
    # The later two's repeat_linked events, written together, each follow the case's
    # received event in an unbroken chain (the first was joined, not linked on arrival).
    from server.domain.audit import timeline
    from server.models import CaseEvent

    seen = [[(e.kind, e.data.get("count")) for e in db.session.scalars(
        sa.select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.seq))]
        for case in made]
    # Each says the count as it stood when that row arrived.
    assert seen == [[("received", None)], [("received", None), ("repeat_linked", 2)],
                    [("received", None), ("repeat_linked", 3)], [("received", None)]], seen
    assert list(timeline.verify_chains()) == []


def test_index_addresses_fills_cases_from_before_0019(mk, app) -> None:  # type: ignore[no-untyped-def]
    from server.cli import cli

    old = mk("中山路十二号附近", loc=BASE)
    db.session.execute(sa.update(Case).values(address_key=None, geo_cell=None))
    db.session.commit()
    result = app.test_cli_runner().invoke(cli, ["index-addresses"], catch_exceptions=False)
    assert result.exit_code == 0 and "1 case addresses keyed" in result.output
    db.session.expire_all()
    case = db.session.get(Case, old["id"])
    assert case.address_key == "中山路12号" and case.geo_cell == detect.cell_of(*BASE)
    again = app.test_cli_runner().invoke(cli, ["index-addresses"], catch_exceptions=False)
    assert "0 case addresses keyed" in again.output


def test_a_shared_subjects_leader_is_named_by_the_office_over_all_its_units(  # type: ignore[no-untyped-def]
        mk, as_user) -> None:
    """Street A's office sees a subject that also holds Street B's complaints: it may not
    name its leader (403), nor may anyone name a street's leader over the other street's
    cases; the district's office names the district's leader."""
    mk("秘密路7号", phone="13812341234", unit="Street B")
    theirs = mk("秘密路7号", phone="13812341234", unit="Street A")
    street_a = as_user("reviewer_a")
    subject_id = repeat(street_a, theirs["id"])["subject"]["id"]
    lead_a = db.session.scalar(sa.select(User.id).filter_by(username="lead_a"))
    lead_d = db.session.scalar(sa.select(User.id).filter_by(username="lead_d"))
    url = f"/api/repeats/{subject_id}/leader"
    refused = street_a.put(url, json={"leader_id": lead_a})
    assert refused.status_code == 403 and refused.get_json()["code"] == "repeat.other_units"
    district = as_user("reviewer")
    wrong = district.put(url, json={"leader_id": lead_a})
    assert wrong.status_code == 422 and wrong.get_json()["code"] == "repeat.not_a_leader"
    assert district.put(url, json={"leader_id": lead_d}).status_code == 200


def test_undoing_the_earliest_complaint_moves_the_subjects_start(mk, as_user) -> None:  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")
    first = mk("中山路12号", received="2026-11-01T10:00:00+08:00")
    mk("中山路十二号", received="2026-11-05T10:00:00+08:00")
    third = mk("中山路12号旁", received="2026-11-09T10:00:00+08:00")
    assert repeat(reviewer, third["id"])["subject"]["first_at"].startswith("2026-11-01")
    assert reviewer.post(f"/api/cases/{first['id']}/repeat/undo").status_code == 200
    subject = repeat(reviewer, third["id"])["subject"]
    assert subject["count"] == 2 and subject["first_at"].startswith("2026-11-05")
    assert subject["title"] == "中山路十二号"
