"""The push API platforms call (POST /api/intake/<source>): per-source tokens made and
revoked by an admin and stored hashed, idempotent on the platform's reference (also when
two pushes race), every call and every refusal audited, refusals rate limited."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from server.extensions import db
from server.models import AuditEntry, Case, CaseEvent, IntakeSource, IntakeToken
from tests.conftest import ApiClient, unit_id

BODY: dict[str, Any] = {
    "external_ref": "GD20251116000123",
    "received_at": "2025-11-16T20:05:00+08:00",
    "subject": "  夜色KTV深夜噪声扰民 ",
    "address": "东湖路88号",
    "description": "每晚22点后音响声音过大",
    "category": "noise_social",
    "complainant_name": "张三",
    "complainant_phone": "13812341234",
    "lat": 30.59,
    "lon": 114.3,
    "key": False,
}
SOURCES = (("hotline_12345", "12345政务服务便民热线", "12345 government hotline",
            "hotline_12345"),
           ("hotline_12369", "12369环保举报热线", "12369 environmental hotline",
            "hotline_12369"))


@pytest.fixture()
def sources(app: Flask) -> dict[str, IntakeSource]:
    """The platforms, with Street A as the 12345 line's default unit (the migration seeds
    them; each test's cleanup empties the table, so they are made again here)."""
    out = {}
    for code, zh, en, channel in SOURCES:
        source = db.session.scalar(sa.select(IntakeSource).filter_by(code=code))
        if source is None:
            source = IntakeSource(code=code, name_zh=zh, name_en=en, channel=channel,
                                  column_map={}, value_maps={})
            db.session.add(source)
        out[code] = source
    out["hotline_12345"].default_unit_id = unit_id("Street A")
    out["hotline_12345"].value_maps = {"category": {"噪音扰民": "noise_social"},
                                       "unit": {"城中街道": unit_id("Street B")}}
    db.session.commit()
    return out


@pytest.fixture()
def admin(as_user) -> ApiClient:  # type: ignore[no-untyped-def]
    return as_user("admin")


def make_token(admin: ApiClient, code: str = "hotline_12345", label: str = "平台") -> dict:
    response = admin.post(f"/api/intake-sources/{code}/tokens", json={"label": label})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def push(app: Flask, token: str | None, body: dict | None = None,
         code: str = "hotline_12345", **kw: Any):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers.update(kw.pop("headers", {}))
    return app.test_client().post(f"/api/intake/{code}", json=BODY if body is None else body,
                                  headers=headers, **kw)


def entries(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.seq)))


def cases_of(ref: str) -> list[Case]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(Case).where(Case.external_ref == ref)))


def test_a_push_creates_the_case_once_and_a_replay_answers_the_first_answer(
        app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin)
    assert len(token["token"]) >= 43 and token["prefix"] == token["token"][:8]

    first = push(app, token["token"])
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    assert body["status"] == "created" and body["source"] == "hotline_12345"
    assert body["external_ref"] == BODY["external_ref"]
    assert "Idempotent-Replayed" not in first.headers

    [case] = cases_of(BODY["external_ref"])
    assert case.id == body["case_id"]
    assert case.intake_source == "hotline_12345" and case.channel == "hotline_12345"
    assert case.subject == "夜色KTV深夜噪声扰民"  # trimmed as a sheet's cell
    assert case.unit_id == unit_id("Street A")  # no unit named: the source's default
    assert case.created_by is None and case.due_at is not None
    assert case.complainant_phone_hmac  # found by the number, as the office's cases are
    kinds = db.session.scalars(sa.select(CaseEvent.kind).where(CaseEvent.case_id == case.id))
    assert "received" in list(kinds)
    [created] = entries("case.created")
    assert created.data["source"] == "hotline_12345" and created.data["token"] == token["prefix"]
    [pushed] = entries("intake.pushed")
    assert pushed.actor_id is None
    assert pushed.data == {"source": "hotline_12345", "token": token["prefix"],
                           "external_ref": BODY["external_ref"], "case_id": case.id,
                           "replay": False}
    listed = admin.get("/api/intake-sources/hotline_12345/tokens").get_json()["items"]
    assert listed[0]["last_used_at"] is not None and "token" not in listed[0]

    # A replay (even with other content) is the first answer and creates nothing.
    again = push(app, token["token"], {**BODY, "subject": "另一个标题"})
    assert again.status_code == 200
    assert again.get_json() == body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(cases_of(BODY["external_ref"])) == 1
    assert [e.data["replay"] for e in entries("intake.pushed")] == [False, True]


def test_the_token_is_never_stored(app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin)["token"]
    assert push(app, token).status_code == 201
    db.session.rollback()
    for table in ("intake_tokens", "audit_log", "cases", "case_events"):
        if table not in db.metadata.tables:
            continue
        for row in db.session.execute(sa.select(db.metadata.tables[table])):
            assert token not in repr(tuple(row)), table
    for entry in entries("intake.token_created"):
        assert token not in repr(entry.data)
    [row] = db.session.scalars(sa.select(IntakeToken))
    assert row.token_hash != token and len(row.token_hash) == 64


def refused(reason: str) -> list[dict]:
    return [e.data for e in entries("intake.refused") if e.data["reason"] == reason]


def test_refusals_are_401_and_audited(app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin)
    other = make_token(admin, "hotline_12369")

    missing = push(app, None)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.get_json()["code"] == "intake.unauthorized"
    assert missing.mimetype == "application/problem+json"

    wrong = push(app, token["token"][:-2] + "xx")
    assert wrong.status_code == 401
    basic = push(app, None, headers={"Authorization": f"Basic {token['token']}"})
    assert basic.status_code == 401
    # A token of another source opens only that source.
    assert push(app, other["token"]).status_code == 401
    # An unknown source is the same answer as a wrong token: nothing tells them apart.
    unknown = push(app, token["token"], code="no_such_platform")
    assert unknown.status_code == 401
    assert unknown.get_json()["detail"] == wrong.get_json()["detail"]
    assert not cases_of(BODY["external_ref"])

    assert len(refused("missing_token")) == 2
    [guess] = refused("unknown_token")
    assert guess["status"] == 401 and guess["address"] == "127.0.0.1"
    assert guess["token"] is None and guess["code"] == "intake.unauthorized"
    assert refused("other_source")[0]["source"] == "hotline_12345"
    assert refused("unknown_source")[0]["source"] == "no_such_platform"
    for entry in entries("intake.refused"):
        text = repr(entry.data)
        assert token["token"] not in text and other["token"] not in text
        assert "13812341234" not in text and "张三" not in text


def test_a_revoked_token_is_refused_and_kept(app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin)
    assert push(app, token["token"]).status_code == 201
    revoked = admin.delete(f"/api/intake-sources/hotline_12345/tokens/{token['id']}")
    assert revoked.status_code == 200, revoked.get_json()
    assert revoked.get_json()["revoked_at"] is not None
    assert push(app, token["token"], {**BODY, "external_ref": "GD-2"}).status_code == 401
    # Even a replay of what it pushed before.
    assert push(app, token["token"]).status_code == 401
    assert refused("revoked_token")
    [kept] = admin.get("/api/intake-sources/hotline_12345/tokens").get_json()["items"]
    assert kept["revoked_by"] is not None and kept["prefix"] == token["prefix"]
    assert [e.data["prefix"] for e in entries("intake.token_revoked")] == [token["prefix"]]
    assert len(cases_of("GD-2")) == 0


def test_a_session_cookie_grants_nothing(app: Flask, sources, admin: ApiClient) -> None:
    """The admin's own session (cookie and CSRF token) does not push: only a bearer token."""
    response = admin.post("/api/intake/hotline_12345", json=BODY)
    assert response.status_code == 401
    assert not cases_of(BODY["external_ref"])
    # And a bearer push needs no CSRF token even from a client holding a cookie.
    token = make_token(admin)["token"]
    with_cookie = admin.client.post("/api/intake/hotline_12345", json=BODY,
                                    headers={"Authorization": f"Bearer {token}"})
    assert with_cookie.status_code == 201


def test_only_the_district_admin_connects_platforms(app: Flask, sources, as_user,  # type: ignore[no-untyped-def]
                                                    admin: ApiClient) -> None:
    token = make_token(admin)
    for name in ("reviewer", "insp_a", "admin_a"):
        user = as_user(name)
        made = user.post("/api/intake-sources/hotline_12345/tokens", json={"label": "x"})
        assert made.status_code == 403, name
        gone = user.delete(f"/api/intake-sources/hotline_12345/tokens/{token['id']}")
        assert gone.status_code == 403, name
        assert user.get("/api/intake-sources/hotline_12345/tokens").status_code == 403
        assert user.get("/api/intake-platforms").status_code == 403
        assert user.patch("/api/intake-sources/hotline_12345",
                          json={"channel": "phone"}).status_code == 403
    assert push(app, token["token"]).status_code == 201  # still live


def test_the_admin_sets_where_a_sources_cases_go(app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin, "hotline_12369")
    no_unit = push(app, token["token"], code="hotline_12369")
    assert no_unit.status_code == 422
    assert no_unit.get_json()["code"] == "intake.no_unit"
    changed = admin.patch("/api/intake-sources/hotline_12369",
                          json={"default_unit_id": unit_id("Street B"), "channel": "online"})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["default_unit"]["name"] == "Street B"
    assert push(app, token["token"], code="hotline_12369").status_code == 201
    [case] = cases_of(BODY["external_ref"])
    assert case.unit_id == unit_id("Street B") and case.channel == "online"
    [entry] = entries("intake.source_updated")
    assert entry.data["after"]["channel"] == "online"
    assert admin.patch("/api/intake-sources/hotline_12369",
                       json={"default_unit_id": "nope"}).status_code == 422
    platforms = admin.get("/api/intake-platforms").get_json()["items"]
    [p12369] = [p for p in platforms if p["code"] == "hotline_12369"]
    assert len(p12369["tokens"]) == 1


def test_bad_bodies_are_422_and_audited_without_their_contents(
        app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin)["token"]
    cases = [
        ({k: v for k, v in BODY.items() if k != "external_ref"}, "external_ref"),
        ({**BODY, "received_at": "2025-11-16 20:05"}, "received_at"),  # no offset
        ({**BODY, "complainant_phone": "138abc1234"}, "complainant_phone"),
        ({**BODY, "subject": "x" * 301}, "subject"),
        ({**BODY, "lat": 30.0, "lon": None}, "lat"),
    ]
    for body, field in cases:
        response = push(app, token, body)
        assert response.status_code == 422, (field, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert field in response.get_json()["errors"], response.get_json()
    unknown = push(app, token, {**BODY, "category": "占道经营"})
    assert unknown.status_code == 422
    assert unknown.get_json()["code"] == "intake.unknown_category"
    assert not cases_of(BODY["external_ref"])
    audited = [e.data for e in entries("intake.refused")]
    assert len(audited) == len(cases) + 1
    assert all(d["status"] == 422 and d["token"] for d in audited)
    assert audited[-1]["category"] == "占道经营"  # for the office to map
    for data in audited:
        assert "13812341234" not in repr(data) and "张三" not in repr(data)


def test_the_sources_tables_map_category_and_unit(app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin)["token"]
    response = push(app, token, {**BODY, "category": "噪音扰民", "unit": " 城中街道 "})
    assert response.status_code == 201, response.get_json()
    [case] = cases_of(BODY["external_ref"])
    assert case.category == "noise_social" and case.unit_id == unit_id("Street B")
    # Our own Chinese name works without a table; an unknown unit goes to the default.
    response = push(app, token, {**BODY, "external_ref": "GD-2", "category": "餐饮油烟",
                                 "unit": "不存在的单位"})
    assert response.status_code == 201, response.get_json()
    [case] = cases_of("GD-2")
    assert case.unit_id == unit_id("Street A")


def test_formula_text_is_stored_as_text(app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin)["token"]
    body = {**BODY, "subject": '=HYPERLINK("http://evil.example","点此")',
            "address": "+cmd|' /C calc'!A0", "description": "@SUM(1+1)*cmd|'/C calc'!A0",
            "complainant_phone": "１３８ １２３４ １２３４", "external_ref": "ＧＤ-７"}
    response = push(app, token, body)
    assert response.status_code == 201, response.get_json()
    [case] = cases_of("GD-7")  # full-width reference read as ASCII
    assert case.subject == body["subject"] and case.address == body["address"]
    assert case.description == body["description"]
    assert case.complainant_phone == "138 1234 1234"


def test_a_subject_comes_from_the_description_when_missing(app: Flask, sources,
                                                           admin: ApiClient) -> None:
    token = make_token(admin)["token"]
    body = {k: v for k, v in BODY.items() if k != "subject"}
    body["description"] = "楼下烧烤店油烟很大\n每天晚上都有"
    assert push(app, token, body).status_code == 201
    [case] = cases_of(BODY["external_ref"])
    assert case.subject == "楼下烧烤店油烟很大"
    empty = push(app, token, {**body, "external_ref": "GD-3", "description": " "})
    assert empty.status_code == 422 and empty.get_json()["code"] == "intake.no_subject"


def test_a_large_body_is_413(app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin)["token"]
    app.config["INTAKE_MAX_BODY_BYTES"] = 2000
    response = push(app, token, {**BODY, "description": "很" * 1000})
    assert response.status_code == 413
    assert response.get_json()["code"] == "intake.too_large"
    assert refused("intake.too_large")
    # Without a token, the size says nothing: 401 first.
    assert push(app, None, {**BODY, "description": "很" * 1000}).status_code == 401


def test_refusals_are_rate_limited_per_address(app: Flask, sources, admin: ApiClient) -> None:
    app.config["INTAKE_REFUSAL_RATE_LIMIT"] = "3 per minute"
    token = make_token(admin)["token"]
    # Successes do not count.
    for n in range(4):
        assert push(app, token, {**BODY, "external_ref": f"GD-{n}"}).status_code == 201
    for _ in range(3):
        assert push(app, "guess-" + "x" * 40).status_code == 401
    limited = push(app, "guess-" + "y" * 40)
    assert limited.status_code == 429
    assert limited.get_json()["code"] == "request.rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    assert push(app, None).status_code == 429
    # A platform with a good token behind the same address (a NAT, a gateway) is never
    # held off by others' wrong tokens: the token is checked first.
    assert push(app, token, {**BODY, "external_ref": "GD-9"}).status_code == 201
    replay = push(app, token, {**BODY, "external_ref": "GD-9"})
    assert replay.status_code == 200
    # Its bad bodies (422) are its own, audited, and not counted as guesses.
    for _ in range(4):
        assert push(app, token, {**BODY, "external_ref": ""}).status_code == 422
    assert push(app, "guess-" + "z" * 40).status_code == 429
    # Another address is not limited.
    other = push(app, "guess-" + "w" * 40, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 401
    assert len(refused("unknown_token")) == 4  # the limited ones fill no log
    assert len(refused("missing_token")) == 0


def test_refusals_before_the_token_check_are_logged_not_audited(
        app: Flask, sources, admin: ApiClient, caplog: pytest.LogCaptureFixture) -> None:
    """The app's own checks answer before the view (a NUL in the path: 400; a JSON body
    over MAX_JSON_BYTES: 413; a wrong method): never counted by the limit, so they
    must not reach the audit log either, or anyone could fill it without a token."""
    app.config["MAX_JSON_BYTES"] = 4000
    client = app.test_client()
    for n in range(30):
        assert client.post(f"/api/intake/x{n}%00", json=BODY).status_code == 400
        big = client.post("/api/intake/hotline_12345",
                          json={**BODY, "description": "很" * 2000})
        assert big.status_code == 413
        assert client.get("/api/intake/hotline_12345").status_code in (404, 405)
    assert entries("intake.refused") == []
    assert "before the token check" in caplog.text
    # With a token the same body is refused before the token is looked at: logged too.
    token = make_token(admin)["token"]
    assert push(app, token, {**BODY, "description": "很" * 2000}).status_code == 413
    assert entries("intake.refused") == []


def test_concurrent_pushes_of_one_reference_make_one_case(app: Flask, sources,
                                                          admin: ApiClient) -> None:
    if app.config["STACK"] != "scaled":
        pytest.skip("SQLite runs one writer at a time: the race is PostgreSQL's")
    token = make_token(admin)["token"]
    barrier = threading.Barrier(6)
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def one() -> None:
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            response = client.post("/api/intake/hotline_12345", json=BODY,
                                   headers={"Authorization": f"Bearer {token}"})
            with lock:
                answers.append((response.status_code, response.get_json()))
            db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(code for code, _ in answers) == [200] * 5 + [201], answers
    assert len({repr(sorted(body.items())) for _, body in answers}) == 1
    assert len(cases_of(BODY["external_ref"])) == 1
    assert sorted(e.data["replay"] for e in entries("intake.pushed")) == [False] + [True] * 5


def test_the_loser_of_a_race_answers_as_a_replay(app: Flask, sources, admin: ApiClient,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The moment of a race, made certain on both stacks: the first lookup misses (as when
    the twin had not yet committed), the insert meets the unique index, the transaction
    is rolled back and the committed case is answered."""
    from server.domain.intake import push as pushes

    token = make_token(admin)["token"]
    first = push(app, token)
    assert first.status_code == 201
    real, calls = pushes._existing, []

    def late(source_code: str, ref: str):  # type: ignore[no-untyped-def]
        calls.append(ref)
        return None if len(calls) == 1 else real(source_code, ref)

    monkeypatch.setattr(pushes, "_existing", late)
    again = push(app, token)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert len(calls) >= 2  # it did go through the insert and back
    assert len(cases_of(BODY["external_ref"])) == 1
    assert len(entries("case.created")) == 1  # the loser's entry was rolled back
    assert [e.data["replay"] for e in entries("intake.pushed")] == [False, True]


# ---- the office's edits and a platform's replays ---------------------------------------
def test_a_pushed_cases_reference_cannot_be_edited_and_a_replay_keeps_its_answer(
        app: Flask, sources, admin: ApiClient, as_user) -> None:  # type: ignore[no-untyped-def]
    token = make_token(admin)["token"]
    first = push(app, token)
    assert first.status_code == 201
    case_id = first.get_json()["case_id"]
    office = as_user("reviewer")
    case = office.get(f"/api/cases/{case_id}").get_json()
    moved = office.patch(f"/api/cases/{case_id}", json={"external_ref": "GD-EDITED",
                                                         "version": case["version"]})
    assert moved.status_code == 422
    problem = moved.get_json()
    assert problem["code"] == "case.external_ref_locked" and "external_ref" in problem["errors"]
    assert problem["messages"]["zh"] and problem["messages"]["en"]
    assert problem["errors_zh"]["external_ref"] != ["此项填写有误。"]
    # Sending the same reference back (a whole form) is no change, so no refusal.
    same = office.patch(f"/api/cases/{case_id}", json={
        "external_ref": BODY["external_ref"], "subject": "改过的标题", "version": case["version"]})
    assert same.status_code == 200, same.get_json()
    # The office corrects the receipt time: the replay still answers the first answer.
    fixed = office.patch(f"/api/cases/{case_id}", json={
        "received_at": "2025-11-17T09:00:00+08:00", "version": same.get_json()["version"]})
    assert fixed.status_code == 200, fixed.get_json()
    again = push(app, token)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert len(cases_of(BODY["external_ref"])) == 1
    # An office-typed case keeps its editable reference.
    typed = office.post("/api/cases", json={
        "channel": "visit", "category": "noise_social", "subject": "来访", "address": "东湖路",
        "received_at": "2025-11-16T20:05:00+08:00", "unit_id": unit_id("Street A"),
        "external_ref": "OFFICE-1"}).get_json()
    edited = office.patch(f"/api/cases/{typed['id']}", json={"external_ref": "OFFICE-2",
                                                              "version": typed["version"]})
    assert edited.status_code == 200, edited.get_json()


# ---- hostile numbers and times ---------------------------------------------------------
HUGE_INT = "1" * 5000  # past Python's int-from-text limit (4,300 digits)


def test_a_huge_integer_literal_is_400_not_500(app: Flask, sources, admin: ApiClient,
                                               as_user) -> None:  # type: ignore[no-untyped-def]
    token = make_token(admin)["token"]
    body = '{"external_ref": ' + HUGE_INT + ', "received_at": "2025-11-16T20:05:00+08:00"}'
    answer = app.test_client().post("/api/intake/hotline_12345", data=body,
                                    content_type="application/json",
                                    headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400
    assert answer.mimetype == "application/problem+json"
    # Any JSON endpoint: the office's case form.
    office = as_user("reviewer")
    created = office.post("/api/cases", data='{"version": ' + HUGE_INT + "}",
                          content_type="application/json")
    assert created.status_code == 400 and created.mimetype == "application/problem+json"
    # An ordinary malformed body is answered as before.
    broken = office.post("/api/cases", data="{", content_type="application/json")
    assert broken.status_code == 400


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400", "2.5",
                                 "13812341234.0", "1.3812341234e10",
                                 "1" * 400])  # past a float: OverflowError, once
@pytest.mark.parametrize("name", ["external_ref", "complainant_phone"])
def test_numbers_for_text_are_whole_numbers_only(app: Flask, sources, admin: ApiClient,
                                                 name: str, raw: str) -> None:
    token = make_token(admin)["token"]
    body = json.dumps({**BODY, name: "@@"}).replace('"@@"', raw)
    answer = app.test_client().post("/api/intake/hotline_12345", data=body,
                                    content_type="application/json",
                                    headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 422, answer.get_json()
    assert name in answer.get_json()["errors"]
    assert cases_of(BODY["external_ref"]) == [] and entries("intake.pushed") == []


def test_a_whole_number_is_read_as_its_digits(app: Flask, sources, admin: ApiClient) -> None:
    token = make_token(admin)["token"]
    answer = push(app, token, {**BODY, "external_ref": 20251116000123,
                               "complainant_phone": 13812341234})
    assert answer.status_code == 201, answer.get_json()
    assert answer.get_json()["external_ref"] == "20251116000123"
    [case] = cases_of("20251116000123")
    assert case.complainant_phone == "13812341234"


def _ahead(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.mark.parametrize(("when", "ok"), [
    (lambda: _ahead(3600), False),        # an hour ahead: a wrong clock or a typo
    (lambda: "2099-01-01T00:00:00+08:00", False),
    (lambda: "1999-12-31T23:00:00+00:00", False),  # before 2000: implausible
    (lambda: _ahead(60), True),           # within CLOCK_DRIFT_S (300 s)
    (lambda: "2000-01-01T00:00:00+00:00", True),
])
def test_received_at_is_plausible_for_a_push_and_the_office_alike(
        app: Flask, sources, admin: ApiClient, as_user, when, ok: bool) -> None:  # type: ignore[no-untyped-def]
    assert app.config["CLOCK_DRIFT_S"] == 300
    token = make_token(admin)["token"]
    pushed = push(app, token, {**BODY, "received_at": when()})
    office = as_user("reviewer")
    typed = office.post("/api/cases", json={
        "channel": "visit", "category": "noise_social", "subject": "来访", "address": "东湖路",
        "received_at": when(), "unit_id": unit_id("Street A")})
    if ok:
        assert pushed.status_code == 201, pushed.get_json()
        assert typed.status_code == 201, typed.get_json()
        return
    for answer in (pushed, typed):
        assert answer.status_code == 422, answer.get_json()
        problem = answer.get_json()
        assert "received_at" in problem["errors"]
        assert problem["errors_zh"]["received_at"] != ["此项填写有误。"]
    # The office's edit follows the same rule.
    made = office.post("/api/cases", json={
        "channel": "visit", "category": "noise_social", "subject": "来访", "address": "东湖路",
        "received_at": "2025-11-16T20:05:00+08:00", "unit_id": unit_id("Street A")}).get_json()
    edited = office.patch(f"/api/cases/{made['id']}", json={"received_at": when(),
                                                             "version": made["version"]})
    assert edited.status_code == 422 and "received_at" in edited.get_json()["errors"]


def test_a_refusal_is_still_a_401_when_the_rate_limit_store_is_down(
        app: Flask, sources, monkeypatch: pytest.MonkeyPatch) -> None:
    """Redis gone (fault injected into the limiter's storage): the refusal is answered
    and audited as ever, not a 500; it is only not counted."""
    from server.extensions import limiter

    def down(*args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("rate-limit storage unreachable")

    monkeypatch.setattr(limiter.limiter, "hit", down)
    response = push(app, "guess-" + "x" * 40)
    assert response.status_code == 401
    assert response.get_json()["code"] == "intake.unauthorized"
    assert entries("intake.refused")


def test_a_reference_pushed_and_the_same_in_a_sheet_are_one_case(app: Flask, sources,
                                                                  admin: ApiClient,
                                                                  as_user) -> None:  # type: ignore[no-untyped-def]
    from tests.test_imports import row, sheet, upload

    token = make_token(admin)["token"]
    pushed = push(app, token, {**BODY, "external_ref": "\u200bＸ－００７ "})
    assert pushed.status_code == 201, pushed.get_json()
    case = db.session.scalar(sa.select(Case))
    assert case.external_ref == "X-007"  # one rule: sources.clean_reference
    preview = upload(as_user("reviewer"), sheet([row("Ｘ－００７"), row("X-007\u200b")])
                     ).get_json()
    assert [r["status"] for r in preview["rows"]] == ["duplicate", "duplicate"]
    assert preview["rows"][0]["duplicate_of"] == case.id


def test_a_streets_office_cannot_route_a_platforms_cases_to_itself(
        app: Flask, sources, admin: ApiClient, as_user) -> None:  # type: ignore[no-untyped-def]
    """Where a platform's cases go (its unit table, its default unit) is one setting for
    the whole district: a street's reviewer may not set it (it would take another street's
    complaints, with their names and phones), but still maps its columns and categories;
    the district's office sets it."""
    street = as_user("reviewer_a")
    for change in ({"value_maps": {"unit": {"城中街道": unit_id("Street A")}}},
                   {"default_unit_id": unit_id("Street A")}):
        refused = street.put("/api/intake-sources/hotline_12345/mapping", json=change)
        assert refused.status_code == 403, refused.get_json()
        assert refused.get_json()["code"] == "intake.routing_district_only"
    assert street.put("/api/intake-sources/hotline_12345/mapping", json={
        "value_maps": {"category": {"噪音扰民": "noise_social"}}}).status_code == 200
    token = make_token(admin)["token"]
    assert push(app, token, {**BODY, "unit": "城中街道"}).status_code == 201
    [case] = cases_of(BODY["external_ref"])
    assert case.unit_id == unit_id("Street B")  # where the district's table sends it
    moved = as_user("reviewer").put("/api/intake-sources/hotline_12345/mapping", json={
        "value_maps": {"unit": {"城中街道": unit_id("Street A")}}})
    assert moved.status_code == 200, moved.get_json()
