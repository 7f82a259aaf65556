"""Settings, all from environment variables, parsed once, with embedded defaults.

The embedded default needs nothing running: SQLite and a local-disk object store under
the instance folder. Every variable is listed in the README.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from server.observability import logs


class ConfigError(RuntimeError):
    """A setting is missing or malformed: start-up stops with this message."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _choice(env: Mapping[str, str], name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {env.get(name)!r}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    return float(raw) if raw else default


def _base_url(env: Mapping[str, str], name: str) -> str:
    """An absolute http(s) address without a trailing slash, or "" when unset."""
    raw = (env.get(name) or "").strip().rstrip("/")
    if raw and not raw.startswith(("https://", "http://")):
        raise ConfigError(f"{name} must start with https:// or http://, got {raw!r}")
    return raw


def _public_base(env: Mapping[str, str], production: bool) -> str:
    base = _base_url(env, "PUBLIC_BASE_URL")
    if base:
        return base
    if production:
        raise ConfigError("PUBLIC_BASE_URL is required when FIELDCASE_ENV=production "
                          "(the address printed in closure files' QR codes)")
    return f"http://localhost:{env.get('PORT') or '8000'}"


def _kept_secret(env: Mapping[str, str], name: str, instance: Path, production: bool,
                 make: Callable[[], str]) -> str:
    """A secret from the environment; required in production. Dev and demo keep a random
    one in the instance folder, so restarts and several gunicorn workers agree on it."""
    if env.get(name):
        return env[name]
    if production:
        raise ConfigError(f"{name} is required when FIELDCASE_ENV=production")
    path = instance / name.lower()
    if not path.exists():
        # Several gunicorn workers start at once on a new instance folder: the key is
        # written whole to a file of its own, then linked into place, and the first link
        # wins. A worker never reads a half-written key, nor keeps one the others lost.
        instance.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=instance, prefix=f".{name.lower()}.")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(make())
            os.chmod(tmp, 0o600)
            with suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return path.read_text().strip()


def _hex_key(name: str, value: str) -> str:
    """A 32-byte key as 64 hex digits."""
    try:
        if len(bytes.fromhex(value)) == 32:
            return value
    except ValueError:
        pass
    raise ConfigError(f"{name} must be 64 hex digits (32 bytes)")


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated CIDRs, each checked (a typo must not widen or void the policy)."""
    out = []
    for raw in (env.get(name) or "").split(","):
        if raw.strip():
            try:
                out.append(str(ipaddress.ip_network(raw.strip(), strict=False)))
            except ValueError as exc:
                raise ConfigError(f"{name}: {raw.strip()!r} is not a network (CIDR)") from exc
    return tuple(out)


def _proxy_addresses(env: Mapping[str, str]) -> tuple[str, ...]:
    """TRUSTED_PROXY_ADDRESSES, else gunicorn's FORWARDED_ALLOW_IPS (the README's node
    setup already names Caddy there; `*` trusts every peer), else loopback."""
    for name in ("TRUSTED_PROXY_ADDRESSES", "FORWARDED_ALLOW_IPS"):
        value = (env.get(name) or "").strip()
        if value == "*":
            return ("0.0.0.0/0", "::/0")
        if value:
            return _networks(env, name)
    return ("127.0.0.0/8", "::1/128")


def _metrics_token(env: Mapping[str, str]) -> str:
    """A bearer token for /metrics, or "" (addresses only). A short one could be guessed,
    and /metrics has no rate limit of its own."""
    token = (env.get("METRICS_TOKEN") or "").strip()
    if token and len(token) < 16:
        raise ConfigError("METRICS_TOKEN must be at least 16 characters")
    return token
def _limit_storage(env: Mapping[str, str], production: bool) -> str:
    """RATELIMIT_STORAGE_URI. In production on several nodes (NODE_COUNT) limits kept in
    each process's memory, or in one machine's SQLite file (gunicorn.conf.py's default),
    would let every node allow the full login rate: refused."""
    uri = env.get("RATELIMIT_STORAGE_URI") or "memory://"
    nodes = _int(env, "NODE_COUNT", 1)
    if production and nodes > 1 and uri.startswith(("memory://", "fieldcase-sqlite://")):
        raise ConfigError(f"NODE_COUNT={nodes} needs a shared RATELIMIT_STORAGE_URI "
                          f"(redis://...): with {uri.split('://')[0]}:// each node counts "
                          "the login and upload limits on its own")
    return uri


def load_config(instance_path: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Flask config keys from the environment."""
    env = os.environ if env is None else env
    instance = Path(env.get("INSTANCE_PATH") or instance_path)
    production = env.get("FIELDCASE_ENV", "development") == "production"
    cookie_secure = _bool(env, "COOKIE_SECURE", production)
    return {
        "FIELDCASE_ENV": "production" if production else "development",
        "INSTANCE_PATH": str(instance),
        # Signs local upload links.
        "SECRET_KEY": _kept_secret(env, "SECRET_KEY", instance, production,
                                   lambda: secrets.token_urlsafe(48)),
        # The Ed25519 key (64 hex digits) that signs audit checkpoints: never in the
        # database (e.g. from a secrets manager in production).
        "AUDIT_SIGNING_KEY": _kept_secret(env, "AUDIT_SIGNING_KEY", instance, production,
                                          lambda: secrets.token_hex(32)),
        # Encrypts the webhooks' signing secrets (AES-256-GCM, 64 hex digits): kept outside
        # the database, so the database alone cannot sign a webhook message.
        "WEBHOOK_SECRET_KEY": _hex_key("WEBHOOK_SECRET_KEY", _kept_secret(
            env, "WEBHOOK_SECRET_KEY", instance, production, lambda: secrets.token_hex(32))),
        # The key of the personal-data hashes in seal manifests (a plain hash of a name and
        # phone number could be confirmed by guessing): outside the database, kept for good.
        "PERSONAL_DATA_KEY": _hex_key("PERSONAL_DATA_KEY", _kept_secret(
            env, "PERSONAL_DATA_KEY", instance, production, lambda: secrets.token_hex(32))),
        # Webhooks: plain http only outside production unless allowed; internal addresses
        # (loopback, private, link-local, ...) are refused unless one of these networks
        # holds them; each delivery waits at most the timeout, a sweep's deliveries at most
        # the budget (the rest wait for the next sweep).
        "WEBHOOK_ALLOW_HTTP": _bool(env, "WEBHOOK_ALLOW_HTTP", not production),
        "WEBHOOK_ALLOWED_NETWORKS": _networks(env, "WEBHOOK_ALLOWED_NETWORKS"),
        "WEBHOOK_TIMEOUT_S": _float(env, "WEBHOOK_TIMEOUT_S", 5.0),
        "WEBHOOK_SWEEP_BUDGET_S": _float(env, "WEBHOOK_SWEEP_BUDGET_S", 10.0),
        "WEBHOOK_CONCURRENCY": _int(env, "WEBHOOK_CONCURRENCY", 8),
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL")
        or f"sqlite:///{instance / 'fieldcase.db'}",
        "STORAGE_URL": env.get("STORAGE_URL") or f"file://{instance / 'objects'}",
        # A request waits on the object store at most about attempts x (connect + read);
        # beyond STORAGE_CONCURRENCY calls at once in a worker, others answer 503 at once,
        # so a hung store cannot take every thread (and with them GET /api/me).
        "STORAGE_CONNECT_TIMEOUT_S": _float(env, "STORAGE_CONNECT_TIMEOUT_S", 2.0),
        "STORAGE_READ_TIMEOUT_S": _float(env, "STORAGE_READ_TIMEOUT_S", 10.0),
        "STORAGE_ATTEMPTS": _int(env, "STORAGE_ATTEMPTS", 2),
        "STORAGE_CONCURRENCY": _int(env, "STORAGE_CONCURRENCY", 4),
        # Photos: phones make 2-12 MB JPEG/HEIC; 40 MiB leaves room for 200 MP modes.
        "MAX_UPLOAD_BYTES": _int(env, "MAX_UPLOAD_BYTES", 40 * 1024 * 1024),
        # Pixels decoded at most. 50 MP covers the 48 MP HEIC of recent phones, which
        # they store as a grid of small tiles: it is decoded one tile at a time at reduced
        # scale (a few tens of MB). PNG, WebP and a single-image HEIC decode in full, so
        # each also has a lower fixed limit (media.intake.FULL_DECODE_LIMITS); a JPEG
        # decodes at reduced scale, up to MAX_JPEG_PIXELS nominal (200 MP phone modes).
        "MAX_IMAGE_PIXELS": _int(env, "MAX_IMAGE_PIXELS", 50_000_000),
        "MAX_JPEG_PIXELS": _int(env, "MAX_JPEG_PIXELS", 250_000_000),
        # Interview recordings: the longest accepted (a revisit call is minutes long).
        "MAX_AUDIO_SECONDS": _int(env, "MAX_AUDIO_SECONDS", 2 * 3600),
        # Photos decoded at once per worker (each up to a few hundred MB at the limits).
        "DECODE_CONCURRENCY": _int(env, "DECODE_CONCURRENCY", 2),
        # JSON bodies (every API write): refused with 413 before they are read past this.
        "MAX_JSON_BYTES": _int(env, "MAX_JSON_BYTES", 1024 * 1024),
        # A platform's sheet to import (.xlsx/.xls/.csv): 50,000 rows of a 12345 export are
        # about 8 MB as .xlsx and 15 MB as CSV; larger files are refused before reading.
        "IMPORT_MAX_BYTES": _int(env, "IMPORT_MAX_BYTES", 20 * 1024 * 1024),
        "UPLOAD_URL_TTL": _int(env, "UPLOAD_URL_TTL", 3600),
        # On the local store, the upload link's PUT completes the photo itself (verify,
        # EXIF, thumbnails) and answers with its receipt: the phone makes no complete call,
        # one round trip fewer a photo on a weak signal. Off: two steps, as with S3.
        "COMPLETE_ON_UPLOAD": _bool(env, "COMPLETE_ON_UPLOAD", True),
        "DOWNLOAD_URL_TTL": _int(env, "DOWNLOAD_URL_TTL", 300),
        "SESSION_TTL_HOURS": _int(env, "SESSION_TTL_HOURS", 24 * 14),
        # A session unused this long ends (a phone left in a drawer), whatever its lifetime.
        "SESSION_IDLE_MINUTES": _int(env, "SESSION_IDLE_MINUTES", 7 * 24 * 60),
        # Per account name, across addresses: this many wrong passwords within the window
        # lock the name for the lockout (an admin can unlock it sooner).
        "LOGIN_MAX_FAILURES": _int(env, "LOGIN_MAX_FAILURES", 10),
        "LOGIN_FAILURE_WINDOW_MIN": _int(env, "LOGIN_FAILURE_WINDOW_MIN", 15),
        "LOGIN_LOCKOUT_MIN": _int(env, "LOGIN_LOCKOUT_MIN", 15),
        # Log lines: json (one object per line, for a log shipper) or text (readable);
        # json by default in production. gunicorn.conf.py reads the same variables.
        "LOG_FORMAT": _choice(env, "LOG_FORMAT", logs.default_format(env), logs.FORMATS),
        "LOG_LEVEL": _choice(env, "LOG_LEVEL", logs.default_level(env), logs.LEVELS),
        # Behind a reverse proxy: how many trusted hops set X-Forwarded-For/-Proto (0: none,
        # the headers are ignored and the peer address is the client's).
        "TRUSTED_PROXY_HOPS": _int(env, "TRUSTED_PROXY_HOPS", 0),
        # Which peers are that proxy: X-Forwarded-* and X-Request-ID are taken only from
        # these (else anyone reaching gunicorn directly could choose their address).
        "TRUSTED_PROXY_ADDRESSES": _proxy_addresses(env),
        # Photo bytes a user may declare a day (local time), all cases together.
        "DAILY_UPLOAD_BYTES": _int(env, "DAILY_UPLOAD_BYTES", 2 * 1024 ** 3),
        "COOKIE_SECURE": cookie_secure,
        # __Host- cookies must be Secure; over plain http (make run) use a plain name.
        "SESSION_COOKIE_NAME": "__Host-fieldcase" if cookie_secure else "fieldcase_session",
        # Jobs (batch closure files, archives): RQ over this Redis when set, run by
        # `fieldcase worker` processes; unset (make run), a few threads of the web process
        # run them, so the embedded default never needs Redis. The database holds each
        # job's truth; a Redis that is down only delays jobs (the reaper sends them later).
        "JOBS_REDIS_URL": env.get("JOBS_REDIS_URL") or "",
        # The RQ queue's name: two sites sharing one Redis keep their jobs apart.
        "JOBS_QUEUE": env.get("JOBS_QUEUE") or "fieldcase-jobs",
        # Threads running jobs in the web process when JOBS_REDIS_URL is unset.
        "JOBS_THREADS": _int(env, "JOBS_THREADS", 1),
        # Jobs one user may have queued or running at once (429 job.too_many past it): one
        # account cannot fill the queue and hold everyone else's jobs behind its own.
        "JOBS_PER_USER": _int(env, "JOBS_PER_USER", 5),
        # A running job writes its heartbeat this often; one silent for JOB_STALE_S (its
        # worker killed, its machine gone) is taken again, up to JOB_MAX_ATTEMPTS times,
        # then failed with job.worker_lost. The reaper looks every JOB_REAP_S (in each
        # `fieldcase worker`, or without Redis on a timer thread of each web process).
        "JOB_HEARTBEAT_S": _float(env, "JOB_HEARTBEAT_S", 10.0),
        "JOB_STALE_S": _float(env, "JOB_STALE_S", 60.0),
        "JOB_MAX_ATTEMPTS": _int(env, "JOB_MAX_ATTEMPTS", 3),
        "JOB_REAP_S": _float(env, "JOB_REAP_S", 30.0),
        # A job's result is kept this many days in the object store, then deleted by the
        # reaper (its row stays, without a download).
        "JOB_RESULT_DAYS": _int(env, "JOB_RESULT_DAYS", 7),
        "RATELIMIT_STORAGE_URI": _limit_storage(env, production),
        # A shared limit store (Redis) that is down or hung must not hold requests: each
        # call to it waits at most this long, then the limit fails open or closed
        # (server/api/rate_limits.py).
        "RATELIMIT_STORAGE_TIMEOUT_S": _float(env, "RATELIMIT_STORAGE_TIMEOUT_S", 0.5),
        # Keys in the shared store start with this (a Redis shared with other services).
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX") or "fieldcase",
        # App nodes behind the proxy (README, "Several nodes"): with more than one, the
        # limits must be shared or each node counts its own.
        "NODE_COUNT": _int(env, "NODE_COUNT", 1),
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT") or "10 per minute",
        "UPLOAD_RATE_LIMIT": env.get("UPLOAD_RATE_LIMIT") or "600 per hour",
        # Anonymous calls to the public verify endpoints, per address (a check hashes a
        # whole upload, so it has its own, tighter limit).
        "VERIFY_RATE_LIMIT": env.get("VERIFY_RATE_LIMIT") or "60 per minute",
        "VERIFY_CHECK_RATE_LIMIT": env.get("VERIFY_CHECK_RATE_LIMIT") or "10 per minute",
        # Logged-in users' lookups and checks, per user: a reviewer checks a batch of
        # photos, nobody walks the code space.
        "VERIFY_USER_RATE_LIMIT": env.get("VERIFY_USER_RATE_LIMIT") or "300 per minute",
        # Refused pushes (wrong, revoked or missing token) per client address: past this,
        # even a right token from that address waits (429), so tokens cannot be guessed.
        "INTAKE_REFUSAL_RATE_LIMIT": env.get("INTAKE_REFUSAL_RATE_LIMIT") or "10 per minute",
        # A pushed case's JSON body at most (a case is a few kilobytes): 413 past it.
        "INTAKE_MAX_BODY_BYTES": _int(env, "INTAKE_MAX_BODY_BYTES", 256 * 1024),
        # Cases looked up by a complainant's number, per user (each lookup is audited).
        "PHONE_SEARCH_RATE_LIMIT": env.get("PHONE_SEARCH_RATE_LIMIT") or "120 per hour",
        # The address printed in verify QR codes (https://host): the photos' public page
        # must stay reachable there. Never taken from a request (a forged Host would be
        # printed into files kept for good): required in production; development uses
        # the address `make run` prints.
        "PUBLIC_BASE_URL": _public_base(env, production),
        "CORS_ORIGINS": [o for o in (env.get("CORS_ORIGINS") or "").split(",") if o],
        # A platform's sheet: the most data rows one import takes (more: 413, nothing kept).
        "IMPORT_MAX_ROWS": _int(env, "IMPORT_MAX_ROWS", 50_000),
        "FAR_FROM_CASE_M": _int(env, "FAR_FROM_CASE_M", 500),
        "CLOCK_DRIFT_S": _int(env, "CLOCK_DRIFT_S", 300),
        # "Unreachable" means tried: the failed calls that count are at least this many
        # minutes apart (and not all in one half-day, local time).
        "REVISIT_ATTEMPT_GAP_MIN": _int(env, "REVISIT_ATTEMPT_GAP_MIN", 120),
        # A door survey taken farther than this from the case is flagged, as photos are.
        "REVISIT_FAR_FROM_CASE_M": _int(env, "REVISIT_FAR_FROM_CASE_M", 500),
        # Repeat complaints (seed 002): two located complaints of one category this close
        # are about the same place; complaints are linked within this many days of each
        # other; a subject with this many complaints goes on the repeat-complaint list.
        "REPEAT_RADIUS_M": _int(env, "REPEAT_RADIUS_M", 100),
        "REPEAT_WINDOW_DAYS": _int(env, "REPEAT_WINDOW_DAYS", 90),
        "REPEAT_LIST_AT": _int(env, "REPEAT_LIST_AT", 3),
        # Hard cases (seed 000): an open case past its due date by more than this many days
        # is a backlog case (信访积案), which takes a remediation plan and a leader group.
        "BACKLOG_OVERDUE_DAYS": _int(env, "BACKLOG_OVERDUE_DAYS", 30),
        # Look-back rectification plans (整改方案): the completion date (完成时限) is at most
        # this many days after the re-check's day (422 plan.due_too_far): a typo'd year
        # would otherwise take the case off every overdue list for decades.
        "PLAN_MAX_DAYS": _int(env, "PLAN_MAX_DAYS", 365),
        "LOCAL_TIMEZONE": env.get("LOCAL_TIMEZONE") or "Asia/Shanghai",
        # The longest period one report (a ledger, a rate) covers, in days: a year's
        # ledger is asked for in one go; several years at once are refused.
        "REPORT_MAX_DAYS": _int(env, "REPORT_MAX_DAYS", 366),
        # Ledgers (GET /api/reports/*) written at once per worker process: writing one is
        # CPU work that holds the GIL (a year of a district is a minute), so more at once
        # would slow every request of the worker. Past it: 503 report.busy, Retry-After.
        "REPORT_CONCURRENCY": _int(env, "REPORT_CONCURRENCY", 1),
        # Ledger downloads per user, all of /api/reports/* together (429 past it).
        "REPORT_RATE_LIMIT": env.get("REPORT_RATE_LIMIT") or "20 per minute",
        # The issuing office printed at the head of closure files (e.g. 某市生态环境局);
        # unset: the top unit above the case's unit.
        "OFFICE_NAME": env.get("OFFICE_NAME") or "",
        # The map's basemap: osm, tianditu (needs TIANDITU_KEY) or amap (GCJ-02).
        "MAP_TILES": env.get("MAP_TILES") or "osm",
        "TIANDITU_KEY": env.get("TIANDITU_KEY") or "",
        "AMAP_TILES_URL": env.get("AMAP_TILES_URL") or
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
        "&x={x}&y={y}&z={z}",
        "OSM_TILES_URL": env.get("OSM_TILES_URL") or
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        # Who may scrape /metrics: these networks (after TRUSTED_PROXY_HOPS, so the
        # client's address behind the proxy), or anyone sending METRICS_TOKEN as a bearer
        # token. Loopback by default: Prometheus on the same machine needs no setting.
        "METRICS_ALLOWED_NETWORKS": _networks(env, "METRICS_ALLOWED_NETWORKS")
        if env.get("METRICS_ALLOWED_NETWORKS") else ("127.0.0.0/8", "::1/128"),
        "METRICS_TOKEN": _metrics_token(env),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    }
