"""The case list, the colour board and the sweep with 200,000 cases on PostgreSQL.

Generates the cases (bench/gen_cases.py's way: one Core insert per 10,000, deadlines
computed by the real engine), serves the app with gunicorn on loopback, and measures p95
latency of GET /api/cases?sort=due, /api/board and /api/cases?colour=red against
GET /api/me (authenticated, no case query) in the same run; then times `sweep` over the
open cases. Targets: p95 <= 50 ms and within 3x of /api/me; sweep <= 10 s.
Run: .venv/bin/python bench/bench_board.py [--cases N]   (always exits 0; prints ratios)
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def generate(url: str, n: int, tmp: Path) -> None:
    from flask_migrate import upgrade

    from server import create_app
    from server.domain import auth, deadline_rules, deadlines
    from server.extensions import db
    from server.models import Case, User
    from server.models.base import new_id

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(tmp), "STORAGE_URL": f"file://{tmp}/objects"})
    with app.app_context():
        upgrade(directory=str(ROOT / "server" / "migrations"))
        auth.create_unit("区局")
        streets = [auth.create_unit(f"街道{i:02d}", "区局").id for i in range(20)]
        auth.create_user("office", "bench-password-1", "reviewer", ["区局"])
        office = db.session.scalar(sa.select(User.id).filter_by(username="office"))
        rule = deadline_rules.rule_for("hotline_12345", False)
        tz = ZoneInfo("Asia/Shanghai")
        now, rng = datetime.now(UTC), random.Random(7)
        rows = []
        for i in range(n):
            received = now - timedelta(minutes=rng.randrange(0, 12 * 24 * 60))
            s = deadlines.schedule(rule.body, rule.version,
                                   [deadlines.ClockEvent("received", received,
                                                         {"received_at": received})],
                                   calendar=None, tz=tz)
            steps = list(s.steps) + [(None, None)] * 3
            status = "closed" if i % 10 == 0 else rng.choice(
                ["received", "dispatched", "in_progress", "submitted"])
            rows.append({
                "id": new_id(), "channel": "hotline_12345",
                "category": rng.choice(["noise_social", "cooking_fumes", "noise_construction"]),
                "subject": f"夜间噪声扰民 {i}", "address": f"东湖路{i}号",
                "lat": 24.3 + rng.random() / 10, "lon": 109.4 + rng.random() / 10,
                "description": "", "received_at": received,
                "unit_id": rng.choice(streets), "key": i % 50 == 0, "status": status,
                "version": 1, "created_by": office, "created_at": received,
                "updated_at": received, "deadline_rule": rule.code,
                "deadline_rule_version": rule.version, "extended_days": 0,
                "due_at": s.due_at if status != "closed" else None,
                "milestones": [{"name": m.name, "at": m.at.isoformat()} for m in s.milestones],
                "next_milestone_at": next((m.at for m in s.milestones if m.at > now), None),
                "colour0": s.colour0, "colour1_at": steps[0][0], "colour1": steps[0][1],
                "colour2_at": steps[1][0], "colour2": steps[1][1], "colour3_at": steps[2][0],
                "colour3": steps[2][1]})
            if len(rows) == 10_000:
                db.session.execute(sa.insert(Case), rows)
                db.session.commit()
                rows = []
        if rows:
            db.session.execute(sa.insert(Case), rows)
            db.session.commit()
        db.session.execute(sa.text("ANALYZE"))
        db.session.commit()
        db.engine.dispose()


def p95(session: requests.Session, url: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = session.get(url, timeout=30)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:200])
    return statistics.quantiles(times, n=20)[18]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    name = f"fieldcase_bench_{secrets.token_hex(3)}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        print(f"board bench: PostgreSQL not reachable ({exc}); skipped")
        return 0
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    tmp = Path(f"/tmp/{name}")
    tmp.mkdir()
    server = None
    try:
        start = time.perf_counter()
        generate(url, args.cases, tmp)
        print(f"board bench: {args.cases} cases generated in {time.perf_counter() - start:.1f} s")
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp),
               "STORAGE_URL": f"file://{tmp}/objects", "SECRET_KEY": "bench", "PORT": str(port),
               "HOST": "127.0.0.1", "WEB_CONCURRENCY": "2", "RATELIMIT_STORAGE_URI":
               "redis://127.0.0.1:6379", "LOGIN_RATE_LIMIT": "1000 per minute"}
        server = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "--config",
                                   str(ROOT / "gunicorn.conf.py"), "server:create_app()"],
                                  env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        for _ in range(100):
            try:
                if session.post(f"{base}/api/auth/login", timeout=30, json={
                        "username": "office", "password": "bench-password-1"}).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        for url_ in ("/api/me", "/api/cases?sort=due", "/api/board"):
            p95(session, base + url_, 10)  # warm-up
        reference = p95(session, f"{base}/api/me", args.runs)
        print(f"reference GET /api/me p95 {reference:.1f} ms")
        for label, path in (("case list, most urgent first", "/api/cases?sort=due"),
                            ("case list, red only", "/api/cases?colour=red"),
                            ("colour board", "/api/board")):
            ms = p95(session, base + path, args.runs)
            print(f"{label:<30} p95 {ms:6.1f} ms  ratio {ms / reference:4.2f} "
                  f"(targets: <= 50 ms, ratio <= 3)")
        from server import create_app
        from server.domain import sweep

        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                          "INSTANCE_PATH": str(tmp), "STORAGE_URL": f"file://{tmp}/objects"})
        with app.app_context():
            start = time.perf_counter()
            counts = sweep.sweep(datetime.now(UTC) + timedelta(hours=6), deliver=False)
            took = time.perf_counter() - start
            print(f"sweep over {args.cases} cases: {took:.1f} s for {counts['cases']} due, "
                  f"{counts['raised']} raised (target <= 10 s)")
            from server.extensions import db
            db.engine.dispose()
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(10)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
