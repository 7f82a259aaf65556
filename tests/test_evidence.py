"""The evidence flow end to end, on SQLite + local disk and PostgreSQL + SeaweedFS S3."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from server.extensions import db
from server.models import AuditEntry, Evidence
from tests.conftest import SAMPLES, fetch, send_upload

NOKIA = SAMPLES / "phones" / "HMD_Nokia_8.3_5G.jpg"
NOW = datetime.now(UTC)


def declaration(case_id: str, data: bytes, **changes: object) -> dict:
    body = {
        "client_id": str(uuid.uuid4()),
        "case_id": case_id,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "content_type": "image/jpeg",
        "captured_at": NOW.isoformat(),
        "geo": {"lat": 60.1467, "lon": 24.9068, "accuracy_m": 8, "fixed_at": NOW.isoformat(),
                "source": "gps"},
        "photographer": "王建国",
        "place": "东湖路88号 3楼住户家中",
        "caption": "23:05 酒吧音响声明显可闻",
    }
    body.update(changes)
    return body


def file_photo(api, case_id: str, data: bytes, **changes: object) -> dict:  # type: ignore[no-untyped-def]
    declared = api.post("/api/evidence", json=declaration(case_id, data, **changes))
    assert declared.status_code == 201, declared.get_json()
    body = declared.get_json()
    assert body["state"] == "pending"
    assert send_upload(api, body["upload"], data) in (200, 201, 204)
    done = api.post(f"/api/evidence/{body['id']}/complete")
    assert done.status_code == 200, done.get_json()
    return done.get_json()


def objects(app) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(info.key for info in app.extensions["fieldcase.storage"].list(""))


def test_nokia_photo_through_the_three_steps(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case()
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    stored = file_photo(api, case["id"], data)

    assert stored["state"] == "stored"
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert (stored["width"], stored["height"]) == (4608, 1976)
    assert stored["exif"]["gps"]["lat"] == pytest.approx(60.1467, abs=1e-3)
    assert stored["exif"]["gps"]["lon"] == pytest.approx(24.9068, abs=1e-3)
    assert stored["exif"]["make"]
    assert stored["location"]["source"] == "geolocation"
    codes = {f["code"] for f in stored["flags"]}
    assert "no_gps" not in codes and "far_from_case" not in codes
    assert stored["device_offset_s"] is None or abs(stored["device_offset_s"]) < 60

    for name in ("large", "small"):
        thumb = stored["thumbnails"][name]
        status, body, _ = fetch(api, thumb["url"])
        assert status == 200
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "JPEG"
            assert image.size == (thumb["width"], thumb["height"])
    assert stored["thumbnails"]["small"]["width"] < stored["thumbnails"]["large"]["width"]

    status, original, headers = fetch(api, stored["download_url"])
    assert status == 200 and original == data
    assert "attachment" in headers["Content-Disposition"]
    if app.config["STACK"] == "embedded":  # the store sets its own headers on S3
        assert headers["X-Content-Type-Options"] == "nosniff"

    # Listed on the case, and an audit entry says it was stored.
    listed = api.get(f"/api/cases/{case['id']}/evidence").get_json()["items"]
    assert [e["id"] for e in listed] == [stored["id"]]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "evidence.stored", AuditEntry.entity_id == stored["id"])) == 1
    # The staging copy is gone: only the original and two thumbnails remain.
    assert objects(app) == sorted(f"evidence/{stored['id']}/{n}" for n in
                                  ("original", "thumb-large.jpg", "thumb-small.jpg"))


@pytest.mark.parametrize("path", sorted((SAMPLES / "gps").glob("*.jpg")), ids=lambda p: p.name)
def test_gps_samples_read_exactly(app, as_user, make_case, path: Path):  # type: ignore[no-untyped-def]
    with Image.open(path) as image:
        exif = image.getexif()
    gps_ifd = exif.get_ifd(0x8825)

    def degrees(values, ref) -> float:  # type: ignore[no-untyped-def]
        d, m, s = (float(v) for v in values)
        return (d + m / 60 + s / 3600) * (-1 if ref in ("S", "W") else 1)

    expected = (degrees(gps_ifd[2], gps_ifd[1]), degrees(gps_ifd[4], gps_ifd[3]))
    taken = exif.get_ifd(0x8769).get(36867) or exif.get(306)
    api = as_user("insp_a")
    stored = file_photo(api, make_case()["id"], path.read_bytes(), geo=None)
    assert stored["exif"]["gps"]["lat"] == pytest.approx(expected[0], abs=1e-6)
    assert stored["exif"]["gps"]["lon"] == pytest.approx(expected[1], abs=1e-6)
    assert stored["exif"]["taken_at"].startswith(taken.replace(":", "-", 2).replace(" ", "T"))
    assert stored["location"]["source"] == "exif"
    assert "far_from_case" in {f["code"] for f in stored["flags"]}  # Italy, not Helsinki


def test_heic_is_accepted_with_jpeg_thumbnails(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = (SAMPLES / "heic" / "iphone_13_pro_max.HEIC").read_bytes()
    stored = file_photo(api, make_case()["id"], data, content_type="image/heic")
    assert stored["content_type"] == "image/heic"
    status, body, _ = fetch(api, stored["thumbnails"]["large"]["url"])
    assert status == 200 and body[:2] == b"\xff\xd8"


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)  # once: 48 MP is slow
def test_a_48_megapixel_heic_is_stored_whole_with_upright_thumbnails(  # type: ignore[no-untyped-def]
        app, as_user, make_case):
    from tests import heic_grid

    data = heic_grid.cached_heic(8064, 6048).read_bytes()  # iPhone "HEIF Max", 512 px tiles
    api = as_user("insp_a")
    stored = file_photo(api, make_case()["id"], data, content_type="image/heic")
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert (stored["width"], stored["height"]) == (6048, 8064)
    assert stored["exif"]["taken_at"] == heic_grid.TAKEN_AT.isoformat()
    status, body, _ = fetch(api, stored["thumbnails"]["large"]["url"])
    assert status == 200
    with Image.open(io.BytesIO(body)) as large:
        assert large.size == (1200, 1600)
        top_right, top_left = large.getpixel((1100, 100)), large.getpixel((100, 100))
    assert top_right[0] > 150 > top_right[1]  # the red block, where a viewer shows it
    assert not top_left[0] > 150 > top_left[1]
    status, original, _ = fetch(api, stored["download_url"])
    assert status == 200 and original == data  # kept byte for byte


def test_photo_without_any_metadata_is_flagged(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = (SAMPLES / "phones" / "no_exif.jpg").read_bytes()
    stored = file_photo(api, make_case()["id"], data, geo=None)
    codes = {f["code"] for f in stored["flags"]}
    assert {"no_gps", "no_exif_time", "no_location"} <= codes


def test_far_from_case_reports_distance_and_clock_drift(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    # The case is in Helsinki; the phone says it stood ~1.1 km north, with a clock 2 h slow.
    stored = file_photo(api, make_case()["id"], NOKIA.read_bytes(),
                        geo={"lat": 60.1567, "lon": 24.9068, "accuracy_m": 10},
                        device_time=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    flags = {f["code"]: f for f in stored["flags"]}
    assert 1000 < flags["far_from_case"]["distance_m"] < 1250
    assert abs(flags["clock_drift"]["offset_s"] - 7200) < 120
    assert abs(stored["device_offset_s"] - 7200) < 120


def test_same_bytes_on_another_case_are_flagged(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    first = file_photo(api, make_case()["id"], data)
    assert "duplicate_bytes" not in {f["code"] for f in first["flags"]}
    second = file_photo(api, make_case()["id"], data)
    flags = {f["code"]: f for f in second["flags"]}
    assert flags["duplicate_bytes"]["case_ids"] == [first["case_id"]]


def test_declaration_is_idempotent_and_refuses_another_body(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case = make_case()
    data = NOKIA.read_bytes()
    body = declaration(case["id"], data)
    first = api.post("/api/evidence", json=body)
    again = api.post("/api/evidence", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.get_json()["upload"]["url"]  # still pending: a fresh upload target
    other = api.post("/api/evidence", json={**body, "caption": "另一张"})
    assert other.status_code == 422
    assert other.get_json()["code"] == "idempotency.conflict"
    assert other.headers["Content-Type"] == "application/problem+json"
    # After completion a retry answers the stored evidence, with no upload target.
    assert send_upload(api, first.get_json()["upload"], data) in (200, 201, 204)
    api.post(f"/api/evidence/{first.get_json()['id']}/complete")
    done = api.post("/api/evidence", json=body)
    assert done.status_code == 200 and done.get_json()["state"] == "stored"
    assert done.get_json()["upload"] is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 1


def test_complete_is_repeatable(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    stored = file_photo(api, make_case()["id"], NOKIA.read_bytes())
    again = api.post(f"/api/evidence/{stored['id']}/complete")
    assert again.status_code == 200 and again.get_json()["sha256"] == stored["sha256"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "evidence.stored")) == 1


def test_hash_mismatch_discards_bytes_and_allows_a_resend(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    declared = api.post("/api/evidence", json=declaration(make_case()["id"], data)).get_json()
    corrupted = bytearray(data)
    corrupted[5000] ^= 0xFF
    assert send_upload(api, declared["upload"], bytes(corrupted)) in (200, 201, 204)
    refused = api.post(f"/api/evidence/{declared['id']}/complete")
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "evidence.hash_mismatch"
    assert objects(app) == []  # discarded
    row = db.session.get(Evidence, declared["id"])
    assert row.state == "pending" and row.last_error == "evidence.hash_mismatch"
    # The phone still has the photo: it uploads again and completes.
    assert send_upload(api, declared["upload"], data) in (200, 201, 204)
    assert api.post(f"/api/evidence/{declared['id']}/complete").get_json()["state"] == "stored"


def test_truncated_upload_is_refused(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    # A phone that lost the connection half way and declared only what it had: the server
    # sees a JPEG cut short, whose hash matches, and refuses it as undecodable.
    half = data[: len(data) // 2]
    declared = api.post("/api/evidence", json=declaration(make_case()["id"], half)).get_json()
    assert send_upload(api, declared["upload"], half) in (200, 201, 204)
    refused = api.post(f"/api/evidence/{declared['id']}/complete")
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "evidence.undecodable"
    assert objects(app) == []
    assert db.session.get(Evidence, declared["id"]).state == "rejected"


def test_non_image_is_rejected_and_leaves_nothing(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = b"%PDF-1.7\n" + b"x" * 2000
    declared = api.post("/api/evidence", json=declaration(make_case()["id"], data)).get_json()
    assert send_upload(api, declared["upload"], data) in (200, 201, 204)
    refused = api.post(f"/api/evidence/{declared['id']}/complete")
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "evidence.not_an_image"
    assert objects(app) == []
    assert api.get(f"/api/cases/{declared['case_id']}/evidence").get_json()["items"] == []


def test_decompression_bomb_is_refused(app, as_user, make_case):  # type: ignore[no-untyped-def]
    app.config["MAX_IMAGE_PIXELS"] = 1_000_000
    buf = io.BytesIO()
    Image.new("L", (2000, 2000)).save(buf, "PNG")  # 4 MP of zeros: a few KB on the wire
    data = buf.getvalue()
    api = as_user("insp_a")
    declared = api.post("/api/evidence", json=declaration(
        make_case()["id"], data, content_type="image/png")).get_json()
    assert send_upload(api, declared["upload"], data) in (200, 201, 204)
    refused = api.post(f"/api/evidence/{declared['id']}/complete")
    assert refused.status_code == 422
    assert refused.get_json()["code"] == "evidence.decompression_bomb"
    assert objects(app) == []


def test_oversize_and_wrong_type_are_refused_at_declaration(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    case_id = make_case()["id"]
    big = api.post("/api/evidence", json=declaration(case_id, b"x", size=10**10))
    assert big.status_code == 413 and big.get_json()["code"] == "evidence.too_large"
    gif = api.post("/api/evidence", json=declaration(case_id, b"x", content_type="image/gif"))
    assert gif.status_code == 422 and gif.get_json()["code"] == "evidence.unsupported_type"
    bad = api.post("/api/evidence", json=declaration(case_id, b"x", sha256="zz", size=0))
    assert bad.status_code == 422
    assert set(bad.get_json()["errors"]) == {"sha256", "size"}
    naive = api.post("/api/evidence", json=declaration(case_id, b"x",
                                                       captured_at="2026-11-23T23:05:00"))
    assert naive.status_code == 422 and "captured_at" in naive.get_json()["errors"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0


def test_complete_before_upload_says_so(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    declared = api.post("/api/evidence", json=declaration(make_case()["id"],
                                                          NOKIA.read_bytes())).get_json()
    early = api.post(f"/api/evidence/{declared['id']}/complete")
    assert early.status_code == 409 and early.get_json()["code"] == "evidence.upload_missing"
    assert db.session.get(Evidence, declared["id"]).state == "pending"


def test_an_upload_url_cannot_overwrite_stored_evidence(app, as_user, make_case):  # type: ignore[no-untyped-def]
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    declared = api.post("/api/evidence", json=declaration(make_case()["id"], data)).get_json()
    assert send_upload(api, declared["upload"], data) in (200, 201, 204)
    stored = api.post(f"/api/evidence/{declared['id']}/complete").get_json()
    # Replaying the (still unexpired) upload URL with other bytes of the same length only
    # reaches the staging key; the evidence object keeps its bytes.
    forged = bytes(reversed(data))
    send_upload(api, declared["upload"], forged)
    status, original, _ = fetch(api, api.get(f"/api/evidence/{stored['id']}")
                                .get_json()["download_url"])
    assert status == 200 and original == data


def test_other_units_cannot_see_or_file(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(unit="Street A")
    mine = file_photo(as_user("insp_a"), case["id"], NOKIA.read_bytes())
    other = as_user("insp_b")
    assert other.get(f"/api/evidence/{mine['id']}").status_code == 404
    assert other.post(f"/api/evidence/{mine['id']}/complete").status_code == 404
    assert other.get(f"/api/cases/{case['id']}/evidence").status_code == 404
    filed = other.post("/api/evidence", json=declaration(case["id"], b"abc"))
    assert filed.status_code == 404 and filed.get_json()["code"] == "case.not_found"
    # The district reviewer above both streets sees it.
    assert as_user("reviewer").get(f"/api/evidence/{mine['id']}").status_code == 200


def test_revisit_role_cannot_file_evidence(app, as_user, make_case):  # type: ignore[no-untyped-def]
    response = as_user("revisit").post("/api/evidence",
                                       json=declaration(make_case()["id"], b"abc"))
    assert response.status_code == 403


@pytest.mark.usefixtures("two_step_upload")
def test_reconciler_finishes_uploads_never_completed(app, as_user, make_case):  # type: ignore[no-untyped-def]
    from server.domain.fieldwork.completion import reconcile

    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    uploaded = api.post("/api/evidence", json=declaration(make_case()["id"], data)).get_json()
    assert send_upload(api, uploaded["upload"], data) in (200, 201, 204)
    never_sent_body = declaration(uploaded["case_id"], b"never arrives")
    never_sent = api.post("/api/evidence", json=never_sent_body).get_json()
    storage = app.extensions["fieldcase.storage"]
    storage.put_bytes("staging/orphan/leftover", b"junk", content_type="image/jpeg")

    counts = reconcile(older_than=timedelta(0), expire_after=timedelta(0))
    assert counts == {"completed": 1, "settled_elsewhere": 0, "failed": 0, "expired": 1,
                      "waiting": 0, "staging_removed": 1, "errors": []}
    assert db.session.get(Evidence, uploaded["id"]).state == "stored"
    assert db.session.get(Evidence, never_sent["id"]).state == "expired"
    assert not [k for k in objects(app) if k.startswith("staging/")]
    # The phone comes back days later and declares again: the declaration revives.
    revived = api.post("/api/evidence", json=never_sent_body)
    assert revived.status_code == 200
    assert revived.get_json()["id"] == never_sent["id"]
    assert revived.get_json()["state"] == "pending" and revived.get_json()["upload"]


# ---- hardening -----------------------------------------------------------------------
def stored_bytes(app, key: str) -> bytes:  # type: ignore[no-untyped-def]
    return b"".join(app.extensions["fieldcase.storage"].iter_chunks(key))


def declare_and_upload(api, case_id: str, data: bytes, **changes: object) -> dict:  # type: ignore[no-untyped-def]
    declared = api.post("/api/evidence", json=declaration(case_id, data, **changes))
    assert declared.status_code == 201, declared.get_json()
    assert send_upload(api, declared.get_json()["upload"], data) in (200, 201, 204)
    return declared.get_json()


def test_bytes_replaced_at_staging_during_verification_are_never_stored(  # type: ignore[no-untyped-def]
        app, as_user, make_case, monkeypatch):
    from server import media
    from server.domain.fieldwork.evidence import final_key

    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    declared = declare_and_upload(api, make_case()["id"], data)
    staging = db.session.get(Evidence, declared["id"]).staging_key
    storage = app.extensions["fieldcase.storage"]
    forged = bytes(reversed(data))  # same size, other bytes
    real_read_image = media.read_image

    def replaced_while_reading(fp, **kw):  # type: ignore[no-untyped-def]
        # The still-valid upload URL is used again while the server renders thumbnails.
        storage.put_bytes(staging, forged, content_type="image/jpeg")
        return real_read_image(fp, **kw)

    monkeypatch.setattr(media, "read_image", replaced_while_reading)
    done = api.post(f"/api/evidence/{declared['id']}/complete")
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "stored"
    kept = stored_bytes(app, final_key(declared["id"]))
    assert hashlib.sha256(kept).hexdigest() == declared["sha256"]
    monkeypatch.undo()
    # A later completion (a retry) does not promote what now sits at staging either.
    assert api.post(f"/api/evidence/{declared['id']}/complete").status_code == 200
    assert stored_bytes(app, final_key(declared["id"])) == data


@pytest.mark.usefixtures("two_step_upload")
def test_verification_failure_leaves_no_bytes_behind(app, as_user, make_case, monkeypatch):  # type: ignore[no-untyped-def]
    from server import media

    api = as_user("insp_a")
    declared = declare_and_upload(api, make_case()["id"], NOKIA.read_bytes())

    def undecodable(fp, **kw):  # type: ignore[no-untyped-def]
        raise media.MediaError("media.undecodable", "The photo cannot be decoded.")

    monkeypatch.setattr(media, "read_image", undecodable)
    refused = api.post(f"/api/evidence/{declared['id']}/complete")
    assert refused.status_code == 422 and refused.get_json()["code"] == "evidence.undecodable"
    assert objects(app) == []


@pytest.mark.usefixtures("two_step_upload")
def test_a_crash_after_promotion_is_finished_from_the_evidence_key(app, as_user, make_case):  # type: ignore[no-untyped-def]
    from server.domain.fieldwork.evidence import final_key

    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    declared = declare_and_upload(api, make_case()["id"], data)
    storage = app.extensions["fieldcase.storage"]
    row = db.session.get(Evidence, declared["id"])
    # The bytes were promoted and staging removed, then the process died.
    storage.copy(row.staging_key, final_key(row.id))
    storage.delete(row.staging_key)
    done = api.post(f"/api/evidence/{declared['id']}/complete")
    assert done.status_code == 200 and done.get_json()["state"] == "stored"
    assert stored_bytes(app, final_key(row.id)) == data


@pytest.mark.usefixtures("two_step_upload")
def test_the_promotions_lock_writes_nothing(app, as_user, make_case, monkeypatch):  # type: ignore[no-untyped-def]
    """The promotion holds the pending row's lock with a locking read: its step writes no
    row, so its commit has nothing to write (on SQLite no WAL frame and no fsync; a no-op
    UPDATE wrote the row again). The completion writes the row once, when it stores it."""
    from server.domain.fieldwork import completion as service

    api = as_user("insp_a")
    declared = declare_and_upload(api, make_case()["id"], NOKIA.read_bytes())
    seen: list[str] = []
    promoting: list[bool] = []

    def record(_conn, _cursor, statement, *_rest) -> None:  # type: ignore[no-untyped-def]
        seen.append(("promote: " if promoting else "") + " ".join(statement.split())[:60])

    real_promote = service._promote

    def promote(*args, **kwargs):  # type: ignore[no-untyped-def]
        promoting.append(True)
        try:
            return real_promote(*args, **kwargs)
        finally:
            promoting.clear()

    monkeypatch.setattr(service, "_promote", promote)
    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        done = api.post(f"/api/evidence/{declared['id']}/complete")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert done.status_code == 200 and done.get_json()["state"] == "stored"
    during = [s for s in seen if s.startswith("promote: ")]
    assert during and all(s.startswith("promote: SELECT") for s in during), during
    updates = [s for s in seen if s.startswith("UPDATE evidence")]
    assert len(updates) == 1, seen


@pytest.mark.usefixtures("two_step_upload")
def test_the_staged_bytes_reach_the_disk_before_the_promotions_lock(  # type: ignore[no-untyped-def]
        app, as_user, make_case, monkeypatch):
    """The local store takes an upload without fsync; the completion flushes the staged
    bytes before it takes the promotion's lock (on SQLite the one writer lock, which every
    phone's write waits on), so the copy under the lock has nothing left to flush."""
    import os

    from server.domain.fieldwork import completion as service
    from server.storage import LocalStorage

    storage = app.extensions["fieldcase.storage"]
    if not isinstance(storage, LocalStorage):
        pytest.skip("S3 keeps what it answered for: nothing to flush")
    api = as_user("insp_a")
    declared = declare_and_upload(api, make_case()["id"], NOKIA.read_bytes())
    staged = storage._path(db.session.get(Evidence, declared["id"]).staging_key).stat().st_ino
    events: list[str] = []
    real_fsync, real_promote = os.fsync, service._promote

    def fsync(fd: int) -> None:
        if os.fstat(fd).st_ino == staged:
            events.append("flush")
        real_fsync(fd)

    def promote(*args, **kwargs):  # type: ignore[no-untyped-def]
        events.append("lock")
        return real_promote(*args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(service, "_promote", promote)
    done = api.post(f"/api/evidence/{declared['id']}/complete")
    assert done.status_code == 200 and done.get_json()["state"] == "stored"
    assert events[:2] == ["flush", "lock"], events


def test_a_flush_that_fails_before_the_lock_is_left_to_the_copy(  # type: ignore[no-untyped-def]
        app, as_user, make_case, monkeypatch):
    """The flush before the promotion's lock only saves time: a store that fails it (a
    disk's EIO, say) still gets the photo stored, the copy flushing what it links."""
    from server.storage import StorageError

    storage = app.extensions["fieldcase.storage"]
    api = as_user("insp_a")
    declared = declare_and_upload(api, make_case()["id"], NOKIA.read_bytes())

    def failing(key: str) -> None:
        raise StorageError(f"settle failed for {key}")

    monkeypatch.setattr(storage, "settle", failing)
    done = api.post(f"/api/evidence/{declared['id']}/complete")
    assert done.status_code == 200 and done.get_json()["state"] == "stored", done.get_json()


def test_settling_a_missing_object_says_not_found(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from server.storage import LocalStorage, ObjectNotFound

    store = LocalStorage(tmp_path, secret_key="k")
    store.put_bytes("staging/a/b.jpg", b"bytes", content_type="image/jpeg")
    store.settle("staging/a/b.jpg")
    with pytest.raises(ObjectNotFound):
        store.settle("staging/a/missing.jpg")


@pytest.mark.usefixtures("two_step_upload")
@pytest.mark.parametrize("during", ["copy", "read_image"])
def test_two_completions_at_once_store_it_once(app, as_user, make_case, monkeypatch,  # type: ignore[no-untyped-def]
                                               during: str):
    from server import media
    from server.domain.fieldwork import completion as service

    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    declared = declare_and_upload(api, make_case()["id"], data)
    storage = app.extensions["fieldcase.storage"]
    other_done: list[str] = []

    def the_other_completion() -> None:
        if not other_done:  # once: the other request runs to its end right here
            other_done.append("yes")
            ev = service.finish_pending(db.session.get(Evidence, declared["id"]),
                                        actor_id=None)
            assert ev.state == "stored"

    if during == "copy":
        real_copy = storage.copy

        def copy_after_the_other(src: str, dst: str) -> None:
            the_other_completion()
            real_copy(src, dst)

        monkeypatch.setattr(storage, "copy", copy_after_the_other)
    else:
        real_read_image = media.read_image

        def read_after_the_other(fp, **kw):  # type: ignore[no-untyped-def]
            the_other_completion()
            return real_read_image(fp, **kw)

        monkeypatch.setattr(media, "read_image", read_after_the_other)

    done = api.post(f"/api/evidence/{declared['id']}/complete")
    assert other_done
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "stored"
    assert done.get_json()["sha256"] == declared["sha256"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "evidence.stored")) == 1
    assert stored_bytes(app, f"evidence/{declared['id']}/original") == data


@pytest.mark.usefixtures("two_step_upload")
def test_a_loser_whose_bytes_were_taken_but_not_stored_is_told_to_retry(  # type: ignore[no-untyped-def]
        app, as_user, make_case, monkeypatch):
    api = as_user("insp_a")
    declared = declare_and_upload(api, make_case()["id"], NOKIA.read_bytes())
    storage = app.extensions["fieldcase.storage"]
    staging = db.session.get(Evidence, declared["id"]).staging_key
    real_copy = storage.copy

    def taken_meanwhile(src: str, dst: str) -> None:
        storage.delete(staging)  # another completion took them and has not finished
        real_copy(src, dst)

    monkeypatch.setattr(storage, "copy", taken_meanwhile)
    raced = api.post(f"/api/evidence/{declared['id']}/complete")
    assert raced.status_code == 409 and raced.get_json()["code"] == "evidence.upload_missing"
    assert db.session.get(Evidence, declared["id"]).state == "pending"


@pytest.mark.usefixtures("two_step_upload")
def test_the_revisit_role_cannot_complete_uploads(app, as_user, make_case):  # type: ignore[no-untyped-def]
    declared = declare_and_upload(as_user("insp_a"), make_case()["id"], NOKIA.read_bytes())
    refused = as_user("revisit").post(f"/api/evidence/{declared['id']}/complete")
    assert refused.status_code == 403 and refused.get_json()["code"] == "evidence.forbidden"
    assert db.session.get(Evidence, declared["id"]).state == "pending"


def test_duplicates_on_other_units_cases_are_counted_not_named(app, as_user, make_case):  # type: ignore[no-untyped-def]
    data = NOKIA.read_bytes()
    on_a = file_photo(as_user("insp_a"), make_case(unit="Street A")["id"], data)
    case_b = make_case(unit="Street B")
    insp_b = as_user("insp_b")
    on_b = file_photo(insp_b, case_b["id"], data)
    flag = {f["code"]: f for f in on_b["flags"]}["duplicate_bytes"]
    assert flag["case_ids"] == [] and flag["other_units"] == 1
    assert on_a["case_id"] not in str(insp_b.get(f"/api/evidence/{on_b['id']}").get_json())
    listed = insp_b.get(f"/api/cases/{case_b['id']}/evidence").get_json()["items"]
    assert on_a["case_id"] not in str(listed)
    # The district reviewer sees both cases, so the flag names the other one.
    seen = as_user("reviewer").get(f"/api/evidence/{on_b['id']}").get_json()
    flag = {f["code"]: f for f in seen["flags"]}["duplicate_bytes"]
    assert flag["case_ids"] == [on_a["case_id"]] and flag["other_units"] == 0
    # The fact itself is stored whole.
    assert db.session.get(Evidence, on_b["id"]).flags[-1]["case_ids"] == [on_a["case_id"]]


def test_a_client_id_used_in_another_unit_is_a_conflict(app, as_user, make_case):  # type: ignore[no-untyped-def]
    data = NOKIA.read_bytes()
    body = declaration(make_case(unit="Street A")["id"], data)
    assert as_user("insp_a").post("/api/evidence", json=body).status_code == 201
    case_b = make_case(unit="Street B")
    insp_b = as_user("insp_b")
    for attempt in (body, {**body, "case_id": case_b["id"]}):
        refused = insp_b.post("/api/evidence", json=attempt)
        assert refused.status_code == 422, refused.get_json()
        assert refused.get_json()["code"] == "idempotency.conflict"
        assert "upload" not in refused.get_json()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 1


def test_a_user_moved_out_of_the_unit_gets_no_links_by_declaring_again(  # type: ignore[no-untyped-def]
        app, as_user, make_case):
    from server.models import Unit, User

    api = as_user("insp_a")
    body = declaration(make_case(unit="Street A")["id"], NOKIA.read_bytes())
    assert api.post("/api/evidence", json=body).status_code == 201
    user = db.session.scalar(sa.select(User).filter_by(username="insp_a"))
    street_a, street_b = (db.session.scalar(sa.select(Unit).filter_by(name=n))
                          for n in ("Street A", "Street B"))
    user.units = [street_b]
    db.session.commit()
    try:
        again = api.post("/api/evidence", json=body)
        assert again.status_code == 422 and again.get_json()["code"] == "idempotency.conflict"
    finally:
        user.units = [street_a]
        db.session.commit()


def test_a_revived_declaration_is_a_new_receipt(app, as_user, make_case):  # type: ignore[no-untyped-def]
    from server.domain.fieldwork.completion import reconcile

    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    body = declaration(make_case()["id"], data)
    first = api.post("/api/evidence", json=body).get_json()
    db.session.execute(sa.update(Evidence).where(Evidence.id == first["id"])
                       .values(declared_at=NOW - timedelta(days=8)))
    db.session.commit()
    week = {"older_than": timedelta(minutes=15), "expire_after": timedelta(days=7)}
    assert reconcile(**week)["expired"] == 1
    device_time = datetime.now(UTC) - timedelta(hours=1)  # a phone an hour behind
    revived = api.post("/api/evidence", json={**body, "device_time": device_time.isoformat()})
    assert revived.status_code == 200 and revived.get_json()["state"] == "pending"
    received = datetime.fromisoformat(revived.get_json()["received_at"])
    assert abs((received - datetime.now(UTC)).total_seconds()) < 60
    assert revived.get_json()["device_offset_s"] == pytest.approx(3600, abs=60)
    # The reconciler's clock starts again: it waits for the bytes instead of expiring.
    assert reconcile(older_than=timedelta(0), expire_after=timedelta(days=7))["expired"] == 0
    assert send_upload(api, revived.get_json()["upload"], data) in (200, 201, 204)
    done = api.post(f"/api/evidence/{first['id']}/complete")
    assert done.status_code == 200 and done.get_json()["state"] == "stored"


def test_completing_an_expired_declaration_whose_bytes_arrived_stores_them(  # type: ignore[no-untyped-def]
        app, as_user, make_case):
    from server.domain.fieldwork.completion import reconcile

    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    declared = api.post("/api/evidence", json=declaration(make_case()["id"], data)).get_json()
    assert reconcile(older_than=timedelta(0), expire_after=timedelta(0))["expired"] == 1
    # The upload URL is still valid: the bytes arrive after the expiry.
    assert send_upload(api, declared["upload"], data) in (200, 201, 204)
    done = api.post(f"/api/evidence/{declared['id']}/complete")
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["state"] == "stored"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "evidence.revived", AuditEntry.entity_id == declared["id"])) == 1
    # Without bytes an expired declaration stays expired.
    other = api.post("/api/evidence", json=declaration(declared["case_id"], b"xyz")).get_json()
    reconcile(older_than=timedelta(0), expire_after=timedelta(0))
    late = api.post(f"/api/evidence/{other['id']}/complete")
    assert late.status_code == 409 and late.get_json()["code"] == "evidence.expired"


def test_a_photo_declared_as_another_type_is_flagged(app, as_user, make_case):  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buf, "PNG")
    stored = file_photo(as_user("insp_a"), make_case()["id"], buf.getvalue(),
                        content_type="image/jpeg")
    assert stored["content_type"] == "image/png"
    flag = {f["code"]: f for f in stored["flags"]}["declared_type_differs"]
    assert (flag["declared"], flag["content"]) == ("image/jpeg", "image/png")
    nokia = file_photo(as_user("insp_a"), make_case()["id"], NOKIA.read_bytes())
    assert "declared_type_differs" not in {f["code"] for f in nokia["flags"]}


def test_simultaneous_completions_all_answer_the_stored_photo(app, make_case):  # type: ignore[no-untyped-def]
    import threading

    from tests.conftest import login

    data = NOKIA.read_bytes()
    clients = [login(app, "insp_a") for _ in range(4)]
    declared = declare_and_upload(clients[0], make_case()["id"], data)
    barrier = threading.Barrier(len(clients))
    answers: list[tuple[int, str | None]] = []

    def send(api) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        response = api.post(f"/api/evidence/{declared['id']}/complete")
        answers.append((response.status_code, response.get_json().get("state")))

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [(200, "stored")] * len(clients)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "evidence.stored")) == 1
    assert stored_bytes(app, f"evidence/{declared['id']}/original") == data
    assert not [k for k in objects(app) if k.startswith("staging/")]


@pytest.mark.parametrize(("declared", "content", "flagged"), [
    ("image/jpeg", "image/png", True),
    ("image/png", "image/jpeg", True),
    ("image/heif", "image/heic", False),  # one container format, two names
    ("image/heic", "image/heic", False),
    ("image/webp", "image/webp", False),
])
def test_declared_type_differs_flag(declared: str, content: str, flagged: bool) -> None:
    from server.domain.fieldwork.integrity import Thresholds, integrity_flags

    flags = integrity_flags(
        exif_gps=None, exif_taken_at=None, exif_errors=[], geo=None, case_location=None,
        captured_at=NOW, received_at=NOW, device_offset_s=None, duplicate_case_ids=[],
        declared_type=declared, content_type=content,
        limits=Thresholds(500, 300, "Asia/Shanghai"))
    found = [f for f in flags if f["code"] == "declared_type_differs"]
    assert bool(found) is flagged
    if flagged:
        assert (found[0]["declared"], found[0]["content"]) == (declared, content)
        assert declared in found[0]["message"] and content in found[0]["message"]
