"""Prometheus metrics at /metrics: what an intake, a pending photo, a sweep, a refused or
failed request and a job queue show; who may scrape; the dashboard's and the alerts' names
against a real scrape; and gunicorn's workers summed (multiprocess mode)."""

from __future__ import annotations

import json
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from server import create_app
from server.cli import cli
from server.extensions import db
from server.models import Evidence, PeriodicRun
from server.models.base import utcnow
from server.observability import metrics
from server.storage import StorageError
from tests.conftest import send_upload, upload_receipt
from tests.test_evidence import NOKIA, declaration

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "fieldcase-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
OUTSIDER = {"REMOTE_ADDR": "203.0.113.9"}
TOKEN = "scrape-" + "x" * 24


def scrape(app: Flask, **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels."""
    answer = app.test_client().get("/metrics", **kw)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.content_type.startswith("text/plain; version=0.0.4")
    return samples(answer.get_data(as_text=True))


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def intake(found: dict, stage: str, outcome: str, code: str = "") -> float:
    return value(found, "fieldcase_evidence_intake_total", stage=stage, outcome=outcome,
                 code=code)


def requests_of(found: dict, route: str, method: str, status: str) -> float:
    return value(found, "fieldcase_http_request_duration_seconds_count", route=route,
                 method=method, status=status)


# ---- what an intake shows ---------------------------------------------------------------
def test_an_intake_is_counted_by_stage_and_timed_by_route(app: Flask, as_user,
                                                          make_case) -> None:
    api = as_user("insp_a")
    case_id = make_case()["id"]
    data = NOKIA.read_bytes()
    before = scrape(app)
    declared = api.post("/api/evidence", json=declaration(case_id, data)).get_json()
    early = api.post(f"/api/evidence/{declared['id']}/complete")  # bytes not sent yet
    assert early.status_code == 409 and early.get_json()["code"] == "evidence.upload_missing"
    # As the app files it: the local store's upload answers with the stored photo, which
    # the phone takes for the complete call's answer; with S3 the phone completes it.
    local = app.config["STACK"] == "embedded"
    receipt = upload_receipt(api, declared["upload"], data)
    assert (receipt is not None) == local
    if not local:
        done = api.post(f"/api/evidence/{declared['id']}/complete")
        assert done.status_code == 200 and done.get_json()["state"] == "stored"
    after = scrape(app)

    def grew(f: Any, *args: str) -> float:
        return f(after, *args) - f(before, *args)

    assert grew(intake, "declare", "ok") == 1
    assert grew(intake, "complete", "ok") == 1  # completed once, by the upload or the call
    assert grew(intake, "complete", "refused", "evidence.upload_missing") == 1
    # The bytes reach this server only with the local store; S3 takes them itself.
    assert grew(intake, "upload", "ok") == (1 if local else 0)
    # Latency by route template, never the path with its id.
    assert grew(requests_of, "/api/evidence", "POST", "2xx") == 1
    complete = "/api/evidence/<evidence_id>/complete"
    assert grew(requests_of, complete, "POST", "2xx") == (0 if local else 1)
    assert grew(requests_of, complete, "POST", "4xx") == 1
    routes = {dict(labels)["route"] for name, labels in after
              if name == "fieldcase_http_request_duration_seconds_count"}
    assert not any(declared["id"] in route or case_id in route for route in routes)
    bucket = value(after, "fieldcase_http_request_duration_seconds_bucket", route=complete,
                   method="POST", status="4xx", le="+Inf")
    assert bucket == requests_of(after, complete, "POST", "4xx") > 0


def test_a_refused_declaration_is_counted_with_its_code(app: Flask, as_user,
                                                        make_case) -> None:
    api = as_user("insp_a")
    before = scrape(app)
    refused = api.post("/api/evidence", json=declaration(
        make_case()["id"], b"x" * 100, content_type="application/pdf"))
    assert refused.status_code == 422
    code = refused.get_json()["code"]
    after = scrape(app)
    assert intake(after, "declare", "refused", code) - intake(before, "declare", "refused",
                                                             code) == 1
    assert intake(after, "declare", "ok") == intake(before, "declare", "ok")


# ---- pending evidence -------------------------------------------------------------------
def test_pending_evidence_is_counted_with_the_age_of_the_oldest(app: Flask, as_user,
                                                                make_case) -> None:
    api = as_user("insp_a")
    found = scrape(app)
    assert value(found, "fieldcase_evidence_pending") == 0
    assert value(found, "fieldcase_evidence_pending_oldest_age_seconds") == 0
    case_id = make_case()["id"]
    first = api.post("/api/evidence", json=declaration(case_id, b"one photo")).get_json()
    api.post("/api/evidence", json=declaration(case_id, b"another photo"))
    db.session.execute(sa.update(Evidence).where(Evidence.id == first["id"]).values(
        declared_at=utcnow() - timedelta(hours=3)))
    db.session.commit()
    found = scrape(app)
    assert value(found, "fieldcase_evidence_pending") == 2
    age = value(found, "fieldcase_evidence_pending_oldest_age_seconds")
    assert 3 * 3600 <= age < 4 * 3600
    assert value(found, "fieldcase_metrics_collector_up", collector="pending_evidence") == 1


# ---- sweep and reconcile ---------------------------------------------------------------
def test_sweep_and_reconcile_runs_are_recorded_and_exported(app: Flask, monkeypatch) -> None:
    runner = app.test_cli_runner()
    assert runner.invoke(cli, ["sweep", "--no-deliver"]).exit_code == 0
    assert runner.invoke(cli, ["reconcile"]).exit_code == 0
    rows = db.session.scalars(sa.select(PeriodicRun).order_by(PeriodicRun.started_at)).all()
    assert [(r.name, r.ok) for r in rows] == [("sweep", True), ("reconcile", True)]
    assert rows[0].finished_at >= rows[0].started_at and rows[0].node
    assert rows[1].result["errors"] == 0 and "expired" in rows[1].result
    found = scrape(app)
    for task, row in zip(("sweep", "reconcile"), rows, strict=True):
        assert value(found, "fieldcase_periodic_last_success_timestamp_seconds",
                     task=task) == pytest.approx(row.finished_at.timestamp())
        assert value(found, "fieldcase_periodic_last_ok", task=task) == 1
    assert ("fieldcase_periodic_last_result", (("key", "raised"), ("task", "sweep"))) in found
    assert value(found, "fieldcase_periodic_last_result", task="reconcile", key="errors") == 0

    # A sweep that fails is recorded as failed; its last success stays the earlier one.
    from server.domain.cases import sweep

    def broken(**_kw: Any) -> dict:
        raise RuntimeError("the sweep broke")

    monkeypatch.setattr(sweep, "sweep", broken)
    failed = runner.invoke(cli, ["sweep"])
    assert failed.exit_code != 0
    last = db.session.scalars(sa.select(PeriodicRun).where(PeriodicRun.name == "sweep")
                              .order_by(PeriodicRun.started_at.desc())).first()
    assert last.ok is False and last.result == {"error": "RuntimeError"}
    again = scrape(app)
    assert value(again, "fieldcase_periodic_last_ok", task="sweep") == 0
    assert value(again, "fieldcase_periodic_last_success_timestamp_seconds",
                 task="sweep") == pytest.approx(rows[0].finished_at.timestamp())
    assert value(again, "fieldcase_periodic_last_run_timestamp_seconds",
                 task="sweep") == pytest.approx(last.finished_at.timestamp())


def test_a_sweep_whose_audit_checkpoint_fails_is_not_a_success(app: Flask) -> None:
    # The store refuses the checkpoint's copy (its folder is a file): the sweep's other
    # work is done and kept, but the run is not a success, so the "sweep has not
    # succeeded" alert fires while the audit log goes unanchored.
    if app.config["STACK"] != "embedded":
        pytest.skip("the store is made to fail through its folder: the local disk's")
    from server.domain.audit import audit, audit_checkpoints
    from server.domain.core.uow import transaction

    with transaction():
        audit.append("test.entry", "test", "1", actor_id=None)
    root = app.extensions["fieldcase.storage"].root
    blocked = root / audit_checkpoints.PREFIX.split("/")[0]
    root.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a folder")
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["sweep", "--no-deliver"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output.strip().splitlines()[-1])
    assert counts["audit_checkpoint"] is False and counts["audit_checkpoint_failed"] == 1
    run = db.session.scalars(sa.select(PeriodicRun).where(PeriodicRun.name == "sweep")).one()
    assert run.ok is False and run.result["audit_checkpoint_failed"] == 1
    found = scrape(app)
    assert value(found, "fieldcase_periodic_last_ok", task="sweep") == 0
    assert value(found, "fieldcase_periodic_last_result", task="sweep",
                 key="audit_checkpoint_failed") == 1

    blocked.unlink()  # the store is back: the next sweep signs, and succeeds
    again = json.loads(runner.invoke(cli, ["sweep", "--no-deliver"]).output.strip()
                       .splitlines()[-1])
    assert again["audit_checkpoint"] is True and again["audit_checkpoint_failed"] == 0
    assert value(scrape(app), "fieldcase_periodic_last_ok", task="sweep") == 1


def test_old_runs_are_pruned_as_runs_end(app: Flask) -> None:
    old = utcnow() - timedelta(days=40)
    for name in ("sweep", "reconcile"):
        db.session.add(PeriodicRun(name=name, started_at=old, finished_at=old, ok=True,
                                   result={}, node="old"))
    db.session.commit()
    assert app.test_cli_runner().invoke(cli, ["sweep", "--no-deliver"]).exit_code == 0
    left = db.session.execute(sa.select(PeriodicRun.name, PeriodicRun.started_at)).all()
    # This task's old rows go; another task's wait for that task's own next run.
    assert sorted(name for name, _ in left) == ["reconcile", "sweep"]
    assert next(at for name, at in left if name == "sweep") > old


def test_the_last_success_query_probes_its_index(app: Flask) -> None:
    """A month of sweeps (mostly ok, some failed) and a few reconciles: the scrape's "last
    success" query is answered from ix_periodic_runs_name_ok_finished_at on either
    database, not by reading the task's runs through (name, finished_at)."""
    start = utcnow() - timedelta(days=30)
    rows = [{"id": f"{secrets.token_hex(8)}-{i}", "name": "sweep" if i % 10 else "reconcile",
             "started_at": start + timedelta(minutes=i), "ok": i % 7 != 0,
             "finished_at": start + timedelta(minutes=i, seconds=5), "node": "n"}
            for i in range(3000)]
    db.session.execute(sa.insert(PeriodicRun), rows)
    db.session.commit()
    query = metrics.last_success_query("sweep")
    want = max(r["finished_at"] for r in rows if r["name"] == "sweep" and r["ok"])
    assert db.session.scalar(query) == want
    with db.engine.connect() as conn:
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {sql}"))
        else:
            conn.exec_driver_sql("ANALYZE periodic_runs")
            plan = " ".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
    assert "ix_periodic_runs_name_ok_finished_at" in plan, plan


# ---- storage and database errors ----------------------------------------------------------
def test_storage_and_database_failures_are_counted_by_kind(app: Flask, as_user, make_case,
                                                           monkeypatch) -> None:
    from server.domain.fieldwork import completion, evidence

    api = as_user("insp_a")
    declared = api.post("/api/evidence", json=declaration(make_case()["id"],
                                                          b"a photo")).get_json()
    before = scrape(app)

    def store_down(*_a: Any, **_kw: Any) -> Any:
        raise StorageError("s3 put failed: connection refused")

    def database_down(*_a: Any, **_kw: Any) -> Any:
        raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(completion, "complete", store_down)
    failed = api.post(f"/api/evidence/{declared['id']}/complete")
    assert failed.status_code == 503 and failed.get_json()["code"] == "storage.unavailable"
    monkeypatch.setattr(evidence, "get_evidence", database_down)
    down = api.get(f"/api/evidence/{declared['id']}")
    assert down.status_code == 503 and down.get_json()["code"] == "database.unavailable"
    after = scrape(app)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("fieldcase_storage_errors_total", kind="unavailable") == 1
    assert grew("fieldcase_database_errors_total", kind="operational") == 1
    assert intake(after, "complete", "error", "storage.unavailable") - intake(
        before, "complete", "error", "storage.unavailable") == 1
    assert grew("fieldcase_http_request_duration_seconds_count",
                route="/api/evidence/<evidence_id>", method="GET", status="5xx") == 1


# ---- the job queue's hook --------------------------------------------------------------
def test_queue_depth_comes_from_registered_sources(app: Flask) -> None:
    metrics.register_queue_depth_source(app, lambda: {"closure": 3, "exports": 0})
    found = scrape(app)
    assert value(found, "fieldcase_job_queue_depth", queue="closure") == 3
    assert ("fieldcase_job_queue_depth", (("queue", "exports"),)) in found
    assert value(found, "fieldcase_metrics_collector_up", collector="job_queue") == 1

    def unreachable() -> dict[str, float]:
        raise ConnectionError("redis down")

    metrics.register_queue_depth_source(app, unreachable)
    found = scrape(app)  # still answered, saying which part it could not read
    assert value(found, "fieldcase_job_queue_depth", queue="closure") == 3
    assert value(found, "fieldcase_metrics_collector_up", collector="job_queue") == 0
    assert value(found, "fieldcase_metrics_collector_up", collector="periodic_runs") == 1


# ---- who may scrape ---------------------------------------------------------------------
def test_an_unlisted_address_is_refused_unless_it_sends_the_token(app: Flask) -> None:
    client = app.test_client()
    refused = client.get("/metrics", environ_base=OUTSIDER)
    assert refused.status_code == 403
    assert refused.content_type == "application/problem+json"
    body = refused.get_json()
    assert body["code"] == "metrics.forbidden" and body["messages"]["zh"]
    assert "fieldcase_" not in refused.get_data(as_text=True)
    # No token configured: a bearer token opens nothing.
    assert client.get("/metrics", environ_base=OUTSIDER,
                      headers={"Authorization": "Bearer "}).status_code == 403
    app.config["METRICS_TOKEN"] = TOKEN
    assert client.get("/metrics", environ_base=OUTSIDER,
                      headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    for wrong in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN,
                  "Bearer "):
        answer = client.get("/metrics", environ_base=OUTSIDER,
                            headers={"Authorization": wrong})
        assert answer.status_code == 403, wrong
    # Loopback (IPv4, IPv6, and IPv4 as a dual-stack socket gives it) needs no token.
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": address}
                          ).status_code == 200, address


def test_allowed_networks_are_configured(app: Flask) -> None:
    app.config["METRICS_ALLOWED_NETWORKS"] = ("203.0.113.0/28",)
    client = app.test_client()
    assert client.get("/metrics", environ_base=OUTSIDER).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.99"}
                      ).status_code == 403
    # The listed networks replace loopback.
    assert client.get("/metrics").status_code == 403


def test_behind_a_proxy_the_clients_address_counts_not_the_proxys(app: Flask) -> None:
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    proxied = create_app({**overrides, "TRUSTED_PROXY_HOPS": 1})
    client = proxied.test_client()
    # Caddy on loopback forwarding a client from outside: refused.
    outside = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.status_code == 403
    # Prometheus on the proxy's machine, through the proxy: allowed.
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    # A peer that is not the proxy (reaching gunicorn directly) cannot claim loopback.
    spoofed = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"},
                         environ_base={"REMOTE_ADDR": "10.0.0.99"})
    assert spoofed.status_code == 403
    with proxied.app_context():
        db.engine.dispose()  # its own pool, closed before the test's tables are emptied


def test_the_proxys_addresses_are_configured(app: Flask) -> None:
    overrides = {k: v for k, v in app.config.items() if k.isupper()}
    proxied = create_app({**overrides, "TRUSTED_PROXY_HOPS": 1,
                          "TRUSTED_PROXY_ADDRESSES": ("10.0.0.0/24",)})
    client = proxied.test_client()
    spoof = {"X-Forwarded-For": "127.0.0.1"}
    caddy = {"REMOTE_ADDR": "10.0.0.5"}
    assert client.get("/metrics", headers=spoof, environ_base=caddy).status_code == 200
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"},
                      environ_base=caddy).status_code == 403
    # Loopback is no longer a proxy once others are listed: its header is dropped, and
    # loopback itself may scrape.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}
                      ).status_code == 200
    assert client.get("/metrics", headers=spoof,
                      environ_base={"REMOTE_ADDR": "10.0.1.5"}).status_code == 403
    with proxied.app_context():
        db.engine.dispose()


def test_settings_are_read_and_checked(tmp_path: Path) -> None:
    from server.config import ConfigError, load_config

    token = secrets.token_urlsafe(24)
    config = load_config(str(tmp_path), env={"METRICS_TOKEN": token,
                                             "METRICS_ALLOWED_NETWORKS": "10.1.0.0/16, ::1"})
    assert config["METRICS_TOKEN"] == token
    assert config["METRICS_ALLOWED_NETWORKS"] == ("10.1.0.0/16", "::1/128")
    assert load_config(str(tmp_path), env={})["METRICS_ALLOWED_NETWORKS"] == (
        "127.0.0.0/8", "::1/128")
    with pytest.raises(ConfigError, match="METRICS_ALLOWED_NETWORKS"):
        load_config(str(tmp_path), env={"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,not-a-net"})
    with pytest.raises(ConfigError, match="METRICS_TOKEN"):
        load_config(str(tmp_path), env={"METRICS_TOKEN": "short"})


def test_the_proxys_addresses_are_read_and_checked(tmp_path: Path) -> None:
    from server.config import ConfigError, load_config

    def proxies(**env: str) -> tuple[str, ...]:
        return load_config(str(tmp_path), env=env)["TRUSTED_PROXY_ADDRESSES"]

    assert proxies() == ("127.0.0.0/8", "::1/128")
    assert proxies(TRUSTED_PROXY_ADDRESSES="10.0.0.5, fd00::/8") == ("10.0.0.5/32", "fd00::/8")
    # gunicorn's own setting, as the README's node setup already gives it.
    assert proxies(FORWARDED_ALLOW_IPS="10.0.0.5") == ("10.0.0.5/32",)
    assert proxies(FORWARDED_ALLOW_IPS="*") == ("0.0.0.0/0", "::/0")
    assert proxies(TRUSTED_PROXY_ADDRESSES="10.0.0.6", FORWARDED_ALLOW_IPS="10.0.0.5") == (
        "10.0.0.6/32",)
    with pytest.raises(ConfigError, match="TRUSTED_PROXY_ADDRESSES"):
        proxies(TRUSTED_PROXY_ADDRESSES="caddy.local")


def test_metrics_is_not_an_api_operation_nor_in_the_app_shell(app: Flask) -> None:
    spec = app.extensions["fieldcase.api"].spec.to_dict()
    assert not any("metrics" in path for path in spec["paths"])
    assert "/metrics" not in (ROOT / "pwa" / "sw.js").read_text()


# ---- the dashboard and the alerts against a real scrape ---------------------------------
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
                     "$instance": ".*"}
# Series Prometheus makes itself, not the app.
PROMETHEUS_OWN = {"up"}


def _expressions() -> list[tuple[str, str]]:
    found = []
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, example in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, example)
            found.append((f"dashboard: {panel['title']}", expr))
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        for rule in group["rules"]:
            found.append((f"alert {rule['alert']}", rule["expr"]))
    return found


def test_dashboard_and_alert_expressions_parse() -> None:
    import promql_parser

    with pytest.raises(ValueError):  # the parser does refuse bad PromQL
        promql_parser.parse("sum(rate(fieldcase_evidence_pending[5m])")
    exprs = _expressions()
    assert len(exprs) > 20
    for where, expr in exprs:
        try:
            promql_parser.parse(expr)
        except ValueError as exc:
            pytest.fail(f"{where}: {exc}: {expr}")
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"] and dashboard["title"]
    for panel in dashboard["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        assert panel["type"] == "row" or panel["targets"], panel["title"]
    alerts = {r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"]
              for r in g["rules"]}
    assert {"FieldcaseEvidenceStuckPending", "FieldcaseSweepNotRun",
            "FieldcaseHighErrorRate"} <= alerts
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    assert config["rule_files"] == ["alerts.yml"]
    assert config["scrape_configs"][0]["metrics_path"] == "/metrics"


def test_every_metric_the_dashboard_and_alerts_use_is_in_a_scrape(app: Flask, as_user,
                                                                  make_case) -> None:
    # A scrape with every kind of series present: an intake, a sweep, a queue.
    api = as_user("insp_a")
    data = NOKIA.read_bytes()
    declared = api.post("/api/evidence", json=declaration(make_case()["id"], data)).get_json()
    send_upload(api, declared["upload"], data)
    api.post(f"/api/evidence/{declared['id']}/complete")
    assert app.test_cli_runner().invoke(cli, ["sweep", "--no-deliver"]).exit_code == 0
    metrics.register_queue_depth_source(app, lambda: {"default": 0})
    exposed = {name for name, _ in scrape(app)}
    used: dict[str, str] = {}
    for where, expr in _expressions():
        for name in re.findall(r"\b(fieldcase_[a-z0-9_]+|up)\b", expr):
            used.setdefault(name, where)
    assert len(used) >= 10
    missing = {name: where for name, where in used.items()
               if name not in exposed and name not in PROMETHEUS_OWN}
    assert not missing, f"used but not exported: {missing}"


# ---- gunicorn: every worker's counts in one scrape --------------------------------------
def test_gunicorn_workers_are_summed_in_one_scrape(tmp_path: Path) -> None:
    import os
    import shutil
    import signal
    import socket
    import subprocess
    import sys
    import time
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client import multiprocess as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path / "instance" / "prometheus-multiproc"  # the config's default
    folder.mkdir(parents=True)
    (folder / "counter_999999.db").write_bytes(b"a previous run's counts")
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    # Two sync workers of one thread each: concurrent requests are spread over both.
    env.update({"INSTANCE_PATH": str(tmp_path / "instance"), "PORT": str(port),
                "HOST": "127.0.0.1", "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "1",
                "GUNICORN_CONTROL_SOCKET": "off", "GUNICORN_MAX_REQUESTS": "0",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config",
         str(ROOT / "gunicorn.conf.py"), "server:create_app()"], cwd=ROOT, env=env,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def live(_: int) -> int:
        with requests.get(f"{base}/api/live", timeout=60) as answer:
            return answer.status_code

    def per_worker() -> dict[str, float]:
        """Each worker's own count of GET /api/live, from its file alone."""
        counts = {}
        for path in folder.glob("histogram_*.db"):
            alone = tmp_path / f"one-{path.stem}"
            alone.mkdir(exist_ok=True)
            shutil.copy(path, alone / path.name)
            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry, path=str(alone))
            counts[path.stem] = value(samples(generate_latest(registry).decode()),
                                      "fieldcase_http_request_duration_seconds_count",
                                      route="/api/live", method="GET", status="2xx")
            shutil.rmtree(alone)
        return counts

    try:
        for _ in range(300):  # two workers importing the app on a busy machine: slow
            try:
                if requests.get(f"{base}/api/live", timeout=30).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start")
        assert not (folder / "counter_999999.db").exists()  # wiped at start
        sent = 1
        with ThreadPoolExecutor(8) as pool:
            # Until both workers have answered some: on a busy machine the second may still
            # be importing the app while the first answers hundreds (a minute at most).
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert set(pool.map(live, range(16))) == {200}
                sent += 16
                if sum(1 for n in per_worker().values() if n > 0) >= 2:
                    break
                time.sleep(0.2)
        workers = per_worker()
        assert sum(1 for n in workers.values() if n > 0) >= 2, workers
        answer = requests.get(f"{base}/metrics", timeout=10)
        assert answer.status_code == 200
        total = value(samples(answer.text), "fieldcase_http_request_duration_seconds_count",
                      route="/api/live", method="GET", status="2xx")
        assert total == sent == sum(workers.values()), (total, sent, workers)
        # What is read at scrape time comes once, from the worker that answered (this
        # database has no tables: the scrape says so, and still answers).
        assert answer.text.count('fieldcase_metrics_collector_up{collector="pending_evidence"}'
                                 ) == 1
        assert value(samples(answer.text), "fieldcase_metrics_collector_up",
                     collector="pending_evidence") == 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(20)


def test_a_dead_workers_counts_are_folded_into_the_archive(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client import multiprocess as mp
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    from server.observability.multiproc import fold_dead_worker

    key = mmap_key("fieldcase_storage_errors_total", "fieldcase_storage_errors_total",
                   ["kind"], ["busy"], "help")

    def total() -> float:
        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry, path=str(tmp_path))
        return value(samples(generate_latest(registry).decode()),
                     "fieldcase_storage_errors_total", kind="busy")

    for pid, count in ((101, 2.0), (102, 3.0), (103, 4.0)):
        worker = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        worker.write_value(key, count, 0.0)
        worker.close()
    assert total() == 9
    assert fold_dead_worker(101, tmp_path) == 1
    assert fold_dead_worker(102, tmp_path) == 1
    assert fold_dead_worker(102, tmp_path) == 0  # already gone
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_103.db",
                                                             "counter_archive.db"]
    assert total() == 9


def test_recycled_workers_keep_counting_without_a_file_each(tmp_path: Path) -> None:
    """gunicorn recycles a worker every GUNICORN_MAX_REQUESTS requests: the dead ones'
    counts stay in the sums, folded into one archive file per type."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path / "metrics"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder),
           "INSTANCE_PATH": str(tmp_path / "instance"), "PORT": str(port),
           "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "1",
           "GUNICORN_CONTROL_SOCKET": "off", "GUNICORN_MAX_REQUESTS": "5",
           "GUNICORN_MAX_REQUESTS_JITTER": "0",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config",
         str(ROOT / "gunicorn.conf.py"), "server:create_app()"], cwd=ROOT, env=env,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    sent = 0
    try:
        while sent < 12:  # two workers recycled, a third answering
            try:
                answer = requests.get(f"{base}/api/live", timeout=60)
            except requests.RequestException:  # not up yet, or between workers
                time.sleep(0.2)
                continue
            assert answer.status_code == 200
            sent += 1
        for _ in range(300):  # the master folds a worker's files once it has exited
            if (folder / "histogram_archive.db").exists() and len(
                    list(folder.glob("histogram_*.db"))) <= 2:
                break
            time.sleep(0.1)
        found = samples(requests.get(f"{base}/metrics", timeout=60).text)
        assert value(found, "fieldcase_http_request_duration_seconds_count",
                     route="/api/live", method="GET", status="2xx") == sent
        histograms = sorted(p.name for p in folder.glob("histogram_*.db"))
        assert "histogram_archive.db" in histograms and len(histograms) <= 2, histograms
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
