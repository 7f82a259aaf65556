"""A hung or failing object store during an approval (issue 16): it costs only the request
that needs it. Other writes (a login, a visit, a photo declaration, an extension on another
case) go through while the approval waits; a manifest that a failed approval left in the
store is removed by the reconciler; nothing half-sealed either way."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from server import create_app
from server.cli import cli
from server.extensions import db
from server.models import Case, Seal
from tests.closure_facts import night_visit, submit_ready
from tests.conftest import SAMPLES, login
from tests.tcp_proxy import TcpProxy, database_proxy
from tests.test_evidence import declaration
from tests.test_lifecycle import params_for, walk
from tests.test_seal import approve, events, in_hand, run_verify, seals

# How long the other writes may take, in all, before the test calls them stalled: a bound
# on liveness (they wait on nothing), not a speed target. Before the fix they waited for
# the approval, which waits on the frozen store for as long as the test keeps it frozen.
STALLED_AFTER_S = 15


def _wait_for(condition: Callable[[], bool], what: str, limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


@contextmanager
def frozen_seal_store(app: Flask) -> Iterator[tuple[Flask, Callable[[], bool],
                                                     Callable[[], None]]]:
    """An app whose object store hangs, a probe that says when a request is stuck in it,
    and the thaw (which the test calls before the block ends, to let that request finish
    while the app is still there). On S3: a second app on the same database, its store
    behind a proxy that accepts connections and never answers (a SIGSTOPped server). On
    local disk: the store's writes of seal manifests wait until the thaw."""
    if app.config["STACK"] == "embedded":
        storage = app.extensions["fieldcase.storage"]
        entered, release = threading.Event(), threading.Event()
        real_put = storage.put_bytes

        def hanging_put(key: str, data: bytes, **kwargs: Any) -> Any:
            if key.startswith("seals/"):
                entered.set()
                release.wait(60)
            return real_put(key, data, **kwargs)

        storage.put_bytes = hanging_put
        try:
            yield app, entered.is_set, release.set
        finally:
            release.set()
            del storage.put_bytes
        return
    from urllib.parse import unquote, urlsplit

    storage_url = app.config["STORAGE_URL"]
    query = dict(p.split("=", 1) for p in urlsplit(storage_url).query.split("&"))
    endpoint = urlsplit(unquote(query["endpoint"]))
    proxy = TcpProxy(endpoint.hostname, endpoint.port)
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    overrides["STORAGE_URL"] = storage_url.replace(
        f"{endpoint.hostname}%3A{endpoint.port}", f"127.0.0.1%3A{proxy.port}")
    frozen = create_app(overrides)
    proxy.freeze()
    try:
        yield frozen, lambda: bool(proxy._held), proxy.thaw
    finally:
        proxy.close()
        with frozen.app_context():
            db.engine.dispose()


def _approval_stuck(app: Flask, approver_app: Flask, stuck: Callable[[], bool], office: Any,
                    case_id: str) -> tuple[threading.Thread, dict[str, Any]]:
    """The case's approval, sent from a thread through `approver_app`, once it waits on
    the frozen store; the dict gets its answer when it ends."""
    reviewer = office if approver_app is app else login(approver_app, "reviewer")
    approval: dict[str, Any] = {}
    waiting = threading.Thread(
        target=lambda: approval.update(answer=approve(reviewer, case_id)), daemon=True)
    waiting.start()
    _wait_for(stuck, "the approval to reach the frozen store")
    return waiting, approval


def test_a_frozen_store_during_an_approval_holds_up_no_other_write(
        app, as_user, make_case) -> None:
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    submit_ready(office, inspector, as_user("revisit"), case_id)
    other = in_hand(office, inspector, make_case)
    extend = params_for("extend")
    photo = declaration(other, (SAMPLES / "gps" / "DSCN0010.jpg").read_bytes())
    before = events(case_id)
    others: dict[str, Any] = {}
    with frozen_seal_store(app) as (approver_app, stuck, thaw):
        waiting, approval = _approval_stuck(app, approver_app, stuck, office, case_id)

        def other_writes() -> None:
            started = time.monotonic()
            others["login"] = login(app, "insp_b")  # a login is an audited write
            others["visit"] = night_visit(inspector, other)
            others["declared"] = inspector.post("/api/evidence", json=photo).status_code
            others["extended"] = walk(office, other, ("extend", extend))["version"]
            others["seconds"] = time.monotonic() - started

        writer = threading.Thread(target=other_writes, daemon=True)
        writer.start()
        writer.join(STALLED_AFTER_S)
        assert not writer.is_alive(), "another write waited on the approval's hung store"
        assert others["declared"] == 201 and others["visit"]
        # They went through while the approval was still waiting on the store.
        assert waiting.is_alive() and "answer" not in approval
        thaw()
        waiting.join(90)
        assert not waiting.is_alive()
    answer = approval["answer"]
    # Once the store is back the approval either went through whole or left nothing.
    db.session.expire_all()
    if answer.status_code == 200:
        assert seals(case_id) == 1 and db.session.get(Case, case_id).status == "closed"
        assert run_verify(app, case_id).exit_code == 0
    else:
        assert answer.status_code == 503, answer.get_json()
        assert events(case_id) == before and seals(case_id) == 0


def _manifests(app: Flask) -> list[str]:
    return [i.key for i in app.extensions["fieldcase.storage"].list("seals/")]


def test_a_manifest_left_by_a_failed_approval_is_reconciled_away(
        app, as_user, make_case) -> None:
    """The database goes away after the manifest was written: the approval fails (503),
    nothing is sealed, and the reconciler removes the manifest no seal names, keeping
    the manifests of real seals."""
    office, inspector, revisit = as_user("reviewer"), as_user("insp_a"), as_user("revisit")
    sealed = in_hand(office, inspector, make_case)
    submit_ready(office, inspector, revisit, sealed)
    assert approve(office, sealed).status_code == 200
    case_id = in_hand(office, inspector, make_case)
    submit_ready(office, inspector, revisit, case_id)
    before = events(case_id)
    with database_cut_after_the_manifest(app) as cut_app:
        answer = approve(login(cut_app, "reviewer"), case_id)
    assert answer.status_code == 503, answer.get_json()
    db.session.expire_all()
    assert events(case_id) == before and seals(case_id) == 0
    kept = db.session.scalar(sa.select(Seal.object_key).where(Seal.case_id == sealed))
    assert len(_manifests(app)) == 2 and kept in _manifests(app)
    # Within the grace period an approval may still be on its way: the manifest stays.
    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["reconcile"]).exit_code == 0
    assert len(_manifests(app)) == 2
    result = runner.invoke(cli, ["reconcile", "--older-than-minutes", "0"])
    assert result.exit_code == 0, result.output
    assert '"manifests_removed": 1' in result.output
    assert _manifests(app) == [kept]
    assert run_verify(app, sealed).exit_code == 0
    assert approve(office, case_id).status_code == 200  # and the approval goes through now
    assert seals(case_id) == 1


@contextmanager
def database_cut_after_the_manifest(app: Flask) -> Iterator[Flask]:
    """An app whose database connection is cut right after a seal manifest reached the
    store. On PostgreSQL the connection really goes (a proxy cut); SQLite has no server
    to lose, so there the first write after the manifest fails as a lost one would."""
    from sqlalchemy.exc import OperationalError

    if app.config["STACK"] == "embedded":
        from server.domain.closure import sealing

        real_record = sealing.record

        def lost(*args: Any, **kwargs: Any) -> Any:
            raise OperationalError("INSERT INTO seals", {}, Exception("connection lost"))

        sealing.record = lost
        try:
            yield app
        finally:
            sealing.record = real_record
        return
    proxy, proxied = database_proxy(app.config["SQLALCHEMY_DATABASE_URI"])
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    overrides["SQLALCHEMY_DATABASE_URI"] = proxied
    cut_app = create_app(overrides)
    storage = cut_app.extensions["fieldcase.storage"]
    real_put = storage.put_bytes

    def put_then_cut(key: str, data: bytes, **kwargs: Any) -> Any:
        done = real_put(key, data, **kwargs)
        if key.startswith("seals/"):
            proxy.cut()
        return done

    storage.put_bytes = put_then_cut
    try:
        yield cut_app
    finally:
        proxy.close()
        with cut_app.app_context():
            db.engine.dispose()


def test_what_lands_on_a_case_while_its_seal_is_written_is_not_left_out(
        app, as_user, make_case) -> None:
    """A visit recorded on the case while its approval waits on the store: either it waits
    for the approval and is refused on the closed case (PostgreSQL: the case's row lock),
    or it lands and the approval is refused, to be looked at again (SQLite, where the
    approval holds no lock while the store is slow). Never both: a sealed case missing a
    visit its approval never judged."""
    office, inspector = as_user("reviewer"), as_user("insp_a")
    case_id = in_hand(office, inspector, make_case)
    submit_ready(office, inspector, as_user("revisit"), case_id)
    visit: dict[str, Any] = {}
    with frozen_seal_store(app) as (approver_app, stuck, thaw):
        waiting, approval = _approval_stuck(app, approver_app, stuck, office, case_id)
        writer = threading.Thread(target=lambda: visit.update(answer=inspector.post(
            f"/api/cases/{case_id}/visits", json={
                "client_id": str(uuid.uuid4()), "kind": "night_check",
                "started_at": datetime.now(UTC).isoformat()})), daemon=True)
        writer.start()
        writer.join(3)  # lands now, or waits for the approval
        thaw()
        waiting.join(90)
        writer.join(90)
        assert not waiting.is_alive() and not writer.is_alive()
    outcome = (approval["answer"].status_code, visit["answer"].status_code)
    assert outcome in {(200, 409), (409, 201)}, outcome
    db.session.expire_all()
    if outcome == (409, 201):
        assert approval["answer"].get_json()["code"] == "case.changed_while_approving"
        assert "重新查看" in approval["answer"].get_json()["messages"]["zh"]
        assert seals(case_id) == 0 and db.session.get(Case, case_id).status == "submitted"
        again = approve(office, case_id)
        assert again.status_code == 200, again.get_json()
        manifest = db.session.scalar(sa.select(Seal.manifest).where(Seal.case_id == case_id))
        assert visit["answer"].get_json()["id"] in manifest
    else:
        assert visit["answer"].get_json()["code"] == "case.closed"
        assert seals(case_id) == 1
