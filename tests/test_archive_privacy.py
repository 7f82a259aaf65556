"""Issue 19: no personal data recoverable from what an archive holds. The complainant's
number is printed masked (138****1234) in the closure file; a plain hash of it anywhere
in the archive (an old format-1 seal's manifest) gave the full number back in 10,000
tries. Every file of a case archive and a batch archive is read (the closure files'
text, the DOCX parts, the manifests, the README), every hash-like string collected, and
the 10,000 numbers the mask leaves open tried against each."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile

import pymupdf as fitz
import sqlalchemy as sa

from server.domain.closure import sealing
from server.domain.core import runtime
from server.extensions import db
from server.models import Case, Seal
from tests.test_closure_files import download, sealed_case

NAME, PHONE = "张三", "13812341234"  # tests.conftest.CASE_BODY's complainant
HEX = re.compile(rb"[0-9a-fA-F]{40,128}")
MASKED = re.compile(r"1\d{2}\*{4}\d{4}")


def as_format_1(case_id: str) -> Seal:
    """Turn the case's seal into one made before issue 16 (plain SHA-256 of personal
    data), as old installations hold them."""
    s = db.session.scalar(sa.select(Seal).filter_by(case_id=case_id))
    case = db.session.get(Case, case_id)
    manifest = json.loads(s.manifest)
    old = sealing.row_parts(case, s.sealed_at, sealing.Personal(keyed=False))
    manifest.pop("personal")
    manifest.update(old, format=sealing.FORMAT_1)
    body = sealing.canonical(manifest)
    sha256 = hashlib.sha256(body).hexdigest()
    key = sealing.object_key(case_id, s.number, sha256)
    runtime.storage().put_bytes(key, body, content_type="application/json")
    s.manifest, s.sha256, s.object_key = body.decode(), sha256, key
    db.session.commit()
    assert hashlib.sha256(sealing.canonical([NAME, PHONE])).hexdigest() in s.manifest
    return s


def texts_of(name: str, data: bytes) -> list[bytes]:
    """What a reader gets out of one file: a PDF's text, every part of a ZIP (a DOCX, the
    archive itself), the bytes of anything else."""
    if name.endswith(".pdf"):
        with fitz.open(stream=data, filetype="pdf") as doc:
            return [data, "".join(page.get_text() for page in doc).encode()]
    if data[:2] == b"PK":
        out = []
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for inner in z.namelist():
                out += texts_of(inner, z.read(inner))
        return out
    return [data]


def candidates(masked: str) -> dict[str, str]:
    """Every hash a plain-hashing scheme could have made of each of the 10,000 numbers."""
    out = {}
    head, tail = masked[:3], masked[-4:]
    for n in range(10_000):
        phone = f"{head}{n:04d}{tail}"
        for value in (sealing.canonical([NAME, phone]), phone.encode(),
                      sealing.canonical(phone), (NAME + phone).encode()):
            out[hashlib.sha256(value).hexdigest()] = phone
    return out


def recovered(texts: list[bytes], masked: str) -> set[str]:
    tries = candidates(masked)
    found = {h.decode().lower() for text in texts for h in HEX.findall(text)}
    assert found, "no hash-like string read: the test would prove nothing"
    return {tries[h] for h in found if h in tries}


def test_no_number_comes_back_from_case_or_batch_archives(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    old_id, _ = sealed_case(as_user, make_case)
    new_id, _ = sealed_case(as_user, make_case)
    old = as_format_1(old_id)
    texts: list[bytes] = []
    for url in (f"/api/cases/{old_id}/archive.zip", f"/api/cases/{new_id}/archive.zip",
                f"/api/archives.zip?case={old_id}&case={new_id}"):
        data, _ = download(office, url)
        texts += texts_of("archive.zip", data)
    joined = b"\n".join(texts).decode("utf-8", "replace")
    masked = MASKED.findall(joined)
    assert masked, "the closure file prints the masked number beside the name"
    assert PHONE not in joined
    assert recovered(texts, masked[0]) == set()
    # The old seal's copy says what it is, and the seal's page serves the same safe copy.
    seal_copies = [json.loads(t) for t in texts if t.startswith(b'{"')
                   and b'"fieldcase-seal/1"' in t]
    assert seal_copies and all(c["archive_copy"]["of_seal"].startswith("hmac:")
                                           for c in seal_copies)
    assert all("complainant_sha256_hmac" in c["case"] for c in seal_copies)
    page = office.get(f"/api/cases/{old_id}/seal").get_json()
    assert recovered([json.dumps(page["current"]["manifest"]).encode()], masked[0]) == set()
    # Nor the old seal's own plain hash, anywhere it is shown: beside the copy it would let
    # a guessed number be put back and the whole hashed again (10,000 tries).
    assert old.sha256 not in joined
    assert old.sha256 not in json.dumps(page)
    assert page["current"]["sha256"].startswith("hmac:")


def test_the_old_seal_still_verifies_on_the_server(app, as_user, make_case) -> None:
    """Keying the copy changes nothing kept: verify-case checks the original."""
    case_id, _ = sealed_case(as_user, make_case)
    s = as_format_1(case_id)
    copy = json.loads(sealing.shareable_manifest(s))
    original = json.loads(s.manifest)
    assert copy["case"]["complainant_sha256_hmac"] != original["case"]["complainant_sha256"]
    assert [m.get("record_sha256") for v in copy["visits"] for m in v["measurements"]] == [
        m.get("record_sha256") for v in original["visits"] for m in v["measurements"]]
    assert "record_sha256_hmac" in copy["revisits"][0]["respondents"][0]
    assert sealing.shareable_manifest(db.session.get(Seal, s.id)) != s.manifest.encode()
    fresh = sealed_case(as_user, make_case)[0]
    latest = sealing.latest(fresh)
    assert sealing.shareable_manifest(latest) == latest.manifest.encode()  # format 2 as is
