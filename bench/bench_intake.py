"""A platform's 10,000-row sheet imported: preview and confirm, against reading it alone.

Writes a 12345-style .xlsx (dates, numbers for phones, a category the source maps), then
times, in the same run: the reader alone (python-calamine, server.media.spreadsheets), the
preview (POST /api/imports: read, map, check duplicates, store) and the confirmation
(POST /api/imports/<id>/confirm: every case with its deadline, `received` event, audit
entry and case_added listeners, in one transaction). PostgreSQL when reachable (a
database made and dropped here), else SQLite; the line says which.
Target: preview + confirm <= 10 s; printed as a ratio to the read alone.
Run: .venv/bin/python bench/bench_intake.py [--rows N] [--quick]   (--quick: 1,000 rows)
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from report import emit, unavailable  # bench/report.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HEADERS = ["工单编号", "来电时间", "诉求内容", "诉求地址", "来电人", "联系电话", "诉求类别",
           "承办单位", "被投诉对象"]
CATEGORIES = ["噪音扰民", "油烟污染", "建筑施工噪声"]


def make_sheet(rows: int) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("工单")
    when = book.add_format({"num_format": "yyyy/m/d hh:mm"})
    sheet.write_row(0, 0, ["12345热线工单导出"])  # a title row above the header
    sheet.write_row(1, 0, HEADERS)
    start = datetime.now().replace(microsecond=0) - timedelta(days=40)  # none in the future
    for i in range(rows):
        r = i + 2
        sheet.write_string(r, 0, f"GD2026{i:07d}")
        sheet.write_datetime(r, 1, start + timedelta(minutes=5 * i), when)
        sheet.write_string(r, 2, f"夜间噪声扰民，第{i}号投诉，影响休息")
        # One row in ten repeats the complaint five rows up (same place and category).
        place = i - 5 if i % 10 == 9 else i
        sheet.write_string(r, 3, f"东湖路{place}号")
        sheet.write_string(r, 4, "张三")
        sheet.write_number(r, 5, 13800000000 + i)  # a phone stored as a number, each its own
        sheet.write_string(r, 6, CATEGORIES[place % 3])
        sheet.write_string(r, 7, f"街道{i % 20:02d}")
        sheet.write_string(r, 8, f"某KTV{place}")
    book.close()
    return out.getvalue()


def run(url: str, tmp: Path, rows: int, figures: dict) -> dict[str, bool]:
    from flask_migrate import upgrade

    from server import create_app
    from server.domain.accounts import auth
    from server.extensions import db
    from server.media import spreadsheets
    from server.models import Case, IntakeSource

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(tmp), "STORAGE_URL": f"file://{tmp}/objects",
                      "LOGIN_RATE_LIMIT": "1000 per minute"})
    with app.app_context():
        upgrade(directory=str(ROOT / "server" / "migrations"))
        auth.create_unit("区局")
        for i in range(20):
            auth.create_unit(f"街道{i:02d}", "区局")
        auth.create_user("office", "bench-password-1", "reviewer", ["区局"])
        source = db.session.scalar(sa.select(IntakeSource).filter_by(code="hotline_12345"))
        source.value_maps = {"category": {"噪音扰民": "noise_social", "油烟污染": "cooking_fumes",
                                          "建筑施工噪声": "noise_construction"}}
        db.session.commit()
        data = make_sheet(rows)
        figures["file_bytes"] = len(data)
        start = time.perf_counter()
        sheet = spreadsheets.read_sheet(data, "工单.xlsx", known_headers=HEADERS,
                                        max_rows=50_000)
        read_s = time.perf_counter() - start
        assert len(sheet.rows) == rows, len(sheet.rows)
        client = app.test_client()
        login = client.post("/api/auth/login", json={"username": "office",
                                                     "password": "bench-password-1"})
        csrf = {"X-CSRF-Token": login.get_json()["csrf_token"]}
        boundary = "----bench"
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="source"\r\n\r\n'
                f'hotline_12345\r\n--{boundary}\r\nContent-Disposition: form-data; '
                f'name="file"; filename="gd.xlsx"\r\n\r\n').encode() + data + \
            f"\r\n--{boundary}--\r\n".encode()
        start = time.perf_counter()
        answer = client.post("/api/imports", data=body, headers=csrf,
                             content_type=f"multipart/form-data; boundary={boundary}")
        preview_s = time.perf_counter() - start
        assert answer.status_code == 201, answer.get_json()
        preview = answer.get_json()
        assert preview["counts"]["new"] == rows, preview["counts"]
        start = time.perf_counter()
        done = client.post(f"/api/imports/{preview['id']}/confirm", headers=csrf)
        confirm_s = time.perf_counter() - start
        assert done.status_code == 200, done.get_json()
        assert done.get_json()["created"] == rows
        made = db.session.scalar(sa.select(sa.func.count()).select_from(Case))
        assert made == rows, made
        from server.domain.audit import audit

        assert audit.verify_chain() == (True, None)  # the batch's entries chained in order
        db.engine.dispose()
    total = preview_s + confirm_s
    figures.update({"read_alone_s": read_s, "preview_s": preview_s, "confirm_s": confirm_s,
                    "preview_confirm_s": total, "x_read_alone": total / read_s})
    print(f"intake bench ({figures['database']}): {rows:,} rows, {len(data):,} bytes")
    print(f"  read alone (calamine)  {read_s:7.2f} s")
    print(f"  preview                {preview_s:7.2f} s")
    print(f"  confirm                {confirm_s:7.2f} s   ({rows / confirm_s:,.0f} cases/s)")
    print(f"  preview + confirm      {total:7.2f} s   = {total / read_s:.1f}x the read alone")
    return {"preview + confirm <= 10 s": total <= 10.0}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,000 rows: does it still run?")
    parser.add_argument("--sqlite", action="store_true", help="SQLite even if PostgreSQL is up")
    args = parser.parse_args()
    if args.quick:
        args.rows = 1_000
    target = "preview + confirm of a 10,000-row sheet <= 10 s"
    figures: dict = {"rows": args.rows}
    name = f"fieldcase_bench_{secrets.token_hex(3)}"
    tmp = Path(f"/tmp/{name}")
    tmp.mkdir(exist_ok=True)
    admin = None
    url = f"sqlite:///{tmp / 'fieldcase.db'}"
    figures["database"] = "sqlite"
    skipped: list[str] = []
    if not args.sqlite:
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
            figures["database"] = "postgresql"
        except sa.exc.OperationalError as exc:
            admin.dispose()
            admin = None
            skipped.append(unavailable(f"intake bench: PostgreSQL not reachable ({exc}); "
                                       "SQLite instead"))
    try:
        met = run(url, tmp, args.rows, figures)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    emit("intake", met, target, figures, args.quick, skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
