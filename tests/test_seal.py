"""Approval against the closure checklist, separation of duties, the seal (its manifest,
its hash on the timeline chain, a sealed case taking nothing more, a new seal after a
reopen) and `fieldcase verify-case` finding a changed byte and a changed row."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import current_app

from server.cli import cli
from server.domain.fieldwork.evidence import final_key
from server.extensions import db
from server.models import Case, CaseEvent, Evidence, Measurement, Seal
from tests.closure_facts import night_visit, submit_ready, tell_complainant
from tests.conftest import SAMPLES, login, send_upload, store_cut_off
from tests.test_evidence import declaration
from tests.test_lifecycle import params_for, walk

SAMPLE = SAMPLES / "gps" / "DSCN0010.jpg"  # small: quick to file


def in_hand(office: Any, inspector: Any, make_case: Any) -> str:
    case = make_case()
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    return case["id"]


def approve(api: Any, case_id: str, **params: Any) -> Any:
    current = api.get(f"/api/cases/{case_id}").get_json()
    return api.post(f"/api/cases/{case_id}/transitions",
                    json={"action": "approve", "version": current["version"], **params})


def events(case_id: str) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(CaseEvent.kind).where(
        CaseEvent.case_id == case_id).order_by(CaseEvent.seq)))


def seals(case_id: str) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Seal).where(
        Seal.case_id == case_id))


def test_an_unmet_rule_refuses_approval_with_the_rules_and_writes_nothing(
        app, as_user, make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    walk(inspector, case_id, ("submit", params_for("submit")))
    before = events(case_id)
    answer = approve(office, case_id)
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["code"] == "closure.unmet"
    assert [r["code"] for r in body["unmet"]] == ["site_photo", "noise_reading", "revisit",
                                                  "feedback_given"]
    assert all(r["why"]["zh"] and r["why"]["en"] and r["title"]["zh"] for r in body["unmet"])
    assert events(case_id) == before and seals(case_id) == 0
    assert db.session.get(Case, case_id).status == "submitted"


def test_a_reviewer_who_handled_the_case_may_not_approve_it(app, as_user, make_case) -> None:
    office, other, inspector = as_user("reviewer_a"), as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(other, inspector, make_case)
    night_visit(office, case_id)  # reviewer_a went along on the night check
    submit_ready(other, inspector, as_user("revisit"), case_id)
    refused = approve(office, case_id)
    assert refused.status_code == 403, refused.get_json()
    assert refused.get_json()["code"] == "closure.own_case"
    assert seals(case_id) == 0 and "approved" not in events(case_id)
    # The evidence filer is barred the same way: the inspector is field staff, so the
    # case's other reviewer approves.
    assert approve(other, case_id).status_code == 200


def test_a_reviewer_who_recorded_the_revisit_may_not_approve_it(
        app, as_user, make_case) -> None:
    """Issue 19: the reviewer who heard "satisfied" on the phone is a party to the case."""
    office, other, inspector = as_user("reviewer_a"), as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(other, inspector, make_case)
    submit_ready(other, inspector, office, case_id)  # reviewer_a records the revisit
    refused = approve(office, case_id)
    assert refused.status_code == 403, refused.get_json()
    body = refused.get_json()
    assert body["code"] == "closure.own_case"
    assert "回访" in body["message"]["zh"] and "revisit" in body["message"]["en"]
    assert seals(case_id) == 0 and "approved" not in events(case_id)
    assert approve(other, case_id).status_code == 200


def test_actions_leave_approve_out_for_whom_the_gate_refuses_and_say_why(
        app, as_user, make_case) -> None:
    office, other, inspector = as_user("reviewer_a"), as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(other, inspector, make_case)
    submit_ready(other, inspector, office, case_id)
    mine = office.get(f"/api/cases/{case_id}/actions").get_json()
    assert "approve" not in [a["action"] for a in mine["actions"]]
    assert "return" in [a["action"] for a in mine["actions"]]
    [why] = mine["withheld"]
    assert why["action"] == "approve" and why["code"] == "closure.own_case"
    assert why["message"]["zh"] and why["message"]["en"]
    case = office.get(f"/api/cases/{case_id}").get_json()
    assert "approve" not in case["actions"] and case["withheld"][0]["code"] == "closure.own_case"
    theirs = other.get(f"/api/cases/{case_id}/actions").get_json()
    assert "approve" in [a["action"] for a in theirs["actions"]] and theirs["withheld"] == []


def test_approval_waits_for_evidence_still_on_its_way(app, as_user, make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    submit_ready(office, inspector, as_user("revisit"), case_id)
    # A reopened-and-resubmitted case could not take a photo, so declare one before the
    # submission: here the inspector's phone declared a second photo and never sent it.
    case = db.session.get(Case, case_id)
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(status="in_progress"))
    db.session.commit()
    declared = inspector.post("/api/evidence", json=declaration(case_id, b"never sent"))
    assert declared.status_code == 201
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(status="submitted"))
    db.session.commit()
    answer = approve(office, case_id)
    assert answer.status_code == 409 and answer.get_json()["code"] == "closure.evidence_pending"
    assert answer.get_json()["evidence_ids"] == [declared.get_json()["id"]]
    assert seals(case_id) == 0 and case.status == "submitted"


def test_the_seal_lists_the_evidence_and_its_hash_is_on_the_chain(
        app, as_user, make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    photo = submit_ready(office, inspector, as_user("revisit"), case_id)
    closed = approve(office, case_id, note="验收通过")
    assert closed.status_code == 200, closed.get_json()
    view = office.get(f"/api/cases/{case_id}/seal").get_json()
    current = view["current"]
    assert current["number"] == 1 and len(view["seals"]) == 1
    manifest = current["manifest"]
    [item] = manifest["evidence"]
    assert (item["id"], item["sha256"], item["size"]) == (photo["id"], photo["sha256"],
                                                         photo["size"])
    assert item["geo"]["lat"] == pytest.approx(60.1467) and item["received_at"]
    assert manifest["visits"][0]["measurements"][0]["value_dba"] == 52.0
    assert manifest["revisits"][0]["satisfaction"] == "satisfied"
    assert manifest["decision"]["note"] == "验收通过"
    assert "张三" not in json.dumps(manifest, ensure_ascii=False)  # hashed, not copied
    row = db.session.scalar(sa.select(Seal).where(Seal.case_id == case_id))
    assert hashlib.sha256(row.manifest.encode()).hexdigest() == row.sha256 == current["sha256"]
    assert json.loads(row.manifest) == manifest
    stored = b"".join(app.extensions["fieldcase.storage"].iter_chunks(row.object_key))
    assert stored == row.manifest.encode()
    timeline = office.get(f"/api/cases/{case_id}/timeline").get_json()["items"]
    assert [e["kind"] for e in timeline[-2:]] == ["approved", "sealed"]
    assert timeline[-1]["data"]["sha256"] == row.sha256
    # The approval's event is the link just before the `sealed` one (format 2 no longer
    # repeats its seq and hash: the manifest is written before the event exists).
    assert manifest["format"] == "fieldcase-seal/2"
    assert timeline[-1]["seq"] == timeline[-2]["seq"] + 1
    assert datetime.fromisoformat(manifest["decision"]["at"]) == datetime.fromisoformat(
        timeline[-2]["at"])


def test_a_sealed_case_takes_nothing_until_reopened_then_seals_anew(
        app, as_user, make_case) -> None:
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    case_id = in_hand(office, inspector, make_case)
    photo = submit_ready(office, inspector, revisit, case_id)
    assert approve(office, case_id).status_code == 200
    first = office.get(f"/api/cases/{case_id}/seal").get_json()["current"]
    visit = inspector.post(f"/api/cases/{case_id}/visits", json={
        "client_id": str(uuid.uuid4()), "kind": "site_check",
        "started_at": "2026-11-21T22:10:00+08:00"})
    assert visit.status_code == 409
    assert inspector.post("/api/evidence", json=declaration(case_id, b"late")).status_code == 409
    assert photo["flags"], "the sample photo is expected to carry a flag"
    ack = office.post(f"/api/evidence/{photo['id']}/acknowledgements",
                      json={"code": photo["flags"][0]["code"], "note": "再说明一次"})
    assert ack.status_code == 409 and ack.get_json()["code"] == "case.closed"
    walk(office, case_id, ("reopen", params_for("reopen")))
    reopened = office.get(f"/api/cases/{case_id}/seal").get_json()
    assert reopened["current"] is None and [s["number"] for s in reopened["seals"]] == [1]
    night_visit(inspector, case_id, value_dba=48.0)
    walk(inspector, case_id, ("submit", params_for("submit")))
    tell_complainant(revisit, case_id)  # the new result, told since the reopen
    assert approve(office, case_id).status_code == 200
    again = office.get(f"/api/cases/{case_id}/seal").get_json()
    second = again["current"]
    assert second["number"] == 2 and [s["number"] for s in again["seals"]] == [1, 2]
    assert second["manifest"]["seal"]["previous_sha256"] == first["sha256"]
    assert len(second["manifest"]["visits"]) == 2 and len(first["manifest"]["visits"]) == 1
    assert run_verify(app, case_id).exit_code == 0


def run_verify(app: Any, case_id: str) -> Any:
    return app.test_cli_runner().invoke(cli, ["verify-case", case_id])


def test_verify_case_finds_a_changed_byte_and_a_changed_row(app, as_user, make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    photo = submit_ready(office, inspector, as_user("revisit"), case_id)
    assert approve(office, case_id).status_code == 200
    intact = run_verify(app, case_id)
    assert intact.exit_code == 0, intact.output
    assert "intact" in intact.output

    store = app.extensions["fieldcase.storage"]
    key = final_key(photo["id"])
    original = b"".join(store.iter_chunks(key))
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01  # one bit of one byte
    store.put_bytes(key, bytes(changed), content_type="image/jpeg")
    found = run_verify(app, case_id)
    assert found.exit_code == 1
    assert f"seal 1 evidence {photo['id']}" in found.output
    assert hashlib.sha256(bytes(changed)).hexdigest() in found.output
    store.put_bytes(key, original, content_type="image/jpeg")
    assert run_verify(app, case_id).exit_code == 0

    db.session.execute(sa.update(Measurement).values(value_dba=44.0).where(
        Measurement.visit_id.in_(sa.select(CaseEvent.data["visit_id"].as_string()).where(
            CaseEvent.case_id == case_id, CaseEvent.kind == "visit_recorded"))))
    db.session.commit()
    found = run_verify(app, case_id)
    assert found.exit_code == 1
    assert "seal 1 visits" in found.output and "value_dba" in found.output
    assert "sealed 52.0, now 44.0" in found.output

    db.session.execute(sa.update(Measurement).values(value_dba=52.0))
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(result="改过的结果"))
    db.session.commit()
    found = run_verify(app, case_id)
    assert found.exit_code == 1 and "seal 1 case" in found.output and "result" in found.output


@contextmanager
def failing_store(app: Any, case_id: str) -> Iterator[Any]:
    """The object store failing for this case's seal: on local disk a file where its
    folder must go; on S3 the whole store behind a cut connection (a second app on the
    same database, which the caller logs in to)."""
    if app.config["STACK"] == "embedded":
        blocker = app.extensions["fieldcase.storage"].root / "seals" / case_id
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_bytes(b"")
        try:
            yield None
        finally:
            blocker.unlink()
        return
    with store_cut_off(app) as cut_off:
        yield cut_off


def test_nothing_is_half_sealed_when_the_store_fails(app, as_user, make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    submit_ready(office, inspector, as_user("revisit"), case_id)
    before = events(case_id)
    with failing_store(app, case_id) as other:
        reviewer = office if other is None else login(other, "reviewer")
        answer = approve(reviewer, case_id)
        assert answer.status_code == 503, answer.get_json()
        assert answer.get_json()["code"] in ("storage.unavailable", "storage.busy")
    assert events(case_id) == before and seals(case_id) == 0
    assert db.session.get(Case, case_id).status == "submitted"
    assert approve(office, case_id).status_code == 200
    assert seals(case_id) == 1


def late_photo(office: Any, inspector: Any, revisit: Any, make_case: Any
               ) -> tuple[str, dict]:
    """A case sealed while its photo was on its way: declared and sent before the approval,
    completed after. Answers the case's id and the declaration."""
    case_id = in_hand(office, inspector, make_case)
    submit_ready(office, inspector, revisit, case_id)
    data = SAMPLE.read_bytes()
    # Sent in two steps, as to S3: the local store's upload would complete it at once.
    current_app.config["COMPLETE_ON_UPLOAD"] = False
    declared = inspector.post("/api/evidence", json=declaration(case_id, data)).get_json()
    assert send_upload(inspector, declared["upload"], data) in (200, 201, 204)
    # The race, made by hand: the approval committed just after the declaration.
    db.session.execute(sa.update(Evidence).where(Evidence.id == declared["id"])
                       .values(state="expired"))
    db.session.commit()
    assert approve(office, case_id).status_code == 200
    db.session.execute(sa.update(Evidence).where(Evidence.id == declared["id"])
                       .values(state="pending"))
    db.session.commit()
    return case_id, declared


def test_a_photo_arriving_after_the_seal_waits_for_a_reopen(app, as_user, make_case) -> None:
    """A photo declared while the case was being approved (the declaration does not take
    the case's lock) is not stored into the sealed case: completing it is 409, the row
    stays pending with its bytes waiting, and it completes once the case is reopened."""
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id, declared = late_photo(office, inspector, as_user("revisit"), make_case)
    data = SAMPLE.read_bytes()
    before = events(case_id)
    late = inspector.post(f"/api/evidence/{declared['id']}/complete")
    assert late.status_code == 409 and late.get_json()["code"] == "case.closed"
    assert events(case_id) == before
    db.session.expire_all()
    assert db.session.get(Evidence, declared["id"]).state == "pending"
    assert run_verify(app, case_id).exit_code == 0  # the seal is untouched
    # A re-declaration of an expired photo is refused the same way.
    db.session.execute(sa.update(Evidence).where(Evidence.id == declared["id"])
                       .values(state="expired"))
    db.session.commit()
    again = inspector.post("/api/evidence", json={**declaration(case_id, data),
                                                  "client_id": declared["client_id"]})
    assert again.status_code == 409 and again.get_json()["code"] == "case.closed"
    walk(office, case_id, ("reopen", params_for("reopen")))
    revived = inspector.post("/api/evidence", json={**declaration(case_id, data),
                                                    "client_id": declared["client_id"]})
    assert revived.status_code == 200, revived.get_json()
    assert send_upload(inspector, revived.get_json()["upload"], data) in (200, 201, 204)
    done = inspector.post(f"/api/evidence/{declared['id']}/complete")
    assert done.status_code == 200 and done.get_json()["state"] == "stored"


def test_personal_data_in_a_manifest_cannot_be_confirmed_by_guessing(
        app, as_user, make_case) -> None:
    """Whoever may read the case reads its seal (an inspector of the unit, who may not see
    the complainant): a plain SHA-256 of the name and phone number would confirm a guess.
    Format 2 keys those hashes (PERSONAL_DATA_KEY, outside the database); verify-case
    still sees a change, and names the key it needs when the key is another."""
    from server.domain.closure import sealing

    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    submit_ready(office, inspector, as_user("revisit"), case_id)
    assert approve(office, case_id).status_code == 200
    manifest = inspector.get(f"/api/cases/{case_id}/seal").get_json()["current"]["manifest"]
    guess = hashlib.sha256(sealing.canonical(["张三", "13812341234"])).hexdigest()
    text = json.dumps(manifest, ensure_ascii=False)
    assert guess not in text and "13812341234" not in text and "张三" not in text
    assert "complainant_sha256" not in text and manifest["case"]["complainant_hmac"]
    assert manifest["personal"] == {"hash": "HMAC-SHA256",
                                    "key_id": sealing.personal_key_id()}
    # Format 1 (plain SHA-256, before this change) is still recomputed as it was.
    case = db.session.get(Case, case_id)
    old = sealing.row_parts(case, case.closed_at, sealing.Personal(keyed=False))
    assert old["case"]["complainant_sha256"] == guess
    assert all("notes_sha256" in r for r in old["revisits"])
    # A changed complainant is seen; another key is named, not mistaken for a change.
    db.session.execute(sa.update(Case).where(Case.id == case_id)
                       .values(complainant_phone="13900000000"))
    db.session.commit()
    found = run_verify(app, case_id)
    assert found.exit_code == 1 and "complainant_hmac" in found.output
    db.session.execute(sa.update(Case).where(Case.id == case_id)
                       .values(complainant_phone="13812341234"))
    db.session.commit()
    assert run_verify(app, case_id).exit_code == 0
    app.config["PERSONAL_DATA_KEY"] = "ab" * 32
    found = run_verify(app, case_id)
    assert found.exit_code == 1 and "PERSONAL_DATA_KEY" in found.output
