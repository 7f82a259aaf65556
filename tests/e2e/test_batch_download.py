"""The office's batch download on the case list (批量下载): the reviewer ticks two of the
demo's closed, sealed cases and downloads their closure file as one PDF (both cases'
subjects in its text) and their archive as one ZIP (its SHA256SUMS matching its entries);
each file is a job on the server: a progress bar (stage, done/total, %) while it is made,
shown again after leaving the list and coming back, then a download button with the file's
name, size and SHA-256 (the bytes downloaded hash to it). "Select all shown" takes every
closed case; a case reopened meanwhile is refused in words, Chinese first. Screenshots go
to /tmp/shots/batch_*.png (a 1280x800 desk, and a 390x844 phone in night mode)."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pymupdf
import sqlalchemy as sa

from server.domain.jobs import kinds
from server.extensions import db
from server.models import Case
from tests.conftest import login as api_login
from tests.e2e.conftest import LiveServer
from tests.e2e.test_review_app import PASSWORD, desk, night_phone, shot
from tests.test_lifecycle import walk

BATCH_DESK = {"width": 1280, "height": 800}


def closed_cases(live: LiveServer) -> dict[str, str]:
    """The demo's closed cases: id -> subject."""
    with live.app.app_context():
        found = dict(db.session.execute(sa.select(Case.id, Case.subject).where(
            Case.status == "closed").order_by(Case.received_at)).all())
        db.session.remove()
    return found


def fetch(page: Any, selector: str) -> tuple[str, bytes]:
    """Start the file's job, wait for its download button, and download: the bytes hash
    to the SHA-256 the panel shows, under the name it shows."""
    page.click(selector)
    page.wait_for_selector("#batch-job[data-state='done'] #job-download")
    shown_name = page.inner_text("#job-file").strip()
    shown_sha = page.inner_text("#job-sha").strip()
    with page.expect_download() as info:
        page.click("#job-download")
    path = info.value.path()
    assert path is not None, info.value.failure()
    body = Path(path).read_bytes()
    assert hashlib.sha256(body).hexdigest() == shown_sha
    assert info.value.suggested_filename == shown_name
    page.click("#job-close")
    page.wait_for_selector("#batch-job", state="hidden")
    return info.value.suggested_filename, body


class Gate:
    """Holds the closure-file jobs of the live server (it runs them in its own threads)
    after their first progress report, so the test sees the bar before the file is done."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.original = kinds.KINDS["closure_file"]

    def __enter__(self) -> Gate:
        def run(user: Any, params: dict, spool: Any, progress: Any) -> Any:
            progress(1, 3, "photos")
            self.open.wait(timeout=60)
            return self.original.run(user, params, spool, progress)

        kinds.register(kinds.Kind("closure_file", self.original.prepare, run))
        return self

    def __exit__(self, *exc: object) -> None:
        self.open.set()
        kinds.register(self.original)


def in_view(page: Any, selector: str, viewport: dict[str, int]) -> bool:
    """Wholly on screen, between the top bar and the bottom bar."""
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 56 and box["y"] + box["height"] <= \
        viewport["height"] - 56


def tick(page: Any, case_id: str) -> None:
    page.check(f"#case-list .batch-pick[value='{case_id}']")


def cases_in(page: Any, selector: str) -> list[str]:
    href = page.get_attribute(selector, "href")
    assert href, f"{selector} has no link"
    return parse_qs(urlsplit(href).query)["case"]


def test_the_office_downloads_closed_cases_together(browser, live):  # type: ignore[no-untyped-def]
    closed = closed_cases(live)
    assert len(closed) == 3, closed  # the demo's three closed, sealed cases
    first, second, third = closed
    office = api_login(live.app, "reviewer", PASSWORD)
    errors: list[str] = []
    with desk(browser, live, viewport=BATCH_DESK, accept_downloads=True) as page:
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.wait_for_selector("#batch[data-selected='0'] #batch-hint")
        # A checkbox on each closed case's row and no other.
        shown = page.locator("#case-list .batch-pick").evaluate_all(
            "els => els.map(e => e.value)")
        assert sorted(shown) == sorted(closed)
        assert page.locator("#batch-closure-pdf").count() == 0  # nothing ticked, no links
        shot(page, "batch_1280_none.png")

        tick(page, first)
        tick(page, second)
        page.wait_for_selector("#batch[data-selected='2']")
        assert page.locator("#batch-count").inner_text() == "已选 2 件"
        assert page.locator("#batch-all").evaluate("e => e.indeterminate")
        # The files name the ticked cases in the list's order.
        ticked = [i for i in shown if i in (first, second)]
        for link in ("closure-docx", "closure-pdf", "public-docx", "public-pdf", "archive-zip"):
            assert cases_in(page, f"#batch-{link}") == ticked, link
        assert parse_qs(urlsplit(page.get_attribute("#batch-public-pdf", "href")).query)[
            "public"] == ["1"]
        # The rows ticked are far down the list; at a desk the files stay in view above it.
        assert in_view(page, "#batch-archive-zip", BATCH_DESK)
        shot(page, "batch_1280.png")

        # The batch PDF is made as a job: its progress bar while it runs, shown again after
        # leaving the list and coming back; then the file.
        with Gate() as gate:
            page.click("#batch-closure-pdf")
            page.wait_for_selector("#batch-job[data-state='running'] #job-progress")
            page.wait_for_selector("#job-count:text('1/3')")
            # Read now, not from the bar first found: the panel may have been drawn anew.
            assert page.get_attribute("#batch-job #job-progress", "value") == "33"
            assert "读取照片" in page.inner_text("#job-stage")
            assert "33%" in page.inner_text("#job-stage")
            assert "办结材料 PDF" in page.inner_text("#job-title")
            shot(page, "batch_1280_job_running.png")
            page.goto("/#/settings")
            page.wait_for_selector("#batch-job", state="detached")
            page.goto("/#/cases")
            page.wait_for_selector("#batch-job[data-state='running'] #job-progress")
            gate.open.set()
            page.wait_for_selector("#batch-job[data-state='done'] #job-download")
        assert "办结材料-2件.pdf" in page.inner_text("#job-file")
        assert len(page.inner_text("#job-sha").strip()) == 64
        assert "KB" in page.inner_text("#job-size") or "MB" in page.inner_text("#job-size")
        shot(page, "batch_1280_job_done.png")
        page.click("#job-close")
        for case_id in (first, second):  # coming back untied the ticks: tick again
            if not page.is_checked(f"#case-list .batch-pick[value='{case_id}']"):
                tick(page, case_id)
        page.wait_for_selector("#batch[data-selected='2']")
        name, pdf = fetch(page, "#batch-closure-pdf")
        assert pdf[:5] == b"%PDF-" and name.endswith(".pdf"), name
        with pymupdf.open(stream=pdf, filetype="pdf") as doc:
            text = "".join(p.get_text() for p in doc)
        assert closed[first] in text and closed[second] in text
        assert closed[third] not in text

        # The batch archive: every entry listed in SHA256SUMS, with its hash.
        name, archive = fetch(page, "#batch-archive-zip")
        assert name.endswith(".zip"), name
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            entries = {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
        sums = entries.pop("SHA256SUMS").decode().splitlines()
        listed = {}
        for line in sums:
            digest, path = line.split(None, 1)
            listed[path.lstrip("*")] = digest
        assert listed, sums
        for path, digest in listed.items():
            assert hashlib.sha256(entries[path]).hexdigest() == digest, path
        assert set(entries) - set(listed) <= {"README.txt", "README.md"}, \
            sorted(set(entries) - set(listed))
        assert page.locator("#batch-problem").is_hidden()

        # Select all shown: the three closed cases; none ticked again: the hint.
        page.check("#batch-all")
        page.wait_for_selector("#batch[data-selected='3']")
        assert cases_in(page, "#batch-closure-docx") == shown
        page.uncheck("#batch-all")
        page.wait_for_selector("#batch[data-selected='0'] #batch-hint")

        # A case reopened while its file is being made: the job fails and says why, in
        # words, with no download.
        tick(page, first)
        tick(page, second)
        with Gate() as gate:
            page.click("#batch-closure-docx")
            page.wait_for_selector("#batch-job[data-state='running'] #job-progress")
            walk(office, second, ("reopen", {"reason": "复查发现反弹"}))
            gate.open.set()
            failed = page.locator("#batch-job[data-state='failed'] "
                                  "#job-error[data-code='closure.not_closed']")
            failed.wait_for()
        words = failed.inner_text()
        assert closed[second] in words and "已不是办结状态" in words, words
        assert page.locator("#job-download").count() == 0
        shot(page, "batch_1280_job_failed.png")
        page.click("#job-close")

        # Asked for again, the server refuses at once (409), in words.
        page.click("#batch-closure-pdf")
        problem = page.locator("#batch-problem[data-code='closure.not_closed']")
        problem.wait_for()
        words = problem.inner_text()
        assert closed[second] in words and "已不是办结状态" in words, words
        shot(page, "batch_1280_refused.png")
        assert errors == []

    # The same list on a phone at night: one column, nothing cut off.
    # Ticked far down the list, a button brings the files back.
    with night_phone(browser, live, "/#/cases") as page:
        page.wait_for_selector("body.red #batch")
        tick(page, first)
        tick(page, third)
        page.wait_for_selector("#batch[data-selected='2'] #batch-archive-zip", state="attached")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px phone"
        jump = page.locator("#batch-jump")
        jump.wait_for()
        assert "下载已选的 2 件" in jump.inner_text()
        shot(page, "batch_390_night_ticked.png")
        jump.click()
        jump.wait_for(state="hidden")
        assert in_view(page, "#batch-archive-zip", {"width": 390, "height": 844})
        shot(page, "batch_390_night.png")
        shot(page, "batch_390_night_full.png", full_page=True)
        # The job's panel at night on the phone: the name, size and hash wrap, not overflow.
        page.click("#batch-archive-zip")
        page.wait_for_selector("#batch-job[data-state='done'] #job-download")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the job's panel makes the page {width} px wide"
        page.locator("#batch-job").scroll_into_view_if_needed()
        shot(page, "batch_390_night_job.png")


def closing_days(live: LiveServer) -> dict[str, tuple[str, str, str]]:
    """The demo's closed cases: id -> (local closing day, unit id, subject)."""
    shanghai = ZoneInfo("Asia/Shanghai")
    with live.app.app_context():
        rows = db.session.execute(sa.select(Case.id, Case.closed_at, Case.unit_id, Case.subject)
                                  .where(Case.status == "closed")).all()
        db.session.remove()
    return {i: ((at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(shanghai).date()
                .isoformat(), unit, subject) for i, at, unit, subject in rows}


def test_the_office_downloads_by_closing_period_two_photos_a_page(browser, live):  # type: ignore[no-untyped-def]
    closed = closing_days(live)
    assert closed, "the demo has closed cases"
    days = sorted(day for day, _unit, _subject in closed.values())
    errors: list[str] = []
    with desk(browser, live, viewport=BATCH_DESK, accept_downloads=True) as page:
        page.on("pageerror", lambda e: errors.append(str(e)))
        section = page.wait_for_selector("#batch-period")
        assert "按办结时间批量下载" in section.inner_text()
        assert page.locator("#batch-period a[data-batch]").count() == 0  # no days, no links
        assert not page.is_visible("#period-from")  # folded until used
        page.click("#batch-period summary")
        page.fill("#period-from", days[0])
        page.fill("#period-to", days[-1])
        page.wait_for_selector("#batch-period-closure-pdf")
        page.check("#period-per-page")
        page.wait_for_selector("#batch-period-closure-pdf[href*='per_page=2']")
        href = page.get_attribute("#batch-period-closure-pdf", "href") or ""
        query = parse_qs(urlsplit(href).query)
        assert query["closed_from"] == [days[0]] and query["closed_to"] == [days[-1]]
        assert "per_page" not in (page.get_attribute("#batch-period-archive-zip", "href") or "")
        shot(page, "batch_1280_period.png")
        name, pdf = fetch(page, "#batch-period-closure-pdf")
        assert name.endswith(".pdf"), name
        with pymupdf.open(stream=pdf, filetype="pdf") as doc:
            text = "".join(p.get_text() for p in doc)
        for _day, _unit, subject in closed.values():
            assert subject in text, subject
        assert "附件" in text and "审核意见" in text and "附录：核验信息" in text

        # A unit narrows the period's links (the server takes it and the units below).
        unit = next(iter(closed.values()))[1]
        page.select_option("#period-unit", unit)
        page.wait_for_selector(f"#batch-period-archive-zip[href*='unit={unit}']")
        # A period with nothing closed in it: refused, in words.
        before = (date.fromisoformat(days[0]) - timedelta(days=400)).isoformat()
        page.select_option("#period-unit", "")
        page.fill("#period-from", before)
        page.fill("#period-to", before)
        page.click("#batch-period-closure-docx")
        problem = page.locator("#period-problem[data-code='closure.none_in_period']")
        problem.wait_for()
        assert "该时段内没有你可查看的已办结案件" in problem.inner_text()
        shot(page, "batch_1280_period_refused.png")
        assert errors == []
