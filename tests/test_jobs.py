"""Batch closure files and archives as jobs, on both stacks: created after the same
checks as the synchronous downloads (a case out of scope is 404, nothing queued), run to
done with progress, the stored result's SHA-256 matching its bytes; a failure keeps its
error and offers no download; another user cannot read the job; a stale attempt cannot
finish and leaves nothing behind; with Redis down the job waits and is sent later."""

from __future__ import annotations

import hashlib
import io
import secrets
import signal
import zipfile
from datetime import timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from server.domain.core import runtime
from server.domain.jobs import jobs, kinds, queue, runner
from server.extensions import db
from server.models import Job, User
from server.models.base import utcnow
from tests.test_closure_files import sealed_case
from tests.test_lifecycle import walk

CLOSED_PORT = "redis://127.0.0.1:9/0"  # discard: nothing listens there


def wait_done(app: Flask, api: Any, job_id: str) -> dict:
    queue.drain(app)
    answer = api.get(f"/api/jobs/{job_id}")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def fetch_result(app: Flask, api: Any, job: dict) -> tuple[bytes, str]:
    answer = api.get(job["result"]["url"])
    assert answer.status_code == 302, answer.get_json()
    location = answer.headers["Location"]
    if location.startswith("/"):  # the local store's signed route
        got = api.get(location)
        assert got.status_code == 200, got.get_data()[:200]
        body, disposition = got.get_data(), got.headers["Content-Disposition"]
        got.close()
        return body, disposition
    got = requests.get(location, timeout=30)
    assert got.status_code == 200, got.text[:200]
    return got.content, got.headers.get("Content-Disposition", "")


def objects_of(job_id: str) -> list[str]:
    return [o.key for o in runtime.storage().list(f"{runner.RESULT_PREFIX}/{job_id}/")]


def test_a_batch_closure_file_job_runs_and_its_hash_matches(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    first, _ = sealed_case(as_user, make_case)
    second, _ = sealed_case(as_user, make_case, subject="城南烧烤油烟扰民")
    answer = office.post("/api/jobs", json={"kind": "closure_file", "params": {
        "format": "pdf", "case": [first, second], "per_page": 2}})
    assert answer.status_code == 202, answer.get_json()
    started = answer.get_json()
    assert started["state"] in ("queued", "running", "done")
    assert started["params"]["case"] == [first, second]
    job = wait_done(app, office, started["id"])
    assert job["state"] == "done", job
    assert job["attempts"] == 1 and job["error"] is None
    assert job["progress"]["done"] == job["progress"]["total"] == 1
    result = job["result"]
    assert result["filename"] == "办结材料-2件.pdf" and result["content_type"] == "application/pdf"
    body, disposition = fetch_result(app, office, job)
    assert body.startswith(b"%PDF") and len(body) == result["size"]
    assert hashlib.sha256(body).hexdigest() == result["sha256"]
    assert "attachment" in disposition and "%E5%8A%9E" in disposition  # 办..., UTF-8
    # The closure file is stored once, by its hash: the job names it, copies nothing; its
    # result expiring leaves the closure file, which its own row names.
    assert objects_of(job["id"]) == []
    key = f"closure-files/{result['sha256']}.pdf"
    assert db.session.scalar(sa.select(Job.result_key).where(Job.id == job["id"])) == key
    listed = office.get("/api/jobs").get_json()["items"]
    assert [j["id"] for j in listed] == [job["id"]]
    db.session.execute(sa.update(Job).where(Job.id == job["id"]).values(
        finished_at=utcnow() - timedelta(days=runtime.setting("JOB_RESULT_DAYS") + 1)))
    db.session.commit()
    assert runner._expire_results() == 1
    assert office.get(job["result"]["url"]).get_json()["code"] == "job.expired"
    assert runtime.storage().head(key).size == result["size"]


def test_an_archive_job_by_period(app, as_user, make_case) -> None:
    office = as_user("reviewer")
    case_id, _ = sealed_case(as_user, make_case)
    today = utcnow().date()
    answer = office.post("/api/jobs", json={"kind": "archive", "params": {
        "closed_from": (today - timedelta(days=1)).isoformat(),
        "closed_to": (today + timedelta(days=1)).isoformat()}})
    assert answer.status_code == 202, answer.get_json()
    job = wait_done(app, office, answer.get_json()["id"])
    assert job["state"] == "done", job
    assert job["params"]["case"] == [case_id]
    assert job["stage"] == "done" and job["progress"]["total"] >= 1
    body, _ = fetch_result(app, office, job)
    assert hashlib.sha256(body).hexdigest() == job["result"]["sha256"]
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        names = zf.namelist()
        sums = zf.read("SHA256SUMS").decode()
    assert any("/originals/" in n for n in names) and sums


def test_refusals_queue_nothing_and_jobs_are_their_owners(app, as_user, make_case) -> None:
    theirs, _ = sealed_case(as_user, make_case)
    elsewhere = make_case(unit="Street B")["id"]  # reviewer_a sees Street A only
    street_a = as_user("reviewer_a")
    answer = street_a.post("/api/jobs", json={"kind": "closure_file", "params": {
        "format": "docx", "case": [theirs, elsewhere]}})
    assert answer.status_code == 404, answer.get_json()
    assert answer.get_json()["code"] == "case.not_found"
    assert answer.get_json()["case_id"] == elsewhere
    open_case = make_case()["id"]
    answer = as_user("reviewer").post("/api/jobs", json={"kind": "archive",
                                                         "params": {"case": [open_case]}})
    assert answer.status_code == 409 and answer.get_json()["code"] == "closure.not_closed"
    answer = as_user("insp_a").post("/api/jobs", json={"kind": "archive",
                                                       "params": {"case": [theirs]}})
    assert answer.status_code == 403
    for bad in ({"kind": "closure_file", "params": {"case": [theirs]}},  # no format
                {"kind": "archive", "params": {}},
                {"kind": "test.anything", "params": {"case": [theirs]}}):
        answer = as_user("reviewer").post("/api/jobs", json=bad)
        assert answer.status_code == 422, (bad, answer.get_json())
    from server.domain.closure import closure_files

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(closure_files, "MAX_PHOTOS", 0)  # its one photo is too many
        answer = as_user("reviewer").post("/api/jobs", json={"kind": "closure_file", "params": {
            "format": "pdf", "case": [theirs]}})
        assert answer.status_code == 422, answer.get_json()
        assert answer.get_json()["code"] == "closure.too_many_photos"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 0

    office = as_user("reviewer")
    job_id = office.post("/api/jobs", json={"kind": "archive",
                                            "params": {"case": [theirs]}}).get_json()["id"]
    wait_done(app, office, job_id)
    for other in ("reviewer_a", "admin", "insp_a"):
        api = as_user(other)
        for url in (f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/download"):
            answer = api.get(url)
            assert answer.status_code == 404, (other, url)
            assert answer.get_json()["code"] == "job.not_found"
        assert api.get("/api/jobs").get_json()["items"] == []


def test_a_failed_job_keeps_its_error_and_offers_nothing(app, as_user, make_case) -> None:
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT  # the job waits: reopen the case meanwhile
    office = as_user("reviewer")
    case_id, _ = sealed_case(as_user, make_case)
    answer = office.post("/api/jobs", json={"kind": "closure_file", "params": {
        "format": "pdf", "case": [case_id]}})
    assert answer.status_code == 202 and answer.get_json()["state"] == "queued"
    job_id = answer.get_json()["id"]
    for url in (f"/api/jobs/{job_id}/download",):
        refused = office.get(url)
        assert refused.status_code == 409 and refused.get_json()["code"] == "job.not_done"
    walk(office, case_id, ("reopen", {"reason": "复查发现反弹"}))
    assert runner.execute(job_id) == "failed"
    job = office.get(f"/api/jobs/{job_id}").get_json()
    assert job["state"] == "failed" and job["result"] is None
    assert job["error"]["code"] == "closure.not_closed"
    assert job["error"]["case_id"] == case_id
    assert job["error"]["messages"]["zh"].startswith("只有已办结的案件")
    assert job["error"]["messages"]["en"]
    refused = office.get(f"/api/jobs/{job_id}/download")
    assert refused.status_code == 409 and refused.get_json()["code"] == "job.failed"
    assert objects_of(job_id) == []
    assert runner.execute(job_id) == "skipped"  # a failed job is not run again


def _waiting_job(user_name: str = "reviewer") -> str:
    user = db.session.scalar(sa.select(User).filter_by(username=user_name))
    return jobs.create(user, "test.inline", {}).id


@pytest.fixture()
def inline_kind() -> Any:
    """A quick kind of job the tests run by hand (the queue points at a closed port)."""
    def run(_user: User, _params: dict, spool: Any, progress: kinds.Progress) -> kinds.Made:
        progress(0, 1, "writing")
        spool.write(b"made once\n")
        return kinds.Made("inline.txt", "text/plain")

    kinds.register(kinds.Kind("test.inline", lambda _u, p: dict(p), run))
    yield
    kinds.KINDS.pop("test.inline", None)


def test_a_stale_attempt_cannot_finish_and_leaves_nothing(app, inline_kind) -> None:
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    job_id = _waiting_job()
    assert runner.claim(job_id) == 1
    assert runner.claim(job_id) is None  # a second worker does not take a live job
    # The first worker stops heartbeating (killed, or stalled): a second takes the job.
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        heartbeat_at=utcnow() - timedelta(seconds=app.config["JOB_STALE_S"] + 1)))
    db.session.commit()
    assert runner.claim(job_id) == 2
    spool = io.BytesIO(b"attempt one\n")
    spool.seek(0, 2)
    assert runner._store(job_id, 1, kinds.Made("x.txt", "text/plain"), spool) == "lost"
    assert objects_of(job_id) == []  # the stale attempt deleted its own object
    spool = io.BytesIO(b"attempt two\n")
    spool.seek(0, 2)
    assert runner._store(job_id, 2, kinds.Made("x.txt", "text/plain"), spool) == "done"
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job.state == "done" and job.attempts == 2
    assert objects_of(job_id) == [f"jobs/{job_id}/2/result.txt"]
    assert job.sha256 == hashlib.sha256(b"attempt two\n").hexdigest()


def test_what_a_killed_attempt_stored_unnamed_is_removed_by_the_reaper(app, inline_kind) -> None:
    """An attempt killed between storing its result and naming it in the job's row: no
    row names the object, and the expiry deletes only what rows name. The reaper, taking
    the job back from that attempt, removes it; the next attempt's result is the job's."""
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    job_id = _waiting_job()
    assert runner.claim(job_id) == 1
    runtime.storage().put_bytes(f"jobs/{job_id}/1/result.txt", b"attempt one\n",
                                content_type="text/plain")  # then the worker was killed
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        heartbeat_at=utcnow() - timedelta(seconds=app.config["JOB_STALE_S"] + 1)))
    db.session.commit()
    assert runner.reap()["requeued"] == 1
    assert objects_of(job_id) == []
    assert runner.claim(job_id) == 2
    spool = io.BytesIO(b"attempt two\n")
    spool.seek(0, 2)
    assert runner._store(job_id, 2, kinds.Made("x.txt", "text/plain"), spool) == "done"
    assert objects_of(job_id) == [f"jobs/{job_id}/2/result.txt"]


def test_a_stale_attempt_naming_a_stored_file_leaves_that_file(app, inline_kind) -> None:
    """A result that names a file already stored (a batch closure file) is that file's
    own row's to keep: a late attempt, losing its claim, does not delete it."""
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    job_id = _waiting_job()
    assert runner.claim(job_id) == 1
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        heartbeat_at=utcnow() - timedelta(seconds=app.config["JOB_STALE_S"] + 1)))
    db.session.commit()
    assert runner.claim(job_id) == 2
    body = b"%PDF-1.7 a closure file\n"
    key = f"closure-files/{hashlib.sha256(body).hexdigest()}.pdf"
    runtime.storage().put_bytes(key, body, content_type="application/pdf")
    made = kinds.Made("x.pdf", "application/pdf",
                      kinds.Stored(key, hashlib.sha256(body).hexdigest(), len(body)))
    assert runner._store(job_id, 1, made, io.BytesIO()) == "lost"
    assert runtime.storage().head(key).size == len(body)
    assert runner._store(job_id, 2, made, io.BytesIO()) == "done"
    assert db.session.scalar(sa.select(Job.result_key).where(Job.id == job_id)) == key
    assert objects_of(job_id) == []


def test_a_result_the_database_refuses_to_record_leaves_no_object(app, inline_kind) -> None:
    # The database refuses the finishing UPDATE (a trigger, as a full disk or a failover
    # would): no row names the stored object, so it must not stay behind.
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    job_id = _waiting_job()
    assert runner.claim(job_id) == 1
    db.session.commit()  # the claim's row lock released: the trigger's DDL takes the table
    postgres = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as conn:
        if postgres:
            conn.execute(sa.text(
                "CREATE FUNCTION test_refuse_done() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left'; END $$"))
            conn.execute(sa.text(
                "CREATE TRIGGER test_refuse_done BEFORE UPDATE ON jobs FOR EACH ROW "
                "WHEN (NEW.state = 'done') EXECUTE FUNCTION test_refuse_done()"))
        else:
            conn.execute(sa.text(
                "CREATE TRIGGER test_refuse_done BEFORE UPDATE ON jobs "
                "WHEN NEW.state = 'done' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"))
    try:
        spool = io.BytesIO(b"made, never recorded\n")
        spool.seek(0, 2)
        with pytest.raises(sa.exc.SQLAlchemyError):
            runner._store(job_id, 1, kinds.Made("x.txt", "text/plain"), spool)
        assert objects_of(job_id) == []
        db.session.expire_all()
        assert db.session.get(Job, job_id).state == "running"  # the reaper takes it again
    finally:
        db.session.rollback()  # the test's reads end: dropping the trigger takes the table
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP TRIGGER test_refuse_done"
                                 + (" ON jobs" if postgres else "")))
            if postgres:
                conn.execute(sa.text("DROP FUNCTION test_refuse_done()"))


def test_a_node_whose_clock_runs_ahead_takes_no_live_job(app, inline_kind,
                                                          monkeypatch) -> None:
    # Several nodes share PostgreSQL: a heartbeat and the staleness it is judged by come
    # from the database's clock, so a node ten minutes ahead neither reaps nor claims a
    # job another node is running. (The embedded SQLite default is one node, one clock.)
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several nodes share PostgreSQL; SQLite is one node's")
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    job_id = _waiting_job()
    assert runner.claim(job_id) == 1
    ahead = utcnow() + timedelta(minutes=10)
    for module in (runner, queue):  # this node's clock, wherever it is read
        monkeypatch.setattr(module, "utcnow", lambda: ahead)
    assert runner.reap()["requeued"] == 0
    assert runner.claim(job_id) is None
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert (job.state, job.attempts) == ("running", 1)
    # Silent for longer than JOB_STALE_S by the database's clock, it is taken again.
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        heartbeat_at=sa.func.now() - timedelta(seconds=app.config["JOB_STALE_S"] + 1)))
    db.session.commit()
    assert runner.claim(job_id) == 2


def test_a_node_whose_clock_runs_ahead_sends_no_fresh_entry_again(app, inline_kind,
                                                                   monkeypatch) -> None:
    """A queued job's entry is judged stale by the database's clock too: a node ten
    minutes ahead does not send a job again that another node has just sent."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several nodes share PostgreSQL; SQLite is one node's")
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    job_id = _waiting_job()
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        enqueued_at=sa.func.now(), queue_ref="elsewhere"))  # just sent by another node
    db.session.commit()
    sent: list[str] = []
    monkeypatch.setattr(queue, "in_queue", lambda _ref: False)  # whatever the queue says
    monkeypatch.setattr(queue, "send", lambda job: sent.append(job) or True)
    ahead = utcnow() + timedelta(minutes=10)
    for module in (runner, queue):
        monkeypatch.setattr(module, "utcnow", lambda: ahead)
    assert runner.reap()["sent"] == 0 and sent == []
    # An entry older than JOB_STALE_S by the database's clock that the queue lost: again.
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        enqueued_at=sa.func.now() - timedelta(seconds=app.config["JOB_STALE_S"] + 1)))
    db.session.commit()
    assert runner.reap()["sent"] == 1 and sent == [job_id]


def test_the_reaper_retries_then_gives_up(app, inline_kind) -> None:
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    app.config["JOB_MAX_ATTEMPTS"] = 2
    job_id = _waiting_job()
    old = utcnow() - timedelta(seconds=app.config["JOB_STALE_S"] + 1)
    for attempt, outcome in ((1, "requeued"), (2, "failed")):
        assert runner.claim(job_id) == attempt
        db.session.execute(sa.update(Job).where(Job.id == job_id).values(heartbeat_at=old))
        db.session.commit()
        counts = runner.reap()
        assert counts[outcome] == 1, counts
        assert runner.reap()[outcome] == 0  # idempotent
    db.session.expire_all()
    job = db.session.get(Job, job_id)
    assert job.state == "failed" and job.error_code == "job.worker_lost"
    assert "2" in job.error_zh and job.finished_at is not None


def live_queue(app: Flask) -> Any:
    """The app's RQ queue on the real Redis (unavailable: a failure in CI, else a skip)."""
    try:
        q = queue.rq_queue(app)
        q.connection.ping()
    except Exception as exc:
        from tests.conftest import unavailable

        unavailable(f"Redis at 127.0.0.1:6379: {exc}")
    return q


def test_with_redis_down_jobs_wait_then_run(app, inline_kind) -> None:
    from rq import SimpleWorker

    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    app.config["JOBS_QUEUE"] = f"fc-test-{secrets.token_hex(6)}"
    job_id = _waiting_job()
    job = db.session.get(Job, job_id)
    assert job.state == "queued" and job.enqueued_at is None
    assert jobs.queue_depth()["queued"] == 1
    from tests.test_metrics import scrape, value

    waiting = value(scrape(app), "fieldcase_job_queue_depth", queue=app.config["JOBS_QUEUE"])
    assert waiting == 1  # /metrics counts it from the jobs table, Redis or not
    assert runner.reap()["sent"] == 0  # still down: still waiting
    app.config["JOBS_REDIS_URL"] = "redis://127.0.0.1:6379/0"  # Redis is back
    q = live_queue(app)
    try:
        assert runner.reap()["sent"] == 1
        db.session.expire_all()
        assert db.session.get(Job, job_id).enqueued_at is not None
        assert len(q) == 1
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            # Without RQ's command channel (a thread blocking up to 60 s on Redis, which
            # the worker's exit sometimes waited for): this burst needs none.
            class Worker(SimpleWorker):
                def subscribe(self) -> None:
                    pass

            Worker([q], connection=q.connection,
                   serializer=queue.serializer()).work(burst=True, with_scheduler=False)
        finally:  # the worker takes SIGINT and SIGTERM for itself: give them back
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        db.session.expire_all()
        job = db.session.get(Job, job_id)
        assert job.state == "done" and job.attempts == 1
        assert jobs.queue_depth()["queued"] == 0
    finally:
        q.delete(delete_jobs=True)


def test_a_case_ledger_job(app, as_user, make_case) -> None:
    from openpyxl import load_workbook

    make_case(subject="东湖路酒吧夜间噪声")
    office = as_user("reviewer_a")
    today = utcnow().date()
    span = {"from": (today - timedelta(days=2)).isoformat(),
            "to": (today + timedelta(days=1)).isoformat()}
    answer = office.post("/api/jobs", json={"kind": "case_ledger",
                                            "params": {"format": "xlsx", **span}})
    assert answer.status_code == 202, answer.get_json()
    job = wait_done(app, office, answer.get_json()["id"])
    assert job["state"] == "done", job
    assert job["result"]["filename"].startswith("信访件台账-")
    body, _ = fetch_result(app, office, job)
    assert hashlib.sha256(body).hexdigest() == job["result"]["sha256"]
    sync = office.get(f"/api/reports/ledger.xlsx?from={span['from']}&to={span['to']}")
    assert sync.status_code == 200

    def rows(data: bytes) -> list[list[Any]]:  # from the headings on (row 2: the time made)
        ws = load_workbook(io.BytesIO(data)).worksheets[0]
        return [[c.value for c in row] for row in ws.iter_rows(min_row=3)]

    assert rows(body) == rows(sync.data) and len(rows(body)) >= 2  # headings and the case
    assert rows(body)[0][:3] == ["序号", "受理编号", "受理时间"]
    # Another unit's ledger: 404 when asked for, nothing queued.
    from tests.conftest import unit_id

    answer = office.post("/api/jobs", json={"kind": "case_ledger", "params": {
        "format": "csv", "unit_id": unit_id("Street B"), **span}})
    assert answer.status_code == 404, answer.get_json()
    answer = office.post("/api/jobs", json={"kind": "case_ledger", "params": {
        "format": "pdf", **span}})
    assert answer.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1


def _sheet_rows(data: bytes) -> list[list[Any]]:
    """A ledger's rows from its headings on (row 1: its title; row 2: the time made)."""
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    return [[c.value for c in row] for row in ws.iter_rows(min_row=3)]


@pytest.mark.parametrize(("kind", "sync_path", "name"), [
    ("revisit_ledger", "/api/reports/revisits.xlsx", "回访台账-"),
    ("repeat_list", "/api/reports/repeats.xlsx", "反复投诉环境问题清单-")])
def test_the_revisit_ledger_and_the_repeat_list_as_jobs(app, as_user, make_case, kind: str,
                                                        sync_path: str, name: str) -> None:
    """The other two ledgers of the rates page, as jobs: the same file as their download,
    after the same checks (another unit 404, a role that reads no ledger 403, a bad
    period 422), nothing queued on a refusal."""
    from tests.closure_facts import submit_ready
    from tests.conftest import unit_id
    from tests.test_seal import in_hand

    # A case handled in full, its revisit made today: a row of the revisit ledger.
    case_id = in_hand(as_user("reviewer"), as_user("insp_a"), make_case)
    submit_ready(as_user("reviewer"), as_user("insp_a"), as_user("revisit"), case_id)
    office = as_user("reviewer_a")
    today = utcnow().date()
    span = ({"from": (today - timedelta(days=2)).isoformat(),
             "to": (today + timedelta(days=1)).isoformat()} if kind == "revisit_ledger" else {})
    answer = office.post("/api/jobs", json={"kind": kind, "params": span})
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["params"] == {**span, "scope": answer.get_json()["params"]["scope"]}
    job = wait_done(app, office, answer.get_json()["id"])
    assert job["state"] == "done", job
    filename = job["result"]["filename"]
    assert filename.startswith(name) and filename.endswith(".xlsx")
    body, _ = fetch_result(app, office, job)
    assert hashlib.sha256(body).hexdigest() == job["result"]["sha256"]
    query = "&".join(f"{k}={v}" for k, v in span.items())
    sync = office.get(f"{sync_path}?{query}")
    assert sync.status_code == 200
    assert _sheet_rows(body) == _sheet_rows(sync.data) and _sheet_rows(body)[0][0] == "序号"
    if kind == "revisit_ledger":  # the revisit's row, not only the headings
        assert [row[0] for row in _sheet_rows(body)[1:2]] == [1], _sheet_rows(body)[:3]

    refusals = [(as_user("insp_a"), span, 403)]
    if kind == "revisit_ledger":
        refusals += [(office, {**span, "unit_id": unit_id("Street B")}, 404),
                     (office, {"from": span["to"], "to": span["from"]}, 422)]
    else:
        refusals += [(office, {"from": span.get("from", "2026-01-01")}, 422)]  # takes none
    for who, params, status in refusals:
        refused = who.post("/api/jobs", json={"kind": kind, "params": params})
        assert refused.status_code == status, (params, refused.get_json())
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1


def _move(username: str, unit_name: str) -> None:
    """The person now works for this unit alone."""
    from server.models import Unit

    user = db.session.scalar(sa.select(User).filter_by(username=username))
    user.units = [db.session.scalar(sa.select(Unit).filter_by(name=unit_name))]
    db.session.commit()
    db.session.info.pop("fieldcase.scope", None)  # the test's session outlives requests


@pytest.mark.parametrize("kind", ["archive", "case_ledger", "revisit_ledger", "repeat_list"])
def test_a_job_follows_its_owners_current_scope(app, as_user, make_case, kind: str) -> None:
    """A reviewer moved from Street A to Street B no longer reads nor downloads what a job
    made of Street A: an archive of its case, or a ledger asked for without a unit (it
    holds every case of the units its owner saw then); nor its case ids. Moved back, the
    job is theirs again."""
    if kind == "archive":
        case_id, _ = sealed_case(as_user, make_case)  # in Street A
        params: dict[str, Any] = {"case": [case_id]}
    else:
        case_id = make_case(subject="东湖路酒吧夜间噪声")["id"]  # in Street A
        today = utcnow().date()
        params = {"format": "csv", "from": (today - timedelta(days=2)).isoformat(),
                  "to": (today + timedelta(days=1)).isoformat()}
        if kind != "case_ledger":  # the revisit ledger: the period; the repeat list: nothing
            params = {k: params[k] for k in ("from", "to")} if kind == "revisit_ledger" else {}
    street_a = as_user("reviewer_a")
    answer = street_a.post("/api/jobs", json={"kind": kind, "params": params})
    assert answer.status_code == 202, answer.get_json()
    job = wait_done(app, street_a, answer.get_json()["id"])
    assert job["state"] == "done", job

    _move("reviewer_a", "Street B")
    for url in (f"/api/jobs/{job['id']}", f"/api/jobs/{job['id']}/download"):
        refused = street_a.get(url)
        assert refused.status_code == 404, (url, refused.get_json())
        assert refused.get_json()["code"] == "job.not_found"
        assert case_id not in refused.get_data(as_text=True)
    assert street_a.get("/api/jobs").get_json()["items"] == []
    _move("reviewer_a", "Street A")
    assert street_a.get(f"/api/jobs/{job['id']}").get_json()["params"] == {
        **params, **({"scope": job["params"]["scope"]} if kind in kinds.LEDGER_KINDS else {})}
    assert street_a.get(f"/api/jobs/{job['id']}/download").status_code == 302


@pytest.mark.parametrize("kind", ["case_ledger", "revisit_ledger"])
def test_a_moved_owner_is_refused_even_when_the_period_is_no_longer_allowed(
        app, as_user, make_case, kind: str) -> None:
    """The operator shortened REPORT_MAX_DAYS after a 30-day ledger was made: its period
    is no longer one a ledger may be asked for. Its owner, moved to another street, still
    gets 404, not the old street's ledger (the access check took the period's refusal for
    a question of parameters and let the job through)."""
    make_case(subject="东湖路酒吧夜间噪声")  # in Street A
    today = utcnow().date()
    params: dict[str, Any] = {"from": (today - timedelta(days=30)).isoformat(),
                              "to": today.isoformat()}
    if kind == "case_ledger":
        params["format"] = "csv"
    street_a = as_user("reviewer_a")
    answer = street_a.post("/api/jobs", json={"kind": kind, "params": params})
    assert answer.status_code == 202, answer.get_json()
    job = wait_done(app, street_a, answer.get_json()["id"])
    assert job["state"] == "done", job
    app.config["REPORT_MAX_DAYS"] = 7
    _move("reviewer_a", "Street B")
    try:
        for url in (f"/api/jobs/{job['id']}", f"/api/jobs/{job['id']}/download"):
            refused = street_a.get(url)
            assert refused.status_code == 404, (url, refused.get_json())
            assert refused.get_json()["code"] == "job.not_found"
        assert street_a.get("/api/jobs").get_json()["items"] == []
    finally:  # people outlive a test (tests/conftest.py)
        _move("reviewer_a", "Street A")


def test_a_ledger_run_again_after_its_store_failed_records_one_export(
        app, as_user, tmp_path) -> None:
    """The first attempt made the repeat list, then could not store it (its store's folder
    is a file); the second stored it. The audit log records one export, the one whose
    result the office downloads, not one an attempt."""
    from server import create_app
    from server.models import AuditEntry

    app.config["JOBS_REDIS_URL"] = CLOSED_PORT  # the queue waits: attempts run here
    office = as_user("reviewer")
    answer = office.post("/api/jobs", json={"kind": "repeat_list", "params": {}})
    assert answer.status_code == 202, answer.get_json()
    job_id = answer.get_json()["id"]
    (tmp_path / "not-a-folder").write_bytes(b"")
    broken = create_app({**{k: v for k, v in app.config.items() if k.isupper()},
                         "STORAGE_URL": f"file://{tmp_path / 'not-a-folder' / 'objects'}"})

    def exports() -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "report.exported"))

    with broken.app_context():
        assert runner.execute(job_id) == "requeued"
        db.session.remove()
    assert exports() == 0
    assert runner.execute(job_id) == "done"
    assert exports() == 1
    done = office.get(f"/api/jobs/{job_id}").get_json()
    assert (done["state"], done["attempts"]) == ("done", 2), done
    assert office.get(f"/api/jobs/{job_id}/download").status_code == 302
    with broken.app_context():
        db.engine.dispose()


def test_a_ledger_runs_as_its_owner_is_now(app, as_user, make_case) -> None:
    """A ledger job that waited in the queue while its owner was moved to another street
    fails with the reason when it runs (it would list the new street's cases under the
    old street's digest); one asked for by the district office survives a unit added."""
    from server.domain.accounts import auth

    make_case(subject="东湖路酒吧夜间噪声")
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT  # the queue waits: nothing runs yet
    today = utcnow().date()
    params = {"format": "csv", "from": (today - timedelta(days=2)).isoformat(),
              "to": (today + timedelta(days=1)).isoformat()}
    street_a, office = as_user("reviewer_a"), as_user("reviewer")
    moved = street_a.post("/api/jobs", json={"kind": "case_ledger", "params": params})
    kept = office.post("/api/jobs", json={"kind": "case_ledger", "params": params})
    assert moved.status_code == kept.status_code == 202, (moved.get_json(), kept.get_json())
    assert kept.get_json()["params"]["scope"] == "*"
    _move("reviewer_a", "Street B")
    auth.create_unit("Street C", "District")  # the office now sees one unit more
    try:
        db.session.info.pop("fieldcase.scope", None)
        assert runner.execute(moved.get_json()["id"]) == "failed"
        assert runner.execute(kept.get_json()["id"]) == "done"
    finally:  # units outlive a test (tests/conftest.py): this one must not
        from server.models import Unit

        db.session.rollback()
        db.session.execute(sa.delete(Unit).where(Unit.name == "Street C"))
        db.session.commit()
    _move("reviewer_a", "Street A")
    failed = street_a.get(f"/api/jobs/{moved.get_json()['id']}").get_json()
    assert failed["state"] == "failed" and failed["error"]["code"] == "job.scope_changed"
    assert "单位已有变动" in failed["error"]["messages"]["zh"]
    assert street_a.get(f"/api/jobs/{moved.get_json()['id']}/download").status_code != 302
    assert office.get(f"/api/jobs/{kept.get_json()['id']}/download").status_code == 302


def test_a_store_or_database_error_shows_its_class_not_its_text(app, as_user, caplog) -> None:
    """The driver's words (SQL, parameters, host) go to the log with the job id; the job
    keeps only the error's class."""
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    app.config["JOB_MAX_ATTEMPTS"] = 1

    def run(_user: User, _params: dict, _spool: Any, _progress: kinds.Progress) -> kinds.Made:
        raise sa.exc.OperationalError("SELECT secret_column FROM users WHERE pw = %s",
                                      {"pw": "hunter2"}, Exception("db.internal-host:5432"))

    kinds.register(kinds.Kind("test.broken", lambda _u, p: dict(p), run))
    try:
        office = as_user("reviewer")
        user = db.session.scalar(sa.select(User).filter_by(username="reviewer"))
        job_id = jobs.create(user, "test.broken", {}).id
        assert runner.execute(job_id) == "failed"
        answer = office.get(f"/api/jobs/{job_id}")
        assert answer.status_code == 200
        text = answer.get_data(as_text=True)
        error = answer.get_json()["error"]
        assert error["code"] == "job.unavailable" and error["detail"] == "OperationalError"
        for secret in ("secret_column", "hunter2", "internal-host"):
            assert secret not in text
        assert any(job_id in r.getMessage() and "internal-host" in r.getMessage()
                   for r in caplog.records)
    finally:
        kinds.KINDS.pop("test.broken", None)


def test_a_claim_the_database_refuses_leaves_the_job_for_the_reaper(app, inline_kind) -> None:
    """The database away at claim time: the job stays queued (not an RQ failure), and its
    RQ entry, failed or finished, does not count as held: the reaper sends it again."""
    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    job_id = _waiting_job()

    def refused(_job_id: str) -> int:
        raise sa.exc.OperationalError("UPDATE jobs ...", {}, Exception("server closed"))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "claim", refused)
        assert runner.execute(job_id) == "unclaimed"
    db.session.expire_all()
    assert db.session.get(Job, job_id).state == "queued"

    app.config["JOBS_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    app.config["JOBS_QUEUE"] = f"fc-test-{secrets.token_hex(6)}"
    q = live_queue(app)
    from rq.job import Job as RqJob

    ref = f"{job_id}_test_{secrets.token_hex(4)}"
    try:
        q.enqueue_call(queue.RUN, args=(job_id,), job_id=ref)
        assert queue.in_queue(ref)
        assert not queue.in_queue(f"{ref}-never-sent")
        for status in ("failed", "finished", "stopped", "canceled"):
            q.connection.hset(RqJob.key_for(ref), "status", status)
            assert not queue.in_queue(ref), status
        q.connection.hset(RqJob.key_for(ref), "status", "started")
        assert queue.in_queue(ref)
        q.connection.hset(RqJob.key_for(ref), "status", "failed")
        old = utcnow() - timedelta(seconds=app.config["JOB_STALE_S"] + 1)
        db.session.execute(sa.update(Job).where(Job.id == job_id).values(
            enqueued_at=old, queue_ref=ref))
        db.session.commit()
        assert runner.reap()["sent"] == 1  # its RQ entry failed: sent again
    finally:
        q.delete(delete_jobs=True)
        q.connection.delete(RqJob.key_for(ref))


def test_the_web_process_reaps_without_redis_and_its_threads_do_not_hold_exit(
        app, as_user, inline_kind) -> None:
    """No Redis: a job left "running" by a dead web process (its heartbeat silent) is run
    again by the web process's own reaper timer, started by the app's first poll; the
    threads running jobs are daemons (a recycled gunicorn worker exits without waiting)."""
    import threading
    import time

    app.config["JOBS_REDIS_URL"] = CLOSED_PORT
    job_id = _waiting_job()
    assert runner.claim(job_id) == 1  # taken by a process that then died
    db.session.execute(sa.update(Job).where(Job.id == job_id).values(
        heartbeat_at=utcnow() - timedelta(seconds=app.config["JOB_STALE_S"] + 1)))
    db.session.commit()
    app.config.update({"JOBS_REDIS_URL": "", "JOB_REAP_S": 0.2})
    office = as_user("reviewer")
    assert office.get(f"/api/jobs/{job_id}").status_code == 200  # the poll starts the timer
    end = time.monotonic() + 90  # a bound on waiting, not a speed assertion
    while time.monotonic() < end:
        db.session.expire_all()
        job = db.session.get(Job, job_id)
        if job.state == "done":
            break
        time.sleep(0.1)
    assert job.state == "done" and job.attempts == 2, (job.state, job.attempts)
    ours = [t for t in threading.enumerate() if t.name.startswith(("job_", "jobs-reaper-local"))]
    assert ours and all(t.daemon for t in ours), [(t.name, t.daemon) for t in ours]
    reapers = [t for t in threading.enumerate() if t.name == "jobs-reaper-local"]
    office.get("/api/jobs")
    assert len([t for t in threading.enumerate() if t.name == "jobs-reaper-local"]) == len(
        reapers)  # one per process and app, not one per request


def test_stopping_an_apps_local_jobs_ends_its_threads(app) -> None:
    """An app's job threads and reaper timer end when it is stopped, once they have run
    what they were given: tests make an app apiece, and left running they piled up and
    went on reaping the old apps' folders through the tests after."""
    import threading

    app.config["JOBS_REDIS_URL"] = ""
    before = set(threading.enumerate())
    ran = queue._pool(app).submit(lambda: "ran")
    assert ran.result(timeout=30) == "ran"
    ours = [t for t in threading.enumerate() if t not in before]
    assert {t.name for t in ours} == {"job_0", "jobs-reaper-local"}, ours
    queue.stop_local(app)
    for thread in ours:
        thread.join(timeout=30)
    assert not [t.name for t in ours if t.is_alive()]


def test_jobs_per_user_and_the_ledgers_rate_limit(app, as_user, make_case) -> None:
    """Past JOBS_PER_USER unfinished jobs: 429 job.too_many (zh and en), nothing made; a
    ledger job counts with the ledger downloads (REPORT_RATE_LIMIT, per user)."""
    from server.extensions import limiter

    app.config["JOBS_REDIS_URL"] = CLOSED_PORT  # the jobs stay queued
    app.config["JOBS_PER_USER"] = 2
    case_id, _ = sealed_case(as_user, make_case)
    office = as_user("reviewer")
    archive = {"kind": "archive", "params": {"case": [case_id]}}
    for _ in range(2):
        assert office.post("/api/jobs", json=archive).status_code == 202
    refused = office.post("/api/jobs", json=archive)
    assert refused.status_code == 429, refused.get_json()
    problem = refused.get_json()
    assert problem["code"] == "job.too_many"
    assert "2" in problem["messages"]["zh"] and "2" in problem["messages"]["en"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Job)) == 2
    # Another user is not held off by this one's jobs.
    assert as_user("reviewer_a").post("/api/jobs", json=archive).status_code == 202

    app.config["JOBS_PER_USER"] = 100
    today = utcnow().date()
    ledger = {"kind": "case_ledger", "params": {
        "format": "csv", "from": (today - timedelta(days=2)).isoformat(),
        "to": today.isoformat()}}
    limiter.reset()
    app.config["REPORT_RATE_LIMIT"] = "2 per minute"
    try:
        assert office.post("/api/jobs", json=ledger).status_code == 202
        assert office.get("/api/reports/ledger.csv", query_string={
            "from": ledger["params"]["from"], "to": ledger["params"]["to"]}).status_code == 200
        refused = office.post("/api/jobs", json=ledger)
        assert refused.status_code == 429 and refused.get_json()["code"] == \
            "request.rate_limited"
        assert office.post("/api/jobs", json=archive).status_code == 202  # not a ledger
    finally:
        limiter.reset()


def test_a_job_planted_in_redis_runs_nothing_but_ours(app, tmp_path) -> None:
    """Whoever can write to Redis names, as text, the function a job calls and its
    callbacks, and RQ imports what is named: the worker runs only RUN with one job id. A
    planted `os.mkdir` is refused (the folder is never made), and a callback named on a
    job of ours is never imported."""
    import signal

    import rq
    from rq import Callback, Queue

    from server.domain.jobs import worker

    app.config["JOBS_QUEUE"] = f"fc-test-{secrets.token_hex(6)}"
    app.config["JOBS_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    ours = live_queue(app)
    # What one with Redis access plants: plain RQ, plain JSON, no pickle needed.
    plain = Queue(app.config["JOBS_QUEUE"], connection=ours.connection,
                  serializer=queue.serializer())
    planted = tmp_path / "planted"
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        mkdir = plain.enqueue_call("os.mkdir", args=(str(planted),))
        called_back = plain.enqueue_call(queue.RUN, args=("no-such-job",),
                                         on_success=Callback("os.getcwd"))
        fetched = queue.job_class().fetch(called_back.id, connection=ours.connection,
                                          serializer=queue.serializer())
        assert fetched.success_callback is None
        with pytest.MonkeyPatch.context() as patch:
            # The worker's command channel (a pubsub thread) is not what is tested here.
            patch.setattr(rq.SimpleWorker, "subscribe", lambda self: None)
            worker.run(app, burst=True, reaper=False)
        assert not planted.exists()
        assert plain.fetch_job(mkdir.id).get_status() == "failed"
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        ours.delete(delete_jobs=True)


def test_the_queue_and_the_worker_speak_json_not_pickle(app, inline_kind) -> None:
    """What a job says in Redis is JSON (its id), and the worker reads JSON only: a
    pickle planted in Redis is never loaded."""
    import json
    import zlib

    import rq
    from rq.job import Job as RqJob

    from server.domain.jobs import worker

    app.config["JOBS_QUEUE"] = f"fc-test-{secrets.token_hex(6)}"
    app.config["JOBS_REDIS_URL"] = "redis://127.0.0.1:6379/0"
    q = live_queue(app)
    try:
        job_id = _waiting_job()  # sent to the queue
        ref = db.session.get(Job, job_id).queue_ref
        raw = q.connection.hget(RqJob.key_for(ref), "data")
        said = json.loads(zlib.decompress(raw))
        assert said[0] == queue.RUN and said[2] == [job_id]
    finally:
        q.delete(delete_jobs=True)

    seen: dict = {}

    class Caught(Exception):
        pass

    def fake_worker(*_args: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        raise Caught

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rq, "SimpleWorker", fake_worker)
        with pytest.raises(Caught):
            worker.run(app, burst=True, reaper=False)
    assert seen["serializer"] is rq.serializers.JSONSerializer
