"""Revisits on the phone (390 px, night mode): a phone revisit (the number revealed with a
reason, a tel: link, the questionnaire filled in and sent), "unreachable" after three
failed calls, and a door-to-door survey of 22 residents taken with no signal, kept across
a reload and sent once the signal is back, each respondent exactly once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from server.extensions import db
from server.models import CaseEvent, Evidence, Respondent, Revisit
from tests.conftest import login as api_login
from tests.e2e.conftest import HERE
from tests.e2e.helpers import (
    HOLD_DRAFT_SAVES,
    PHOTOS,
    bar_case_id,
    login,
    nudge_until,
    revisit_task,
    spread_calls,
    wait_for_service_worker,
)

SHOTS = Path("/tmp/shots")
BAR_PHONE = "13812341234"  # the demo complainant of 夜色酒吧


def night_mode(page: Any) -> None:
    page.evaluate("localStorage.setItem('fieldcase.red', '1')")
    page.reload()
    page.wait_for_selector("body.red")


def shot(page: Any, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=full_page)


def open_case_page(page: Any, case_id: str) -> None:
    page.goto(f"/#/case/{case_id}")
    page.wait_for_selector(f".case-page[data-case-id='{case_id}'] #revisit-buttons")


def revisits_of(live: Any, case_id: str) -> list[dict]:
    client = api_login(live.app, "revisit", "fieldcase-demo")
    answer = client.get(f"/api/cases/{case_id}/revisits")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["items"]


def reveal(page: Any) -> None:
    page.click("#reveal")  # no reason yet: refused on the phone, nothing shown
    page.wait_for_selector("#reveal-error:not([hidden])")
    assert page.locator("#call-link").count() == 0
    page.click("#quick-reason")
    page.click("#reveal")
    page.wait_for_selector("#call-link")


def test_phone_revisit_reveals_calls_and_sends_the_questionnaire(phone, live):  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page = phone.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, "revisit")
    night_mode(page)
    case_id = bar_case_id(live)
    revisit_task(live, case_id)  # the number is shown only for a case theirs to call
    open_case_page(page, case_id)
    # The revisit team records no checks.
    assert page.locator("#start-check").count() == 0
    page.click("#start-phone-revisit")
    page.wait_for_selector("#reveal-box")
    assert BAR_PHONE not in page.content()  # masked until the reveal
    reveal(page)
    link = page.locator("#call-link")
    assert link.get_attribute("href") == f"tel:{BAR_PHONE}"
    assert BAR_PHONE in link.inner_text()
    with live.app.app_context():  # the reveal is on the case's record, with its reason
        events = db.session.scalars(sa.select(CaseEvent).filter_by(
            case_id=case_id, kind="complainant_revealed")).all()
        assert [e.data["reason"] for e in events] == ["电话回访：了解处理结果及满意度"]
        db.session.remove()
    shot(page, "revisit_390_night.png")

    page.click("#outcomes [data-outcome=answered]")
    page.wait_for_selector("#questionnaire-form:not([hidden]) .question")
    assert page.locator("#attempt-list li[data-outcome=answered]").count() == 1
    # Chinese labels from the template, required marks, the satisfaction question marked.
    form = page.locator("#questions")
    assert "您反映的问题现在解决了吗？" in form.inner_text()
    assert form.locator(".question[data-required] .req").count() == 3
    assert form.locator(".question.satisfaction").count() == 1
    page.click("#save-revisit")  # nothing answered: each required question says so
    page.wait_for_selector(".question[aria-invalid=true]")
    assert page.locator(".question[aria-invalid=true]").count() == 3
    assert revisits_of(live, case_id) == []
    page.check("input[name=q-resolved][value=true]")
    page.check("input[name=q-contacted][value=true]")
    page.check("input[name=q-satisfaction][value=basically_satisfied]")
    page.fill("textarea[name=q-comments]", "晚上十点后基本听不到了")
    page.fill("#revisit-notes", "投诉人表示基本满意")
    shot(page, "questionnaire_390_night.png")
    shot(page, "questionnaire_390_night_full.png", full_page=True)
    # Half-way through the call the phone restarts: the answers are still there.
    page.reload()
    page.wait_for_selector("#questionnaire-form:not([hidden]) .question")
    assert page.locator("input[name=q-satisfaction][value=basically_satisfied]").is_checked()
    assert page.locator("input[name=q-resolved][value=true]").is_checked()
    assert page.locator("textarea[name=q-comments]").input_value() == "晚上十点后基本听不到了"
    assert page.locator("#revisit-notes").input_value() == "投诉人表示基本满意"
    page.click("#save-revisit")
    page.wait_for_selector(f".case-page[data-case-id='{case_id}']")
    page.wait_for_selector("#revisits .revisit-row[data-method=phone][data-outcome=reached]",
                           timeout=60000)

    [revisit] = revisits_of(live, case_id)
    assert (revisit["method"], revisit["outcome"], revisit["satisfaction"]) \
        == ("phone", "reached", "basically_satisfied")
    assert revisit["questionnaire"]["code"] == "phone-revisit"
    assert [a["outcome"] for a in revisit["attempts"]] == ["answered"]
    [who] = revisit["respondents"]
    assert who["kind"] == "complainant"
    assert who["answers"] == {"resolved": True, "contacted": True,
                              "satisfaction": "basically_satisfied",
                              "comments": "晚上十点后基本听不到了"}
    assert revisit["notes"] == "投诉人表示基本满意"
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-empty")
    assert errors == []


def test_unreachable_after_three_failed_calls(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    login(page, "revisit")
    case_id = bar_case_id(live)
    revisit_task(live, case_id)
    open_case_page(page, case_id)
    page.click("#start-phone-revisit")
    page.wait_for_selector("#reveal-box")
    reveal(page)
    # Three calls in a row are one try: no "unreachable" yet.
    for outcome in ("no_answer", "no_answer", "busy"):
        page.click(f"#outcomes [data-outcome={outcome}]")
    page.wait_for_function("document.querySelectorAll('#attempt-list li').length === 3")
    assert page.locator("#unreachable-box").is_hidden()
    for _ in range(3):
        page.click("#undo-attempt")
    page.wait_for_selector("#no-attempts")
    # A call is listed once it is stored on the phone.
    spread_calls(page, ("no_answer", "busy"))
    assert page.locator("#unreachable-box").is_hidden()  # two calls are a gap, not a result
    # The calls are kept on the phone: a reload (or a crash) loses none of them.
    page.reload()
    page.wait_for_selector("#attempt-list")
    assert page.locator("#attempt-list li").count() == 2
    assert page.locator("#call-link").count() == 0  # the number is not kept: reveal again
    page.clock.set_fixed_time(datetime.now(UTC) - timedelta(minutes=5))
    page.click("#outcomes [data-outcome=switched_off]")
    page.wait_for_selector("#unreachable-box:not([hidden])")
    page.click("#save-unreachable")  # a reason is required
    page.wait_for_selector("#unreachable-error:not([hidden])")
    page.fill("#unreachable-reason", "三次拨打均未接通，号码关机")
    page.click("#save-unreachable")
    page.wait_for_selector("#revisits .revisit-row[data-outcome=unreachable]", timeout=60000)
    [revisit] = revisits_of(live, case_id)
    assert revisit["outcome"] == "unreachable"
    assert revisit["respondents"] == []
    assert [a["outcome"] for a in revisit["attempts"]] == ["no_answer", "busy", "switched_off"]
    assert revisit["unreachable_reason"] == "三次拨打均未接通，号码关机"
    assert "无法联系" in page.locator("#revisits").inner_text()



def test_a_call_logged_as_the_revisit_opens_is_kept(phone, live):  # type: ignore[no-untyped-def]
    """The revisit's screen stores its draft as it opens; a call's outcome tapped during
    that first save is logged once the save is done (the screen used to wire its buttons
    only after the save, and the tap did nothing)."""
    page = phone.new_page()
    login(page, "revisit")
    case_id = bar_case_id(live)
    revisit_task(live, case_id)
    open_case_page(page, case_id)
    page.evaluate(HOLD_DRAFT_SAVES)
    page.click("#start-phone-revisit")
    page.click("#outcomes [data-outcome=no_answer]")
    page.wait_for_function("window.held.drafts.length > 0")  # the first save is held
    page.evaluate("window.release('drafts')")
    page.wait_for_selector("#attempt-list li[data-outcome=no_answer]", timeout=15000)
    page.reload()  # the call is on the phone, not only on the screen
    page.wait_for_selector("#attempt-list li[data-outcome=no_answer]")
    assert page.locator("#attempt-list li").count() == 1


ANSWERS = [  # (distance, affected, improvement, satisfaction) for each resident, in turn
    ("within_50m", "never", 5, "satisfied"),
    ("50_200m", "sometimes", 4, "basically_satisfied"),
    ("over_200m", "never", 5, "satisfied"),
]


def add_respondent(page: Any, n: int) -> None:
    distance, affected, improvement, satisfaction = ANSWERS[n % len(ANSWERS)]
    form = page.locator("#respondent-form")
    form.locator(f"input[name=q-distance][value='{distance}']").check()
    form.locator(f"input[name=q-affected][value='{affected}']").check()
    form.locator(f"input[name=q-improvement][value='{improvement}']").check()
    if n % 5 == 0:
        form.locator("input[name=q-when][value=late_night]").check()
    form.locator(f"input[name=q-satisfaction][value={satisfaction}]").check()
    page.click("#save-respondent")
    page.wait_for_function(
        f"document.querySelector('#respondent-count').textContent === '{n}'")


def test_door_survey_of_22_offline_survives_a_reload_and_syncs_once(phone, live):  # type: ignore[no-untyped-def]
    errors: list[str] = []
    page = phone.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, "revisit")
    wait_for_service_worker(page)
    night_mode(page)
    case_id = bar_case_id(live)
    open_case_page(page, case_id)  # online once: the questionnaires are now on the phone

    phone.set_offline(True)
    page.click("#start-survey")
    page.wait_for_selector("#begin-survey")
    page.click("#begin-survey")
    page.wait_for_selector("#respondent-form .question")
    survey_url = page.url
    for n in range(1, 23):
        add_respondent(page, n)
    shot(page, "survey_390_night.png")
    # A photo of the block's door, filed with the survey once it is sent.
    page.set_input_files("#survey-photo-input", str(PHOTOS[1]))
    page.wait_for_function(
        "document.querySelector('#survey-photo-count').textContent.startsWith('1')")
    page.reload()  # still offline: the service worker serves the shell, IndexedDB the rest
    page.wait_for_selector("#respondents li.respondent")
    assert page.url == survey_url
    assert page.locator("#respondent-count").inner_text() == "22"
    assert page.locator("#respondents li[data-state=queued]").count() == 22
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-list")
    assert page.locator("#outbox-list .outbox-item[data-kind=respondent]").count() == 22
    assert page.locator("#outbox-list .outbox-item[data-kind=revisit]").count() == 1
    assert page.locator("#outbox-list .outbox-item[data-kind=evidence]").count() == 1
    with live.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Revisit)
                                 .filter_by(case_id=case_id)) == 0
        db.session.remove()

    # Back online, on a slow line (each respondent takes the server a while): the outbox
    # shows how far it got.
    wsgi = live.app.wsgi_app

    def slowly(environ: dict, start_response: Any) -> Any:
        if environ["PATH_INFO"].endswith("/respondents"):
            time.sleep(0.15)
        return wsgi(environ, start_response)

    live.app.wsgi_app = slowly
    phone.set_offline(False)  # the app starts sending by itself once the server answers
    page.wait_for_selector("#sync-progress:not([hidden])")
    assert "/" in page.locator("#sync-progress").inner_text()
    page.wait_for_selector("#outbox-empty", timeout=90000)

    [revisit] = revisits_of(live, case_id)
    assert revisit["method"] == "door"
    assert revisit["questionnaire"]["code"] == "residents-survey"
    assert len(revisit["respondents"]) == 22
    assert len({r["client_id"] for r in revisit["respondents"]}) == 22
    assert revisit["location"]["lat"] == HERE["latitude"]
    assert revisit["location"]["lon"] == HERE["longitude"]
    assert revisit["outcome"] == "reached" and revisit["satisfaction"] == "satisfied"
    with live.app.app_context():  # exactly once: no respondent stored twice
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Respondent).join(
            Revisit, Revisit.id == Respondent.revisit_id).filter(
            Revisit.case_id == case_id)) == 22
        [photo] = db.session.scalars(sa.select(Evidence).filter_by(case_id=case_id)).all()
        assert photo.revisit_id == revisit["id"] and photo.state == "stored"
        db.session.remove()
    page.goto(survey_url)
    page.wait_for_selector("#respondents li[data-state=sent]")
    assert page.locator("#respondents li[data-state=sent]").count() == 22
    assert errors == []


def test_an_interview_is_recorded_only_with_consent_and_filed_under_its_respondent(
        playwright_driver, live, tmp_path):  # type: ignore[no-untyped-def]
    """MediaRecorder on Chromium's fake microphone: the recorder appears only once consent
    is ticked; the recording goes through the evidence intake after its respondent, as
    audio/webm (no codecs parameter) with the respondent's server id."""
    from tests.e2e.conftest import CHROMIUM, FLAGS

    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "mic"), executable_path=CHROMIUM, headless=True,
        args=[*FLAGS, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"],
        bypass_csp=True, viewport={"width": 390, "height": 844}, is_mobile=True,
        has_touch=True, locale="zh-CN", timezone_id="Asia/Shanghai", base_url=live.url,
        geolocation=HERE, permissions=["geolocation", "microphone"])
    context.set_default_timeout(30000)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, "revisit")
        case_id = bar_case_id(live)
        open_case_page(page, case_id)
        page.click("#start-survey")
        page.click("#begin-survey")
        page.wait_for_selector("#respondent-form .question")
        assert page.locator("#recorder").is_hidden()  # no consent, no recorder
        page.check("#audio-consent")
        page.wait_for_selector("#record", state="visible")
        page.click("#record")
        page.wait_for_function(
            "document.querySelector('#record-state').textContent === '正在录音…'")
        page.wait_for_timeout(1500)
        page.click("#record")
        page.wait_for_function(
            "document.querySelector('#record-state').textContent.startsWith('已录音')")
        add_respondent(page, 1)
        page.goto("/#/outbox")
        page.wait_for_selector("#outbox-empty", timeout=60000)
        [revisit] = revisits_of(live, case_id)
        [who] = revisit["respondents"]
        assert who["audio_consent"] is True
        with live.app.app_context():
            [recording] = db.session.scalars(sa.select(Evidence).where(
                Evidence.respondent_id.is_not(None))).all()
            assert recording.respondent_id == who["id"]
            assert recording.state == "stored"
            assert recording.content_type == "audio/webm"
            assert recording.duration_s and recording.duration_s > 0.5
            db.session.remove()
        assert errors == []
    finally:
        context.close()


def test_the_new_screens_keep_the_content_security_policy(playwright_driver, live):  # type: ignore[no-untyped-def]
    """The revisit, survey and full-record screens under the app's real policy (no
    bypass): no inline script or style anywhere in them."""
    import uuid

    from tests.e2e.conftest import CHROMIUM, FLAGS

    refused: list[str] = []
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                args=FLAGS)
    try:
        page = browser.new_page(viewport={"width": 390, "height": 844}, base_url=live.url,
                                locale="zh-CN")
        page.on("console", lambda m: refused.append(m.text)
                if "Content Security Policy" in m.text or "Refused to" in m.text else None)
        login(page, "admin")  # both a field and a revisit role
        case_id = bar_case_id(live)
        for hash_, ready in ((f"#/case/{case_id}", "#revisit-buttons"),
                             (f"#/revisit/{case_id}/{uuid.uuid4()}", "#reveal"),
                             (f"#/survey/{case_id}/{uuid.uuid4()}", "#begin-survey"),
                             (f"#/check/{case_id}/{uuid.uuid4()}", "#full-record")):
            page.goto(f"/{hash_}")
            page.wait_for_selector(ready)
        page.click("#full-record-toggle")
        page.wait_for_selector("#nr_meter_model")
        page.goto(f"/#/survey/{case_id}/{uuid.uuid4()}")
        page.click("#begin-survey")
        page.wait_for_selector("#respondent-form .question")
        page.wait_for_timeout(300)
    finally:
        browser.close()
    assert refused == []


def test_in_english_the_questionnaire_speaks_english(phone, live):  # type: ignore[no-untyped-def]
    page = phone.new_page()
    login(page, "revisit")
    page.evaluate("localStorage.setItem('fieldcase.lang', 'en')")
    night_mode(page)
    case_id = bar_case_id(live)
    open_case_page(page, case_id)
    assert page.locator("#start-phone-revisit").inner_text() == "Phone revisit"
    page.click("#start-phone-revisit")
    page.wait_for_selector("#reveal")
    page.click("#outcomes [data-outcome=answered]")
    form = page.locator("#questions")
    form.locator(".question").first.wait_for()
    assert "Has the problem you reported been solved?" in form.inner_text()
    assert "Basically satisfied" in form.inner_text()
    assert "您反映" not in form.inner_text()
    shot(page, "questionnaire_390_night_en.png", full_page=True)
    page.goto(f"/#/survey/{case_id}/{'0' * 8}-0000-4000-8000-{'0' * 12}")
    page.click("#begin-survey")
    page.wait_for_selector("#respondent-form .question")
    assert "Neighbourhood residents' survey" in page.locator("#respondent-form").inner_text()
    shot(page, "survey_390_night_en.png", full_page=True)


def test_a_sampled_case_is_on_the_revisit_users_list_until_revisited(phone, live):  # type: ignore[no-untyped-def]
    """Seed 000's spot check: the office draws a sample and assigns it; the revisit user
    finds the calls to make on top of the case list, each gone once revisited."""
    office = api_login(live.app, "reviewer", "fieldcase-demo")
    now = datetime.now(UTC)
    drawn = office.post("/api/revisit-samples", json={
        "from": (now - timedelta(days=3650)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(), "share": 1.0, "seed": "e2e"})
    assert drawn.status_code == 201, drawn.get_json()
    sample = drawn.get_json()
    people = office.get("/api/users?role=revisit").get_json()["items"]
    assigned = office.post(f"/api/revisit-samples/{sample['id']}/assign",
                           json={"user_ids": [people[0]["id"]]})
    assert assigned.status_code == 200, assigned.get_json()
    cases = [c["case_id"] for c in sample["cases"]]
    assert cases

    page = phone.new_page()
    login(page, "revisit")
    tasks = page.locator("#revisit-tasks a[data-case-id]")
    tasks.first.wait_for()
    assert sorted(tasks.evaluate_all("as => as.map(a => a.dataset.caseId)")) == sorted(cases)
    first = cases[0]
    page.click(f"#revisit-tasks a[data-case-id='{first}']")
    page.wait_for_selector("#revisit-buttons")
    page.click("#start-phone-revisit")
    page.wait_for_selector("#reveal")
    spread_calls(page, ("no_answer", "no_answer", "busy"))
    page.fill("#unreachable-reason", "三次未接通")
    page.click("#save-unreachable")
    page.wait_for_selector("#revisits .revisit-row[data-outcome=unreachable]", timeout=60000)
    page.goto("/#/cases")
    page.wait_for_selector("#revisit-tasks")
    left = page.locator("#revisit-tasks a[data-case-id]").evaluate_all(
        "as => as.map(a => a.dataset.caseId)")
    assert first not in left and len(left) == len(cases) - 1


def test_a_refused_respondent_stays_visible_with_the_servers_reason(phone, live):  # type: ignore[no-untyped-def]
    import json

    page = phone.new_page()
    login(page, "revisit")
    case_id = bar_case_id(live)
    open_case_page(page, case_id)
    seen: list[str] = []

    def refuse_the_second(route: Any) -> None:
        """The server refuses the second respondent (every time it is offered)."""
        client_id = json.loads(route.request.post_data or "{}")["client_id"]
        if client_id not in seen:
            seen.append(client_id)
        if seen.index(client_id) != 1:
            route.continue_()
            return
        route.fulfill(status=422, content_type="application/problem+json", body=json.dumps({
            "type": "about:blank", "title": "Unprocessable", "status": 422,
            "code": "revisit.invalid", "detail": "The respondent's answers are not right",
            "errors": {"answers": {"improvement": ["A whole number from 1 to 5."]}}}))

    phone.route("**/api/revisits/*/respondents", refuse_the_second)
    page.click("#start-survey")
    page.click("#begin-survey")
    page.wait_for_selector("#respondent-form .question")
    for n in (1, 2, 3):
        add_respondent(page, n)
    page.goto("/#/outbox")
    item = page.locator(".outbox-item[data-kind=respondent][data-item-state=failed]")
    item.wait_for(timeout=60000)
    assert "improvement" in item.inner_text() and "A whole number from 1 to 5." in item.inner_text()
    assert item.locator("[data-retry]").count() == 1
    nudge_until(page, "document.querySelectorAll('#outbox-list .outbox-item').length === 1")
    [revisit] = revisits_of(live, case_id)
    assert len(revisit["respondents"]) == 2
    page.go_back()  # the survey lists it too, refused, with why
    page.wait_for_selector("#respondents li[data-state=failed]")
    assert "A whole number" in page.locator("#respondents li[data-state=failed]").inner_text()
