"""The hard-case list with 200,000 cases on PostgreSQL: one rule (repeat, backlog,
difficult) as a union of indexed arms, so a page of hard cases stays flat as cases grow.

Generates a district's two years of cases (one Core insert per 10,000 rows): a fifth open,
most of them recent and a few long overdue (backlog, 信访积案); places complained about
three times or more as listed repeat subjects with their links; a few cases flagged
difficult; plans on some. Then times, through gunicorn (2 workers), the district office's
GET /api/hard-cases (first page; backlog only; without a plan) and the case list's
GET /api/cases?hard=true, each followed by GET /api/me, printing p95 against /api/me's.
Target: p95 <= 100 ms a page.
Run: .venv/bin/python bench/bench_hard_cases.py [--cases N] [--quick]   (exits 0 when a
target is missed: prints ratios; --quick: 500 cases, 8 requests each)
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import sqlalchemy as sa
from report import emit, unavailable  # bench/report.py, beside this script
from serving import (  # bench/serving.py, beside this script
    DatabaseUnavailable,
    scratch_database,
    serve,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "bench-password-1"
PAGES = {"list": "/api/hard-cases", "backlog": "/api/hard-cases?kind=backlog",
         "no_plan": "/api/hard-cases?has_plan=false", "case_list": "/api/cases?hard=true"}
TARGET_MS = 100


def generate(url: str, n: int, tmp: Path) -> dict[str, int]:
    from flask_migrate import upgrade

    from server import create_app
    from server.domain.accounts import auth
    from server.extensions import db
    from server.models import Case, RemediationPlan, RepeatLink, RepeatSubject, User
    from server.models.base import new_id

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(tmp), "STORAGE_URL": f"file://{tmp}/objects"})
    counts = {"open": 0, "backlog": 0, "flagged": 0, "linked": 0, "plans": 0}
    with app.app_context():
        upgrade(directory=str(ROOT / "server" / "migrations"))
        auth.create_unit("区局")
        streets = [auth.create_unit(f"街道{i:02d}", "区局").id for i in range(20)]
        auth.create_user("office", PASSWORD, "reviewer", ["区局"])
        office = db.session.scalar(sa.select(User.id).filter_by(username="office"))
        now, rng = datetime.now(UTC), random.Random(5)
        places = max(50, 2 * n)  # ~9% of cases about a place complained about 3+ times
        by_place: dict[int, list[tuple[str, datetime]]] = {}
        rows: list[dict] = []
        for i in range(n):
            roll = rng.random()
            if roll < 0.18:  # open and recent
                received = now - timedelta(minutes=rng.randrange(0, 20 * 24 * 60))
                status = "in_progress"
            elif roll < 0.20:  # open and long overdue: backlog
                received = now - timedelta(days=rng.randrange(45, 700))
                status = "in_progress"
            else:
                received = now - timedelta(minutes=rng.randrange(0, 730 * 24 * 60))
                status = "closed"
            due = received + timedelta(days=7)
            is_open = status != "closed"
            counts["open"] += is_open
            counts["backlog"] += is_open and due < now - timedelta(days=30)
            flagged = is_open and rng.random() < 0.02
            counts["flagged"] += flagged
            case_id = new_id()
            place = rng.randrange(places)
            by_place.setdefault(place, []).append((case_id, received))
            rows.append({
                "id": case_id, "channel": "hotline_12345", "category": "noise_social",
                "subject": f"投诉 {i}", "address": f"东湖路{place}号", "description": "",
                "received_at": received, "unit_id": rng.choice(streets), "key": False,
                "status": status, "version": 1, "created_by": office, "created_at": received,
                "updated_at": received, "deadline_rule": "1+3+5+7", "deadline_rule_version": 2,
                "due_at": due if is_open else None, "extended_days": 0,
                "closed_at": None if is_open else due, "colour_until": received,
                "hard_flagged_at": now if flagged else None,
                "hard_flagged_by": office if flagged else None,
                "hard_reason": "多部门职责交叉" if flagged else None})
            if len(rows) == 10_000:
                db.session.execute(sa.insert(Case), rows)
                rows = []
        if rows:
            db.session.execute(sa.insert(Case), rows)
        # Places complained about three times or more: a listed subject each, every
        # complaint linked to it (as repeats.links leaves them).
        subjects, links = [], []
        for complaints in by_place.values():
            if len(complaints) < 3:
                continue
            complaints.sort(key=lambda c: c[1])
            subject = new_id()
            subjects.append({"id": subject, "title": "东湖路", "category": "noise_social",
                             "first_at": complaints[0][1], "last_at": complaints[-1][1],
                             "count": len(complaints), "listed_at": complaints[2][1],
                             "created_at": complaints[0][1]})
            links += [{"id": new_id(), "case_id": c, "subject_id": subject, "matched_by": [],
                       "state": "auto", "created_at": at} for c, at in complaints]
        for start in range(0, len(subjects), 10_000):
            db.session.execute(sa.insert(RepeatSubject), subjects[start:start + 10_000])
        for start in range(0, len(links), 10_000):
            db.session.execute(sa.insert(RepeatLink), links[start:start + 10_000])
        counts["linked"] = len(links)
        # Plans on a third of the flagged cases.
        planned = list(db.session.scalars(sa.select(Case.id).where(
            Case.hard_flagged_at.is_not(None)).limit(max(1, counts["flagged"] // 3))))
        db.session.execute(sa.insert(RemediationPlan), [
            {"id": new_id(), "case_id": c, "version": 1, "approach": "联合执法",
             "responsible_ids": [], "responsible_text": "街道", "deadline": now.date(),
             "status": "open", "closing_note": "", "created_at": now, "updated_at": now}
            for c in planned])
        counts["plans"] = len(planned)
        db.session.commit()
        db.engine.dispose()
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()
    return counts


def logged_in(base: str) -> requests.Session:
    session = requests.Session()
    for _ in range(120):
        try:
            if session.post(f"{base}/api/auth/login", timeout=30, json={
                    "username": "office", "password": PASSWORD}).ok:
                return session
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError("could not log in")


def timed(session: requests.Session, url: str) -> tuple[float, dict]:
    start = time.perf_counter()
    answer = session.get(url, timeout=60)
    took = (time.perf_counter() - start) * 1000
    assert answer.status_code == 200, answer.text[:300]
    return took, answer.json()


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[18]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=100, help="of each page")
    parser.add_argument("--quick", action="store_true",
                        help="2,000 cases, 20 requests of each page: does it still run?")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.requests = 500, 8
    target = f"p95 <= {TARGET_MS} ms a page of hard cases (district office, 4 queries)"
    figures: dict[str, float] = {"cases": args.cases}
    server = None
    met: dict[str, bool] = {}
    try:
        with scratch_database(PG_ADMIN) as (url, tmp):
            try:
                start = time.perf_counter()
                counts = generate(url, args.cases, tmp)
                print(f"hard cases bench: {args.cases} cases generated in "
                      f"{time.perf_counter() - start:.1f} s: {counts}")
                figures.update(counts)
                server, base = serve(url, f"file://{tmp}/objects", tmp)
                session = logged_in(base)
                times: dict[str, list[float]] = {key: [] for key in PAGES}
                me: list[float] = []
                for i in range(args.requests + 3):  # the first 3 warm up (plans, the pool)
                    for key, path in PAGES.items():
                        took, body = timed(session, f"{base}{path}")
                        took_me, _ = timed(session, f"{base}/api/me")
                        if i >= 3:
                            times[key].append(took)
                            me.append(took_me)
                        if i == 0:
                            figures[f"{key}_total"] = body.get("total", 0)
                reference = p95(me)
                print(f"reference GET /api/me p95 {reference:.1f} ms")
                figures["me_p95_ms"] = reference
                for key, path in PAGES.items():
                    ms = p95(times[key])
                    median = statistics.median(times[key])
                    print(f"GET {path:<32} p95 {ms:6.1f} ms  median {median:5.1f}"
                          f" ms  ratio {ms / reference:4.2f} x /api/me  ({figures[f'{key}_total']} "
                          f"found; target <= {TARGET_MS} ms)")
                    figures[f"{key}_p95_ms"], figures[f"{key}_ratio"] = ms, ms / reference
                    met[f"{key} p95 <= {TARGET_MS} ms"] = ms <= TARGET_MS
            finally:
                if server is not None:
                    os.killpg(server.pid, signal.SIGTERM)
                    server.wait(10)
    except DatabaseUnavailable as exc:
        emit("hard_cases", {}, target, figures, args.quick,
             [unavailable(f"hard cases bench: PostgreSQL not reachable ({exc})")])
        return 0
    emit("hard_cases", met, target, figures, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
