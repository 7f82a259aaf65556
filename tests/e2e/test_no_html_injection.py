"""Stored HTML injection, screen by screen: every text a user writes (a case's subject,
address, description, complainant, leader and reference; a visit's findings and meter; a
photo's photographer, place and caption; a flag's note; a revisit's reason, notes and
respondent; a questionnaire's title, labels and options; a sample's seed; a deadline
rule's title; every transition's note and reasons) carries markup, made through the API.
Every screen is then opened as the office, the admin, the inspector and the revisit user,
the map's popups and the reviewer's map tooltips included: no element the markup would
have made exists, and the page never navigates away (a <meta refresh> in a Leaflet tooltip
once sent the reviewer elsewhere)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import login as api_login
from tests.e2e.conftest import PHONE, LiveServer
from tests.e2e.helpers import ids, login, revisit_task
from tests.e2e.test_review_app import DESK, JOLLA, PASSWORD, SITE, STREET
from tests.test_evidence import NOKIA, file_photo
from tests.test_lifecycle import walk


def pwn(field: str) -> str:
    """Markup that, if parsed, makes an element marked with the field it came from (and a
    refresh away from the app)."""
    return (f'<img src=x data-pwn="{field}"><meta http-equiv="refresh" '
            f'content="0;url=about:blank" data-pwn="{field}">')


def short(field: str) -> str:
    return f'<b data-pwn="{field}">x</b>'


def try_post(api: Any, path: str, body: dict, refused: list[str]) -> dict | None:
    """What the server accepts is kept; a refusal (its validation) is noted, not fatal."""
    answer = api.post(path, json=body)
    if answer.status_code in (200, 201):
        return answer.get_json()
    refused.append(f"{path}: {answer.status_code} {answer.get_json()}")
    return None


def try_walk(api: Any, case_id: str, action: str, params: dict, refused: list[str]) -> None:
    version = api.get(f"/api/cases/{case_id}").get_json()["version"]
    try_post(api, f"/api/cases/{case_id}/transitions",
             {"action": action, "version": version, **params}, refused)


def marked_case(live: LiveServer) -> dict[str, Any]:
    units, users = ids(live)
    office = api_login(live.app, "reviewer", PASSWORD)
    inspector = api_login(live.app, "inspector", PASSWORD)
    revisit = api_login(live.app, "revisit", PASSWORD)
    admin = api_login(live.app, "admin", PASSWORD)
    refused: list[str] = []
    now = datetime.now(UTC)

    # A questionnaire whose every word is markup, with a text question answered in markup.
    q_code = "pwn-survey"
    label = {"zh": pwn("q_label"), "en": pwn("q_label")}
    assert try_post(admin, "/api/questionnaires", {
        "code": q_code, "title": {"zh": pwn("q_title"), "en": pwn("q_title")}, "questions": [
            {"key": "feel", "kind": "single", "required": True, "satisfaction": True,
             "label": label, "options": [
                 {"value": v, "label": {"zh": pwn("q_option"), "en": pwn("q_option")}}
                 for v in ("satisfied", "basically_satisfied", "dissatisfied")]},
            {"key": "note", "kind": "text", "label": label}]}, refused)

    case = office.post("/api/cases", json={
        "channel": "hotline_12345", "category": "noise_social", "subject": pwn("subject"),
        "address": pwn("address"), "location": SITE, "description": pwn("description"),
        "complainant": {"name": short("compl"), "phone": "13812341234"},
        "leader": short("leader"), "external_ref": short("ext_ref"),
        "unit_id": units[STREET], "received_at": (now - timedelta(hours=2)).isoformat()})
    assert case.status_code == 201, case.get_json()
    case_id = case.get_json()["id"]
    walk(office, case_id, ("dispatch", {"unit_id": units[STREET],
                                        "assignee_ids": [users["inspector"]]}))
    other = next(uid for name, uid in units.items() if name != STREET and "街道" in name)
    try_walk(office, case_id, "co_handle", {"unit_id": other, "part": pwn("part")}, refused)
    try_walk(office, case_id, "extend", {"days": 1, "reason": pwn("extend")}, refused)
    try_walk(office, case_id, "supervise", {"note": pwn("supervise")}, refused)
    walk(inspector, case_id, ("start", {}))
    visit = inspector.post(f"/api/cases/{case_id}/visits", json={
        "client_id": str(uuid.uuid4()), "kind": "night_check", "started_at": now.isoformat(),
        "findings": pwn("findings"), "participants": ["police"],
        "measurements": [{"kind": "noise", "zone_class": "1", "period": "night",
                          "value_dba": 52.0, "device": short("device"),
                          "meter": {"model": short("meter"), "serial": short("serial")},
                          "calibrator": {"model": short("calib"), "serial": short("cserial")}}]})
    assert visit.status_code == 201, visit.get_json()
    photos = [file_photo(inspector, case_id, path.read_bytes(), visit_id=visit.get_json()["id"],
                         caption=pwn("caption"), place=pwn("place"),
                         photographer=short("photog"), captured_at=now.isoformat(),
                         client_id=str(uuid.uuid4()),
                         geo={"lat": lat, "lon": SITE["lon"], "accuracy_m": 8,
                              "fixed_at": now.isoformat(), "source": "gps"})
              for path, lat in ((NOKIA, SITE["lat"]), (JOLLA, SITE["lat"] + 0.00225))]
    for photo in photos:
        for flag in photo["flags"]:
            try_post(office, f"/api/evidence/{photo['id']}/acknowledgements",
                     {"code": flag["code"], "note": pwn("ack")}, refused)
    walk(inspector, case_id, ("submit", {"verdict": "true", "result": pwn("result")}))
    walk(office, case_id, ("return", {"reasons": [pwn("return")]}))
    walk(inspector, case_id, ("submit", {"verdict": "true", "result": pwn("result")}))

    try_post(revisit, f"/api/cases/{case_id}/revisits", {
        "client_id": str(uuid.uuid4()), "method": "phone", "at": now.isoformat(),
        "attempts": [{"at": (now - timedelta(hours=7 * i)).isoformat(),
                      "outcome": "no_answer"} for i in range(3)],
        "unreachable_reason": pwn("unreachable"), "notes": pwn("rv_notes")}, refused)
    try_post(revisit, f"/api/cases/{case_id}/revisits", {
        "client_id": str(uuid.uuid4()), "method": "door", "at": now.isoformat(),
        "questionnaire": {"code": q_code, "version": 1}, "notes": pwn("rv_notes"),
        "respondents": [{"client_id": str(uuid.uuid4()), "kind": "resident",
                         "name": short("resp_name"), "contact": short("resp_contact"),
                         "answers": {"feel": "satisfied", "note": pwn("answer")}}]}, refused)

    # A sample drawn with a seed in markup, assigned to the revisit user.
    sample = try_post(office, "/api/revisit-samples", {
        "from": (now - timedelta(days=30)).isoformat(), "to": (now + timedelta(days=1)).isoformat(),
        "share": 1, "strata": [], "seed": short("seed")}, refused)
    if sample:
        try_post(office, f"/api/revisit-samples/{sample['id']}/assign",
                 {"user_ids": [users["revisit"]]}, refused)
    # A deadline rule named in markup (a copy of the first).
    rules = admin.get("/api/deadline-rules").get_json()["items"]
    if rules:
        body = {**rules[0]["body"], "code": "pwn-rule", "priority": 7, "source": pwn("rule_source"),
                "title": {"zh": pwn("rule_title"), "en": pwn("rule_title")}}
        body["milestones"] = [{**m, "name": short(f"milestone{i}")}
                             for i, m in enumerate(body.get("milestones", []))]
        try_post(admin, "/api/deadline-rules", body, refused)
    return {"case_id": case_id, "sample_id": sample and sample["id"], "refused": refused}


@contextmanager
def person(browser: Any, live: LiveServer, user: str, phone: bool = False) -> Iterator[Any]:
    options = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
               "geolocation": PHONE["geolocation"], "permissions": ["geolocation"]} \
        if phone else {"viewport": DESK}
    context = browser.new_context(bypass_csp=True,  # see conftest.CSP_NOTE
                                  locale="zh-CN", timezone_id="Asia/Shanghai",
                                  base_url=live.url, **options)
    context.set_default_timeout(30000)
    try:
        page = context.new_page()
        page.away, page.home = [], live.url  # type: ignore[attr-defined]
        page.on("framenavigated", lambda frame: page.away.append(frame.url)
                if frame == page.main_frame and not frame.url.startswith(live.url) else None)
        login(page, user)
        yield page
    finally:
        context.close()


def clean(page: Any, screen: str) -> None:
    """Nothing the markup would have made, anywhere in the document, Leaflet's panes too;
    still in the app."""
    made = page.evaluate("[...document.querySelectorAll('[data-pwn]')]"
                         ".map(e => `${e.tagName}:${e.dataset.pwn}`)")
    assert made == [], f"{screen}: {made}"
    assert page.away == [], f"{screen}: navigated to {page.away}"
    assert page.url.startswith(page.home), page.url


def visit(page: Any, path: str, ready: str, screen: str | None = None) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(path)
    for _ in range(60):  # the screen drawn, or the page gone (said at once)
        assert page.away == [], f"{screen or path}: navigated to {page.away}"
        try:
            page.wait_for_selector(ready, timeout=500)
            break
        except PlaywrightTimeout:
            continue
    else:
        raise AssertionError(f"{screen or path}: {ready} never showed")
    page.wait_for_timeout(150)  # a refresh of 0 s, had one been parsed, is under way
    clean(page, screen or path)


def test_no_screen_turns_user_text_into_markup(browser, live):  # type: ignore[no-untyped-def]
    made = marked_case(live)
    case_id = made["case_id"]
    # The server takes markup as text; the few it refused are said (its validation).
    print("refused by the server:", made["refused"])

    with person(browser, live, "reviewer") as page:
        visit(page, "/#/cases", "#case-list .case-row")
        page.click("#bell")
        page.wait_for_selector("#notification-list:not([hidden])")
        clean(page, "notifications")
        visit(page, f"/#/case/{case_id}", f".case-page[data-case-id='{case_id}'] #timeline")
        # Shown, as text.
        assert page.locator(".case-page h1").inner_text() == pwn("subject")
        visit(page, f"/#/case/{case_id}/edit", "#case-form")
        visit(page, "/#/board", "#board-table")
        visit(page, "/#/map", "#map[data-markers]")
        # Every popup opened in turn (one is open at a time), each looked into.
        found = page.evaluate("""() => [...document.querySelectorAll('#map path.marker')]
            .flatMap((m) => { m.dispatchEvent(new MouseEvent('click', {bubbles: true}));
              return [...document.querySelectorAll('.leaflet-popup [data-pwn]')]
                .map((e) => e.dataset.pwn); })""")
        assert found == [], found
        assert page.locator(".leaflet-popup").count() >= 1
        clean(page, "map popups")
        if made["sample_id"]:
            visit(page, "/#/samples", "#sample-table")
            visit(page, f"/#/samples/{made['sample_id']}", "#sample")
        visit(page, "/#/outbox", "#outbox-empty, #outbox-list")
        visit(page, "/#/settings", "#red")
        # The reviewer's desk: its map's tooltips, a photo opened large, an approval tried.
        visit(page, f"/#/review/{case_id}", "#review-map[data-photos='2'] .leaflet-tooltip")
        page.wait_for_selector("#review-map .marker-case")
        tips = page.locator("#review-map .leaflet-tooltip").all_inner_texts()
        assert any(pwn("address") in tip for tip in tips), tips
        page.locator(".photo-open").first.click()
        page.wait_for_selector("#photo-dialog[open] img")
        clean(page, "photo dialog")
        page.click("#dialog-close")
        page.click("#approve")
        page.wait_for_selector("#decision-problem:not([hidden]), .review-page[data-status=closed]")
        page.wait_for_selector("#review-map .leaflet-tooltip")
        clean(page, "review after approving")

    with person(browser, live, "admin") as page:
        visit(page, "/#/admin", ".q-item[data-code='pwn-survey']")
        page.click(".view-questionnaire[data-code='pwn-survey']")
        page.wait_for_selector("#q-version[data-code='pwn-survey']")
        clean(page, "questionnaire viewer")
        page.click(".edit-questionnaire[data-code='pwn-survey']")
        page.wait_for_selector("#q-form")
        clean(page, "questionnaire editor")
        if page.locator(".edit-rule[data-code='pwn-rule']").count():
            page.click(".edit-rule[data-code='pwn-rule']")
            page.wait_for_selector("#rule-form")
            clean(page, "rule editor")
        visit(page, f"/#/review/{case_id}", "#review-map .leaflet-tooltip")

    with person(browser, live, "inspector", phone=True) as page:
        visit(page, "/#/cases", "#case-list .case-row")
        page.click("#bell")
        page.wait_for_selector("#notification-list:not([hidden])")
        clean(page, "the inspector's notifications")
        visit(page, f"/#/case/{case_id}", f".case-page[data-case-id='{case_id}'] #timeline")
        visit(page, f"/#/check/{case_id}/{uuid.uuid4()}", "#check-form")
        # A photo taken on this phone with markup in its caption and place: its row in the
        # check, then the case page's gallery of photos still on the phone.
        page.fill("#findings", pwn("draft"))
        page.fill("#place", pwn("local_place"))
        page.fill("#caption", pwn("local_caption"))
        page.set_input_files("#photo-input", str(NOKIA))
        page.wait_for_selector("#photos .photo")
        clean(page, "a photo on the phone")
        page.click("#save-check")
        page.wait_for_selector(f".case-page[data-case-id='{case_id}']")
        clean(page, "the case page with the phone's photo")
        visit(page, "/#/outbox", "#outbox-empty, #outbox-list")

    revisit_task(live, case_id)  # a number is revealed only for a case theirs to call
    with person(browser, live, "revisit", phone=True) as page:
        visit(page, "/#/cases", "#case-list")
        visit(page, f"/#/case/{case_id}", f".case-page[data-case-id='{case_id}'] #revisits")
        visit(page, f"/#/revisit/{case_id}/{uuid.uuid4()}", "#reveal-slot")
        page.fill("#reveal-reason", "回访需要联系投诉人")
        page.click("#reveal")
        page.wait_for_selector("#revealed")
        clean(page, "complainant revealed")
        visit(page, f"/#/survey/{case_id}/{uuid.uuid4()}/door", "#survey-questionnaire")
        page.select_option("#survey-questionnaire", "pwn-survey")
        page.click("#begin-survey")
        page.wait_for_selector("#questions .question")
        clean(page, "survey questions")
        visit(page, "/#/outbox", "#outbox-empty, #outbox-list")
