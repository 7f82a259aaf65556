"""The app under gunicorn for a benchmark, as `make run` serves it: one place for the
benchmarks that measure requests (bench_board, bench_requests)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rate_limit_storage() -> str:
    """Redis on loopback, as production shares limits between workers; without it, each
    worker counts on its own (the bench's limits are far above what it sends)."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        print("bench: no Redis on 127.0.0.1:6379; rate limits counted per worker (memory://)")
        return "memory://"
    return "redis://127.0.0.1:6379"


def serve(url: str, storage_url: str, tmp: Path, **settings: str) -> tuple[subprocess.Popen, str]:
    """gunicorn (2 workers, Redis-backed rate limits) on a free loopback port; `settings`
    are more environment variables. BENCH_GUNICORN_CONF picks another config (e.g. one
    that profiles the worker's threads)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp),
           "STORAGE_URL": storage_url, "SECRET_KEY": "bench", "PORT": str(port),
           "HOST": "127.0.0.1", "WEB_CONCURRENCY": "2",
           "RATELIMIT_STORAGE_URI": rate_limit_storage(),
           "LOGIN_RATE_LIMIT": "1000 per minute", **settings}
    conf = os.environ.get("BENCH_GUNICORN_CONF", str(ROOT / "gunicorn.conf.py"))
    gunicorn = Path(sys.executable).parent / "gunicorn"  # this venv's (make's VENV)
    server = subprocess.Popen([str(gunicorn), "--config", conf,
                               "server:create_app()"],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    return server, f"http://127.0.0.1:{port}"
