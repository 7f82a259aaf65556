"""Closure files and archives over HTTP, on both stacks: made from a sealed case, kept in
the store (the second download is the same bytes), the public version without personal
data or GPS, the archive's hashes rechecked, and the refusals (an open case, another
unit's case in a batch)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zipfile
from typing import Any
from urllib.parse import unquote

import pymupdf as fitz
import sqlalchemy as sa
import zxingcpp
from docx import Document
from PIL import Image

from server.domain.closure import closure_files, sealing
from server.extensions import db
from server.models import Case, ClosureFile, Seal
from tests.closure_facts import submit_ready
from tests.conftest import SAMPLES, unit_id
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


def test_the_public_file_prints_no_revisit_photo(app, as_user, make_case) -> None:
    """A revisit's photo (a resident's questionnaire, their door) is sealed and printed in
    the office's closure file, not in the public one, whose codes the public looks up."""
    from server.models import Evidence, Revisit
    from tests.test_evidence import file_photo

    office, inspector = as_user("reviewer"), as_user("insp_a")
    case = make_case()
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    site = submit_ready(office, inspector, as_user("revisit"), case["id"])
    door = file_photo(inspector, case["id"], (SAMPLES / "gps" / "DSCN0010.jpg").read_bytes())
    db.session.execute(sa.update(Evidence).where(Evidence.id == door["id"]).values(
        revisit_id=db.session.scalar(sa.select(Revisit.id).filter_by(case_id=case["id"])),
        flags=[]))  # as a revisit's photo (its place is the resident's, not the site's)
    db.session.commit()
    approved = approve(office, case["id"])
    assert approved.status_code == 200, approved.get_json()
    codes = dict(db.session.execute(sa.select(Evidence.id, Evidence.short_code).where(
        Evidence.id.in_([site["id"], door["id"]]))).all())

    def text(url: str) -> str:
        pdf, _ = download(office, url)
        with fitz.open(stream=pdf, filetype="pdf") as doc:
            return "".join(page.get_text() for page in doc)

    private = text(f"/api/cases/{case['id']}/closure-file.pdf")
    public = text(f"/api/cases/{case['id']}/closure-file.pdf?public=1")
    assert codes[site["id"]] in private and codes[door["id"]] in private
    assert codes[site["id"]] in public and codes[door["id"]] not in public


def test_another_sites_page_cannot_publish_or_download_in_the_users_name(
        app, as_user, make_case) -> None:
    """The session cookie goes with a link or redirect from another site (SameSite=Lax):
    a GET that publishes seals (public=1) or is audited as the user's download is refused
    when the browser says another site started it; the app's own and a typed address are
    served."""
    office = as_user("reviewer")
    case_id, _photo = sealed_case(as_user, make_case)
    path = f"/api/cases/{case_id}/closure-file.pdf?public=1"
    for site in ("cross-site", "same-site"):
        refused = office.get(path, headers={"Sec-Fetch-Site": site, "Sec-Fetch-Mode": "navigate"})
        assert refused.status_code == 403 and refused.get_json()["code"] == "request.cross_site"
        assert "其他网站" in refused.get_json()["messages"]["zh"]
    assert office.get("/api/cases", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    db.session.expire_all()
    assert db.session.scalar(sa.select(Seal.published_at).where(Seal.case_id == case_id)) is None
    for site in ("same-origin", "none"):
        assert office.get("/api/me", headers={"Sec-Fetch-Site": site}).status_code == 200
    download(office, path)  # no header: not a browser, or an old one
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
        pix = doc[-2].get_pixmap(dpi=150)  # the photo's page (the appendix follows it)
        page = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    urls = [r.text for r in zxingcpp.read_barcodes(page)
            if r.format == zxingcpp.BarcodeFormat.QRCode]
    assert len(urls) == 1 and urls[0].endswith(f"/v/{photo['short_code']}")
    code = urls[0].rsplit("/", 1)[1]
    record = office.get(f"/api/verify/{code}").get_json()
    assert (record["evidence_id"], record["sha256"]) == (photo["id"], photo["sha256"])
    assert record["seal"]["number"] == 1



def docx_text(docx: bytes) -> str:
    document = Document(io.BytesIO(docx))
    return "\n".join([p.text for p in document.paragraphs] + [
        c.text for t in document.tables for r in t.rows for c in r.cells])


def test_a_sealed_case_is_read_only_and_its_files_print_what_was_sealed(
        app, as_user, make_case) -> None:
    office = as_user("reviewer")
    case_id, _photo = sealed_case(as_user, make_case)
    url = f"/api/cases/{case_id}"
    before = office.get(url).get_json()
    for change in ({"subject": "改过的事由"}, {"received_at": "2026-11-21T08:00:00+08:00"},
                   {"unit_id": unit_id("Street B")}, {"external_ref": "CHANGED-1"},
                   {"key": True}, {"leader": "某领导"},
                   {"complainant": {"name": "李四", "phone": None}}):
        answer = office.patch(url, json={"version": before["version"], **change})
        assert answer.status_code == 409, (change, answer.get_json())
        assert answer.get_json()["code"] == "case.closed"
    assert office.get(url).get_json() == before

    # An edit from before sealed cases were read-only, made on the row itself; the file is
    # made again (files are kept per set of seals: dropping the record makes it anew).
    db.session.execute(sa.update(Case).where(Case.id == case_id).values(
        subject="改过的事由", address="改过的地址", external_ref="CHANGED-1",
        result="改过的结果", unit_id=unit_id("Street B"), complainant_name="李四"))
    db.session.execute(sa.delete(ClosureFile))
    db.session.commit()
    docx, answer = download(office, f"{url}/closure-file.docx")
    text = docx_text(docx)
    for sealed, later in (("夜色酒吧深夜噪声扰民", "改过的事由"), ("东湖路88号", "改过的地址"),
                          ("12345-2026-0001", "CHANGED-1"), ("已责令整改，复测达标", "改过的结果"),
                          ("Street A", "Street B")):
        assert sealed in text and later not in text, (sealed, later)
    # The seal holds the complainant as a hash only: a changed one is not printed at all.
    assert "李四" not in text and "张三" not in text
    assert "12345-2026-0001" in answer.headers["Content-Disposition"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClosureFile)) == 1

    walk(office, case_id, ("reopen", params_for("reopen")))  # a reopen makes it editable
    version = office.get(url).get_json()["version"]
    answer = office.patch(url, json={"version": version, "subject": "重开后更正的事由"})
    assert answer.status_code == 200 and answer.get_json()["subject"] == "重开后更正的事由"


NASTY_REFS = ["../../../etc/x", "a/b\\c", "a/b", "C:evil", "x:y*?|", "12345/2026/001", "NUL",
              "COM1", "com1.txt", "", "...", "R" * 120, "a\x01b\x1f\x7f", "ab\u202egpj.exe",
              "\u2066x\u2069", "粤环〔2026〕12号"]
RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(\..*)?", re.IGNORECASE)


def assert_plain(name: str) -> None:
    """A relative path that extracts as itself on Linux, macOS and Windows."""
    parts = name.split("/")
    assert not name.startswith("/") and all(p not in ("", ".", "..") for p in parts), name
    assert not any(ch in '\\:*?"<>|' or unicodedata.category(ch) in ("Cc", "Cf")
                   for ch in name), repr(name)
    assert not any(RESERVED.fullmatch(p) or p.endswith((".", " ")) for p in parts), name
    assert len(parts[0].encode()) <= 255, name


def test_archive_entry_names_are_safe_whatever_the_reference(app, as_user, make_case) -> None:
    """References from other platforms are free text, whatever they hold (these ones as
    they were stored before the text rule): the archive never fails on one."""
    office = as_user("reviewer")
    sealed_id, _photo = sealed_case(as_user, make_case)
    model = db.session.scalar(sa.select(Seal).filter_by(case_id=sealed_id))
    ids = []
    for ref in NASTY_REFS:  # each a closed case sealed with that reference (no photos)
        case_id = make_case()["id"]
        manifest = json.loads(model.manifest)
        manifest["case"] = {**manifest["case"], "id": case_id, "external_ref": ref or None}
        manifest["evidence"] = []
        body = sealing.canonical(manifest)
        db.session.execute(sa.update(Case).where(Case.id == case_id).values(
            status="closed", closed_at=model.sealed_at, external_ref=ref or None))
        db.session.add(Seal(case_id=case_id, number=1, manifest=body.decode(),
                            sha256=hashlib.sha256(body).hexdigest(),
                            object_key=model.object_key, sealed_at=model.sealed_at,
                            sealed_by=model.sealed_by, event_seq=model.event_seq))
        ids.append(case_id)
    db.session.commit()
    data, answer = download(office, "/api/archives.zip?" + "&".join(f"case={i}" for i in ids))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
    for name in names:
        assert_plain(name)
    folders = {n.split("/")[0] for n in names if "/" in n}
    assert len(folders) == len(ids)  # one each: unique, and no reference nested any
    for case_id in ids:
        assert sum(f.endswith(case_id[:8]) or f == case_id for f in folders) == 1, case_id
    assert any(f.startswith("粤环-2026-12号_") for f in folders)  # kept readable
    assert any(f.startswith("12345-2026-001_") for f in folders)
    # A case's own archive: its entries, and the file name it is saved under.
    single, answer = download(office, f"/api/cases/{ids[0]}/archive.zip")  # ../../../etc/x
    with zipfile.ZipFile(io.BytesIO(single)) as z:
        for name in z.namelist():
            assert_plain(name)
        assert any(n.startswith(f"etc-x_{ids[0][:8]}/") for n in z.namelist())
    saved = unquote(answer.headers["Content-Disposition"].rsplit("''", 1)[-1])
    assert_plain(saved)
    assert "/" not in saved and saved.endswith(".zip")


def _every_qr_and_text(pdf: bytes) -> tuple[list[str], str]:
    urls, text = [], ""
    with fitz.open(stream=pdf, filetype="pdf") as doc:
        for page in doc:
            text += page.get_text()
            pix = page.get_pixmap(dpi=150)
            image = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
            urls += [r.text for r in zxingcpp.read_barcodes(image)]
    return urls, text


def test_a_forged_host_never_reaches_a_closure_file(app, as_user, make_case) -> None:
    """Issue 19: the first download's Host header went into the kept file, which every
    later download then served. The address is the configured one, whatever the Host."""
    office = as_user("reviewer")
    case_id, photo = sealed_case(as_user, make_case)
    # The Host a proxy passing anything on would hand over, with the reviewer's session.
    forged = {"HTTP_HOST": "phish.example.com"}
    for cookie in list(office.client._cookies.values()):
        office.client.set_cookie(cookie.key, cookie.value, domain="phish.example.com")
    answer = office.get(f"/api/cases/{case_id}/closure-file.pdf", environ_overrides=forged)
    assert answer.status_code == 200, answer.get_json()
    pdf = answer.get_data()
    urls, text = _every_qr_and_text(pdf)
    base = app.config["PUBLIC_BASE_URL"]
    assert urls == [f"{base}/v/{photo['short_code']}"]
    assert "phish" not in text and b"phish" not in pdf
    docx = office.get(f"/api/cases/{case_id}/closure-file.docx",
                      environ_overrides=forged).get_data()
    assert b"phish" not in docx and "phish" not in docx_text(docx)
    answer = office.get(f"/api/cases/{case_id}/archive.zip", environ_overrides=forged)
    archive = answer.get_data()
    answer.close()
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        assert not any(b"phish" in z.read(n) for n in z.namelist())
    # And later downloads are the same configured bytes.
    assert office.get(f"/api/cases/{case_id}/closure-file.pdf").get_data() == pdf
