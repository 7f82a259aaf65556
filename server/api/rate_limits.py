"""Rate limits when their store (Redis) is down: which fail closed, which fail open.

Behind several nodes the limits are counted in one shared store (RATELIMIT_STORAGE_URI,
Redis). When it cannot be reached, web requests go on; each limit fails one way:

- **closed** (503 `request.limits_unavailable`, Retry-After): the limits that guard a
  secret someone could guess: the login (passwords, per address) and the lookup of cases
  by a complainant's number (guessing the digits behind a masked number). Both are rare
  and a short refusal costs little; guessing unwatched costs more. The account lock-out
  (in the database) holds in any case.
- **open** (the request goes on, uncounted): everything else. Reads (verify lookups, the
  QR code a citizen scans, ledgers), photo declarations (the daily byte quota, in the
  database, still bounds them) and refused platform pushes (a token is 256 random bits:
  not guessable; a platform's good pushes must not wait on Redis).

flask-limiter swallows the store's errors (RATELIMIT_SWALLOW_ERRORS): that is "open". A
closed limit adds `fail_closed`, which asks the store directly and refuses when it cannot
count: not a PING, which a Redis that refuses writes still answers (a read-only replica,
OOM under noeviction, MISCONF after a failed save) while flask-limiter swallows every failed
INCR, but one small counted write (INCR + expiry on a probe key under the key prefix).
Short socket timeouts keep a hung Redis from holding a request; as
nothing is cached, the limits count again as soon as Redis is back, without a restart.
The warnings are logged once a minute per process, not once per request.

Not flask-limiter's in-memory fallback: it keeps "the store is dead" in the process and
asks Redis again only after a back-off of up to 32 s, so limits would come back late and
differently on each worker; nor has it a per-limit way to fail closed.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from server.domain.core.errors import DomainError
from server.extensions import limiter

log = logging.getLogger(__name__)
RETRY_AFTER_S = 30
WARN_EVERY_S = 60.0
PROBE_EXPIRY_S = 60


class LimitsUnavailable(DomainError):
    status_hint = 503


def shared(uri: str) -> bool:
    """Whether the limits are kept in a store every process and node shares."""
    return not uri.startswith("memory://")


def skip_idle_pass(app: Flask) -> None:
    """After every blueprint is registered: drop flask-limiter's pass before every view.
    That pass counts the limits that apply app-wide (default, application and blueprint
    limits); Fieldcase has none, as each limit decorates its own route and that decorator
    counts it. So the pass counted nothing, at about 0.1 ms of CPU on every request, the
    third of a photo's bookkeeping that is not its own. Kept should one such limit appear
    (or flask-limiter's manager no longer say)."""
    manager = limiter.limit_manager
    if (manager.default_limits or manager.application_limits
            or getattr(manager, "_blueprint_limits", True)
            # Meta limits and the in-memory fallback act in that pass too (none set here).
            or getattr(limiter, "_meta_limits", True)
            or getattr(limiter, "_in_memory_fallback_enabled", True)):
        return
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:  # bound methods compare by instance and function
        hooks.remove(limiter._check_request_limit)


def _redis(uri: str) -> bool:
    """redis://, rediss://, redis+unix://, redis+sentinel://, redis+cluster://, valkey..."""
    return uri.split("://", 1)[0].startswith(("redis", "valkey"))


def configure(app: Flask) -> None:
    """Before limiter.init_app: the store's options from the app's settings."""
    config = app.config
    config["RATELIMIT_SWALLOW_ERRORS"] = True
    # Socket timeouts and the key prefix are the Redis driver's options; the one-machine
    # SQLite store (server/ratelimit_store.py) has neither.
    if _redis(config["RATELIMIT_STORAGE_URI"]):
        timeout = config["RATELIMIT_STORAGE_TIMEOUT_S"]
        config["RATELIMIT_STORAGE_OPTIONS"] = {
            **config.get("RATELIMIT_STORAGE_OPTIONS", {}),
            "key_prefix": config["RATELIMIT_KEY_PREFIX"],
            "socket_connect_timeout": timeout, "socket_timeout": timeout}
    _quiet_flask_limiter()


class _OncePerInterval(logging.Filter):
    """Lets flask-limiter's "Swallowing error" through once a minute: with Redis down it
    would log a traceback for every limited request."""

    def __init__(self) -> None:
        super().__init__()
        self._last = 0.0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        with self._lock:
            now = time.monotonic()
            if now - self._last < WARN_EVERY_S:
                return False
            self._last = now
        record.msg = f"{record.msg} (rate limits fail open while the store is down; " \
                     f"logged once a minute)"
        return True


_filter = _OncePerInterval()
_warned_at = 0.0
_warn_lock = threading.Lock()


def _quiet_flask_limiter() -> None:
    logger = logging.getLogger("flask-limiter")
    if _filter not in logger.filters:
        logger.addFilter(_filter)


def warn_store_down(what: str) -> None:
    """A warning that the limit store is down, at most once a minute per process."""
    global _warned_at
    with _warn_lock:
        now = time.monotonic()
        if now - _warned_at < WARN_EVERY_S:
            return
        _warned_at = now
    log.warning("rate-limit store %s unreachable: %s (logged once a minute)",
                store_location(current_app.config["RATELIMIT_STORAGE_URI"]), what)


def store_location(uri: str) -> str:
    """scheme://host:port of the store, for logs: never a user, a password (in the
    authority or as `?password=`), a database path or any other query option."""
    parts = urlsplit(uri)
    if not parts.hostname:  # a file or a socket path: the scheme says enough
        return f"{parts.scheme}://"
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{host}{port}"


def store_answers() -> bool:
    """True when the limits can be counted: an in-process store always, a shared one if
    it takes a small write (a probe counter under the key prefix, expiring in a minute)
    within RATELIMIT_STORAGE_TIMEOUT_S. Only the fail-closed limits pay for it."""
    config = current_app.config
    if not limiter.enabled or not shared(config["RATELIMIT_STORAGE_URI"]):
        return True
    storage = limiter.storage
    # Redis' storage puts its key_prefix (RATELIMIT_KEY_PREFIX, configure()) before every key.
    key = "store-probe" if getattr(storage, "key_prefix", None) \
        else f"{config['RATELIMIT_KEY_PREFIX']}:store-probe"
    try:
        return storage.incr(key, PROBE_EXPIRY_S) >= 1
    except Exception:  # a driver error of any kind means "not counted"
        return False


def fail_closed(view: Callable[..., Any] | None = None, *,
                when: Callable[[], bool] | None = None) -> Any:
    """The view runs only when its rate limit could be counted (see the module); `when`
    says whether this request is limited at all (the case list only with `phone=`)."""
    def wrap(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if (when is None or when()) and not store_answers():
                warn_store_down(f"refusing {view.__name__} (its limit fails closed)")
                raise LimitsUnavailable(
                    "request.limits_unavailable",
                    "The rate-limit store is unreachable, so this is refused for now; try "
                    "again in a minute.", extra={"retry_after_s": RETRY_AFTER_S})
            return view(*args, **kwargs)

        return guarded

    return wrap(view) if view is not None else wrap
