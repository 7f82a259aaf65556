"""Photos anyone can verify: a short code resolves to the evidence record for a user who
may see the case, to the public answer (hash, times, case closed) for anyone else once the
photo's seal is published, and to the same 404 otherwise; bytes are checked against it
without being kept; its QR code holds the verify URL."""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from server.extensions import db, limiter
from server.models import Case, Evidence, Seal
from tests.closure_facts import submit_ready, tell_complainant
from tests.conftest import CASE_BODY, PASSWORD, SAMPLES, login
from tests.test_evidence import file_photo
from tests.test_lifecycle import params_for, walk

PHOTO = SAMPLES / "gps" / "DSCN0010.jpg"  # small: quick to file
PUBLIC_KEYS = {"public", "short_code", "sha256", "captured_at", "received_at", "case_closed",
               "closed_at"}


@pytest.fixture(autouse=True)
def fresh_limits(app):  # type: ignore[no-untyped-def]
    """Anonymous calls are rate-limited per address, and the limiter's counters outlive
    an app: each test starts from none (the limit test sets its own)."""
    limiter.reset()
    yield
    limiter.reset()


def _api(username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return login(current_app._get_current_object(), username,  # type: ignore[attr-defined]
                 password)


def seal_case(case_id: str, evidence_ids: list[str], *, published: bool = True,
              inspector: str = "insp_a", password: str = PASSWORD) -> Seal:
    """Close the case as the office does (submitting it again after a reopen), which seals
    it; with `published`, make its public closure file, which publishes the seal."""
    office = _api("reviewer", password)
    if office.get(f"/api/cases/{case_id}").get_json()["status"] == "in_progress":
        walk(_api(inspector, password), case_id, ("submit", params_for("submit")))
        # Told again after a reopen: the checklist counts feedback since the last one.
        tell_complainant(office, case_id)
    walk(office, case_id, ("approve", {}))
    db.session.expire_all()
    seal = db.session.scalar(sa.select(Seal).filter_by(case_id=case_id)
                             .order_by(Seal.number.desc()).limit(1))
    listed = {e["id"] for e in json.loads(seal.manifest)["evidence"]}
    assert set(evidence_ids) <= listed
    if published:
        publish(seal, password)
    return seal


def publish(seal: Seal, password: str = PASSWORD) -> None:
    """The public closure file (办结公示) of the seal's case."""
    answer = _api("reviewer", password).get(f"/api/cases/{seal.case_id}/closure-file.pdf?public=1")
    assert answer.status_code == 200, answer.get_json()
    db.session.expire_all()


def reopen(case_id: str) -> None:
    walk(_api("reviewer"), case_id, ("reopen", params_for("reopen")))


def short_code(evidence_id: str) -> str:
    return db.session.scalar(sa.select(Evidence.short_code).filter_by(id=evidence_id))


@pytest.fixture()
def photo(app, as_user, make_case) -> dict:  # type: ignore[no-untyped-def]
    """A stored photo on a Street A case, with its bytes and short code."""
    case = make_case()
    data = PHOTO.read_bytes()
    office, inspector = as_user("reviewer"), as_user("insp_a")
    walk(office, case["id"], ("dispatch", params_for("dispatch")))
    walk(inspector, case["id"], ("start", {}))
    stored = submit_ready(office, inspector, as_user("revisit"), case["id"], data)
    return {"id": stored["id"], "case_id": case["id"], "data": data,
            "code": short_code(stored["id"]), "sha256": hashlib.sha256(data).hexdigest()}


def chunked(data: bytes) -> dict:
    """A request body sent without a length (Transfer-Encoding: chunked), as a WSGI server
    that ends the input itself (gunicorn) passes it on."""
    return {"input_stream": io.BytesIO(data),
            "headers": {"Content-Type": "application/octet-stream",
                        "Transfer-Encoding": "chunked"},
            "environ_overrides": {"wsgi.input_terminated": True}}


def anonymous(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def test_a_user_who_may_see_the_case_gets_the_full_record(app, as_user, photo) -> None:  # type: ignore[no-untyped-def]
    for username in ("insp_a", "reviewer"):
        answer = as_user(username).get(f"/api/verify/{photo['code']}")
        assert answer.status_code == 200, answer.get_json()
        body = answer.get_json()
        assert body["public"] is False
        assert body["evidence_id"] == photo["id"] and body["case_id"] == photo["case_id"]
        assert body["sha256"] == photo["sha256"] and body["size"] == len(photo["data"])
        assert body["short_code"] == photo["code"]
        assert body["content_type"] == "image/jpeg"
        assert body["geo"]["lat"] == pytest.approx(60.1467)
        assert body["received_at"] and body["stored_at"] and body["captured_at"]
        assert isinstance(body["flags"], list)
        assert body["case_status"] == "submitted" and body["seal"] is None

    seal = seal_case(photo["case_id"], [photo["id"]], published=False)
    body = as_user("insp_a").get(f"/api/verify/{photo['code']}").get_json()
    assert body["case_status"] == "closed"
    assert body["seal"]["number"] == 1 and body["seal"]["sha256"] == seal.sha256
    # Unpublished or not: the user who may see the case never gets the public answer.
    publish(seal)
    assert as_user("reviewer_a").get(f"/api/verify/{photo['code']}").get_json()[
        "public"] is False


def test_another_units_user_gets_404_until_published_then_the_public_answer(  # type: ignore[no-untyped-def]
        app, as_user, photo) -> None:
    other = as_user("insp_b")
    url = f"/api/verify/{photo['code']}"
    answer = other.get(url)
    assert answer.status_code == 404 and answer.get_json()["code"] == "verify.not_found"
    seal = seal_case(photo["case_id"], [photo["id"]], published=False)
    assert other.get(url).status_code == 404
    publish(seal)
    answer = other.get(url)
    assert answer.status_code == 200
    assert set(answer.get_json()) == PUBLIC_KEYS and answer.get_json()["public"] is True


def test_nobody_logged_in_gets_404_unless_the_latest_seal_is_published_and_closed(  # type: ignore[no-untyped-def]
        app, as_user, photo) -> None:
    client = anonymous(app)
    url = f"/api/verify/{photo['code']}"
    def refusal(answer):  # type: ignore[no-untyped-def]
        # Every answer has its own request id; the rest must not tell the cases apart.
        return {k: v for k, v in answer.get_json().items() if k != "request_id"}

    unknown = refusal(client.get(url))
    assert client.get(url).status_code == 404  # open case, no seal
    first = seal_case(photo["case_id"], [photo["id"]], published=False)
    assert client.get(url).status_code == 404  # sealed, not published
    publish(first)
    assert client.get(url).status_code == 200
    reopen(photo["case_id"])
    assert client.get(url).status_code == 404  # reopened: not closed any more
    second = seal_case(photo["case_id"], [photo["id"]], published=False)
    assert client.get(url).status_code == 404  # the latest seal is not published
    publish(second)
    assert client.get(url).status_code == 200
    # A photo filed after the latest seal is not in it (re-opened to file it, closed again).
    reopen(photo["case_id"])
    later = file_photo(as_user("insp_a"), photo["case_id"], photo["data"] + b"\0")
    db.session.get(Case, photo["case_id"]).status = "closed"
    db.session.commit()
    answer = client.get(f"/api/verify/{short_code(later['id'])}")
    assert answer.status_code == 404
    # Each refusal is the same answer as a code nobody has.
    assert refusal(answer) == unknown == refusal(client.get("/api/verify/ZZZZ-ZZZZ"))


def test_a_revisits_recording_or_photo_is_not_the_publics_to_look_up(  # type: ignore[no-untyped-def]
        app, as_user, photo) -> None:
    """A published seal lists everything stored on the case, a resident's recorded
    interview too; the public looks up only the site checks' photos (what the public
    closure file shows). The office still reads the full record."""
    from server.models import Revisit

    seal_case(photo["case_id"], [photo["id"]])
    client, url = anonymous(app), f"/api/verify/{photo['code']}"
    assert client.get(url).status_code == 200
    ev = db.session.get(Evidence, photo["id"])
    ev.content_type = "audio/webm"  # as a recording sealed with the case
    db.session.commit()
    assert client.get(url).status_code == 404
    check = client.post(f"{url}/check", data=photo["data"],
                        headers={"Content-Type": "application/octet-stream"})
    assert check.status_code == 404
    ev = db.session.get(Evidence, photo["id"])
    ev.content_type = "image/jpeg"
    ev.revisit_id = db.session.scalar(sa.select(Revisit.id).filter_by(case_id=photo["case_id"]))
    assert ev.revisit_id is not None
    db.session.commit()
    assert client.get(url).status_code == 404  # a revisit's photo
    full = as_user("reviewer").get(url)
    assert full.status_code == 200 and full.get_json()["public"] is False


def test_the_public_answer_holds_only_the_public_fields(app, as_user, photo) -> None:  # type: ignore[no-untyped-def]
    seal_case(photo["case_id"], [photo["id"]])
    answer = anonymous(app).get(f"/api/verify/{photo['code']}")
    assert answer.status_code == 200
    body = answer.get_json()
    assert set(body) == PUBLIC_KEYS
    assert body["public"] is True and body["case_closed"] is True
    assert body["short_code"] == photo["code"] and body["sha256"] == photo["sha256"]
    record = as_user("insp_a").get(f"/api/verify/{photo['code']}").get_json()
    assert body["captured_at"] == record["captured_at"]
    assert body["received_at"] == record["received_at"]
    assert datetime.fromisoformat(body["closed_at"]) > datetime.now(UTC) - timedelta(minutes=5)
    text = answer.get_data(as_text=True)
    for personal in ("王建国", "东湖路", "夜色酒吧", "张三", "13812341234", "60.14", "24.90",
                     photo["case_id"], photo["id"]):
        assert personal not in text, personal
    assert CASE_BODY["subject"] not in text


def test_codes_are_read_as_typed_and_malformed_ones_are_not_found(app, as_user, photo) -> None:  # type: ignore[no-untyped-def]
    seal_case(photo["case_id"], [photo["id"]])
    client = anonymous(app)
    plain = photo["code"].replace("-", "")
    for typed in (photo["code"].lower(), plain, plain.lower(), f"{photo['code'][:4]} "
                  f"{photo['code'][5:]}"):
        answer = client.get(f"/api/verify/{typed}")
        assert answer.status_code == 200, typed
        assert answer.get_json()["short_code"] == photo["code"]
    for bad in ("ABC", "ABCD-EFGH-JKMN", "UUUU-UUUU", "%2E%2E", "ABCD_EFGH"):
        answer = client.get(f"/api/verify/{bad}")
        assert answer.status_code == 404, bad
        assert answer.get_json()["code"] == "verify.not_found"


def test_check_says_whether_the_bytes_are_the_photo(app, as_user, photo) -> None:  # type: ignore[no-untyped-def]
    client = anonymous(app)
    url = f"/api/verify/{photo['code']}/check"
    octets = {"Content-Type": "application/octet-stream"}
    assert client.post(url, data=photo["data"], headers=octets).status_code == 404
    seal_case(photo["case_id"], [photo["id"]])
    answer = client.post(url, data=photo["data"], headers=octets)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"match": True, "sha256": photo["sha256"]}
    changed = bytearray(photo["data"])
    changed[len(changed) // 2] ^= 1
    answer = client.post(url, data=bytes(changed), headers=octets)
    assert answer.get_json() == {"match": False,
                                 "sha256": hashlib.sha256(bytes(changed)).hexdigest()}
    # A body with no length given (chunked) is hashed as it streams, all the same.
    answer = client.post(url, **chunked(photo["data"]))
    assert answer.get_json()["match"] is True


def test_a_logged_in_check_follows_the_csrf_rule(app, as_user, photo) -> None:  # type: ignore[no-untyped-def]
    inspector = as_user("insp_a")
    url = f"/api/verify/{photo['code']}/check"
    answer = inspector.post(url, data=photo["data"])  # the client sends the CSRF token
    assert answer.status_code == 200 and answer.get_json()["match"] is True
    answer = inspector.client.post(url, data=photo["data"])  # the cookie, no token
    assert answer.status_code == 403 and answer.get_json()["code"] == "auth.csrf_failed"


def test_a_check_over_the_limit_is_413_and_keeps_nothing(app, as_user, photo) -> None:  # type: ignore[no-untyped-def]
    seal_case(photo["case_id"], [photo["id"]])
    store = app.extensions["fieldcase.storage"]
    objects = sorted(info.key for info in store.list(""))
    rows = db.session.scalar(sa.select(sa.func.count()).select_from(Evidence))
    app.config["MAX_UPLOAD_BYTES"] = len(photo["data"]) - 1
    client = anonymous(app)
    url = f"/api/verify/{photo['code']}/check"
    answer = client.post(url, data=photo["data"])  # the length says so: refused unread
    assert answer.status_code == 413 and answer.get_json()["code"] == "verify.too_large"
    answer = client.post(url, **chunked(photo["data"]))  # found out reading
    assert answer.status_code == 413 and answer.get_json()["code"] == "verify.too_large"
    assert sorted(info.key for info in store.list("")) == objects
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == rows
    app.config["MAX_UPLOAD_BYTES"] = len(photo["data"])
    assert client.post(url, data=photo["data"]).get_json()["match"] is True


def test_anonymous_calls_are_rate_limited_per_address_and_logged_in_ones_per_user(  # type: ignore[no-untyped-def]
        app, as_user, photo) -> None:
    app.config["VERIFY_RATE_LIMIT"] = "3 per minute"
    app.config["VERIFY_USER_RATE_LIMIT"] = "5 per minute"
    client = anonymous(app)
    for _ in range(3):
        assert client.get("/api/verify/ZZZZ-ZZZZ").status_code == 404
    answer = client.get(f"/api/verify/{photo['code']}/qr.svg")  # one limit for all three
    assert answer.status_code == 429 and answer.get_json()["code"] == "request.rate_limited"
    assert "Retry-After" in answer.headers
    # Logged in: a limit of its own, per user (not the anonymous one of the same address).
    inspector, other = as_user("insp_a"), as_user("insp_b")
    for _ in range(4):
        assert inspector.get(f"/api/verify/{photo['code']}").status_code == 200
    assert inspector.get("/api/verify/ZZZZ-ZZZZ").status_code == 404
    for url in (f"/api/verify/{photo['code']}", "/api/verify/ZZZZ-ZZZZ"):
        answer = inspector.get(url)
        assert answer.status_code == 429 and answer.get_json()["code"] == "request.rate_limited"
    answer = inspector.post(f"/api/verify/{photo['code']}/check", data=photo["data"])
    assert answer.status_code == 429
    # The QR code looks nothing up: a review page shows one per photo.
    assert inspector.get(f"/api/verify/{photo['code']}/qr.svg").status_code == 200
    assert other.get("/api/verify/ZZZZ-ZZZZ").status_code == 404  # another user's count


def test_unknown_and_unpublished_codes_take_the_same_steps(app, as_user, photo) -> None:  # type: ignore[no-untyped-def]
    """No timing tells an existing code from a missing one: both run the same SQL
    statements (counted, not timed), logged in or not."""
    seal_case(photo["case_id"], [photo["id"]], published=False)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    missing = "ZZZZ-ZZZZ" if photo["code"] != "ZZZZ-ZZZZ" else "YYYY-YYYY"
    for caller in (anonymous(app), as_user("insp_b")):  # insp_b may not see the case
        caller.get(f"/api/verify/{missing}")  # warm: a session's first use writes
        shapes = []
        for code in (photo["code"], missing, photo["code"]):
            statements.clear()
            sa.event.listen(db.engine, "before_cursor_execute", count)
            try:
                answer = caller.get(f"/api/verify/{code}")
            finally:
                sa.event.remove(db.engine, "before_cursor_execute", count)
            assert answer.status_code == 404 and answer.get_json()["code"] == "verify.not_found"
            shapes.append(list(statements))
        assert shapes[0] == shapes[1] == shapes[2], shapes
        assert shapes[0], "no statement counted"


def test_qr_svg_holds_the_verify_url(app) -> None:  # type: ignore[no-untyped-def]
    client = anonymous(app)
    answer = client.get("/api/verify/7k3mq9tx/qr.svg")
    assert answer.status_code == 200
    assert answer.mimetype == "image/svg+xml"
    svg = answer.get_data(as_text=True)
    assert re.search(r"<svg\b[^>]*>", svg) and "<script" not in svg
    assert client.get("/api/verify/ABC/qr.svg").status_code == 404
    found = decode_qr(answer.get_data())
    assert found == f"{app.config['PUBLIC_BASE_URL']}/v/7K3M-Q9TX"  # configured, not Host
    forged = client.get("/api/verify/7K3M-Q9TX/qr.svg", headers={"Host": "phish.example.com"})
    assert "phish" not in decode_qr(forged.get_data())
    app.config["PUBLIC_BASE_URL"] = "https://verify.example.gov.cn"
    found = decode_qr(client.get("/api/verify/7K3M-Q9TX/qr.svg").get_data())
    assert found == "https://verify.example.gov.cn/v/7K3M-Q9TX"


def decode_qr(svg: bytes) -> str:
    """The text of the one QR code in an SVG, rendered by PyMuPDF and read by zxing-cpp."""
    fitz = pytest.importorskip("pymupdf")
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    with fitz.open(stream=svg, filetype="svg") as doc:
        pix = doc[0].get_pixmap(matrix=fitz.Matrix(4, 4))
        image = Image.open(io.BytesIO(pix.tobytes("png")))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    return found[0].text


def test_verify_url_and_public_base_setting(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from server.config import ConfigError, load_config
    from server.domain.closure.verification import verify_url

    assert verify_url("7K3M-Q9TX", "https://a.example/") == "https://a.example/v/7K3M-Q9TX"
    # Never the request's address: a fixed local one in development, required in
    # production.
    assert load_config(str(tmp_path), {})["PUBLIC_BASE_URL"] == "http://localhost:8000"
    assert load_config(str(tmp_path), {"PORT": "9000"})["PUBLIC_BASE_URL"] == \
        "http://localhost:9000"
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        load_config(str(tmp_path), {"FIELDCASE_ENV": "production", "SECRET_KEY": "s",
                                    "AUDIT_SIGNING_KEY": "ab" * 32,
                                    "WEBHOOK_SECRET_KEY": "cd" * 32,
                                    "PERSONAL_DATA_KEY": "ef" * 32})
    assert load_config(str(tmp_path), {"PUBLIC_BASE_URL": "https://a.example/ "})[
        "PUBLIC_BASE_URL"] == "https://a.example"
    with pytest.raises(ConfigError):
        load_config(str(tmp_path), {"PUBLIC_BASE_URL": "a.example"})


def test_the_public_page_is_static_and_csp_safe(app) -> None:  # type: ignore[no-untyped-def]
    client = anonymous(app)

    def get(url: str):  # type: ignore[no-untyped-def]
        answer = client.get(url)
        answer.get_data()
        answer.close()  # the file behind a streamed answer
        return answer

    page = get("/v/7k3m-q9tx")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    # Every script is a file of its own (no inline script), and each is served.
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="' in attrs and not body.strip() for attrs, body in scripts)
    assert "照片哈希" in html and "拍摄时间" in html and "接收时间" in html
    for asset in re.findall(r'(?:src|href)="(/v/assets/[^"]+)"', html):
        assert get(asset).status_code == 200, asset
    assert get("/v/assets/index.html").status_code == 404
    assert get("/v/assets/..%2Fverify.js").status_code == 404


def test_another_sites_link_gets_the_public_answer_even_when_logged_in(  # type: ignore[no-untyped-def]
        app, as_user, photo) -> None:
    """Authenticated requests another site started are refused (request.cross_site); the
    verify page is public, so a logged-in user following such a link gets the public
    answer, not a 403."""
    office = as_user("reviewer")
    url, foreign = f"/api/verify/{photo['code']}", {"Sec-Fetch-Site": "cross-site"}
    assert office.get(url, headers=foreign).status_code == 404  # not published yet
    seal_case(photo["case_id"], [photo["id"]])
    answer = office.get(url, headers=foreign)
    assert answer.status_code == 200 and answer.get_json()["public"] is True
    assert office.get(url).get_json()["public"] is False  # from the app: the full record
