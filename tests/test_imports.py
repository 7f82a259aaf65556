"""A platform's sheet imported: the preview writes no case, mappings are kept per source,
the confirmation is all or nothing and answers the same when repeated, limits and hostile
files are refused whole."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from server.domain.audit import audit, timeline
from server.domain.cases import hooks
from server.domain.core import privacy
from server.extensions import db
from server.models import AuditEntry, Case, CaseEvent, ImportBatch, IntakeSource
from tests.conftest import unit_id

HEADERS = ["工单编号", "来电时间", "诉求内容", "诉求地址", "来电人", "联系电话", "诉求类别",
           "承办单位", "被投诉对象"]
DEFAULT_SOURCES = (
    ("00000000-0000-4000-8000-000000012345", "hotline_12345", "12345政务服务便民热线",
     "12345 government hotline", "hotline_12345"),
    ("00000000-0000-4000-8000-000000012369", "hotline_12369", "12369环保举报热线",
     "12369 environmental hotline", "hotline_12369"),
    ("00000000-0000-4000-8000-0000000000a1", "petition", "信访信息系统",
     "Petition (xinfang) system", "letter"),
)


@pytest.fixture()
def sources(app):  # type: ignore[no-untyped-def]
    """The three sources the migration seeds, with empty maps (the app fixture empties the
    table after each test)."""
    db.session.execute(sa.delete(IntakeSource))
    now = datetime.now(UTC)
    for id_, code, zh, en, channel in DEFAULT_SOURCES:
        db.session.add(IntakeSource(id=id_, code=code, name_zh=zh, name_en=en,
                                    channel=channel, column_map={}, value_maps={},
                                    created_at=now, updated_at=now))
    db.session.commit()
    return app


def row(ref: str, **over: Any) -> list[str]:
    base = {"工单编号": ref, "来电时间": "2026/11/20 20:00", "诉求内容": "夜间KTV噪声扰民",
            "诉求地址": "东湖路88号", "来电人": "张三", "联系电话": "13812341234",
            "诉求类别": "噪音扰民", "承办单位": "Street A", "被投诉对象": "夜色KTV"}
    base.update(over)
    return [base[h] for h in HEADERS]


def sheet(rows: list[list[str]], headers: list[str] | None = None) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers or HEADERS)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def multipart(fields: dict[str, str], data: bytes, name: str) -> tuple[bytes, str]:
    """The form as a browser sends it (built here: the test client spools a large body to
    a temporary file it never closes)."""
    boundary = "----fieldcase-test-boundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
             f"{value}\r\n".encode() for key, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def upload(api, data: bytes, source: str = "hotline_12345",  # type: ignore[no-untyped-def]
           name: str = "工单.csv"):
    body, content_type = multipart({"source": source}, data, name)
    return api.post("/api/imports", data=body, content_type=content_type)


def map_noise(api) -> None:  # type: ignore[no-untyped-def]
    answer = api.put("/api/intake-sources/hotline_12345/mapping",
                     json={"value_maps": {"category": {"噪音扰民": "noise_social"}}})
    assert answer.status_code == 200, answer.get_json()


def count_cases() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Case))


def test_sources_list_their_maps_fields_and_default_headers(sources, as_user):  # type: ignore[no-untyped-def]
    listed = as_user("reviewer").get("/api/intake-sources").get_json()
    assert {s["code"] for s in listed["items"]} == {"hotline_12345", "hotline_12369",
                                                    "petition"}
    required = {f["field"] for f in listed["fields"] if f["required"]}
    assert required == {"external_ref", "received_at", "category"}
    assert "受理时间" in listed["default_headers"]["received_at"]
    assert as_user("insp_a").get("/api/intake-sources").status_code == 403


def test_unknown_category_is_listed_then_mapped_and_the_preview_refreshed(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    answer = upload(api, sheet([row("A-1"), row("A-2"), row("A-3", 诉求类别="油烟扰民")]))
    assert answer.status_code == 201, answer.get_json()
    preview = answer.get_json()
    assert count_cases() == 0  # the preview writes no case
    assert preview["counts"] == {"new": 0, "duplicate": 0, "invalid": 3, "repeat": 0}
    assert preview["unknown"]["category"] == [{"value": "噪音扰民", "count": 2},
                                              {"value": "油烟扰民", "count": 1}]
    errors = preview["rows"][0]["errors"]
    assert [e["code"] for e in errors] == ["import.unknown_category"]
    assert "噪音扰民" in errors[0]["message_zh"] and "噪音扰民" in errors[0]["message_en"]
    assert preview["column_map"]["external_ref"] == "工单编号"
    assert preview["header_row"] == 1 and preview["rows"][0]["row"] == 2
    map_noise(api)
    again = api.post(f"/api/imports/{preview['id']}/remap").get_json()
    assert again["counts"]["new"] == 2 and again["counts"]["invalid"] == 1
    assert again["unknown"]["category"] == [{"value": "油烟扰民", "count": 1}]
    assert again["rows"][0]["case"]["category"] == "noise_social"
    assert again["rows"][0]["case"]["complainant_phone"] == "138****1234"
    assert api.get(f"/api/imports/{preview['id']}").get_json()["counts"] == again["counts"]
    saved = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.action == "intake.mapping_changed"))
    assert saved.data["after"]["value_maps"]["category"] == {"噪音扰民": "noise_social"}


def test_confirm_creates_every_new_row_once_and_a_second_sheet_is_all_duplicate(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    map_noise(api)
    data = sheet([row("B-1"), row("B-2", 承办单位="Street B"), row("B-3", 来电时间="昨天")])
    preview = upload(api, data).get_json()
    assert preview["counts"] == {"new": 2, "duplicate": 0, "invalid": 1, "repeat": 0}
    assert preview["rows"][2]["errors"][0]["field"] == "received_at"
    done = api.post(f"/api/imports/{preview['id']}/confirm")
    assert done.status_code == 200, done.get_json()
    result = done.get_json()
    assert (result["created"], result["skipped_duplicates"], result["invalid"]) == (2, 0, 1)
    made = db.session.scalars(sa.select(Case).order_by(Case.external_ref)).all()
    assert [(c.external_ref, c.intake_source, c.channel, c.category) for c in made] == [
        ("B-1", "hotline_12345", "hotline_12345", "noise_social"),
        ("B-2", "hotline_12345", "hotline_12345", "noise_social")]
    assert made[1].unit_id == unit_id("Street B")
    # Received 20:00 Beijing time: the deadline counts from then, not from the import.
    assert made[0].received_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert made[0].due_at is not None and made[0].subject == "夜色KTV"
    assert sorted(result["case_ids"]) == sorted(c.id for c in made)
    events = db.session.scalars(sa.select(CaseEvent.kind).where(
        CaseEvent.case_id.in_(result["case_ids"]), CaseEvent.kind == "received")).all()
    assert events == ["received", "received"]
    created = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "case.created")).all()
    assert {e.data["import"] for e in created} == {preview["id"]}
    confirmed = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == "import.confirmed")).all()
    assert len(confirmed) == 1 and confirmed[0].data["created"] == 2
    assert audit.verify_chain() == (True, None)  # the batch's entries chained in order
    assert not list(timeline.chain_problems())
    # Confirming again answers the same and creates nothing.
    assert api.post(f"/api/imports/{preview['id']}/confirm").get_json() == result
    assert count_cases() == 2
    # The same sheet again: what it brought is a duplicate, the bad row still bad.
    second = upload(api, data).get_json()
    assert second["counts"] == {"new": 0, "duplicate": 2, "invalid": 1, "repeat": 0}
    assert second["rows"][0]["duplicate_of"] == made[0].id
    assert api.post(f"/api/imports/{second['id']}/confirm").get_json()["created"] == 0
    assert count_cases() == 2


def test_a_duplicate_elsewhere_is_reported_without_its_id(sources, as_user):  # type: ignore[no-untyped-def]
    office, street = as_user("reviewer"), as_user("reviewer_a")
    map_noise(office)
    first = upload(office, sheet([row("C-1", 承办单位="Street B")])).get_json()
    office.post(f"/api/imports/{first['id']}/confirm")
    again = upload(street, sheet([row("C-1"), row("C-2", 承办单位="Street B")])).get_json()
    assert again["rows"][0]["status"] == "duplicate"
    assert again["rows"][0]["duplicate_of"] is None  # Street A may not see Street B's case
    assert [e["code"] for e in again["rows"][1]["errors"]] == ["import.unit_out_of_scope"]


def test_a_reference_twice_in_the_file_makes_the_second_invalid(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    map_noise(api)
    preview = upload(api, sheet([row("D-1"), row("D-2"), row("D-1")])).get_json()
    statuses = [(r["status"], [e["code"] for e in r.get("errors", [])])
                for r in preview["rows"]]
    assert statuses == [("new", []), ("new", []), ("invalid", ["import.duplicate_in_file"])]
    assert "2" in preview["rows"][2]["errors"][0]["message_en"]


def test_nothing_is_created_when_one_row_fails_at_insert(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    map_noise(api)
    preview = upload(api, sheet([row(f"E-{i}") for i in range(1, 6)])).get_json()
    assert preview["counts"]["new"] == 5

    # Between the check and the insert of E-4, the same reference lands (as a platform's
    # push would): the unique index refuses E-4 and the whole import rolls back.
    def collide(case: Case) -> None:
        if case.external_ref == "E-3":
            db.session.execute(sa.insert(Case.__table__).values(
                id="11111111-1111-4111-8111-111111111111", channel="hotline_12345",
                category="noise_social", subject="x", address="x", description="",
                received_at=case.received_at, unit_id=case.unit_id, key=False,
                external_ref="E-4", intake_source="hotline_12345", status="received",
                version=1, extended_days=0, deadline_provisional=False,
                colour_until=case.received_at, created_at=case.received_at,
                updated_at=case.received_at))

    hooks.case_added.register(collide)
    try:
        failed = api.post(f"/api/imports/{preview['id']}/confirm")
    finally:
        hooks.case_added._targets.remove(collide)
    assert failed.status_code == 409
    assert count_cases() == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvent)) == 0
    batch = db.session.get(ImportBatch, preview["id"])
    assert batch.status == "previewed" and batch.result is None
    # Nothing half-done stands in the way: the same preview now confirms whole.
    assert api.post(f"/api/imports/{preview['id']}/confirm").get_json()["created"] == 5


def test_a_sources_column_map_is_kept_and_the_next_sheet_maps_itself(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    map_noise(api)
    theirs = ["单号", "受理时间", "内容", "地址", "分类", "部门"]
    data = sheet([["F-1", "2026-05-16", "油烟", "西街1号", "噪音扰民", "Street A"]], theirs)
    refused = upload(api, data)
    assert refused.status_code == 422
    problem = refused.get_json()
    assert problem["code"] == "import.wrong_header"
    assert set(problem["missing"]) == {"external_ref", "category"}
    assert "单号" in problem["columns"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 0
    saved = api.put("/api/intake-sources/hotline_12345/mapping", json={"column_map": {
        "external_ref": "单号", "description": "内容", "category": "分类", "unit": "部门"}})
    assert saved.status_code == 200, saved.get_json()
    first = upload(api, data).get_json()
    assert first["counts"]["new"] == 1 and first["column_map"]["external_ref"] == "单号"
    # Next month's sheet from the same platform: no mapping asked.
    later = upload(api, sheet([["F-2", "2026年6月1日", "噪声", "东街2号", "噪音扰民",
                                "Street A"]], theirs)).get_json()
    assert later["counts"]["new"] == 1
    assert later["rows"][0]["case"]["subject"] == "噪声"  # from the description
    # Another platform keeps its own mapping (none): the same sheet is wrong there.
    assert upload(api, data, source="hotline_12369").status_code == 422
    # A sheet with no header we know at all: refused as having no header.
    none = upload(api, sheet([["K-1", "x"]], ["甲", "乙"])).get_json()
    assert none["status"] == 422 and none["code"] == "import.no_header"


def test_bad_mappings_are_refused(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    bad = api.put("/api/intake-sources/hotline_12345/mapping", json={
        "column_map": {"colour": "颜色"},
        "value_maps": {"category": {"噪音": "loud"}, "unit": {"乙街道": "no-such-unit"}}})
    assert bad.status_code == 422 and bad.get_json()["code"] == "intake.bad_mapping"
    assert set(bad.get_json()["errors"]) == {"column_map", "value_maps"}
    assert "乙街道" in " ".join(bad.get_json()["errors"]["value_maps"])
    assert as_user("insp_a").put("/api/intake-sources/hotline_12345/mapping",
                                 json={"column_map": {}}).status_code == 403
    assert as_user("reviewer").put("/api/intake-sources/nope/mapping",
                                   json={"column_map": {}}).status_code == 404


def test_only_the_office_imports(sources, as_user):  # type: ignore[no-untyped-def]
    office = as_user("reviewer")
    map_noise(office)
    preview = upload(office, sheet([row("G-1")])).get_json()
    for name in ("insp_a", "revisit"):
        api = as_user(name)
        refused = upload(api, sheet([row("G-2")]))
        assert refused.status_code == 403
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert api.post(f"/api/imports/{preview['id']}/confirm").status_code == 403
    assert count_cases() == 0


def test_a_hostile_or_wrong_file_is_refused_whole(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    pdf = upload(api, b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF", name="工单.xlsx")
    assert 400 <= pdf.status_code < 500
    assert pdf.headers["Content-Type"] == "application/problem+json"
    assert pdf.get_json()["code"] and pdf.get_json()["messages"]["zh"]
    missing = api.post("/api/imports", data={"source": "hotline_12345"},
                       content_type="multipart/form-data")
    assert missing.status_code == 422 and "file" in missing.get_json()["errors"]
    assert upload(api, sheet([row("H-1")]), source="nope").status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 0


def test_more_rows_than_the_limit_are_refused(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    lines = "\n".join(f"R-{i},2026/11/20 20:00,噪声,东湖路{i}号,,,噪音扰民,Street A,"
                      for i in range(50_001))
    data = (",".join(HEADERS) + "\n" + lines + "\n").encode("utf-8")
    refused = upload(api, data)
    assert refused.status_code == 413, refused.get_json()
    assert refused.get_json()["code"] == "import.too_many_rows"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportBatch)) == 0


def test_a_formula_cell_is_stored_as_the_text_it_was(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    map_noise(api)
    formula = '=HYPERLINK("http://evil.example","点此")'
    preview = upload(api, sheet([row("J-1", 诉求内容=formula, 被投诉对象="+cmd|' /C calc'!A0")])
                     ).get_json()
    assert preview["rows"][0]["status"] == "new", preview["rows"][0]
    result = api.post(f"/api/imports/{preview['id']}/confirm").get_json()
    case = db.session.get(Case, result["case_ids"][0])
    assert case.description == formula
    assert case.subject == "+cmd|' /C calc'!A0"


# The realistic sheet's categories and units, mapped the way an office would.
SHEET_CATEGORIES = {"噪声污染": "noise_social", "大气污染": "dust", "水污染": "water",
                    "固体废物": "waste", "油烟扰民": "cooking_fumes"}
SHEET_UNITS = {"城中区生态环境局": "District", "城东街道办事处": "Street A",
               "城西执法大队": "Street B"}
FIELD_OF_COLUMN = {"工单编号": "external_ref", "来电时间": "received_at",
                   "联系电话": "complainant_phone"}


@pytest.mark.parametrize("fmt", ["xlsx", "xls", "csv"])
def test_a_realistic_12345_sheet_previews_and_imports_exactly(sources, as_user, tmp_path,  # type: ignore[no-untyped-def]
                                                              fmt):
    from tests.intake_sheets import make_12345_sheet

    made = make_12345_sheet(tmp_path / f"12345.{fmt}", fmt, rows=12)
    data = made.path.read_bytes()
    api = as_user("reviewer")
    first = upload(api, data, name=made.path.name).get_json()
    # Nobody mapped the platform's names yet: listed, and every row waits on them.
    # (水污染 is our own category's Chinese name: known without a mapping.)
    assert {u["value"] for u in first["unknown"]["category"]} == set(SHEET_CATEGORIES) - {
        "水污染"}
    assert {u["value"] for u in first["unknown"]["unit"]} == set(SHEET_UNITS)
    saved = api.put("/api/intake-sources/hotline_12345/mapping", json={"value_maps": {
        "category": SHEET_CATEGORIES,
        "unit": {raw: unit_id(name) for raw, name in SHEET_UNITS.items()}}})
    assert saved.status_code == 200, saved.get_json()
    preview = api.get(f"/api/imports/{first['id']}").get_json()
    assert preview["header_row"] == made.header_row
    assert preview["unknown"] == {"category": [], "unit": []}
    rows = {r["row"]: r for r in preview["rows"]}
    assert set(rows) == {e.row for e in made.expected}  # the blank row is no row
    for expected in made.expected:
        got = rows[expected.row]
        if expected.status == "ok":
            assert got["status"] == "new", (expected, got)
            case, fields = got["case"], expected.fields
            assert case["external_ref"] == fields["ref"]
            assert case["received_at"] == fields["called_at"].isoformat()
            assert case["address"] == fields["address"]
            assert case["category"] == SHEET_CATEGORIES[fields["category"]]
            assert case["unit_id"] == unit_id(SHEET_UNITS[fields["unit"]])
            assert case["complainant_phone"] == privacy.mask_phone(fields["phone"])
        else:
            assert got["status"] == "invalid", (expected, got)
            error = got["errors"][0]
            assert error["code"] == expected.reason
            assert error["field"] == FIELD_OF_COLUMN[expected.column]
            assert error["message_zh"] and error["message_en"]
    assert preview["counts"] == {"new": len(made.ok), "duplicate": 0,
                                 "invalid": len(made.bad), "repeat": 0}
    assert count_cases() == 0

    result = api.post(f"/api/imports/{preview['id']}/confirm").get_json()
    assert (result["created"], result["invalid"]) == (len(made.ok), len(made.bad))
    stored = {c.external_ref: c for c in db.session.scalars(sa.select(Case))}
    assert set(stored) == {e.ref for e in made.ok}
    for expected in made.ok:
        case, fields = stored[expected.ref], expected.fields
        assert case.description == fields["content"]  # formulas typed as text, as they were
        assert case.address == fields["address"]
        assert case.complainant_name == fields["name"]
        assert case.complainant_phone == fields["phone"]
        assert case.received_at == fields["called_at"]
        assert (case.channel, case.intake_source) == ("hotline_12345", "hotline_12345")
        assert case.due_at is not None

    # The same sheet next week: nothing new, nothing created.
    again = upload(api, data, name=made.path.name).get_json()
    assert again["counts"]["new"] == 0
    assert again["counts"]["duplicate"] == len(made.ok) + sum(
        1 for e in made.bad if e.status == "duplicate")
    assert api.post(f"/api/imports/{again['id']}/confirm").get_json()["created"] == 0
    assert count_cases() == len(made.ok)


def test_the_preview_flags_likely_repeats_and_other_units_only_as_a_count(sources, as_user,  # type: ignore[no-untyped-def]
                                                                          make_case):
    for _ in range(3):  # the same bar, three times: a listed repeat subject
        make_case(unit="Street B")
    office, street = as_user("reviewer"), as_user("reviewer_a")
    map_noise(office)
    preview = upload(office, sheet([row("L-1"), row("L-2", 诉求地址="西湖路1号",
                                                   联系电话="13900000000")])).get_json()
    hint = preview["rows"][0]["repeat"]
    assert preview["counts"]["repeat"] == 1 and "repeat" not in preview["rows"][1]
    assert hint["listed"] is True and hint["count"] == 4
    assert len(hint["case_ids"]) == 3 and hint["other_units"] == 0
    # Street A's office sees that Street B's cases exist, never which.
    theirs = upload(street, sheet([row("L-1")])).get_json()["rows"][0]["repeat"]
    assert theirs["count"] == 4 and theirs["case_ids"] == [] and theirs["other_units"] == 3
    # Confirmed: the new case joins the subject.
    result = office.post(f"/api/imports/{preview['id']}/confirm").get_json()
    linked = db.session.scalars(sa.select(CaseEvent.kind).where(
        CaseEvent.case_id == result["case_ids"][0])).all()
    assert "repeat_linked" in linked


def _around_evaluation(monkeypatch, before=None, after=None):  # type: ignore[no-untyped-def]
    """Calls `before` and `after` around the confirmation's reading of its sheet (the
    first evaluation only)."""
    from server.domain.intake import imports

    original, calls = imports.evaluate, []

    def evaluate(*args, **kw):  # type: ignore[no-untyped-def]
        first = not calls
        calls.append(1)
        if first and before:
            before()
        found = original(*args, **kw)
        if first and after:
            after()
        return found

    monkeypatch.setattr(imports, "evaluate", evaluate)
    return calls


def test_a_confirmations_reading_of_the_sheet_holds_up_no_other_write(  # type: ignore[no-untyped-def]
        sources, as_user, monkeypatch):
    """On SQLite the batch's lock is the one writer lock: taken before the sheet's rows
    were read (up to 50,000), every phone's write waited on them. Another connection takes
    the writer lock at once, with no wait allowed, before and after the reading."""
    import sqlite3

    if sources.config["STACK"] != "embedded":
        pytest.skip("SQLite's one writer lock: PostgreSQL locks the batch's row only")
    api = as_user("reviewer")
    map_noise(api)
    preview = upload(api, sheet([row(f"W-{i}") for i in range(1, 4)])).get_json()
    path = sources.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    took: list[str] = []

    def another_writer() -> None:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            took.append("free")
        except sqlite3.OperationalError as exc:
            took.append(str(exc))
        finally:
            other.close()

    _around_evaluation(monkeypatch, before=another_writer, after=another_writer)
    done = api.post(f"/api/imports/{preview['id']}/confirm")
    assert done.status_code == 200, done.get_json()
    assert took == ["free", "free"]
    assert done.get_json()["created"] == 3 and count_cases() == 3


def test_a_reference_that_lands_while_the_sheet_is_read_is_a_duplicate(  # type: ignore[no-untyped-def]
        sources, as_user, monkeypatch):
    """Another office's sheet confirmed while this one's rows are being read (before its
    lock): the reference it brought is skipped as a duplicate, not made twice."""
    import threading

    from tests.conftest import login

    office = as_user("reviewer")
    map_noise(office)
    mine = upload(office, sheet([row("D-1"), row("D-2")])).get_json()
    theirs = upload(office, sheet([row("D-1")])).get_json()
    answers: list[Any] = []

    def theirs_confirmed() -> None:
        def confirm() -> None:
            with sources.app_context():
                try:
                    answer = login(sources, "reviewer").post(
                        f"/api/imports/{theirs['id']}/confirm")
                    answers.append((answer.status_code, answer.get_json()))
                except Exception as exc:  # kept for the assertion below, not lost
                    answers.append(("raised", repr(exc)))
                finally:
                    db.session.remove()

        worker = threading.Thread(target=confirm)
        worker.start()
        worker.join(timeout=60)

    _around_evaluation(monkeypatch, after=theirs_confirmed)
    done = office.post(f"/api/imports/{mine['id']}/confirm")
    assert answers and answers[0][0] == 200, answers
    assert answers[0][1]["created"] == 1
    assert done.status_code == 200, done.get_json()
    result = done.get_json()
    assert (result["created"], result["skipped_duplicates"]) == (1, 1), result
    refs = db.session.scalars(sa.select(Case.external_ref).order_by(Case.external_ref)).all()
    assert refs == ["D-1", "D-2"]
    assert audit.verify_chain() == (True, None)


def test_an_old_preview_is_not_confirmed_and_others_previews_are_theirs(sources, as_user):  # type: ignore[no-untyped-def]
    office = as_user("reviewer")
    map_noise(office)
    preview = upload(office, sheet([row("M-1")])).get_json()
    # A street's office does not see the district's batch (its rows may name any unit).
    street = as_user("reviewer_a")
    assert street.get(f"/api/imports/{preview['id']}").status_code == 404
    assert street.post(f"/api/imports/{preview['id']}/remap").status_code == 404
    assert street.post(f"/api/imports/{preview['id']}/confirm").status_code == 404
    db.session.execute(sa.update(ImportBatch).values(
        created_at=datetime(2020, 1, 1, tzinfo=UTC)))
    db.session.commit()
    old = office.post(f"/api/imports/{preview['id']}/confirm")
    assert old.status_code == 409 and old.get_json()["code"] == "import.expired"
    assert office.get(f"/api/imports/{preview['id']}").get_json()["status"] == "expired"
    assert count_cases() == 0


def test_a_constraint_broken_in_a_bulk_insert_is_an_integrity_error(app):  # type: ignore[no-untyped-def]
    """PostgreSQL's COPY (a sheet's thousands) raises the driver's own error; callers catch
    SQLAlchemy's IntegrityError (a push racing its twin answers as a replay), so bulk
    insert gives that on every path, and nothing of the batch stays."""
    from server.domain.core import bulk
    from server.models import Unit

    before = db.session.scalar(sa.select(sa.func.count()).select_from(Unit))
    rows = [{"id": f"00000000-0000-4000-8000-{n:012d}", "name": f"批量单位{n}",
             "parent_id": None, "created_at": datetime(2026, 1, 1, tzinfo=UTC)}
            for n in range(bulk.COPY_FROM + 5)]
    rows[-1]["name"] = "Street A"  # taken: units' names are unique
    with pytest.raises(sa.exc.IntegrityError):
        bulk.insert(Unit.__table__, rows)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == before


# ---- review fixes: sizes, characters, dates, numbers, what a batch keeps -------------------
def xlsx(rows: list[list[Any]], patch: dict[bytes, bytes] | None = None) -> bytes:
    """The rows as openpyxl writes them; `patch` replaces bytes in the sheet's XML (openpyxl
    writes no NaN or infinity, a platform's exporter may: calamine reads them as floats)."""
    import zipfile

    from openpyxl import Workbook

    book = Workbook()
    sheet_ = book.active
    sheet_.append(HEADERS)
    for values in rows:
        sheet_.append(values)
    out = io.BytesIO()
    book.save(out)
    if not patch:
        return out.getvalue()
    source, patched = zipfile.ZipFile(out), io.BytesIO()
    with zipfile.ZipFile(patched, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                for old, new in patch.items():
                    assert old in content
                    content = content.replace(old, new)
            target.writestr(info, content)
    return patched.getvalue()


def xlsx_shared(rows: list[list[Any]]) -> bytes:
    """The rows as XlsxWriter writes them: each distinct text once (shared strings), and
    control characters escaped as Excel does (_x0000_), which readers decode back."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out)
    sheet_ = book.add_worksheet()
    for r, values in enumerate([HEADERS, *rows]):
        for c, value in enumerate(values):
            sheet_.write_string(r, c, value)
    book.close()
    return out.getvalue()


def test_a_small_file_of_huge_repeated_cells_makes_a_small_preview(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    huge = "噪" * 32_000
    data = xlsx_shared([row(f"H-{i}", 诉求类别=huge) for i in range(1000)])
    assert len(data) < 200_000  # the huge text once: the file is small
    answer = upload(api, data, name="工单.xlsx")
    assert answer.status_code == 201, answer.get_json()
    assert len(answer.get_data()) < 2_000_000
    preview = answer.get_json()
    assert preview["counts"]["invalid"] == 1000
    assert {e["code"] for e in preview["rows"][0]["errors"]} == {"import.too_long"}
    assert preview["unknown"]["category"] == []
    batch = db.session.get(ImportBatch, preview["id"])
    assert len(json.dumps(batch.rows, ensure_ascii=False)) < 2_000_000


def test_a_long_category_or_unit_is_too_long_and_messages_echo_a_prefix(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    preview = upload(api, sheet([row("L-1", 诉求类别="类" * 121),
                                 row("L-2", 诉求类别="类" * 100, 承办单位="单" * 121)])
                     ).get_json()
    first, second = preview["rows"]
    assert [e["code"] for e in first["errors"]] == ["import.too_long"]
    assert {e["field"]: e["code"] for e in second["errors"]} == {
        "category": "import.unknown_category", "unit": "import.too_long"}
    said = next(e for e in second["errors"] if e["field"] == "category")
    assert "类" * 60 + "…" in said["message_en"] and "类" * 61 not in said["message_en"]


def test_control_and_bidi_characters_are_refused_in_cells_and_the_file_name(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    map_noise(api)
    # (A CSV holding NUL is no text file: refused whole. An xlsx can hold one, escaped.)
    rows = [row("C-1", 诉求内容="desc\x01\u202eevil"), row("C-2", 来电人="张\x00三"),
            row("C-3")]
    answer = upload(api, xlsx_shared(rows), name="工单\u202exslx.\x07xlsx")
    assert answer.status_code == 201, answer.get_json()
    preview = answer.get_json()
    bad = {r["row"]: [(e["field"], e["code"]) for e in r.get("errors", [])]
           for r in preview["rows"]}
    assert bad == {2: [("description", "import.bad_text")],
                   3: [("complainant_name", "import.bad_text")], 4: []}
    assert preview["rows"][0]["errors"][0]["message_zh"]
    assert preview["filename"] == "工单xslx.xlsx"
    result = api.post(f"/api/imports/{preview['id']}/confirm").get_json()
    assert result["created"] == 1 and result["invalid"] == 2
    stored = db.session.scalars(sa.select(Case.description)).all() + \
        db.session.scalars(sa.select(Case.complainant_name)).all()
    assert not any(ch in (v or "") for v in stored for ch in "\x00\x01\u202e")
    entries_ = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action.in_(("import.previewed", "import.confirmed")))).all()
    assert {e.data["filename"] for e in entries_} == {"工单xslx.xlsx"}
    csv_answer = upload(api, sheet([row("C-4", 诉求内容="desc\x01\u202eevil")]),
                        name="工单.csv").get_json()
    assert csv_answer["rows"][0]["errors"][0]["code"] == "import.bad_text"


def test_received_times_follow_the_office_forms_rule(sources, as_user):  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    api = as_user("reviewer")
    map_noise(api)
    ahead = (datetime.now(UTC) + timedelta(hours=20)).astimezone(ZoneInfo("Asia/Shanghai"))
    preview = upload(api, sheet([row("T-1", 来电时间=f"{ahead:%Y-%m-%d %H:%M}"),
                                 row("T-2", 来电时间="0001-01-01"),
                                 row("T-3", 来电时间="0001-01-01 00:00")])).get_json()
    assert [[(e["field"], e["code"]) for e in r["errors"]] for r in preview["rows"]] == [
        [("received_at", "import.date_out_of_range")]] * 3


def test_nan_and_infinite_numbers_are_a_rows_error_not_the_sheets(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    map_noise(api)
    values = [row("N-1"), row("N-2"), row("N-3")]
    values[0][HEADERS.index("联系电话")] = 0.125
    values[1][HEADERS.index("诉求内容")] = 0.375
    values[2][HEADERS.index("来电时间")] = 0.625
    data = xlsx(values, {b"<v>0.125</v>": b"<v>NaN</v>", b"<v>0.375</v>": b"<v>inf</v>",
                         b"<v>0.625</v>": b"<v>-inf</v>"})
    answer = upload(api, data, name="工单.xlsx")
    assert answer.status_code == 201, answer.get_json()
    preview = answer.get_json()
    assert [[(e["field"], e["code"]) for e in r["errors"]] for r in preview["rows"]] == [
        [("complainant_phone", "import.bad_number")],
        [("description", "import.bad_number")],
        [("received_at", "import.bad_number")]]
    batch = db.session.get(ImportBatch, preview["id"])
    assert "NaN" not in json.dumps(batch.rows) and "Infinity" not in json.dumps(batch.rows)


def test_a_confirmed_batch_keeps_no_rows_and_still_answers(sources, as_user):  # type: ignore[no-untyped-def]
    api = as_user("reviewer")
    map_noise(api)
    preview = upload(api, sheet([row("P-1"), row("P-2", 来电时间="昨天")])).get_json()
    result = api.post(f"/api/imports/{preview['id']}/confirm").get_json()
    assert result["created"] == 1
    db.session.expire_all()
    batch = db.session.get(ImportBatch, preview["id"])
    [case] = db.session.scalars(sa.select(Case)).all()
    assert batch.rows == [{"row": 2, "case_id": case.id}] and batch.headers == HEADERS
    again = api.get(f"/api/imports/{preview['id']}")
    assert again.status_code == 200, again.get_json()
    shown = again.get_json()
    assert shown["status"] == "confirmed" and shown["result"] == result
    assert shown["counts"] == {"new": 1, "duplicate": 0, "invalid": 1, "repeat": 0}
    # Named as the app's result card names them: the case's reference and subject.
    assert [(r["row"], r["status"], r["duplicate_of"], r["case"]["external_ref"],
             r["case"]["subject"], r["case"]["complainant_name"]) for r in shown["rows"]] \
        == [(2, "duplicate", case.id, "P-1", "夜色KTV", None)]
    assert "张" not in json.dumps(batch.rows, ensure_ascii=False)
    assert "13812341234" not in json.dumps(batch.rows)
    assert api.post(f"/api/imports/{preview['id']}/confirm").get_json() == result
