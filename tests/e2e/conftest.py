"""Browser tests: the real app on a live local server, driven in Debian's headless
Chromium through Playwright. Under CI=true a missing browser fails instead of skipping."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from server import create_app
from server.domain.jobs import queue as jobs_queue
from server.extensions import db
from tests.conftest import unavailable

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# CSP_NOTE: Playwright runs string predicates (wait_for_function) through eval, which the
# app's Content-Security-Policy refuses, so the test contexts bypass it. The policy itself
# is checked, screen by screen, in a context that does not:
# test_lifecycle_app.py::test_no_screen_breaks_the_content_security_policy.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-quic"]
# The demo case 夜色酒吧 stands at this point; the phone says it is 20 m away.
HERE = {"latitude": 24.3267, "longitude": 109.4152, "accuracy": 8}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _closing(app: Flask) -> Callable[..., Iterator[bytes]]:
    """The app, its responses closed however the browser leaves. werkzeug's development
    server skips a response's close() when the browser drops the connection while the
    server drains the request (its `finally` raises first): a static file's handle was then
    left to the garbage collector, and pytest's unraisable-exception check failed whatever
    test ran at that moment (seen once, in an axe pass that moves through every screen).
    A generator closes what it wraps in its own `finally`, also when it is collected."""
    def wsgi(environ: dict, start_response: Callable[..., object]) -> Iterator[bytes]:
        body = app(environ, start_response)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
    return wsgi


class LiveServer:
    """The WSGI app on a fixed loopback port, which a test may stop and start again. The
    port is bound as the server is made (no gap in which another test process, such as a
    second pytest-xdist worker, could take a port found free); a restart binds it again."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._server: BaseWSGIServer | None = make_server("127.0.0.1", 0, _closing(app),
                                                          threaded=True)
        self.port = self._server.server_port
        self.url = f"http://localhost:{self.port}"
        self._serving = False

    def start(self) -> None:
        if self._server is None:
            self._server = make_server("127.0.0.1", self.port, _closing(self.app),
                                       threaded=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self._serving = True

    def stop(self) -> None:
        if self._server is not None:
            if self._serving:  # shutdown() waits for serve_forever, which must be running
                self._server.shutdown()
            self._server.server_close()
            self._server, self._serving = None, False


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated by Alembic, once a session: each `live` starts from a
    copy of the file (the same schema and seeded rows, without running every migration
    again)."""
    from flask_migrate import upgrade

    path = tmp_path_factory.mktemp("e2e-template") / "migrated.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "e2e",
                      "STORAGE_URL": f"file://{path.parent / 'objects'}",
                      "INSTANCE_PATH": str(path.parent)})
    with app.app_context():
        upgrade(directory=str(Path(app.root_path) / "migrations"))
        db.session.remove()
        db.engine.dispose()  # every connection closed: the file is whole
    return path


def _embedded_app(folder: Path) -> Flask:
    """The embedded stack (SQLite + local disk) whose database, objects and instance files
    are all in `folder`."""
    return create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'e2e.db'}",
        "STORAGE_URL": f"file://{folder / 'objects'}", "SECRET_KEY": "e2e",
        "INSTANCE_PATH": str(folder), "LOGIN_RATE_LIMIT": "1000 per minute",
    })


# A seeded demo is copied for at most this long, then seeded again (see demo_template).
DEMO_TEMPLATE_MAX_AGE_S = 60.0


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path
                  ) -> Callable[[], Path]:
    """A folder with the demo district seeded (database, objects, instance files) that
    each `live` copies, in 50 ms, instead of seeding its own (2 s: a tenth of the browser
    tests' time). The demo's times are relative to its seeding, so it is seeded again once
    it is a minute old: a copy is then at most a minute older than a demo made at the
    test's start (the demo's clocks count in hours)."""
    from server.demo import seed_demo

    made: dict[str, Any] = {"folder": None, "at": 0.0}

    def fresh() -> Path:
        if made["folder"] is None or time.monotonic() - made["at"] > DEMO_TEMPLATE_MAX_AGE_S:
            if made["folder"] is not None:  # the last one is copied no more
                shutil.rmtree(made["folder"], ignore_errors=True)
            folder = tmp_path_factory.mktemp("demo-template")
            shutil.copyfile(migrated_sqlite, folder / "e2e.db")
            app = _embedded_app(folder)
            with app.app_context():
                seed_demo(only_if_empty=True)
                db.session.remove()
                db.engine.dispose()  # every connection closed: the file is whole
            made.update(folder=folder, at=time.monotonic())
        return made["folder"]

    return fresh


@pytest.fixture()
def live(tmp_path: Path, demo_template: Callable[[], Path]) -> Iterator[LiveServer]:
    """A fresh embedded stack (SQLite + local disk) with the demo district: a copy of one
    seeded within the last minute."""
    folder = tmp_path / "stack"
    shutil.copytree(demo_template(), folder)
    app = _embedded_app(folder)
    server = LiveServer(app)
    server.start()
    yield server
    server.stop()
    # Its jobs' reaper and threads end with it: left running, they went on reaping this
    # test's jobs in its folder every JOB_REAP_S through the tests after it.
    jobs_queue.stop_local(app)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        unavailable(f"Chromium is not installed at {CHROMIUM} (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Any) -> Iterator[Any]:
    """One Chromium for the session. Each test opens contexts of its own in it (cookies,
    storage, service workers and cache apart, as in separate browsers): a context opens
    in a fraction of a second, a browser on a profile of its own in one to three."""
    chromium = playwright_driver.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                 args=FLAGS)
    yield chromium
    chromium.close()


# A phone: its screen, touch, language, time zone and a location fix.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True, "locale": "zh-CN",
         "timezone_id": "Asia/Shanghai", "geolocation": HERE, "permissions": ["geolocation"]}


@pytest.fixture()
def phone(request: pytest.FixtureRequest, playwright_driver: Any, browser: Any,
          tmp_path: Path, live: LiveServer) -> Iterator[Any]:
    """A phone-sized browser context, location on. A test marked `persistent_profile` gets
    a browser on a profile directory of its own instead (Chromium judges installability
    only there, never in a context without one)."""
    options = {**PHONE, "base_url": live.url, "bypass_csp": True}  # see CSP_NOTE
    if request.node.get_closest_marker("persistent_profile"):
        context = playwright_driver.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            **options)
    else:
        context = browser.new_context(**options)
    context.set_default_timeout(30000)  # a loaded 2-core CI machine is slow
    yield context
    context.close()
