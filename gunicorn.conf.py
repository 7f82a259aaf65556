"""gunicorn settings for `make run` and the Procfile; all overridable by environment."""

import os
from pathlib import Path

# This instance's data folder (INSTANCE_PATH, as the app uses).
INSTANCE = Path(os.environ.get("INSTANCE_PATH") or Path(__file__).resolve().parent / "instance")

# Prometheus metrics of all workers together: each worker writes its counters to files in
# this folder and a scrape of any worker sums them (prometheus-client's multiprocess
# mode). Set first, in the master before any worker starts and before anything imports
# prometheus-client (which picks its mode at import), so every worker inherits it; one
# folder per instance, beside its data.
METRICS_DIR = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR")
                   or INSTANCE / "prometheus-multiproc")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
# The files a worker writes: counter_<pid>.db, histogram_<pid>.db, gauge_<mode>_<pid>.db.
METRICS_FILES = ("counter_*.db", "histogram_*.db", "gauge_*.db", "summary_*.db")

from server.observability import logs  # noqa: E402  (after PROMETHEUS_MULTIPROC_DIR is set)

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

# Per node: each node of several (NODE_COUNT, README "Several nodes") picks its own, and
# several nodes need the shared store anyway (the app refuses memory:// there in
# production), so the rule is the same on one node or N.
NODE_COUNT = int(os.environ.get("NODE_COUNT") or 1)
workers = int(os.environ.get("WEB_CONCURRENCY") or (2 if SHARED_RATE_LIMITS else 1))
threads = int(os.environ.get("GUNICORN_THREADS") or 8)
# Completing a 12 MP photo (hash, EXIF, thumbnails) takes a fraction of a second, but a
# slow object store should not get a worker killed mid-write.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
accesslog = "-"
# The access line names the request id the app answered with (X-Request-ID), the one its
# own log lines and problem answers carry; the referrer and the query string are left out
# (a link's signature or a search for a phone number could be in them).
access_log_format = ('%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" '
                     'request_id=%({x-request-id}o)s')
# gunicorn's error and access logs in the app's format (LOG_FORMAT, LOG_LEVEL): one JSON
# object per line in production, readable lines under `make run`.
logconfig_dict = logs.gunicorn_logconfig(os.environ)
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
    # The last run's counts must not be added to this one's (prometheus-client's rule:
    # wipe the folder before the workers start). Only its own files, in case the folder
    # was set to one shared with something else. Not on a binary upgrade (USR2: this new
    # master has the old one's pid in master_pid): the old master's workers are still
    # serving and counting in these files, and the old master folds them as they leave.
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    if not getattr(server, "master_pid", 0):
        for pattern in METRICS_FILES:
            for stale in METRICS_DIR.glob(pattern):
                stale.unlink(missing_ok=True)
    # server.cfg.workers: the number actually used (a -w on the command line wins).
    if server.cfg.workers > 1 and not SHARED_RATE_LIMITS:
        server.log.warning(
            "%d workers with RATELIMIT_STORAGE_URI=memory://: each worker counts the login "
            "and upload rate limits on its own, so they are %d times looser. Set "
            "RATELIMIT_STORAGE_URI=redis://... or run one worker (WEB_CONCURRENCY=1) "
            "with more threads (GUNICORN_THREADS).",
            server.cfg.workers, server.cfg.workers)
    # memory:// and the SQLite file are both one machine's: every node would count alone.
    if NODE_COUNT > 1 and RATELIMIT_STORAGE_URI.startswith(("memory://", "fieldcase-sqlite://")):
        server.log.warning(
            "NODE_COUNT=%d with RATELIMIT_STORAGE_URI=%s: each node counts the rate limits "
            "on its own, so they are %d times looser at least. Share them through Redis "
            "(RATELIMIT_STORAGE_URI=redis://...).", NODE_COUNT,
            RATELIMIT_STORAGE_URI.split("://")[0] + "://", NODE_COUNT)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    # A worker gone (recycled by max_requests, or killed): its live gauges leave with it
    # (prometheus-client's rule), and its counts are folded into one archive file so they
    # keep counting in the sums without a file per dead worker (server/observability/
    # multiproc.py).
    from prometheus_client import multiprocess

    from server.observability.multiproc import fold_dead_worker

    multiprocess.mark_process_dead(worker.pid, str(METRICS_DIR))
    try:
        fold_dead_worker(worker.pid, METRICS_DIR)
    except Exception:  # its files stay and are still summed: only the folder grows
        server.log.exception("could not fold the metrics of worker %s", worker.pid)
