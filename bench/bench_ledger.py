"""The case ledger (台账) as XLSX over 200,000 cases on PostgreSQL: time, and memory that
does not grow with the rows.

Builds a district's year (one INSERT ... SELECT over generate_series in PostgreSQL, no
Python per row): cases received over the last 360 days in 20 streets, the recent 5% open,
the rest closed with a verdict and a result, one in 25 held by a leader, about 70% of the
closed ones revisited (some twice), so the ledger's joins and its latest-satisfaction
window have their real work. Then, each in a fresh child process (so its peak RSS is its
own), takes out as the district office:
- the ledger XLSX of the last 36 days (~10% of the rows: 20,000 at full size) and of the
  last 360 days (every row: 200,000), through the domain command the endpoint calls
  (query streamed from a server-side cursor, XlsxWriter in constant memory, to a temp file);
- the same rows as CSV (the reference, in the same child, same query): the ratio says what
  the workbook costs over writing the rows plainly.
Prints seconds (and the CPU seconds, which a machine shared with other work does not
inflate), rows, the child's peak RSS while it wrote the ledger (VmHWM, reset just before)
and what that peak added over its RSS before it began. Targets: the 200,000-row XLSX
<= 30 s; peak RSS at 200,000 rows within 25% (and 40 MB) of the peak at 20,000 (10x the
rows, the same memory).
Run: .venv/bin/python bench/bench_ledger.py [--cases N] [--quick]   (exits 0 when a target
is missed: prints ratios; --quick: 1,000 cases)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from report import emit, unavailable  # bench/report.py, beside this script
from serving import DatabaseUnavailable, scratch_database

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DAYS = 360
SMALL_DAYS = 36  # a tenth of the year: a tenth of the rows

CASES_SQL = """
INSERT INTO cases (id, channel, category, subject, address, description, received_at,
    unit_id, key, external_ref, status, leader_id, verdict, result, closed_at,
    deadline_rule, deadline_rule_version, due_at, colour0, colour1, colour1_at, colour2,
    colour2_at, colour3, colour3_at, extended_days, deadline_provisional, colour_until,
    version, created_by, created_at, updated_at)
SELECT gen_random_uuid()::text, 'hotline_12345',
    (ARRAY['noise_social','cooking_fumes','noise_construction','odour'])[1 + i % 4],
    (ARRAY['东湖路','朝阳路','民族大道','星光大道','金湖广场','园湖路','长堽路','秀灵路'])
      [1 + i % 8]
      || (ARRAY['KTV','烧烤店','饭店','工地','酒吧','小区','菜市场','洗车场','广场舞点','汽修厂'])
         [1 + i % 10]
      || (ARRAY['夜间噪声扰民','油烟直排','施工噪声','音响声音过大','异味扰民','污水外排'])
         [1 + i % 6],
    (ARRAY['东湖路','朝阳路','民族大道','星光大道'])[1 + i % 4] || (i % 900 + 1) || '号',
    '', r.at, (CAST(:streets AS text[]))[1 + i % 20], i % 50 = 0, 'GD' || (20250000000 + i),
    CASE WHEN o.open THEN 'in_progress' ELSE 'closed' END,
    CASE WHEN i % 25 = 0 THEN CAST(:leader AS text) END,
    CASE WHEN o.open THEN NULL ELSE (ARRAY['true','partly_true','not_true'])[1 + i % 3] END,
    CASE WHEN o.open THEN NULL
         ELSE '经现场核查，已责令当事人整改，复测达标，并向投诉人反馈处理结果。' END,
    CASE WHEN o.open THEN NULL ELSE r.at + (i % 9) * interval '1 day' END,
    :rule, :version, r.at + interval '7 days', 'green',
    'blue', r.at + interval '4 days', 'yellow', r.at + interval '5 days',
    'red', r.at + interval '6 days', 0, false, timestamptz '1970-01-01 00:00:00+00',
    1, :office, r.at, r.at
FROM generate_series(1, :n) AS i,
     LATERAL (SELECT now() - (i::float / :n) * interval '360 days' AS at) AS r,
     LATERAL (SELECT i <= :n / 20 AS open) AS o
"""
# About 70% of the closed cases revisited once, 20% twice (the latest one counts).
REVISITS_SQL = """
INSERT INTO revisits (id, client_id, request_hash, case_id, method, at, satisfaction,
    outcome, attempts, notes, created_by, received_at, flags)
SELECT gen_random_uuid()::text, gen_random_uuid()::text, repeat('0', 64), c.id, 'phone',
    c.closed_at + n * interval '1 day',
    (ARRAY['satisfied','basically_satisfied','dissatisfied'])[1 + (abs(hashtext(c.id)) + n) % 3],
    'reached', '[]', '', :revisit, now(), '[]'
FROM cases c, generate_series(1, 2) AS n
WHERE c.status = 'closed' AND abs(hashtext(c.id)) % 10 < CASE n WHEN 1 THEN 7 ELSE 2 END
"""


def _app(url: str, tmp: Path):  # type: ignore[no-untyped-def]
    from server import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       "INSTANCE_PATH": str(tmp), "STORAGE_URL": f"file://{tmp}/objects"})


def generate(url: str, n: int, tmp: Path) -> None:
    from flask_migrate import upgrade

    from server.domain.accounts import auth
    from server.domain.cases import deadline_rules
    from server.extensions import db
    from server.models import User

    app = _app(url, tmp)
    with app.app_context():
        upgrade(directory=str(ROOT / "server" / "migrations"))
        auth.create_unit("区局")
        streets = [auth.create_unit(f"街道{i:02d}", "区局").id for i in range(20)]
        auth.create_user("office", "bench-password-1", "reviewer", ["区局"])
        auth.create_user("leader", "bench-password-1", "leader", ["区局"],
                         display_name="王局长")
        auth.create_user("caller", "bench-password-1", "revisit", ["区局"])
        ids = {u.username: u.id for u in db.session.scalars(sa.select(User))}
        rule = deadline_rules.rule_for("hotline_12345", False)
        db.session.execute(sa.text(CASES_SQL), {
            "n": n, "streets": streets, "leader": ids["leader"], "office": ids["office"],
            "rule": rule.code, "version": rule.version})
        db.session.execute(sa.text(REVISITS_SQL), {"revisit": ids["caller"]})
        db.session.commit()
        db.engine.dispose()
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


def _rss_kb(field: str) -> int:
    """VmRSS (now) or VmHWM (the peak since the last reset) of this process, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> None:
    """Start the peak RSS (VmHWM) afresh from now (Linux: clear_refs 5), so the peak is the
    ledger's and not the imports' or the app's start-up."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def child(url: str, tmp: Path, days: int, fmt: str) -> dict[str, float]:
    """In a process of its own: take out the ledger of the last `days` days; its time,
    rows and memory."""
    from server.domain.ledgers import exports
    from server.domain.ledgers.ledger_period import local_tz
    from server.extensions import db
    from server.models import User
    from server.models.base import utcnow

    app = _app(url, tmp)
    with app.app_context(), app.test_request_context():
        user = db.session.scalar(sa.select(User).filter_by(username="office"))
        today = utcnow().astimezone(local_tz()).date()
        first: date = today - timedelta(days=days - 1)
        db.session.rollback()
        base_kb = _rss_kb("VmRSS")
        _reset_peak()
        start, cpu = time.perf_counter(), time.process_time()
        export = exports.case_ledger_file(user, first, today, fmt)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        export.file.seek(0, os.SEEK_END)
        size = export.file.tell()
        export.file.close()
        peak_kb = _rss_kb("VmHWM")
        db.engine.dispose()
    return {"seconds": seconds, "cpu_s": cpu, "rows": export.rows, "bytes": size,
            "peak_mb": peak_kb / 1024, "added_mb": (peak_kb - base_kb) / 1024}


def run_child(url: str, tmp: Path, days: int, fmt: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", url, str(tmp), str(days), fmt],
                         cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, tmp, days, fmt = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
        print(json.dumps(child(url, tmp, days, fmt)))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true",
                        help="1,000 cases: does it still run?")
    args = parser.parse_args()
    if args.quick:
        args.cases = 1_000
    target = ("ledger XLSX of 200,000 cases <= 30 s; peak RSS at 200,000 rows within 25% "
              "and 40 MB of the peak at 20,000")
    figures: dict[str, float] = {"cases": args.cases}
    met: dict[str, bool] = {}
    try:
        with scratch_database(PG_ADMIN) as (url, tmp):
            start = time.perf_counter()
            generate(url, args.cases, tmp)
            print(f"ledger bench: {args.cases} cases generated in "
                  f"{time.perf_counter() - start:.1f} s")
            runs = {}
            for tag, days in (("small", SMALL_DAYS), ("full", DAYS)):
                for fmt in ("csv", "xlsx"):
                    got = run_child(url, tmp, days, fmt)
                    runs[(tag, fmt)] = got
                    print(f"{fmt:>4} ledger, last {days:3d} days: {got['rows']:>7,.0f} rows in "
                          f"{got['seconds']:6.2f} s (CPU {got['cpu_s']:5.2f} s), "
                          f"{got['bytes'] / 1e6:6.1f} MB, peak RSS "
                          f"{got['peak_mb']:6.1f} MB (+{got['added_mb']:5.1f} MB over the "
                          "RSS before)")
                    for key in ("seconds", "cpu_s", "rows", "peak_mb", "added_mb"):
                        figures[f"{tag}_{fmt}_{key}"] = got[key]
            full, small = runs[("full", "xlsx")], runs[("small", "xlsx")]
            ratio = full["seconds"] / max(runs[("full", "csv")]["seconds"], 1e-6)
            growth = full["peak_mb"] / max(small["peak_mb"], 1e-6)
            print(f"XLSX {full['seconds']:.2f} s for {full['rows']:,.0f} rows: ratio "
                  f"{ratio:.2f} x the same rows as CSV (target <= 30 s at 200,000)")
            print(f"peak RSS {small['peak_mb']:.1f} MB at {small['rows']:,.0f} rows, "
                  f"{full['peak_mb']:.1f} MB at {full['rows']:,.0f}: x{growth:.2f} for "
                  f"x{full['rows'] / max(small['rows'], 1):.1f} the rows")
            figures["xlsx_vs_csv_ratio"], figures["rss_growth"] = ratio, growth
            met["200k XLSX <= 30 s"] = full["seconds"] <= 30 * max(1.0, full["rows"] / 200_000)
            met["memory flat (<= 1.25x, +40 MB)"] = (
                growth <= 1.25 and full["peak_mb"] - small["peak_mb"] <= 40)
    except DatabaseUnavailable as exc:
        emit("ledger", {}, target, figures, args.quick,
             [unavailable(f"ledger bench: PostgreSQL not reachable ({exc})")])
        return 0
    emit("ledger", met, target, figures, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
