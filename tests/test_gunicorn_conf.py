"""gunicorn.conf.py: rate limits kept in memory are per process, so one process with them;
unset, they are kept in a file the machine's workers share (tests/test_ratelimit_store.py)."""

from __future__ import annotations

import logging
import runpy
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def load(monkeypatch, **env: str) -> dict:  # type: ignore[no-untyped-def]
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "RATELIMIT_STORAGE_URI", "NODE_COUNT"):
        # Set then removed, so monkeypatch restores it afterwards even when it was unset:
        # the config writes RATELIMIT_STORAGE_URI into os.environ for its workers.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The config sets PROMETHEUS_MULTIPROC_DIR for its workers: undone after the test, so
    # this process (and later tests) keep prometheus-client's single-process mode.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", env.get(
        "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "fc-test-multiproc")))
    return runpy.run_path(str(CONF))


def starting(conf: dict, workers: int, master_pid: int = 0) -> list[str]:
    records: list[str] = []
    log = logging.getLogger("test.gunicorn")
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    log.addHandler(handler)
    try:
        conf["on_starting"](SimpleNamespace(cfg=SimpleNamespace(workers=workers), log=log,
                                            master_pid=master_pid))
    finally:
        log.removeHandler(handler)
    return records


def test_memory_rate_limits_mean_one_worker_with_threads(monkeypatch):  # type: ignore[no-untyped-def]
    conf = load(monkeypatch, RATELIMIT_STORAGE_URI="memory://")
    assert (conf["workers"], conf["threads"]) == (1, 8)
    assert starting(conf, conf["workers"]) == []


@pytest.mark.parametrize("uri", ["redis://127.0.0.1:6379", "rediss://cache:6380/0",
                                 "redis+sentinel://sentinel:26379/mymaster"])
def test_redis_rate_limits_allow_more_workers(monkeypatch, uri: str):  # type: ignore[no-untyped-def]
    conf = load(monkeypatch, RATELIMIT_STORAGE_URI=uri)
    assert conf["workers"] == 2
    assert starting(conf, conf["workers"]) == []


def test_more_workers_with_memory_rate_limits_warn(monkeypatch):  # type: ignore[no-untyped-def]
    conf = load(monkeypatch, WEB_CONCURRENCY="3", RATELIMIT_STORAGE_URI="memory://")
    assert conf["workers"] == 3
    warned = starting(conf, conf["workers"])
    assert len(warned) == 1 and "RATELIMIT_STORAGE_URI" in warned[0]
    assert "3" in warned[0]


def test_several_nodes_with_memory_rate_limits_warn(monkeypatch):  # type: ignore[no-untyped-def]
    conf = load(monkeypatch, NODE_COUNT="2", RATELIMIT_STORAGE_URI="memory://")
    assert conf["workers"] == 1
    warned = starting(conf, conf["workers"])
    assert len(warned) == 1 and "NODE_COUNT=2" in warned[0] and "Redis" in warned[0]
    # gunicorn's default, a SQLite file this machine's workers share, is one node's too.
    local = load(monkeypatch, NODE_COUNT="2")
    assert local["workers"] == 2
    warned = starting(local, local["workers"])
    assert len(warned) == 1 and "fieldcase-sqlite://" in warned[0] and "Redis" in warned[0]
    shared = load(monkeypatch, NODE_COUNT="2", RATELIMIT_STORAGE_URI="redis://cache:6379")
    assert starting(shared, shared["workers"]) == []


def test_each_instance_keeps_its_own_control_socket(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    first = load(monkeypatch, INSTANCE_PATH=str(tmp_path / "a"))
    second = load(monkeypatch, INSTANCE_PATH=str(tmp_path / "b"))
    assert first["control_socket"] == str(tmp_path / "a" / "gunicorn.ctl")
    assert second["control_socket"] != first["control_socket"]
    off = load(monkeypatch, GUNICORN_CONTROL_SOCKET="off")
    assert off["control_socket_disable"] is True and "control_socket" not in off


def test_two_gunicorns_on_one_machine_keep_their_sockets(tmp_path):  # type: ignore[no-untyped-def]
    """Two real instances side by side: each one's control socket survives the other."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    procs = []
    try:
        for name in ("a", "b"):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            env = {**os.environ, "INSTANCE_PATH": str(tmp_path / name), "PORT": str(port),
                   "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1",
                   "DATABASE_URL": f"sqlite:///{tmp_path / name / 'db.sqlite'}"}
            procs.append(subprocess.Popen(
                [str(Path(sys.executable).parent / "gunicorn"), "--config", str(CONF),
                 "server:create_app()"], cwd=CONF.parent, env=env, start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.2)
        sockets = [tmp_path / n / "gunicorn.ctl" for n in ("a", "b")]
        deadline = time.monotonic() + 30
        while not all(p.exists() for p in sockets) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # both fully up: neither removed the other's
        assert all(p.exists() for p in sockets), [p.exists() for p in sockets]
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            # A worker still importing the app (seconds on a loaded machine) stops only
            # once it has: the stop is not what this test checks, so wait, then kill.
            try:
                p.wait(45)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(10)


def test_a_start_wipes_the_last_runs_counts_but_a_binary_upgrade_keeps_them(
        monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "multiproc"
    conf = load(monkeypatch, PROMETHEUS_MULTIPROC_DIR=str(folder))
    folder.mkdir()
    counts = folder / "counter_4242.db"
    other = folder / "not-ours.txt"
    for path in (counts, other):
        path.write_bytes(b"x")
    # USR2: the new master (master_pid: the old one's) starts while the old workers count.
    starting(conf, conf["workers"], master_pid=4241)
    assert counts.exists() and other.exists()
    starting(conf, conf["workers"])  # a fresh start: the last run's counts go
    assert not counts.exists() and other.exists()
