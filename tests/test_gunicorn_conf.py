"""gunicorn.conf.py: rate limits kept in memory are per process, so one process by default."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest

CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def load(monkeypatch, **env: str) -> dict:  # type: ignore[no-untyped-def]
    for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "RATELIMIT_STORAGE_URI"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def starting(conf: dict, workers: int) -> list[str]:
    records: list[str] = []
    log = logging.getLogger("test.gunicorn")
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    log.addHandler(handler)
    try:
        conf["on_starting"](SimpleNamespace(cfg=SimpleNamespace(workers=workers), log=log))
    finally:
        log.removeHandler(handler)
    return records


def test_memory_rate_limits_mean_one_worker_with_threads(monkeypatch):  # type: ignore[no-untyped-def]
    conf = load(monkeypatch)
    assert (conf["workers"], conf["threads"]) == (1, 8)
    assert starting(conf, conf["workers"]) == []


@pytest.mark.parametrize("uri", ["redis://127.0.0.1:6379", "rediss://cache:6380/0",
                                 "redis+sentinel://sentinel:26379/mymaster"])
def test_redis_rate_limits_allow_more_workers(monkeypatch, uri: str):  # type: ignore[no-untyped-def]
    conf = load(monkeypatch, RATELIMIT_STORAGE_URI=uri)
    assert conf["workers"] == 2
    assert starting(conf, conf["workers"]) == []


def test_more_workers_with_memory_rate_limits_warn(monkeypatch):  # type: ignore[no-untyped-def]
    conf = load(monkeypatch, WEB_CONCURRENCY="3")
    assert conf["workers"] == 3
    warned = starting(conf, conf["workers"])
    assert len(warned) == 1 and "RATELIMIT_STORAGE_URI" in warned[0]
    assert "3" in warned[0]
