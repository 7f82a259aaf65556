"""A closure file an office files as is (issue 19), made from the database over HTTP: the
cover names the case's assignees, its approver and the approval's opinion and date, the
issuing office heads it; two photos a page on request; and a batch chosen by closing
period (and unit) instead of by ticking cases."""

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta
from typing import Any

import pymupdf
import sqlalchemy as sa
from docx import Document

from server.extensions import db
from server.models import Case, ClosureFile, User
from tests.closure_facts import submit_ready
from tests.conftest import unit_id
from tests.test_closure_files import download
from tests.test_lifecycle import params_for, walk
from tests.test_seal import approve

OPINION = "整改到位，复测达标，同意办结。"


def closed_case(as_user: Any, make_case: Any, note: str = OPINION, **changes: Any) -> str:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case = make_case(**changes)
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    submit_ready(office, inspector, as_user("revisit"), case["id"])
    assert approve(office, case["id"], note=note).status_code == 200
    return case["id"]


def name_of(username: str) -> str:
    return db.session.scalar(sa.select(User.display_name).where(User.username == username))


def cover(docx: bytes) -> dict[str, str]:
    table = Document(io.BytesIO(docx)).tables[0]
    return {row.cells[0].text: row.cells[1].text for row in table.rows}


def pdf_text(pdf: bytes) -> list[str]:
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        return [page.get_text() for page in doc]


def test_the_cover_names_the_assignees_the_approver_and_the_opinion(app, as_user,
                                                                     make_case) -> None:
    office = as_user("reviewer")
    case_id = closed_case(as_user, make_case)
    docx, _ = download(office, f"/api/cases/{case_id}/closure-file.docx")
    cells = cover(docx)
    assert cells["承办单位"] == "Street A"
    assert cells["承办人"] == name_of("insp_a")  # the case's assignee, blank before
    assert cells["审核人"] == name_of("reviewer")
    assert cells["审核意见"] == OPINION
    assert cells["审核时间"].startswith(f"{date.today().year}年")
    paragraphs = [p.text for p in Document(io.BytesIO(docx)).paragraphs if p.text]
    # "附件" and the issuing office (the top unit above Street A) head the cover.
    assert paragraphs[:3] == ["附件", "District", "环境信访案件办结材料"]
    first = pdf_text(download(office, f"/api/cases/{case_id}/closure-file.pdf")[0])[0]
    assert first.startswith("附件\nDistrict\n")
    for words in (OPINION, name_of("insp_a"), "承办人（签字）", "承办单位（盖章）"):
        assert words in first, words


def test_a_configured_office_name_heads_the_file(app, as_user, make_case) -> None:
    app.config["OFFICE_NAME"] = "某市生态环境局"
    office = as_user("reviewer")
    case_id = closed_case(as_user, make_case)
    docx, _ = download(office, f"/api/cases/{case_id}/closure-file.docx")
    paragraphs = [p.text for p in Document(io.BytesIO(docx)).paragraphs if p.text]
    assert paragraphs[:2] == ["附件", "某市生态环境局"]


def test_two_photos_a_page_is_a_file_of_its_own(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    case_id = closed_case(as_user, make_case)
    one, _ = download(office, f"/api/cases/{case_id}/closure-file.pdf")
    two, _ = download(office, f"/api/cases/{case_id}/closure-file.pdf?per_page=2")
    assert one != two  # not the one-a-page file served from the store
    assert download(office, f"/api/cases/{case_id}/closure-file.pdf?per_page=2")[0] == two
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClosureFile)) == 2
    answer = office.get(f"/api/cases/{case_id}/closure-file.docx?per_page=3")
    assert answer.status_code == 422


def test_a_batch_by_closing_period_and_unit(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    first = closed_case(as_user, make_case)
    second = closed_case(as_user, make_case, subject="某烧烤店油烟扰民",
                         category="cooking_fumes")
    today = date.today()
    # A case closed last month is not in this month's batch.
    closed_at = db.session.scalar(sa.select(Case.closed_at).where(Case.id == second))
    db.session.execute(sa.update(Case).where(Case.id == second).values(
        closed_at=closed_at - timedelta(days=40)))
    db.session.commit()
    period = f"closed_from={today - timedelta(days=1)}&closed_to={today + timedelta(days=1)}"
    pdf, answer = download(office, f"/api/closure-files.pdf?{period}")
    text = "".join(pdf_text(pdf))
    assert "夜色酒吧深夜噪声扰民" in text and "某烧烤店油烟扰民" not in text
    wide = f"closed_from={today - timedelta(days=60)}&closed_to={today + timedelta(days=1)}"
    pdf, _ = download(office, f"/api/closure-files.pdf?{wide}&unit={unit_id('Street A')}")
    text = "".join(pdf_text(pdf))
    # Both, in the order they were closed.
    assert text.index("某烧烤店油烟扰民") < text.index("夜色酒吧深夜噪声扰民")
    # The district names its streets' cases too.
    docx, _ = download(office, f"/api/closure-files.docx?{wide}&unit={unit_id('District')}"
                               "&per_page=2&public=1")
    assert docx[:2] == b"PK"
    archive, answer = download(office, f"/api/archives.zip?{period}")
    assert answer.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        folders = {n.split("/")[0] for n in zf.namelist() if "/originals/" in n}
    assert len(folders) == 1 and folders.pop().endswith(first[:8])  # this month's one case

    none = office.get(f"/api/closure-files.pdf?{wide}&unit={unit_id('Street B')}")
    assert none.status_code == 422 and none.get_json()["code"] == "closure.none_in_period"
    backwards = office.get(f"/api/closure-files.pdf?closed_from={today}"
                           f"&closed_to={today - timedelta(days=1)}")
    assert backwards.status_code == 422 and backwards.get_json()["code"] == "closure.bad_period"
    for bad in (f"case={first}&{period}", f"closed_from={today}", ""):
        assert office.get(f"/api/closure-files.pdf?{bad}").status_code == 422, bad
    # Another unit's reviewer sees nothing of Street A's in the period.
    other = as_user("reviewer_a")
    assert other.get(f"/api/closure-files.pdf?{wide}&unit={unit_id('Street B')}"
                     ).get_json()["code"] == "closure.none_in_period"
    assert as_user("insp_a").get(f"/api/closure-files.pdf?{period}").status_code == 403
