"""The office's desk (issue 19): a case found by the caller's number, exactly and through a
keyed hash, or by the complainant's full name; the list narrowed by unit and received
period; the lookups scoped, audited and flat (one statement a page, whatever the count)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import sqlalchemy as sa

from server.domain.cases import cases
from server.domain.core import privacy
from server.extensions import db
from server.models import AuditEntry, Case
from tests.conftest import unit_id

NUMBER = "13812341234"


def found(api, **params) -> list[str]:  # type: ignore[no-untyped-def]
    answer = api.get("/api/cases", query_string=params)
    assert answer.status_code == 200, answer.get_json()
    return sorted(c["id"] for c in answer.get_json()["items"])


def test_a_case_is_found_by_the_callers_number_however_typed(app, as_user, make_case):  # type: ignore[no-untyped-def]
    mine = make_case(unit="Street A", complainant={"name": "张三", "phone": NUMBER})
    make_case(unit="Street A", complainant={"name": "李四", "phone": "13900001111"})
    theirs = make_case(unit="Street B", complainant={"name": "张三", "phone": NUMBER})
    desk = as_user("reviewer_a")  # Street A's desk
    for typed in (NUMBER, "138 1234 1234", "+86 138-1234-1234", "0086 13812341234",
                  "１３８１２３４１２３４"):  # full-width digits, as a Chinese IME types them
        assert found(desk, phone=typed) == [mine["id"]], typed
    # Exact only: a part of the number, or the masked one, finds nothing.
    for part in ("1381234", "1234", "138****1234"):
        assert found(desk, phone=part) == [], part
    # The district sees both streets' cases with that number.
    assert found(as_user("reviewer"), phone=NUMBER) == sorted([mine["id"], theirs["id"]])
    # The column is a keyed hash, not the number, nor its plain hash.
    stored = db.session.scalar(sa.select(Case.complainant_phone_hmac)
                               .where(Case.id == mine["id"]))
    assert stored and NUMBER not in stored and len(stored) == 64
    assert stored == privacy.phone_digest(NUMBER)
    assert stored != privacy.phone_digest(NUMBER, b"another key")


def test_the_complainants_full_name_finds_a_case_a_fragment_does_not(app, as_user, make_case):  # type: ignore[no-untyped-def]
    zhang = make_case(complainant={"name": "张三", "phone": NUMBER})
    make_case(complainant={"name": "李四", "phone": "13900001111"})
    desk = as_user("reviewer")
    assert found(desk, q="张三") == [zhang["id"]]
    assert found(desk, q=" 张三 ") == [zhang["id"]]
    assert found(desk, q="张") == []
    # Those who may not see a contact cannot confirm a name behind 张* either; nor the
    # revisit team, which sees the case but may reveal only its tasks' contacts.
    assert found(as_user("insp_a"), q="张三") == []
    assert found(as_user("revisit"), q="张三") == []
    assert found(as_user("revisit"), q="噪声") != []  # it still searches the rest


def test_an_edited_number_is_found_by_the_new_one(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(complainant={"name": "张三", "phone": NUMBER})
    desk = as_user("reviewer")
    answer = desk.patch(f"/api/cases/{case['id']}", json={
        "version": case["version"], "complainant": {"name": "张三", "phone": "13900001111"}})
    assert answer.status_code == 200, answer.get_json()
    assert found(desk, phone="13900001111") == [case["id"]]
    assert found(desk, phone=NUMBER) == []


def test_only_the_office_looks_a_number_up_and_each_lookup_is_audited(app, as_user, make_case):  # type: ignore[no-untyped-def]
    make_case(complainant={"name": "张三", "phone": NUMBER})
    # The revisit team too: it may reveal only its tasks' numbers, and a hit would confirm
    # a guessed number behind any other case's masked one.
    for role in ("insp_a", "revisit"):
        refused = as_user(role).get("/api/cases", query_string={"phone": NUMBER})
        assert refused.status_code == 403, role
        assert refused.get_json()["code"] == "case.search_forbidden"
    bad = as_user("reviewer").get("/api/cases", query_string={"phone": "no digits"})
    assert bad.status_code == 422 and bad.get_json()["code"] == "case.bad_phone"
    desk = as_user("reviewer")
    found(desk, phone=NUMBER)
    found(desk, phone="13900001111")
    entries = db.session.scalars(sa.select(AuditEntry)
                                 .where(AuditEntry.action == "case.phone_searched")
                                 .order_by(AuditEntry.seq)).all()
    assert [e.data for e in entries] == [{"found": 1}, {"found": 0}]
    assert all(NUMBER not in str(e.data) for e in entries)


def test_phone_lookups_are_rate_limited_per_user(app, as_user, make_case):  # type: ignore[no-untyped-def]
    app.config["PHONE_SEARCH_RATE_LIMIT"] = "2 per hour"
    desk = as_user("reviewer")
    assert desk.get("/api/cases", query_string={"phone": NUMBER}).status_code == 200
    assert desk.get("/api/cases", query_string={"phone": NUMBER}).status_code == 200
    assert desk.get("/api/cases", query_string={"phone": NUMBER}).status_code == 429
    assert desk.get("/api/cases").status_code == 200  # the list itself is not limited
    assert as_user("reviewer_a").get("/api/cases",
                                     query_string={"phone": NUMBER}).status_code == 200


def test_cases_from_before_the_index_are_filled_by_the_backfill(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(complainant={"name": "张三", "phone": NUMBER})
    version = db.session.scalar(sa.select(Case.version).where(Case.id == case["id"]))
    db.session.execute(sa.update(Case.__table__).values(complainant_phone_hmac=None))
    db.session.commit()
    desk = as_user("reviewer")
    assert found(desk, phone=NUMBER) == []  # what 0012 leaves: not found, never wrongly
    assert cases.index_phones() == 1
    assert cases.index_phones() == 0  # done once
    assert found(desk, phone=NUMBER) == [case["id"]]
    # Nobody edited the case: its version (what a PATCH must send) is unchanged.
    assert db.session.scalar(sa.select(Case.version).where(Case.id == case["id"])) == version
    assert cases.index_phones(every=True) == 1  # after a key change


def test_the_list_filters_by_unit_and_received_period(app, as_user, make_case):  # type: ignore[no-untyped-def]
    early = make_case(unit="Street A", received_at="2026-11-01T09:00:00+08:00")
    late = make_case(unit="Street A", received_at="2026-11-20T09:00:00+08:00")
    other = make_case(unit="Street B", received_at="2026-11-20T09:00:00+08:00")
    desk = as_user("reviewer")
    a, b = unit_id("Street A"), unit_id("Street B")
    assert found(desk, unit=a) == sorted([early["id"], late["id"]])
    assert found(desk, unit=b) == [other["id"]]
    period = {"from": "2026-11-15T00:00:00+08:00", "to": "2026-11-21T00:00:00+08:00"}
    assert found(desk, **period) == sorted([late["id"], other["id"]])
    assert found(desk, unit=a, **period) == [late["id"]]
    assert found(desk, to="2026-11-01T09:00:00+08:00") == []  # "to" is before, not at
    assert found(desk, **{"from": "2026-11-01T09:00:00+08:00"}) == sorted(
        [early["id"], late["id"], other["id"]])
    bad = desk.get("/api/cases", query_string={"from": "yesterday"})
    assert bad.status_code == 422 and "from" in bad.get_json()["errors"]
    # Another street's unit id asked for by a street's desk: nothing of theirs.
    assert found(as_user("reviewer_a"), unit=b) == []


@contextmanager
def statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)


def test_a_filtered_page_costs_the_same_statements_for_3_cases_as_for_12(app, as_user, make_case):  # type: ignore[no-untyped-def]
    desk = as_user("reviewer")
    query = {"unit": unit_id("Street A"), "from": "2026-11-01T00:00:00+08:00",
             "sort": "due", "per_page": 50}
    counts = []
    for n in (3, 9):
        for _ in range(n):
            make_case(unit="Street A")
        with statements() as seen:
            assert len(found(desk, **query)) == (3 if n == 3 else 12)
        counts.append(len(seen))
    assert counts[0] == counts[1]


# ---- free text, read from the text index (migration 0021) ------------------------------
def test_free_text_finds_substrings_of_any_length_in_any_of_the_four_fields(  # type: ignore[no-untyped-def]
        app, as_user, make_case):
    ktv = make_case(subject="朝阳路KTV夜间噪音扰民", address="朝阳路12号",
                    description="包厢音响声音过大", external_ref="GD20250516001")
    fumes = make_case(subject="烧烤店油烟直排", address="民族大道5号",
                      description="油烟熏到三楼住户", external_ref="GD20250516002")
    hidden = make_case(subject="洗车场污水外排", address="园湖路3号",
                       description="夜里在用高压枪，噪音很大", external_ref="12369-778")
    make_case(subject="广场舞音响", address="金湖广场", description="", external_ref=None)
    desk = as_user("reviewer")
    expect = {
        "噪": [ktv["id"], hidden["id"]],           # one character
        "油烟": [fumes["id"]],                      # two
        "噪音": [ktv["id"], hidden["id"]],          # two, one in the description only
        "夜间噪音": [ktv["id"]],                     # four
        "ktv": [ktv["id"]], "KTV": [ktv["id"]], "Ktv": [ktv["id"]],  # Latin, any case
        "路KTV夜": [ktv["id"]],                     # mixed
        "ktv夜间": [ktv["id"]],
        "高压枪": [hidden["id"]],                   # the description only
        "20250516": [ktv["id"], fumes["id"]],      # a fragment of the reference
        "0516002": [fumes["id"]],
        "12369-7": [hidden["id"]],
        "民族大道5号": [fumes["id"]],
        "大道5号烧烤": [],                           # across two fields: no substring
        "噪音很大!": [],
        "朝阳路KTV夜间噪音扰民。": [],
    }
    for q, ids in expect.items():
        assert found(desk, q=q) == sorted(ids), q
    # Scope still applies: each street finds its own.
    street_b = make_case(unit="Street B", subject="饭店油烟扰民", description="")
    assert found(as_user("reviewer_a"), q="油烟") == [fumes["id"]]
    assert found(as_user("insp_b"), q="油烟") == [street_b["id"]]
    assert found(desk, q="油烟") == sorted([fumes["id"], street_b["id"]])
    # And the other filters combine with it.
    assert found(desk, q="噪音", channel="hotline_12345") == sorted([ktv["id"], hidden["id"]])
    assert found(desk, q="噪音", unit=unit_id("Street B")) == []


def test_wildcards_and_quotes_in_the_search_are_plain_characters(app, as_user, make_case):  # type: ignore[no-untyped-def]
    percent = make_case(subject="噪声超标50%以上", description="")
    under = make_case(subject="a_b 排口", description="")
    slash = make_case(subject="路口\\东侧", description="")
    quoted = make_case(subject='居民称"又来了"', description="it's loud")
    make_case(subject="噪声超标50倍", description="aXb 排口 路口东侧 又来了 its")
    desk = as_user("reviewer")
    assert found(desk, q="%") == [percent["id"]]
    assert found(desk, q="50%") == [percent["id"]]
    assert found(desk, q="_") == [under["id"]]
    assert found(desk, q="a_b") == [under["id"]]
    assert found(desk, q="\\") == [slash["id"]]
    assert found(desk, q="口\\东") == [slash["id"]]
    assert found(desk, q='"又来了"') == [quoted["id"]]
    assert found(desk, q='"') == [quoted["id"]]
    assert found(desk, q="it's") == [quoted["id"]]
    assert found(desk, q="'") == [quoted["id"]]
    assert found(desk, q="%%%") == []


def test_an_edited_case_is_found_by_its_new_text_not_its_old(app, as_user, make_case):  # type: ignore[no-untyped-def]
    case = make_case(subject="工地夜间施工", description="打桩机作业", address="秀灵路9号")
    desk = as_user("reviewer")
    assert found(desk, q="打桩机") == [case["id"]]
    answer = desk.patch(f"/api/cases/{case['id']}", json={
        "version": case["version"], "description": "搅拌车进出", "subject": "渣土车扬尘"})
    assert answer.status_code == 200, answer.get_json()
    for old in ("打桩机", "夜间施工", "工地"):
        assert found(desk, q=old) == [], old
    for new in ("搅拌车", "渣土车扬尘", "扬尘", "秀灵路"):  # the untouched address still finds
        assert found(desk, q=new) == [case["id"]], new


def test_free_text_reads_the_index_on_postgresql(app, as_user, make_case, stack):  # type: ignore[no-untyped-def]
    """The plan, not a timing: the search's condition is one ix_cases_search serves (the
    expressions match), for one, two, three and more characters. On a test's few rows the
    planner would rather scan, so scans of the table and of other indexes in order are
    off: what is left is a bitmap over an index that answers the condition."""
    from server.models import User

    if db.engine.dialect.name != "postgresql":
        # SQLite: the FTS5 trigram table answers a search of three characters or more.
        make_case(subject="朝阳路KTV噪音")
        hits = db.session.execute(sa.text(
            "SELECT count(*) FROM cases_fts WHERE cases_fts MATCH '\"KTV噪\"'")).scalar()
        assert hits == 1
        user = db.session.scalar(sa.select(User).filter_by(username="reviewer"))
        query = cases.filtered(user, q="KTV噪")
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row[-1]) for row in db.session.execute(
            sa.text("EXPLAIN QUERY PLAN " + sql)))
        assert "VIRTUAL TABLE INDEX" in plan and "cases_fts" in plan, plan
        return

    for _ in range(3):
        make_case(subject="朝阳路KTV噪音")
    user = db.session.scalar(sa.select(User).filter_by(username="reviewer"))
    for q in ("KTV", "噪音", "噪", "朝阳路KTV"):
        query = (cases.filtered(user, q=q).order_by(Case.received_at.desc()).limit(20))
        sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
        with db.engine.connect() as conn:
            conn.execute(sa.text("SET enable_seqscan = off"))
            conn.execute(sa.text("SET enable_indexscan = off"))
            plan = "\n".join(conn.execute(sa.text("EXPLAIN " + sql)).scalars())
        assert "Bitmap Index Scan on ix_cases_search" in plan, (q, plan)
        assert "Seq Scan on cases" not in plan, (q, plan)


def test_the_open_colour_index_names_the_open_statuses() -> None:
    """ix_cases_open_colour_received is partial on the open statuses, spelled out in the
    model and migration 0021: a status added to the vocabulary must be added there too."""
    from server.domain.core.vocab import OPEN_STATUSES
    from server.models.case import OPEN_WHERE

    spelled = ", ".join(f"'{status}'" for status in OPEN_STATUSES)
    assert OPEN_WHERE.replace("status IN ", "") == f"({spelled})"


def test_a_common_word_pages_the_same_from_the_newest_cases_as_from_the_index(  # type: ignore[no-untyped-def]
        app, as_user, make_case):
    """A word on many cases fills a page from the newest RECENT cases (read in order); a
    page that does not fill there comes from the index: the pages and the total are the
    same either way, in either order."""
    made = [make_case(subject=f"KTV噪音{i}", description="",
                      received_at=f"2026-11-{10 + i:02d}T20:00:00+08:00",
                      **({"key": True} if i == 2 else {})) for i in range(5)]
    make_case(subject="油烟", description="", received_at="2026-11-30T20:00:00+08:00")
    desk = as_user("reviewer")

    def page(**params):  # type: ignore[no-untyped-def]
        answer = desk.get("/api/cases", query_string={"q": "ktv", "per_page": 2, **params})
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        return [c["id"] for c in body["items"]], body["total"]

    newest = [c["id"] for c in reversed(made)]
    assert page() == (newest[:2], 5)
    assert page(page=2) == (newest[2:4], 5)
    assert page(page=3) == (newest[4:], 5)    # not a full page: from the index
    assert page(page=4) == ([], 5)
    urgent = db.session.scalars(
        sa.select(Case.id).where(Case.id.in_([c["id"] for c in made]))
        .order_by(Case.due_at.asc().nulls_last(), Case.key.desc(), Case.received_at.desc(),
                  Case.id)).all()
    due = [page(sort="due", page=n)[0] for n in (1, 2, 3)]
    assert [case_id for ids in due for case_id in ids] == urgent
    # The same pages as the index alone gives (RECENT cases read first, or none).
    from server.domain.cases import cases as module

    module.RECENT, kept = 0, module.RECENT
    try:
        assert page() == (newest[:2], 5)
        assert [page(sort="due", page=n)[0] for n in (1, 2, 3)] == due
    finally:
        module.RECENT = kept


def test_cases_from_a_sheet_are_found_by_their_text(app, as_user):  # type: ignore[no-untyped-def]
    """A sheet's cases are written in bulk, around the ORM: the text index (SQLite's FTS
    table, PostgreSQL's expression index) still has them, for 1, 2 and 3+ characters."""
    from server.domain.core.uow import transaction

    with transaction():
        cases.add_cases([{
            "channel": "hotline_12345", "category": "noise_social",
            "subject": "星光大道钢琴酒吧", "address": "滨江路9号", "description": "",
            "received_at": datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
            "unit_id": unit_id("Street A"), "external_ref": "GD-BULK-1"}], created_by=None)
    office = as_user("reviewer")
    for q in ("钢琴酒吧", "钢琴", "琴", "GD-BULK"):
        items = office.get("/api/cases", query_string={"q": q}).get_json()["items"]
        assert [c["external_ref"] for c in items] == ["GD-BULK-1"], q
