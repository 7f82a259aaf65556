"""Leaders (领导): what a leader may and may not do, the leader in charge of a case (包案)
set by the office and filtered on, and leaders' instructions (领导批示)."""

from __future__ import annotations

import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry, User
from tests.closure_facts import submit_ready
from tests.conftest import unit_id
from tests.test_lifecycle import params_for, walk


def user_id(username: str) -> str:
    return db.session.scalar(sa.select(User.id).filter_by(username=username))


def leaders() -> dict[str, str]:
    """The leaders conftest makes: the district's and each street's."""
    return {"district": user_id("lead_d"), "a": user_id("lead_a"), "b": user_id("lead_b")}


def set_leader(api, case: dict, leader_id: str | None):  # type: ignore[no-untyped-def]
    current = api.get(f"/api/cases/{case['id']}").get_json()
    return api.patch(f"/api/cases/{case['id']}",
                     json={"version": current["version"], "leader_id": leader_id})


def test_the_office_sets_a_leader_over_the_cases_unit(app, as_user, make_case) -> None:
    ids = leaders()
    office = as_user("reviewer")
    case = make_case(unit="Street A")
    # Another street's leader, or someone who is no leader, is refused.
    for wrong in (ids["b"], db.session.scalar(sa.select(User.id).filter_by(username="insp_a")),
                  "no-such-user"):
        answer = set_leader(office, case, wrong)
        assert answer.status_code == 422 and answer.get_json()["code"] == "case.not_a_leader"
    # The street's own leader, or the district's (a unit above), may hold it.
    answer = set_leader(office, case, ids["district"])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["leader"] == {"id": ids["district"], "name": "王局长"}
    assert set_leader(office, case, ids["a"]).get_json()["leader"]["name"] == "李主任"
    # Free text of older cases still shows while no leader user is set.
    old = make_case(unit="Street A", leader="张局长")
    assert old["leader"] == {"id": None, "name": "张局长"}
    # A case created with a leader checks them too.
    refused = office.post("/api/cases", json={**{k: v for k, v in case.items() if k in (
        "channel", "category", "subject", "address", "received_at")},
        "unit_id": unit_id("Street A"), "leader_id": ids["b"]})
    assert refused.status_code == 422 and refused.get_json()["code"] == "case.not_a_leader"


def test_leaders_to_pick_are_those_in_scope(app, as_user) -> None:
    ids = leaders()
    street = {u["id"] for u in as_user("reviewer_a").get("/api/leaders").get_json()["items"]}
    assert street == {ids["a"], ids["district"]}  # theirs and the one above, not Street B's
    district = as_user("reviewer").get("/api/leaders").get_json()["items"]
    assert {ids["a"], ids["b"], ids["district"]} <= {u["id"] for u in district}
    for_b = as_user("reviewer").get(f"/api/leaders?unit={unit_id('Street B')}").get_json()
    assert {u["id"] for u in for_b["items"]} == {ids["b"], ids["district"]}


def test_board_list_and_map_filter_by_leader(app, as_user, make_case) -> None:
    ids = leaders()
    office = as_user("reviewer")
    held = make_case(unit="Street A", subject="李主任包案")
    other = make_case(unit="Street A", subject="王局长包案")
    make_case(unit="Street A", subject="无人包案")
    assert set_leader(office, held, ids["a"]).status_code == 200
    assert set_leader(office, other, ids["district"]).status_code == 200
    listed = office.get(f"/api/cases?leader={ids['a']}").get_json()
    assert [c["id"] for c in listed["items"]] == [held["id"]] and listed["total"] == 1
    board = office.get(f"/api/board?leader={ids['district']}").get_json()
    assert board["totals"]["all"] == 1
    cards = [c for group in board["cases"].values() for c in group]
    assert [(c["id"], c["leader"], c["leader_id"]) for c in cards] == [
        (other["id"], "王局长", ids["district"])]
    geo = office.get(f"/api/cases.geojson?leader={ids['a']}").get_json()
    assert [f["properties"]["id"] for f in geo["features"]] == [held["id"]]
    # A leader's own cases: leader=me.
    lead = as_user("lead_a")
    mine = lead.get("/api/cases?leader=me").get_json()
    assert [c["id"] for c in mine["items"]] == [held["id"]]
    assert lead.get("/api/board?leader=me").get_json()["totals"]["all"] == 1
    # Without the filter everything in scope.
    assert office.get("/api/board").get_json()["totals"]["all"] == 3


def test_a_leader_reads_and_instructs_but_does_not_handle(app, as_user, make_case) -> None:
    ids = leaders()
    case = make_case(unit="Street A")
    elsewhere = make_case(unit="Street B")
    lead = as_user("lead_a")
    read = lead.get(f"/api/cases/{case['id']}")
    assert read.status_code == 200
    assert read.get_json()["actions"] == []  # no lifecycle action (approve, dispatch...)
    assert read.get_json()["complainant"]["phone"] == "138****1234"
    assert lead.get(f"/api/cases/{elsewhere['id']}").status_code == 404
    assert lead.get("/api/board").status_code == 200
    assert lead.get("/api/cases.geojson").status_code == 200
    # Not an editor, a revealer, a dispatcher, an approver, or a reader of answers.
    assert lead.patch(f"/api/cases/{case['id']}",
                      json={"version": read.get_json()["version"], "subject": "x"}
                      ).status_code == 403
    assert lead.post(f"/api/cases/{case['id']}/complainant/reveal",
                     json={"reason": "想了解情况"}).status_code == 403
    for action, params in (("dispatch", params_for("dispatch")), ("approve", {})):
        answer = lead.post(f"/api/cases/{case['id']}/transitions", json={
            "action": action, "version": read.get_json()["version"], **params})
        assert answer.status_code in (403, 409), answer.get_json()
        assert answer.get_json()["code"] != "closure.unmet"
    assert lead.post(f"/api/cases/{case['id']}/feedback", json={
        "method": "phone", "told_at": case["received_at"]}).status_code == 403
    # Their own instruction, in their name.
    answer = lead.post(f"/api/cases/{case['id']}/instructions",
                       json={"text": "  请街道三日内办结并回复。 "})
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert (body["leader_id"], body["leader_name"], body["text"]) == (
        ids["a"], "李主任", "请街道三日内办结并回复。")
    # Not in another leader's name.
    other = lead.post(f"/api/cases/{case['id']}/instructions",
                      json={"text": "代批", "leader_id": ids["district"]})
    assert other.status_code == 422 and other.get_json()["code"] == "instruction.own_only"
    # An inspector writes none.
    assert as_user("insp_a").post(f"/api/cases/{case['id']}/instructions",
                                  json={"text": "x"}).status_code == 403
    events = lead.get(f"/api/cases/{case['id']}/timeline").get_json()["items"]
    assert [e["data"]["text"] for e in events if e["kind"] == "leader_instruction"] == [
        "请街道三日内办结并回复。"]
    entry = db.session.scalars(sa.select(AuditEntry).filter_by(
        action="case.instruction_added", entity_id=case["id"])).one()
    assert entry.actor_id == ids["a"] and entry.data["on_behalf"] is False


def test_the_office_records_an_instruction_on_a_leaders_behalf(app, as_user,
                                                               make_case) -> None:
    ids = leaders()
    office = as_user("reviewer")
    case = make_case(unit="Street A")
    url = f"/api/cases/{case['id']}/instructions"
    missing = office.post(url, json={"text": "电话批示：尽快处理"})
    assert missing.status_code == 422
    assert missing.get_json()["code"] == "instruction.leader_required"
    wrong = office.post(url, json={"text": "x", "leader_id": ids["b"]})
    assert wrong.status_code == 422 and wrong.get_json()["code"] == "case.not_a_leader"
    early = office.post(url, json={"text": "x", "leader_id": ids["district"],
                                   "given_at": "2020-01-01T09:00:00+08:00"})
    assert early.status_code == 422 and early.get_json()["code"] == "instruction.bad_time"
    future = office.post(url, json={"text": "x", "leader_id": ids["district"],
                                    "given_at": "2099-01-01T09:00:00+08:00"})
    assert future.status_code == 422 and future.get_json()["code"] == "instruction.bad_time"
    for text in ("第一条：核实情况", "第二条：联合执法"):
        answer = office.post(url, json={"text": text, "leader_id": ids["district"],
                                        "given_at": "2026-11-21T09:00:00+08:00"})
        assert answer.status_code == 201, answer.get_json()
    listed = office.get(url).get_json()["items"]
    assert [i["text"] for i in listed] == ["第二条：联合执法", "第一条：核实情况"]  # newest first
    assert listed[0]["leader_name"] == "王局长"
    assert listed[0]["given_at"].startswith("2026-11-21T01:00:00")
    assert listed[0]["recorded_by"] == db.session.scalar(
        sa.select(User.id).filter_by(username="reviewer"))
    # The leader reads them too.
    assert len(as_user("lead_a").get(url).get_json()["items"]) == 2


def test_an_instruction_on_a_closed_case_is_refused(app, as_user, make_case) -> None:
    leaders()
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case(unit="Street A")
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    submit_ready(office, inspector, revisit, case["id"])
    # A leader reads the revisit, not the residents' answers.
    revisits = as_user("lead_a").get(f"/api/cases/{case['id']}/revisits").get_json()["items"]
    assert revisits and all(r["answers_hidden"] for r in revisits)
    assert "晚上安静多了" not in str(revisits)
    walk(office, case["id"], ("approve", {"note": "验收通过"}))
    answer = as_user("lead_a").post(f"/api/cases/{case['id']}/instructions",
                                    json={"text": "再核实"})
    assert answer.status_code == 409 and answer.get_json()["code"] == "case.closed"


def test_a_case_sent_to_another_street_leaves_its_streets_leader(app, as_user,  # type: ignore[no-untyped-def]
                                                                 make_case) -> None:
    """Street A's leader cannot open Street B's cases: a case transferred (or its unit
    edited) to Street B is released from them, and the event says so; the district's
    leader, over both streets, keeps theirs."""
    ids = leaders()
    office = as_user("reviewer")
    held = make_case(unit="Street A")
    assert set_leader(office, held, ids["a"]).status_code == 200
    kept = make_case(unit="Street A")
    assert set_leader(office, kept, ids["district"]).status_code == 200
    for case in (held, kept):
        current = office.get(f"/api/cases/{case['id']}").get_json()
        moved = office.post(f"/api/cases/{case['id']}/transitions", json={
            "action": "transfer", "version": current["version"], **params_for("transfer")})
        assert moved.status_code == 200, moved.get_json()
    assert office.get(f"/api/cases/{held['id']}").get_json()["leader"] is None
    assert office.get(f"/api/cases/{kept['id']}").get_json()["leader"]["id"] == ids["district"]
    events = office.get(f"/api/cases/{held['id']}/timeline").get_json()["items"]
    [transferred] = [e for e in events if e["kind"] == "transferred"]
    assert transferred["data"]["leader_released"] == {"id": ids["a"], "name": "李主任"}
    # An edit of the unit alone releases them too.
    edited = make_case(unit="Street A")
    assert set_leader(office, edited, ids["a"]).status_code == 200
    current = office.get(f"/api/cases/{edited['id']}").get_json()
    answer = office.patch(f"/api/cases/{edited['id']}", json={
        "version": current["version"], "unit_id": unit_id("Street B")})
    assert answer.status_code == 200 and answer.get_json()["leader"] is None
