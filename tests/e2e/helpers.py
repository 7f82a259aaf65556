"""Steps shared by the browser tests."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from server.extensions import db
from server.models import Case, Evidence, RevisitSample, SampleCase, Unit, User, Visit
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


def revisit_task(live: Any, case_id: str, username: str = "revisit") -> None:
    """Make the case one of `username`'s revisit tasks (a one-case sample assigned to them):
    a revisit user reveals a complainant's number only for a case theirs to revisit."""
    with live.app.app_context():
        user = db.session.scalar(sa.select(User).filter_by(username=username))
        case = db.session.get(Case, case_id)
        sample = RevisitSample(
            period_from=case.received_at, period_to=case.received_at, share=1.0, strata=[],
            seed=f"e2e-{case_id}", population=1, population_hash="-",
            allocation=[{"stratum": "all", "population": 1, "drawn": 1}],
            unit_scope=sorted(u.id for u in user.units), created_by=user.id)
        db.session.add(sample)
        db.session.flush()
        db.session.add(SampleCase(sample_id=sample.id, case_id=case_id, stratum="all",
                                  assignee_id=user.id))
        db.session.commit()
        db.session.remove()


def spread_calls(page: Any, outcomes: tuple[str, ...]) -> None:
    """Log failed calls as if made 7 hours apart over the last day (the phone's clock set
    back for each tap): "unreachable" counts only calls spread out like this."""
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(hours=7 * len(outcomes))
    for i, outcome in enumerate(outcomes):
        page.clock.set_fixed_time(start + timedelta(hours=7 * i))
        before = page.locator("#attempt-list li").count()
        page.click(f"#outcomes [data-outcome={outcome}]")
        page.wait_for_function(
            f"document.querySelectorAll('#attempt-list li').length === {before + 1}")
    page.clock.set_fixed_time(datetime.now(UTC))


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


def nudge_until(page: Any, condition: str, timeout_s: float = 90) -> None:
    """Wait on the outbox screen for `condition` (a JS expression), tapping 同步 / Sync now
    every few seconds as the inspector would: on a loaded machine a first send may time
    out, and the outbox's backoff would otherwise wait longer than the test."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(max(1, int(timeout_s / 5))):
        try:
            page.wait_for_function(condition, timeout=5000)
            return
        except PlaywrightTimeout:
            if page.locator("#sync-now").count():
                page.click("#sync-now")
    page.wait_for_function(condition, timeout=5000)


class Held:
    """A route handler that holds back the requests it sees (those whose address has
    `part`, of `method` if given) until released, and lets the others through; after the
    release it lets every one through. `routes`: those held."""

    def __init__(self, part: str = "", method: str | None = None) -> None:
        self.part, self.method = part, method
        self.routes: list[Any] = []
        self.released = False

    def handler(self, route: Any) -> None:
        request = route.request
        if self.released or self.part not in request.url or (
                self.method is not None and request.method != self.method):
            route.continue_()
        else:
            self.routes.append(route)

    def release(self) -> None:
        self.released = True
        for route in self.routes:
            route.continue_()



def hold_idb(name: str, method: str, when: str = "true") -> str:
    """A page script (for page.evaluate or add_init_script) that holds back the success
    of the IndexedDB requests `method` makes ("IDBObjectStore.prototype.put",
    "IDBFactory.prototype.open"...) where `when` holds, a JS expression of `target` (the
    store or factory) and `args`, until window.release(name) lets them through and every
    later one; window.held[name].length says how many are held. The idb library listens
    for each request's success."""
    return f"""(() => {{
  window.held = window.held || {{}};
  window.holding = window.holding || {{}};
  window.release = (name) => {{
    window.holding[name] = false;
    window.held[name].splice(0).forEach((f) => f());
  }};
  window.held[{name!r}] = [];
  window.holding[{name!r}] = true;
  const [owner, key] = [{method.rsplit(".", 1)[0]}, {method.rsplit(".", 1)[1]!r}];
  const real = owner[key];
  owner[key] = function (...args) {{
    const target = this;
    const request = real.apply(this, args);
    if (window.holding[{name!r}] && ({when})) {{
      const add = request.addEventListener.bind(request);
      request.addEventListener = (type, listener, options) => add(type, type === "success"
        ? (event) => (window.holding[{name!r}] ? window.held[{name!r}].push(() => listener(event))
          : listener(event)) : listener, options);
    }}
    return request;
  }};
}})()"""


# The phone's writes of drafts to its outbox (a check's or a revisit's save as its screen
# opens), held as hold_idb holds them: window.release("drafts").
HOLD_DRAFT_SAVES = hold_idb("drafts", "IDBObjectStore.prototype.put",
                            'target.name === "outbox" && args[0]?.state === "draft"')
