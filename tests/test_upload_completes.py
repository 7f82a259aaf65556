"""The local store's upload link completes the photo it receives (COMPLETE_ON_UPLOAD): its
answer is the receipt the phone's complete call would have brought, one round trip fewer
a photo. Whatever it cannot store, the phone's complete call answers as before. With S3
the store takes the bytes and the phone completes them (tests/test_evidence.py)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from server.domain.fieldwork.evidence import final_key, thumb_key
from server.extensions import db
from server.media import THUMB_SIZES
from server.models import AuditEntry, Evidence, User
from server.storage import StorageError
from tests.conftest import upload_receipt
from tests.test_evidence import NOKIA, declaration, objects


@pytest.fixture()
def local(app: Any) -> Any:
    if app.config["STACK"] != "embedded":
        pytest.skip("the upload link is this server's only with the local store")
    return app


def declared(api: Any, case_id: str, data: bytes) -> dict:
    answer = api.post("/api/evidence", json=declaration(case_id, data))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_the_upload_answers_with_the_stored_photo(local, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    body = declared(api, make_case()["id"], data)
    receipt = upload_receipt(api, body["upload"], data)
    # Only what the link's holder sent: no flags, EXIF or links (the link needs no session).
    assert receipt == {"id": body["id"], "state": "stored", "sha256": body["sha256"]}
    row = db.session.get(Evidence, body["id"])
    assert row.state == "stored" and row.width and row.thumbnails
    kept = objects(local)  # staging left nothing behind
    assert kept == sorted([final_key(body["id"]),
                           *(thumb_key(body["id"], name) for name, _ in THUMB_SIZES)])
    stored = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "evidence.stored", AuditEntry.entity_id == body["id"])).all()
    assert [entry.actor_id for entry in stored] == [row.uploaded_by]
    # A phone that lost the answer completes as before: the same photo, stored once.
    again = api.post(f"/api/evidence/{body['id']}/complete")
    assert again.status_code == 200 and again.get_json()["state"] == "stored"
    assert again.get_json()["sha256"] == body["sha256"]
    # The link answers only for what it stored itself: bytes sent again (or any bytes of
    # that length) learn nothing of the stored photo; the complete call, with its
    # session, says it is stored.
    assert upload_receipt(api, body["upload"], b"\0" * len(data)) is None
    assert upload_receipt(api, body["upload"], data) is None
    assert len(db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "evidence.stored", AuditEntry.entity_id == body["id"])).all()) == 1


def test_altered_bytes_are_refused_by_the_complete_call_as_altered(  # type: ignore[no-untyped-def]
        local, as_user, make_case) -> None:
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    body = declared(api, make_case()["id"], data)
    altered = bytearray(data)
    altered[4000] ^= 0xFF
    assert upload_receipt(api, body["upload"], bytes(altered)) is None
    assert objects(local) == []  # discarded as they arrived
    # Not "nothing was sent": what was sent differed, and the phone is told so.
    refused = api.post(f"/api/evidence/{body['id']}/complete")
    assert refused.status_code == 422, refused.get_json()
    assert refused.get_json()["code"] == "evidence.hash_mismatch"
    assert refused.get_json()["expected_sha256"] == body["sha256"]
    # The phone sends the photo again: stored.
    assert upload_receipt(api, body["upload"], data)["state"] == "stored"


def test_a_file_that_is_no_photo_is_refused_with_its_reason(local, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = b"%PDF-1.7\n" + b"x" * 2000
    body = declared(api, make_case()["id"], data)
    assert upload_receipt(api, body["upload"], data) is None
    assert db.session.get(Evidence, body["id"]).state == "rejected"
    refused = api.post(f"/api/evidence/{body['id']}/complete")
    assert refused.status_code == 422 and refused.get_json()["code"] == "evidence.not_an_image"
    assert objects(local) == []


def test_a_photo_for_a_case_closed_meanwhile_waits_in_staging(  # type: ignore[no-untyped-def]
        local, as_user, make_case) -> None:
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    case_id = make_case()["id"]
    body = declared(api, case_id, data)
    db.session.execute(sa.text("UPDATE cases SET status = 'closed' WHERE id = :id"),
                       {"id": case_id})
    db.session.commit()
    assert upload_receipt(api, body["upload"], data) is None
    assert db.session.get(Evidence, body["id"]).state == "pending"
    assert [key.split("/")[0] for key in objects(local)] == ["staging"]
    late = api.post(f"/api/evidence/{body['id']}/complete")
    assert late.status_code == 409 and late.get_json()["code"] == "case.closed"


def test_a_store_failing_as_it_completes_leaves_it_to_the_complete_call(  # type: ignore[no-untyped-def]
        local, as_user, make_case, monkeypatch) -> None:
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    body = declared(api, make_case()["id"], data)
    store = local.extensions["fieldcase.storage"]
    real = store.put_many

    def full_disk(*args: Any, **kwargs: Any) -> None:
        raise StorageError("writing a thumbnail failed: no space left on device")

    monkeypatch.setattr(store, "put_many", full_disk)
    assert upload_receipt(api, body["upload"], data) is None  # the bytes are taken all the same
    db.session.expire_all()
    assert db.session.get(Evidence, body["id"]).state == "pending"
    monkeypatch.setattr(store, "put_many", real)
    done = api.post(f"/api/evidence/{body['id']}/complete")
    assert done.status_code == 200 and done.get_json()["state"] == "stored"


def test_off_the_upload_leaves_the_photo_pending(local, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    local.config["COMPLETE_ON_UPLOAD"] = False
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    body = declared(api, make_case()["id"], data)
    assert upload_receipt(api, body["upload"], data) is None
    assert db.session.get(Evidence, body["id"]).state == "pending"
    assert api.post(f"/api/evidence/{body['id']}/complete").get_json()["state"] == "stored"


def test_a_deactivated_uploaders_link_stores_nothing_in_their_name(  # type: ignore[no-untyped-def]
        local, as_user, make_case) -> None:
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    body = declared(api, make_case()["id"], data)
    db.session.execute(sa.update(User).where(User.username == "insp_a").values(active=False))
    db.session.commit()
    try:
        assert upload_receipt(api, body["upload"], data) is None
        assert db.session.get(Evidence, body["id"]).state == "pending"  # the reconciler's now
    finally:  # the people are the session's, not this test's
        db.session.execute(sa.update(User).where(User.username == "insp_a").values(active=True))
        db.session.commit()


def test_an_expired_declaration_is_not_revived_by_its_link(local, as_user, make_case) -> None:  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    body = declared(api, make_case()["id"], data)
    db.session.execute(sa.update(Evidence).where(Evidence.id == body["id"])
                       .values(state="expired"))
    db.session.commit()
    assert upload_receipt(api, body["upload"], data) is None
    assert db.session.get(Evidence, body["id"]).state == "expired"
    # The phone's complete call, under its session, takes the bytes that arrived.
    done = api.post(f"/api/evidence/{body['id']}/complete")
    assert done.status_code == 200 and done.get_json()["state"] == "stored"


def test_with_every_storage_slot_taken_the_complete_call_waits_its_turn(  # type: ignore[no-untyped-def]
        local, as_user, make_case) -> None:
    from server.api import storage_slots

    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    body = declared(api, make_case()["id"], data)
    with local.app_context():
        slots = storage_slots._semaphore()
    taken = 0
    while slots.acquire(blocking=False):  # requests waiting on the store hold them all
        taken += 1
    try:
        assert taken == local.config["STORAGE_CONCURRENCY"]
        assert upload_receipt(api, body["upload"], data) is None
        assert db.session.get(Evidence, body["id"]).state == "pending"
    finally:
        for _ in range(taken):
            slots.release()
    done = api.post(f"/api/evidence/{body['id']}/complete")
    assert done.status_code == 200 and done.get_json()["state"] == "stored"
