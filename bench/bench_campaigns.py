"""A look-back campaign over 10,000 closed cases on PostgreSQL, among 50,000 cases.

Generates the cases (one Core insert per 10,000 rows), then times, in process:
- the campaign's creation over every closed case of the period (one transaction: the
  selection counted, the tasks inserted in one INSERT ... SELECT, the audit entry);
- its progress table (annex 2: one grouped query) after a third of the tasks are done;
- GET /api/me through the test client, the reference, in the same run.
Targets: creation <= 5 s for 10,000 tasks; progress <= 100 ms. Prints ratios to /api/me.
Run: .venv/bin/python bench/bench_campaigns.py [--cases N] [--quick]   (--quick: 500
cases; exits 0 when a target is missed)
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from report import emit, unavailable  # bench/report.py, beside this script
from serving import DatabaseUnavailable, scratch_database

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "bench-password-1"


def app_for(url: str, tmp: Path):  # type: ignore[no-untyped-def]
    from server import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       "INSTANCE_PATH": str(tmp), "STORAGE_URL": f"file://{tmp}/objects"})


def generate(url: str, n: int, tmp: Path) -> None:
    """n cases over two years, a fifth of them closed in 2025 (the campaign's period)."""
    from flask_migrate import upgrade

    from server.domain.accounts import auth
    from server.extensions import db
    from server.models import Case, User
    from server.models.base import new_id

    app = app_for(url, tmp)
    with app.app_context():
        upgrade(directory=str(ROOT / "server" / "migrations"))
        auth.create_unit("区局")
        streets = [auth.create_unit(f"街道{i:02d}", "区局").id for i in range(20)]
        auth.create_user("office", PASSWORD, "reviewer", ["区局"])
        office = db.session.scalar(sa.select(User.id).filter_by(username="office"))
        rng, rows = random.Random(5), []
        start = datetime(2024, 1, 1, tzinfo=UTC)
        for i in range(n):
            in_period = i % 5 == 0
            received = (datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(
                0, 360 * 24 * 60))) if in_period else start + timedelta(
                minutes=rng.randrange(0, 365 * 24 * 60))
            rows.append({"id": new_id(), "channel": "hotline_12345", "category": "noise_social",
                         "subject": f"投诉 {i}", "address": f"东湖路{i}号", "description": "",
                         "received_at": received, "unit_id": rng.choice(streets), "key": False,
                         "status": "closed", "closed_at": received + timedelta(days=5),
                         "verdict": "true", "result": "已整改", "version": 1,
                         "created_by": office, "created_at": received, "updated_at": received,
                         "extended_days": 0, "colour_until": received})
            if len(rows) == 10_000:
                db.session.execute(sa.insert(Case), rows)
                db.session.commit()
                rows = []
        if rows:
            db.session.execute(sa.insert(Case), rows)
            db.session.commit()
        db.engine.dispose()
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


def measure(url: str, tmp: Path) -> dict[str, float]:
    from server.domain.remediation import campaigns
    from server.extensions import db
    from server.models import RecheckTask, User

    app = app_for(url, tmp)
    client = app.test_client()
    assert client.post("/api/auth/login", json={"username": "office",
                                                "password": PASSWORD}).status_code == 200
    for _ in range(10):  # warm up
        client.get("/api/me")
    me_ms = []
    for _ in range(50):
        t0 = time.perf_counter()
        client.get("/api/me")
        me_ms.append((time.perf_counter() - t0) * 1000)
    with app.app_context():
        user = db.session.scalar(sa.select(User).filter_by(username="office"))
        t0 = time.perf_counter()
        made = campaigns.create(user, {"title": "2025年信访件回头看", "from": date(2025, 1, 1),
                                       "to": date(2025, 12, 31)})
        create_s = time.perf_counter() - t0
        tasks = made["counts"]["total"]
        # A third of the tasks checked over the last weeks, some with a new problem.
        now = datetime.now(UTC)
        ids = list(db.session.scalars(sa.select(RecheckTask.id).limit(tasks // 3)))
        for i, task_id in enumerate(ids):
            db.session.execute(sa.update(RecheckTask).where(RecheckTask.id == task_id).values(
                status="done", checked_at=now - timedelta(days=i % 21), rebound=i % 7 == 0))
        db.session.commit()
        progress_ms = []
        for _ in range(20):
            t0 = time.perf_counter()
            campaigns.progress(user, made["id"], None)
            progress_ms.append((time.perf_counter() - t0) * 1000)
            db.session.rollback()
        db.engine.dispose()
    return {"tasks": tasks, "create_s": create_s, "progress_ms": statistics.median(progress_ms),
            "me_ms": statistics.median(me_ms)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="500 cases: does it still run?")
    args = parser.parse_args()
    if args.quick:
        args.cases = 500
    target = "campaign over 10,000 closed cases <= 5 s; its progress table <= 100 ms"
    figures: dict[str, float] = {"cases": args.cases}
    met: dict[str, bool] = {}
    try:
        with scratch_database(PG_ADMIN) as (url, tmp):
            t0 = time.perf_counter()
            generate(url, args.cases, tmp)
            print(f"campaigns bench: {args.cases} cases generated in "
                  f"{time.perf_counter() - t0:.1f} s")
            found = measure(url, tmp)
            figures.update(found)
            me = found["me_ms"]
            print(f"reference GET /api/me median {me:.1f} ms")
            print(f"campaign over {found['tasks']} closed cases {found['create_s']:.2f} s  "
                  f"ratio {found['create_s'] * 1000 / me:.0f} x /api/me  (target <= 5 s)")
            print(f"progress table median {found['progress_ms']:.1f} ms  "
                  f"ratio {found['progress_ms'] / me:.2f} x /api/me  (target <= 100 ms)")
            met["campaign <= 5 s"] = found["create_s"] <= 5
            met["progress <= 100 ms"] = found["progress_ms"] <= 100
    except DatabaseUnavailable as exc:
        emit("campaigns", {}, target, figures, args.quick,
             [unavailable(f"campaigns bench: PostgreSQL not reachable ({exc})")])
        return 0
    emit("campaigns", met, target, figures, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
