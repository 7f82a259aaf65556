"""What the office takes out of the revisits: a sample's answers as XLSX (one row per
respondent, the questions as columns) and a questionnaire as a paper form (PDF)."""

from __future__ import annotations

import io
import subprocess
import uuid
from datetime import datetime

import openpyxl
import pymupdf
import pytest
import sqlalchemy as sa

from server.extensions import db
from server.models import AuditEntry
from tests.test_revisit_sampling import PERIOD, seed_cases

AT = "2026-11-28T19:30:00+08:00"


def _sample(office, share: float = 1.0) -> dict:  # type: ignore[no-untyped-def]
    drawn = office.post("/api/revisit-samples", json={
        **PERIOD, "share": share, "strata": ["unit"], "seed": "xlsx-2026"})
    assert drawn.status_code == 201, drawn.get_json()
    return drawn.get_json()


def _revisit(api, case_id: str, body: dict) -> dict:  # type: ignore[no-untyped-def]
    answer = api.post(f"/api/cases/{case_id}/revisits", json={
        "client_id": str(uuid.uuid4()), "at": AT, **body})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def _person(kind: str, answers: dict, **more) -> dict:  # type: ignore[no-untyped-def]
    return {"client_id": str(uuid.uuid4()), "kind": kind, "answers": answers, **more}


def test_a_samples_revisits_export_as_one_row_per_respondent(app, as_user) -> None:
    seed_cases(3, 2)
    office, revisit = as_user("reviewer"), as_user("revisit")
    sample = _sample(office)
    cases = [c["case_id"] for c in sample["cases"]]
    _revisit(revisit, cases[0], {
        "method": "phone", "questionnaire": {"code": "phone-revisit", "version": 1},
        "respondents": [_person("complainant", {
            "resolved": False, "contacted": True, "satisfaction": "dissatisfied",
            "comments": '=HYPERLINK("http://evil.example","点我")'},
            name="张三", contact="13812341234")]})
    door = {"distance": "within_50m", "affected": "sometimes", "improvement": 4}
    _revisit(revisit, cases[1], {
        "method": "door", "questionnaire": {"code": "residents-survey", "version": 1},
        "respondents": [_person("resident", {**door, "satisfaction": "satisfied"}),
                        _person("business", {**door, "satisfaction": "dissatisfied",
                                             "comments": "+1 还是吵"})]})
    _revisit(revisit, cases[2], {"method": "door"})  # a survey nobody answered yet

    got = office.get(f"/api/revisit-samples/{sample['id']}/export.xlsx")
    assert got.status_code == 200
    assert got.mimetype == ("application/vnd.openxmlformats-officedocument"
                            ".spreadsheetml.sheet")
    assert "attachment" in got.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(got.data))
    ws = book.worksheets[0]
    title = ws["A1"].value
    assert "回访结果" in title and "District" in title  # the units it was drawn over
    assert "2026-01-01 至 2026-12-31" in title and "xlsx-2026" in title
    assert ws.freeze_panes == "A3"
    headings = [c.value for c in ws[2]]
    for text in ("案件编号", "回访时间", "受访人满意度", "您反映的问题现在解决了吗？",
                 "您的住所或单位距该场所多远？"):
        assert text in headings, headings
    rows = [dict(zip(headings, (c.value for c in row), strict=False))
            for row in ws.iter_rows(min_row=3)]
    assert len(rows) == 4  # 1 + 2 respondents, and the survey with none
    call = next(r for r in rows if r["案件编号"] == cases[0])
    assert call["回访方式"] == "电话回访" and call["受访人类别"] == "投诉人"
    assert call["您反映的问题现在解决了吗？"] == "否"
    assert call["受访人满意度"] == "不满意"
    assert call["受访人"] == "张*" and call["联系方式"] == "138****1234"  # masked
    # A real date, the local wall time of the revisit.
    assert isinstance(call["回访时间"], datetime)
    assert call["回访时间"] == datetime(2026, 11, 28, 19, 30)
    # Typed text stays text: never a formula in Excel/WPS.
    comments = [h for h in headings if h and "意见" in h]
    cells = [c for row in ws.iter_rows(min_row=3) for c in row
             if headings[c.column - 1] in comments and c.value]
    assert {c.value for c in cells} == {'=HYPERLINK("http://evil.example","点我")',
                                         "+1 还是吵"}
    assert all(c.data_type == "s" for c in cells)
    scale = next(r for r in rows if r["受访人类别"] == "居民")
    assert isinstance(scale[next(h for h in headings if h and "改善" in h)], int)
    raw = _sheet_xml(got.data)
    assert "<f>" not in raw  # no formula anywhere in the sheet
    # Residents' answers taken out of the system: recorded, by whom.
    taken = db.session.scalars(sa.select(AuditEntry).filter_by(
        action="sample.exported", entity_id=sample["id"])).all()
    assert len(taken) == 1 and taken[0].data["rows"] == 4


def _sheet_xml(data: bytes) -> str:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return z.read("xl/worksheets/sheet1.xml").decode()


def test_the_export_keeps_the_samples_scope(app, as_user) -> None:
    seed_cases(2, 2)
    sample = _sample(as_user("reviewer"))
    url = f"/api/revisit-samples/{sample['id']}/export.xlsx"
    # A reviewer of Street A only does not see a sample over Street B too; an inspector
    # reads no residents' answers.
    assert as_user("reviewer_a").get(url).status_code == 404
    assert as_user("insp_a").get(url).status_code == 403
    assert as_user("revisit").get(url).status_code == 200
    assert as_user("reviewer").get(
        f"/api/revisit-samples/{uuid.uuid4()}/export.xlsx").status_code == 404


def test_a_questionnaire_prints_as_a_paper_form(app, as_user, tmp_path) -> None:
    office = as_user("reviewer")
    got = office.get("/api/questionnaires/residents-survey/form.pdf")
    assert got.status_code == 200 and got.mimetype == "application/pdf"
    assert "attachment" in got.headers["Content-Disposition"]
    doc = pymupdf.open(stream=got.data, filetype="pdf")
    text = "".join(page.get_text() for page in doc).replace("\n", "")
    questions = office.get("/api/questionnaires/residents-survey?version=1").get_json()
    assert questions["title"]["zh"] in text
    for label in ("案件编号", "受访人", "回访日期", "回访人", "受访人签字", "日期"):
        assert label in text
    for q in questions["questions"]:
        assert q["label"]["zh"] in text
        for o in q.get("options") or []:
            assert o["label"]["zh"] in text
    # A box to tick per option: small squares drawn on the page.
    boxes = [d for page in doc for d in page.get_drawings()
             if abs(d["rect"].width - d["rect"].height) < 0.5 and 8 < d["rect"].width < 12]
    options = sum(len(q.get("options") or []) or (q["max"] - q["min"] + 1
                  if q["kind"] == "scale" else 2 if q["kind"] == "yesno" else 0)
                  for q in questions["questions"])
    assert len(boxes) == options
    # Page 1 renders (and was looked at by eye: see the report).
    (tmp_path / "form.pdf").write_bytes(got.data)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1",
                    str(tmp_path / "form.pdf"), str(tmp_path / "page")], check=True)
    assert list(tmp_path.glob("page*.png"))
    # The same version makes the same bytes; an older version by ?version=.
    assert office.get("/api/questionnaires/residents-survey/form.pdf").data == got.data
    assert office.get("/api/questionnaires/nope/form.pdf").status_code == 404
    assert as_user("insp_a").get(
        "/api/questionnaires/residents-survey/form.pdf").status_code == 403


@pytest.mark.parametrize("kind", ["yesno", "multi", "text"])
def test_answer_text_in_each_language(kind: str) -> None:
    from server.domain.revisits.questionnaires import answer_text

    q = {"kind": kind, "options": [{"value": "a", "label": {"zh": "甲", "en": "A"}},
                                   {"value": "b", "label": {"zh": "乙", "en": "B"}}]}
    value = {"yesno": True, "multi": ["a", "b"], "text": "x"}[kind]
    assert answer_text(q, value, "zh") == {"yesno": "是", "multi": "甲、乙", "text": "x"}[kind]
    assert answer_text(q, value, "en") == {"yesno": "Yes", "multi": "A, B", "text": "x"}[kind]


def test_a_revisit_carries_the_question_texts_of_the_version_asked(app, as_user,
                                                                    make_case) -> None:
    case, revisit, admin = make_case(), as_user("revisit"), as_user("admin")
    _revisit(revisit, case["id"], {
        "method": "phone", "questionnaire": {"code": "phone-revisit", "version": 1},
        "respondents": [_person("complainant", {
            "resolved": True, "contacted": True, "satisfaction": "satisfied"})]})
    v1 = admin.get("/api/questionnaires/phone-revisit?version=1").get_json()
    changed = [{**q, "label": {"zh": q["label"]["zh"] + "（新）", "en": q["label"]["en"]}}
               for q in v1["questions"]]
    saved = admin.post("/api/questionnaires", json={
        "code": "phone-revisit", "title": v1["title"], "questions": changed})
    assert saved.status_code == 201, saved.get_json()
    for reader in ("reviewer", "revisit"):
        got = as_user(reader).get(f"/api/cases/{case['id']}/revisits").get_json()["items"][0]
        asked = got["questionnaire"]
        assert asked["version"] == 1
        assert asked["questions"] == v1["questions"]  # zh and en, as asked then
