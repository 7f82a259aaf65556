"""Steps shared by the browser tests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from server.extensions import db
from server.models import Case, Evidence, Unit, User, Visit
from tests.conftest import SAMPLES

PHOTOS = [SAMPLES / "phones" / "HMD_Nokia_8.3_5G.jpg", SAMPLES / "gps" / "DSCN0010.jpg"]
BAR = "夜色酒吧深夜噪声扰民"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def login(page: Any, username: str = "inspector", password: str = "fieldcase-demo") -> None:
    page.goto("/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#case-list .case-row")


def wait_for_service_worker(page: Any) -> None:
    page.wait_for_function("navigator.serviceWorker && navigator.serviceWorker.controller !== null")


def bar_case_id(live: Any) -> str:
    with live.app.app_context():
        case_id = db.session.scalar(sa.select(Case.id).filter_by(subject=BAR))
        db.session.remove()
    return case_id


def open_case(page: Any, case_id: str) -> None:
    page.click(f"[data-case-id='{case_id}']")
    page.wait_for_selector("#start-check")


def record_night_check(page: Any, photos: list[Path]) -> None:
    page.click("#start-check")
    page.wait_for_selector("#check-form")
    page.check("input[name=kind][value=night_check]")
    page.check("input[name=participants][value=police]")
    page.check("input[name=participants][value=culture_market]")
    page.fill("#findings", "酒吧音响外放，住户卧室内可闻")
    page.fill("#value_dba", "58")
    page.select_option("#zone_class", "1")
    page.select_option("#period", "night")
    for n, path in enumerate(photos, start=1):
        page.fill("#caption", f"照片{n}")
        page.set_input_files("#photo-input", str(path))
        page.wait_for_function(f"document.querySelectorAll('#photos .photo').length === {n}")
    page.click("#save-check")
    page.wait_for_selector("#start-check")


def outbox_count(page: Any) -> int:
    page.goto("/#/outbox")
    page.wait_for_selector("#outbox-list, #outbox-empty")
    return page.locator("#outbox-list .outbox-item").count()


def server_rows(live: Any) -> tuple[list[Visit], list[Evidence]]:
    """The bar case's visits and evidence (the demo's handled cases have their own)."""
    case_id = bar_case_id(live)
    with live.app.app_context():
        visits = list(db.session.scalars(sa.select(Visit).filter_by(case_id=case_id)))
        for visit in visits:
            _ = visit.measurements
        evidence = list(db.session.scalars(sa.select(Evidence).filter_by(case_id=case_id)))
        db.session.expunge_all()
        db.session.remove()
    return visits, evidence


def ids(live: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The demo's units and users, by name: id."""
    with live.app.app_context():
        units = dict(db.session.execute(sa.select(Unit.name, Unit.id)).all())
        users = dict(db.session.execute(sa.select(User.username, User.id)).all())
        db.session.remove()
    return units, users
