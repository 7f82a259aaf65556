"""A request id on every request: in flask.g, in the `X-Request-ID` answer header (errors,
404s, static files and 413s included), in every log record (logs.py) and in every
problem+json body, so a user's screenshot of an error finds its log lines.

An incoming `X-Request-ID` is kept only behind a trusted proxy (TRUSTED_PROXY_HOPS > 0, and
only from a peer in TRUSTED_PROXY_ADDRESSES: server/proxies.py drops it from any other;
Caddy sets it) and only when it is plain: 1-64 of [A-Za-z0-9._:-]. Anything else (CR/LF,
quotes, JSON, 4 KB, non-ASCII) is replaced by a fresh id, so a header can neither forge
nor break a log line."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from flask import Flask, g, request
from werkzeug.wsgi import ClosingIterator

HEADER = "X-Request-ID"
ENVIRON_KEY = "fieldcase.request_id"
_SAFE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# Characters a log line or a terminal could trip on, escaped in the path kept for logs.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\"\\]")
# A local-disk presigned link carries its whole authorisation in the path: never log it.
# Anywhere in the path and with any slashes: `//api/blobs/<t>` or `/api//blobs/<t>` reach
# the app too (routed, or redirected after the log line is written).
_BLOB_TOKEN = re.compile(r"(?i)(/blobs/+)[^/]+")


@dataclass
class RequestInfo:
    """What a log record says about the request it was written during."""

    request_id: str
    method: str = "-"
    path: str = "-"
    user_id: str | None = None


_current: ContextVar[RequestInfo | None] = ContextVar("fieldcase_request", default=None)


def new_request_id() -> str:
    # 16 hex digits (64 random bits): unique enough for years of logs, short enough to
    # read out on the phone.
    return secrets.token_hex(8)


def is_safe(value: str | None) -> bool:
    return value is not None and _SAFE.fullmatch(value) is not None


def choose(incoming: str | None, trusted: bool) -> str:
    """The proxy's id when there is a trusted proxy and the id is plain, else a new one."""
    if trusted and is_safe(incoming):
        return incoming  # type: ignore[return-value]
    return new_request_id()


def loggable_path(path: str) -> str:
    """The path as logs may show it: short, one line, no link token."""
    path = _BLOB_TOKEN.sub(r"\1[token]", path[:200])
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", path)


def current() -> RequestInfo | None:
    return _current.get()


def current_id() -> str | None:
    info = _current.get()
    return info.request_id if info else None


def set_user(user_id: Any) -> None:
    """Once the session says who is calling, later log records of the request say it."""
    info = _current.get()
    if info is not None:
        info.user_id = str(user_id)


class RequestIdMiddleware:
    """WSGI middleware around the Flask app: it sees every request and every answer,
    including those Flask makes itself (a 413 before the view, an unhandled 500)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], *, trust_incoming: bool) -> None:
        self.app = app
        self.trust_incoming = trust_incoming

    def __call__(self, environ: dict[str, Any],
                 start_response: Callable[..., Any]) -> Iterable[bytes]:
        request_id = choose(environ.get("HTTP_X_REQUEST_ID"), self.trust_incoming)
        environ[ENVIRON_KEY] = request_id
        # The Flask app reads the header, not the environ key: keep them the same.
        environ["HTTP_X_REQUEST_ID"] = request_id
        # PATH_INFO is WSGI's latin-1 text of the raw bytes: decode as UTF-8 for the log.
        raw = environ.get("PATH_INFO", "")
        try:
            path = raw.encode("latin-1").decode("utf-8", "replace")
        except UnicodeEncodeError:
            path = raw
        _current.set(RequestInfo(request_id, str(environ.get("REQUEST_METHOD", "-"))[:16],
                                 loggable_path(path)))

        def start(status: str, headers: list[tuple[str, str]],
                  exc_info: Any = None) -> Callable[[bytes], Any]:
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info) if exc_info \
                else start_response(status, headers)

        try:
            answer = self.app(environ, start)
        except BaseException:
            _current.set(None)
            raise
        if isinstance(answer, environ.get("wsgi.file_wrapper") or ()):
            # A file the server may send with sendfile(): wrapping it would stop that.
            # Nothing logs while it is sent; the next request replaces the context.
            return answer
        # Records written while the body is made (streamed answers) and the server's
        # access line (written before close) still carry the id; then it is cleared.
        return ClosingIterator(answer, lambda: _current.set(None))


def register(app: Flask, *, trust_incoming: bool) -> None:
    """The middleware around the app, and the id in flask.g for the views."""
    app.wsgi_app = RequestIdMiddleware(app.wsgi_app,  # type: ignore[method-assign]
                                       trust_incoming=trust_incoming)

    def _keep_id() -> None:
        g.request_id = request.environ.get(ENVIRON_KEY) or current_id()

    # First of all, so a before_request that refuses (a NUL, a body too large) has it.
    app.before_request_funcs.setdefault(None, []).insert(0, _keep_id)
