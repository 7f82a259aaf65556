"""gunicorn settings for `make run` and the Procfile; all overridable by environment."""

import os
from pathlib import Path

# Loopback unless HOST says otherwise (HOST=0.0.0.0 for a phone on the LAN, or behind a
# platform's router: the Procfile sets it).
bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"

INSTANCE = Path(os.environ.get("INSTANCE_PATH") or Path(__file__).resolve().parent / "instance")

# flask-limiter's memory:// storage lives in one process: with several workers each keeps
# its own counts, and the login and upload limits multiply by the number of workers. So
# one worker (with threads) unless the limits are kept in a shared store: Redis, or, when
# none is set, a SQLite file in the instance folder that this machine's workers share
# exactly (server/ratelimit_store.py). Two workers are two GILs: one worker's threads
# reach barely one core, as the photos' Python work (EXIF, bookkeeping) holds the GIL.
RATELIMIT_STORAGE_URI = (os.environ.get("RATELIMIT_STORAGE_URI")
                         or f"fieldcase-sqlite://{INSTANCE / 'ratelimits.sqlite'}")
os.environ["RATELIMIT_STORAGE_URI"] = RATELIMIT_STORAGE_URI  # the workers' app reads it
SHARED_RATE_LIMITS = not RATELIMIT_STORAGE_URI.startswith("memory://")

workers = int(os.environ.get("WEB_CONCURRENCY") or (2 if SHARED_RATE_LIMITS else 1))
threads = int(os.environ.get("GUNICORN_THREADS") or 8)
# Completing a 12 MP photo (hash, EXIF, thumbnails) takes a fraction of a second, but a
# slow object store should not get a worker killed mid-write.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
accesslog = "-"
# A worker that decoded a large photo keeps its peak memory; recycle workers now and then
# (jittered, so they do not all restart at once) to give it back.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "1000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "100"))
# gunicorn 27's control socket defaults to one fixed path in the home directory, so two
# instances on a machine delete each other's. Each instance keeps its own, beside its
# data (INSTANCE_PATH, as the app uses); GUNICORN_CONTROL_SOCKET=off turns it off.
_control = os.environ.get("GUNICORN_CONTROL_SOCKET") or str(INSTANCE / "gunicorn.ctl")
if _control == "off":
    control_socket_disable = True
else:
    control_socket = _control
    Path(control_socket).parent.mkdir(parents=True, exist_ok=True)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):  # type: ignore[no-untyped-def]
    # server.cfg.workers: the number actually used (a -w on the command line wins).
    if server.cfg.workers > 1 and not SHARED_RATE_LIMITS:
        server.log.warning(
            "%d workers with RATELIMIT_STORAGE_URI=memory://: each worker counts the login "
            "and upload rate limits on its own, so they are %d times looser. Set "
            "RATELIMIT_STORAGE_URI=redis://... or run one worker (WEB_CONCURRENCY=1) "
            "with more threads (GUNICORN_THREADS).",
            server.cfg.workers, server.cfg.workers)
