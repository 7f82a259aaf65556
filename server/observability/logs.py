"""Log lines: one JSON object per line in production (LOG_FORMAT=json), readable text under
`make run` (text); the same for the app, the CLI and gunicorn's own error and access logs
(gunicorn.conf.py's logconfig_dict uses gunicorn_logconfig below).

Every record carries the request it was written during (request_id, method, path and,
once the session is known, user_id) through a log record factory, so it reaches every
handler, pytest's caplog included. Secrets never reach a line: bearer tokens, the session
cookie, passwords and tokens written as `name=value` or `"name": "value"`, and the token
of a local-disk link are blanked in the message and the exception text."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from server.observability import request_id

FORMATS = ("json", "text")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Attributes the record factory adds; the JSON formatter names them itself.
CONTEXT = ("request_id", "user_id", "method", "path")

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"((?:__Host-)?fieldcase(?:_session)?)=[^;\s\"',]+"), r"\1=[redacted]"),
    (re.compile(r"(?i)(/api/+blobs/+)[^\s/?\"']+"), r"\1[token]"),
    (re.compile(r"(?i)([\w-]*(?:password|passwd|secret|token|authorization|cookie)[\w-]*)"
                r"(\\?[\"']?\s*[:=]\s*\\?[\"']?)(?!\[redacted\])[^\s\"'\\,;&}]+"),
     r"\1\2[redacted]"),
)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """Control characters written as \\xNN: a path or a header with a newline in it cannot
    start a forged line of its own in a text log (JSON lines escape them already)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def default_format(env: Mapping[str, str]) -> str:
    """LOG_FORMAT, else json in production and text elsewhere."""
    chosen = (env.get("LOG_FORMAT") or "").strip().lower()
    if chosen:
        return chosen
    return "json" if env.get("FIELDCASE_ENV") == "production" else "text"


def default_level(env: Mapping[str, str]) -> str:
    return (env.get("LOG_LEVEL") or "INFO").strip().upper()


_base_factory = logging.getLogRecordFactory()


def _record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    info = request_id.current()
    record.request_id = info.request_id if info else None
    record.user_id = info.user_id if info else None
    record.method = info.method if info else None
    record.path = info.path if info else None
    return record


def install_record_factory() -> None:
    """Once per process (the factory wraps whatever factory was there first)."""
    if logging.getLogRecordFactory() is not _record_factory:
        logging.setLogRecordFactory(_record_factory)


# LogRecord's own attributes: not repeated as extra fields in JSON.
_RESERVED = [*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime",
             "context", "taskName"]


def _utc_iso(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class JsonLineFormatter(JsonFormatter):
    """{"time", "level", "logger", "message", "request_id", ...} on one line; `exception`
    holds the traceback text (newlines escaped, so still one line)."""

    def __init__(self) -> None:
        super().__init__(reserved_attrs=[*_RESERVED, *CONTEXT], json_ensure_ascii=False)

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord,
                   message_dict: dict[str, Any]) -> None:
        log_record["time"] = _utc_iso(record)
        log_record["level"] = record.levelname
        log_record["logger"] = record.name
        log_record["message"] = redact(record.getMessage())
        log_record["request_id"] = getattr(record, "request_id", None)
        for name in ("user_id", "method", "path"):
            value = getattr(record, name, None)
            if value is not None:
                log_record[name] = value
        # A caller's extra={...} fields, as they were given.
        for key, value in record.__dict__.items():
            if key not in self._skip_fields and not key.startswith("_") \
                    and key not in log_record:
                log_record[key] = value
        if message_dict.get("exc_info"):
            log_record["exception"] = redact(str(message_dict["exc_info"]))
        if message_dict.get("stack_info"):
            log_record["stack"] = redact(str(message_dict["stack_info"]))


class TextFormatter(logging.Formatter):
    """`2026-12-05 11:20:08,123 INFO    [3f9c2a1b5e6d7a80 user=7] server.api: message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s [%(context)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "gunicorn.access":  # a whole line already, as gunicorn writes it
            return redact(one_line(record.getMessage()))
        rid = getattr(record, "request_id", None) or "-"
        user = getattr(record, "user_id", None)
        record.context = f"{rid} user={user}" if user else rid
        return redact(super().format(record))

    def formatMessage(self, record: logging.LogRecord) -> str:
        # The message on its one line; a traceback after it keeps its own lines.
        record.message = one_line(record.message)
        return super().formatMessage(record)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (pytest swaps it per test), so a
    handler made once never writes to a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def make_handler(fmt: str = "text") -> logging.Handler:
    """The one handler on the root logger; gunicorn's logconfig_dict names it as `()`."""
    install_record_factory()
    handler = _Stderr()
    handler.setFormatter(JsonLineFormatter() if fmt == "json" else TextFormatter())
    handler._fieldcase = True  # type: ignore[attr-defined]
    return handler


def configure(fmt: str, level: str) -> None:
    """The root logger's handler, replacing one put there before (create_app runs many
    times in tests; under gunicorn its logconfig_dict put the same one there first).
    Handlers of others (pytest's) are left alone."""
    install_record_factory()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_fieldcase", False):
            root.removeHandler(handler)
    root.addHandler(make_handler(fmt))
    root.setLevel(level)


def gunicorn_logconfig(env: Mapping[str, str]) -> dict[str, Any]:
    """gunicorn's logconfig_dict: its error and access logs go to the root logger's one
    handler, so they have the app's format (the access line keeps gunicorn's text as the
    message, the request id in it and, in JSON, as request_id)."""
    level = default_level(env)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {},
        "handlers": {"fieldcase": {"()": "server.observability.logs.make_handler",
                                   "fmt": default_format(env)}},
        "root": {"level": level, "handlers": ["fieldcase"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }
