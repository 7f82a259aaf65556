"""The office's desk (issue 19): a case found by the caller's number, exactly and through a
keyed hash, or by the complainant's full name; the list narrowed by unit and received
period; the lookups scoped, audited and flat (one statement a page, whatever the count)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
