"""Fieldcase: field evidence for environmental complaint cases.

create_app(overrides) builds the application from small register_* steps; tests pass a
dict of config overrides.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, Response
from flask.sessions import SessionInterface

from server.config import load_config

__all__ = ["create_app"]


def _sqlite_pragmas(app: Flask) -> None:
    from server.extensions import db

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        engine = db.engine

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_conn.cursor()
        # WAL lets readers go on while a worker writes; foreign keys are off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _lock_for_update(_conn, cursor, _statement, _params, context, _many):  # type: ignore[no-untyped-def]
        # SQLite has no SELECT ... FOR UPDATE (the dialect drops it), and pysqlite begins a
        # transaction only at the first write: two requests could both read a row as
        # pending and both act on it. A locking read here begins the transaction with
        # BEGIN IMMEDIATE, SQLite's one writer lock, so the second waits (busy_timeout)
        # and then reads what the first committed, as PostgreSQL's row lock makes it do.
        # Not for a read marked row_lock_only (scope.get_case): its command calls the
        # object store under the lock, which must never hold up every other write.
        compiled = getattr(context, "compiled", None)
        if (getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None
                and not context.execution_options.get("row_lock_only")
                and not cursor.connection.in_transaction):
            cursor.execute("BEGIN IMMEDIATE")


def register_extensions(app: Flask) -> None:
    from server.extensions import db, limiter, migrate

    db.init_app(app)

    @app.teardown_appcontext
    def _end_session(_exc: BaseException | None) -> None:
        # Runs before Flask-SQLAlchemy's own teardown (teardowns run in reverse order). A
        # connection lost after the request's last statement cannot roll back: that must
        # not turn the answer already made (or its 503) into a bare 500 from the server.
        try:
            db.session.remove()
        except sa.exc.SQLAlchemyError:
            logging.getLogger(__name__).warning(
                "database connection lost at the end of a request", exc_info=True)
            db.session().invalidate()  # drop its connections: no rollback to send
            db.session.remove()

    _sqlite_pragmas(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"),
                     render_as_batch=True)
    from server.api.rate_limits import configure

    configure(app)  # the limit store's timeouts and key prefix; errors fail open
    limiter.init_app(app)


def register_media(app: Flask) -> None:
    from PIL import Image

    # Pillow's own guard at open, process-wide: the largest nominal size any format may
    # have; media.read_image then holds each format to its own limit before decoding.
    Image.MAX_IMAGE_PIXELS = max(app.config["MAX_IMAGE_PIXELS"], app.config["MAX_JPEG_PIXELS"])


def register_storage(app: Flask) -> None:
    from server.storage import from_url

    app.extensions["fieldcase.storage"] = from_url(
        app.config["STORAGE_URL"], secret_key=app.config["SECRET_KEY"],
        connect_timeout=app.config["STORAGE_CONNECT_TIMEOUT_S"],
        read_timeout=app.config["STORAGE_READ_TIMEOUT_S"],
        max_attempts=app.config["STORAGE_ATTEMPTS"])


class _NoCookieSession(SessionInterface):
    """Fieldcase keeps its sessions in the database (server.domain.accounts.auth) and never uses
    Flask's signed-cookie session: skip opening and saving one on every request."""

    def open_session(self, app: Flask, request: Request) -> None:  # type: ignore[override]
        return None

    def save_session(self, app: Flask, session: object, response: Response) -> None:  # type: ignore[override]
        return None


def register_domain(app: Flask) -> None:
    from server.domain import load_contexts

    load_contexts()  # each context registers its guards and reactions with those below


def register_web(app: Flask) -> None:
    from server.api import register_api
    from server.pwa_serving import bp as pwa_bp

    app.session_interface = _NoCookieSession()
    register_api(app)
    app.register_blueprint(pwa_bp)
    from server.api.rate_limits import skip_idle_pass

    skip_idle_pass(app)  # every limit decorates a route: the app-wide pass counts nothing


def register_job_metrics(app: Flask) -> None:
    """fieldcase_job_queue_depth: the jobs table is the queue's truth (a job Redis never
    got, while Redis was down, still waits there), so it is counted there, per queue."""
    from server.domain.jobs.jobs import queue_depth
    from server.observability.metrics import register_queue_depth_source

    register_queue_depth_source(
        app, lambda: {app.config["JOBS_QUEUE"]: queue_depth()["queued"]})


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(load_config(app.instance_path))
    app.config.update(overrides or {})
    # Flask-SQLAlchemy resolves a relative SQLite path (sqlite:///rel.db) against
    # app.instance_path: make that INSTANCE_PATH, where the embedded data lives.
    app.instance_path = str(app.config["INSTANCE_PATH"])
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_UPLOAD_BYTES"] + 1024 * 1024
    app.json.ensure_ascii = False  # Chinese stays readable in responses
    from server.observability import logs

    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    register_extensions(app)
    register_media(app)
    register_storage(app)
    register_domain(app)
    register_web(app)
    from server.observability.web import register_metrics

    register_metrics(app)
    register_job_metrics(app)
    from server.web_headers import register_headers

    register_headers(app)
    hops = app.config["TRUSTED_PROXY_HOPS"]
    from server.observability import request_id

    request_id.register(app, trust_incoming=hops > 0)
    if hops:
        # Behind that many proxies the client's address and scheme are theirs to tell, but
        # only when the peer is one of them (TRUSTED_PROXY_ADDRESSES); with none,
        # X-Forwarded-* is ignored and cannot be spoofed past the limits.
        from server.proxies import TrustedProxyFix

        app.wsgi_app = TrustedProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, hops=hops, networks=app.config["TRUSTED_PROXY_ADDRESSES"])
    return app
