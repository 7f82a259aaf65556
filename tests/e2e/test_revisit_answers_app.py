"""What residents said, in the office's browser: every questionnaire's answers under their
question texts (the version asked, in the user's language), the dissatisfied marked, on
the case page and the reviewer's desk, at 390 px and at a desk; and the interview
recording as a player under its respondent, never a photo card in the gallery."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

from tests.conftest import login as api_login
from tests.conftest import send_upload
from tests.e2e.helpers import bar_case_id, login

PASSWORD = "fieldcase-demo"
AUDIO = Path(__file__).resolve().parents[3] / "shared" / "samples" / "audio"
AT = "2026-12-01T10:00:00+08:00"
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SHOTS = Path("/tmp/shots")  # looked at by eye


def _person(kind: str, answers: dict, **more: Any) -> dict:
    return {"client_id": str(uuid.uuid4()), "kind": kind, "answers": answers, **more}


def revisits_with_a_recording(live: Any, case_id: str) -> dict:
    """A door survey (two residents, the second dissatisfied and recorded) and a phone
    call, through the API as the revisit team records them."""
    revisit = api_login(live.app, "revisit", PASSWORD)
    door = {"distance": "within_50m", "affected": "often", "improvement": 2,
            "when": ["evening", "late_night"]}
    survey = revisit.post(f"/api/cases/{case_id}/revisits", json={
        "client_id": str(uuid.uuid4()), "method": "door", "at": AT,
        "questionnaire": {"code": "residents-survey", "version": 1},
        "respondents": [
            _person("resident", {**door, "affected": "never", "satisfaction": "satisfied"}),
            _person("resident", {**door, "satisfaction": "dissatisfied",
                                 "comments": "晚上十点后还是很吵"}, audio_consent=True)]})
    assert survey.status_code == 201, survey.get_json()
    survey = survey.get_json()
    unhappy = survey["respondents"][1]
    data = (AUDIO / "interview.webm").read_bytes()
    declared = revisit.post("/api/evidence", json={
        "client_id": str(uuid.uuid4()), "case_id": case_id,
        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        "content_type": "audio/webm", "captured_at": AT, "respondent_id": unhappy["id"],
        "photographer": "回访员", "place": "东湖路88号", "caption": "回访录音"})
    assert declared.status_code == 201, declared.get_json()
    body = declared.get_json()
    assert send_upload(revisit, body["upload"], data) in (200, 201, 204)
    done = revisit.post(f"/api/evidence/{body['id']}/complete")
    assert done.status_code == 200, done.get_json()
    return {"survey": survey, "unhappy": unhappy, "recording": done.get_json()}


def check_answers(page: Any, root: str, made: dict, width: int) -> None:
    block = page.locator(f"{root} [data-revisit-id='{made['survey']['id']}'] .revisit-answers")
    block.wait_for()
    text = block.inner_text()
    assert "您的住所或单位距该场所多远？" in text and "50米以内" in text
    assert "傍晚、夜间22点后" in text  # a multi answer, by its options' labels
    assert "晚上十点后还是很吵" in text
    unhappy = block.locator(f".respondent[data-respondent-id='{made['unhappy']['id']}']")
    assert "dissatisfied" in unhappy.get_attribute("class")
    assert block.locator(".respondent.dissatisfied").count() == 1
    assert unhappy.locator("mark").inner_text() == "不满意"
    # The recording plays under its respondent: a player, loaded when asked.
    player = unhappy.locator("audio[controls]")
    assert player.count() == 1
    player.evaluate("a => { a.preload = 'metadata'; a.load(); }")
    page.wait_for_function("a => a.readyState >= 1 && a.duration > 30", arg=player.element_handle())
    # Never a "照片N · audio/webm" card among the photos.
    assert "audio/" not in page.locator("main, body").first.inner_text()
    assert page.locator(f"[data-evidence-id='{made['recording']['id']}']").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SHOTS.mkdir(parents=True, exist_ok=True)
    block.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"revisit-answers-{root.strip('#.')}-{width}.png"))


def test_office_reads_every_answer_and_hears_the_recording(  # type: ignore[no-untyped-def]
        browser, live):
    case_id = bar_case_id(live)
    made = revisits_with_a_recording(live, case_id)
    errors: list[str] = []
    for viewport in (PHONE, DESK):
        context = browser.new_context(viewport=viewport, base_url=live.url, locale="zh-CN",
                                      timezone_id="Asia/Shanghai", bypass_csp=True)
        context.set_default_timeout(30000)
        try:
            page = context.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            login(page, "reviewer")
            page.goto(f"/#/case/{case_id}")
            check_answers(page, "#revisits", made, viewport["width"])
            assert page.locator("#gallery audio, #gallery [data-evidence-id='"
                                f"{made['recording']['id']}']").count() == 0
            page.goto(f"/#/review/{case_id}")
            page.wait_for_selector("#review")
            check_answers(page, ".review-main", made, viewport["width"])
            assert page.locator(f"#review-gallery [data-evidence-id='"
                                f"{made['recording']['id']}']").count() == 0
            # In English: the questions' English texts, from the version asked.
            page.click("#lang")
            page.goto(f"/#/case/{case_id}")
            block = page.locator(f"[data-revisit-id='{made['survey']['id']}'] .revisit-answers")
            block.wait_for()
            page.wait_for_function(
                "() => document.querySelector('.revisit-answers')?.innerText"
                ".includes('How far from the site do you live or work?')")
            assert "Within 50 m" in block.inner_text()
            assert block.locator(".respondent.dissatisfied mark").inner_text() == "Dissatisfied"
            page.click("#lang")  # back to Chinese for the next context's login
        finally:
            context.close()
    assert errors == []


def test_office_takes_out_the_results_and_the_paper_form(  # type: ignore[no-untyped-def]
        browser, live, tmp_path):
    import io
    import zipfile

    import pymupdf

    office = api_login(live.app, "reviewer", PASSWORD)
    drawn = office.post("/api/revisit-samples", json={
        "from": "2000-01-01T00:00:00+08:00", "to": "2100-01-01T00:00:00+08:00",
        "share": 1.0, "strata": ["unit"], "seed": "e2e-export"})
    assert drawn.status_code == 201, drawn.get_json()
    sample = drawn.get_json()
    context = browser.new_context(viewport=DESK, base_url=live.url, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", bypass_csp=True,
                                  accept_downloads=True)
    context.set_default_timeout(30000)
    try:
        page = context.new_page()
        login(page, "admin")
        page.goto(f"/#/samples/{sample['id']}")
        page.wait_for_selector("#export-sample")
        with page.expect_download() as got:
            page.click("#export-sample")
        path = tmp_path / "results.xlsx"
        got.value.save_as(path)
        assert got.value.suggested_filename.endswith(".xlsx")
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as z:
            assert "xl/worksheets/sheet1.xml" in z.namelist()

        page.goto("/#/admin")
        link = page.locator(".q-item[data-code='residents-survey'] a.print-form")
        link.wait_for()
        assert link.inner_text() == "纸质问卷（PDF）"
        with page.expect_download() as got:
            link.click()
        path = tmp_path / "form.pdf"
        got.value.save_as(path)
        text = pymupdf.open(path)[0].get_text()
        assert "周边居民满意度调查问卷" in text and "受访人签字" in text
    finally:
        context.close()
