"""A look-back campaign (回头看, seed 001) in the app. The office, at a desk (1280 px), starts
one over a street's closed cases (previewed first) and reads annex 2's table; the street's
inspector, on a phone (390 px, night mode) with no signal, re-checks a case: the problem
came back, so a rectification plan (annex 1) is required, checked on the phone before it is
queued, with a photo. Back online the outbox sends the re-check, then the photo under the
re-check's visit: the case is reopened with its plan, the table counts the re-check, and
the office accepts the plan (验收) on the case page."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.domain.accounts import scope
from server.extensions import db
from server.models import Case, Evidence, RecheckTask, RectificationPlan
from tests.e2e.conftest import LiveServer
from tests.e2e.helpers import PHOTOS, ids, login, nudge_until, sha256, wait_for_service_worker
from tests.e2e.test_review_app import desk

LOOK = Path("/tmp/look")
STREET = "东湖街道"
SQUARE = "广场舞音响扰民（督察交办第3批）"  # a closed case of the street's in the demo
# The phone's copy of its pending tasks (IndexedDB, the app's cache store), once there.
CACHED_TASKS = """() => new Promise((done) => {
  const open = indexedDB.open("fieldcase");
  open.onerror = () => done(false);
  open.onsuccess = () => {
    const read = open.result.transaction("cache").objectStore("cache")
      .get("get:/api/recheck-tasks?status=pending");
    read.onsuccess = () => done(Boolean(read.result));
    read.onerror = () => done(false);
  };
})"""


def closed_cases(live: LiveServer, unit_id: str) -> int:
    with live.app.app_context():
        n = db.session.scalar(sa.select(sa.func.count()).select_from(Case)
                              .where(Case.unit_id == unit_id, Case.status == "closed"))
        db.session.remove()
    return int(n or 0)


def case_state(live: LiveServer, subject: str) -> tuple[str, list[Any], list[Any], Any]:
    """The case's status, plans, the re-check's photos and its task, as the server keeps
    them."""
    with live.app.app_context():
        case = db.session.scalar(sa.select(Case).filter_by(subject=subject))
        plans = list(db.session.scalars(sa.select(RectificationPlan).filter_by(case_id=case.id)))
        task = db.session.scalar(sa.select(RecheckTask).filter_by(case_id=case.id))
        # The photos filed under the re-check's visit (the case has its handling's too).
        evidence = list(db.session.scalars(sa.select(Evidence).filter_by(
            case_id=case.id, visit_id=task.visit_id))) if task and task.visit_id else []
        answer = (case.status, plans, evidence, task)
        db.session.expunge_all()
        db.session.remove()
    return answer


def cells(page: Any, row: str) -> dict[str, str]:
    """A row of annex 2's table: its cells' text by field."""
    found = page.locator(f"{row} td[data-field]")
    return {found.nth(i).get_attribute("data-field"): found.nth(i).inner_text().split()[0]
            for i in range(found.count())}


def test_campaign_from_desk_to_an_offline_recheck(browser, phone, live):  # type: ignore[no-untyped-def]
    LOOK.mkdir(parents=True, exist_ok=True)
    units, _ = ids(live)
    street = units[STREET]
    expected = closed_cases(live, street)
    assert expected >= 2
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    errors: list[str] = []

    # The office starts the campaign: preview first, then create; annex 2 by unit.
    with desk(browser, live, viewport={"width": 1280, "height": 900}, errors=errors) as office:
        office.goto("/#/campaigns")
        # Over no case: previewed (a title is not needed for that) as none, then refused
        # in the server's words.
        office.fill("#campaign-from", "2001-01-01")
        office.fill("#campaign-to", "2001-12-31")
        office.click("#campaign-preview")
        none = office.wait_for_selector("#campaign-preview-result")
        assert none.get_attribute("data-count") == "0"
        office.fill("#campaign-title", "东湖街道已办结信访件回头看")
        office.click("#campaign-create")
        refused = office.wait_for_selector("#campaign-problem").inner_text()
        assert refused.startswith("没有符合条件的已办结案件")  # problem_messages.json's zh
        office.fill("#campaign-from", (today - timedelta(days=60)).isoformat())
        office.fill("#campaign-to", today.isoformat())
        office.select_option("#campaign-unit", street)
        assert office.is_disabled("#campaign-create"), "no campaign before its preview"
        assert office.locator("#campaign-problem").count() == 0
        office.click("#campaign-preview")
        preview = office.wait_for_selector("#campaign-preview-result")
        assert preview.get_attribute("data-count") == str(expected)
        office.click("#campaign-create")
        office.wait_for_selector("#progress-table")
        campaign_url = office.url
        row = f"#progress-table tbody tr[data-unit-id='{street}']"
        assert cells(office, row)["total"] == str(expected)
        assert cells(office, row)["done"] == "0"
        assert cells(office, "#progress-totals")["total"] == str(expected)
        assert office.locator("#task-table tbody tr").count() == expected
        assert "week=" in (office.get_attribute("#progress-xlsx", "href") or "")

        # The inspector, in night mode, takes the tasks along and loses the signal.
        phone.add_init_script("localStorage.setItem('fieldcase.red', '1')")
        page = phone.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        login(page)
        wait_for_service_worker(page)
        # The tasks came on the phone with the login: the list opens with no signal.
        page.wait_for_function(CACHED_TASKS)
        phone.set_offline(True)
        page.click("#nav-rechecks")
        page.wait_for_selector("#recheck-list .recheck-task")
        assert page.locator("#recheck-list .recheck-task").count() == expected
        page.locator("#recheck-list .recheck-task", has_text=SQUARE).click()
        page.wait_for_selector("#recheck-form")
        page.check("input[name=rebound][value=yes]")
        page.fill("#new_problem", "音响仍在晚间十点后外放")
        page.fill("#findings", "现场核查：广场舞音响音量未控制，问题反弹")
        page.click("#save-recheck")  # the plan is required now: checked on the phone
        page.wait_for_selector("#recheck-problems li[data-field='due_on']")
        assert page.locator("#plan-due_on[aria-invalid='true']").count() == 1
        page.fill("#plan-measures", "约谈广场舞团队负责人，配置限音设备")
        page.fill("#plan-target", "晚间十点后音响停用，边界噪声达标")
        page.fill("#plan-implementer", "东湖街道办事处")
        # Only the units over the case (and the organiser's): the server's list, no other.
        offered = page.locator("#plan-acceptance_unit_id option").evaluate_all(
            "os => os.map((o) => o.value).filter(Boolean)")
        with live.app.app_context():
            over = scope.unit_and_above(street)
            db.session.remove()
        assert offered[0] == street and set(offered) == over, offered
        page.select_option("#plan-acceptance_unit_id", street)
        page.fill("#plan-due_on", (today + timedelta(days=14)).isoformat())
        page.set_input_files("#photo-input", str(PHOTOS[1]))
        page.wait_for_function("document.querySelectorAll('#photos .photo').length === 1")
        page.screenshot(path=str(LOOK / "recheck_390_night.png"), full_page=True)
        page.click("#save-recheck")
        page.wait_for_selector("#recheck-list [data-local='queued']")
        assert case_state(live, SQUARE)[0] == "closed", "nothing left the phone offline"
        page.evaluate("location.hash = '#/outbox'")
        page.wait_for_selector("#outbox-list [data-kind='recheck'][data-item-state='queued']")
        assert page.locator("#outbox-list .outbox-item").count() == 2  # the re-check, its photo
        page.screenshot(path=str(LOOK / "recheck_outbox_390_night.png"))

        # Back online: the re-check goes first, then its photo under the re-check's visit.
        phone.set_offline(False)
        nudge_until(page, "document.querySelector('#outbox-empty') !== null")
        status, plans, evidence, task = case_state(live, SQUARE)
        assert status == "in_progress", "the rebound reopened the case"
        assert [(p.due_on, p.acceptance_unit_id, p.status) for p in plans] == [
            (today + timedelta(days=14), street, "open")]
        assert task.status == "done" and task.rebound is True
        assert [(e.sha256, e.state) for e in evidence] == [(sha256(PHOTOS[1]), "stored")]

        # The office follows the table, then accepts the plan on the case page.
        office.goto(campaign_url)
        office.reload()
        office.wait_for_selector(row)
        assert cells(office, row)["done"] == "1"
        assert cells(office, row)["week_done"] == "1"
        assert cells(office, row)["week_new"] == "1"
        office.select_option("#task-unit", street)
        office.select_option("#task-status", "done")
        office.wait_for_function("document.querySelectorAll('#task-table tbody tr').length === 1")
        assert office.get_attribute("#task-table tbody tr", "data-status") == "done"
        office.screenshot(path=str(LOOK / "campaign_1280.png"), full_page=True)
        office.goto(f"/#/case/{task.case_id}")
        office.wait_for_selector("#plans .plan-accept")
        office.fill("#plans textarea[name=note]", "现场复核已整改到位")
        office.click("#plans .plan-accept-button")
        office.wait_for_selector("#plans [data-plan-status='accepted']")
        assert "陈静" in office.inner_text("#plans [data-field='accepted_at']")  # who accepted
    assert case_state(live, SQUARE)[1][0].status == "accepted"
    assert errors == []


def test_a_preview_clicked_before_the_list_arrives_is_answered(browser, live):  # type: ignore[no-untyped-def]
    """On a slow network the campaign list is still on its way when the office fills the
    form and asks for a preview: the preview is answered all the same (its button's
    handler used to be attached only once the list had arrived, so the click did
    nothing)."""
    held: list[Any] = []

    def hold_the_list(route: Any) -> None:
        if route.request.method == "GET":
            held.append(route)  # answered below, after the preview
        else:
            route.continue_()

    with desk(browser, live, viewport={"width": 1280, "height": 900}) as office:
        office.route("**/api/campaigns", hold_the_list)
        office.goto("/#/campaigns")
        office.fill("#campaign-from", "2001-01-01")
        office.fill("#campaign-to", "2001-12-31")
        office.click("#campaign-preview")
        office.wait_for_selector("#campaign-preview-result", timeout=10000)
        assert held, "the list was not held back"
        for route in held:
            route.continue_()
        office.wait_for_selector("#campaign-table, #no-campaigns")
