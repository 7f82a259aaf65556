"""The revisit loop (issue 19): a dissatisfied answer holds the case until it is handled
again or a second person decides closing stands; unreachable means tried; samples void
and re-draw without tasking twice; need to know for numbers, answers and recordings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from server.extensions import db
from server.models import (
    AuditEntry,
    Notification,
    RevisitSample,
    SampleCase,
    Webhook,
    WebhookDelivery,
)
from tests.closure_facts import night_visit, phone_answers, phone_revisit, submit_ready
from tests.conftest import send_upload, unit_id
from tests.test_lifecycle import params_for, user_id, walk
from tests.test_revisit_audio import AUDIO, recording, survey_with
from tests.test_revisit_sampling import PERIOD, seed_cases
from tests.test_revisits import AT, handled, resident


def new_id() -> str:
    return str(uuid.uuid4())


def dissatisfied(revisit, case_id: str):  # type: ignore[no-untyped-def]
    answers = phone_answers(resolved=False, satisfaction="dissatisfied", comments="十点后仍然很吵")
    sent = revisit.post(f"/api/cases/{case_id}/revisits", json=phone_revisit(
        respondents=[{"client_id": new_id(), "kind": "complainant", "answers": answers}]))
    assert sent.status_code == 201, sent.get_json()
    return sent.get_json()


def revisit_rule(api, case_id: str) -> dict:  # type: ignore[no-untyped-def]
    rules = api.get(f"/api/cases/{case_id}/closure-checklist").get_json()["rules"]
    return next(r for r in rules if r["code"] == "revisit")


def approve(api, case_id: str):  # type: ignore[no-untyped-def]
    case = api.get(f"/api/cases/{case_id}").get_json()
    return api.post(f"/api/cases/{case_id}/transitions",
                    json={"action": "approve", "version": case["version"]})


# ---- a dissatisfied answer has teeth ---------------------------------------------------
def test_a_dissatisfied_revisit_blocks_approval_until_the_case_is_handled_again(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    db.session.add(Webhook(unit_id=unit_id("District"), url="https://hooks.example.com/in",
                           legacy_secret="s"))
    db.session.commit()
    case = make_case()
    handled(office, inspector, case["id"], close=True, revisit=revisit)
    dissatisfied(revisit, case["id"])
    rule = revisit_rule(office, case["id"])
    assert not rule["met"] and "审核人以外" in rule["why"]["zh"]
    refused = approve(office, case["id"])
    assert refused.status_code == 422 and refused.get_json()["code"] == "closure.unmet"
    # The handling unit's bell (seen by its reviewers above it) and its webhooks.
    notes = office.get("/api/notifications").get_json()["items"]
    assert [n["kind"] for n in notes if n["case_id"] == case["id"]] == ["revisit_dissatisfied"]
    assert as_user("reviewer_a").get("/api/notifications").get_json()["items"][0][
        "kind"] == "revisit_dissatisfied"
    note = db.session.scalars(sa.select(Notification).filter_by(case_id=case["id"])).one()
    assert note.unit_id == unit_id("Street A")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)
                             .filter_by(notification_id=note.id)) == 1

    # A new revisit alone is not enough: the case must be handled again first.
    assert revisit.post(f"/api/cases/{case['id']}/revisits",
                        json=phone_revisit()).status_code == 201
    assert not revisit_rule(office, case["id"])["met"]
    walk(office, case["id"], ("return", {"reasons": ["回访不满意，请复查"]}))
    night_visit(inspector, case["id"], value_dba=48.0)
    walk(inspector, case["id"], ("submit", params_for("submit")))
    assert not revisit_rule(office, case["id"])["met"]  # handled, not yet revisited
    assert revisit.post(f"/api/cases/{case['id']}/revisits",
                        json=phone_revisit()).status_code == 201
    assert revisit_rule(office, case["id"])["met"]
    assert approve(office, case["id"]).status_code == 200


def test_a_review_decision_meets_the_rule_but_its_author_may_not_approve(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case()
    url = f"/api/cases/{case['id']}/revisit-decision"
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    submit_ready(office, inspector, revisit, case["id"])  # with a satisfied revisit
    none_yet = office.post(url, json={"reason": "没有不满意的回访"})
    assert none_yet.status_code == 409
    assert none_yet.get_json()["code"] == "closure.no_dissatisfied_revisit"
    unhappy = dissatisfied(revisit, case["id"])
    assert inspector.post(url, json={"reason": "复测达标，维持办结"}).status_code == 403
    assert office.post(url, json={"reason": "  "}).status_code == 422
    decided = office.post(url, json={"reason": "复测达标，投诉人诉求超出法定标准"})
    assert decided.status_code == 201, decided.get_json()
    assert decided.get_json()["revisit_id"] == unhappy["id"]
    rule = revisit_rule(office, case["id"])
    assert rule["met"] and "复测达标" in rule["why"]["zh"]
    assert office.post(url, json={"reason": "再来一次"}).status_code == 409
    own = approve(office, case["id"])
    assert own.status_code == 403 and own.get_json()["code"] == "closure.own_decision"
    assert approve(as_user("admin"), case["id"]).status_code == 200
    kinds = [e["kind"] for e in office.get(f"/api/cases/{case['id']}/timeline")
             .get_json()["items"]]
    assert "revisit_decision" in kinds
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).filter_by(
        action="case.revisit_decision", entity_id=case["id"])) == 1


# ---- unreachable means tried -----------------------------------------------------------
def call(at: datetime, outcome: str = "no_answer") -> dict:
    return {"at": at.isoformat(), "outcome": outcome}


def test_three_calls_in_a_minute_are_not_unreachable_and_none_is_in_the_future(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    case, revisit = make_case(), as_user("revisit")
    url = f"/api/cases/{case['id']}/revisits"
    start = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai
    body = {"method": "phone", "at": start.isoformat(), "unreachable_reason": "无人接听"}
    burst = revisit.post(url, json={**body, "client_id": new_id(), "attempts": [
        call(start + timedelta(seconds=20 * i)) for i in range(3)]})
    assert burst.status_code == 422 and burst.get_json()["code"] == "revisit.attempts_not_spread"
    # Two hours apart but all in one evening: still one half-day.
    evening = revisit.post(url, json={**body, "client_id": new_id(), "attempts": [
        call(start - timedelta(hours=4) + timedelta(hours=2 * i)) for i in range(3)]})
    assert evening.get_json()["code"] == "revisit.attempts_not_spread"
    spread = revisit.post(url, json={**body, "client_id": new_id(), "attempts": [
        call(start - timedelta(hours=8)), call(start - timedelta(hours=5)), call(start)]})
    assert spread.status_code == 201 and spread.get_json()["outcome"] == "unreachable"
    future = revisit.post(url, json={**body, "client_id": new_id(), "attempts": [
        call(datetime.now(UTC) + timedelta(hours=1), "wrong_number")]})
    assert future.status_code == 422 and future.get_json()["code"] == "revisit.future_attempt"
    assert "attempts" in future.get_json()["errors"]


def test_a_refusal_is_an_outcome_and_a_callback_is_a_task(app, as_user, make_case
                                                          ) -> None:  # type: ignore[no-untyped-def]
    office, revisit = as_user("reviewer"), as_user("revisit")
    refused_case, callback_case = make_case(), make_case()
    now = datetime.now(UTC)
    refused = revisit.post(f"/api/cases/{refused_case['id']}/revisits", json={
        "client_id": new_id(), "method": "phone", "at": now.isoformat(),
        "attempts": [call(now, "refused")], "notes": "表示不愿再被打扰"})
    assert refused.status_code == 201, refused.get_json()
    assert refused.get_json()["outcome"] == "refused"
    assert revisit_rule(office, refused_case["id"])["met"]

    later = now + timedelta(days=1)
    scheduled = revisit.post(f"/api/cases/{callback_case['id']}/revisits", json={
        "client_id": new_id(), "method": "phone", "at": now.isoformat(),
        "attempts": [call(now, "answered")], "callback_at": later.isoformat()})
    assert scheduled.status_code == 201, scheduled.get_json()
    assert scheduled.get_json()["outcome"] == "callback"
    assert not revisit_rule(office, callback_case["id"])["met"]
    tasks = revisit.get("/api/revisit-tasks").get_json()["items"]
    assert [(t["kind"], t["case_id"]) for t in tasks] == [("callback", callback_case["id"])]
    assert abs(datetime.fromisoformat(tasks[0]["callback_at"]) - later) < timedelta(seconds=1)
    # A callback alone gives no right to the number: any revisit user may record one on
    # any case they see, so only a live sample's assignment opens it.
    reveal = revisit.post(f"/api/cases/{callback_case['id']}/complainant/reveal",
                          json={"reason": "约定时间回拨"})
    assert reveal.status_code == 403 and reveal.get_json()["code"] == "case.reveal_not_assigned"
    assert revisit.post(f"/api/cases/{callback_case['id']}/revisits",
                        json=phone_revisit()).status_code == 201
    assert revisit.get("/api/revisit-tasks").get_json()["items"] == []


# ---- samples ---------------------------------------------------------------------------
def test_a_sample_is_drawn_once_per_seed_previewed_without_writing_and_voided(
        app, as_user) -> None:  # type: ignore[no-untyped-def]
    seed_cases(12, 8)
    office, revisit = as_user("reviewer"), as_user("revisit")
    body = {**PERIOD, "share": 0.2, "strata": ["unit"], "seed": "spot-2026"}
    audits = sa.select(sa.func.count()).select_from(AuditEntry)
    before = db.session.scalar(audits)
    preview = office.post("/api/revisit-samples/preview", json=body)
    assert preview.status_code == 200, preview.get_json()
    assert len(preview.get_json()["cases"]) == 4
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RevisitSample)) == 0
    assert db.session.scalar(audits) == before
    first = office.post("/api/revisit-samples", json=body)
    assert first.status_code == 201
    assert sorted(c["case_id"] for c in first.get_json()["cases"]) == sorted(
        c["case_id"] for c in preview.get_json()["cases"])
    again = office.post("/api/revisit-samples", json=body)
    assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RevisitSample)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SampleCase)) == 4

    sample_id = first.get_json()["id"]
    team = user_id("revisit")
    office.post(f"/api/revisit-samples/{sample_id}/assign", json={"user_ids": [team]})
    assert len(revisit.get("/api/revisit-tasks").get_json()["items"]) == 4
    assert revisit.post(f"/api/revisit-samples/{sample_id}/void",
                        json={"reason": "抽错期间"}).status_code == 403
    assert office.post(f"/api/revisit-samples/{sample_id}/void",
                       json={"reason": " "}).status_code == 422
    voided = office.post(f"/api/revisit-samples/{sample_id}/void", json={"reason": "抽错期间"})
    assert voided.status_code == 200 and voided.get_json()["void_reason"] == "抽错期间"
    assert revisit.get("/api/revisit-tasks").get_json()["items"] == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).filter_by(
        action="sample.voided", entity_id=sample_id)) == 1
    # Voided, it is not returned again: the same seed draws a new live sample.
    redrawn = office.post("/api/revisit-samples", json=body)
    assert redrawn.status_code == 201 and redrawn.get_json()["id"] != sample_id


# ---- need to know ----------------------------------------------------------------------
def test_a_revisit_user_reveals_only_the_cases_theirs_to_revisit(app, as_user
                                                                 ) -> None:  # type: ignore[no-untyped-def]
    ids = seed_cases(4, 0)
    office, revisit = as_user("reviewer"), as_user("revisit")
    reason = {"reason": "回访需要拨打电话"}
    untasked = revisit.post(f"/api/cases/{ids[0]}/complainant/reveal", json=reason)
    assert untasked.status_code == 403
    assert untasked.get_json()["code"] == "case.reveal_not_assigned"
    assert office.post(f"/api/cases/{ids[0]}/complainant/reveal", json=reason).status_code == 200
    sample = office.post("/api/revisit-samples", json={
        **PERIOD, "share": 1, "strata": [], "seed": "all"}).get_json()
    office.post(f"/api/revisit-samples/{sample['id']}/assign",
                json={"user_ids": [user_id("revisit")]})
    assert revisit.post(f"/api/cases/{ids[0]}/complainant/reveal", json=reason).status_code == 200


def test_inspectors_read_no_answers_and_download_no_recordings(app, as_user, make_case
                                                               ) -> None:  # type: ignore[no-untyped-def]
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case()
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    dissatisfied(revisit, case["id"])
    seen = inspector.get(f"/api/cases/{case['id']}/revisits").get_json()["items"][0]
    assert seen["answers_hidden"] and seen["respondents"][0]["answers"] == {}
    assert seen["notes"] == "" and seen["satisfaction"] == "dissatisfied"
    shown = office.get(f"/api/cases/{case['id']}/revisits").get_json()["items"][0]
    assert shown["respondents"][0]["answers"]["comments"] == "十点后仍然很吵"
    items = inspector.get(f"/api/cases/{case['id']}/timeline").get_json()["items"]
    event = next(e for e in items if e["kind"] == "revisit_dissatisfied")
    assert "dissatisfied" not in event["data"] and "十点后" not in str(event["data"])
    assert "十点后" in str(office.get(f"/api/cases/{case['id']}/timeline").get_json())

    person = survey_with(revisit, case["id"], consent=True)["respondents"][0]
    data = (AUDIO / "interview.m4a").read_bytes()
    declared = revisit.post("/api/evidence", json=recording(case["id"], data, "audio/mp4",
                                                            person["id"])).get_json()
    assert send_upload(revisit, declared["upload"], data) in (200, 201, 204)
    assert revisit.post(f"/api/evidence/{declared['id']}/complete").status_code == 200
    got = inspector.get(f"/api/evidence/{declared['id']}/original")
    assert got.status_code == 403 and got.get_json()["code"] == "revisit.answers_forbidden"
    assert office.get(f"/api/evidence/{declared['id']}/original").status_code == 302
    assert revisit.get(f"/api/evidence/{declared['id']}/original").status_code == 302


def test_a_door_survey_far_from_the_case_is_flagged(app, as_user, make_case
                                                    ) -> None:  # type: ignore[no-untyped-def]
    case, revisit = make_case(), as_user("revisit")  # at 60.1467, 24.9068

    def survey(lat: float, lon: float) -> dict:
        answer = revisit.post(f"/api/cases/{case['id']}/revisits", json={
            "client_id": new_id(), "method": "door", "at": datetime.now(UTC).isoformat(),
            "location": {"lat": lat, "lon": lon, "accuracy_m": 10},
            "respondents": [{"client_id": new_id(), "kind": "resident"}]})
        assert answer.status_code == 201, answer.get_json()
        return answer.get_json()

    assert survey(60.1470, 24.9070)["flags"] == []
    far = survey(60.1667, 24.9068)["flags"]  # ~2.2 km north
    assert [f["code"] for f in far] == ["far_from_case"] and far[0]["distance_m"] > 2000
    app.config["REVISIT_FAR_FROM_CASE_M"] = 5000
    assert survey(60.1667, 24.9068)["flags"] == []


def test_a_survey_turning_dissatisfied_twice_records_every_respondent(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    """Dissatisfied, satisfied, satisfied, dissatisfied: the overall answer turns
    dissatisfied twice (a tie counts dissatisfied); the second turn rings again rather
    than colliding with the first bell."""
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case()
    handled(office, inspector, case["id"], close=False)
    said = ["dissatisfied", "satisfied", "satisfied", "dissatisfied"]
    survey = revisit.post(f"/api/cases/{case['id']}/revisits", json={
        "client_id": new_id(), "method": "door", "at": AT,
        "questionnaire": {"code": "residents-survey", "version": 1},
        "respondents": [resident({"satisfaction": said[0]})]})
    assert survey.status_code == 201, survey.get_json()
    url = f"/api/revisits/{survey.get_json()['id']}/respondents"
    for answer in said[1:]:
        sent = revisit.post(url, json=resident({"satisfaction": answer}))
        assert sent.status_code == 201, sent.get_json()
    got = office.get(f"/api/cases/{case['id']}/revisits").get_json()["items"][-1]
    assert len(got["respondents"]) == 4 and got["satisfaction"] == "dissatisfied"
    notes = db.session.scalars(sa.select(Notification).filter_by(
        case_id=case["id"], kind="revisit_dissatisfied")).all()
    assert len(notes) == 2


def test_an_inspectors_stale_action_reads_no_answers_in_what_changed(
        app, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case = make_case()
    seen = handled(office, inspector, case["id"], close=False)["version"]
    dissatisfied(revisit, case["id"])
    stale = inspector.post(f"/api/cases/{case['id']}/transitions", json={
        "action": "submit", "version": seen, **params_for("submit")})
    assert stale.status_code == 409 and stale.get_json()["code"] == "case.version_conflict"
    change = next(c for c in stale.get_json()["changes"]
                  if c["kind"] == "revisit_dissatisfied")
    assert change["data"]["answers_hidden"] and "dissatisfied" not in change["data"]
    assert "十点后" not in str(stale.get_json()) and "notes" not in change["data"]
    # The office still reads them there.
    shown = office.post(f"/api/cases/{case['id']}/transitions", json={
        "action": "extend", "version": seen, **params_for("extend")}).get_json()
    assert "十点后" in str(shown["changes"])
