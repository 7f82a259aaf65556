"""Interview recordings through the evidence intake: only with the respondent's consent,
every format phones and browsers record, verified by content, duration read."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from tests.conftest import send_upload
from tests.test_evidence import NOKIA, declaration

AUDIO = Path(__file__).resolve().parents[2] / "shared" / "samples" / "audio"


def survey_with(api, case_id: str, *, consent: bool) -> dict:  # type: ignore[no-untyped-def]
    answer = api.post(f"/api/cases/{case_id}/revisits", json={
        "client_id": str(uuid.uuid4()), "method": "door", "at": "2026-11-28T19:30:00+08:00",
        "respondents": [{"client_id": str(uuid.uuid4()), "kind": "resident",
                         "audio_consent": consent}]})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def recording(case_id: str, data: bytes, content_type: str, respondent_id: str | None
              ) -> dict:
    body = declaration(case_id, data, content_type=content_type, respondent_id=respondent_id,
                       caption="回访录音", geo=None)
    return body


@pytest.mark.parametrize(("name", "content_type", "seconds"), [
    ("interview.m4a", "audio/mp4", 30.7),
    ("interview.webm", "audio/webm", 30.7),
    ("interview.ogg", "audio/ogg", 30.7),
    ("interview.opus.ogg", "audio/ogg", 30.7),
    ("interview.mp3", "audio/mpeg", 30.7),
    ("chromium-mediarecorder.webm", "audio/webm", 4.0),
])
def test_each_recording_format_is_stored_with_its_duration(app, as_user, make_case, name: str,
                                                           content_type: str,
                                                           seconds: float) -> None:
    case, revisit = make_case(), as_user("revisit")
    person = survey_with(revisit, case["id"], consent=True)["respondents"][0]
    data = (AUDIO / name).read_bytes()
    declared = revisit.post("/api/evidence", json=recording(case["id"], data, content_type,
                                                            person["id"]))
    assert declared.status_code == 201, declared.get_json()
    body = declared.get_json()
    assert send_upload(revisit, body["upload"], data) in (200, 201, 204)
    done = revisit.post(f"/api/evidence/{body['id']}/complete")
    assert done.status_code == 200, done.get_json()
    stored = done.get_json()
    assert stored["state"] == "stored" and stored["content_type"] == content_type
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    assert abs(stored["duration_s"] - seconds) < 0.15
    assert stored["respondent_id"] == person["id"]
    assert stored["revisit_id"] == person["revisit_id"]
    assert stored["thumbnails"] == {} and stored["width"] is None
    assert [f["code"] for f in stored["flags"]] == []


def test_a_photo_declared_as_audio_is_refused_and_nothing_kept(app, as_user,
                                                               make_case) -> None:
    case, revisit = make_case(), as_user("revisit")
    person = survey_with(revisit, case["id"], consent=True)["respondents"][0]
    for data in (NOKIA.read_bytes(), "录音.mp3".encode() * 200):
        declared = revisit.post("/api/evidence", json=recording(
            case["id"], data, "audio/mpeg", person["id"])).get_json()
        assert send_upload(revisit, declared["upload"], data) in (200, 201, 204)
        refused = revisit.post(f"/api/evidence/{declared['id']}/complete")
        assert refused.status_code == 422, refused.get_json()
        assert refused.get_json()["code"].startswith("evidence.")
        got = revisit.get(f"/api/evidence/{declared['id']}").get_json()
        assert got["state"] == "rejected"
    objects = [i.key for i in app.extensions["fieldcase.storage"].list("evidence/")]
    assert objects == []


def test_a_recording_needs_a_consenting_respondent_of_the_case(app, as_user,
                                                               make_case) -> None:
    case, other, revisit = make_case(), make_case(), as_user("revisit")
    refusing = survey_with(revisit, case["id"], consent=False)["respondents"][0]
    elsewhere = survey_with(revisit, other["id"], consent=True)["respondents"][0]
    data = (AUDIO / "interview.m4a").read_bytes()
    for respondent_id, code in ((None, "evidence.no_consent"),
                                (refusing["id"], "evidence.no_consent"),
                                (elsewhere["id"], "evidence.bad_respondent")):
        answer = revisit.post("/api/evidence", json=recording(case["id"], data, "audio/mp4",
                                                              respondent_id))
        assert answer.status_code == 422, answer.get_json()
        assert answer.get_json()["code"] == code
        assert "respondent_id" in answer.get_json()["errors"]


def test_a_revisit_team_files_photos_of_its_revisits_only(app, as_user, make_case) -> None:
    case, revisit = make_case(), as_user("revisit")
    survey = survey_with(revisit, case["id"], consent=False)
    data = NOKIA.read_bytes()
    loose = revisit.post("/api/evidence", json=declaration(case["id"], data))
    assert loose.status_code == 403
    door = revisit.post("/api/evidence", json=declaration(case["id"], data,
                                                          revisit_id=survey["id"]))
    assert door.status_code == 201, door.get_json()
    assert door.get_json()["revisit_id"] == survey["id"]


def test_a_revisits_photo_offers_no_thumbnail_to_an_inspector(app, as_user, make_case
                                                               ) -> None:
    """A revisit's photo is a resident's answer, as its original is: an inspector gets no
    signed thumbnail link (the link is all the blob route asks for), on the record, the
    case's list nor the map; the office does."""
    case, revisit = make_case(), as_user("revisit")
    office, inspector = as_user("reviewer"), as_user("insp_a")
    survey = survey_with(revisit, case["id"], consent=False)
    data = NOKIA.read_bytes()
    declared = revisit.post("/api/evidence", json=declaration(
        case["id"], data, revisit_id=survey["id"])).get_json()
    assert send_upload(revisit, declared["upload"], data) in (200, 201, 204)
    assert revisit.post(f"/api/evidence/{declared['id']}/complete").status_code == 200
    shown = office.get(f"/api/evidence/{declared['id']}").get_json()
    assert shown["thumbnails"]["small"]["url"] and shown["thumbnails"]["large"]["url"]
    seen = inspector.get(f"/api/evidence/{declared['id']}").get_json()
    assert seen["thumbnails"] == {} and seen["download_url"] is None
    listed = inspector.get(f"/api/cases/{case['id']}/evidence").get_json()["items"]
    assert [e["thumbnails"] for e in listed if e["id"] == declared["id"]] in ([], [{}])
    assert "/api/blobs/" not in str(listed)
    mapped = inspector.get("/api/cases.geojson").get_json()["features"]
    assert all(f["properties"].get("thumb_url") is None for f in mapped
               if f["properties"]["id"] == declared["id"])
    office_map = office.get("/api/cases.geojson").get_json()["features"]
    assert any(f["properties"].get("thumb_url") for f in office_map
               if f["properties"]["id"] == declared["id"])
