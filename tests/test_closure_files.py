"""Closure files and archives over HTTP, on both stacks: made from a sealed case, kept in
the store (the second download is the same bytes), the public version without personal
data or GPS, the archive's hashes rechecked, and the refusals (an open case, another
unit's case in a batch)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Any

import pymupdf as fitz
import sqlalchemy as sa
import zxingcpp
from docx import Document
from PIL import Image

from server.domain import closure_files
from server.extensions import db
from server.models import ClosureFile, Seal
from tests.closure_facts import submit_ready
from tests.test_lifecycle import params_for, walk
from tests.test_seal import approve, in_hand


def sealed_case(as_user: Any, make_case: Any, **changes: Any) -> tuple[str, dict]:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case = make_case(**changes)
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    photo = submit_ready(office, inspector, as_user("revisit"), case["id"])
    assert approve(office, case["id"]).status_code == 200
    return case["id"], photo


def download(api: Any, url: str) -> tuple[bytes, Any]:
    answer = api.get(url)
    assert answer.status_code == 200, answer.get_json()
    data = answer.get_data()
    answer.close()  # as a WSGI server does: frees the archive's spool file
    return data, answer


def test_the_closure_file_is_made_once_and_reads_back(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    case_id, photo = sealed_case(as_user, make_case)
    docx, answer = download(office, f"/api/cases/{case_id}/closure-file.docx")
    assert docx[:2] == b"PK" and "attachment" in answer.headers["Content-Disposition"]
    assert answer.headers["X-Content-SHA256"] == hashlib.sha256(docx).hexdigest()
    again, _ = download(office, f"/api/cases/{case_id}/closure-file.docx")
    assert again == docx
    text = "\n".join(p.text for p in Document(io.BytesIO(docx)).paragraphs)
    tables = "\n".join(c.text for t in Document(io.BytesIO(docx)).tables
                       for r in t.rows for c in r.cells)
    everything = text + tables
    for wanted in ("夜色酒吧深夜噪声扰民", "摄影时间", "王建国", "东湖路88号 3楼住户家中",
                   "23:05 酒吧音响声明显可闻", "张三", photo["short_code"]):
        assert wanted in everything, wanted
    seal = office.get(f"/api/cases/{case_id}/seal").get_json()["current"]
    assert seal["sha256"] in everything

    pdf, _ = download(office, f"/api/cases/{case_id}/closure-file.pdf")
    assert pdf.startswith(b"%PDF") and download(
        office, f"/api/cases/{case_id}/closure-file.pdf")[0] == pdf
    with fitz.open(stream=pdf, filetype="pdf") as doc:
        pdf_text = "".join(page.get_text() for page in doc)
    for wanted in ("夜色酒吧深夜噪声扰民", "摄影时间", "王建国", "满意", seal["sha256"]):
        assert wanted in pdf_text, wanted
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClosureFile)) >= 2
    db.session.expire_all()
    assert db.session.scalar(sa.select(Seal.published_at).where(Seal.case_id == case_id)) \
        is None  # the internal file publishes nothing


def test_the_public_version_holds_no_personal_data_or_gps(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    case_id, _photo = sealed_case(as_user, make_case)
    docx, _ = download(office, f"/api/cases/{case_id}/closure-file.docx?public=1")
    pdf, _ = download(office, f"/api/cases/{case_id}/closure-file.pdf?public=1")
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        xml = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()
                      if n.endswith(".xml"))
        images = [z.read(n) for n in z.namelist() if n.startswith("word/media/")
                  and n.lower().endswith((".jpg", ".jpeg"))]
    with fitz.open(stream=pdf, filetype="pdf") as doc:
        pdf_text = "".join(page.get_text() for page in doc)
        images += [doc.extract_image(x[0])["image"] for page in doc
                   for x in page.get_images(full=True)
                   if doc.extract_image(x[0])["ext"] in ("jpeg", "jpg")]
    for text in (xml, pdf_text):
        assert "张三" not in text and "138****1234" not in text and "夜色酒吧深夜噪声扰民" in text
    assert len(images) >= 2
    for data in images:
        with Image.open(io.BytesIO(data)) as img:
            assert not img.getexif() and "exif" not in img.info, "EXIF left in a photo"
        assert b"Exif\x00\x00" not in data
    db.session.expire_all()
    assert db.session.scalar(sa.select(Seal.published_at).where(Seal.case_id == case_id))


def test_refusals(app, as_user, make_case, monkeypatch) -> None:
    office, inspector = as_user("reviewer_a"), as_user("insp_a")
    open_case = in_hand(office, inspector, make_case)
    answer = office.get(f"/api/cases/{open_case}/closure-file.pdf")
    assert answer.status_code == 409 and answer.get_json()["code"] == "closure.not_closed"
    assert inspector.get(f"/api/cases/{open_case}/closure-file.pdf").status_code == 403
    closed, _ = sealed_case(as_user, make_case)
    elsewhere = make_case(unit="Street B")["id"]  # reviewer_a sees Street A only
    for url in (f"/api/closure-files.docx?case={closed}&case={elsewhere}",
                f"/api/archives.zip?case={closed}&case={elsewhere}"):
        answer = office.get(url)
        assert answer.status_code == 404, url
        body = answer.get_json()
        assert body["code"] == "case.not_found" and body["case_id"] == elsewhere
        assert "Street B" not in str(body)
    missing = office.get(f"/api/closure-files.pdf?case={closed}&case=no-such-case")
    assert missing.status_code == 404 and missing.get_json()["case_id"] == "no-such-case"
    monkeypatch.setattr(closure_files, "MAX_PHOTOS", 0)  # the batch's one photo is too many
    answer = office.get(f"/api/cases/{closed}/closure-file.docx")
    assert answer.status_code == 422 and answer.get_json()["code"] == "closure.too_many_photos"


def test_a_batch_file_and_the_archive_recheck(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    first, photo1 = sealed_case(as_user, make_case)
    second, photo2 = sealed_case(as_user, make_case, subject="某烧烤店油烟扰民",
                                 category="cooking_fumes")
    pdf, _ = download(office, f"/api/closure-files.pdf?case={first}&case={second}")
    with fitz.open(stream=pdf, filetype="pdf") as doc:
        text = "".join(page.get_text() for page in doc)
    assert text.index("夜色酒吧深夜噪声扰民") < text.index("某烧烤店油烟扰民")

    data, answer = download(office, f"/api/archives.zip?case={first}&case={second}")
    assert answer.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        sums = dict(reversed(line.split("  ", 1)) for line in
                    z.read("SHA256SUMS").decode().splitlines())
        assert "README.txt" in names and "sha256sum -c SHA256SUMS" in z.read(
            "README.txt").decode()
        for name, digest in sums.items():
            assert hashlib.sha256(z.read(name)).hexdigest() == digest, name
        originals = [n for n in names if "/originals/" in n]
        assert {n.rsplit("/", 1)[1].split(".")[0] for n in originals} == {
            photo1["id"], photo2["id"]}
        for name in originals:
            assert hashlib.sha256(z.read(name)).hexdigest() in (photo1["sha256"],
                                                                 photo2["sha256"])
        assert any(n.endswith(".docx") for n in names) and any(n.endswith(".pdf")
                                                               for n in names)
        manifests = [n for n in names if n.endswith("seal-1.json")]
        assert len(manifests) == 2


def test_the_qr_code_on_the_pdf_page_resolves_to_the_photos_record(app, as_user,
                                                                    make_case) -> None:
    office = as_user("reviewer")
    case_id, photo = sealed_case(as_user, make_case)
    pdf, _ = download(office, f"/api/cases/{case_id}/closure-file.pdf")
    with fitz.open(stream=pdf, filetype="pdf") as doc:
        pix = doc[-1].get_pixmap(dpi=150)  # the photo's page
        page = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    urls = [r.text for r in zxingcpp.read_barcodes(page)
            if r.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(urls) == 1 and urls[0].endswith(f"/v/{photo['short_code']}")
    code = urls[0].rsplit("/", 1)[1]
    record = office.get(f"/api/verify/{code}").get_json()
    assert (record["evidence_id"], record["sha256"]) == (photo["id"], photo["sha256"])
    assert record["seal"]["number"] == 1

