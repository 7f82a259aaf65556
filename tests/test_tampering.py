"""Issue 19: tampering shows at run time. Serving an original or building an archive
hashes the stored bytes as they stream; on a mismatch nothing altered goes out with a
200 and a security event is recorded. The seal's page says where a sealed value no
longer matches (the review page warns of it)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from server.domain.fieldwork.evidence import final_key
from server.extensions import db
from server.models import AuditEntry, Case, Seal
from tests.test_closure_files import download, sealed_case


def tamper(app: Any, evidence_id: str) -> bytes:
    store = app.extensions["fieldcase.storage"]
    key = final_key(evidence_id)
    original = b"".join(store.iter_chunks(key))
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01  # one bit
    store.put_bytes(key, bytes(changed), content_type="image/jpeg")
    return original


def security_events(entity_id: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    query = sa.select(AuditEntry).where(AuditEntry.action == "security.tampering_detected")
    if entity_id:
        query = query.where(AuditEntry.entity_id == entity_id)
    return list(db.session.scalars(query))


def test_an_altered_original_is_refused_and_recorded(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    _case_id, photo = sealed_case(as_user, make_case)
    fine = office.get(f"/api/evidence/{photo['id']}/original")
    assert fine.status_code == 302
    tamper(app, photo["id"])
    refused = office.get(f"/api/evidence/{photo['id']}/original")
    assert refused.status_code == 409, refused.status_code
    body = refused.get_json()
    assert body["code"] == "integrity.altered" and "Location" not in refused.headers
    assert body["message"]["zh"] and body["message"]["en"]
    [event] = security_events(photo["id"])
    assert event.data["expected_sha256"] == photo["sha256"]
    assert event.data["actual_sha256"] != photo["sha256"]


def test_an_archive_with_an_altered_original_is_not_built(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    case_id, photo = sealed_case(as_user, make_case)
    download(office, f"/api/cases/{case_id}/archive.zip")  # intact: made
    original = tamper(app, photo["id"])
    for url in (f"/api/cases/{case_id}/archive.zip", f"/api/archives.zip?case={case_id}"):
        refused = office.get(url)
        assert refused.status_code == 409, url
        assert refused.mimetype == "application/problem+json"
        assert refused.get_json()["code"] == "integrity.altered"
        refused.close()
    events = security_events(case_id)
    assert len(events) == 2 and photo["id"] in events[0].data["what"]
    store = app.extensions["fieldcase.storage"]
    store.put_bytes(final_key(photo["id"]), original, content_type="image/jpeg")
    download(office, f"/api/cases/{case_id}/archive.zip")  # restored: made again


def test_the_seal_page_says_where_a_sealed_value_no_longer_matches(
        app, as_user, make_case) -> None:
    office = as_user("reviewer")
    case_id, _photo = sealed_case(as_user, make_case)
    assert office.get(f"/api/cases/{case_id}/seal").get_json()["altered"] == []
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(result="改过的结果"))
    db.session.commit()
    altered = office.get(f"/api/cases/{case_id}/seal").get_json()["altered"]
    assert {"what": "seal 1 case", "field": "case.result"} in altered


def test_a_seal_whose_manifest_no_longer_parses_is_shown_as_altered(
        app, as_user, make_case) -> None:
    """Not a 500: the page still answers, with no manifest to show and the seal named
    among what no longer matches."""
    office = as_user("reviewer")
    case_id, _photo = sealed_case(as_user, make_case)
    db.session.execute(sa.update(Seal).where(Seal.case_id == case_id)
                       .values(manifest='{"format": 2, "case": '))
    db.session.commit()
    answer = office.get(f"/api/cases/{case_id}/seal")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["current"]["manifest"] is None and body["current"]["sha256"]
    assert any(a["what"].startswith("seal 1") for a in body["altered"]), body["altered"]


def test_a_link_handed_out_before_the_bytes_changed_is_cut_short(
        app, as_user, make_case) -> None:
    """The local store serves originals through the app: the bytes are hashed again as
    they stream, and a download of altered bytes never completes (the last chunk is held
    until the hash is known)."""
    from server.api.blobs import AlteredBytes

    office = as_user("reviewer")
    _case_id, photo = sealed_case(as_user, make_case)
    link = office.get(f"/api/evidence/{photo['id']}/original").headers["Location"]
    if "/api/blobs/" not in link:
        pytest.skip("S3 serves its links itself; the link is checked before it is given")
    path = link[link.index("/api/blobs/"):]
    fine = app.test_client().get(path)
    assert hashlib.sha256(fine.get_data()).hexdigest() == photo["sha256"]
    fine.close()
    tamper(app, photo["id"])
    cut = app.test_client().get(path)
    with pytest.raises(AlteredBytes):
        cut.get_data()
    cut.close()
    assert security_events(photo["id"])
