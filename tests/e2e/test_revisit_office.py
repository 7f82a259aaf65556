"""The office's revisit desks in the browser: a sample of handled cases drawn at desk width
(1280x800) from a fixed seed, its allocation and figures, assigned to the revisit user
who finds the cases on "我的回访任务", and its figures moving once revisits come in; the
admin's questionnaire editor saving a new version and showing a bad one's errors by the
question; and a paper questionnaire entered on the survey screen (no location recorded).
Screenshots go to /tmp/shots/ (desk width, and phones at 390x844 in night mode)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.closure_facts import submit_ready
from tests.conftest import login as api_login
from tests.e2e.conftest import CHROMIUM, FLAGS, HERE
from tests.e2e.helpers import bar_case_id, ids, login
from tests.test_lifecycle import walk

SHOTS = Path("/tmp/shots")
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "fieldcase-demo"
# Handled cases received in June 2026 (the demo's own are received in the last days, so
# the sample's population is these alone): (street, channel, closed?).
JUNE = [("东湖街道", "hotline_12345", True), ("东湖街道", "hotline_12345", False),
        ("东湖街道", "hotline_12345", True), ("东湖街道", "hotline_12345", True),
        ("东湖街道", "hotline_12345", False), ("东湖街道", "online", True),
        ("东湖街道", "online", True), ("东湖街道", "online", False),
        ("西城街道", "hotline_12345", True), ("西城街道", "hotline_12345", False),
        ("西城街道", "online", True), ("西城街道", "online", True)]
FIELD = {"东湖街道": "inspector", "西城街道": "inspector2"}


def shot(page: Any, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=full_page)


def handled_cases(live: Any) -> list[str]:
    """Received, dispatched, handled (and most closed) through the API, as the office and
    the streets' inspectors do it."""
    units, users = ids(live)
    office = api_login(live.app, "reviewer", PASSWORD)
    field = {name: api_login(live.app, name, PASSWORD) for name in set(FIELD.values())}
    revisit = api_login(live.app, "revisit", PASSWORD)
    made = []
    for n, (street, channel, close) in enumerate(JUNE, start=1):
        answer = office.post("/api/cases", json={
            "channel": channel, "category": "noise_social", "subject": f"六月噪声投诉 {n}",
            "address": f"{street}某路{n}号", "description": "夜间噪声扰民",
            "complainant": {"name": "张三", "phone": f"1381234{n:04d}"},
            "location": {"lat": 60.1467, "lon": 24.9068},  # where the photo filed was taken
            "received_at": f"2026-06-{n:02d}T20:00:00+08:00", "unit_id": units[street]})
        assert answer.status_code == 201, answer.get_json()
        case_id = answer.get_json()["id"]
        inspector = FIELD[street]
        walk(office, case_id, ("dispatch", {"unit_id": units[street],
                                            "assignee_ids": [users[inspector]]}))
        walk(field[inspector], case_id, ("start", {}))
        if close:  # closing needs the checklist met (its revisit precedes any sample)
            submit_ready(office, field[inspector], revisit, case_id)
            walk(office, case_id, ("approve", {}))
        else:
            walk(field[inspector], case_id,
                 ("submit", {"verdict": "true", "result": "已责令整改，复查达标"}))
        made.append(case_id)
    return made


def record_revisit(live: Any, case_id: str, satisfaction: str) -> None:
    revisit = api_login(live.app, "revisit", PASSWORD)
    answer = revisit.post(f"/api/cases/{case_id}/revisits", json={
        "client_id": str(uuid.uuid4()), "method": "phone", "at": "2026-12-01T10:00:00+08:00",
        "questionnaire": {"code": "phone-revisit", "version": 1},
        "attempts": [{"at": "2026-12-01T10:00:00+08:00", "outcome": "answered"}],
        "respondents": [{"client_id": str(uuid.uuid4()), "kind": "complainant", "answers": {
            "resolved": satisfaction != "dissatisfied", "contacted": True,
            "satisfaction": satisfaction}, "satisfaction": satisfaction}]})
    assert answer.status_code == 201, answer.get_json()


def figure(page: Any, name: str) -> tuple[str, str, str]:
    tile = page.locator(f"#figures [data-figure={name}]")
    return (tile.locator(".figure-rate").inner_text(), tile.locator(".numerator").inner_text(),
            tile.locator(".denominator").inner_text())


def new_context(driver: Any, live: Any, tmp_path: Path, name: str, viewport: dict,
                **extra: Any) -> Any:
    context = driver.chromium.launch_persistent_context(
        str(tmp_path / name), executable_path=CHROMIUM, headless=True, args=FLAGS,
        bypass_csp=True,  # see conftest.CSP_NOTE
        viewport=viewport, base_url=live.url, locale="zh-CN", timezone_id="Asia/Shanghai",
        **extra)
    context.set_default_timeout(30000)
    return context


def night(page: Any) -> None:
    page.evaluate("localStorage.setItem('fieldcase.red', '1')")
    page.reload()
    page.wait_for_selector("body.red")


@contextmanager
def manager_at_desk(driver: Any, live: Any, tmp_path: Path, name: str) -> Iterator[Any]:
    """A manager's desk browser of its own, logged in, the samples link on screen."""
    context = new_context(driver, live, tmp_path, name, DESK)
    try:
        desk = context.new_page()
        login(desk, "reviewer")
        desk.wait_for_selector("#nav a[href='#/samples']")
        yield desk
    finally:
        context.close()


def test_draw_now_pressed_before_the_list_arrives_is_answered(  # type: ignore[no-untyped-def]
        playwright_driver, live, tmp_path):
    """On a slow network the list of samples is still on its way when the office presses
    "Draw now": the form answers all the same (its handlers used to be attached only once
    the list had arrived, so the browser submitted the form itself, reloading the app and
    losing what was typed)."""
    held: list[Any] = []

    def hold_the_list(route: Any) -> None:
        if route.request.method == "GET":
            held.append(route)  # answered below, after the form has answered
        else:
            route.continue_()

    with manager_at_desk(playwright_driver, live, tmp_path, "desk-slow") as desk:
        desk.route("**/api/revisit-samples", hold_the_list)
        desk.click("#nav a[href='#/samples']")
        desk.wait_for_selector("#sample-form")
        desk.fill("#sample-from", "2026-06-30")
        desk.fill("#sample-to", "2026-06-01")
        desk.click("#draw-sample")
        slot = desk.locator(".field-error[data-for=to]")
        slot.wait_for(timeout=10000)
        assert slot.inner_text() == "结束日期须不早于开始日期"
        assert held, "the list was not held back"
        assert "?" not in desk.url  # not submitted by the browser
        for route in held:
            route.continue_()
        desk.wait_for_selector("#sample-table, #no-samples")
        assert desk.locator("#sample-from").input_value() == "2026-06-30"


def test_a_screen_opened_while_the_app_starts_is_drawn_once(  # type: ignore[no-untyped-def]
        playwright_driver, live, tmp_path):
    """The app opens from what the phone keeps and checks the session with the server
    (`/api/me`); on a slow network the manager opens a screen and types meanwhile. When
    the answer comes, the screen is not drawn again over what was typed (start() drew the
    current screen once more, emptying the form)."""
    held: list[Any] = []

    def hold_me(route: Any) -> None:
        held.append(route)

    with manager_at_desk(playwright_driver, live, tmp_path, "desk-start") as desk:
        desk.route("**/api/me", hold_me)
        desk.reload()
        desk.wait_for_selector("#nav a[href='#/samples']")
        desk.click("#nav a[href='#/samples']")
        desk.wait_for_selector("#sample-form")
        desk.fill("#sample-seed", "typed-while-starting")
        desk.evaluate("document.querySelector('#sample-form').dataset.first = 'yes'")
        assert held, "/api/me was not held back"
        with desk.expect_response("**/api/me"):
            for route in held:
                route.continue_()
        desk.wait_for_load_state("networkidle")
        assert desk.locator("#sample-form[data-first=yes]").count() == 1
        assert desk.locator("#sample-seed").input_value() == "typed-while-starting"


def test_office_draws_assigns_and_follows_a_sample(  # type: ignore[no-untyped-def]
        playwright_driver, live, tmp_path):
    june = handled_cases(live)
    _, users = ids(live)
    errors: list[str] = []
    desk_context = new_context(playwright_driver, live, tmp_path, "desk", DESK)
    try:
        desk = desk_context.new_page()
        desk.on("pageerror", lambda e: errors.append(str(e)))
        login(desk, "reviewer")
        desk.wait_for_selector("#nav a[href='#/samples']")
        desk.click("#nav a[href='#/samples']")
        desk.wait_for_selector("#sample-form")
        desk.wait_for_selector("#no-samples", state="visible")  # the list loads after
        assert desk.locator("#sample-form input[name=strata]:checked").count() == 2

        # Refused on the desk first: the end before the start.
        desk.fill("#sample-from", "2026-06-30")
        desk.fill("#sample-to", "2026-06-01")
        desk.click("#draw-sample")
        slot = desk.locator(".field-error[data-for=to]")
        slot.wait_for()
        assert slot.inner_text() == "结束日期须不早于开始日期"
        # Refused by the server (problem+json): no handled case was received in 2020.
        desk.fill("#sample-from", "2020-01-01")
        desk.fill("#sample-to", "2020-12-31")
        desk.click("#draw-sample")
        slot = desk.locator(".field-error[data-for=from]")
        slot.wait_for()
        assert "没有已办理" in slot.inner_text()
        assert desk.locator("#sample-from").get_attribute("aria-invalid") == "true"

        desk.fill("#sample-from", "2026-06-01")
        desk.fill("#sample-to", "2026-06-30")
        desk.fill("#sample-share", "25")
        desk.fill("#sample-seed", "spot-2026")
        desk.click("#draw-sample")
        desk.wait_for_selector("#sample #figures")
        sample_id = desk.locator("#sample").get_attribute("data-sample-id")

        office = api_login(live.app, "reviewer", PASSWORD)
        sample = office.get(f"/api/revisit-samples/{sample_id}").get_json()
        assert sample["seed"] == "spot-2026" and sample["share"] == 0.25
        assert sample["population"] == len(JUNE)
        drawn = {c["case_id"] for c in sample["cases"]}
        assert drawn <= set(june)
        # Anyone may draw it again from what the page shows: the same cases.
        assert desk.locator("#sample-seed-value").inner_text() == "spot-2026"
        assert desk.locator("#population-hash").inner_text() == sample["population_hash"]
        again = office.post("/api/revisit-samples", json={
            "from": sample["from"], "to": sample["to"], "share": 0.25,
            "strata": ["unit", "channel"], "seed": "spot-2026"}).get_json()
        assert {c["case_id"] for c in again["cases"]} == drawn

        # The allocation: four strata (two streets x two channels), each drawn from.
        rows = desk.locator("#allocation tbody tr")
        assert rows.count() == len(sample["strata_figures"]) == 4
        table = desk.locator("#allocation").inner_text()
        for street in ("东湖街道", "西城街道"):
            assert street in table
        assert "12345热线" in table and "网络投诉" in table
        for stratum in sample["strata_figures"]:
            row = desk.locator(f"#allocation tr[data-stratum='{stratum['stratum']}']")
            cells = row.locator("td").all_inner_texts()
            assert cells[0] == str(stratum["population"]) and cells[2] == str(stratum["drawn"])
        assert figure(desk, "revisitRate") == ("0%", "0", str(len(drawn)))
        assert figure(desk, "satisfactionRate") == ("—", "0", "0")
        assert desk.locator("#by-unit tbody tr").count() == 2
        assert desk.locator("#by-channel tbody tr").count() == 2
        assert desk.locator("#sample-cases tbody tr").count() == len(drawn)
        assert desk.locator("#sample-cases .assignee").all_inner_texts() == ["未分配"] * len(drawn)
        shot(desk, "sample_1280.png")
        shot(desk, "sample_1280_full.png", full_page=True)

        # Assigned to the revisit user (staff of the server's revisit role set).
        desk.click("#assign-sample")  # nobody picked: said so, nothing sent
        desk.wait_for_selector("#assign-error:not([hidden])")
        desk.check(f"#assign-form input[value='{users['revisit']}']")
        desk.click("#assign-sample")
        desk.wait_for_selector("#all-assigned")
        assignees = desk.locator("#sample-cases .assignee").all_inner_texts()
        assert set(assignees) == {"赵敏 (revisit team)"}

        # The revisit user finds them on top of the case list.
        phone = new_context(playwright_driver, live, tmp_path, "phone", PHONE, is_mobile=True,
                            has_touch=True, geolocation=HERE, permissions=["geolocation"])
        try:
            page = phone.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            login(page, "revisit")
            tasks = page.locator("#revisit-tasks a[data-case-id]")
            tasks.first.wait_for()
            assert set(tasks.evaluate_all("as => as.map(a => a.dataset.caseId)")) == drawn
            assert "我的回访任务" in page.locator("#revisit-tasks h2").inner_text()
        finally:
            phone.close()

        # Two revisits come in: one satisfied, one not. The figures move.
        first, second = sorted(drawn)[:2]
        record_revisit(live, first, "satisfied")
        record_revisit(live, second, "dissatisfied")
        desk.click("#refresh-sample")
        desk.wait_for_function(
            "document.querySelector('#figures [data-figure=revisitRate] .numerator')"
            ".textContent === '2'")
        n = len(drawn)
        assert figure(desk, "revisitRate") == (f"{round(200 / n, 1):g}%", "2", str(n))
        assert figure(desk, "satisfactionRate") == ("50%", "1", "2")
        assert figure(desk, "dissatisfiedRate") == ("50%", "1", "2")
        done = desk.locator("#sample-cases tr[data-outcome=reached]")
        assert done.count() == 2
        assert "不满意" in desk.locator(f"#sample-cases tr[data-case-id='{second}']").inner_text()
        assert desk.locator(f"#sample-cases tr[data-case-id='{first}'] a").get_attribute(
            "href") == f"#/case/{first}"
        shot(desk, "sample_1280_revisited.png", full_page=True)
        desk.goto("/#/samples")
        desk.wait_for_selector(f"#sample-table tr[data-sample-id='{sample_id}']")
        shot(desk, "samples_1280.png")
        assert errors == []
    finally:
        desk_context.close()

    # The same pages on a phone at night.
    phone = new_context(playwright_driver, live, tmp_path, "night", PHONE, is_mobile=True,
                        has_touch=True, device_scale_factor=2)
    try:
        page = phone.new_page()
        login(page, "reviewer")
        night(page)
        page.goto("/#/samples")
        page.wait_for_selector("#sample-table")
        shot(page, "samples_390_night.png", full_page=True)
        page.goto(f"/#/samples/{sample_id}")
        page.wait_for_selector("#sample #figures")
        shot(page, "sample_390_night.png")
        shot(page, "sample_390_night_full.png", full_page=True)
    finally:
        phone.close()


def edit_card(page: Any, index: int) -> Any:
    return page.locator(f"#q-edits .q-edit[data-index='{index}']")


def test_admin_saves_a_new_questionnaire_version_and_sees_a_bad_ones_errors(  # type: ignore[no-untyped-def]
        playwright_driver, live, tmp_path):
    errors: list[str] = []
    context = new_context(playwright_driver, live, tmp_path, "admin", DESK)
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, "admin")
        page.goto("/#/admin")
        page.wait_for_selector("#admin-questionnaires .q-item[data-code=residents-survey]")
        page.click(".edit-questionnaire[data-code=residents-survey]")
        page.wait_for_selector("#q-form")
        assert page.locator("#q-code").input_value() == "residents-survey"
        assert page.locator("#q-code").get_attribute("readonly") is not None
        keys = lambda: page.locator("#q-edits [data-f=key]").evaluate_all(  # noqa: E731
            "xs => xs.map(x => x.value)")
        assert keys() == ["distance", "affected", "improvement", "when", "satisfaction",
                          "comments"]
        # The satisfaction question's options are the server's, fixed.
        satisfaction = edit_card(page, 4)
        assert satisfaction.locator("[data-f=satisfaction]").is_checked()
        assert satisfaction.locator("[data-f=kind]").is_disabled()
        assert "基本满意" in satisfaction.locator(".q-fixed").inner_text()

        edit_card(page, 3).locator("[data-op=remove]").click()  # "when" goes
        edit_card(page, 4).locator("[data-op=up]").click()      # comments before satisfaction
        page.click("#q-add")
        new = edit_card(page, 5)
        new.locator("[data-f=kind]").select_option("scale")
        new = edit_card(page, 5)
        new.locator("[data-f=key]").fill("noise_now")
        new.locator("[data-f='label.zh']").fill("现在夜间噪声的程度")
        new.locator("[data-f='label.en']").fill("How loud is it at night now")
        new.locator("[data-f=min]").fill("0")
        new.locator("[data-f=max]").fill("10")
        new.locator("[data-f=required]").check()
        # An option added to a choice question, then a question to choose from.
        page.click("#q-add")
        choice = edit_card(page, 6)
        choice.locator("[data-f=key]").fill("source")
        choice.locator("[data-f='label.zh']").fill("主要噪声来源")
        choice.locator("[data-f='label.en']").fill("The main source")
        options = (("music", "音乐", "Music"), ("voices", "人声", "Voices"),
                   ("equipment", "设备", "Equipment"))
        for j, (value, zh, en) in enumerate(options):
            if j >= 2:
                choice.locator("[data-op=add-option]").click()
                choice = edit_card(page, 6)
            row = choice.locator(f".option-row[data-option='{j}']")
            row.locator("[data-f=value]").fill(value)
            row.locator("[data-f=zh]").fill(zh)
            row.locator("[data-f=en]").fill(en)
        shot(page, "qeditor_1280.png")
        page.click("#q-save")
        page.wait_for_selector("#q-version[data-version='2']")
        assert page.locator(".q-item[data-code=residents-survey]").inner_text().count("v2") == 1

        admin = api_login(live.app, "admin", PASSWORD)
        saved = admin.get("/api/questionnaires/residents-survey").get_json()
        assert saved["version"] == 2
        assert [q["key"] for q in saved["questions"]] == [
            "distance", "affected", "improvement", "comments", "satisfaction", "noise_now",
            "source"]
        scale = saved["questions"][5]
        assert (scale["kind"], scale["min"], scale["max"], scale["required"]) == \
            ("scale", 0, 10, True)
        assert scale["label"] == {"zh": "现在夜间噪声的程度", "en": "How loud is it at night now"}
        assert [o["value"] for o in saved["questions"][6]["options"]] == \
            ["music", "voices", "equipment"]
        assert saved["questions"][4]["satisfaction"] is True
        assert [o["value"] for o in saved["questions"][4]["options"]] == \
            ["satisfied", "basically_satisfied", "dissatisfied"]
        # Version 1 is still there, read back as it was.
        page.select_option("#q-version-pick", "1")
        page.wait_for_selector("#q-version[data-version='1']")
        assert page.locator("#q-version .q-summary").count() == 6

        # A bad one: a key that is not one, an English label missing, one option only.
        page.click(".edit-questionnaire[data-code=phone-revisit]")
        page.wait_for_selector("#q-form[data-code=phone-revisit]")
        page.click("#q-add")
        bad = edit_card(page, 4)
        bad.locator("[data-f=key]").fill("Bad Key")
        bad.locator("[data-f='label.zh']").fill("坏题目")
        bad.locator(".option-row[data-option='1'] [data-op=remove-option]").click()
        bad = edit_card(page, 4)
        row = bad.locator(".option-row[data-option='0']")
        row.locator("[data-f=value]").fill("only")
        row.locator("[data-f=zh]").fill("唯一")
        row.locator("[data-f=en]").fill("Only")
        page.click("#q-save")
        page.wait_for_selector("#q-edits .q-edit[aria-invalid=true]")
        assert page.locator("#q-edits .q-edit[aria-invalid=true]").count() == 1
        bad = edit_card(page, 4)
        assert bad.get_attribute("aria-invalid") == "true"
        # The server's refusal, field by field, in the admin's language (Chinese here).
        assert "只能用小写字母" in bad.locator(".q-field-error[data-field=key]").inner_text()
        label_error = bad.locator(".q-field-error[data-field=label]").inner_text()
        assert "英文" in label_error and "English" not in label_error, label_error
        assert "2" in bad.locator(".q-field-error[data-field=options]").inner_text()
        assert page.locator("#q-result .error").is_visible()
        shot(page, "qeditor_1280_error.png")
        assert admin.get("/api/questionnaires/phone-revisit").get_json()["version"] == 1
        assert errors == []
    finally:
        context.close()

    phone = new_context(playwright_driver, live, tmp_path, "admin-night", PHONE, is_mobile=True,
                        has_touch=True, device_scale_factor=2)
    try:
        page = phone.new_page()
        login(page, "admin")
        night(page)
        page.goto("/#/admin")
        page.wait_for_selector(".edit-questionnaire[data-code=phone-revisit]")
        page.click(".edit-questionnaire[data-code=phone-revisit]")
        page.wait_for_selector("#q-form")
        page.click("#q-add")
        edit_card(page, 4).locator("[data-f=key]").fill("Bad Key")
        page.click("#q-save")
        page.wait_for_selector("#q-edits .q-edit[aria-invalid=true]")
        shot(page, "qeditor_390_night.png")
        page.locator("#admin-questionnaires").screenshot(
            path=str(SHOTS / "qeditor_390_night_section.png"))
    finally:
        phone.close()


def test_a_paper_questionnaire_is_entered_without_a_location(  # type: ignore[no-untyped-def]
        playwright_driver, live, tmp_path):
    errors: list[str] = []
    context = new_context(playwright_driver, live, tmp_path, "paper", PHONE, is_mobile=True,
                          has_touch=True, device_scale_factor=2, geolocation=HERE,
                          permissions=["geolocation"])
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page, "revisit")
        night(page)
        case_id = bar_case_id(live)
        page.goto(f"/#/case/{case_id}")
        page.wait_for_selector("#revisit-buttons")
        # One button per method of the server's vocabulary.
        assert page.locator("#revisit-buttons button").evaluate_all(
            "bs => bs.map(b => b.dataset.method)") == ["phone", "door", "questionnaire", "online"]
        page.click("#start-survey-questionnaire")
        page.wait_for_selector("#begin-survey")
        assert page.locator("h1#survey-title").inner_text() == "问卷调查"
        assert page.locator("#fix").is_hidden()  # no location for a paper questionnaire
        assert page.locator("#survey-at-box").is_visible()
        page.fill("#survey-at", "2026-11-30T15:30")
        shot(page, "survey_questionnaire_390_night.png")
        page.click("#begin-survey")
        page.wait_for_selector("#respondent-form .question")
        assert page.locator(".survey[data-method=questionnaire]").count() == 1
        assert page.locator("fieldset.consent").is_hidden()  # no interview to record
        form = page.locator("#respondent-form")
        form.locator("input[name=q-distance][value=within_50m]").check()
        form.locator("input[name=q-affected][value=never]").check()
        form.locator("input[name=q-improvement][value='5']").check()
        form.locator("input[name=q-satisfaction][value=satisfied]").check()
        page.click("#save-respondent")
        page.wait_for_function("document.querySelector('#respondent-count').textContent === '1'")
        page.wait_for_selector("#respondents li[data-state=sent]", timeout=60000)
        revisit = api_login(live.app, "revisit", PASSWORD)
        [answer] = revisit.get(f"/api/cases/{case_id}/revisits").get_json()["items"]
        assert answer["method"] == "questionnaire" and answer["location"] is None
        assert answer["at"].startswith("2026-11-30T07:30")  # 15:30 in Shanghai
        assert answer["outcome"] == "reached" and answer["satisfaction"] == "satisfied"
        shot(page, "survey_questionnaire_390_night_sent.png", full_page=True)
        assert errors == []
    finally:
        context.close()


def test_the_office_screens_keep_the_content_security_policy(  # type: ignore[no-untyped-def]
        playwright_driver, live):
    """The samples, a sample's page, the questionnaire editor and the survey's other methods
    under the app's real policy (no bypass): no inline script or style in them."""
    refused: list[str] = []
    office = api_login(live.app, "reviewer", PASSWORD)
    drawn = office.post("/api/revisit-samples", json={
        "from": "2020-01-01T00:00:00+08:00", "to": "2030-01-01T00:00:00+08:00", "share": 0.5,
        "seed": "csp"})
    assert drawn.status_code == 201, drawn.get_json()
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                args=FLAGS)
    try:
        page = browser.new_page(viewport=DESK, base_url=live.url, locale="zh-CN")
        page.on("console", lambda m: refused.append(m.text)
                if "Content Security Policy" in m.text or "Refused to" in m.text else None)
        login(page, "admin")
        case_id = bar_case_id(live)
        for hash_, ready in (("#/samples", "#sample-form"),
                             (f"#/samples/{drawn.get_json()['id']}", "#assign-form"),
                             ("#/admin", ".edit-questionnaire"),
                             (f"#/survey/{case_id}/{uuid.uuid4()}/online", "#survey-at")):
            page.goto(f"/{hash_}")
            page.wait_for_selector(ready)
            if hash_ == "#/admin":
                page.click(".edit-questionnaire[data-code=residents-survey]")
                page.wait_for_selector("#q-edits .q-edit")
        page.wait_for_timeout(300)
    finally:
        browser.close()
    assert refused == []
