"""The ledgers offices hand in (issue 21): the case ledger (台账) as XLSX and CSV, the
revisit ledger, the repeat-complaint list and a look-back campaign's two annexes, read
back with openpyxl: headings, values, the colour fills and legend, frozen panes, dates as
dates, a title row, and no formula anywhere."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
import xlsxwriter

from server.domain.ledgers import annexes, exports
from server.extensions import db
from server.models import AuditEntry, Case, RepeatLink, RepeatSubject, Respondent, Revisit
from server.reports.xlsx import Fill, Legend, Sheet, write_xlsx
from tests.conftest import unit_id
from tests.test_lifecycle import user_id

TZ = ZoneInfo("Asia/Shanghai")
EVIL = ['=HYPERLINK("http://evil.example","点我")', "+1", "-2", "@x"]
FILL = {"绿": "FF00B050", "蓝": "FF0070C0", "黄": "FFFFFF00", "红": "FFFF0000",
        "逾期": "FF7030A0", "按期办结": "00000000", "超期办结": "FF7030A0"}


def _today() -> date:
    return datetime.now(TZ).date()


def _span() -> dict[str, str]:
    return {"from": (_today() - timedelta(days=30)).isoformat(), "to": _today().isoformat()}


def _case(ref: str, received: datetime, unit: str = "Street A", **more: Any) -> Case:
    """A case under the 1+3+5+7 rule, its schedule as the deadline code stores it: blue
    from day 5, yellow from day 6, red from day 7, due at the end of day 7."""
    due = more.pop("due_at", received + timedelta(days=7))
    values: dict[str, Any] = dict(
        channel="hotline_12345", category="noise_social", subject=f"噪声扰民 {ref}",
        address=f"东湖路{ref}号", received_at=received, unit_id=unit_id(unit),
        external_ref=ref, status="in_progress", complainant_name="张三丰",
        complainant_phone="13812341234", deadline_rule="1+3+5+7", deadline_rule_version=1,
        due_at=due, colour0="green", colour1="blue", colour2="yellow", colour3="red")
    if due is not None:
        values.update(colour1_at=due - timedelta(days=3), colour2_at=due - timedelta(days=2),
                      colour3_at=due - timedelta(days=1))
    case = Case(**{**values, **more})
    db.session.add(case)
    return case


def seed_ledger() -> dict[str, Case]:
    """Cases of every colour in Street A (four with formula-looking subjects), two closed,
    one without a rule, one in Street B, one before the period."""
    now = datetime.now(UTC)
    day = timedelta(days=1)
    cases = {
        "green": _case("G-1", now - day, subject=EVIL[0], leader_id=user_id("lead_a")),
        "blue": _case("B-1", now - 4.5 * day, subject=EVIL[1], leader="张书记"),
        "yellow": _case("Y-1", now - 5.5 * day, subject=EVIL[2]),
        "red": _case("R-1", now - 6.5 * day, subject=EVIL[3]),
        "overdue": _case("O-1", now - 9 * day),
        # Closing clears a case's clock (deadline_rules.refresh): no due date, no colours.
        "closed_in_time": _case("C-1", now - 20 * day, status="closed", due_at=None,
                                closed_at=now - 18 * day, verdict="true", closed_on_time=True,
                                result="已责令酒吧安装隔音设施，复测达标。"),
        "closed_late": _case("C-2", now - 20 * day, status="closed", due_at=None,
                             closed_at=now - 10 * day, closed_on_time=False,
                             verdict="partly_true", result="=1+1 已整改"),
        "no_rule": _case("N-1", now - 2 * day, deadline_rule=None, deadline_rule_version=None,
                         due_at=None, colour0=None, colour1=None, colour2=None,
                         colour3=None),
        "street_b": _case("SB-1", now - 3 * day, unit="Street B"),
        "before": _case("OLD-1", now - 40 * day),
    }
    db.session.flush()
    revisit = user_id("revisit")
    for case, at, satisfaction in ((cases["closed_in_time"], now - 17 * day, "dissatisfied"),
                                   (cases["closed_in_time"], now - 16 * day, "satisfied"),
                                   (cases["closed_late"], now - 9 * day, None),
                                   (cases["street_b"], now - 2 * day, "satisfied")):
        db.session.add(Revisit(
            client_id=str(uuid.uuid4()), request_hash="x" * 64, case_id=case.id,
            method="phone", at=at, satisfaction=satisfaction, created_by=revisit,
            outcome="reached" if satisfaction else "unreachable",
            unreachable_reason=None if satisfaction else "电话无人接听（三次）"))
    db.session.commit()
    return cases


def _get(api: Any, url: str, **query: Any) -> Any:
    """The answer, read whole and closed (a download streams from a file the server
    deletes on close)."""
    answer = api.get(url, query_string=query)
    answer.get_data()
    answer.close()
    return answer


def _book(answer: Any) -> openpyxl.Workbook:
    assert answer.status_code == 200, answer.get_data()[:500]
    assert answer.mimetype == ("application/vnd.openxmlformats-officedocument"
                               ".spreadsheetml.sheet")
    return openpyxl.load_workbook(io.BytesIO(answer.data))


def _no_formula(data: bytes) -> None:
    """No <f> element in any sheet, and every text cell a string."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in z.read(name).decode()


def _table(ws: Any, head_row: int) -> list[dict[str, Any]]:
    """The rows under the headings, up to the first empty row, as {heading: cell}."""
    headings = [c.value for c in ws[head_row]]
    out = []
    for row in ws.iter_rows(min_row=head_row + 1):
        if all(c.value is None for c in row):
            break
        out.append(dict(zip(headings, row, strict=False)))
    return out


def test_the_case_ledger_as_xlsx(app, as_user) -> None:
    cases = seed_ledger()
    span = _span()
    answer = _get(as_user("reviewer"), "/api/reports/ledger.xlsx", **span)
    book = _book(answer)
    disposition = answer.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="case-ledger-')
    assert "filename*=UTF-8''" + quote("信访件台账") in disposition
    _no_formula(answer.data)
    ws = book.worksheets[0]
    assert ws.title == "信访件台账"
    assert ws["A1"].value == f"District 信访件台账 {span['from']} 至 {span['to']}"
    assert "生成时间：" in ws["A2"].value
    assert ws.freeze_panes == "A4"
    assert [c.value for c in ws[3]] == [
        "序号", "受理编号", "受理时间", "来源渠道", "问题类型", "投诉事项", "地址", "责任单位",
        "包案领导", "办理时限", "状态", "办理进度（截至生成时间）", "办结时间", "属实情况",
        "办理结果", "回访满意度"]
    rows = _table(ws, 3)
    by_ref = {r["受理编号"].value: r for r in rows}
    # Every case received in the period in scope, oldest first, numbered; not the one
    # received before the period.
    assert set(by_ref) == {"G-1", "B-1", "Y-1", "R-1", "O-1", "C-1", "C-2", "N-1", "SB-1"}
    assert [r["序号"].value for r in rows] == list(range(1, 10))
    received = [r["受理时间"].value for r in rows]
    assert received == sorted(received)
    # The colour as the fill of the 办理进度 cell; a closed case: closed on time (no
    # fill) or late (overdue's fill), from the approval's verdict.
    colours = {"G-1": "绿", "B-1": "蓝", "Y-1": "黄", "R-1": "红", "O-1": "逾期",
               "C-1": "按期办结", "C-2": "超期办结", "N-1": None, "SB-1": "绿"}
    for ref, word in colours.items():
        cell = by_ref[ref]["办理进度（截至生成时间）"]
        assert cell.value == word, ref
        if word:
            assert cell.fill.fgColor.rgb == FILL[word], (ref, cell.fill.fgColor.rgb)
    # The deadline a closed case had is cleared on closing: blank, as the legend says.
    assert by_ref["C-1"]["办理时限"].value is None
    # Dates are dates, in local time.
    green = by_ref["G-1"]
    assert green["受理时间"].is_date and isinstance(green["受理时间"].value, datetime)
    local = cases["green"].received_at.astimezone(TZ).replace(tzinfo=None)
    assert abs(green["受理时间"].value - local) < timedelta(seconds=1)
    assert by_ref["C-1"]["办结时间"].is_date and by_ref["O-1"]["办理时限"].is_date
    assert by_ref["O-1"]["办结时间"].value is None
    # Values, in words.
    assert green["来源渠道"].value == "12345热线" and green["问题类型"].value == "社会生活噪声"
    assert green["责任单位"].value == "Street A" and green["状态"].value == "办理中"
    assert green["包案领导"].value == "李主任" and by_ref["B-1"]["包案领导"].value == "张书记"
    closed = by_ref["C-1"]
    assert closed["状态"].value == "已办结" and closed["属实情况"].value == "属实"
    assert closed["办理结果"].value == "已责令酒吧安装隔音设施，复测达标。"
    assert closed["回访满意度"].value == "满意"  # the latest revisit, not the first
    assert by_ref["C-2"]["回访满意度"].value is None  # its revisit reached nobody
    assert by_ref["C-2"]["属实情况"].value == "部分属实"
    # Formula-looking text comes back as text.
    for ref, text in zip(("G-1", "B-1", "Y-1", "R-1"), EVIL, strict=True):
        cell = by_ref[ref]["投诉事项"]
        assert cell.value == text and cell.data_type == "s"
    assert by_ref["C-2"]["办理结果"].data_type == "s"
    # The legend under the rows: the four colours and overdue, filled, with their meaning,
    # and the rule's days.
    texts = [(c.value, c) for row in ws.iter_rows() for c in row if c.value is not None]
    heading = next(c for v, c in texts if v == "图例（办理进度）")
    legend = [ws.cell(heading.row + i, 1) for i in range(1, 8)]
    assert [c.value for c in legend] == ["绿", "蓝", "黄", "红", "逾期", "按期办结", "超期办结"]
    assert [c.fill.fgColor.rgb for c in legend] == list(FILL.values())
    assert "正常办理" in ws.cell(heading.row + 1, 2).value
    assert "超期办结" in ws.cell(heading.row + 7, 2).value
    # The notes say what is left blank: no rule, no verdict, a closed case's deadline.
    notes = " ".join(str(ws.cell(heading.row + i, 1).value) for i in range(8, 12))
    assert "未设期限规则" in notes and "办理时限在办结时清除" in notes
    assert "已办结案件即销号" not in notes
    assert any(isinstance(v, str) and "绿 第1天起，蓝 第5天起，黄 第6天起，红 第7天起" in v
               for v, _ in texts)
    # No complainant data anywhere.
    assert not any(isinstance(v, str) and ("张三丰" in v or "13812341234" in v)
                   for v, _ in texts)
    # Taking it out is audited.
    entry = db.session.scalar(sa.select(AuditEntry).filter_by(action="report.exported"))
    assert entry.data["report"] == "case_ledger" and entry.data["rows"] == 9
    assert entry.actor_id == user_id("reviewer")


def test_the_ledger_keeps_to_the_scope_and_the_filters(app, as_user) -> None:
    seed_ledger()
    span = _span()
    street = _book(_get(as_user("reviewer_a"), "/api/reports/ledger.xlsx", **span))
    refs = {r["受理编号"].value for r in _table(street.worksheets[0], 3)}
    assert "SB-1" not in refs and "G-1" in refs
    assert street.worksheets[0]["A1"].value.startswith("Street A 信访件台账")
    # A leader over Street A takes out the same; an inspector takes out none.
    leader = _book(_get(as_user("lead_a"), "/api/reports/ledger.xlsx", **span))
    assert {r["受理编号"].value for r in _table(leader.worksheets[0], 3)} == refs
    refused = _get(as_user("insp_a"), "/api/reports/ledger.xlsx", **span)
    assert refused.status_code == 403 and refused.get_json()["code"] == "report.forbidden"
    # Another unit's id is the same 404 as none; the district filters by it.
    other = _get(as_user("reviewer_a"), "/api/reports/ledger.xlsx",
                 **{**span, "unit_id": unit_id("Street B")})
    assert other.status_code == 404 and other.get_json()["code"] == "unit.not_found"
    only_b = _book(_get(as_user("reviewer"), "/api/reports/ledger.xlsx", **{
        **span, "unit_id": unit_id("Street B")}))
    assert only_b.worksheets[0]["A1"].value.startswith("Street B 信访件台账")
    assert [r["受理编号"].value for r in _table(only_b.worksheets[0], 3)] == ["SB-1"]
    none = _book(_get(as_user("reviewer"), "/api/reports/ledger.xlsx", **{
        **span, "category": "odour"}))
    assert _table(none.worksheets[0], 3) == []
    assert "问题类型：异味" in none.worksheets[0]["A2"].value


def test_a_co_handled_case_is_in_its_responsible_units_ledger_only(app, as_user) -> None:
    """One rule: a unit's ledger holds the cases whose responsible unit is it or below it.
    Street A co-handles (协办) Street B's case and sees it, yet it is in Street B's ledger
    alone, so the streets' ledgers add up to the district's; the revisit ledger the same."""
    from server.models import CaseUnit, Unit, User

    cases = seed_ledger()
    db.session.add(CaseUnit(case_id=cases["street_b"].id, unit_id=unit_id("Street A")))
    db.session.commit()
    span = _span()
    assert as_user("reviewer_a").get(f"/api/cases/{cases['street_b'].id}").status_code == 200

    def refs(user: str, url: str = "/api/reports/ledger.xlsx", **more: Any) -> list[str]:
        ws = _book(_get(as_user(user), url, **span, **more)).worksheets[0]
        assert "统计范围：责任单位为本单位及下级单位的信访件" in ws["A2"].value
        return [r["受理编号"].value for r in _table(ws, 3)]

    street_a, district = refs("reviewer_a"), refs("reviewer")
    street_b = refs("reviewer", unit_id=unit_id("Street B"))
    assert "SB-1" not in street_a and street_b == ["SB-1"]
    assert sorted(street_a + street_b) == sorted(district)
    # The same with Street A's id asked for, by the district or by Street A itself.
    assert refs("reviewer", unit_id=unit_id("Street A")) == street_a
    assert refs("reviewer_a", unit_id=unit_id("Street A")) == street_a
    revisits = "/api/reports/revisits.xlsx"
    assert refs("reviewer_a", revisits) == ["C-1", "C-1", "C-2"]
    assert sorted(refs("reviewer_a", revisits) + refs(
        "reviewer", revisits, unit_id=unit_id("Street B"))) == sorted(refs("reviewer", revisits))
    # A person of both streets, no unit asked for: the union, each case once.
    person = db.session.get(User, user_id("reviewer_a"))
    person.units.append(db.session.get(Unit, unit_id("Street B")))
    db.session.commit()
    try:
        both = refs("reviewer_a")
        assert sorted(both) == sorted(district) and len(both) == len(set(both))
    finally:
        person = db.session.get(User, user_id("reviewer_a"))
        person.units[:] = [u for u in person.units if u.name == "Street A"]
        db.session.commit()


def test_the_case_ledger_as_csv(app, as_user, monkeypatch) -> None:
    cases = seed_ledger()
    cases["closed_late"].closed_on_time = None
    db.session.commit()
    # As a large ledger goes: from a file on disk, streamed, its length declared.
    from werkzeug.wsgi import wrap_file

    from server.api.ledgers import reports

    streamed: list[Any] = []

    def spy(environ: Any, file: Any) -> Any:
        streamed.append(file)
        return wrap_file(environ, file)

    monkeypatch.setattr(exports, "SPOOL_BYTES", 100)
    monkeypatch.setattr(reports, "wrap_file", spy)
    answer = _get(as_user("reviewer"), "/api/reports/ledger.csv", **_span())
    assert answer.status_code == 200 and len(streamed) == 1
    assert streamed[0].closed  # closed (so deleted) once sent
    assert int(answer.headers["Content-Length"]) == len(answer.data) > 1000
    assert answer.mimetype == "text/csv"
    assert "filename*=UTF-8''" + quote("信访件台账") in answer.headers["Content-Disposition"]
    assert answer.data.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(answer.data.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["序号", "受理编号", "受理时间"] and len(rows) == 10
    by_ref = {r[1]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    # Formula-looking text gets a leading apostrophe; numbers and other text stay as they are.
    for ref, text in zip(("G-1", "B-1", "Y-1", "R-1"), EVIL, strict=True):
        assert by_ref[ref]["投诉事项"] == "'" + text
    assert by_ref["C-2"]["办理结果"] == "'=1+1 已整改"
    assert by_ref["C-1"]["办理结果"] == "已责令酒吧安装隔音设施，复测达标。"
    progress = "办理进度（截至生成时间）"  # the colour now, not at closing
    assert by_ref["C-1"]["序号"].isdigit() and by_ref["O-1"][progress] == "逾期"
    assert by_ref["C-1"][progress] == "按期办结" and by_ref["B-1"][progress] == "蓝"
    # A closed case whose verdict is unknown (closed before it was recorded): blank.
    assert by_ref["C-2"][progress] == ""
    assert by_ref["C-1"]["回访满意度"] == "满意" and by_ref["G-1"]["包案领导"] == "李主任"
    assert len(by_ref["C-1"]["受理时间"]) == 16  # 2026-11-20 23:05, local time
    assert b"\xe5\xbc\xa0\xe4\xb8\x89\xe4\xb8\xb0" not in answer.data  # 张三丰


@pytest.mark.parametrize(("query", "code"), [
    ({"from": "2025-01-01", "to": "2026-01-02"}, "report.period_too_long"),
    ({"from": "2026-06-30", "to": "2026-01-01"}, "report.bad_period"),
])
def test_bad_periods_are_refused_in_both_languages(app, as_user, query, code) -> None:
    for url in ("/api/reports/ledger.xlsx", "/api/reports/ledger.csv",
                "/api/reports/revisits.xlsx"):
        answer = _get(as_user("reviewer"), url, **query)
        assert answer.status_code == 422, (url, answer.get_data()[:300])
        problem = answer.get_json()
        assert problem["code"] == code and problem["messages"]["zh"] and \
            problem["messages"]["en"], problem
    if code == "report.period_too_long":
        assert "366" in problem["messages"]["zh"] and "367" in problem["messages"]["en"]
        # Both ends count: "366 days after from" would allow 367 (a leap year and a day).
        assert "from and to included" in problem["messages"]["en"]
        assert "含开始和结束日期" in problem["messages"]["zh"]
        assert problem["errors"]["to"] == ["At most 366 days, from and to included."]
        assert problem["errors_zh"]["to"] == ["最多 366 天（含开始和结束日期）。"]
    else:
        assert problem["errors_zh"]["to"] == ["不能早于开始日期。"]
    # A year is fine, and nothing was audited for the refusals.
    fine = _get(as_user("reviewer"), "/api/reports/ledger.xlsx",
                **{"from": "2024-01-01", "to": "2024-12-31"})
    assert fine.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).filter_by(
        action="report.exported")) == 1
    missing = _get(as_user("reviewer"), "/api/reports/ledger.xlsx", **{"to": "x"})
    assert missing.status_code == 422


def test_one_ledger_at_a_time_per_worker_and_a_per_user_limit(app, as_user) -> None:
    """Writing a ledger holds the GIL: past REPORT_CONCURRENCY (1) the next is 503
    report.busy with Retry-After at once, nothing written; and each user has a rate
    limit over all the downloads together."""
    from server.api import report_slots
    from server.extensions import limiter

    seed_ledger()
    office = as_user("reviewer")
    slots = report_slots.semaphore()
    assert slots.acquire(timeout=1)  # a ledger being written
    try:
        for url in ("/api/reports/ledger.xlsx", "/api/reports/ledger.csv",
                    "/api/reports/revisits.xlsx"):
            busy = _get(office, url, **_span())
            assert busy.status_code == 503, (url, busy.get_data()[:300])
            problem = busy.get_json()
            # At least our 30 s (flask-limiter's headers keep the later of it and its own).
            assert problem["code"] == "report.busy" and int(busy.headers["Retry-After"]) >= 30
            assert "台账" in problem["messages"]["zh"] and "ledger" in problem["messages"]["en"]
        assert _get(office, "/api/reports/repeats.xlsx").status_code == 503
    finally:
        slots.release()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).filter_by(
        action="report.exported")) == 0
    assert _get(office, "/api/reports/ledger.xlsx", **_span()).status_code == 200
    # The slot is given back after a refusal too (a bad period).
    assert _get(office, "/api/reports/ledger.xlsx", **{"from": "2026-06-30",
                                                        "to": "2026-01-01"}).status_code == 422
    assert slots.acquire(timeout=0)
    slots.release()

    limiter.reset()
    app.config["REPORT_RATE_LIMIT"] = "2 per minute"
    try:
        assert _get(office, "/api/reports/ledger.csv", **_span()).status_code == 200
        assert _get(office, "/api/reports/repeats.xlsx").status_code == 200
        refused = _get(office, "/api/reports/revisits.xlsx", **_span())
        assert refused.status_code == 429 and refused.get_json()["code"] == \
            "request.rate_limited"
        # Per user: another of the same office is not held off.
        assert _get(as_user("lead_d"), "/api/reports/ledger.csv", **_span()).status_code == 200
    finally:
        limiter.reset()


@pytest.mark.parametrize("fails", ["audit", "commit"])
def test_a_failure_after_writing_closes_the_file(app, monkeypatch, fails: str) -> None:
    """The audit entry or the commit failing once the file is written: the error goes on,
    the temporary file is closed (so deleted), nothing is audited."""
    from server.models import User

    seed_ledger()
    made: list[Any] = []
    real = exports.tempfile.SpooledTemporaryFile

    def spy(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError(fails)

    monkeypatch.setattr(exports.tempfile, "SpooledTemporaryFile", spy)
    user = db.session.get(User, user_id("reviewer"))
    with monkeypatch.context() as patch:
        if fails == "audit":
            patch.setattr(exports, "_audited", boom)
        else:
            # The session itself, not the scoped proxy: the unit of work commits the
            # session it holds (server/domain/core/uow.py).
            patch.setattr(db.session(), "commit", boom)
        with pytest.raises(RuntimeError, match=fails):
            exports.case_ledger_file(user, _today() - timedelta(days=30), _today(), "csv")
    assert len(made) == 1 and made[0].closed
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).filter_by(
        action="report.exported")) == 0
    # And when all goes well, the file is handed on open.
    done = exports.case_ledger_file(user, _today() - timedelta(days=30), _today(), "csv")
    assert done.file is made[-1] and not done.file.closed and done.rows == 9
    done.file.close()


def test_a_ledger_longer_than_a_worksheet_is_refused(app, as_user, monkeypatch) -> None:
    """Counted first (422 report.too_many_rows, zh and en, nothing written or audited);
    rows found past the count while writing are refused the same; the CSV has no limit."""
    from server.domain.ledgers import case_ledger, revisit_ledger
    from server.reports import xlsx

    seed_ledger()
    office = as_user("reviewer")
    # Room for 5 rows under the case ledger's headings and above its legend (9 rows).
    legend = case_ledger.legend()
    tail = 1 + 1 + len(legend.items) + len(legend.notes)
    monkeypatch.setattr(xlsx, "MAX_ROWS", 3 + 5 + tail)
    answer = _get(office, "/api/reports/ledger.xlsx", **_span())
    assert answer.status_code == 422, answer.get_data()[:300]
    problem = answer.get_json()
    assert problem["code"] == "report.too_many_rows"
    assert "9" in problem["messages"]["zh"] and "worksheet" in problem["messages"]["en"]
    assert _get(office, "/api/reports/ledger.csv", **_span()).status_code == 200
    # Found while writing (cases added after the count): the same refusal, no row dropped.
    monkeypatch.setattr(case_ledger, "count", lambda *a: 0)
    late = _get(office, "/api/reports/ledger.xlsx", **_span())
    assert late.status_code == 422 and late.get_json()["code"] == "report.too_many_rows"
    # The revisit ledger (4 rows, no legend) likewise.
    monkeypatch.setattr(xlsx, "MAX_ROWS", 3 + 3 + 1)
    refused = _get(office, "/api/reports/revisits.xlsx", **_span())
    assert refused.status_code == 422 and refused.get_json()["code"] == "report.too_many_rows"
    monkeypatch.setattr(revisit_ledger, "count", lambda *a: 0)
    assert _get(office, "/api/reports/revisits.xlsx", **_span()).status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).filter_by(
        action="report.exported")) == 1  # the CSV only
    monkeypatch.setattr(xlsx, "MAX_ROWS", 3 + 4 + 1)
    assert _get(office, "/api/reports/revisits.xlsx", **_span()).status_code == 200


def test_the_revisit_ledger(app, as_user) -> None:
    seed_ledger()
    # A respondent's name, number and answers never leave in the ledger.
    first = db.session.scalars(sa.select(Revisit).order_by(Revisit.at)).first()
    db.session.add(Respondent(client_id=str(uuid.uuid4()), request_hash="x" * 64,
                              revisit_id=first.id, kind="complainant", name="王五六",
                              contact="13900001111", answers={"comments": "还是吵闹不堪"},
                              satisfaction="dissatisfied", created_by=user_id("revisit")))
    db.session.commit()
    answer = _get(as_user("reviewer"), "/api/reports/revisits.xlsx", **_span())
    book = _book(answer)
    _no_formula(answer.data)
    ws = book.worksheets[0]
    assert ws["A1"].value.startswith("District 回访台账") and ws.freeze_panes == "A4"
    assert [c.value for c in ws[3]] == ["序号", "受理编号", "投诉事项", "责任单位", "回访时间",
                                        "回访方式", "回访人", "回访结果", "满意度",
                                        "不能回访原因"]
    rows = [{k: c.value for k, c in r.items()} for r in _table(ws, 3)]
    assert [r["受理编号"] for r in rows] == ["C-1", "C-1", "C-2", "SB-1"]
    assert [r["满意度"] for r in rows] == ["不满意", "满意", None, "满意"]
    assert rows[2]["回访结果"] == "无法联系" and rows[2]["不能回访原因"] == "电话无人接听（三次）"
    assert rows[0]["回访方式"] == "电话回访" and rows[0]["回访人"] == "revisit"
    assert isinstance(rows[0]["回访时间"], datetime)
    texts = " ".join(str(c.value) for row in ws.iter_rows() for c in row)
    assert "王五六" not in texts and "13900001111" not in texts and "吵闹不堪" not in texts
    street = _book(_get(as_user("reviewer_a"), "/api/reports/revisits.xlsx", **_span()))
    assert [r["受理编号"].value for r in _table(street.worksheets[0], 3)] == [
        "C-1", "C-1", "C-2"]


def test_the_repeat_list_counts_other_units_cases_only(app, as_user) -> None:
    cases = seed_ledger()
    now = datetime.now(UTC)
    subject = RepeatSubject(title="东湖路O-1号", category="noise_social", count=3,
                            first_at=now - timedelta(days=20), last_at=now - timedelta(days=3),
                            listed_at=now - timedelta(days=3), leader_id=user_id("lead_d"))
    db.session.add(subject)
    db.session.flush()
    for key in ("closed_in_time", "overdue", "street_b"):
        db.session.add(RepeatLink(case_id=cases[key].id, subject_id=subject.id,
                                  matched_by=["address"]))
    db.session.commit()
    answer = _get(as_user("reviewer_a"), "/api/reports/repeats.xlsx")
    book = _book(answer)
    ws = book.worksheets[0]
    assert ws["A1"].value == "Street A 反复投诉环境问题清单" and ws.freeze_panes == "A4"
    rows = [{k: c.value for k, c in r.items()} for r in _table(ws, 3)]
    assert len(rows) == 1
    row = rows[0]
    # Seen from Street A: its own cases, the other unit's as a count, nothing of its place.
    assert row["问题地点"] == "东湖路C-1号" and row["投诉次数"] == 3
    assert row["本单位件数"] == 2 and row["其他单位件数"] == 1
    assert row["包案领导"] == "王局长" and row["是否解决"] == "未解决"
    assert isinstance(row["首次投诉时间"], datetime)
    assert "SB-1" not in str([c.value for r in ws.iter_rows() for c in r])
    district = _book(_get(as_user("reviewer"), "/api/reports/repeats.xlsx")).worksheets[0]
    assert _table(district, 3)[0]["其他单位件数"].value == 0


# ---- the writer and the annexes, from plain packets --------------------------------------
def _read(sheet: Sheet) -> tuple[Any, bytes]:
    out = io.BytesIO()
    write_xlsx(sheet, out)
    return openpyxl.load_workbook(io.BytesIO(out.getvalue())).worksheets[0], out.getvalue()


def test_the_writer_streams_a_generator_and_fills_by_key() -> None:
    def rows():  # type: ignore[no-untyped-def]
        for i in range(3):
            yield [i, ("a", "b", "zzz")[i], datetime(2026, 1, i + 1, 8, 30), date(2026, 2, 1),
                   0.5, EVIL[i]]

    ws, data = _read(Sheet(
        name="t", title="标题", headings=["n", "k", "at", "day", "share", "text"],
        rows=rows(), date_columns={2}, day_columns={3}, percent_columns={4},
        subtitle=["副标题"], fill_column=1,
        fills={"a": Fill("甲", "#123456", "#FFFFFF"), "b": Fill("乙", "#ABCDEF")},
        legend=Legend("图例", [("a", "甲的意思"), ("b", "乙的意思")], notes=["说明"])))
    _no_formula(data)
    assert ws.freeze_panes == "A4" and ws["A2"].value == "副标题"
    body = [[c for c in r] for r in ws.iter_rows(min_row=4, max_row=6)]
    assert [r[1].value for r in body] == ["甲", "乙", "zzz"]  # an unknown key: as it is
    assert body[0][1].fill.fgColor.rgb == "FF123456" and body[2][1].fill.fgColor.rgb in (
        "00000000", None)
    assert body[0][2].value == datetime(2026, 1, 1, 8, 30) and body[0][2].is_date
    assert body[0][3].value == datetime(2026, 2, 1) and body[0][3].number_format == \
        "yyyy-mm-dd"
    assert body[0][4].number_format == "0.0%"
    assert [r[5].value for r in body] == EVIL[:3] and all(r[5].data_type == "s" for r in body)
    assert ws["A8"].value == "图例" and ws["A9"].value == "甲" and ws["B9"].value == "甲的意思"
    assert ws["A9"].fill.fgColor.rgb == "FF123456" and ws["A11"].value == "说明"


def test_the_writer_never_drops_rows_past_excels_limit(monkeypatch) -> None:
    """XlsxWriter drops rows past 1,048,576 silently: the writer stops and raises instead,
    leaving room for the notes and legend under the rows."""
    from server.reports import xlsx

    def sheet(n: int) -> Sheet:
        return Sheet(name="t", title="t", headings=["n"], rows=([i] for i in range(n)),
                     subtitle=["s"], notes=["注"],
                     legend=Legend("图例", [("a", "甲")], notes=["说明"]))

    # Title, subtitle, headings above; a blank row, the note, a gap, the legend under.
    assert xlsx.room(sheet(0)) == 1_048_576 - 3 - 6
    monkeypatch.setattr(xlsx, "MAX_ROWS", 20)  # 3 above the rows, 6 under: 11 fit
    assert xlsx.room(sheet(0)) == 11
    ws, _ = _read(sheet(11))
    assert ws.max_row == 20 and ws["A20"].value == "说明"
    with pytest.raises(xlsx.TooManyRows):
        write_xlsx(sheet(12), io.BytesIO())


def test_stored_text_is_made_printable_in_the_workbook() -> None:
    """Text stored before the text rule (a control or bidi character): shown as U+FFFD,
    as the closure files do, not written into XML that Excel refuses."""
    ws, _ = _read(Sheet(name="t", title="标\x07题", headings=["a\u202eb"],
                        rows=[["噪声\x07扰民", "gpj\u202eexe", "行1\n行2\t制表"]]))
    assert ws["A1"].value == "标\ufffd题" and ws["A2"].value == "a\ufffdb"
    assert [c.value for c in ws[3]] == ["噪声\ufffd扰民", "gpj\ufffdexe", "行1\n行2\t制表"]


PROGRESS = {
    "campaign": {"id": "c1", "title": "里山街道生态环境领域信访事项“回头看”专项行动"},
    "week": {"from": "2024-03-25", "to": "2024-03-31"},
    "weeks": ["2024-03-18", "2024-03-25"],
    "rows": [
        {"unit_id": "u1", "unit": "=里山村", "total": 10, "week_done": 3, "done": 7,
         "rate": {"numerator": 7, "denominator": 10, "value": 0.7}, "week_new": 1,
         "new_total": 2, "note": "+交叉检查"},
        {"unit_id": "u2", "unit": "城管中队", "total": 4, "week_done": 0, "done": 0,
         "rate": {"numerator": 0, "denominator": 4, "value": 0.0}, "week_new": 0,
         "new_total": 0, "note": ""}],
    "totals": {"total": 14, "week_done": 3, "done": 7,
               "rate": {"numerator": 7, "denominator": 14, "value": 0.5}, "week_new": 1,
               "new_total": 2, "note": ""},
}


def test_annex_2_the_weekly_progress(app) -> None:
    ws, data = _read(annexes.progress_sheet(PROGRESS, datetime(2024, 3, 28, 2, tzinfo=UTC)))
    _no_formula(data)
    assert ws["A1"].value == "2024年里山街道生态环境领域信访事项“回头看”专项行动进展一览表"
    assert "统计周：2024-03-25 至 2024-03-31" in ws["A2"].value
    assert [c.value for c in ws[3]] == ["序号", "核查单位", "信访总数", "本周核查数",
                                        "累计核查数", "完成率", "新发现问题数",
                                        "累计新发现问题数", "备注"]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=4, max_row=6)]
    assert rows == [[1, "=里山村", 10, 3, 7, 0.7, 1, 2, "+交叉检查"],
                    [2, "城管中队", 4, 0, 0, 0.0, 0, 0, None],
                    [None, "合计", 14, 3, 7, 0.5, 1, 2, None]]
    assert ws["B4"].data_type == "s" and ws["I4"].data_type == "s"
    assert ws["F4"].number_format == "0.0%" and ws.freeze_panes == "A4"


def test_annex_1_the_problem_list(app) -> None:
    packet = {"campaign": {"id": "c1", "title": "环境信访", "organiser_unit": "里山街道",
                           "from": "2021-01-01", "to": "2023-12-31"},
              "rows": [{"seq": 1, "problem_type": "12345热线", "original_problem": "-夜间施工",
                        "new_problem": "@渣土", "measures": "1. 停工整改\n2. 夜查",
                        "target": "噪声达标", "implementer": "某建筑公司",
                        "acceptance_unit": {"id": "u9", "name": "区生态环境分局"},
                        "due_on": date(2024, 4, 30), "status": "open"}]}
    ws, data = _read(annexes.problems_sheet(packet, datetime(2024, 3, 28, 2, tzinfo=UTC)))
    _no_formula(data)
    assert ws["A1"].value == "2024年环境信访“回头看”专项行动问题清单"
    assert ws["A2"].value == "填报单位：里山街道　　　　填报时间：2024年3月28日"
    assert [c.value for c in ws[3]] == ["序号", "问题类型", "原交办具体问题", "新发现问题",
                                        "整改措施", "目标任务（标准）", "整改实施主体",
                                        "验收（监管）单位", "完成时限"]
    row = [c for c in ws[4]]
    assert [c.value for c in row[:8]] == [1, "12345热线", "-夜间施工", "@渣土",
                                          "1. 停工整改\n2. 夜查", "噪声达标", "某建筑公司",
                                          "区生态环境分局"]
    assert row[2].data_type == "s" and row[3].data_type == "s"
    assert row[8].value == datetime(2024, 4, 30) and row[8].is_date
    assert ws["A6"].value == "报送单位主要负责同志签字："


@pytest.mark.parametrize(("title", "heading"), [
    ("2024年里山街道生态环境领域信访事项“回头看”专项行动",
     "2024年里山街道生态环境领域信访事项“回头看”专项行动问题清单"),
    ("环境信访回头看", "2024年环境信访回头看专项行动问题清单"),
    ("2023年 东湖片区", "2023年 东湖片区“回头看”专项行动问题清单"),
])
def test_campaign_headings(title: str, heading: str) -> None:
    assert annexes.campaign_heading(title, 2024, "问题清单") == heading


# ---- a campaign's annexes over HTTP ---------------------------------------------------------
def test_a_campaigns_annexes_from_its_own_figures(app, as_user, make_case) -> None:
    from tests.test_campaigns import closed, plan, recheck, start

    office, inspector = as_user("reviewer_a"), as_user("insp_a")
    first = closed(make_case, subject="=夜色酒吧深夜噪声扰民")
    closed(make_case, external_ref="12345-2026-0002")
    campaign = start(office, title="2026年东湖街道信访事项“回头看”专项行动").get_json()
    tasks = inspector.get("/api/recheck-tasks?status=pending").get_json()["items"]
    task = next(t for t in tasks if t["case"]["id"] == first)
    done = recheck(inspector, campaign["id"], task["id"], rebound=True,
                   new_problem="+新增露天烧烤", plan=plan(measures="-1 停业整顿"))
    assert done.status_code == 201, done.get_json()

    answer = _get(office, "/api/reports/progress.xlsx", campaign=campaign["id"])
    ws = _book(answer).worksheets[0]
    _no_formula(answer.data)
    assert ws["A1"].value == "2026年东湖街道信访事项“回头看”专项行动进展一览表"
    assert ws.freeze_panes == "A4" and ws["C3"].value == "信访总数"
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=4, max_row=5)]
    assert rows == [[1, "Street A", 2, 1, 1, 0.5, 1, 1, None],
                    [None, "合计", 2, 1, 1, 0.5, 1, 1, None]]
    assert "回头看进展一览表" in unquote_disposition(answer)

    answer = _get(office, "/api/reports/problems.xlsx", campaign=campaign["id"])
    ws = _book(answer).worksheets[0]
    _no_formula(answer.data)
    assert ws["A1"].value == "2026年东湖街道信访事项“回头看”专项行动问题清单"
    assert ws["A2"].value.startswith("填报单位：Street A")
    row = {h.value: c for h, c in zip(ws[3], ws[4], strict=True)}
    assert row["问题类型"].value == "12345热线"
    assert row["原交办具体问题"].value.startswith("=夜色酒吧") and \
        row["原交办具体问题"].data_type == "s"
    assert row["新发现问题"].value == "+新增露天烧烤" and row["整改措施"].value == "-1 停业整顿"
    assert row["验收（监管）单位"].value == "District" and row["完成时限"].is_date
    assert row["完成时限"].value.date() == date.fromisoformat(plan()["due_on"])

    # Someone who may not see the campaign: the same 404 as none; an inspector: 403.
    for url in ("/api/reports/progress.xlsx", "/api/reports/problems.xlsx"):
        other = _get(as_user("lead_b"), url, campaign=campaign["id"])
        assert other.status_code == 404 and other.get_json()["code"] == "campaign.not_found"
        unknown = _get(office, url, campaign=str(uuid.uuid4()))
        assert unknown.status_code == 404
        assert _get(inspector, url, campaign=campaign["id"]).status_code == 403


def unquote_disposition(answer: Any) -> str:
    from urllib.parse import unquote

    return unquote(answer.headers["Content-Disposition"])


def test_rows_are_as_tall_as_their_wrapped_text_and_the_writer_forgets_them() -> None:
    """A wrapped text's row gets its height (LibreOffice does not grow rows on opening);
    written rows' heights are not kept (constant memory over 200,000 rows)."""
    long_text = "经现场核查，已责令当事人整改，复测达标，并向投诉人反馈处理结果。" * 2
    kept: list[int] = []  # how many rows' heights the worksheet holds, row after row
    book_sheet: list[Any] = []

    def rows():  # type: ignore[no-untyped-def]
        for i in range(50):
            yield [i, long_text if i % 2 else "短"]
            kept.append(len(book_sheet[0].row_info))

    real = xlsxwriter.Workbook.add_worksheet

    def spy(self, *a, **kw):  # type: ignore[no-untyped-def]
        book_sheet.append(real(self, *a, **kw))
        return book_sheet[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(xlsxwriter.Workbook, "add_worksheet", spy)
        ws, _ = _read(Sheet(name="t", title="t", headings=["n", "text"], rows=rows(),
                            widths=[6, 20], wrap_columns={1}))
    assert max(kept) <= 4  # the header row's and the last two rows' at most
    assert ws.row_dimensions[4].height == 15 * 7  # 66 wide characters in 19: 7 lines
    assert ws.row_dimensions[3].height is None  # one line: the default height
