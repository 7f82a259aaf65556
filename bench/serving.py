"""The app under gunicorn for a benchmark, as `make run` serves it: one place for the
benchmarks that measure requests (bench_board, bench_requests); and the throwaway
PostgreSQL database the 200,000-case benchmarks build."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached to make the bench's database."""


@contextmanager
def scratch_database(admin_url: str) -> Iterator[tuple[str, Path]]:
    """(database URL, folder): a new PostgreSQL database and a /tmp folder of the same
    name, dropped and removed afterwards whatever happens. DatabaseUnavailable when
    PostgreSQL cannot be reached."""
    name = f"fieldcase_bench_{secrets.token_hex(3)}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        raise DatabaseUnavailable(str(exc)) from exc
    tmp = Path(f"/tmp/{name}")
    tmp.mkdir(exist_ok=True)
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name, tmp
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(tmp, ignore_errors=True)
        admin.dispose()


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


def serve(url: str, storage_url: str, tmp: Path, *, as_make_run: bool = False,
          **settings: str) -> tuple[subprocess.Popen, str]:
    """gunicorn (2 workers, Redis-backed rate limits) on a free loopback port; `settings`
    are more environment variables. `as_make_run`: the workers and rate-limit store that
    gunicorn.conf.py picks when neither is set (the embedded default of `make run`).
    BENCH_GUNICORN_CONF picks another config (e.g. one that profiles the worker's threads)."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "INSTANCE_PATH": str(tmp),
           "STORAGE_URL": storage_url, "SECRET_KEY": "bench", "PORT": str(port),
           "HOST": "127.0.0.1", "WEB_CONCURRENCY": "2",
           "RATELIMIT_STORAGE_URI": rate_limit_storage(),
           "LOGIN_RATE_LIMIT": "1000 per minute", **settings}
    if as_make_run:
        for name in ("WEB_CONCURRENCY", "GUNICORN_THREADS", "RATELIMIT_STORAGE_URI"):
            if name not in settings:
                env.pop(name, None)
    conf = os.environ.get("BENCH_GUNICORN_CONF", str(ROOT / "gunicorn.conf.py"))
    gunicorn = Path(sys.executable).parent / "gunicorn"  # this venv's (make's VENV)
    server = subprocess.Popen([str(gunicorn), "--config", conf,
                               "server:create_app()"],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    return server, f"http://127.0.0.1:{port}"
